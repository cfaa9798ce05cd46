/* stage_eda.c — placeholder: the eda stage is not implemented yet. */
#include "pipeline/stage.h"

int kx_stage_eda(kx_stage_ctx *ctx)
{
    return kx_fail(&ctx->err, "stage eda is not implemented yet");
}
