/* stage_features.c — placeholder: the features stage is not implemented yet. */
#include "pipeline/stage.h"

int kx_stage_features(kx_stage_ctx *ctx)
{
    return kx_fail(&ctx->err, "stage features is not implemented yet");
}
