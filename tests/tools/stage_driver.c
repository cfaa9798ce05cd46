/* stage_driver.c — test tool: runs named stages directly on a version folder.
 *
 *   keyetl-stage --artifacts-dir DIR --version-id ID -s STAGE [-s STAGE]... [run options]
 *
 * Stage suites build fixture folders by hand (e.g. a cleaned_data/ layout without a
 * download or clean run). The product's `keyetl run` rightly refuses such a plan (spec 05
 * §4.3: dependencies must be recorded completed in the catalog), so these suites call the
 * stage functions through this driver instead: no catalog, no version record, no lock.
 * It accepts the setting flags of `keyetl run` that the suites use. Not installed; built
 * only for the tests (build/keyetl-stage).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fs.h"
#include "io/json.h"
#include "pipeline/config.h"
#include "pipeline/stage.h"
#include "util/mem.h"

int main(int argc, char **argv)
{
    enum { O_ART = 256, O_VID, O_FMT, O_DEV, O_PII, O_KEEP, O_TOPK, O_BATCH, O_SET, O_QUIET, O_SOURCE };
    static const struct option opts[] = {
        {"artifacts-dir", required_argument, 0, O_ART}, {"version-id", required_argument, 0, O_VID},
        {"stage", required_argument, 0, 's'}, {"output-formats", required_argument, 0, O_FMT},
        {"device-types", required_argument, 0, O_DEV}, {"include-pii", no_argument, 0, O_PII},
        {"keep-outliers", no_argument, 0, O_KEEP}, {"top-k", required_argument, 0, O_TOPK},
        {"batch-size", required_argument, 0, O_BATCH}, {"set", required_argument, 0, O_SET},
        {"quiet", no_argument, 0, O_QUIET}, {"source", required_argument, 0, O_SOURCE}, {0, 0, 0, 0}};
    kx_config cfg;
    kx_config_init(&cfg);
    kx_err err = {{0}};
    unsigned mask = 0;
    const char *vid = "v";
    int c, rc = 2;
    while ((c = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
        int r = 0;
        switch (c) {
        case O_ART: r = kx_config_set(&cfg, "ARTIFACTS_DIR", optarg, "command line", &err); break;
        case O_SOURCE: r = kx_config_set(&cfg, "RAW_SOURCE", optarg, "command line", &err); break;
        case O_VID: vid = optarg; break;
        case 's': {
            const kx_stage_def *d = kx_stage_by_name(optarg);
            if (!d) {
                fprintf(stderr, "keyetl-stage: unknown stage '%s'\n", optarg);
                goto out;
            }
            mask |= 1u << d->id;
            break;
        }
        case O_FMT: r = kx_config_set(&cfg, "OUTPUT_FORMATS", optarg, "command line", &err); break;
        case O_DEV: r = kx_config_set(&cfg, "DEVICE_TYPES", optarg, "command line", &err); break;
        case O_PII: r = kx_config_set(&cfg, "INCLUDE_PII", "true", "command line", &err); break;
        case O_KEEP: r = kx_config_set(&cfg, "KEEP_OUTLIERS", "true", "command line", &err); break;
        case O_TOPK: r = kx_config_set(&cfg, "TOP_K", optarg, "command line", &err); break;
        case O_BATCH: r = kx_config_set(&cfg, "BATCH_SIZE", optarg, "command line", &err); break;
        case O_QUIET: break;
        case O_SET: {
            char *eq = strchr(optarg, '=');
            if (!eq) {
                fprintf(stderr, "keyetl-stage: --set needs KEY=VALUE\n");
                goto out;
            }
            char *key = kx_strndup(optarg, (size_t)(eq - optarg));
            r = kx_config_set(&cfg, key, eq + 1, "command line", &err);
            free(key);
            break;
        }
        default: goto out;
        }
        if (r != 0) {
            fprintf(stderr, "keyetl-stage: %s\n", err.msg);
            goto out;
        }
    }
    if (!mask || optind < argc || kx_config_validate(&cfg, &err) != 0) {
        fprintf(stderr, "keyetl-stage: %s\n", err.msg[0] ? err.msg : "usage: keyetl-stage --artifacts-dir DIR --version-id ID -s STAGE...");
        goto out;
    }
    char *vdir = kx_asprintf("%s/%s", cfg.artifacts_dir, vid);
    if (kx_mkdirs(vdir, &err) != 0) {
        fprintf(stderr, "keyetl-stage: %s\n", err.msg);
        free(vdir);
        goto out;
    }
    kx_log *log = kx_log_new(cfg.log_level);
    rc = 0;
    for (int i = 0; i < KX_STAGE_COUNT && rc == 0; i++) {
        if (!(mask & (1u << i))) continue;
        kx_stage_ctx ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.cfg = &cfg;
        ctx.version_id = vid;
        ctx.version_dir = vdir;
        ctx.log = log;
        if (kx_stage_defs[i].run(&ctx) != 0) {
            fprintf(stderr, "keyetl-stage: stage %s failed: %s\n", kx_stage_defs[i].cli_name, ctx.err.msg);
            rc = 1;
        }
        json_decref(ctx.stats);
        kx_stage_trees_free(&ctx);
    }
    kx_log_free(log);
    free(vdir);
out:
    kx_config_free(&cfg);
    return rc;
}
