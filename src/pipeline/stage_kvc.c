/* stage_kvc.c — the `kvc` stage (spec 05 §8): key-coded keystroke sequences for ML.
 *
 * Two passes over the keypairs table, one user in memory at a time:
 *   pass 1  key set (all rows, valid or not), total_keypairs, unique_users;
 *   pass 2  per user: keypairs_mapped rows, then the user's valid rows grouped by input_id,
 *           emitted at once into the six .npy writers (3 held-out platforms x train/test)
 *           and into the sequences table.
 * The .npy files are streamed (see io/npy.h), so memory is bounded by one user's rows.
 * Everything is built in a staging folder and renamed to kvc_features/ at the end.
 */
#include "pipeline/stage_kvc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/kvc.h"
#include "io/fs.h"
#include "io/json.h"
#include "io/npy.h"
#include "io/table_read.h"
#include "parquet/parquet.h"
#include "pipeline/config.h"
#include "pipeline/kptable.h"
#include "pipeline/stage.h"
#include "util/mem.h"

#define NSPLITS 3
#define MAPPED_NCOLS (KX_KP_NCOLS + 2)

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- pass 1 ------------------------------------------------------------------------------ */

typedef struct pass1 {
    int64_t total_keypairs;
    int64_t unique_users;
} pass1;

/* The table is sorted by user_id (02 §5), so distinct users = changes of user_id; an
 * out-of-order table is rejected rather than silently split into two dict entries. */
static int check_user_order(const char *prev, const char *uid, bool *is_new, kx_err *err)
{
    int c = strcmp(uid, prev);
    if (prev[0] && c < 0)
        return kx_fail(err, "keypairs table is not sorted by user_id (%s after %s)", uid, prev);
    *is_new = !prev[0] || c != 0;
    return 0;
}

static int run_pass1(const kx_kvc_source *src, kx_kvc_keys *keys, pass1 *p, kx_err *err)
{
    if (src->scan_keys) {
        if (src->scan_keys(src->ctx, keys, &p->total_keypairs, &p->unique_users, err) != 0) return -1;
        kx_kvc_keys_finalize(keys);
        return 0;
    }
    char prev[KX_UID_LEN + 1] = "";
    if (src->open(src->ctx, KX_KVC_PASS_KEYS, err) != 0) return -1;
    int rc;
    for (;;) {
        kx_user_keypairs u;
        kx_user_keypairs_init(&u);
        rc = src->next_user(src->ctx, &u, err);
        if (rc <= 0) {
            kx_user_keypairs_free(&u);
            break;
        }
        bool is_new = false;
        if (u.n > 0 && check_user_order(prev, u.user_id, &is_new, err) != 0) rc = -1;
        if (rc > 0 && u.n > 0) {
            p->total_keypairs += (int64_t)u.n;
            if (is_new) p->unique_users++;
            snprintf(prev, sizeof prev, "%s", u.user_id);
            kx_kvc_keys_add_user(keys, &u);
        }
        kx_user_keypairs_free(&u);
        if (rc < 0) break;
    }
    src->close(src->ctx);
    if (rc < 0) return -1;
    kx_kvc_keys_finalize(keys);
    return 0;
}

/* ---- pass 2 outputs ----------------------------------------------------------------------- */

static const kx_colspec seq_columns[] = {
    {"user_id", KX_COL_STRING}, {"input_id", KX_COL_STRING}, {"position", KX_COL_INT64},
    {"press", KX_COL_INT64},    {"release", KX_COL_INT64},   {"key_code", KX_COL_INT64},
};
#define SEQ_NCOLS (sizeof seq_columns / sizeof seq_columns[0])

/* sequences.* written on a second thread: flush_user hands each user's rows (own copies of
 * the strings) to a queue of at most SEQ_QUEUE_MAX users; the thread calls kx_tw_write for
 * them in queue order — the same calls with the same data as writing inline, so the files
 * are byte-identical. The first write error stops the writing and is reported by the next
 * enqueue or by seq_writer_finish. */
#define SEQ_QUEUE_MAX 4

typedef struct seq_job {
    struct seq_job *next;
    size_t n;
    kx_strref *uid, *iid;
    int64_t *num;  /* position, press, release, key_code: n each */
    char *strings; /* the user id and input ids the strrefs point to */
} seq_job;

typedef struct seq_writer {
    kx_tw *tw;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    seq_job *head, *tail;
    size_t queued;
    bool closing; /* no more jobs */
    bool drop;    /* abort: discard queued jobs */
    int rc;
    kx_err err;
} seq_writer;

static void seq_job_free(seq_job *j)
{
    free(j->uid);
    free(j->iid);
    free(j->num);
    free(j->strings);
    free(j);
}

static void *seq_writer_main(void *arg)
{
    seq_writer *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->closing) pthread_cond_wait(&q->cv, &q->mu);
        seq_job *j = q->head;
        if (!j) break;
        q->head = j->next;
        if (!q->head) q->tail = NULL;
        bool write = q->rc == 0 && !q->drop;
        pthread_mutex_unlock(&q->mu);
        kx_err e;
        int rc = 0;
        if (write) {
            kx_column cols[6] = {
                {j->uid, NULL, false},        {j->iid, NULL, false},        {j->num, NULL, false},
                {j->num + j->n, NULL, false}, {j->num + 2 * j->n, NULL, false}, {j->num + 3 * j->n, NULL, false},
            };
            rc = kx_tw_write(q->tw, j->n, cols, &e);
        }
        seq_job_free(j);
        pthread_mutex_lock(&q->mu);
        if (rc != 0 && q->rc == 0) {
            q->rc = -1;
            q->err = e;
        }
        q->queued--;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* Starts the thread when threads are allowed (PARALLEL_WORKERS > 1); without it (or if it
 * cannot start) seq_writer_put writes inline. */
static void seq_writer_start(seq_writer *q, kx_tw *tw, bool threaded)
{
    memset(q, 0, sizeof *q);
    q->tw = tw;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    q->started = threaded && pthread_create(&q->thread, NULL, seq_writer_main, q) == 0;
}

static int seq_writer_put(seq_writer *q, seq_job *j, kx_err *err)
{
    pthread_mutex_lock(&q->mu);
    while (q->started && q->queued >= SEQ_QUEUE_MAX && q->rc == 0) pthread_cond_wait(&q->cv, &q->mu);
    if (q->rc != 0) {
        *err = q->err;
        pthread_mutex_unlock(&q->mu);
        seq_job_free(j);
        return -1;
    }
    if (!q->started) { /* inline */
        pthread_mutex_unlock(&q->mu);
        kx_column cols[6] = {
            {j->uid, NULL, false},        {j->iid, NULL, false},        {j->num, NULL, false},
            {j->num + j->n, NULL, false}, {j->num + 2 * j->n, NULL, false}, {j->num + 3 * j->n, NULL, false},
        };
        int rc = kx_tw_write(q->tw, j->n, cols, err);
        seq_job_free(j);
        if (rc != 0) {
            q->rc = -1;
            q->err = *err;
        }
        return rc;
    }
    j->next = NULL;
    if (q->tail) q->tail->next = j;
    else q->head = j;
    q->tail = j;
    q->queued++;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

/* Waits for the queued jobs (discarded if drop) and stops the thread; returns the first
 * write error (copied to err). Idempotent. */
static int seq_writer_finish(seq_writer *q, bool drop, kx_err *err)
{
    if (!q->tw) return 0;
    pthread_mutex_lock(&q->mu);
    q->closing = true;
    q->drop = q->drop || drop;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    if (q->started) pthread_join(q->thread, NULL);
    q->started = false;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    q->tw = NULL;
    if (q->rc != 0 && err) *err = q->err;
    return q->rc;
}

typedef struct pass2 {
    kx_colspec mapped_cols[MAPPED_NCOLS];
    kx_tw *mapped;         /* formatted keypairs_mapped (the fallback), or NULL */
    kx_pqr *kp_pq;         /* keypairs.parquet, whose chunks keypairs_mapped.parquet copies */
    kx_pqc *mapped_pq;     /* keypairs_mapped.parquet as a copy of kp_pq + 2 columns, or NULL */
    kx_tw *mapped_csv;     /* CSV side fed with copied keypairs.csv lines, or NULL */
    int kp_csv;            /* the keypairs.csv being copied, -1 if none */
    const char *kp_csv_path;
    kx_buf in;             /* its bytes read so far: [in_at, in.len) not consumed yet */
    size_t in_at;
    bool in_eof;
    long lineno;
    kx_buf csv_out;        /* keypairs_mapped.csv bytes of the current user */
    kx_tw *seqtab;
    seq_writer seqq;       /* writes seqtab on a second thread */
    kx_npy_writer npy[NSPLITS][2]; /* [p-1][0 = train, 1 = test] */
    bool npy_open[NSPLITS][2];
    kx_kvc_split_stats split[NSPLITS];
    kx_kvc_seqs seqs;              /* the current user's working set */
} pass2;

static void pass2_abort(pass2 *w)
{
    seq_writer_finish(&w->seqq, true, NULL);
    kx_pqc_abort(w->mapped_pq);
    w->mapped_pq = NULL;
    kx_pqr_close(w->kp_pq);
    w->kp_pq = NULL;
    if (w->mapped) kx_tw_abort(w->mapped);
    if (w->mapped_csv) kx_tw_abort(w->mapped_csv);
    if (w->seqtab) kx_tw_abort(w->seqtab);
    w->mapped = w->mapped_csv = w->seqtab = NULL;
    if (w->kp_csv >= 0) close(w->kp_csv);
    w->kp_csv = -1;
    kx_buf_free(&w->in);
    kx_buf_free(&w->csv_out);
    for (int p = 0; p < NSPLITS; p++)
        for (int t = 0; t < 2; t++)
            if (w->npy_open[p][t]) {
                kx_npy_free(&w->npy[p][t]);
                w->npy_open[p][t] = false;
            }
    kx_kvc_seqs_free(&w->seqs);
}

#define CSV_BLOCK (4u << 20)

/* The next line of keypairs.csv (without its LF) in *line / *len: 1, 0 at the end of the
 * file, -1 on a read error or a last line without LF (*len = (size_t)-1). Reads blocks of
 * CSV_BLOCK bytes; a line stays valid until the next call. */
static int next_kp_line(pass2 *w, const char **line, size_t *len, kx_err *err)
{
    if (!w->in.data) kx_buf_reserve(&w->in, CSV_BLOCK);
    for (;;) {
        const char *p = w->in.data + w->in_at;
        size_t avail = w->in.len - w->in_at;
        const char *nl = avail ? memchr(p, '\n', avail) : NULL;
        if (nl) {
            *line = p;
            *len = (size_t)(nl - p);
            w->in_at += *len + 1;
            w->lineno++;
            return 1;
        }
        if (w->in_eof) {
            *len = avail ? (size_t)-1 : 0;
            return avail ? -1 : 0;
        }
        /* keep the partial line, read the next block after it */
        if (avail) memmove(w->in.data, p, avail);
        w->in.len = avail;
        w->in_at = 0;
        kx_buf_reserve(&w->in, CSV_BLOCK);
        ssize_t k;
        do k = read(w->kp_csv, w->in.data + w->in.len, CSV_BLOCK);
        while (k < 0 && errno == EINTR);
        if (k < 0) return kx_fail_errno(err, "cannot read %s", w->kp_csv_path);
        if (k == 0) w->in_eof = true;
        w->in.len += (size_t)k;
        w->in.data[w->in.len] = '\0';
    }
}

/* Opens keypairs.csv for copying if it exists and its header is exactly the keypairs
 * header (so its records are this table's rows in this order). Not there: formatting. */
static int open_kp_copy(pass2 *w, const char *path, kx_err *err)
{
    if (!kx_is_file(path)) return 0;
    w->kp_csv = open(path, O_RDONLY | O_CLOEXEC);
    if (w->kp_csv < 0) return kx_fail_errno(err, "cannot open %s", path);
    w->kp_csv_path = path;
    kx_buf want = KX_BUF_INIT;
    kx_csv_put_header(&want, kx_kp_columns, KX_KP_NCOLS);
    const char *line = NULL;
    size_t n = 0;
    int rc = next_kp_line(w, &line, &n, err);
    bool same = rc == 1 && n + 1 == want.len && !memcmp(line, want.data, n);
    kx_buf_free(&want);
    if (!same) { /* not the table we know (or unreadable): format the rows instead */
        close(w->kp_csv);
        w->kp_csv = -1;
        kx_buf_free(&w->in);
        w->in_at = 0;
        w->in_eof = false;
    }
    return 0;
}

/* Decimal text of a key code (−1 … N−1), straight into p; returns the length. */
static size_t put_code(char *p, int64_t v)
{
    if (v >= 0 && v < 10) {
        p[0] = (char)('0' + v);
        return 1;
    }
    char tmp[24];
    size_t n = kx_i64_to_chars(v, tmp);
    memcpy(p, tmp, n);
    return n;
}

/* Appends the user's rows to keypairs_mapped.csv: the next u->n lines of keypairs.csv, each
 * with ",<key1 code>,<key2 code>". Every record of keypairs.csv is one physical line (keys
 * come from LF-split lines; no field holds a LF), and each must start with the user id. */
static int copy_mapped_csv(pass2 *w, const char *user_id, size_t nrows, const int64_t *k1, const int64_t *k2,
                           kx_err *err)
{
    kx_buf *out = &w->csv_out;
    kx_buf_reset(out);
    size_t idlen = strlen(user_id);
    int rc = 0;
    for (size_t i = 0; i < nrows && rc == 0; i++) {
        const char *line = NULL;
        size_t n = 0;
        int got = next_kp_line(w, &line, &n, err);
        if (got < 0 && n != (size_t)-1) return -1; /* read error */
        if (got <= 0 || n < idlen || memcmp(line, user_id, idlen) || line[idlen] != ',') {
            rc = kx_fail(err, "%s line %ld does not match the keypairs table (user %s): the two formats "
                              "of the table differ", w->kp_csv_path, w->lineno + (got <= 0), user_id);
            break;
        }
        kx_buf_reserve(out, n + 48);
        char *p = out->data + out->len;
        memcpy(p, line, n);
        p += n;
        *p++ = ',';
        p += put_code(p, k1[i]);
        *p++ = ',';
        p += put_code(p, k2[i]);
        *p++ = '\n';
        out->len = (size_t)(p - out->data);
        out->data[out->len] = '\0';
        if (out->len > (1u << 20)) {
            rc = kx_tw_write_csv_bytes(w->mapped_csv, out->data, out->len, err);
            kx_buf_reset(out);
        }
    }
    if (rc == 0) rc = kx_tw_write_csv_bytes(w->mapped_csv, out->data, out->len, err);
    return rc;
}

/* True if the file's columns are the keypairs columns exactly as the table writer writes
 * them (names, order, physical types, all OPTIONAL, strings annotated UTF8, nothing else
 * annotated), so that its chunks are what keypairs_mapped would hold. */
static bool is_keypairs_schema(const kx_pq_meta *m)
{
    if (m->ncolumns != KX_KP_NCOLS) return false;
    for (size_t j = 0; j < KX_KP_NCOLS; j++) {
        const kx_pq_column *c = &m->columns[j];
        kx_coltype t = kx_kp_columns[j].type;
        int want = t == KX_COL_BOOL ? KX_PQ_BOOLEAN : t == KX_COL_INT64 ? KX_PQ_INT64
                 : t == KX_COL_DOUBLE ? KX_PQ_DOUBLE : KX_PQ_BYTE_ARRAY;
        bool str = t == KX_COL_STRING;
        if (strcmp(c->name, kx_kp_columns[j].name) != 0 || c->type != want || c->repetition != 1 ||
            c->converted_type != (str ? 0 : -1) || c->logical_type != (str ? 1 : -1))
            return false;
    }
    return true;
}

static int pq_codec(int kx_codec)
{
    switch (kx_codec) {
    case KX_CODEC_SNAPPY: return KX_PQ_CODEC_SNAPPY;
    case KX_CODEC_NONE: return KX_PQ_CODEC_NONE;
    default: return KX_PQ_CODEC_ZSTD;
    }
}

/* keypairs_mapped.parquet from keypairs.parquet's column chunks (spec 05 §8 step 3: the 20
 * columns, same rows, same order) plus the two code columns, when that file exists and has
 * the expected schema; otherwise (0 returned, nothing opened) the rows are formatted. */
static int open_mapped_copy(pass2 *w, const kx_table_opts *mo, const char *kp_parquet, const char *out_dir,
                            kx_err *err)
{
    if (!kp_parquet || !kx_is_file(kp_parquet)) return 0;
    w->kp_pq = kx_pqr_open(kp_parquet, err);
    if (!w->kp_pq) return -1;
    if (!is_keypairs_schema(kx_pqr_meta(w->kp_pq))) {
        kx_pqr_close(w->kp_pq);
        w->kp_pq = NULL;
        return 0;
    }
    static const kx_pq_colspec codes[2] = {
        {"key1_mapped", KX_PQ_INT64, true, false, true},
        {"key2_mapped", KX_PQ_INT64, true, false, true},
    };
    kx_pq_kv kv[2] = {{"fpd.table", mo->table_name}, {"fpd.schema_version", "1"}};
    kx_pqw_opts po = {.codec = pq_codec(mo->compression), .kv = mo->table_name ? kv : kv + 1,
                      .nkv = mo->table_name ? 2 : 1};
    char *path = kx_path_join(out_dir, "keypairs_mapped.parquet");
    w->mapped_pq = kx_pqc_open(path, w->kp_pq, codes, 2, &po, err);
    free(path);
    return w->mapped_pq ? 0 : -1;
}

static int pass2_open(pass2 *w, const kx_kvc_opts *o, kx_err *err)
{
    memset(w, 0, sizeof *w);
    w->kp_csv = -1;
    kx_kvc_seqs_init(&w->seqs);
    memcpy(w->mapped_cols, kx_kp_columns, sizeof kx_kp_columns);
    w->mapped_cols[KX_KP_NCOLS] = (kx_colspec){"key1_mapped", KX_COL_INT64};
    w->mapped_cols[KX_KP_NCOLS + 1] = (kx_colspec){"key2_mapped", KX_COL_INT64};
    kx_table_opts mo = o->mapped;
    if (mo.parquet && open_mapped_copy(w, &mo, o->keypairs_parquet, o->out_dir, err) != 0) return -1;
    if (w->mapped_pq) mo.parquet = false;
    if (mo.csv && o->keypairs_csv && open_kp_copy(w, o->keypairs_csv, err) != 0) return -1;
    if (w->kp_csv >= 0) { /* CSV from copied lines; the table writer only writes Parquet */
        kx_table_opts co = mo;
        co.parquet = false;
        mo.csv = false;
        w->mapped_csv = kx_tw_open(o->out_dir, "keypairs_mapped", w->mapped_cols, MAPPED_NCOLS, &co, err);
        if (!w->mapped_csv) return -1;
    }
    if (mo.parquet || mo.csv) {
        w->mapped = kx_tw_open(o->out_dir, "keypairs_mapped", w->mapped_cols, MAPPED_NCOLS, &mo, err);
        if (!w->mapped) return -1;
    }
    w->seqtab = kx_tw_open(o->out_dir, "sequences", seq_columns, SEQ_NCOLS, &o->sequences, err);
    if (!w->seqtab) return -1;
    seq_writer_start(&w->seqq, w->seqtab, o->sequences.workers > 1);
    for (int p = 0; p < NSPLITS; p++) {
        char sub[32];
        snprintf(sub, sizeof sub, "test_platform_%d", p + 1);
        char *dir = kx_path_join(o->out_dir, sub);
        int rc = kx_mkdirs(dir, err);
        for (int t = 0; t < 2 && rc == 0; t++) {
            char *path = kx_path_join(dir, t ? "test.npy" : "train.npy");
            rc = kx_npy_open(&w->npy[p][t], path, err);
            free(path);
            if (rc == 0) w->npy_open[p][t] = true;
        }
        free(dir);
        if (rc != 0) return -1;
    }
    return 0;
}

/* The formatted path: all 22 columns through the table writer. */
static int write_mapped_formatted(pass2 *w, const kx_user_keypairs *u, const int64_t *k1, const int64_t *k2,
                                  kx_err *err)
{
    kx_kp_batch b;
    kx_kp_batch_fill(&b, u);
    kx_column cols[MAPPED_NCOLS];
    memcpy(cols, b.cols, sizeof b.cols);
    cols[KX_KP_NCOLS] = (kx_column){k1, NULL, false};
    cols[KX_KP_NCOLS + 1] = (kx_column){k2, NULL, false};
    int rc = kx_tw_write(w->mapped, u->n, cols, err);
    kx_kp_batch_free(&b);
    return rc;
}

static int write_mapped(pass2 *w, const kx_user_keypairs *u, const int64_t *codes, kx_err *err)
{
    int64_t *k1 = kx_malloc((u->n ? u->n : 1) * sizeof *k1);
    int64_t *k2 = kx_malloc((u->n ? u->n : 1) * sizeof *k2);
    kx_kvc_map_rows(u, codes, k1, k2);
    int rc = w->mapped ? write_mapped_formatted(w, u, k1, k2, err) : 0;
    if (rc == 0 && w->mapped_pq) {
        kx_pq_values v[2] = {{k1, NULL}, {k2, NULL}};
        rc = kx_pqc_write(w->mapped_pq, u->n, v, err);
    }
    if (rc == 0 && w->mapped_csv) rc = copy_mapped_csv(w, u->user_id, u->n, k1, k2, err);
    free(k1);
    free(k2);
    return rc;
}

static int write_seq_rows(pass2 *w, const kx_kvc_seqs *s, kx_err *err)
{
    size_t n = s->rows, uid_len = strlen(s->user_id), ids_len = 0;
    for (size_t i = 0; i < s->n; i++) ids_len += s->inputs[i].id_len;
    seq_job *j = kx_calloc(1, sizeof *j);
    j->n = n;
    j->uid = kx_malloc((n ? n : 1) * sizeof *j->uid);
    j->iid = kx_malloc((n ? n : 1) * sizeof *j->iid);
    j->num = kx_malloc((n ? 4 * n : 1) * sizeof *j->num);
    j->strings = kx_malloc(uid_len + ids_len + 1);
    memcpy(j->strings, s->user_id, uid_len);
    char *ids = j->strings + uid_len;
    int64_t *num = j->num;
    size_t r = 0;
    for (size_t i = 0; i < s->n; i++) {
        const kx_kvc_input *in = &s->inputs[i];
        memcpy(ids, in->id, in->id_len);
        for (size_t k = 0; k < in->n; k++, r++) {
            j->uid[r] = (kx_strref){j->strings, (uint32_t)uid_len};
            j->iid[r] = (kx_strref){ids, (uint32_t)in->id_len};
            num[r] = (int64_t)k;
            num[n + r] = in->rows[3 * k];
            num[2 * n + r] = in->rows[3 * k + 1];
            num[3 * n + r] = in->rows[3 * k + 2];
        }
        ids += in->id_len;
    }
    return seq_writer_put(&w->seqq, j, err);
}

/* Emits the finished user in w->seqs (if it has a working set) into every output. */
static int flush_user(pass2 *w, kx_err *err)
{
    const kx_kvc_seqs *s = &w->seqs;
    if (s->n == 0) return 0; /* no valid rows: not in the working set */
    size_t uid_len = strlen(s->user_id);
    for (int p = 0; p < NSPLITS; p++) {
        kx_kvc_split_count(&w->split[p], s, p + 1);
        for (int t = 0; t < 2; t++)
            if (kx_npy_begin_user(&w->npy[p][t], s->user_id, uid_len, err) != 0) return -1;
        for (size_t i = 0; i < s->n; i++) {
            const kx_kvc_input *in = &s->inputs[i];
            int t = kx_kvc_is_test(in, p + 1) ? 1 : 0;
            if (kx_npy_add_array(&w->npy[p][t], in->id, in->id_len, in->rows, in->n, err) != 0)
                return -1;
        }
        for (int t = 0; t < 2; t++)
            if (kx_npy_end_user(&w->npy[p][t], err) != 0) return -1;
    }
    return write_seq_rows(w, s, err);
}

static int pass2_user(pass2 *w, kx_kvc_keys *keys, const kx_user_keypairs *u, kx_err *err)
{
    if (strcmp(u->user_id, w->seqs.user_id) != 0) { /* a new user (order checked in pass 1) */
        if (flush_user(w, err) != 0) return -1;
        kx_kvc_seqs_reset(&w->seqs, u->user_id);
    }
    int64_t *codes = kx_malloc((u->keys.n ? u->keys.n : 1) * sizeof *codes);
    int rc = kx_kvc_user_codes(keys, u, codes, err);
    if (rc == 0) rc = write_mapped(w, u, codes, err);
    if (rc == 0) rc = kx_kvc_seqs_add(&w->seqs, u, codes, err);
    free(codes);
    return rc;
}

static int pass2_commit(pass2 *w, kx_err *err)
{
    int rc = flush_user(w, err);
    if (seq_writer_finish(&w->seqq, rc != 0, rc == 0 ? err : NULL) != 0) rc = -1;
    for (int p = 0; p < NSPLITS; p++)
        for (int t = 0; t < 2; t++) {
            if (rc == 0) rc = kx_npy_finish(&w->npy[p][t], err);
            kx_npy_free(&w->npy[p][t]);
            w->npy_open[p][t] = false;
        }
    if (rc == 0 && w->kp_csv >= 0) {
        const char *line;
        size_t n;
        int more = next_kp_line(w, &line, &n, err);
        if (more < 0 && n != (size_t)-1) rc = -1;
        else if (more != 0) rc = kx_fail(err, "%s has more rows than the keypairs table", w->kp_csv_path);
    }
    if (rc == 0) {
        kx_tw *m = w->mapped, *mc = w->mapped_csv, *s = w->seqtab;
        kx_pqc *mp = w->mapped_pq;
        w->mapped = w->mapped_csv = w->seqtab = NULL;
        w->mapped_pq = NULL;
        rc = mp ? kx_pqc_commit(mp, err) : 0;
        if (rc == 0) rc = m ? kx_tw_commit(m, err) : 0;
        else if (m) kx_tw_abort(m);
        if (rc == 0) rc = mc ? kx_tw_commit(mc, err) : 0;
        else if (mc) kx_tw_abort(mc);
        if (rc == 0) rc = kx_tw_commit(s, err);
        else kx_tw_abort(s);
    }
    pass2_abort(w); /* frees what is left */
    return rc;
}

/* ---- pass 2 over column runs ----------------------------------------------------------------- */

/* Columns pass 2 reads when keypairs_mapped is copied (KX_KVC_PASS_SEQS). */
#define SEQ_COLS                                                                                   \
    (KX_KP_COL_PLATFORM | KX_KP_COL_VIDEO | KX_KP_COL_SESSION | KX_KP_COL_KEY1 | KX_KP_COL_KEY2 | \
     KX_KP_COL_VALID | KX_KP_COL_K1_PRESS | KX_KP_COL_K1_RELEASE)

/* Scan key id -> code, looked up once per key of the scan (-2: not looked up yet). */
typedef struct scan_codes {
    int64_t *code;
    size_t n, cap;
} scan_codes;

static int64_t code_of_id(scan_codes *sc, kx_kvc_keys *keys, const kx_keytab *tab, int32_t id)
{
    if (id < 0) return -1;
    if ((size_t)id >= sc->n) {
        sc->code = kx_grow(sc->code, &sc->cap, tab->n, sizeof *sc->code);
        for (size_t i = sc->n; i < tab->n; i++) sc->code[i] = -2;
        sc->n = tab->n;
    }
    if (sc->code[id] == -2) sc->code[id] = kx_kvc_code_of(keys, tab->keys[id].bytes, tab->keys[id].len);
    return sc->code[id];
}

/* Codes of a run's key ids into out; fails if a present key is not in the mapping. */
static int map_run_keys(scan_codes *sc, kx_kvc_keys *keys, const kx_keytab *tab, const int32_t *ids, size_t n,
                        int64_t *out, const char *uid, kx_err *err)
{
    for (size_t i = 0; i < n; i++) {
        int64_t c = code_of_id(sc, keys, tab, ids[i]);
        if (c < 0 && ids[i] >= 0)
            return kx_fail(err, "user %s: key not in the key mapping (keypairs table changed "
                                "during the kvc stage?)", uid);
        out[i] = c;
    }
    return 0;
}

/* One run: the mapped code columns (copied keypairs_mapped), then its valid rows. */
static int pass2_run(pass2 *w, kx_kvc_keys *keys, scan_codes *sc, const kx_keytab *tab, const kx_kp_run *r,
                     size_t group_row, int64_t *k1, int64_t *k2, kx_err *err)
{
    if (strcmp(r->user_id, w->seqs.user_id) != 0) { /* a new user (order checked in pass 1) */
        if (flush_user(w, err) != 0) return -1;
        kx_kvc_seqs_reset(&w->seqs, r->user_id);
    }
    if (map_run_keys(sc, keys, tab, r->col[KX_KPI_KEY1], r->n, k1, r->user_id, err) != 0 ||
        map_run_keys(sc, keys, tab, r->col[KX_KPI_KEY2], r->n, k2, r->user_id, err) != 0)
        return -1;
    if (w->mapped_pq) {
        kx_pq_values v[2] = {{k1, NULL}, {k2, NULL}};
        if (kx_pqc_write(w->mapped_pq, r->n, v, err) != 0) return -1;
    }
    if (w->mapped_csv && copy_mapped_csv(w, r->user_id, r->n, k1, k2, err) != 0) return -1;
    kx_kvc_rows rows = {r->n,           r->col[KX_KPI_PLATFORM], r->col[KX_KPI_VIDEO],
                        r->col[KX_KPI_SESSION], r->col[KX_KPI_VALID], r->col[KX_KPI_K1_PRESS],
                        r->col[KX_KPI_K1_RELEASE], k1, group_row};
    return kx_kvc_seqs_add_rows(&w->seqs, &rows, err);
}

static int scan_pass2(const kx_kvc_source *src, pass2 *w, kx_kvc_keys *keys, kx_err *err)
{
    kx_kpscan *scan = src->open_scan(src->ctx, SEQ_COLS, err);
    if (!scan) return -1;
    scan_codes sc = {NULL, 0, 0};
    int64_t *k1 = NULL, *k2 = NULL;
    size_t cap = 0, cap2 = 0, group_row = 0;
    kx_kp_run r;
    int rc;
    while ((rc = kx_kpscan_next(scan, &r, err)) > 0) {
        k1 = kx_grow(k1, &cap, r.n, sizeof *k1);
        k2 = kx_grow(k2, &cap2, r.n, sizeof *k2);
        if (r.new_group) group_row = 0;
        if (pass2_run(w, keys, &sc, kx_kpscan_keys(scan), &r, group_row, k1, k2, err) != 0) {
            rc = -1;
            break;
        }
        group_row += r.n;
    }
    free(k1);
    free(k2);
    free(sc.code);
    kx_kpscan_close(scan);
    return rc;
}

static int run_pass2(const kx_kvc_source *src, const kx_kvc_opts *o, kx_kvc_keys *keys,
                     kx_kvc_split_stats split[NSPLITS], kx_err *err)
{
    pass2 *w = kx_calloc(1, sizeof *w);
    int rc = pass2_open(w, o, err);
    bool by_runs = rc == 0 && !w->mapped && src->open_scan;
    if (by_runs) rc = scan_pass2(src, w, keys, err);
    /* Without a formatted keypairs_mapped, pass 2 needs only the sequence fields. */
    else if (rc == 0) rc = src->open(src->ctx, w->mapped ? KX_KVC_PASS_ALL : KX_KVC_PASS_SEQS, err);
    if (rc != 0) {
        pass2_abort(w);
        free(w);
        return -1;
    }
    for (; !by_runs;) {
        kx_user_keypairs u;
        kx_user_keypairs_init(&u);
        rc = src->next_user(src->ctx, &u, err);
        if (rc > 0 && u.n > 0 && pass2_user(w, keys, &u, err) != 0) rc = -1;
        kx_user_keypairs_free(&u);
        if (rc <= 0) break;
    }
    if (!by_runs) src->close(src->ctx);
    if (rc == 0) {
        rc = pass2_commit(w, err); /* emits the last user, so copy the counts after it */
        memcpy(split, w->split, sizeof w->split);
    } else {
        pass2_abort(w);
    }
    free(w);
    return rc;
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static int write_key_mapping(const char *dir, const kx_kvc_keys *keys, kx_err *err)
{
    json_t *m = json_object();
    for (size_t c = 0; c < kx_kvc_keys_count(keys); c++)
        /* Keys are valid UTF-8 without NUL (sanitized when interned). */
        json_object_set_new_nocheck(m, kx_kvc_key_at(keys, c)->bytes, json_integer((json_int_t)c));
    char *path = kx_path_join(dir, "key_mapping.json");
    int rc = kx_json_write_file(path, m, err);
    free(path);
    json_decref(m);
    return rc;
}

static json_t *split_json(const kx_kvc_split_stats *s)
{
    json_t *j = json_object();
    json_object_set_new(j, "train_users", json_integer(s->train_users));
    json_object_set_new(j, "test_users", json_integer(s->test_users));
    json_object_set_new(j, "train_samples", json_integer(s->train_samples));
    json_object_set_new(j, "test_samples", json_integer(s->test_samples));
    return j;
}

static json_t *stats_json(const pass1 *p, size_t nkeys, const kx_kvc_split_stats split[NSPLITS],
                          double seconds)
{
    json_t *st = json_object();
    json_object_set_new(st, "total_keypairs", json_integer(p->total_keypairs));
    json_object_set_new(st, "unique_keys", json_integer((json_int_t)nkeys));
    json_object_set_new(st, "unique_users", json_integer(p->unique_users));
    json_t *splits = json_object();
    for (int i = 0; i < NSPLITS; i++) {
        char name[32];
        snprintf(name, sizeof name, "platform_%d", i + 1);
        json_object_set_new(splits, name, split_json(&split[i]));
    }
    json_object_set_new(st, "train_test_splits", splits);
    json_object_set_new(st, "processing_time", kx_json_seconds(seconds));
    json_object_set_new(st, "errors", json_array());
    return st;
}

static int write_metadata(const kx_kvc_opts *o, json_t *stats, size_t nkeys, double seconds,
                          kx_err *err)
{
    json_t *md = json_object();
    json_object_set_new(md, "stage", json_string("extract_kvc_features"));
    json_object_set_new(md, "version_id", kx_json_str(o->version_id ? o->version_id : ""));
    json_object_set_new(md, "timestamp", kx_json_timestamp_now());
    json_object_set_new(md, "duration_seconds", kx_json_seconds(seconds));
    json_object_set(md, "stats", stats);
    json_t *cfg = json_object();
    json_t *plats = json_array();
    for (int i = 1; i <= NSPLITS; i++) json_array_append_new(plats, json_integer(i));
    json_object_set_new(cfg, "test_platforms", plats);
    json_object_set_new(cfg, "filter_errors", json_true());
    json_object_set_new(cfg, "key_mapping_size", json_integer((json_int_t)nkeys));
    json_object_set_new(md, "config", cfg);
    char *path = kx_path_join(o->out_dir, "metadata.json");
    int rc = kx_json_write_file(path, md, err);
    free(path);
    json_decref(md);
    return rc;
}

int kx_kvc_build(const kx_kvc_source *src, const kx_kvc_opts *o, json_t **stats_out, kx_err *err)
{
    double t0 = now_seconds();
    *stats_out = NULL;
    if (kx_mkdirs(o->out_dir, err) != 0) return -1;
    kx_kvc_keys keys;
    kx_kvc_keys_init(&keys);
    pass1 p1 = {0, 0};
    kx_kvc_split_stats split[NSPLITS];
    memset(split, 0, sizeof split);
    int rc = run_pass1(src, &keys, &p1, err);
    if (rc == 0) rc = write_key_mapping(o->out_dir, &keys, err);
    if (rc == 0) rc = run_pass2(src, o, &keys, split, err);
    size_t nkeys = kx_kvc_keys_count(&keys);
    kx_kvc_keys_free(&keys);
    if (rc != 0) return -1;
    /* duration_seconds and processing_time are the same measurement (end of the stage). */
    double seconds = now_seconds() - t0;
    json_t *stats = stats_json(&p1, nkeys, split, seconds);
    if (write_metadata(o, stats, nkeys, seconds, err) != 0) {
        json_decref(stats);
        return -1;
    }
    *stats_out = stats;
    return 0;
}

/* ---- the stage: a source over the keypairs table ------------------------------------------- */

typedef struct kptable_source {
    const char *version_dir;
    int workers; /* column decoding threads (PARALLEL_WORKERS) */
    kx_kptable *t;
} kptable_source;

/* Pass 1 needs the key set and counts only: decode 3 of the 20 columns (+ device_type,
 * which delimits users). */
static int kpsrc_open(void *ctx, int pass, kx_err *err)
{
    kptable_source *s = ctx;
    uint32_t cols = pass == KX_KVC_PASS_KEYS ? KX_KP_COL_KEY1 | KX_KP_COL_KEY2
                  : pass == KX_KVC_PASS_SEQS ? KX_KP_COL_PLATFORM | KX_KP_COL_VIDEO | KX_KP_COL_SESSION |
                                                   KX_KP_COL_KEY1 | KX_KP_COL_KEY2 | KX_KP_COL_VALID |
                                                   KX_KP_COL_K1_PRESS | KX_KP_COL_K1_RELEASE
                  : KX_KP_COLS_ALL;
    s->t = kx_kptable_open_workers(s->version_dir, cols, s->workers, err);
    return s->t ? 0 : -1;
}

static kx_kpscan *kpsrc_open_scan(void *ctx, uint32_t mask, kx_err *err)
{
    kptable_source *s = ctx;
    return kx_kpscan_open(s->version_dir, mask, s->workers, err);
}

static int kpsrc_next(void *ctx, kx_user_keypairs *out, kx_err *err)
{
    kptable_source *s = ctx;
    return kx_kptable_next_user(s->t, out, err);
}

static void kpsrc_close(void *ctx)
{
    kptable_source *s = ctx;
    if (s->t) kx_kptable_close(s->t);
    s->t = NULL;
}

/* ---- pass 1 straight from the key columns ----------------------------------------------- */

#define SCAN_CACHE 256 /* = 1 << (64 - 56), see scan_key */

/* Scan state: the previous row's user id (copied: batch memory is replaced). */
typedef struct scan_state {
    char prev[KX_UID_LEN + 1];
    size_t prev_len;
    const char *prev_ptr; /* where it was in the current batch (NULL: none) */
    int64_t rows, users;
    /* key strings already added in this batch, by address (dictionary-decoded columns
     * repeat one pointer per distinct value; a miss just adds again) */
    struct {
        const char *ptr;
        uint32_t len;
    } seen[SCAN_CACHE];
} scan_state;

static void scan_key(scan_state *s, kx_kvc_keys *keys, kx_strref k)
{
    uintptr_t a = (uintptr_t)k.ptr;
    /* dictionary entries sit a few bytes apart: multiplicative hash of the whole address */
    size_t slot = (size_t)((uint64_t)a * 0x9E3779B97F4A7C15ull >> 56);
    if (s->seen[slot].ptr == k.ptr && s->seen[slot].len == k.len && k.ptr) return;
    kx_kvc_keys_add(keys, k.ptr, k.len);
    s->seen[slot].ptr = k.ptr;
    s->seen[slot].len = k.len;
}

/* A row's user id: counts a new user, rejects a decreasing one (same rules as pass 1 over
 * users: bytewise order, a shorter prefix first). */
static int scan_user(scan_state *s, const char *path, kx_strref u, kx_err *err)
{
    if (u.ptr == s->prev_ptr && u.len == s->prev_len) return 0;
    if (!u.ptr || u.len == 0 || u.len > KX_UID_LEN || memchr(u.ptr, '\0', u.len)) /* null, empty, too long */
        return kx_fail(err, "%s: invalid user_id in row %lld", path, (long long)s->rows);
    bool first = s->users == 0;
    size_t m = u.len < s->prev_len ? u.len : s->prev_len;
    int c = memcmp(u.ptr, s->prev, m);
    if (c == 0) c = (u.len > s->prev_len) - (u.len < s->prev_len);
    if (!first && c < 0)
        return kx_fail(err, "keypairs table is not sorted by user_id (%.*s after %s)", (int)u.len, u.ptr, s->prev);
    if (first || c != 0) s->users++;
    memcpy(s->prev, u.ptr, u.len);
    s->prev[u.len] = '\0';
    s->prev_len = u.len;
    s->prev_ptr = u.ptr;
    return 0;
}

static int kpsrc_scan_keys(void *ctx, kx_kvc_keys *keys, int64_t *rows, int64_t *users, kx_err *err)
{
    kptable_source *ks = ctx;
    static const kx_colspec want[3] = {{"user_id", KX_COL_STRING}, {"key1", KX_COL_STRING}, {"key2", KX_COL_STRING}};
    char *dir = kx_path_join(ks->version_dir, "keypairs");
    kx_table_reader *tr = kx_tr_open_workers(dir, "keypairs", want, 3, ks->workers, err);
    free(dir);
    if (!tr) return -1;
    scan_state *s = kx_calloc(1, sizeof *s);
    long n;
    kx_column c[3];
    while ((n = kx_tr_next(tr, c, err)) > 0) {
        const kx_strref *uid = c[0].values, *k1 = c[1].values, *k2 = c[2].values;
        s->prev_ptr = NULL;
        memset(s->seen, 0, sizeof s->seen);
        for (long i = 0; i < n; i++, s->rows++) {
            if (c[0].valid && !c[0].valid[i]) {
                n = kx_fail(err, "%s: invalid user_id in row %lld", kx_tr_path(tr), (long long)s->rows);
                break;
            }
            if (scan_user(s, kx_tr_path(tr), uid[i], err) != 0) {
                n = -1;
                break;
            }
            if (!c[1].valid || c[1].valid[i]) scan_key(s, keys, k1[i]);
            if (!c[2].valid || c[2].valid[i]) scan_key(s, keys, k2[i]);
        }
        if (n < 0) break;
    }
    *rows = s->rows;
    *users = s->users;
    free(s);
    kx_tr_close(tr);
    return n < 0 ? -1 : 0;
}

int kx_stage_kvc(kx_stage_ctx *ctx)
{
    const kx_config *cfg = ctx->cfg;
    char *final_dir = kx_path_join(ctx->version_dir, "kvc_features");
    char *staging = kx_asprintf("%s.staging-%ld", final_dir, (long)getpid());
    kptable_source ks = {ctx->version_dir, ctx->cfg->parallel_workers, NULL};
    kx_kvc_source src = {&ks, kpsrc_open, kpsrc_next, kpsrc_close, kpsrc_scan_keys, kpsrc_open_scan};
    kx_table_opts mapped = {cfg->out_parquet, cfg->out_csv, cfg->parquet_compression,
                            cfg->parquet_row_group_rows, "keypairs_mapped", cfg->parallel_workers};
    /* sequences.parquet is always written (it is the non-Python way to read the
     * sequences); sequences.csv follows OUTPUT_FORMATS (docs/kvc.md). */
    kx_table_opts seqs = {true, cfg->out_csv, cfg->parquet_compression,
                          cfg->parquet_row_group_rows, "kvc_sequences", cfg->parallel_workers};
    char *kp_csv = kx_path_join(ctx->version_dir, "keypairs/keypairs.csv");
    char *kp_parquet = kx_path_join(ctx->version_dir, "keypairs/keypairs.parquet");
    kx_kvc_opts o = {staging, ctx->version_id, mapped, seqs, kp_csv, kp_parquet};
    json_t *stats = NULL;
    int rc = kx_rmtree(staging, &ctx->err);
    if (rc == 0) rc = kx_kvc_build(&src, &o, &stats, &ctx->err);
    if (rc == 0) rc = kx_rmtree(final_dir, &ctx->err);
    if (rc == 0 && rename(staging, final_dir) != 0)
        rc = kx_fail_errno(&ctx->err, "cannot rename %s to %s", staging, final_dir);
    if (rc != 0) {
        kx_err ignored;
        kx_rmtree(staging, &ignored);
        json_decref(stats);
    } else {
        json_decref(ctx->stats);
        ctx->stats = stats;
        kx_logf(ctx->log, KX_LOG_INFO, "kvc", "kvc_features: %lld keys, %lld users, %lld keypairs",
                (long long)json_integer_value(json_object_get(stats, "unique_keys")),
                (long long)json_integer_value(json_object_get(stats, "unique_users")),
                (long long)json_integer_value(json_object_get(stats, "total_keypairs")));
    }
    free(staging);
    free(final_dir);
    free(kp_csv);
    free(kp_parquet);
    return rc;
}
