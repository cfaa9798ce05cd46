/* stage_top_il.c — placeholder: the top_il stage is not implemented yet. */
#include "pipeline/stage.h"

int kx_stage_top_il(kx_stage_ctx *ctx)
{
    return kx_fail(&ctx->err, "stage top_il is not implemented yet");
}
