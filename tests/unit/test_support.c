#include "test_support.h"

#include <string.h>

#include "util/log.h"

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

int kx_test_download(const char *src, const char *vdir, int workers, json_t **stats, kx_stage_ctx *trees)
{
    kx_config cfg;
    kx_config_init(&cfg);
    cfg.parallel_workers = workers;
    kx_config_set(&cfg, "RAW_SOURCE", src, "test", NULL);
    kx_log *log = kx_log_new(KX_LOG_OFF);
    kx_stage_ctx ctx = kx_test_stage_ctx(&cfg, vdir, log);
    int rc = kx_stage_download(&ctx);
    if (stats) *stats = ctx.stats;
    else json_decref(ctx.stats);
    if (trees) {
        memset(trees, 0, sizeof *trees);
        trees->trees = ctx.trees;
        trees->ntrees = ctx.ntrees;
    } else {
        kx_stage_trees_free(&ctx);
    }
    kx_config_free(&cfg);
    kx_log_free(log);
    return rc;
}
