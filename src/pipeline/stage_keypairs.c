/* stage_keypairs.c — placeholder: the keypairs stage is not implemented yet. */
#include "pipeline/stage.h"

int kx_stage_keypairs(kx_stage_ctx *ctx)
{
    return kx_fail(&ctx->err, "stage keypairs is not implemented yet");
}
