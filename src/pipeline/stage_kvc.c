/* stage_kvc.c — placeholder: the kvc stage is not implemented yet. */
#include "pipeline/stage.h"

int kx_stage_kvc(kx_stage_ctx *ctx)
{
    return kx_fail(&ctx->err, "stage kvc is not implemented yet");
}
