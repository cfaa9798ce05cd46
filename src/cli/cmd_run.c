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

/* Options that only set a setting: option id → setting key and value (NULL: the argument). */
static const struct {
    int opt;
    const char *key, *value;
} setting_opts[] = {
    {O_SOURCE, "RAW_SOURCE", NULL},         {O_DEV, "DEVICE_TYPES", NULL},     {O_PII, "INCLUDE_PII", "true"},
    {O_KEEP, "KEEP_OUTLIERS", "true"},      {O_TOPK, "TOP_K", NULL},           {O_FMT, "OUTPUT_FORMATS", NULL},
    {O_BATCH, "BATCH_SIZE", NULL},          {O_NOINC, "INCREMENTAL", "false"}, {O_ART, "ARTIFACTS_DIR", NULL},
    {O_LOG, "LOG_LEVEL", NULL},
};

/* The parsed command line of `keyetl run`: run options, setting overrides, --config-dir. */
typedef struct run_args {
    kx_run_opts o;
    kx_config_overrides ov;
    const char *config_dir;
    const char **stages; /* the -s names, argc + 1 slots */
    bool help;
} run_args;

/* Parses argv; -1 after printing why it is invalid. */
static int parse_run_args(int argc, char **argv, run_args *a)
{
    kx_err err;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:h", run_opts, NULL)) != -1) {
        bool setting = false;
        for (size_t i = 0; i < sizeof setting_opts / sizeof *setting_opts && !setting; i++) {
            if (setting_opts[i].opt != c) continue;
            kx_config_overrides_add(&a->ov, setting_opts[i].key, setting_opts[i].value ? setting_opts[i].value : optarg);
            setting = true;
        }
        if (setting) continue;
        switch (c) {
        case O_MODE: {
            int m = kx_run_mode_parse(optarg);
            if (m < 0) {
                fprintf(stderr, "keyetl run: invalid --mode '%s' (allowed: full, incr, force)\n", optarg);
                return -1;
            }
            a->o.mode = (kx_run_mode)m;
            break;
        }
        case 's': a->stages[a->o.n_stage_names++] = optarg; break;
        case O_VID: a->o.version_id = optarg; break;
        case O_DRY: a->o.dry_run = true; break;
        case O_LOCAL: a->o.local_only = true; break;
        case O_NOEDA: a->o.no_eda = true; break;
        case O_CFGDIR: a->config_dir = optarg; break;
        case O_SET:
            if (kx_config_overrides_add_kv(&a->ov, optarg, &err) != 0) {
                fprintf(stderr, "keyetl run: %s\n", err.msg);
                return -1;
            }
            break;
        case O_QUIET: a->o.quiet = true; break;
        case O_NONINT: break;
        case O_LLM:
            fprintf(stderr, "keyetl run: --with-llm-check is not supported: LLM scoring is outside this engine\n");
            return -1;
        case O_UPLOAD:
            fprintf(stderr, "keyetl run: --upload-artifacts is not supported: uploading versions is a planned "
                            "extension\n");
            return -1;
        case 'h': a->help = true; return 0;
        case ':': fprintf(stderr, "keyetl run: option '%s' needs a value\n", argv[optind - 1]); return -1;
        default:
            fprintf(stderr, "keyetl run: unknown option '%s' (see keyetl run --help)\n", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "keyetl run: unexpected argument '%s' (see keyetl run --help)\n", argv[optind]);
        return -1;
    }
    return 0;
}

int kx_cmd_run(int argc, char **argv)
{
    run_args a;
    memset(&a, 0, sizeof a);
    a.stages = kx_calloc((size_t)argc + 1, sizeof *a.stages);
    kx_config_notes notes = {0};
    kx_config cfg;
    kx_config_init(&cfg);
    kx_err err = {{0}};
    int rc = KX_EXIT_INVALID;
    if (parse_run_args(argc, argv, &a) != 0) goto out;
    if (a.help) {
        run_usage(stdout);
        rc = 0;
        goto out;
    }
    if (kx_config_load(&cfg, a.config_dir, &a.ov, &notes, &err) != 0) {
        fprintf(stderr, "keyetl run: %s\n", err.msg);
        goto out;
    }
    kx_log *log = kx_log_new(cfg.log_level);
    kx_config_notes_emit(&notes, log);
    a.o.stage_names = a.stages;
    a.o.argc = argc;
    a.o.argv = argv;
    kx_run_result res;
    rc = kx_run(&cfg, &a.o, log, &res);
    kx_log_free(log);
out:
    free(a.stages);
    kx_config_notes_free(&notes);
    kx_config_overrides_free(&a.ov);
    kx_config_free(&cfg);
    return rc;
}
