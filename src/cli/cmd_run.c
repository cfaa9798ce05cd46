/* cmd_run.c — `keyetl run`: option parsing, then the runner. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "io/fs.h"
#include "pipeline/runner.h"
#include "util/mem.h"

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: keyetl run [options]\n"
            "  --source URI            raw snapshot folder (RAW_SOURCE)\n"
            "  --artifacts-dir DIR     root of version folders (ARTIFACTS_DIR, default artifacts)\n"
            "  --version-id ID         work on this version\n"
            "  -s, --stage NAME        run only this stage (repeatable): download clean keypairs kvc\n"
            "                          features top_il eda\n"
            "  --include-pii           INCLUDE_PII=true\n"
            "  --keep-outliers         KEEP_OUTLIERS=true\n"
            "  --top-k N               TOP_K\n"
            "  --output-formats LIST   OUTPUT_FORMATS (parquet,csv)\n"
            "  --device-types LIST     DEVICE_TYPES (desktop,mobile)\n"
            "  --batch-size N          BATCH_SIZE\n"
            "  --set KEY=VALUE         any setting (repeatable)\n"
            "  --log-level LEVEL       DEBUG, INFO, WARNING, ERROR\n"
            "  --quiet                 no progress output\n");
}

int kx_cmd_run(int argc, char **argv)
{
    enum { O_SOURCE = 256, O_ART, O_VID, O_PII, O_KEEP, O_TOPK, O_FMT, O_DEV, O_BATCH, O_SET, O_LOG, O_QUIET, O_HELP };
    static const struct option opts[] = {
        {"source", required_argument, 0, O_SOURCE}, {"artifacts-dir", required_argument, 0, O_ART},
        {"version-id", required_argument, 0, O_VID}, {"stage", required_argument, 0, 's'},
        {"include-pii", no_argument, 0, O_PII}, {"keep-outliers", no_argument, 0, O_KEEP},
        {"top-k", required_argument, 0, O_TOPK}, {"output-formats", required_argument, 0, O_FMT},
        {"device-types", required_argument, 0, O_DEV}, {"batch-size", required_argument, 0, O_BATCH},
        {"set", required_argument, 0, O_SET}, {"log-level", required_argument, 0, O_LOG},
        {"quiet", no_argument, 0, O_QUIET}, {"help", no_argument, 0, O_HELP}, {0, 0, 0, 0}};
    kx_config cfg;
    kx_config_init(&cfg);
    kx_err err = {{0}};
    unsigned mask = 0;
    const char *vid = NULL;
    bool quiet = false;
    int c, rc = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
        int r = 0;
        switch (c) {
        case O_SOURCE: r = kx_config_set(&cfg, "RAW_SOURCE", optarg, "command line", &err); break;
        case O_ART: r = kx_config_set(&cfg, "ARTIFACTS_DIR", optarg, "command line", &err); break;
        case O_VID: vid = optarg; break;
        case 's': {
            const kx_stage_def *d = kx_stage_by_name(optarg);
            if (!d) {
                fprintf(stderr, "keyetl run: unknown stage '%s'; valid stages: download, clean, keypairs, kvc, features, top_il, eda\n", optarg);
                goto out;
            }
            mask |= 1u << d->id;
            break;
        }
        case O_PII: r = kx_config_set(&cfg, "INCLUDE_PII", "true", "command line", &err); break;
        case O_KEEP: r = kx_config_set(&cfg, "KEEP_OUTLIERS", "true", "command line", &err); break;
        case O_TOPK: r = kx_config_set(&cfg, "TOP_K", optarg, "command line", &err); break;
        case O_FMT: r = kx_config_set(&cfg, "OUTPUT_FORMATS", optarg, "command line", &err); break;
        case O_DEV: r = kx_config_set(&cfg, "DEVICE_TYPES", optarg, "command line", &err); break;
        case O_BATCH: r = kx_config_set(&cfg, "BATCH_SIZE", optarg, "command line", &err); break;
        case O_LOG: r = kx_config_set(&cfg, "LOG_LEVEL", optarg, "command line", &err); break;
        case O_QUIET: quiet = true; break;
        case O_SET: {
            char *eq = strchr(optarg, '=');
            if (!eq) {
                fprintf(stderr, "keyetl run: --set needs KEY=VALUE, got '%s'\n", optarg);
                goto out;
            }
            char *key = kx_strndup(optarg, (size_t)(eq - optarg));
            r = kx_config_set(&cfg, key, eq + 1, "command line", &err);
            free(key);
            break;
        }
        case O_HELP: run_usage(stdout); rc = 0; goto out;
        default: run_usage(stderr); goto out;
        }
        if (r != 0) {
            fprintf(stderr, "keyetl run: %s\n", err.msg);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "keyetl run: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    if (kx_config_validate(&cfg, &err) != 0) {
        fprintf(stderr, "keyetl run: %s\n", err.msg);
        goto out;
    }
    if (!mask) mask = (1u << KX_STAGE_COUNT) - 1;
    char idbuf[256];
    if (!vid) {
        kx_make_version_id(idbuf, NULL);
        vid = idbuf;
    }
    char *vdir = kx_asprintf("%s/%s", cfg.artifacts_dir, vid);
    if (kx_mkdirs(vdir, &err) != 0) {
        fprintf(stderr, "keyetl run: %s\n", err.msg);
        free(vdir);
        goto out;
    }
    free(vdir);
    kx_log *log = kx_log_new(cfg.log_level);
    kx_stage_outcome outc[KX_STAGE_COUNT];
    rc = kx_run_stages(&cfg, vid, mask, log, !quiet && isatty(2), outc);
    printf("version %s: %s\n", vid, rc == 0 ? "completed" : "failed");
    for (int i = 0; i < KX_STAGE_COUNT; i++) {
        if (!outc[i].ran) continue;
        printf("  %-10s %8.3fs %s%s\n", kx_stage_defs[i].cli_name, outc[i].seconds,
               outc[i].ok ? "ok" : "FAILED: ", outc[i].ok ? "" : outc[i].error);
        json_decref(outc[i].stats);
    }
    kx_log_free(log);
out:
    kx_config_free(&cfg);
    return rc;
}
