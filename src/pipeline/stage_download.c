/* stage_download.c — placeholder: the download stage is not implemented yet. */
#include "pipeline/stage.h"

int kx_stage_download(kx_stage_ctx *ctx)
{
    return kx_fail(&ctx->err, "stage download is not implemented yet");
}
