/* cmd_versions.c — `keyetl versions list|show|current|delete|archive|export`
 * (spec 05 §1.2, §3.4, §3.6). Reads open the catalog read-only (nothing is created when
 * it does not exist); delete and archive claim the version's run lock first, so they are
 * refused (exit 3) while a run holds it. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "cli/cli.h"
#include "io/fs.h"
#include "io/json.h"
#include "pipeline/config_load.h"
#include "pipeline/runner.h"
#include "util/buf.h"
#include "util/mem.h"

static void versions_usage(FILE *f)
{
    fprintf(f,
            "usage: keyetl versions <command> [options]\n"
            "  list [--status all|completed|failed|in_progress|archived] [--limit N]\n"
            "       [--format table|json|ids] [--json]\n"
            "                         newest first; default: every status except archived, 20 rows\n"
            "  show VID               the full version record (JSON)\n"
            "  current                the current version id\n"
            "  delete VID [--artifacts] [--force]\n"
            "                         remove the record (and <ARTIFACTS_DIR>/<VID>/ with --artifacts);\n"
            "                         the current version only with --force\n"
            "  archive VID            mark the record archived (artifacts untouched)\n"
            "  export DIR             write versions/<vid>.json, versions_successful.json,\n"
            "                         versions_failed.json and current_version.txt into DIR\n"
            "common options: --config-dir DIR, --set KEY=VALUE\n"
            "exit codes: 0 success, 2 invalid invocation / unknown version / no current version,\n"
            "            3 the version is locked by a run\n");
}

typedef struct vopts {
    const char *status;
    long limit;
    const char *format;
    bool artifacts, force;
} vopts;

static const char *str_at(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static int stages_completed(const json_t *rec)
{
    int n = 0;
    const char *k;
    json_t *s;
    json_object_foreach(json_object_get(rec, "stages"), k, s) n += json_is_true(json_object_get(s, "completed"));
    return n;
}

static void print_json(const json_t *v)
{
    kx_buf b = KX_BUF_INIT;
    kx_json_dump(&b, v);
    printf("%s\n", b.data);
    kx_buf_free(&b);
}

static bool status_matches(const char *filter, const char *status)
{
    if (!filter) return strcmp(status, "archived") != 0;
    if (!strcmp(filter, "all")) return true;
    return !strcmp(filter, status);
}

static int cmd_list(kx_catalog *cat, const vopts *o)
{
    kx_err err;
    json_t *list = NULL;
    if (kx_catalog_version_list(cat, &list, &err) != 0) {
        fprintf(stderr, "keyetl versions: %s\n", err.msg);
        return 2;
    }
    const char *fmt = o->format ? o->format : "table";
    json_t *out = json_array();
    if (!strcmp(fmt, "table"))
        printf("%-44s %-26s %-26s %-26s %s\n", "ID", "STATUS", "CREATED_AT", "COMPLETED_AT", "STAGES");
    size_t i, shown = 0;
    json_t *r;
    json_array_foreach(list, i, r) {
        const char *st = str_at(r, "status");
        if (!st || !status_matches(o->status, st)) continue;
        if (shown >= (size_t)o->limit) break;
        shown++;
        const char *id = str_at(r, "id"), *done = str_at(r, "completed_at");
        int n = stages_completed(r);
        if (!strcmp(fmt, "ids")) {
            printf("%s\n", id);
        } else if (!strcmp(fmt, "json")) {
            json_array_append_new(out, json_pack("{s:s,s:s,s:s?,s:s?,s:i}", "id", id, "status", st, "created_at",
                                                 str_at(r, "created_at"), "completed_at", done, "stages_completed", n));
        } else {
            char status[64];
            kx_lock_owner lo;
            bool interrupted = !strcmp(st, "in_progress") && kx_catalog_lock_get(cat, id, &lo, &err) == KX_CAT_OK;
            snprintf(status, sizeof status, "%s%s", st, interrupted ? " (interrupted)" : "");
            char stages[40];
            snprintf(stages, sizeof stages, "%d/%d stages completed", n, KX_STAGE_COUNT);
            printf("%-44s %-26s %-26s %-26s %s\n", id, status, str_at(r, "created_at"), done ? done : "-", stages);
        }
    }
    if (!strcmp(fmt, "json")) print_json(out);
    json_decref(out);
    json_decref(list);
    return 0;
}

static int get_record(kx_catalog *cat, const char *vid, json_t **rec)
{
    kx_err err;
    int r = kx_catalog_version_get(cat, vid, rec, &err);
    if (r < 0) fprintf(stderr, "keyetl versions: %s\n", err.msg);
    else if (r == KX_CAT_NOT_FOUND) fprintf(stderr, "keyetl versions: unknown version %s\n", vid);
    return r == 0 ? 0 : 2;
}

static int cmd_show(kx_catalog *cat, const char *vid)
{
    json_t *rec = NULL;
    if (get_record(cat, vid, &rec) != 0) return 2;
    print_json(rec);
    json_decref(rec);
    return 0;
}

static int cmd_current(kx_catalog *cat)
{
    kx_err err;
    char *id = NULL;
    int r = kx_catalog_current_get(cat, &id, &err);
    if (r < 0) {
        fprintf(stderr, "keyetl versions: %s\n", err.msg);
        return 2;
    }
    if (r == KX_CAT_NOT_FOUND) {
        fprintf(stderr, "keyetl versions: no current version\n");
        return 2;
    }
    printf("%s\n", id);
    free(id);
    return 0;
}

/* Claims the version's run lock for a change (exit 3 when a run holds it). */
static int lock_for_change(kx_catalog *cat, const char *vid)
{
    kx_err err;
    kx_lock_owner o;
    int r = kx_catalog_lock_acquire(cat, vid, &o, &err);
    if (r == KX_CAT_BUSY) {
        fprintf(stderr, "keyetl versions: version %s is busy: locked by process %ld on %s\n", vid, o.pid, o.host);
        return 3;
    }
    if (r < 0) {
        fprintf(stderr, "keyetl versions: %s\n", err.msg);
        return 2;
    }
    return 0;
}

static int cmd_delete(kx_catalog *cat, const kx_config *cfg, const char *vid, const vopts *o)
{
    kx_err err;
    json_t *rec = NULL;
    if (get_record(cat, vid, &rec) != 0) return 2;
    json_decref(rec);
    char *cur = NULL;
    kx_catalog_current_get(cat, &cur, &err);
    bool is_current = cur && !strcmp(cur, vid);
    free(cur);
    if (is_current && !o->force) {
        fprintf(stderr, "keyetl versions: %s is the current version; use --force to delete it\n", vid);
        return 2;
    }
    int rc = lock_for_change(cat, vid);
    if (rc) return rc;
    /* the delete removes the lock row with the record */
    if (kx_catalog_version_delete(cat, vid, true, &err) != 0) {
        fprintf(stderr, "keyetl versions: %s\n", err.msg);
        kx_catalog_lock_release(cat, vid, &err);
        return 2;
    }
    if (o->artifacts) {
        char *dir = kx_path_join(cfg->artifacts_dir, vid);
        int r = kx_rmtree(dir, &err);
        free(dir);
        if (r != 0) {
            fprintf(stderr, "keyetl versions: record deleted, but %s\n", err.msg);
            return 2;
        }
    }
    printf("deleted %s%s\n", vid, o->artifacts ? " and its artifacts" : "");
    return 0;
}

static int cmd_archive(kx_catalog *cat, const char *vid)
{
    kx_err err;
    json_t *rec = NULL;
    if (get_record(cat, vid, &rec) != 0) return 2;
    bool already = !strcmp(str_at(rec, "status"), "archived");
    json_decref(rec);
    if (already) {
        fprintf(stderr, "keyetl versions: %s is already archived\n", vid);
        return 2;
    }
    int rc = lock_for_change(cat, vid);
    if (rc) return rc;
    char ts[32];
    kx_timestamp_now(ts);
    int r = kx_catalog_version_archive(cat, vid, ts, &err);
    kx_err e2;
    kx_catalog_lock_release(cat, vid, &e2);
    if (r != 0) {
        fprintf(stderr, "keyetl versions: %s\n", err.msg);
        return 2;
    }
    printf("archived %s\n", vid);
    return 0;
}

/* The Python pipeline's file layout: versions/<vid>.json (full records),
 * versions_successful.json / versions_failed.json ({"versions": {id: summary},
 * "metadata": {...}}; failed holds failed and in-progress versions), current_version.txt. */
static int cmd_export(kx_catalog *cat, const char *dir)
{
    kx_err err;
    json_t *list = NULL;
    char *vdir = kx_path_join(dir, "versions");
    int rc = 2;
    if (kx_catalog_version_list(cat, &list, &err) != 0 || kx_mkdirs(vdir, &err) != 0) goto fail;
    json_t *ok = json_object(), *bad = json_object();
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r) {
        const char *id = str_at(r, "id"), *st = str_at(r, "status");
        char *name = kx_asprintf("%s.json", id);
        char *path = kx_path_join(vdir, name);
        int w = kx_json_write_file(path, r, &err);
        free(name);
        free(path);
        if (w != 0) {
            json_decref(ok);
            json_decref(bad);
            goto fail;
        }
        if (!strcmp(st, "completed"))
            json_object_set_new(ok, id, json_pack("{s:s,s:s?,s:s?,s:s}", "id", id, "created_at", str_at(r, "created_at"),
                                                  "completed_at", str_at(r, "completed_at"), "status", st));
        else if (strcmp(st, "archived") != 0)
            json_object_set_new(bad, id, json_pack("{s:s,s:s?,s:s}", "id", id, "created_at", str_at(r, "created_at"),
                                                   "status", st));
    }
    json_t *now = kx_json_timestamp_now();
    const char *names[2] = {"versions_successful.json", "versions_failed.json"};
    json_t *sets[2] = {ok, bad};
    int w = 0;
    for (int k = 0; k < 2; k++) {
        json_t *doc = json_pack("{s:O,s:{s:O,s:O}}", "versions", sets[k], "metadata", "created_at", now,
                                "last_updated", now);
        char *path = kx_path_join(dir, names[k]);
        if (!w) w = kx_json_write_file(path, doc, &err);
        free(path);
        json_decref(doc);
        json_decref(sets[k]);
    }
    json_decref(now);
    if (w) goto fail;
    char *cur = NULL;
    char *cpath = kx_path_join(dir, "current_version.txt");
    if (kx_catalog_current_get(cat, &cur, &err) == 0) {
        w = kx_write_file_atomic(cpath, cur, strlen(cur), &err);
        free(cur);
    } else {
        kx_rmtree(cpath, NULL); /* no current version: no pointer file */
    }
    free(cpath);
    if (w) goto fail;
    printf("exported %zu versions to %s\n", json_array_size(list), dir);
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "keyetl versions: %s\n", err.msg);
out:
    json_decref(list);
    free(vdir);
    return rc;
}

static bool one_of(const char *v, const char *const *allowed)
{
    for (; *allowed; allowed++)
        if (!strcmp(v, *allowed)) return true;
    return false;
}

/* The parsed command line of `keyetl versions`. */
typedef struct vargs {
    vopts o;
    const char *config_dir, *sub, *arg; /* subcommand and its argument (NULL if none) */
    kx_config_overrides ov;
    bool help;
} vargs;

/* Options (getopt_long); -1 with err set on an invalid one. */
static int parse_options(int argc, char **argv, vargs *a, bool *list_opts, bool *delete_opts, bool *json,
                         kx_err *err)
{
    enum { O_CFGDIR = 256, O_SET, O_JSON, O_FORMAT, O_STATUS, O_LIMIT, O_ARTIFACTS, O_FORCE };
    static const struct option opts[] = {
        {"config-dir", required_argument, 0, O_CFGDIR}, {"set", required_argument, 0, O_SET},
        {"json", no_argument, 0, O_JSON},               {"format", required_argument, 0, O_FORMAT},
        {"status", required_argument, 0, O_STATUS},     {"limit", required_argument, 0, O_LIMIT},
        {"artifacts", no_argument, 0, O_ARTIFACTS},     {"force", no_argument, 0, O_FORCE},
        {"help", no_argument, 0, 'h'},                  {0, 0, 0, 0}};
    static const char *const formats[] = {"table", "json", "ids", NULL};
    static const char *const statuses[] = {"all", "completed", "failed", "in_progress", "archived", NULL};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case O_CFGDIR: a->config_dir = optarg; break;
        case O_SET:
            if (kx_config_overrides_add_kv(&a->ov, optarg, err) != 0) return -1;
            break;
        case O_JSON: *json = true; break;
        case O_FORMAT:
            if (!one_of(optarg, formats)) return kx_fail(err, "invalid --format '%s' (allowed: table, json, ids)", optarg);
            a->o.format = optarg;
            *list_opts = true;
            break;
        case O_STATUS:
            if (!one_of(optarg, statuses))
                return kx_fail(err, "invalid --status '%s' (allowed: all, completed, failed, in_progress, archived)",
                               optarg);
            a->o.status = optarg;
            *list_opts = true;
            break;
        case O_LIMIT: {
            char *end;
            a->o.limit = strtol(optarg, &end, 10);
            if (*end || !*optarg || a->o.limit < 1) return kx_fail(err, "invalid --limit '%s' (a positive integer)", optarg);
            *list_opts = true;
            break;
        }
        case O_ARTIFACTS: a->o.artifacts = *delete_opts = true; break;
        case O_FORCE: a->o.force = *delete_opts = true; break;
        case 'h': a->help = true; return 0;
        case ':': return kx_fail(err, "option '%s' needs a value", argv[optind - 1]);
        default: return kx_fail(err, "unknown option '%s'", argv[optind - 1]);
        }
    }
    return 0;
}

/* Options, then the subcommand and its argument, checked against each other. */
static int parse_versions_args(int argc, char **argv, vargs *a, kx_err *err)
{
    bool json = false, list_opts = false, delete_opts = false;
    if (parse_options(argc, argv, a, &list_opts, &delete_opts, &json, err) != 0 || a->help) return a->help ? 0 : -1;
    a->sub = optind < argc ? argv[optind] : NULL;
    int nargs = argc - optind - 1;
    a->arg = nargs >= 1 ? argv[optind + 1] : NULL;
    const char *sub = a->sub;
    bool needs_arg = sub && (one_of(sub, (const char *const[]){"show", "delete", "archive", "export", NULL}));
    if (!sub || !one_of(sub, (const char *const[]){"list", "show", "current", "delete", "archive", "export", NULL}))
        return kx_fail(err, sub ? "unknown subcommand '%s'" : "missing subcommand%s", sub ? sub : "");
    if (nargs != (needs_arg ? 1 : 0))
        return kx_fail(err, needs_arg ? "'%s' needs exactly one argument" : "'%s' takes no argument", sub);
    if ((list_opts && strcmp(sub, "list")) || (delete_opts && strcmp(sub, "delete")))
        return kx_fail(err, "option not valid for '%s'", sub);
    if (json && strcmp(sub, "list") == 0) {
        if (a->o.format && strcmp(a->o.format, "json"))
            return kx_fail(err, "--json conflicts with --format %s", a->o.format);
        a->o.format = "json";
    }
    return 0;
}

/* Opens the catalog (for writing only for delete/archive, and only when it exists) and runs
 * the subcommand. Read subcommands never create the catalog. */
static int run_subcommand(const vargs *a, const kx_config *cfg, kx_err *err)
{
    kx_catalog *cat = NULL;
    const char *sub = a->sub;
    bool writes = !strcmp(sub, "delete") || !strcmp(sub, "archive");
    if (kx_catalog_open(cfg, KX_CATALOG_READ, &cat, err) != 0) return -1;
    if (writes && cat) { /* reopen for writing only when the database exists */
        kx_catalog_close(cat);
        cat = NULL;
        if (kx_catalog_open(cfg, KX_CATALOG_WRITE, &cat, err) != 0) return -1;
    }
    int rc;
    if (!strcmp(sub, "list")) rc = cmd_list(cat, &a->o);
    else if (!strcmp(sub, "show")) rc = cmd_show(cat, a->arg);
    else if (!strcmp(sub, "current")) rc = cmd_current(cat);
    else if (!strcmp(sub, "delete")) rc = cmd_delete(cat, cfg, a->arg, &a->o);
    else if (!strcmp(sub, "archive")) rc = cmd_archive(cat, a->arg);
    else rc = cmd_export(cat, a->arg);
    kx_catalog_close(cat);
    return rc;
}

int kx_cmd_versions(int argc, char **argv)
{
    vargs a = {{NULL, 20, NULL, false, false}, NULL, NULL, NULL, {0}, false};
    kx_config_notes notes = {0};
    kx_config cfg;
    kx_config_init(&cfg);
    kx_err err = {{0}};
    int rc = 2;
    if (parse_versions_args(argc, argv, &a, &err) != 0) goto bad;
    if (a.help) {
        versions_usage(stdout);
        rc = 0;
        goto out;
    }
    if (kx_config_load(&cfg, a.config_dir, &a.ov, &notes, &err) != 0) goto bad;
    kx_log *log = kx_log_new(cfg.log_level);
    kx_config_notes_emit(&notes, log);
    kx_log_free(log);
    rc = run_subcommand(&a, &cfg, &err);
    if (rc >= 0) goto out;
bad:
    fprintf(stderr, "keyetl versions: %s\n", err.msg);
    if (!a.sub) versions_usage(stderr);
    rc = 2;
out:
    kx_config_notes_free(&notes);
    kx_config_overrides_free(&a.ov);
    kx_config_free(&cfg);
    return rc;
}
