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
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/eda.h"
#include "core/keystroke.h"
#include "io/fs.h"
#include "io/json.h"
#include "pipeline/eda_inputs.h"
#include "pipeline/eda_report.h"
#include "pipeline/kptable.h"
#include "pipeline/stage.h"
#include "util/mem.h"
#include "util/sort.h"
#include "util/pool.h"

#define COMPONENT "eda"

/* ---- keystroke files ---------------------------------------------------------------------------- */

size_t kx_eda_parse_events(const char *data, size_t len, kx_eda_event **events)
{
    /* Lines and fields with the shared parser of core/keystroke.h (01 §2). Keys that
     * normalisation changes (rule 9) are copied into a side area at the end of the same
     * allocation, so *events stays one block the caller frees. */
    size_t n = 0, cap = 0;
    kx_eda_event *ev = NULL;
    uint32_t *norm_at = NULL; /* per event: 1 + offset into norm, or 0 */
    size_t norm_cap = 0;
    kx_buf norm = KX_BUF_INIT;
    kx_ks_lines it;
    kx_ks_lines_init(&it, data, len);
    const char *line;
    size_t ll;
    long lineno;
    while (kx_ks_lines_next(&it, &line, &ll, &lineno)) {
        kx_ks_event e;
        if (kx_ks_parse_line(line, ll, &e) != KX_KS_OK) continue;
        ev = kx_grow(ev, &cap, n + 1, sizeof *ev);
        norm_at = kx_grow(norm_at, &norm_cap, n + 1, sizeof *norm_at);
        char buf[4];
        size_t kl;
        const char *k = kx_ks_normalize_key(e.key, e.key_len, buf, &kl);
        norm_at[n] = 0;
        if (k == buf) {
            norm_at[n] = (uint32_t)norm.len + 1;
            kx_buf_put(&norm, buf, kl);
        }
        ev[n++] = (kx_eda_event){kl ? k : NULL, (uint32_t)kl, e.press, e.time};
    }
    kx_eda_event *out = kx_malloc(n * sizeof *out + norm.len + 1);
    char *side = (char *)(out + n);
    if (norm.len) memcpy(side, norm.data, norm.len);
    for (size_t i = 0; i < n; i++) {
        out[i] = ev[i];
        if (norm_at[i]) out[i].key = side + norm_at[i] - 1;
    }
    free(ev);
    free(norm_at);
    kx_buf_free(&norm);
    *events = out;
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

bool kx_eda_is_scan_file_name(const char *name)
{
    size_t uid_at;
    return is_keystroke_file(name, &uid_at);
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

/* One user folder's keystroke files, read and parsed by a worker (per-index slot); the
 * scan itself (kx_eda_scan_file, order dependent) runs afterwards in folder order. */
typedef struct parsed_file {
    char *name;
    char uid[KX_UID_LEN + 1];
    kx_eda_event *ev; /* keys point into data */
    size_t n;
    kx_buf data;
} parsed_file;

typedef struct parsed_dir {
    parsed_file *files;
    size_t n;
    char **warnings;
    size_t nwarn;
} parsed_dir;

static void add_warning(parsed_dir *pd, char *msg)
{
    pd->warnings = kx_realloc(pd->warnings, (pd->nwarn + 1) * sizeof *pd->warnings);
    pd->warnings[pd->nwarn++] = msg;
}

static void parse_user_dir(const user_dir *u, parsed_dir *pd)
{
    kx_dirlist l;
    kx_err err;
    memset(pd, 0, sizeof *pd);
    if (kx_list_dir(u->path, &l, &err) < 0) {
        add_warning(pd, kx_strdup(err.msg));
        return;
    }
    pd->files = kx_calloc(l.n ? l.n : 1, sizeof *pd->files);
    for (size_t i = 0; i < l.n; i++) {
        size_t uid_at = 0;
        if (!l.items[i].is_file || !is_keystroke_file(l.items[i].name, &uid_at)) continue;
        char *path = kx_path_join(u->path, l.items[i].name);
        kx_buf data = KX_BUF_INIT;
        if (kx_read_file(path, &data, &err) < 0) {
            kx_buf_free(&data);
            add_warning(pd, kx_asprintf("skipping unreadable keystroke file: %s", err.msg));
        } else {
            parsed_file *f = &pd->files[pd->n++];
            f->name = kx_strdup(l.items[i].name);
            memcpy(f->uid, l.items[i].name + uid_at, KX_UID_LEN);
            f->uid[KX_UID_LEN] = 0;
            f->n = kx_eda_parse_events(data.data ? data.data : "", data.len, &f->ev);
            f->data = data; /* the events' keys point into it */
            kx_eda_sort_events(f->ev, f->n);
        }
        free(path);
    }
    kx_dirlist_free(&l);
}

typedef struct parse_job {
    const user_dir *dirs;
    parsed_dir *out;
} parse_job;

static void parse_worker(void *arg, size_t i)
{
    parse_job *j = arg;
    parse_user_dir(&j->dirs[i], &j->out[i]);
}

/* Feeds one parsed folder to the accumulator and frees it; returns the files read. */
static size_t scan_parsed(kx_eda *e, parsed_dir *pd, kx_log *log)
{
    for (size_t w = 0; w < pd->nwarn; w++) {
        kx_logf(log, KX_LOG_WARNING, COMPONENT, "%s", pd->warnings[w]);
        free(pd->warnings[w]);
    }
    free(pd->warnings);
    for (size_t i = 0; i < pd->n; i++) {
        kx_eda_scan_file(e, pd->files[i].uid, pd->files[i].name, pd->files[i].ev, pd->files[i].n);
        free(pd->files[i].ev);
        kx_buf_free(&pd->files[i].data);
        free(pd->files[i].name);
    }
    free(pd->files);
    return pd->n;
}

#define SCAN_CHUNK 64 /* user folders parsed in parallel per round: bounds the parsed data held */

size_t kx_eda_scan_raw_files(kx_eda *e, const char *cleaned_dir, char *const *devices, size_t ndevices, int workers,
                             kx_log *log)
{
    user_dir *dirs = NULL;
    size_t n = 0, cap = 0, read = 0;
    for (size_t d = 0; d < ndevices; d++) {
        char *raw = kx_path_join3(cleaned_dir, devices[d], "raw_data");
        if (kx_is_dir(raw)) add_user_dirs(raw, &dirs, &n, &cap, true, log);
        free(raw);
    }
    kx_qsort(dirs, n, sizeof *dirs, user_dir_cmp);
    parsed_dir slots[SCAN_CHUNK];
    for (size_t at = 0; at < n; at += SCAN_CHUNK) {
        size_t m = n - at < SCAN_CHUNK ? n - at : SCAN_CHUNK;
        parse_job j = {dirs + at, slots};
        kx_parallel_for(workers, m, parse_worker, &j);
        for (size_t i = 0; i < m; i++) read += scan_parsed(e, &slots[i], log);
    }
    for (size_t i = 0; i < n; i++) {
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

/* The table read is pipelined: a reader thread decodes users (kx_kptable_next_user) into a
 * small queue while this thread feeds the previous ones to kx_eda_add_user, so the decode
 * and the accumulation (each about half of the read) overlap instead of taking turns on one
 * core. Users reach kx_eda_add_user in table order either way. */
#define EDA_USER_QUEUE 16

typedef struct user_queue {
    kx_kptable *t;
    kx_user_keypairs slot[EDA_USER_QUEUE];
    size_t head, count;
    bool done;  /* the reader has stopped (end of table or error) */
    bool quit;  /* the consumer gives up: the reader stops at its next user */
    int rc;     /* reader's last kx_kptable_next_user result (0 end, -1 error) */
    kx_err err;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} user_queue;

static void *user_reader_main(void *arg)
{
    user_queue *q = arg;
    for (;;) {
        kx_user_keypairs u;
        kx_user_keypairs_init(&u);
        kx_err err = {{0}};
        int rc = kx_kptable_next_user(q->t, &u, &err);
        pthread_mutex_lock(&q->mu);
        while (rc == 1 && q->count == EDA_USER_QUEUE && !q->quit) pthread_cond_wait(&q->cv, &q->mu);
        if (rc != 1 || q->quit) {
            kx_user_keypairs_free(&u);
            q->rc = rc == 1 ? 0 : rc;
            if (rc < 0) q->err = err;
            q->done = true;
            pthread_cond_broadcast(&q->cv);
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        q->slot[(q->head + q->count) % EDA_USER_QUEUE] = u;
        q->count++;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
}

/* Next user from the queue into *u (1), end of table (0) or the reader's error (-1). */
static int user_queue_pop(user_queue *q, kx_user_keypairs *u, kx_err *err)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->done) pthread_cond_wait(&q->cv, &q->mu);
    int rc = 1;
    if (q->count) {
        *u = q->slot[q->head];
        q->head = (q->head + 1) % EDA_USER_QUEUE;
        q->count--;
        pthread_cond_broadcast(&q->cv);
    } else {
        rc = q->rc;
        if (rc < 0) *err = q->err;
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

static int read_keypairs(kx_stage_ctx *ctx, kx_eda *e, char **table_path)
{
    /* kx_eda_add_user uses the keys, valid, outlier, HL/IL/PL/RL and the session and video
     * ids (extreme rows): the other 8 columns are not decoded. */
    uint32_t cols = KX_KP_COL_KEY1 | KX_KP_COL_KEY2 | KX_KP_COL_VALID | KX_KP_COL_OUTLIER | KX_KP_COL_HL |
                    KX_KP_COL_IL | KX_KP_COL_PL | KX_KP_COL_RL | KX_KP_COL_SESSION | KX_KP_COL_VIDEO;
    kx_kptable *t = kx_kptable_open_workers(ctx->version_dir, cols, ctx->cfg->parallel_workers, &ctx->err);
    if (!t) return -1;
    *table_path = kx_strdup(kx_kptable_path(t));
    size_t rows = 0;
    int rc;
    user_queue q = {.t = t};
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.cv, NULL);
    pthread_t reader;
    bool threaded = ctx->cfg->parallel_workers > 1 && pthread_create(&reader, NULL, user_reader_main, &q) == 0;
    for (;;) {
        kx_user_keypairs u;
        kx_user_keypairs_init(&u);
        rc = threaded ? user_queue_pop(&q, &u, &ctx->err) : kx_kptable_next_user(t, &u, &ctx->err);
        if (rc == 1) {
            rows += u.n;
            kx_eda_add_user(e, &u);
        }
        kx_user_keypairs_free(&u);
        if (rc != 1) break;
    }
    if (threaded) {
        pthread_mutex_lock(&q.mu);
        q.quit = true;
        pthread_cond_broadcast(&q.cv);
        pthread_mutex_unlock(&q.mu);
        pthread_join(reader, NULL);
        for (; q.count; q.count--, q.head = (q.head + 1) % EDA_USER_QUEUE) kx_user_keypairs_free(&q.slot[q.head]);
    }
    pthread_mutex_destroy(&q.mu);
    pthread_cond_destroy(&q.cv);
    kx_kptable_close(t);
    if (rc < 0) return -1;
    if (!rows) return kx_fail(&ctx->err, "keypairs table %s is empty", *table_path);
    return 0;
}

/* The two independent inputs of the stage, read concurrently. They fill disjoint parts of
 * the accumulator (kx_eda_add_user: users, timings, patterns, extremes; kx_eda_scan_file:
 * the quality-scan counters), so no locking is needed; results do not depend on timing. */
typedef struct eda_inputs {
    kx_stage_ctx *ctx;
    kx_eda *e;
    const char *cleaned;
    char **table_path;
    int table_rc;
    size_t files;
    const kx_eda_sidecar *sidecar; /* NULL: scan the files */
} eda_inputs;

static void read_inputs(void *arg, size_t i)
{
    eda_inputs *in = arg;
    const kx_config *cfg = in->ctx->cfg;
    if (i == 0) {
        in->table_rc = read_keypairs(in->ctx, in->e, in->table_path);
        return;
    }
    /* The scan keeps all workers for its parsing rounds (one more thread than cores while
     * the table is read; once the table is done, the scan has every core). */
    if (in->sidecar) {
        in->files = kx_eda_sidecar_replay(in->e, in->sidecar);
        return;
    }
    in->files = kx_eda_scan_raw_files(in->e, in->cleaned, cfg->device_types, cfg->n_device_types,
                                      cfg->parallel_workers, in->ctx->log);
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
    /* The per-file quality checks recorded by keypairs replace the scan when they describe
     * exactly these files (eda_inputs.h); otherwise the files are scanned. Same results. */
    kx_eda_sidecar sc;
    kx_err why;
    bool use_sidecar = kx_eda_sidecar_open(ctx->version_dir, cfg->device_types, cfg->n_device_types, &sc, &why) == 0;
    if (use_sidecar)
        kx_logf(ctx->log, KX_LOG_INFO, COMPONENT, "quality scan from the keypairs sidecar (%zu folders)", sc.n);
    else
        kx_logf(ctx->log, KX_LOG_INFO, COMPONENT, "scanning the keystroke files: %s", why.msg);
    eda_inputs in = {ctx, e, cleaned, &table_path, 0, 0, use_sidecar ? &sc : NULL};
    /* The table read (one core: decoding and kx_eda_add_user) and the quality scan (file
     * reads and parsing) are independent: they run at the same time. */
    kx_parallel_for(cfg->parallel_workers > 1 ? 2 : 1, 2, read_inputs, &in);
    int rc = in.table_rc;
    if (rc == 0) {
        kx_logf(ctx->log, KX_LOG_INFO, COMPONENT, "quality scan: %zu keystroke files", in.files);
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
    if (use_sidecar) kx_eda_sidecar_free(&sc);
    kx_eda_free(e);
    free(table_path);
    free(cleaned);
    free(outdir);
    free(results_path);
    free(meta_path);
    return rc;
}
