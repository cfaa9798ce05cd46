/* incremental_bench — times the clean and keypairs stages on one version folder, with or
 * without an incremental base (the runner that passes a base is not in this build, so the
 * benchmark calls the stages directly, as tests/unit/test_incremental.c does).
 * Usage: incremental_bench VERSION_DIR [BASE_VERSION_DIR]   (CSV output, 2 workers) */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pipeline/stage.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s VERSION_DIR [BASE_VERSION_DIR]\n", argv[0]);
        return 2;
    }
    kx_config cfg;
    kx_config_init(&cfg);
    cfg.parallel_workers = 2;
    cfg.out_parquet = false;
    cfg.out_csv = true;
    kx_log *log = kx_log_new(KX_LOG_OFF);
    kx_stage_fn fns[2] = {kx_stage_clean, kx_stage_keypairs};
    const char *names[2] = {"clean", "keypairs"};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        kx_stage_ctx ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.cfg = &cfg;
        ctx.version_id = "bench";
        ctx.version_dir = argv[1];
        ctx.base_version_id = argc > 2 ? "base" : NULL;
        ctx.base_version_dir = argc > 2 ? argv[2] : NULL;
        ctx.log = log;
        double t0 = now();
        rc = fns[i](&ctx);
        double dt = now() - t0;
        json_t *inc = json_object_get(ctx.stats, "incremental");
        if (rc != 0) fprintf(stderr, "%s failed: %s\n", names[i], ctx.err.msg);
        else printf("| %s | %.3f | %lld | %lld |\n", names[i], dt,
                    inc ? (long long)json_integer_value(json_object_get(inc, "reused_users")) : -1LL,
                    inc ? (long long)json_integer_value(json_object_get(inc, "processed_users")) : -1LL);
        json_decref(ctx.stats);
        kx_stage_trees_free(&ctx);
    }
    kx_log_free(log);
    kx_config_free(&cfg);
    return rc != 0;
}
