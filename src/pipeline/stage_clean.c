/* stage_clean.c — placeholder: the clean stage is not implemented yet. */
#include "pipeline/stage.h"

int kx_stage_clean(kx_stage_ctx *ctx)
{
    return kx_fail(&ctx->err, "stage clean is not implemented yet");
}
