#include "test_support.h"

#include <string.h>

kx_stage_ctx kx_test_stage_ctx(const kx_config *cfg, const char *vdir, kx_log *log)
{
    kx_stage_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.cfg = cfg;
    ctx.version_id = "v";
    ctx.version_dir = vdir;
    ctx.log = log;
    return ctx;
}
