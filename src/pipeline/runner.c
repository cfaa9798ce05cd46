/* runner.c — versioned runs: plan, dry run, execution and recording (spec 05 §3, §4).
 *
 * The run is split into a side-effect-free planning phase (everything that can make the
 * run exit 2 or 3 is decided there, with the catalog opened read-only or not at all) and
 * an execution phase that starts by claiming the version's lock. Version records are
 * jansson trees rebuilt in the key order of §3.2 before every write.
 */
#include "pipeline/runner.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "catalog/catalog.h"
#include "io/fs.h"
#include "io/json.h"
#include "pipeline/lineage.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/sort.h"
#include "util/pool.h"

#define ALL_STAGES ((1u << KX_STAGE_COUNT) - 1)
#define BIT(s) (1u << (s))

/* ---- small helpers ----------------------------------------------------------------------- */

double kx_monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void kx_version_host(char out[128])
{
    struct utsname u;
    snprintf(out, 128, "%s", uname(&u) == 0 ? u.nodename : "localhost");
    for (char *p = out; *p; p++) {
        *p = (char)tolower((unsigned char)*p);
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '_')) *p = '-';
    }
}

void kx_make_version_id(char out[256], const char *suffix)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char ts[32], host[128];
    strftime(ts, sizeof ts, "%Y-%m-%d_%H-%M-%S", &tm);
    kx_version_host(host);
    if (suffix && *suffix) snprintf(out, 256, "%s_%s_%s", ts, host, suffix);
    else snprintf(out, 256, "%s_%s", ts, host);
}

bool kx_version_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 200 || !isalnum((unsigned char)s[0])) return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '_' || s[i] == '-')) return false;
    return true;
}

int kx_run_mode_parse(const char *s)
{
    if (!strcmp(s, "full")) return KX_MODE_FULL;
    if (!strcmp(s, "incr")) return KX_MODE_INCR;
    if (!strcmp(s, "force")) return KX_MODE_FORCE;
    return -1;
}

const char *kx_run_mode_name(kx_run_mode m)
{
    switch (m) {
    case KX_MODE_FULL: return "full";
    case KX_MODE_INCR: return "incr";
    case KX_MODE_FORCE: return "force";
    default: return "default";
    }
}

char *kx_effective_source(const kx_config *cfg)
{
    if (cfg->raw_source && *cfg->raw_source) return kx_strdup(cfg->raw_source);
    if (cfg->bucket_name && *cfg->bucket_name) return kx_asprintf("s3://%s/uploads/", cfg->bucket_name);
    return kx_strdup("");
}

/* ---- stage settings (§3.2) --------------------------------------------------------------- */

static const char *const keys_download[] = {"RAW_SOURCE", NULL};
static const char *const keys_clean[] = {"CLEAN_MIN_ROWS", "INCLUDE_PII", "PARTITIONED_STORAGE", NULL};
static const char *const keys_keypairs[] = {"DEVICE_TYPES", "OUTLIER_HL_MIN_MS", "OUTLIER_HL_MAX_MS",
                                            "OUTLIER_IL_ABS_MAX_MS", "OUTPUT_FORMATS", NULL};
static const char *const keys_kvc[] = {"OUTPUT_FORMATS", NULL};
static const char *const keys_features[] = {"KEEP_OUTLIERS", "TOP_K", "OUTPUT_FORMATS", NULL};
static const char *const keys_top_il[] = {"TOP_K", "OUTPUT_FORMATS", NULL};
static const char *const keys_eda[] = {"DEVICE_TYPES", "INCLUDE_PII", NULL};

const char *const *kx_stage_setting_keys(kx_stage_id id)
{
    static const char *const *const table[KX_STAGE_COUNT] = {keys_download, keys_clean, keys_keypairs, keys_kvc,
                                                             keys_features, keys_top_il, keys_eda};
    return (unsigned)id < KX_STAGE_COUNT ? table[id] : keys_kvc + 1;
}

/* Typed JSON value of a setting: booleans and numbers as JSON scalars, the rest as the
 * canonical text of kx_config_get_text (lists comma-joined, lower-cased). */
static json_t *setting_value(const kx_config *cfg, const char *key)
{
    if (!strcmp(key, "INCLUDE_PII")) return json_boolean(cfg->include_pii);
    if (!strcmp(key, "KEEP_OUTLIERS")) return json_boolean(cfg->keep_outliers);
    if (!strcmp(key, "PARTITIONED_STORAGE")) return json_boolean(cfg->partitioned_storage);
    if (!strcmp(key, "TOP_K")) return json_integer(cfg->top_k);
    if (!strcmp(key, "CLEAN_MIN_ROWS")) return json_integer(cfg->clean_min_rows);
    if (!strcmp(key, "OUTLIER_HL_MIN_MS")) return kx_json_num(cfg->outlier_hl_min_ms);
    if (!strcmp(key, "OUTLIER_HL_MAX_MS")) return kx_json_num(cfg->outlier_hl_max_ms);
    if (!strcmp(key, "OUTLIER_IL_ABS_MAX_MS")) return kx_json_num(cfg->outlier_il_abs_max_ms);
    int i = kx_setting_index(key);
    char *text = i >= 0 ? kx_config_get_display(cfg, (size_t)i) : kx_strdup("");
    json_t *v = kx_json_str(text);
    free(text);
    return v;
}

json_t *kx_stage_settings_json(const kx_config *cfg, kx_stage_id id)
{
    json_t *o = json_object();
    for (const char *const *k = kx_stage_setting_keys(id); *k; k++) json_object_set_new(o, *k, setting_value(cfg, *k));
    return o;
}

/* ---- record helpers ---------------------------------------------------------------------- */

static const char *str_at(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static json_t *stage_rec(const json_t *record, const char *record_name)
{
    return json_object_get(json_object_get(record, "stages"), record_name);
}

static bool stage_completed(const json_t *record, const char *record_name)
{
    const char *st = str_at(stage_rec(record, record_name), "status");
    return st && !strcmp(st, "completed");
}

/* Copies src[key] into dst if present. */
static void copy_key(json_t *dst, const json_t *src, const char *key)
{
    json_t *v = json_object_get(src, key);
    if (v) json_object_set(dst, key, v);
}

/* Rebuilds a stage record in the key order of §3.2. */
static json_t *order_stage_record(const json_t *s)
{
    static const char *const order[] = {"status",         "completed",       "output_path", "started_at",
                                        "completed_at",   "duration_seconds", "engine_version", "settings",
                                        "stats",          "error",           NULL};
    json_t *o = json_object();
    for (int i = 0; order[i]; i++) copy_key(o, s, order[i]);
    return o;
}

/* Rebuilds the version record in the key order of §3.2 (stages in canonical order). */
static json_t *order_record(const json_t *r, const kx_stage_def *defs)
{
    static const char *const head[] = {"id", "created_at", "updated_at", "status", "engine_version", "metadata", NULL};
    static const char *const tail[] = {"completed_at", "failed_stage", "error", "summary", "archived_at", NULL};
    json_t *o = json_object();
    for (int i = 0; head[i]; i++) copy_key(o, r, head[i]);
    json_t *stages = json_object(), *old = json_object_get(r, "stages");
    for (int i = 0; i < KX_STAGE_COUNT; i++) {
        json_t *s = json_object_get(old, defs[i].record_name);
        if (s) json_object_set_new(stages, defs[i].record_name, order_stage_record(s));
    }
    json_object_set_new(o, "stages", stages);
    for (int i = 0; tail[i]; i++) copy_key(o, r, tail[i]);
    return o;
}

/* "<ARTIFACTS_DIR>/<vid>/<folder>" with <k> replaced by TOP_K. */
static char *stage_folder(const kx_config *cfg, const char *vid, const char *rel)
{
    kx_buf b = KX_BUF_INIT;
    kx_buf_printf(&b, "%s/%s/", cfg->artifacts_dir, vid);
    for (const char *p = rel; *p; p++) {
        if (!strncmp(p, "<k>", 3)) {
            kx_buf_printf(&b, "%d", cfg->top_k);
            p += 2;
        } else {
            kx_buf_putc(&b, *p);
        }
    }
    return kx_buf_steal(&b);
}

/* Every folder a stage writes (README §5), relative to the version folder. */
static const char *const writes_download[] = {"raw_data/web_app_data", "etl_metadata/download", NULL};
static const char *const writes_clean[] = {"cleaned_data", "etl_metadata/cleaning", NULL};
static const char *const writes_keypairs[] = {"keypairs", "etl_metadata/keypairs", NULL};
static const char *const writes_kvc[] = {"kvc_features", NULL};
static const char *const writes_features[] = {"statistical_features", "etl_metadata/statistical_features", NULL};
static const char *const writes_top_il[] = {"statistical_IL_top_<k>_features",
                                            "etl_metadata/statistical_IL_top_<k>_features", NULL};
static const char *const writes_eda[] = {"eda_reports/data_quality", NULL};
static const char *const *const stage_writes[KX_STAGE_COUNT] = {writes_download, writes_clean,    writes_keypairs,
                                                                writes_kvc,      writes_features, writes_top_il,
                                                                writes_eda};

/* What a stage reads, for the dry-run plan. */
static char *stage_reads(const kx_config *cfg, const char *vid, kx_stage_id id)
{
    char *src, *r;
    switch (id) {
    case KX_STAGE_DOWNLOAD:
        src = kx_effective_source(cfg);
        r = kx_asprintf("%s", *src ? src : "(no source)");
        free(src);
        return r;
    case KX_STAGE_CLEAN: return kx_asprintf("%s/%s/raw_data/web_app_data", cfg->artifacts_dir, vid);
    case KX_STAGE_KEYPAIRS: return kx_asprintf("%s/%s/cleaned_data/<dev>/raw_data", cfg->artifacts_dir, vid);
    case KX_STAGE_TOP_IL:
        return kx_asprintf("%s/%s/statistical_features, %s/%s/keypairs", cfg->artifacts_dir, vid, cfg->artifacts_dir,
                           vid);
    case KX_STAGE_EDA:
        return kx_asprintf("%s/%s/keypairs, %s/%s/cleaned_data", cfg->artifacts_dir, vid, cfg->artifacts_dir, vid);
    default: return kx_asprintf("%s/%s/keypairs", cfg->artifacts_dir, vid);
    }
}

/* Stages depending on s, transitively (bit mask). */
static unsigned dependents_of(const kx_stage_def *defs, int s)
{
    unsigned set = BIT(s), grew = 1;
    while (grew) {
        grew = 0;
        for (int i = 0; i < KX_STAGE_COUNT; i++)
            if (!(set & BIT(i)) && (defs[i].deps & set)) {
                set |= BIT(i);
                grew = 1;
            }
    }
    return set & ~BIT(s);
}

/* ---- the plan ---------------------------------------------------------------------------- */

typedef struct run_plan {
    kx_run_mode mode;          /* resolved: full, incr or force */
    char reason[256];          /* why this mode / version, printed */
    char vid[256];             /* target id (for a new generated one: the current candidate) */
    bool create;               /* a new version is created */
    bool generated_id;         /* vid is generated (may be rebuilt on collision) */
    const char *id_suffix;     /* "force" for force children */
    json_t *record;            /* existing target record, or NULL */
    char *parent_vid;          /* force child: its parent */
    char *base_vid;            /* §6.4 base, or NULL */
    json_t *base_record;
    unsigned mask;             /* stages to run */
    const char **given;        /* -s names as given */
    size_t n_given;
} run_plan;

static void plan_free(run_plan *p)
{
    json_decref(p->record);
    json_decref(p->base_record);
    free(p->parent_vid);
    free(p->base_vid);
}

typedef struct run_state {
    const kx_config *cfg;
    const kx_run_opts *o;
    const kx_stage_def *defs;
    kx_log *log;
    kx_run_result *res;
    FILE *out;
    FILE *err;
} run_state;

static int stop(run_state *rs, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int stop(run_state *rs, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rs->res->message, sizeof rs->res->message, fmt, ap);
    va_end(ap);
    fprintf(rs->err, "keyetl run: %s\n", rs->res->message);
    rs->res->exit_code = code;
    return code;
}

static const char valid_names[] = "download, clean, keypairs, kvc, features, top_il, eda";

static int parse_stage_names(run_state *rs, run_plan *p)
{
    for (size_t i = 0; i < rs->o->n_stage_names; i++) {
        const char *n = rs->o->stage_names[i];
        int found = -1;
        for (int s = 0; s < KX_STAGE_COUNT; s++)
            if (!strcmp(rs->defs[s].cli_name, n)) found = s;
        if (found < 0) {
            if (!strcmp(n, "llm_check"))
                return stop(rs, KX_EXIT_INVALID, "stage 'llm_check' is not part of this engine (LLM scoring is out of "
                                                 "scope); valid stages: %s", valid_names);
            return stop(rs, KX_EXIT_INVALID, "unknown stage '%s'; valid stages: %s", n, valid_names);
        }
        p->mask |= BIT(found);
    }
    return 0;
}

/* The newest non-archived record of the list (borrowed), or NULL. */
static json_t *newest_live(json_t *list)
{
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r) {
        const char *st = str_at(r, "status");
        if (!st || strcmp(st, "archived") != 0) return r;
    }
    return NULL;
}

static json_t *find_in(json_t *list, const char *id)
{
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r) if (!strcmp(str_at(r, "id"), id)) return r;
    return NULL;
}

static bool is_archived(const json_t *r) { return r && !strcmp(str_at(r, "status"), "archived"); }

/* Default mode: was the record made from the same RAW_SOURCE as this run? Its download
 * record carries the setting; a version whose download never started counts as the same. */
static bool same_source(const kx_config *cfg, const json_t *rec)
{
    json_t *dl = json_object_get(stage_rec(rec, "download_data"), "settings");
    const char *src = str_at(dl, "RAW_SOURCE");
    if (!src) return true;
    return !strcmp(src, cfg->raw_source ? cfg->raw_source : "");
}

/* The default mode (§4.1): resume the given version, or the newest one when it is
 * in_progress/failed from the same RAW_SOURCE; else a new full version. p->reason says why. */
static kx_run_mode default_mode(const run_state *rs, run_plan *p, json_t *v, json_t *newest)
{
    const kx_run_opts *o = rs->o;
    json_t *resume = o->version_id ? v : newest;
    const char *st = resume ? str_at(resume, "status") : NULL;
    if (o->version_id && v) {
        snprintf(p->reason, sizeof p->reason, "incr (version %s given and exists)", o->version_id);
        return KX_MODE_INCR;
    }
    if (!o->version_id && st && (!strcmp(st, "in_progress") || !strcmp(st, "failed")) && same_source(rs->cfg, resume)) {
        snprintf(p->reason, sizeof p->reason, "incr (resuming %s version %s)", st, str_at(resume, "id"));
        return KX_MODE_INCR;
    }
    snprintf(p->reason, sizeof p->reason, "full (%s)", o->version_id ? "new version with the given id" : "new version");
    return KX_MODE_FULL;
}

/* The target of p->mode (§4.1 table): an existing version (its record copied) or a new id.
 * v: the --version-id version if it exists; cur: the current one; newest: the newest live. */
static int choose_target(run_state *rs, run_plan *p, json_t *v, json_t *cur, json_t *newest)
{
    const kx_run_opts *o = rs->o;
    json_t *t = NULL;
    switch (p->mode) {
    case KX_MODE_FULL:
        if (v) {
            snprintf(p->vid, sizeof p->vid, "%s", o->version_id);
            p->record = json_deep_copy(v);
        } else if (o->version_id) {
            snprintf(p->vid, sizeof p->vid, "%s", o->version_id);
            p->create = true;
        } else {
            kx_make_version_id(p->vid, NULL);
            p->create = p->generated_id = true;
        }
        return 0;
    case KX_MODE_INCR:
        t = o->version_id ? v : newest;
        if (!t)
            return o->version_id ? stop(rs, KX_EXIT_INVALID, "unknown version %s", o->version_id)
                                 : stop(rs, KX_EXIT_INVALID, "No version found. Run with --mode full first.");
        break;
    case KX_MODE_FORCE:
        t = o->version_id ? v : cur;
        if (!t)
            return o->version_id ? stop(rs, KX_EXIT_INVALID, "unknown version %s", o->version_id)
                                 : stop(rs, KX_EXIT_INVALID, "no current version to force-run: run with --mode full "
                                                             "first");
        if (o->n_stage_names == 0) { /* a new, empty child */
            p->parent_vid = kx_strdup(str_at(t, "id"));
            p->id_suffix = "force";
            kx_make_version_id(p->vid, p->id_suffix);
            p->create = p->generated_id = true;
            return 0;
        }
        break; /* with -s: in place */
    default: return 0;
    }
    snprintf(p->vid, sizeof p->vid, "%s", str_at(t, "id"));
    p->record = json_deep_copy(t);
    return 0;
}

/* Chooses mode and target version (§4.1), and the base of a full run (§6.4). */
static int choose_version(run_state *rs, run_plan *p, kx_catalog *cat, json_t *list)
{
    const kx_run_opts *o = rs->o;
    kx_err err;
    char *current = NULL;
    int rc = kx_catalog_current_get(cat, &current, &err);
    if (rc < 0) return stop(rs, KX_EXIT_INVALID, "%s", err.msg);
    json_t *cur = current ? find_in(list, current) : NULL;
    json_t *v = o->version_id ? find_in(list, o->version_id) : NULL;
    json_t *newest = newest_live(list);
    int code = 0;
    p->mode = o->mode;
    if (o->version_id && !v && !kx_version_id_valid(o->version_id)) {
        code = stop(rs, KX_EXIT_INVALID, "invalid version id '%s' (expected [A-Za-z0-9][A-Za-z0-9._-]*, at most 200 "
                                         "characters)", o->version_id);
    } else if (v && is_archived(v)) {
        code = stop(rs, KX_EXIT_INVALID, "version %s is archived and cannot be run", o->version_id);
    } else {
        if (p->mode == KX_MODE_DEFAULT) p->mode = default_mode(rs, p, v, newest);
        else snprintf(p->reason, sizeof p->reason, "%s (as requested)", kx_run_mode_name(p->mode));
        code = choose_target(rs, p, v, cur, newest);
    }
    /* §6.4: base version for full runs */
    if (code == 0 && p->mode == KX_MODE_FULL && rs->cfg->incremental && cur &&
        (p->create || strcmp(str_at(cur, "id"), p->vid) != 0) && stage_completed(cur, "clean_data") &&
        stage_completed(cur, "extract_keypairs")) {
        p->base_vid = kx_strdup(str_at(cur, "id"));
        p->base_record = json_deep_copy(cur);
    }
    free(current);
    return code;
}

/* Stage list (§4.2); sets *nothing_to_do when an incr run has nothing left. */
static void choose_stages(run_state *rs, run_plan *p, bool *nothing_to_do)
{
    *nothing_to_do = false;
    if (rs->o->n_stage_names > 0) return; /* exactly the named stages */
    p->mask = ALL_STAGES;
    if (rs->o->no_eda) p->mask &= ~BIT(KX_STAGE_EDA);
    if (p->mode == KX_MODE_INCR && p->record)
        for (int i = 0; i < KX_STAGE_COUNT; i++)
            if (stage_completed(p->record, rs->defs[i].record_name)) p->mask &= ~BIT(i);
    *nothing_to_do = p->mask == 0;
}

/* §4.3: each direct dependency in the list or completed in the target. */
static int check_dependencies(run_state *rs, run_plan *p)
{
    kx_buf msg = KX_BUF_INIT;
    for (int i = 0; i < KX_STAGE_COUNT; i++) {
        if (!(p->mask & BIT(i))) continue;
        kx_buf line = KX_BUF_INIT;
        for (int d = 0; d < KX_STAGE_COUNT; d++) {
            if (!(rs->defs[i].deps & BIT(d)) || (p->mask & BIT(d))) continue;
            if (p->record && !p->create && stage_completed(p->record, rs->defs[d].record_name)) continue;
            kx_buf_printf(&line, "%s%s", line.len ? ", " : "", rs->defs[d].cli_name);
        }
        if (line.len) kx_buf_printf(&msg, "%sMissing dependencies for %s: %s", msg.len ? "\n" : "", rs->defs[i].cli_name,
                                    line.data);
        kx_buf_free(&line);
    }
    int rc = 0;
    if (msg.len) rc = stop(rs, KX_EXIT_INVALID, "%s", msg.data);
    kx_buf_free(&msg);
    return rc;
}

static int check_source(run_state *rs, run_plan *p)
{
    if (!(p->mask & BIT(KX_STAGE_DOWNLOAD))) return 0;
    char *src = kx_effective_source(rs->cfg);
    int rc = 0;
    if (!*src)
        rc = stop(rs, KX_EXIT_INVALID, "no download source: give --source (RAW_SOURCE) or set BUCKET_NAME");
    else if (rs->o->local_only && !strncmp(src, "s3://", 5))
        rc = stop(rs, KX_EXIT_INVALID, "--local-only forbids the network source %s", src);
    free(src);
    return rc;
}

/* Everything that can stop the run before it starts. Opens the catalog read-only (or not
 * at all when it does not exist). */
static int make_plan(run_state *rs, run_plan *p, bool *nothing_to_do)
{
    kx_err err;
    kx_catalog *cat = NULL;
    json_t *list = NULL;
    int rc = parse_stage_names(rs, p);
    if (rc) return rc;
    p->given = (const char **)rs->o->stage_names;
    p->n_given = rs->o->n_stage_names;
    if (kx_catalog_open(rs->cfg, KX_CATALOG_READ, &cat, &err) != 0) return stop(rs, KX_EXIT_INVALID, "%s", err.msg);
    if (kx_catalog_version_list(cat, &list, &err) != 0) {
        rc = stop(rs, KX_EXIT_INVALID, "%s", err.msg);
        goto out;
    }
    if ((rc = choose_version(rs, p, cat, list)) != 0) goto out;
    snprintf(rs->res->version_id, sizeof rs->res->version_id, "%s", p->vid);
    choose_stages(rs, p, nothing_to_do);
    if (*nothing_to_do) goto out;
    if ((rc = check_dependencies(rs, p)) != 0 || (rc = check_source(rs, p)) != 0) goto out;
    if (!p->create) {
        kx_lock_owner o;
        int l = kx_catalog_lock_get(cat, p->vid, &o, &err);
        if (l < 0) rc = stop(rs, KX_EXIT_INVALID, "%s", err.msg);
        else if (l == KX_CAT_BUSY)
            rc = stop(rs, KX_EXIT_BUSY, "version %s is busy: locked by process %ld on %s since %s", p->vid, o.pid,
                      o.host, o.since);
    }
out:
    json_decref(list);
    kx_catalog_close(cat);
    return rc;
}

/* ---- dry run ----------------------------------------------------------------------------- */

static void print_settings(FILE *f, const kx_config *cfg, const char *indent)
{
    for (size_t i = 0; i < kx_settings_count; i++) {
        char *v = kx_config_get_display(cfg, i);
        fprintf(f, "%s%-24s = %s\n", indent, kx_settings[i].key, v);
        free(v);
    }
}

static void print_plan(run_state *rs, const run_plan *p)
{
    FILE *f = rs->out;
    fprintf(f, "Plan (dry run: nothing is created or changed)\n");
    fprintf(f, "  mode:          %s\n", p->reason);
    fprintf(f, "  version:       %s%s\n", p->vid, p->create ? " (would be created)" : "");
    if (p->parent_vid) fprintf(f, "  parent:        %s\n", p->parent_vid);
    fprintf(f, "  base version:  %s\n", p->base_vid ? p->base_vid : "none");
    fprintf(f, "  stages:\n");
    int n = 0;
    for (int i = 0; i < KX_STAGE_COUNT; i++) {
        if (!(p->mask & BIT(i))) continue;
        const kx_stage_def *d = &rs->defs[i];
        const char *st = p->record ? str_at(stage_rec(p->record, d->record_name), "status") : NULL;
        char *reads = stage_reads(rs->cfg, p->vid, (kx_stage_id)i);
        fprintf(f, "    %d. %-9s (%s), recorded status: %s\n", ++n, d->cli_name, d->record_name,
                st ? st : "not run");
        fprintf(f, "         reads:  %s\n", reads);
        free(reads);
        for (const char *const *w = stage_writes[i]; *w; w++) {
            char *path = stage_folder(rs->cfg, p->vid, *w);
            fprintf(f, "         writes: %s\n", path);
            free(path);
        }
    }
    fprintf(f, "  settings:\n");
    print_settings(f, rs->cfg, "    ");
}

/* ---- execution --------------------------------------------------------------------------- */

typedef struct exec_ctx {
    run_state *rs;
    run_plan *p;
    kx_catalog *cat;
    json_t *rec;     /* the version record being maintained */
    char *vdir;
    bool locked;
} exec_ctx;

static int put_record(exec_ctx *x, kx_err *err)
{
    json_object_set_new(x->rec, "updated_at", kx_json_timestamp_now());
    json_t *ordered = order_record(x->rec, x->rs->defs);
    json_decref(x->rec);
    x->rec = ordered;
    int r = kx_catalog_version_put(x->cat, x->rec, err);
    if (r == KX_CAT_NOT_FOUND) return kx_fail(err, "version %s vanished from the catalog", x->p->vid);
    return r;
}

static json_t *new_record(const run_plan *p, const char *vid)
{
    json_t *r = json_object();
    json_object_set_new(r, "id", json_string(vid));
    json_t *ts = kx_json_timestamp_now();
    json_object_set(r, "created_at", ts);
    json_object_set_new(r, "updated_at", ts);
    json_object_set_new(r, "status", json_string("in_progress"));
    json_object_set_new(r, "engine_version", json_string(KEYETL_VERSION));
    json_object_set_new(r, "metadata", json_object());
    json_object_set_new(r, "stages", json_object());
    (void)p;
    return r;
}

/* Waits until the wall-clock second changes (§3.1 retry). */
static void wait_next_second(void)
{
    time_t t0 = time(NULL);
    while (time(NULL) == t0) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Claims the lock on the target, creating the version when needed: lock the id, mkdir its
 * folder (atomic), insert the record; any collision → next second, new id (10 tries). */
static int claim_version(exec_ctx *x)
{
    run_state *rs = x->rs;
    run_plan *p = x->p;
    kx_err err;
    kx_lock_owner o;
    for (int attempt = 0; attempt < 10; attempt++) {
        if (attempt > 0) {
            wait_next_second();
            kx_make_version_id(p->vid, p->id_suffix);
        }
        int l = kx_catalog_lock_acquire(x->cat, p->vid, &o, &err);
        if (l < 0) return stop(rs, KX_EXIT_INVALID, "%s", err.msg);
        if (l == KX_CAT_BUSY) {
            if (p->create && p->generated_id) continue;
            return stop(rs, KX_EXIT_BUSY, "version %s is busy: locked by process %ld on %s since %s", p->vid, o.pid,
                        o.host, o.since);
        }
        x->locked = true;
        free(x->vdir);
        x->vdir = kx_asprintf("%s/%s", rs->cfg->artifacts_dir, p->vid);
        snprintf(rs->res->version_id, sizeof rs->res->version_id, "%s", p->vid);
        if (!p->create) { /* reload: the record may have changed since planning */
            json_t *r = NULL;
            int g = kx_catalog_version_get(x->cat, p->vid, &r, &err);
            if (g != 0) return stop(rs, KX_EXIT_INVALID, "%s", g < 0 ? err.msg : "the version vanished");
            x->rec = r;
            if (kx_mkdirs(x->vdir, &err) != 0) return stop(rs, KX_EXIT_INVALID, "%s", err.msg);
            return 0;
        }
        if (kx_mkdirs(rs->cfg->artifacts_dir, &err) != 0) return stop(rs, KX_EXIT_INVALID, "%s", err.msg);
        if (mkdir(x->vdir, 0777) != 0) {
            int e = errno;
            kx_catalog_lock_release(x->cat, p->vid, &err);
            x->locked = false;
            if (e == EEXIST && p->generated_id) continue;
            if (e == EEXIST)
                return stop(rs, KX_EXIT_INVALID, "cannot create version %s: folder %s already exists", p->vid, x->vdir);
            return stop(rs, KX_EXIT_INVALID, "cannot create folder %s: %s", x->vdir, strerror(e));
        }
        x->rec = new_record(p, p->vid);
        int c = kx_catalog_version_create(x->cat, x->rec, &err);
        if (c == 0) return 0;
        json_decref(x->rec);
        x->rec = NULL;
        rmdir(x->vdir);
        kx_catalog_lock_release(x->cat, p->vid, &err);
        x->locked = false;
        if (c < 0) return stop(rs, KX_EXIT_INVALID, "%s", err.msg);
        if (!p->generated_id) return stop(rs, KX_EXIT_INVALID, "version %s already exists", p->vid);
    }
    return stop(rs, KX_EXIT_INVALID, "could not create a unique version id after 10 tries");
}

/* "--set AWS_SECRET_ACCESS_KEY=x" must not reach the log. */
static void append_redacted_arg(kx_buf *b, const char *arg)
{
    for (size_t i = 0; i < kx_settings_count; i++) {
        if (!kx_settings[i].secret) continue;
        const char *k = strstr(arg, kx_settings[i].key);
        if (k && k[strlen(kx_settings[i].key)] == '=') {
            kx_buf_put(b, arg, (size_t)(k - arg) + strlen(kx_settings[i].key) + 1);
            kx_buf_puts(b, "***REDACTED***");
            return;
        }
    }
    kx_buf_puts(b, arg);
}

/* Opens <vid>/logs/pipeline_YYYYMMDD_HHMMSS[_N].log exclusively and writes the header. */
static int open_log(exec_ctx *x, kx_err *err)
{
    run_state *rs = x->rs;
    char *dir = kx_path_join(x->vdir, "logs");
    if (kx_mkdirs(dir, err) != 0) {
        free(dir);
        return -1;
    }
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32], human[32];
    strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", &tm);
    strftime(human, sizeof human, "%Y-%m-%d %H:%M:%S", &tm);
    FILE *fp = NULL;
    char *path = NULL;
    for (int n = 1; !fp && n < 1000; n++) {
        free(path);
        path = n == 1 ? kx_asprintf("%s/pipeline_%s.log", dir, stamp) : kx_asprintf("%s/pipeline_%s_%d.log", dir, stamp, n);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno != EEXIST) {
            kx_fail_errno(err, "cannot create log file %s", path);
            break;
        }
        if (fd >= 0) fp = fdopen(fd, "w");
    }
    free(dir);
    if (!fp) {
        free(path);
        return -1;
    }
    struct utsname u;
    char os[600] = "unknown";
    if (uname(&u) == 0) snprintf(os, sizeof os, "%s %s %s", u.sysname, u.release, u.machine);
    kx_buf args = KX_BUF_INIT;
    for (int i = 0; i < rs->o->argc; i++) {
        if (i) kx_buf_putc(&args, ' ');
        append_redacted_arg(&args, rs->o->argv[i]);
    }
    const char *rule = "================================================================================";
    fprintf(fp, "%s\nPIPELINE EXECUTION LOG\n%s\nVersion ID:       %s\nStart time:       %s\n"
                "Engine version:   keyetl %s (build %s)\nOperating system: %s\nCommand line:     keyetl %s\n"
                "Settings:\n",
            rule, rule, x->p->vid, human, KEYETL_VERSION, KEYETL_BUILD_ID, os, args.data ? args.data : "");
    print_settings(fp, rs->cfg, "  ");
    fprintf(fp, "%s\n", rule);
    fflush(fp);
    kx_buf_free(&args);
    kx_log_set_file(rs->log, fp);
    kx_logf(rs->log, KX_LOG_DEBUG, "pipeline", "Log file: %s", path);
    free(path);
    return 0;
}

/* ---- lineage: output files with size and checksum ----------------------------------------- */

typedef struct file_list {
    char **rel;  /* relative to the version folder; a copy tree ends with '/' */
    uint64_t *tree_size, *tree_hash; /* per entry; set only for copy trees */
    size_t n, cap;
} file_list;

/* The bulk per-user copy trees: raw_data/web_app_data (download) and the per-user areas of
 * cleaned_data/<dev>/ (clean). Their content is already covered by the download manifest's
 * sha256 and clean's user_checksums, so lineage records one entry per tree from stat data
 * only instead of reading ~2 × the snapshot again. */
static bool is_copy_tree(const char *rel)
{
    if (!strcmp(rel, "raw_data/web_app_data")) return true;
    if (strncmp(rel, "cleaned_data/", 13)) return false;
    const char *dev_end = strchr(rel + 13, '/');
    if (!dev_end || dev_end == rel + 13) return false;
    const char *leaf = dev_end + 1;
    return !strcmp(leaf, "raw_data") || !strcmp(leaf, "text") || !strcmp(leaf, "broken_data");
}

static void add_entry(file_list *fl, char *rel)
{
    if (fl->n + 1 > fl->cap) {
        size_t cap = fl->cap;
        fl->rel = kx_grow(fl->rel, &cap, fl->n + 1, sizeof *fl->rel);
        fl->tree_size = kx_realloc(fl->tree_size, cap * sizeof *fl->tree_size);
        fl->tree_hash = kx_realloc(fl->tree_hash, cap * sizeof *fl->tree_hash);
        fl->cap = cap;
    }
    fl->tree_size[fl->n] = fl->tree_hash[fl->n] = 0;
    fl->rel[fl->n++] = rel;
}

/* The stage's own summary of copy tree rel, if it handed one over (lineage.h). */
static const kx_tree_lineage *stage_tree(const kx_stage_ctx *ctx, const char *rel)
{
    for (size_t i = 0; i < ctx->ntrees; i++)
        if (!strcmp(ctx->trees[i].tree, rel)) return &ctx->trees[i];
    return NULL;
}

static void collect_files(const kx_stage_ctx *ctx, const char *vdir, const char *rel, file_list *fl)
{
    char *abs = kx_path_join(vdir, rel);
    if (is_copy_tree(rel)) {
        const kx_tree_lineage *t = stage_tree(ctx, rel);
        if (t || kx_is_dir(abs)) {
            add_entry(fl, kx_asprintf("%s/", rel));
            if (t) {
                fl->tree_size[fl->n - 1] = t->size;
                fl->tree_hash[fl->n - 1] = t->hash;
            } else if (kx_tree_summarize(abs, ctx->cfg->parallel_workers, &fl->tree_size[fl->n - 1],
                                         &fl->tree_hash[fl->n - 1]) != 0) {
                kx_treesum none = KX_TREESUM_INIT; /* unreadable: summarized as empty */
                kx_treesum_finish(&none, &fl->tree_size[fl->n - 1], &fl->tree_hash[fl->n - 1]);
            }
        }
        free(abs);
        return;
    }
    kx_dirlist dl;
    if (kx_list_dir(abs, &dl, NULL) == 0) {
        for (size_t i = 0; i < dl.n; i++) {
            char *sub = kx_path_join(rel, dl.items[i].name);
            if (dl.items[i].is_dir) {
                collect_files(ctx, vdir, sub, fl);
                free(sub);
            } else if (dl.items[i].is_file) {
                add_entry(fl, sub);
            } else {
                free(sub);
            }
        }
        kx_dirlist_free(&dl);
    }
    free(abs);
}

typedef struct hash_job {
    const char *vdir;
    file_list *fl;
    kx_output_file *files;
    int *failed;
} hash_job;

static void hash_one(void *arg, size_t i)
{
    hash_job *j = arg;
    char *abs = kx_path_join(j->vdir, j->fl->rel[i]);
    j->files[i].path = j->fl->rel[i];
    size_t len = strlen(j->fl->rel[i]);
    if (len && j->fl->rel[i][len - 1] == '/') { /* a copy tree, summarized while listing */
        j->files[i].size = j->fl->tree_size[i];
        j->files[i].checksum = j->fl->tree_hash[i];
        j->failed[i] = 0;
        free(abs);
        return;
    }
    j->failed[i] = kx_file_xxh3(abs, &j->files[i].checksum, &j->files[i].size, NULL) != 0;
    free(abs);
}

/* Records every file the stage wrote. Lineage is auxiliary: problems are logged, not fatal. */
static void record_outputs(exec_ctx *x, int s, const kx_stage_ctx *ctx)
{
    const kx_config *cfg = x->rs->cfg;
    file_list fl = {0};
    for (const char *const *w = stage_writes[s]; *w; w++) {
        char *rel = stage_folder(cfg, "", *w); /* "<ARTIFACTS_DIR>//<rel>" */
        const char *r = rel + strlen(cfg->artifacts_dir) + 2;
        collect_files(ctx, x->vdir, r, &fl);
        free(rel);
    }
    kx_output_file *files = kx_calloc(fl.n ? fl.n : 1, sizeof *files);
    int *failed = kx_calloc(fl.n ? fl.n : 1, sizeof *failed);
    hash_job j = {x->vdir, &fl, files, failed};
    kx_parallel_for(cfg->parallel_workers, fl.n, hash_one, &j);
    size_t ok = 0;
    for (size_t i = 0; i < fl.n; i++) {
        if (failed[i]) kx_logf(x->rs->log, KX_LOG_WARNING, "catalog", "cannot checksum %s/%s", x->vdir, fl.rel[i]);
        else files[ok++] = files[i];
    }
    kx_err err;
    if (kx_catalog_outputs_put(x->cat, x->p->vid, x->rs->defs[s].record_name, files, ok, &err) != 0)
        kx_logf(x->rs->log, KX_LOG_WARNING, "catalog", "cannot record output files: %s", err.msg);
    else
        kx_logf(x->rs->log, KX_LOG_DEBUG, "catalog", "recorded %zu output files of %s", ok, x->rs->defs[s].record_name);
    for (size_t i = 0; i < fl.n; i++) free(fl.rel[i]);
    free(fl.rel);
    free(fl.tree_size);
    free(fl.tree_hash);
    free(files);
    free(failed);
}

/* After clean: the per-user checksums go into the catalog for later incremental runs. */
static void import_user_checksums(exec_ctx *x)
{
    char *path = kx_path_join(x->vdir, "etl_metadata/cleaning/user_checksums.json");
    if (kx_is_file(path)) {
        json_error_t je;
        json_t *doc = json_load_file(path, 0, &je);
        json_t *users = json_object_get(doc, "users");
        kx_err err;
        if (!json_is_object(users))
            kx_logf(x->rs->log, KX_LOG_WARNING, "catalog", "%s: no users object (%s)", path, doc ? "" : je.text);
        else if (kx_catalog_checksums_put(x->cat, x->p->vid, users, &err) != 0)
            kx_logf(x->rs->log, KX_LOG_WARNING, "catalog", "cannot record user checksums: %s", err.msg);
        json_decref(doc);
    }
    free(path);
}

/* May stage s reuse the base? Its recorded settings and engine version must equal ours. */
static bool base_allowed(exec_ctx *x, int s, json_t *settings)
{
    if (!x->p->base_record || !x->rs->defs[s].reuses_base) return false;
    json_t *b = stage_rec(x->p->base_record, x->rs->defs[s].record_name);
    const char *ev = str_at(b, "engine_version");
    return stage_completed(x->p->base_record, x->rs->defs[s].record_name) && ev && !strcmp(ev, KEYETL_VERSION) &&
           json_equal(json_object_get(b, "settings"), settings);
}

static json_t *stage_record_start(exec_ctx *x, int s, json_t *settings, const char *started)
{
    json_t *r = json_object();
    char *out = stage_folder(x->rs->cfg, x->p->vid, x->rs->defs[s].output_path);
    json_object_set_new(r, "status", json_string("in_progress"));
    json_object_set_new(r, "completed", json_false());
    json_object_set_new(r, "output_path", kx_json_str(out));
    json_object_set_new(r, "started_at", json_string(started));
    json_object_set_new(r, "engine_version", json_string(KEYETL_VERSION));
    json_object_set(r, "settings", settings);
    free(out);
    return r;
}

/* Marks completed stages that depend on s and do not run now as stale. */
static void mark_stale(exec_ctx *x, int s)
{
    unsigned dep = dependents_of(x->rs->defs, s) & ~x->p->mask;
    for (int i = 0; i < KX_STAGE_COUNT; i++) {
        if (!(dep & BIT(i)) || !stage_completed(x->rec, x->rs->defs[i].record_name)) continue;
        json_t *sr = stage_rec(x->rec, x->rs->defs[i].record_name);
        json_object_set_new(sr, "status", json_string("stale"));
        json_object_set_new(sr, "completed", json_false());
        kx_logf(x->rs->log, KX_LOG_INFO, "pipeline", "Marked %s stale (it depends on %s)", x->rs->defs[i].record_name,
                x->rs->defs[s].record_name);
    }
}

typedef struct stage_time {
    bool ran, ok;
    double seconds;
} stage_time;

/* Runs one stage and records it. Returns 0 ok, 1 stage failed, -1 catalog error. */
static int run_one(exec_ctx *x, int s, stage_time *t, kx_err *err)
{
    run_state *rs = x->rs;
    const kx_stage_def *d = &rs->defs[s];
    json_t *settings = kx_stage_settings_json(rs->cfg, (kx_stage_id)s);
    char started[32];
    kx_timestamp_now(started);
    json_t *stages = json_object_get(x->rec, "stages");
    json_object_set_new(stages, d->record_name, stage_record_start(x, s, settings, started));
    mark_stale(x, s);
    if (put_record(x, err) != 0) {
        json_decref(settings);
        return -1;
    }
    char *base_dir = NULL;
    kx_stage_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.cfg = rs->cfg;
    ctx.version_id = x->p->vid;
    ctx.version_dir = x->vdir;
    if (base_allowed(x, s, settings)) {
        base_dir = kx_asprintf("%s/%s", rs->cfg->artifacts_dir, x->p->base_vid);
        ctx.base_version_id = x->p->base_vid;
        ctx.base_version_dir = base_dir;
        kx_logf(rs->log, KX_LOG_INFO, "pipeline", "%s may reuse unchanged users of base version %s", d->record_name,
                x->p->base_vid);
    }
    ctx.local_only = rs->o->local_only;
    ctx.log = rs->log;
    ctx.show_progress = !rs->o->quiet && isatty(STDERR_FILENO);
    kx_logf(rs->log, KX_LOG_INFO, "pipeline", "Running stage: %s", d->record_name);
    double t0 = kx_monotonic_seconds();
    int r = d->run(&ctx);
    t->ran = true;
    t->seconds = kx_monotonic_seconds() - t0;
    t->ok = r == 0;
    free(base_dir);
    stages = json_object_get(x->rec, "stages"); /* put_record rebuilt the record */
    json_t *sr = order_stage_record(json_object_get(stages, d->record_name));
    json_object_set_new(sr, "status", json_string(r == 0 ? "completed" : "failed"));
    json_object_set_new(sr, "completed", json_boolean(r == 0));
    if (r == 0) json_object_set_new(sr, "completed_at", kx_json_timestamp_now());
    json_object_set_new(sr, "duration_seconds", kx_json_seconds(t->seconds));
    json_object_set_new(sr, "settings", settings);
    json_object_set_new(sr, "stats", ctx.stats ? ctx.stats : json_object());
    if (r != 0) {
        const char *msg = ctx.err.msg[0] ? ctx.err.msg : "stage failed without a message";
        json_object_set_new(sr, "error", kx_json_str(msg));
        kx_logf(rs->log, KX_LOG_ERROR, "pipeline", "Failed %s: %s", d->record_name, msg);
        json_object_set_new(x->rec, "status", json_string("failed"));
        json_object_set_new(x->rec, "failed_stage", json_string(d->record_name));
        json_object_set_new(x->rec, "error", kx_json_str(msg));
        snprintf(rs->res->message, sizeof rs->res->message, "stage %s failed: %.900s", d->cli_name, msg);
    } else {
        kx_logf(rs->log, KX_LOG_INFO, "pipeline", "Completed %s in %.3fs", d->record_name, t->seconds);
    }
    json_object_set_new(stages, d->record_name, sr);
    int rc = put_record(x, err) != 0 ? -1 : r == 0 ? 0 : 1;
    if (rc == 0) {
        record_outputs(x, s, &ctx);
        if (s == KX_STAGE_CLEAN) import_user_checksums(x);
    }
    kx_stage_trees_free(&ctx);
    return rc;
}

static void set_run_metadata(exec_ctx *x)
{
    run_plan *p = x->p;
    if (p->mode == KX_MODE_FULL) {
        json_t *m = json_object(), *names = json_array();
        json_object_set_new(m, "mode", json_string("full"));
        for (size_t i = 0; i < p->n_given; i++) json_array_append_new(names, json_string(p->given[i]));
        json_object_set_new(m, "stages", names);
        json_object_set_new(m, "base_version", p->base_vid ? json_string(p->base_vid) : json_null());
        json_object_set_new(x->rec, "metadata", m);
    } else if (p->mode == KX_MODE_FORCE && p->parent_vid) {
        json_object_set_new(x->rec, "metadata",
                            json_pack("{s:s,s:s,s:b}", "mode", "force", "parent_version", p->parent_vid,
                                      "is_force_rerun", 1));
    }
    if (!json_object_get(x->rec, "metadata")) json_object_set_new(x->rec, "metadata", json_object());
}

static void print_summary(run_state *rs, exec_ctx *x, const stage_time *t, double total, const char *status)
{
    FILE *f = rs->out;
    fprintf(f, "Version %s: %s (mode %s) in %.3fs\n", x->p->vid, status, kx_run_mode_name(x->p->mode), total);
    for (int i = 0; i < KX_STAGE_COUNT; i++) {
        if (!t[i].ran) continue;
        fprintf(f, "  %-24s %9.3fs  %s\n", rs->defs[i].record_name, t[i].seconds, t[i].ok ? "completed" : "FAILED");
    }
    if (rs->res->message[0] && rs->res->exit_code == KX_EXIT_STAGE_FAILED) fprintf(f, "  error: %s\n", rs->res->message);
}

static int execute(run_state *rs, run_plan *p)
{
    exec_ctx x = {rs, p, NULL, NULL, NULL, false};
    kx_err err;
    stage_time times[KX_STAGE_COUNT];
    memset(times, 0, sizeof times);
    double t0 = kx_monotonic_seconds();
    int code = KX_EXIT_OK;
    if (kx_catalog_open(rs->cfg, KX_CATALOG_WRITE, &x.cat, &err) != 0) {
        code = stop(rs, KX_EXIT_INVALID, "%s", err.msg);
        goto out;
    }
    if ((code = claim_version(&x)) != 0) goto out;
    if (open_log(&x, &err) != 0)
        kx_logf(rs->log, KX_LOG_WARNING, "pipeline", "running without a log file: %s", err.msg);
    kx_logf(rs->log, KX_LOG_INFO, "pipeline", "Mode: %s; version %s%s", p->reason, p->vid,
            p->create ? " (new)" : "");
    if (p->base_vid) kx_logf(rs->log, KX_LOG_INFO, "pipeline", "Base version for reuse: %s", p->base_vid);
    set_run_metadata(&x);
    json_object_set_new(x.rec, "status", json_string("in_progress"));
    if (put_record(&x, &err) != 0) {
        code = stop(rs, KX_EXIT_INVALID, "%s", err.msg);
        goto out;
    }
    for (int s = 0; s < KX_STAGE_COUNT && code == KX_EXIT_OK; s++) {
        if (!(p->mask & BIT(s))) continue;
        int r = run_one(&x, s, &times[s], &err);
        if (r < 0) {
            code = stop(rs, KX_EXIT_STAGE_FAILED, "cannot record the run: %s", err.msg);
            kx_logf(rs->log, KX_LOG_ERROR, "pipeline", "%s", rs->res->message);
        } else if (r > 0) {
            code = KX_EXIT_STAGE_FAILED;
            rs->res->exit_code = code;
            fprintf(rs->err, "keyetl run: %s\n", rs->res->message);
        }
    }
    if (code == KX_EXIT_OK) {
        json_t *ran = json_array();
        for (int s = 0; s < KX_STAGE_COUNT; s++)
            if (p->mask & BIT(s)) json_array_append_new(ran, json_string(rs->defs[s].record_name));
        json_object_set_new(x.rec, "status", json_string("completed"));
        json_object_set_new(x.rec, "completed_at", kx_json_timestamp_now());
        json_object_del(x.rec, "failed_stage");
        json_object_del(x.rec, "error");
        json_object_set_new(x.rec, "summary", json_pack("{s:o,s:s,s:b}", "stages_run", ran, "mode",
                                                        kx_run_mode_name(p->mode), "artifacts_uploaded", 0));
        if (put_record(&x, &err) != 0 || kx_catalog_current_set(x.cat, p->vid, &err) != 0) {
            code = stop(rs, KX_EXIT_STAGE_FAILED, "cannot record the run: %s", err.msg);
        } else {
            kx_logf(rs->log, KX_LOG_INFO, "pipeline", "Version %s completed in %.3fs", p->vid,
                    kx_monotonic_seconds() - t0);
        }
    }
    print_summary(rs, &x, times, kx_monotonic_seconds() - t0, code == KX_EXIT_OK ? "completed" : "failed");
out:
    if (x.locked && kx_catalog_lock_release(x.cat, p->vid, &err) != 0)
        kx_logf(rs->log, KX_LOG_WARNING, "pipeline", "cannot release the lock: %s", err.msg);
    kx_log_set_file(rs->log, NULL);
    json_decref(x.rec);
    free(x.vdir);
    kx_catalog_close(x.cat);
    rs->res->exit_code = code;
    return code;
}

int kx_run(const kx_config *cfg, const kx_run_opts *opts, kx_log *log, kx_run_result *res)
{
    kx_run_result dummy;
    if (!res) res = &dummy;
    memset(res, 0, sizeof *res);
    run_state rs = {cfg, opts, opts->defs ? opts->defs : kx_stage_defs, log, res, opts->out ? opts->out : stdout,
                    opts->err ? opts->err : stderr};
    run_plan p;
    memset(&p, 0, sizeof p);
    bool nothing = false;
    int code = make_plan(&rs, &p, &nothing);
    if (code == 0 && nothing) {
        fprintf(rs.out, "Mode: %s, version %s\nAll stages already completed. Use --mode force to re-run.\n", p.reason,
                p.vid);
    } else if (code == 0 && opts->dry_run) {
        print_plan(&rs, &p);
    } else if (code == 0) {
        fprintf(rs.out, "Mode: %s, version %s%s\n", p.reason, p.vid, p.create ? " (new)" : "");
        fflush(rs.out);
        code = execute(&rs, &p);
    }
    plan_free(&p);
    res->exit_code = code;
    return code;
}
