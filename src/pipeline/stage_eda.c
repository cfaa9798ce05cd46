/* stage_eda.c — the `eda` stage (spec 05 §7): data-quality analyses of the keypairs table and
 * the cleaned keystroke files, written to eda_reports/data_quality/ as analysis_results.json,
 * summary_stats.json and a self-contained report.html.
 *
 * The numbers are computed by core/eda (pure); this file does the I/O: the keypairs table
 * user by user, file discovery and parsing for the quality scan, consent timestamps (only
 * with INCLUDE_PII), and the atomic writes.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/eda.h"
#include "io/fs.h"
#include "io/json.h"
#include "pipeline/eda_inputs.h"
#include "pipeline/eda_report.h"
#include "pipeline/kptable.h"
#include "pipeline/stage.h"
#include "util/mem.h"

#define COMPONENT "eda"

/* ---- keystroke line parsing: TEMPORARY ADAPTER (replace with core/keystroke.h) ------------------- */

static bool contains(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(s + i, needle, k)) return true;
    return false;
}

/* 01 §2 rule 5 number syntax after trimming spaces/tabs. */
static bool parse_time(const char *s, size_t n, double *out)
{
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    size_t i = 0, d1 = 0, d2 = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    while (i < n && isdigit((unsigned char)s[i])) i++, d1++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && isdigit((unsigned char)s[i])) i++, d2++;
    }
    if (!d1 && !d2) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t de = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        while (i < n && isdigit((unsigned char)s[i])) i++, de++;
        if (!de) return false;
    }
    if (i != n || n >= 64) return false;
    char buf[64];
    memcpy(buf, s, n);
    buf[n] = 0;
    *out = strtod(buf, NULL);
    return isfinite(*out);
}

size_t kx_eda_parse_events(const char *data, size_t len, kx_eda_event **events)
{
    size_t n = 0, cap = 0, pos = 0, lineno = 0;
    kx_eda_event *ev = NULL;
    if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3)) pos = 3;
    while (pos < len) {
        const char *line = data + pos, *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        if (ll && line[ll - 1] == '\r' && (nl || pos == len)) ll--;
        lineno++;
        if (lineno == 1 && (contains(line, ll, "Press") || contains(line, ll, "Time"))) continue;
        if (!ll) continue;
        const char *c1 = memchr(line, ',', ll), *c2 = line + ll;
        while (c2 > line && c2[-1] != ',') c2--;
        if (!c1 || c2 - 1 == c1) continue; /* too_few_fields */
        double t;
        bool press = c1 - line == 1 && line[0] == 'P';
        if (!(press || (c1 - line == 1 && line[0] == 'R'))) continue;
        if (!parse_time(c2, (size_t)(line + ll - c2), &t)) continue;
        if (n == cap) ev = kx_grow(ev, &cap, n + 1, sizeof *ev);
        const char *key = c1 + 1;
        uint32_t kl = (uint32_t)(c2 - 1 - key);
        /* key normalisation limited to ASCII A-Z here; the shared parser does full Unicode */
        static const char lower[] = "abcdefghijklmnopqrstuvwxyz";
        if (kl == 1 && key[0] >= 'A' && key[0] <= 'Z') key = &lower[key[0] - 'A'];
        ev[n++] = (kx_eda_event){kl ? key : NULL, kl, press, t};
    }
    *events = ev;
    return n;
}

/* ---- discovery (02 §1) ------------------------------------------------------------------------------- */

static bool all_digits(const char *s, size_t n)
{
    if (!n) return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return false;
    return true;
}

static bool is_partition(const char *name) { return !strncmp(name, "batch_", 6) && all_digits(name + 6, strlen(name + 6)); }

/* <digits>_<digits>_<digits>_<32 bytes>.csv; *uid_at receives the offset of the user id. */
static bool is_keystroke_file(const char *name, size_t *uid_at)
{
    size_t n = strlen(name);
    if (n < 4 || strcmp(name + n - 4, ".csv")) return false;
    size_t stem = n - 4, start = 0;
    int part = 0;
    for (size_t i = 0; i <= stem; i++) {
        if (i < stem && name[i] != '_') continue;
        size_t plen = i - start;
        if (part < 3 && !all_digits(name + start, plen)) return false;
        if (part == 3) {
            if (i != stem || plen != 32) return false;
            *uid_at = start;
        }
        part++;
        start = i + 1;
        if (part > 3 && i < stem) return false;
    }
    return part == 4;
}

typedef struct user_dir {
    char *name, *path;
    size_t order;
} user_dir;

static int user_dir_cmp(const void *pa, const void *pb)
{
    const user_dir *a = pa, *b = pb;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->order < b->order ? -1 : a->order > b->order);
}

static void add_user_dirs(const char *dir, user_dir **v, size_t *n, size_t *cap, bool top, kx_log *log)
{
    kx_dirlist l;
    kx_err err;
    if (kx_list_dir(dir, &l, &err) < 0) {
        kx_logf(log, KX_LOG_WARNING, COMPONENT, "%s", err.msg);
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        if (!l.items[i].is_dir) continue;
        char *path = kx_path_join(dir, l.items[i].name);
        if (top && is_partition(l.items[i].name)) {
            add_user_dirs(path, v, n, cap, false, log);
            free(path);
            continue;
        }
        if (*n == *cap) *v = kx_grow(*v, cap, *n + 1, sizeof **v);
        (*v)[*n] = (user_dir){kx_strdup(l.items[i].name), path, *n};
        (*n)++;
    }
    kx_dirlist_free(&l);
}

static size_t scan_user_dir(kx_eda *e, const user_dir *u, kx_log *log)
{
    kx_dirlist l;
    kx_err err;
    size_t read = 0;
    if (kx_list_dir(u->path, &l, &err) < 0) {
        kx_logf(log, KX_LOG_WARNING, COMPONENT, "%s", err.msg);
        return 0;
    }
    for (size_t i = 0; i < l.n; i++) {
        size_t uid_at = 0;
        if (!l.items[i].is_file || !is_keystroke_file(l.items[i].name, &uid_at)) continue;
        char *path = kx_path_join(u->path, l.items[i].name);
        kx_buf data = KX_BUF_INIT;
        if (kx_read_file(path, &data, &err) < 0) {
            kx_logf(log, KX_LOG_WARNING, COMPONENT, "skipping unreadable keystroke file: %s", err.msg);
        } else {
            kx_eda_event *ev;
            size_t n = kx_eda_parse_events(data.data ? data.data : "", data.len, &ev);
            char uid[KX_UID_LEN + 1];
            memcpy(uid, l.items[i].name + uid_at, KX_UID_LEN);
            uid[KX_UID_LEN] = 0;
            kx_eda_scan_file(e, uid, l.items[i].name, ev, n);
            free(ev);
            read++;
        }
        kx_buf_free(&data);
        free(path);
    }
    kx_dirlist_free(&l);
    return read;
}

size_t kx_eda_scan_raw_files(kx_eda *e, const char *cleaned_dir, char *const *devices, size_t ndevices, kx_log *log)
{
    user_dir *dirs = NULL;
    size_t n = 0, cap = 0, read = 0;
    for (size_t d = 0; d < ndevices; d++) {
        char *raw = kx_path_join3(cleaned_dir, devices[d], "raw_data");
        if (kx_is_dir(raw)) add_user_dirs(raw, &dirs, &n, &cap, true, log);
        free(raw);
    }
    if (n) qsort(dirs, n, sizeof *dirs, user_dir_cmp);
    for (size_t i = 0; i < n; i++) {
        read += scan_user_dir(e, &dirs[i], log);
        free(dirs[i].name);
        free(dirs[i].path);
    }
    free(dirs);
    return read;
}

/* ---- metadata.csv (RFC 4180) ------------------------------------------------------------------------- */

/* Parses one record starting at *pos into fields (reusing bufs). Returns the field count,
 * 0 at the end of data, -1 on an unterminated quote. */
static long csv_record(const char *s, size_t len, size_t *pos, kx_buf **fields, size_t *cap)
{
    size_t i = *pos, nf = 0;
    if (i >= len) return 0;
    for (;;) {
        if (nf == *cap) {
            size_t old = *cap;
            *fields = kx_grow(*fields, cap, nf + 1, sizeof **fields);
            for (size_t k = old; k < *cap; k++) (*fields)[k] = (kx_buf)KX_BUF_INIT;
        }
        kx_buf *f = &(*fields)[nf++];
        kx_buf_reset(f);
        kx_buf_put(f, "", 0);
        if (i < len && s[i] == '"') {
            for (i++;; i++) {
                if (i >= len) return -1;
                if (s[i] == '"') {
                    if (i + 1 < len && s[i + 1] == '"') kx_buf_putc(f, '"'), i++;
                    else break;
                } else {
                    kx_buf_putc(f, s[i]);
                }
            }
            i++;
        }
        while (i < len && s[i] != ',' && s[i] != '\n' && !(s[i] == '\r' && i + 1 < len && s[i + 1] == '\n'))
            kx_buf_putc(f, s[i++]);
        if (i < len && s[i] == ',') {
            i++;
            continue;
        }
        if (i < len && s[i] == '\r') i++;
        if (i < len && s[i] == '\n') i++;
        *pos = i;
        return (long)nf;
    }
}

int kx_eda_load_consent(kx_eda *e, const char *cleaned_dir, char *const *devices, size_t ndevices, kx_log *log,
                        kx_err *err)
{
    for (size_t d = 0; d < ndevices; d++) {
        char *dir = kx_path_join3(cleaned_dir, devices[d], "metadata");
        char *path = kx_path_join(dir, "metadata.csv");
        free(dir);
        kx_buf data = KX_BUF_INIT;
        kx_buf *f = NULL;
        size_t cap = 0, pos = 0;
        long nf, uid_col = -1, ts_col = -1;
        int rc = 0;
        if (!kx_is_file(path)) {
            kx_logf(log, KX_LOG_DEBUG, COMPONENT, "no %s (no consent timestamps for this device)", path);
            free(path);
            continue;
        }
        if (kx_read_file(path, &data, err) < 0) {
            free(path);
            return -1;
        }
        nf = csv_record(data.data, data.len, &pos, &f, &cap);
        for (long i = 0; i < nf; i++) {
            if (!strcmp(f[i].data, "user_id")) uid_col = i;
            if (!strcmp(f[i].data, "consent_timestamp")) ts_col = i;
        }
        if (uid_col < 0 || ts_col < 0) {
            rc = kx_fail(err, "%s: header lacks user_id or consent_timestamp", path);
        } else {
            while ((nf = csv_record(data.data, data.len, &pos, &f, &cap)) > 0)
                if (nf > uid_col && nf > ts_col && f[uid_col].len) kx_eda_set_consent(e, f[uid_col].data, f[ts_col].data);
            if (nf < 0) rc = kx_fail(err, "%s: unterminated quoted field", path);
        }
        for (size_t i = 0; i < cap; i++) kx_buf_free(&f[i]);
        free(f);
        kx_buf_free(&data);
        free(path);
        if (rc < 0) return -1;
    }
    return 0;
}

/* ---- the stage ---------------------------------------------------------------------------------------- */

static int read_keypairs(kx_stage_ctx *ctx, kx_eda *e, char **table_path)
{
    kx_kptable *t = kx_kptable_open(ctx->version_dir, &ctx->err);
    if (!t) return -1;
    *table_path = kx_strdup(kx_kptable_path(t));
    size_t rows = 0;
    int rc;
    for (;;) {
        kx_user_keypairs u;
        kx_user_keypairs_init(&u);
        rc = kx_kptable_next_user(t, &u, &ctx->err);
        if (rc == 1) {
            rows += u.n;
            kx_eda_add_user(e, &u);
        }
        kx_user_keypairs_free(&u);
        if (rc != 1) break;
    }
    kx_kptable_close(t);
    if (rc < 0) return -1;
    if (!rows) return kx_fail(&ctx->err, "keypairs table %s is empty", *table_path);
    return 0;
}

static void stage_timestamp(char out[24])
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(out, 24, "%Y-%m-%d %H:%M:%S", &tm);
}

static int write_outputs(kx_stage_ctx *ctx, const char *outdir, const json_t *doc, const kx_eda *e,
                         const char *generated)
{
    if (kx_mkdirs(outdir, &ctx->err) < 0) return -1;
    char *p = kx_path_join(outdir, "analysis_results.json");
    int rc = kx_json_write_file(p, doc, &ctx->err);
    free(p);
    if (rc < 0) return -1;
    p = kx_path_join(outdir, "summary_stats.json");
    rc = kx_json_write_file(p, json_object_get(doc, "summary"), &ctx->err);
    free(p);
    if (rc < 0) return -1;
    kx_buf html = KX_BUF_INIT;
    kx_eda_report_opts opt = {generated, ctx->cfg->include_pii, 0};
    kx_eda_report_html(&html, doc, e, &opt);
    p = kx_path_join(outdir, "report.html");
    rc = kx_write_file_atomic(p, html.data, html.len, &ctx->err);
    kx_logf(ctx->log, KX_LOG_INFO, COMPONENT, "report.html: %zu bytes", html.len);
    free(p);
    kx_buf_free(&html);
    return rc;
}

int kx_stage_eda(kx_stage_ctx *ctx)
{
    const kx_config *cfg = ctx->cfg;
    char started[24], generated[24];
    stage_timestamp(started);
    kx_eda *e = kx_eda_new();
    char *table_path = NULL;
    char *cleaned = kx_path_join(ctx->version_dir, "cleaned_data");
    char *outdir = kx_path_join3(ctx->version_dir, "eda_reports", "data_quality");
    char *results_path = kx_path_join(outdir, "analysis_results.json");
    char *meta_path = kx_asprintf("%s/%s/metadata/metadata.csv", cleaned,
                                  cfg->n_device_types ? cfg->device_types[0] : "desktop");
    int rc = read_keypairs(ctx, e, &table_path);
    if (rc == 0) {
        size_t files = kx_eda_scan_raw_files(e, cleaned, cfg->device_types, cfg->n_device_types, ctx->log);
        kx_logf(ctx->log, KX_LOG_INFO, COMPONENT, "quality scan: %zu keystroke files", files);
        if (cfg->include_pii)
            rc = kx_eda_load_consent(e, cleaned, cfg->device_types, cfg->n_device_types, ctx->log, &ctx->err);
    }
    if (rc == 0) {
        kx_eda_meta meta = {ctx->version_id, started, table_path, meta_path, cleaned, results_path};
        json_t *doc = kx_eda_results(e, &meta);
        stage_timestamp(generated);
        rc = write_outputs(ctx, outdir, doc, e, generated);
        if (rc == 0) {
            json_decref(ctx->stats);
            ctx->stats = json_deep_copy(json_object_get(doc, "summary"));
        }
        json_decref(doc);
    }
    kx_eda_free(e);
    free(table_path);
    free(cleaned);
    free(outdir);
    free(results_path);
    free(meta_path);
    return rc;
}
