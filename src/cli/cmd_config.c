/* cmd_config.c — `keyetl config show`: the effective settings and where each came from
 * (spec 05 §1.2, §2). Secrets are redacted. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "io/json.h"
#include "pipeline/config_load.h"
#include "util/buf.h"

static void config_usage(FILE *f)
{
    fprintf(f, "usage: keyetl config show [--json] [--config-dir DIR] [--set KEY=VALUE]...\n"
               "  prints every setting, its effective value and its source (default, a .env file,\n"
               "  environment, command line); secrets are shown as ***REDACTED***\n");
}

static void print_table(const kx_config *cfg)
{
    printf("%-24s %-40s %s\n", "KEY", "VALUE", "SOURCE");
    for (size_t i = 0; i < kx_settings_count; i++) {
        char *v = kx_config_get_display(cfg, i);
        printf("%-24s %-40s %s\n", kx_settings[i].key, v, cfg->source[i]);
        free(v);
    }
}

static void print_json(const kx_config *cfg)
{
    json_t *root = json_object();
    for (size_t i = 0; i < kx_settings_count; i++) {
        char *v = kx_config_get_display(cfg, i);
        json_t *o = json_object();
        json_object_set_new(o, "value", kx_json_str(v));
        json_object_set_new(o, "source", kx_json_str(cfg->source[i]));
        json_object_set_new(root, kx_settings[i].key, o);
        free(v);
    }
    kx_buf b = KX_BUF_INIT;
    kx_json_dump(&b, root);
    printf("%s\n", b.data);
    kx_buf_free(&b);
    json_decref(root);
}

int kx_cmd_config(int argc, char **argv)
{
    enum { O_JSON = 256, O_CONFIG_DIR, O_SET, O_HELP };
    static const struct option opts[] = {{"json", no_argument, 0, O_JSON},
                                         {"config-dir", required_argument, 0, O_CONFIG_DIR},
                                         {"set", required_argument, 0, O_SET},
                                         {"help", no_argument, 0, O_HELP},
                                         {0, 0, 0, 0}};
    kx_config_overrides ov = {0};
    kx_config_notes notes = {0};
    kx_config cfg;
    kx_config_init(&cfg);
    kx_err err = {{0}};
    const char *config_dir = NULL;
    bool json = false;
    int c, rc = 2;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_JSON: json = true; break;
        case O_CONFIG_DIR: config_dir = optarg; break;
        case O_SET:
            if (kx_config_overrides_add_kv(&ov, optarg, &err) != 0) {
                fprintf(stderr, "keyetl config: %s\n", err.msg);
                goto out;
            }
            break;
        case O_HELP: config_usage(stdout); rc = 0; goto out;
        default:
            fprintf(stderr, "keyetl config: unknown or incomplete option '%s'\n", argv[optind - 1]);
            config_usage(stderr);
            goto out;
        }
    }
    if (optind >= argc || strcmp(argv[optind], "show") != 0 || optind + 1 < argc) {
        if (optind < argc) fprintf(stderr, "keyetl config: unknown subcommand or argument '%s'\n", argv[optind]);
        config_usage(stderr);
        goto out;
    }
    if (kx_config_load(&cfg, config_dir, &ov, &notes, &err) != 0) {
        fprintf(stderr, "keyetl config: %s\n", err.msg);
        goto out;
    }
    kx_log *log = kx_log_new(cfg.log_level);
    kx_config_notes_emit(&notes, log);
    kx_log_free(log);
    if (json) print_json(&cfg);
    else print_table(&cfg);
    rc = 0;
out:
    kx_config_notes_free(&notes);
    kx_config_overrides_free(&ov);
    kx_config_free(&cfg);
    return rc;
}
