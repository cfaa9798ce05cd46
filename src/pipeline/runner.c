#include "pipeline/runner.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "util/mem.h"

double kx_monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void kx_make_version_id(char out[256], const char *suffix)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%d_%H-%M-%S", &tm);
    struct utsname u;
    char host[128] = "localhost";
    if (uname(&u) == 0) snprintf(host, sizeof host, "%s", u.nodename);
    for (char *p = host; *p; p++) {
        *p = (char)tolower((unsigned char)*p);
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '_')) *p = '-';
    }
    if (suffix && *suffix) snprintf(out, 256, "%s_%s_%s", ts, host, suffix);
    else snprintf(out, 256, "%s_%s", ts, host);
}

int kx_run_stages(const kx_config *cfg, const char *version_id, unsigned mask, kx_log *log,
                  bool show_progress, kx_stage_outcome out[KX_STAGE_COUNT])
{
    memset(out, 0, sizeof(kx_stage_outcome) * KX_STAGE_COUNT);
    char *vdir = kx_asprintf("%s/%s", cfg->artifacts_dir, version_id);
    int rc = 0;
    for (int i = 0; i < KX_STAGE_COUNT; i++) {
        if (!(mask & (1u << i))) continue;
        const kx_stage_def *def = &kx_stage_defs[i];
        kx_stage_ctx ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.cfg = cfg;
        ctx.version_id = version_id;
        ctx.version_dir = vdir;
        ctx.log = log;
        ctx.show_progress = show_progress;
        kx_logf(log, KX_LOG_INFO, "pipeline", "Running stage: %s", def->record_name);
        double t0 = kx_monotonic_seconds();
        int r = def->run(&ctx);
        out[i].ran = true;
        out[i].seconds = kx_monotonic_seconds() - t0;
        out[i].ok = r == 0;
        out[i].stats = ctx.stats;
        if (r != 0) {
            snprintf(out[i].error, sizeof out[i].error, "%s", ctx.err.msg);
            kx_logf(log, KX_LOG_ERROR, "pipeline", "Failed %s: %s", def->record_name, ctx.err.msg);
            rc = 1;
            break;
        }
        kx_logf(log, KX_LOG_INFO, "pipeline", "Completed %s in %.3fs", def->record_name, out[i].seconds);
    }
    free(vdir);
    return rc;
}
