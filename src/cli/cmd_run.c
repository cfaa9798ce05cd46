/* cmd_run.c — `keyetl run`: option parsing (spec 05 §1.1), configuration, then kx_run. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "pipeline/config_load.h"
#include "pipeline/runner.h"
#include "util/mem.h"

static void run_usage(FILE *f)
{
    fprintf(f,
            "usage: keyetl run [options]\n"
            "Runs pipeline stages on a version (spec 05 §4).\n\n"
            "  --mode full|incr|force  version choice and stage list; without it: resume an\n"
            "                          interrupted or failed run (incr), else a new full version\n"
            "  -s, --stage NAME        run exactly these stages (repeatable): download clean\n"
            "                          keypairs kvc features top_il eda\n"
            "  --version-id ID         work on this version\n"
            "  --dry-run               validate and print the plan; changes nothing\n"
            "  --source URI            snapshot source: folder, file://..., s3://bucket/prefix/ (RAW_SOURCE)\n"
            "  --local-only            forbid network sources\n"
            "  --device-types LIST     DEVICE_TYPES, e.g. desktop,mobile\n"
            "  --include-pii           INCLUDE_PII=true\n"
            "  --keep-outliers         KEEP_OUTLIERS=true\n"
            "  --top-k N               TOP_K\n"
            "  --output-formats LIST   OUTPUT_FORMATS, e.g. parquet\n"
            "  --batch-size N          BATCH_SIZE\n"
            "  --no-incremental        INCREMENTAL=false\n"
            "  --no-eda                drop eda from automatically built stage lists\n"
            "  --artifacts-dir DIR     ARTIFACTS_DIR\n"
            "  --config-dir DIR        folder of the .env files (default: config)\n"
            "  --set KEY=VALUE         any setting (repeatable; the last occurrence wins)\n"
            "  --log-level LEVEL       console level: DEBUG, INFO, WARNING, ERROR (LOG_LEVEL)\n"
            "  --quiet                 no progress line\n"
            "  --non-interactive       accepted for compatibility; no effect\n"
            "  -h, --help              this text\n\n"
            "exit codes: 0 success (also nothing to do, dry run), 1 a stage failed,\n"
            "            2 invalid invocation, configuration or plan (nothing changed),\n"
            "            3 the version is busy (locked by another run)\n");
}

enum {
    O_MODE = 256, O_VID, O_DRY, O_SOURCE, O_LOCAL, O_DEV, O_PII, O_KEEP, O_TOPK, O_FMT, O_BATCH, O_NOINC,
    O_NOEDA, O_ART, O_CFGDIR, O_SET, O_LOG, O_QUIET, O_NONINT, O_LLM, O_UPLOAD
};

static const struct option run_opts[] = {
    {"mode", required_argument, 0, O_MODE},
    {"stage", required_argument, 0, 's'},
    {"version-id", required_argument, 0, O_VID},
    {"dry-run", no_argument, 0, O_DRY},
    {"source", required_argument, 0, O_SOURCE},
    {"local-only", no_argument, 0, O_LOCAL},
    {"device-types", required_argument, 0, O_DEV},
    {"include-pii", no_argument, 0, O_PII},
    {"keep-outliers", no_argument, 0, O_KEEP},
    {"top-k", required_argument, 0, O_TOPK},
    {"output-formats", required_argument, 0, O_FMT},
    {"batch-size", required_argument, 0, O_BATCH},
    {"no-incremental", no_argument, 0, O_NOINC},
    {"no-eda", no_argument, 0, O_NOEDA},
    {"artifacts-dir", required_argument, 0, O_ART},
    {"config-dir", required_argument, 0, O_CFGDIR},
    {"set", required_argument, 0, O_SET},
    {"log-level", required_argument, 0, O_LOG},
    {"quiet", no_argument, 0, O_QUIET},
    {"non-interactive", no_argument, 0, O_NONINT},
    {"with-llm-check", no_argument, 0, O_LLM},
    {"upload-artifacts", no_argument, 0, O_UPLOAD},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};

int kx_cmd_run(int argc, char **argv)
{
    kx_config_overrides ov = {0};
    kx_config_notes notes = {0};
    kx_config cfg;
    kx_config_init(&cfg);
    kx_err err = {{0}};
    kx_run_opts o;
    memset(&o, 0, sizeof o);
    const char **stages = kx_calloc((size_t)argc + 1, sizeof *stages);
    const char *config_dir = NULL;
    int c, rc = KX_EXIT_INVALID;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:h", run_opts, NULL)) != -1) {
        switch (c) {
        case O_MODE: {
            int m = kx_run_mode_parse(optarg);
            if (m < 0) {
                fprintf(stderr, "keyetl run: invalid --mode '%s' (allowed: full, incr, force)\n", optarg);
                goto out;
            }
            o.mode = (kx_run_mode)m;
            break;
        }
        case 's': stages[o.n_stage_names++] = optarg; break;
        case O_VID: o.version_id = optarg; break;
        case O_DRY: o.dry_run = true; break;
        case O_SOURCE: kx_config_overrides_add(&ov, "RAW_SOURCE", optarg); break;
        case O_LOCAL: o.local_only = true; break;
        case O_DEV: kx_config_overrides_add(&ov, "DEVICE_TYPES", optarg); break;
        case O_PII: kx_config_overrides_add(&ov, "INCLUDE_PII", "true"); break;
        case O_KEEP: kx_config_overrides_add(&ov, "KEEP_OUTLIERS", "true"); break;
        case O_TOPK: kx_config_overrides_add(&ov, "TOP_K", optarg); break;
        case O_FMT: kx_config_overrides_add(&ov, "OUTPUT_FORMATS", optarg); break;
        case O_BATCH: kx_config_overrides_add(&ov, "BATCH_SIZE", optarg); break;
        case O_NOINC: kx_config_overrides_add(&ov, "INCREMENTAL", "false"); break;
        case O_NOEDA: o.no_eda = true; break;
        case O_ART: kx_config_overrides_add(&ov, "ARTIFACTS_DIR", optarg); break;
        case O_CFGDIR: config_dir = optarg; break;
        case O_SET:
            if (kx_config_overrides_add_kv(&ov, optarg, &err) != 0) {
                fprintf(stderr, "keyetl run: %s\n", err.msg);
                goto out;
            }
            break;
        case O_LOG: kx_config_overrides_add(&ov, "LOG_LEVEL", optarg); break;
        case O_QUIET: o.quiet = true; break;
        case O_NONINT: break;
        case O_LLM:
            fprintf(stderr, "keyetl run: --with-llm-check is not supported: LLM scoring is outside this engine\n");
            goto out;
        case O_UPLOAD:
            fprintf(stderr, "keyetl run: --upload-artifacts is not supported: uploading versions is a planned "
                            "extension\n");
            goto out;
        case 'h': run_usage(stdout); rc = 0; goto out;
        case ':':
            fprintf(stderr, "keyetl run: option '%s' needs a value\n", argv[optind - 1]);
            goto out;
        default:
            fprintf(stderr, "keyetl run: unknown option '%s' (see keyetl run --help)\n", argv[optind - 1]);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "keyetl run: unexpected argument '%s' (see keyetl run --help)\n", argv[optind]);
        goto out;
    }
    if (kx_config_load(&cfg, config_dir, &ov, &notes, &err) != 0) {
        fprintf(stderr, "keyetl run: %s\n", err.msg);
        goto out;
    }
    kx_log *log = kx_log_new(cfg.log_level);
    kx_config_notes_emit(&notes, log);
    o.stage_names = stages;
    o.argc = argc;
    o.argv = argv;
    kx_run_result res;
    rc = kx_run(&cfg, &o, log, &res);
    kx_log_free(log);
out:
    free(stages);
    kx_config_notes_free(&notes);
    kx_config_overrides_free(&ov);
    kx_config_free(&cfg);
    return rc;
}
