/* stage_keypairs.c — the keypairs stage (spec 02).
 *
 *   discover user folders (all devices, plain and batch_<digits> layouts), sort bytewise
 *   → for each batch of BATCH_SIZE folders: parse + match + pair every folder in parallel
 *     (kx_parallel_for, one result slot per folder)
 *   → consume the slots in order: table rows (kx_tw), invalid_sequences.csv,
 *     malformed_rows.csv, counters
 *   → extraction_stats.json (+ processing_log.json), then swap the staging folders in.
 *
 * Output order depends only on the sorted folder and file lists, never on threads or batch
 * boundaries, so every BATCH_SIZE / PARALLEL_WORKERS gives byte-identical files.
 * Incremental reuse (02 §7, 05 §6.4): with a base version, folders of unchanged users are
 * not parsed; their rows come from the base's keypairs table (read in order alongside the
 * base's user_stats.csv sidecar), their malformed_rows.csv entries are copied byte for byte
 * and their counters are recomputed from the rows. See docs/incremental.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/keystroke.h"
#include "io/fs.h"
#include "io/json.h"
#include "io/text.h"
#include "pipeline/eda_inputs.h"
#include "pipeline/kptable.h"
#include "pipeline/reuse.h"
#include "pipeline/stage.h"
#include "util/mem.h"
#include "util/sort.h"
#include "util/progress.h"
#include "util/pool.h"

#define COMPONENT "keypairs"
#define DIST_FILE_READ_ERROR KX_KPE_COUNT /* error_distribution slot of "file_read_error" */

/* ---- discovery (02 §1) ------------------------------------------------------------------------ */

typedef struct kp_folder {
    char *name;      /* user folder name: the sort key */
    char *path;
    size_t device;   /* index into cfg->device_types */
    char *partition; /* "" or batch_<digits> (tie-breaker only) */
} kp_folder;

typedef struct kp_folders {
    kp_folder *v;
    size_t n, cap;
} kp_folders;

static bool is_all_digits(const char *s, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

static bool is_partition(const char *name)
{
    return strncmp(name, "batch_", 6) == 0 && is_all_digits(name + 6, strlen(name + 6));
}

static void add_folder(kp_folders *f, const char *parent, const char *name, size_t device,
                       const char *partition)
{
    f->v = kx_grow(f->v, &f->cap, f->n + 1, sizeof *f->v);
    kp_folder *k = &f->v[f->n++];
    k->name = kx_strdup(name);
    k->path = kx_path_join(parent, name);
    k->device = device;
    k->partition = kx_strdup(partition);
}

static void free_folders(kp_folders *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].name);
        free(f->v[i].path);
        free(f->v[i].partition);
    }
    free(f->v);
}

static int cmp_folder(const void *a, const void *b)
{
    const kp_folder *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    if (x->device != y->device) return x->device < y->device ? -1 : 1;
    return strcmp(x->partition, y->partition);
}

static int discover(const kx_config *cfg, const char *input, kp_folders *out, kx_err *err)
{
    for (size_t d = 0; d < cfg->n_device_types; d++) {
        char *root = kx_path_join3(input, cfg->device_types[d], "raw_data");
        if (!kx_is_dir(root)) { /* a missing device folder is skipped silently */
            free(root);
            continue;
        }
        kx_dirlist l;
        if (kx_list_dir(root, &l, err) != 0) {
            free(root);
            return -1;
        }
        for (size_t i = 0; i < l.n; i++) {
            if (!l.items[i].is_dir) continue; /* files directly in raw_data/ are ignored */
            if (!is_partition(l.items[i].name)) {
                add_folder(out, root, l.items[i].name, d, "");
                continue;
            }
            char *part = kx_path_join(root, l.items[i].name);
            kx_dirlist sub;
            if (kx_list_dir(part, &sub, err) != 0) {
                free(part);
                kx_dirlist_free(&l);
                free(root);
                return -1;
            }
            for (size_t j = 0; j < sub.n; j++)
                if (sub.items[j].is_dir) add_folder(out, part, sub.items[j].name, d, l.items[i].name);
            kx_dirlist_free(&sub);
            free(part);
        }
        kx_dirlist_free(&l);
        free(root);
    }
    kx_qsort(out->v, out->n, sizeof *out->v, cmp_folder);
    return 0;
}

/* Parses a decimal id of a keystroke file name; false if it does not fit an int32. */
static bool parse_id(const char *s, size_t n, int32_t *out)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
        if (v > INT32_MAX) return false;
    }
    *out = (int32_t)v;
    return true;
}

/* The keystroke-file name rule of 02 §1: <digits>_<digits>_<digits>_<32 bytes>.csv. */
static bool keystroke_file_name(const char *name, kx_ks_file_ids *ids, char uid[KX_UID_LEN + 1])
{
    size_t n = strlen(name);
    if (n < 4 || memcmp(name + n - 4, ".csv", 4) != 0) return false;
    n -= 4;
    const char *part[4];
    size_t plen[4], k = 0;
    const char *s = name, *end = name + n;
    for (;;) {
        const char *u = memchr(s, '_', (size_t)(end - s));
        if (k == 4) return false;
        part[k] = s;
        plen[k++] = (size_t)((u ? u : end) - s);
        if (!u) break;
        s = u + 1;
    }
    if (k != 4 || plen[3] != KX_UID_LEN) return false;
    for (int i = 0; i < 3; i++)
        if (!is_all_digits(part[i], plen[i])) return false;
    /* An id beyond 2^31−1 cannot be represented; such a name is treated as not matching
     * (documented in docs/keypairs.md). */
    if (!parse_id(part[0], plen[0], &ids->platform_id) || !parse_id(part[1], plen[1], &ids->video_id) ||
        !parse_id(part[2], plen[2], &ids->session_id))
        return false;
    memcpy(uid, part[3], KX_UID_LEN);
    uid[KX_UID_LEN] = '\0';
    return true;
}

/* ---- per-folder processing (runs on worker threads) ------------------------------------------- */

typedef struct kp_malformed {
    long lineno;
    kx_ks_reason reason;
    size_t off, len; /* raw line bytes in kp_result.malbytes */
} kp_malformed;

/* Counters of 02 §6 over some rows, in row order: what count_rows adds per row, summed. */
typedef struct kp_counts {
    int64_t rows, valid, invalid, outliers;
    int64_t dist[KX_KPE_COUNT]; /* invalid rows per error code */
    int order[KX_KPE_COUNT];    /* error codes in first-seen order */
    int ndist;
} kp_counts;

static void count_range(const kx_user_keypairs *u, size_t begin, size_t end, kp_counts *c)
{
    memset(c, 0, sizeof *c);
    c->rows = (int64_t)(end - begin);
    for (size_t k = begin; k < end; k++) {
        const kx_keypair *row = &u->rows[k];
        c->outliers += row->outlier != 0;
        if (row->valid) {
            c->valid++;
            continue;
        }
        c->invalid++;
        if (c->dist[row->error]++ == 0) c->order[c->ndist++] = row->error;
    }
}

/* A user run ready for writing: its table columns and its invalid_sequences.csv rows. */
typedef struct kp_prepared {
    kx_kp_batch b;
    kx_buf inv; /* CSV rows (no header) */
} kp_prepared;

/* Rows → columns, and the invalid rows formatted (same columns and formatting as the table).
 * Pure: runs on the workers. The batch points into u's key table and ids, not its rows. */
static void prepare_run(const kx_user_keypairs *u, kp_prepared *p)
{
    kx_kp_batch_fill(&p->b, u);
    p->inv = (kx_buf)KX_BUF_INIT;
    size_t ninv = 0;
    for (size_t i = 0; i < u->n; i++) ninv += !u->rows[i].valid;
    if (ninv == 0) return;
    kx_user_keypairs sub = *u; /* shallow: shares the key table, owns nothing */
    sub.rows = kx_malloc(ninv * sizeof *sub.rows);
    sub.n = sub.cap = 0;
    for (size_t i = 0; i < u->n; i++)
        if (!u->rows[i].valid) sub.rows[sub.n++] = u->rows[i];
    kx_kp_batch b;
    kx_kp_batch_fill(&b, &sub);
    kx_csv_put_rows(&p->inv, kx_kp_columns, KX_KP_NCOLS, b.n, b.cols);
    kx_kp_batch_free(&b);
    free(sub.rows);
}

static void free_prepared(kp_prepared *p)
{
    kx_kp_batch_free(&p->b);
    kx_buf_free(&p->inv);
}

typedef struct kp_file {
    char *name;
    char uid[KX_UID_LEN + 1];
    size_t run;                 /* index into kp_result.runs; meaningful when nrows > 0 */
    size_t row_begin, row_end;  /* rows of this file inside that run */
    size_t mal_begin, mal_end;  /* its malformed lines in kp_result.mal */
    char *read_error;           /* message, or NULL */
    kp_counts counts;           /* of its rows */
} kp_file;

typedef struct kp_result {
    kp_file *files;
    size_t nfiles, files_cap;
    kx_user_keypairs *runs; /* consecutive files with the same user id (normally one run) */
    size_t nruns, runs_cap;
    kp_prepared *prepared;  /* per run, made after the last file (the runs' rows are freed) */
    kp_malformed *mal;
    size_t nmal, mal_cap;
    kx_buf malbytes;
    char *error; /* the folder could not be listed: fails the stage */
    /* eda quality-scan sidecar (eda_inputs.h): this folder's R/K lines, the files eda's
     * scan would read, and whether one of them could not be read */
    kx_buf scan;
    size_t scan_files, scan_entries;
    bool scan_incomplete;
} kp_result;

typedef struct kp_job {
    const kx_config *cfg;
    const kp_folder *folders; /* this batch */
    kp_result *results;       /* one slot per folder of the batch */
    const long *reuse;        /* this batch: index into the base sidecar, or -1 (NULL: none) */
    kx_kp_thresholds th;
} kp_job;

static void free_result(kp_result *r)
{
    for (size_t i = 0; i < r->nfiles; i++) {
        free(r->files[i].name);
        free(r->files[i].read_error);
    }
    free(r->files);
    for (size_t i = 0; i < r->nruns; i++) {
        kx_user_keypairs_free(&r->runs[i]);
        if (r->prepared) free_prepared(&r->prepared[i]);
    }
    free(r->runs);
    free(r->prepared);
    free(r->mal);
    kx_buf_free(&r->malbytes);
    kx_buf_free(&r->scan);
    free(r->error);
    memset(r, 0, sizeof *r);
}

static void on_malformed(void *arg, long lineno, kx_ks_reason reason, const char *line, size_t len)
{
    kp_result *r = arg;
    r->mal = kx_grow(r->mal, &r->mal_cap, r->nmal + 1, sizeof *r->mal);
    r->mal[r->nmal++] = (kp_malformed){lineno, reason, r->malbytes.len, len};
    kx_buf_put(&r->malbytes, line, len);
}

/* An open user folder: files are opened by name relative to it (no path walk per file). */
typedef struct kp_dir {
    int fd;           /* -1: could not be opened, names are then joined to path */
    const char *path;
} kp_dir;

/* Reads a whole file of the folder into buf; on failure returns a heap message (strerror
 * text). A short read that reaches the size fstat gave is the end: one read() per file
 * instead of two. */
static char *read_whole(const kp_dir *d, const char *name, kx_buf *buf)
{
    kx_buf_reset(buf);
    char *path = d->fd < 0 ? kx_path_join(d->path, name) : NULL;
    int fd = kx_openat_read(d->fd < 0 ? AT_FDCWD : d->fd, path ? path : name);
    int e = 0;
    free(path);
    if (fd < 0) {
        e = errno;
    } else {
        struct stat st;
        size_t size = SIZE_MAX; /* unknown */
        if (fstat(fd, &st) == 0 && st.st_size >= 0) size = (size_t)st.st_size;
        if (size != SIZE_MAX) kx_buf_reserve(buf, size + 1);
        for (;;) {
            kx_buf_reserve(buf, 65536);
            size_t want = buf->cap - buf->len - 1;
            ssize_t got = read(fd, buf->data + buf->len, want);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) {
                e = errno;
                break;
            }
            if (got == 0) break;
            buf->len += (size_t)got;
            if ((size_t)got < want && buf->len == size) break;
        }
        close(fd);
    }
    if (!e) return NULL;
    char msg[256];
    if (strerror_r(e, msg, sizeof msg) != 0) snprintf(msg, sizeof msg, "error %d", e);
    return kx_strdup(msg);
}

static kx_user_keypairs *run_for(kp_result *r, const char *uid, const char *device)
{
    if (r->nruns > 0 && strcmp(r->runs[r->nruns - 1].user_id, uid) == 0) return &r->runs[r->nruns - 1];
    r->runs = kx_grow(r->runs, &r->runs_cap, r->nruns + 1, sizeof *r->runs);
    kx_user_keypairs *u = &r->runs[r->nruns++];
    kx_user_keypairs_init(u);
    memcpy(u->user_id, uid, KX_UID_LEN + 1);
    u->device_type = kx_strdup(device);
    return u;
}

/* The eda sidecar check of one file eda's scan reads (its bytes already in data). */
static void scan_for_eda(kp_result *r, const char *name, const kx_buf *data)
{
    r->scan_files++;
    r->scan_entries += (size_t)kx_eda_sidecar_scan(&r->scan, name, data->data ? data->data : "", data->len);
}

/* The same check on the events keypairs' parser has just kept (w->events, keys in u). */
static void scan_parsed_for_eda(kp_result *r, const char *name, const kx_ks_work *w, const kx_user_keypairs *u)
{
    kx_eda_file_check c;
    kx_eda_check_keyed(w->events, w->nevents, &u->keys, &c);
    r->scan_files++;
    r->scan_entries += (size_t)kx_eda_sidecar_put_check(&r->scan, name, &c);
    kx_eda_file_check_free(&c);
}

/* A file eda's scan reads but keypairs does not (an id > 2^31-1): read for the sidecar only. */
static void scan_only_for_eda(kp_result *r, const kp_dir *dir, const char *name, kx_buf *data)
{
    char *error = read_whole(dir, name, data);
    if (error) r->scan_incomplete = true;
    else scan_for_eda(r, name, data);
    free(error);
}

static void process_folder(void *arg, size_t index)
{
    kp_job *job = arg;
    const kp_folder *f = &job->folders[index];
    kp_result *r = &job->results[index];
    const char *device = job->cfg->device_types[f->device];
    if (job->reuse && job->reuse[index] >= 0) return; /* taken from the base when consumed */
    kx_dirlist l;
    kx_err err;
    /* types from d_type (symlinks and unknown types are stat'ed): the same is_dir / is_file
     * as a plain listing, without a stat per file */
    if (kx_list_dir_ex(f->path, &l, KX_LIST_NO_SIZE, &err) != 0) {
        r->error = kx_strdup(err.msg);
        return;
    }
    kp_dir dir = {open(f->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), f->path};
    kx_ks_work w;
    kx_ks_work_init(&w);
    w.keep_events = true; /* for the eda sidecar check */
    kx_buf data = KX_BUF_INIT;
    for (size_t i = 0; i < l.n; i++) { /* bytewise name order (kx_list_dir sorts) */
        kx_ks_file_ids ids;
        char uid[KX_UID_LEN + 1];
        /* the eda sidecar covers exactly the files eda's scan would read */
        bool eda_file = l.items[i].is_file && kx_eda_is_scan_file_name(l.items[i].name);
        if (l.items[i].is_dir || !keystroke_file_name(l.items[i].name, &ids, uid)) {
            if (eda_file) scan_only_for_eda(r, &dir, l.items[i].name, &data);
            continue;
        }
        r->files = kx_grow(r->files, &r->files_cap, r->nfiles + 1, sizeof *r->files);
        kp_file *kf = &r->files[r->nfiles++];
        memset(kf, 0, sizeof *kf);
        kf->name = kx_strdup(l.items[i].name);
        memcpy(kf->uid, uid, sizeof uid);
        kf->mal_begin = kf->mal_end = r->nmal;
        kf->read_error = read_whole(&dir, l.items[i].name, &data);
        if (kf->read_error) {
            r->scan_incomplete |= eda_file;
            continue;
        }
        kx_user_keypairs *u = run_for(r, uid, device);
        kf->run = (size_t)(u - r->runs);
        kf->row_begin = u->n;
        kx_ks_file_to_keypairs(&w, data.data ? data.data : "", data.len, &ids, &job->th, u, on_malformed, r);
        kf->row_end = u->n;
        kf->mal_end = r->nmal;
        count_range(u, kf->row_begin, kf->row_end, &kf->counts);
        if (eda_file) scan_parsed_for_eda(r, l.items[i].name, &w, u);
    }
    /* the main thread then only hands the columns to the table writer */
    r->prepared = kx_calloc(r->nruns ? r->nruns : 1, sizeof *r->prepared);
    for (size_t i = 0; i < r->nruns; i++) {
        prepare_run(&r->runs[i], &r->prepared[i]);
        free(r->runs[i].rows); /* the batch holds everything the writer needs */
        r->runs[i].rows = NULL;
        r->runs[i].n = r->runs[i].cap = 0;
    }
    if (dir.fd >= 0) close(dir.fd);
    kx_buf_free(&data);
    kx_ks_work_free(&w);
    kx_dirlist_free(&l);
}

/* ---- writing, in output order ------------------------------------------------------------------ */

static const kx_colspec malformed_cols[5] = {
    {"user_id", KX_COL_STRING}, {"file", KX_COL_STRING}, {"line_number", KX_COL_INT64},
    {"reason", KX_COL_STRING},  {"raw_line", KX_COL_STRING},
};

typedef struct kp_out {
    kx_stage_ctx *ctx;
    char *meta_dir;          /* staging folder of etl_metadata/keypairs */
    kx_tw *tw;
    kx_afile inv, mal;       /* opened at the first invalid / malformed row */
    bool inv_open, mal_open;
    kx_buf buf;
    /* counters (02 §6) */
    long long total_files, total, valid, invalid, malformed, outliers, users;
    long long dist[KX_KPE_COUNT + 1];
    int dist_order[KX_KPE_COUNT + 1];
    int ndist;
    json_t *errors;
    int64_t mal_pos;         /* bytes written to malformed_rows.csv so far (header included) */
    int64_t mal_row_bytes;   /* of which row bytes */
    int64_t inv_pos, inv_row_bytes; /* the same for invalid_sequences.csv */
    /* the current folder's counters, for its user_stats.csv row */
    int64_t f_valid, f_invalid, f_outliers;
    long long f_dist[KX_KPE_COUNT + 1];
    int f_order[KX_KPE_COUNT + 1];
    int f_ndist;
    int base_kp_fd, base_inv_fd; /* the base's keypairs.csv / invalid_sequences.csv, or -1 */
    kx_kp_ustats ustats;     /* this run's user_stats.csv rows */
    /* incremental reuse (NULL base_tab: none) */
    kx_kptable *base_tab;
    kx_kp_ustats base_ustats;
    long base_next;          /* next base sidecar entry whose table rows are unread */
    int base_mal_fd;         /* the base's malformed_rows.csv, or -1 */
    int64_t reused, processed;
    /* eda quality-scan sidecar: folder records in output order; not written once !scan_ok */
    kx_buf scan;
    size_t scan_folders, scan_files;
    bool scan_ok;
    char *cleaning_id;
    kx_eda_sidecar base_scan;   /* the base's sidecar, for reused folders */
    bool base_scan_ok;
    struct kp_key_ref *base_scan_idx; /* its folders sorted by (folder, device name) */
} kp_out;

static void dist_add_n(kp_out *o, int slot, long long n)
{
    if (o->dist[slot] == 0) o->dist_order[o->ndist++] = slot;
    o->dist[slot] += n;
    if (o->f_dist[slot] == 0) o->f_order[o->f_ndist++] = slot;
    o->f_dist[slot] += n;
}

static void dist_add(kp_out *o, int slot) { dist_add_n(o, slot, 1); }

/* Output positions at the start of a folder, to record its byte ranges afterwards. */
typedef struct kp_marks {
    int64_t kp, inv_rows, mal_rows;
} kp_marks;

static kp_marks folder_begin(kp_out *o)
{
    o->f_valid = o->f_invalid = o->f_outliers = 0;
    memset(o->f_dist, 0, sizeof o->f_dist);
    o->f_ndist = 0;
    return (kp_marks){kx_tw_csv_pos(o->tw), o->inv_row_bytes, o->mal_row_bytes};
}

static int lazy_open(kp_out *o, kx_afile *f, bool *is_open, const char *name, const kx_colspec *cols,
                     size_t ncols, kx_err *err)
{
    if (*is_open) return 0;
    char *path = kx_path_join(o->meta_dir, name);
    int rc = kx_afile_open(f, path, err);
    free(path);
    if (rc != 0) return -1;
    *is_open = true;
    kx_buf_reset(&o->buf);
    kx_csv_put_header(&o->buf, cols, ncols);
    if (f == &o->mal) o->mal_pos += (int64_t)o->buf.len;
    else o->inv_pos += (int64_t)o->buf.len;
    return kx_afile_write(f, o->buf.data, o->buf.len, err);
}

static int write_malformed(kp_out *o, const kp_result *r, const kp_file *f, kx_err *err)
{
    if (f->mal_begin == f->mal_end) return 0;
    if (lazy_open(o, &o->mal, &o->mal_open, "malformed_rows.csv", malformed_cols, 5, err) != 0) return -1;
    kx_buf_reset(&o->buf);
    for (size_t m = f->mal_begin; m < f->mal_end; m++) {
        const kp_malformed *k = &r->mal[m];
        const char *reason = kx_ks_reason_code(k->reason);
        kx_csv_put_str(&o->buf, f->uid, strlen(f->uid));
        kx_buf_putc(&o->buf, ',');
        kx_csv_put_str(&o->buf, f->name, strlen(f->name));
        kx_buf_putc(&o->buf, ',');
        kx_csv_put_i64(&o->buf, k->lineno);
        kx_buf_putc(&o->buf, ',');
        kx_csv_put_str(&o->buf, reason, strlen(reason));
        kx_buf_putc(&o->buf, ',');
        kx_csv_put_str(&o->buf, r->malbytes.data + k->off, k->len);
        kx_buf_putc(&o->buf, '\n');
    }
    o->malformed += (long long)(f->mal_end - f->mal_begin);
    o->mal_pos += (int64_t)o->buf.len;
    o->mal_row_bytes += (int64_t)o->buf.len;
    return kx_afile_write(&o->mal, o->buf.data, o->buf.len, err);
}

/* Adds counters computed by count_range (in output order) to the totals and the folder's. */
static void add_counts(kp_out *o, const kp_counts *c)
{
    o->total += c->rows;
    o->valid += c->valid;
    o->f_valid += c->valid;
    o->invalid += c->invalid;
    o->f_invalid += c->invalid;
    o->outliers += c->outliers;
    o->f_outliers += c->outliers;
    for (int i = 0; i < c->ndist; i++) dist_add_n(o, c->order[i], c->dist[c->order[i]]);
}

/* Appends formatted invalid_sequences.csv rows (opening the file at the first ones). */
static int put_invalid_rows(kp_out *o, const void *rows, size_t n, kx_err *err)
{
    if (n == 0) return 0;
    if (lazy_open(o, &o->inv, &o->inv_open, "invalid_sequences.csv", kx_kp_columns, KX_KP_NCOLS, err) != 0) return -1;
    o->inv_pos += (int64_t)n;
    o->inv_row_bytes += (int64_t)n;
    return kx_afile_write(&o->inv, rows, n, err);
}

/* Table rows and invalid_sequences.csv rows of one prepared user run. */
static int write_prepared(kp_out *o, const kp_prepared *p, kx_err *err)
{
    if (p->b.n == 0) return 0;
    if (kx_tw_write(o->tw, p->b.n, p->b.cols, err) != 0) return -1;
    return put_invalid_rows(o, p->inv.data, p->inv.len, err);
}

/* The same for a user taken from the base version: its columns as read (no row structs),
 * and its invalid rows selected from them (same values, so the same CSV bytes). */
static int write_group(kp_out *o, const kx_kp_group *g, kx_err *err)
{
    if (g->b.n == 0) return 0;
    kp_prepared p = {g->b, KX_BUF_INIT}; /* shallow: the group owns the columns */
    const uint8_t *valid = g->b.cols[KX_KPI_VALID].values;
    size_t ninv = 0;
    for (size_t i = 0; i < g->b.n; i++) ninv += valid[i] == 0;
    if (ninv > 0) {
        kx_kp_batch inv;
        kx_kp_batch_select_zero(&g->b, valid, &inv);
        kx_csv_put_rows(&p.inv, kx_kp_columns, KX_KP_NCOLS, inv.n, inv.cols);
        kx_kp_batch_free(&inv);
    }
    int rc = write_prepared(o, &p, err);
    kx_buf_free(&p.inv);
    return rc;
}

/* count_range over a base user's columns (valid, outlier, error codes). */
static void count_group(const kx_kp_group *g, kp_counts *c)
{
    const uint8_t *valid = g->b.cols[KX_KPI_VALID].values, *outlier = g->b.cols[KX_KPI_OUTLIER].values;
    memset(c, 0, sizeof *c);
    c->rows = (int64_t)g->b.n;
    for (size_t k = 0; k < g->b.n; k++) {
        c->outliers += outlier[k] != 0;
        if (valid[k]) {
            c->valid++;
            continue;
        }
        c->invalid++;
        uint8_t e = g->error_code[k];
        if (c->dist[e]++ == 0) c->order[c->ndist++] = e;
    }
}

/* Completes a folder's sidecar row (byte ranges since m, counters) and stores it. */
static void record_folder(kp_out *o, kx_kp_ustat *s, kp_marks m)
{
    int64_t kp_now = kx_tw_csv_pos(o->tw);
    s->kp_offset = m.kp < 0 ? -1 : m.kp;
    s->kp_bytes = m.kp < 0 ? 0 : kp_now - m.kp;
    s->inv_bytes = o->inv_row_bytes - m.inv_rows;
    s->inv_offset = o->inv_pos - s->inv_bytes;
    s->mal_bytes = o->mal_row_bytes - m.mal_rows;
    s->mal_offset = o->mal_pos - s->mal_bytes;
    s->valid = o->f_valid;
    s->invalid = o->f_invalid;
    s->outliers = o->f_outliers;
    kx_buf e = KX_BUF_INIT;
    for (int i = 0; i < o->f_ndist; i++)
        kx_buf_printf(&e, "%s%d:%lld", i ? ";" : "", o->f_order[i], o->f_dist[o->f_order[i]]);
    s->errors = e.data ? e.data : "";
    kx_kp_ustats_push(&o->ustats, s);
    kx_buf_free(&e);
}

/* The sidecar row of a folder processed in this run. */
static void record_processed(kp_out *o, const kp_folder *fo, const kp_result *r, size_t rows, kp_marks m)
{
    kx_kp_ustat s = {o->ctx->cfg->device_types[fo->device], fo->name, (int64_t)r->nfiles, (int64_t)rows, 0, 0, true,
                     0, 0, 0, 0, 0, 0, 0, 0, 0, NULL};
    for (size_t i = 0; i < r->nfiles; i++) {
        const kp_file *f = &r->files[i];
        s.malformed += (int64_t)(f->mal_end - f->mal_begin);
        s.read_errors += f->read_error != NULL;
        if (strcmp(f->uid, fo->name) != 0) s.single_user = false;
    }
    record_folder(o, &s, m);
    o->processed++;
}

static void scan_not_written(kp_out *o, char *why)
{
    if (o->scan_ok) kx_logf(o->ctx->log, KX_LOG_DEBUG, COMPONENT, "no eda sidecar (eda will scan the files): %s", why);
    o->scan_ok = false;
    free(why);
}

/* The eda sidecar record of a folder processed in this run. */
static void add_scan_record(kp_out *o, const kp_folder *fo, const kp_result *r)
{
    if (!o->scan_ok) return;
    if (r->scan_incomplete) {
        scan_not_written(o, kx_asprintf("a keystroke file of %s could not be read", fo->path));
        return;
    }
    kx_eda_sidecar_folder(&o->scan, fo->device, fo->partition, fo->name, r->scan_files, r->scan_entries, r->scan.data,
                          r->scan.len);
    o->scan_folders++;
    o->scan_files += r->scan_files;
}

static int consume_result(kp_out *o, const kp_folder *fo, const kp_result *r, kx_err *err)
{
    if (r->error) return kx_fail(err, "%s", r->error);
    size_t folder_rows = 0;
    kp_marks m = folder_begin(o);
    for (size_t i = 0; i < r->nfiles; i++) {
        const kp_file *f = &r->files[i];
        o->total_files++;
        if (f->read_error) {
            dist_add(o, DIST_FILE_READ_ERROR);
            char *msg = kx_asprintf("Read error in %s: %s", f->name, f->read_error);
            json_array_append_new(o->errors, kx_json_str(msg));
            free(msg);
            kx_logf(o->ctx->log, KX_LOG_WARNING, COMPONENT, "Read error in %s: %s", f->name, f->read_error);
            continue;
        }
        add_counts(o, &f->counts);
        folder_rows += f->row_end - f->row_begin;
        if (write_malformed(o, r, f, err) != 0) return -1;
    }
    for (size_t i = 0; i < r->nruns; i++)
        if (write_prepared(o, &r->prepared[i], err) != 0) return -1;
    o->users += folder_rows > 0;
    record_processed(o, fo, r, folder_rows, m);
    add_scan_record(o, fo, r);
    return 0;
}

/* ---- metadata JSON (02 §8.1, §8.4) --------------------------------------------------------------- */

static json_t *summary_json(const kp_out *o)
{
    json_t *s = json_object();
    json_object_set_new(s, "total_files", json_integer(o->total_files));
    json_object_set_new(s, "processed_files", json_integer(o->total_files));
    json_object_set_new(s, "skipped_files", json_integer(0));
    json_object_set_new(s, "total_keypairs", json_integer(o->total));
    json_object_set_new(s, "valid_keypairs", json_integer(o->valid));
    json_object_set_new(s, "invalid_keypairs", json_integer(o->invalid));
    json_object_set_new(s, "validity_rate", kx_json_num(o->total ? (double)o->valid / (double)o->total * 100.0 : 0.0));
    json_object_set_new(s, "malformed_rows", json_integer(o->malformed));
    json_object_set_new(s, "outlier_keypairs", json_integer(o->outliers));
    return s;
}

/* etl_metadata/keypairs/eda_quality_scan.tsv (eda_inputs.h), when every folder has a record. */
static int write_scan_sidecar(kp_out *o, kx_err *err)
{
    if (!o->scan_ok) return 0;
    const kx_config *cfg = o->ctx->cfg;
    kx_buf b = KX_BUF_INIT;
    kx_eda_sidecar_header(&b, cfg->device_types, cfg->n_device_types, o->cleaning_id);
    if (o->scan.len) kx_buf_put(&b, o->scan.data, o->scan.len);
    kx_eda_sidecar_trailer(&b, o->scan_folders, o->scan_files);
    char *path = kx_path_join(o->meta_dir, KX_EDA_SIDECAR_FILE);
    int rc = kx_write_file_atomic(path, b.data, b.len, err);
    free(path);
    kx_buf_free(&b);
    return rc;
}

static int write_metadata(kp_out *o, kx_err *err)
{
    kx_stage_ctx *ctx = o->ctx;
    json_t *root = json_object();
    json_object_set_new(root, "version_id", kx_json_str(ctx->version_id));
    json_object_set_new(root, "timestamp", kx_json_timestamp_now());
    char *in = kx_path_join(ctx->version_dir, "cleaned_data");
    char *out = kx_path_join(ctx->version_dir, "keypairs");
    json_object_set_new(root, "input_dir", kx_json_str(in));
    json_object_set_new(root, "output_dir", kx_json_str(out));
    free(in);
    free(out);
    json_t *summary = summary_json(o);
    json_object_set_new(root, "summary", summary);
    json_t *dist = json_object();
    for (int i = 0; i < o->ndist; i++) {
        int slot = o->dist_order[i];
        const char *k = slot == DIST_FILE_READ_ERROR ? "file_read_error" : kx_kp_error_text((kx_kp_error)slot);
        json_object_set_new(dist, k, json_integer(o->dist[slot]));
    }
    json_object_set_new(root, "error_distribution", dist);
    json_object_set_new(root, "user_count", json_integer(o->users));
    char *path = kx_path_join(o->meta_dir, "extraction_stats.json");
    int rc = kx_json_write_file(path, root, err);
    free(path);
    if (rc == 0) rc = kx_kp_ustats_write(&o->ustats, o->meta_dir, err);
    if (rc == 0) rc = write_scan_sidecar(o, err);
    if (rc == 0) {
        json_decref(ctx->stats);
        ctx->stats = json_deep_copy(summary);
        if (ctx->base_version_dir)
            json_object_set_new(ctx->stats, "incremental", kx_reuse_stats(ctx->base_version_id, o->reused, o->processed));
    }
    json_decref(root);
    if (rc != 0 || json_array_size(o->errors) == 0) return rc;
    json_t *log = json_object();
    json_object_set_new(log, "timestamp", kx_json_timestamp_now());
    json_object_set(log, "errors", o->errors);
    path = kx_path_join(o->meta_dir, "processing_log.json");
    rc = kx_json_write_file(path, log, err);
    free(path);
    json_decref(log);
    return rc;
}

/* ---- staging ------------------------------------------------------------------------------------ */

/* Replaces final by staging: final → <final>.old, staging → final, remove the old one. */
static int swap_in(const char *staging, const char *final, kx_err *err)
{
    char *old = kx_asprintf("%s.old", staging);
    int rc = kx_rmtree(old, err);
    if (rc == 0 && kx_exists(final) && rename(final, old) != 0)
        rc = kx_fail_errno(err, "cannot move %s aside", final);
    if (rc == 0 && rename(staging, final) != 0) rc = kx_fail_errno(err, "cannot rename %s to %s", staging, final);
    if (rc == 0) rc = kx_rmtree(old, err);
    free(old);
    return rc;
}

/* ---- incremental reuse (02 §7, 05 §6.4) -------------------------------------------------------- */

/* A sorted (folder, device) index over the entries of a base sidecar: lookups of this run's
 * folders without a qsort context (the keys are in the elements; `at` breaks ties). */
typedef struct kp_key_ref {
    const char *folder, *device;
    long at; /* entry index in the sidecar */
} kp_key_ref;

static int cmp_key(const kp_key_ref *x, const char *folder, const char *device)
{
    int c = strcmp(x->folder, folder);
    return c ? c : strcmp(x->device, device);
}

static int cmp_key_ref(const void *a, const void *b)
{
    const kp_key_ref *x = a, *y = b;
    int c = cmp_key(x, y->folder, y->device);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

/* Position of the first element equal to (folder, device), or n if none. */
static size_t key_first(const kp_key_ref *v, size_t n, const char *folder, const char *device)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_key(&v[mid], folder, device) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && cmp_key(&v[lo], folder, device) == 0 ? lo : n;
}

/* Loads the base's eda sidecar so that reused folders' records can be carried over. */
static void open_base_scan(kp_out *o)
{
    char *path = kx_path_join3(o->ctx->base_version_dir, "etl_metadata", "keypairs/" KX_EDA_SIDECAR_FILE);
    kx_err e;
    o->base_scan_ok = kx_is_file(path) && kx_eda_sidecar_load(path, &o->base_scan, &e) == 0;
    free(path);
    if (!o->base_scan_ok) return;
    const kx_eda_sidecar *bs = &o->base_scan;
    o->base_scan_idx = kx_malloc((bs->n + 1) * sizeof *o->base_scan_idx);
    for (size_t i = 0; i < bs->n; i++)
        o->base_scan_idx[i] = (kp_key_ref){bs->f[i].folder, bs->devices[bs->f[i].device], (long)i};
    kx_qsort(o->base_scan_idx, bs->n, sizeof *o->base_scan_idx, cmp_key_ref);
}

/* The base sidecar record of (folder, device); NULL if none or not unique. */
static const kx_eda_sc_folder *find_base_scan(const kp_out *o, const char *folder, const char *device)
{
    const kx_eda_sidecar *bs = &o->base_scan;
    size_t at = key_first(o->base_scan_idx, bs->n, folder, device);
    if (at == bs->n) return NULL;
    if (at + 1 < bs->n && cmp_key(&o->base_scan_idx[at + 1], folder, device) == 0) return NULL;
    return &bs->f[o->base_scan_idx[at].at];
}

/* A reused folder's eda sidecar record: the base's, with this run's device and partition
 * (the files are the same: reuse requires the same user checksum). */
static void carry_scan_record(kp_out *o, const kp_folder *fo)
{
    if (!o->scan_ok) return;
    const char *device = o->ctx->cfg->device_types[fo->device];
    const kx_eda_sc_folder *b = o->base_scan_ok ? find_base_scan(o, fo->name, device) : NULL;
    if (!b) {
        scan_not_written(o, kx_asprintf("the base version has no eda sidecar record for reused folder %s", fo->path));
        return;
    }
    kx_eda_sidecar_folder(&o->scan, fo->device, fo->partition, fo->name, b->files, b->entries,
                          o->base_scan.data.data + b->body_off, b->body_len);
    o->scan_folders++;
    o->scan_files += b->files;
}

static void close_base(kp_out *o)
{
    kx_eda_sidecar_free(&o->base_scan);
    free(o->base_scan_idx);
    o->base_scan_idx = NULL;
    o->base_scan_ok = false;
    kx_kptable_close(o->base_tab);
    o->base_tab = NULL;
    kx_kp_ustats_free(&o->base_ustats);
    int *fds[3] = {&o->base_mal_fd, &o->base_kp_fd, &o->base_inv_fd};
    for (int i = 0; i < 3; i++) {
        if (*fds[i] >= 0) close(*fds[i]);
        *fds[i] = -1;
    }
}

/* Opens the base's table, sidecar and malformed_rows.csv; false (logged) if reuse is not
 * possible, in which case every folder is processed. */
static bool open_base(kp_out *o, kx_user_sums *cur, kx_user_sums *base)
{
    kx_stage_ctx *ctx = o->ctx;
    kx_err e;
    bool ok = kx_user_sums_load(ctx->version_dir, cur, &e) == 0 &&
              kx_user_sums_load(ctx->base_version_dir, base, &e) == 0 &&
              kx_kp_ustats_load(ctx->base_version_dir, &o->base_ustats, &e) == 0 &&
              (o->base_tab = kx_kptable_open_workers(ctx->base_version_dir, KX_KP_COLS_ALL, ctx->cfg->parallel_workers,
                                                     &e)) != NULL; /* decoded on every worker */
    /* The table is read group by group in sidecar order: a folder holding files of other
     * user ids would break the one-group-per-folder correspondence. */
    for (size_t i = 0; ok && i < o->base_ustats.n; i++)
        if (!o->base_ustats.v[i].single_user) ok = !kx_fail(&e, "folder %s holds files of other users",
                                                             o->base_ustats.v[i].folder);
    if (ok) {
        /* each may be absent (no malformed / invalid row, no CSV): fetch_base checks */
        static const char *const files[3] = {"etl_metadata/keypairs/malformed_rows.csv", "keypairs/keypairs.csv",
                                             "etl_metadata/keypairs/invalid_sequences.csv"};
        int *fds[3] = {&o->base_mal_fd, &o->base_kp_fd, &o->base_inv_fd};
        for (int i = 0; i < 3; i++) {
            char *path = kx_path_join(ctx->base_version_dir, files[i]);
            *fds[i] = open(path, O_RDONLY);
            free(path);
        }
        open_base_scan(o);
        return true;
    }
    kx_logf(ctx->log, KX_LOG_WARNING, COMPONENT, "Base version %s not usable for reuse, parsing all users: %s",
            ctx->base_version_id ? ctx->base_version_id : ctx->base_version_dir, e.msg);
    close_base(o);
    return false;
}

/* Per folder: the base sidecar entry to take over, or -1 to process it. NULL = no base. */
static long *plan_reuse(kp_out *o, const kp_folders *folders)
{
    if (!o->ctx->base_version_dir) return NULL;
    kx_user_sums cur = {0}, base = {0};
    long *plan = NULL;
    if (open_base(o, &cur, &base)) {
        const kx_kp_ustats *bs = &o->base_ustats;
        kp_key_ref *idx = kx_malloc((bs->n + 1) * sizeof *idx);
        for (size_t i = 0; i < bs->n; i++) idx[i] = (kp_key_ref){bs->v[i].folder, bs->v[i].device, (long)i};
        kx_qsort(idx, bs->n, sizeof *idx, cmp_key_ref);
        plan = kx_malloc((folders->n + 1) * sizeof *plan);
        long last = -1;
        for (size_t i = 0; i < folders->n; i++) {
            const kp_folder *f = &folders->v[i];
            const kx_user_sum *a = kx_user_sums_find(&cur, f->name);
            long j = -1;
            if (kx_user_sum_same(a, kx_user_sums_find(&base, f->name)) && a->complete) {
                size_t at = key_first(idx, bs->n, f->name, o->ctx->cfg->device_types[f->device]);
                if (at < bs->n) j = idx[at].at;
            }
            /* a read error in the base is not reused (02 §7); nor are entries out of order */
            if (j >= 0 && (bs->v[j].read_errors > 0 || j <= last)) j = -1;
            plan[i] = j;
            if (j >= 0) last = j;
        }
        free(idx);
    }
    kx_user_sums_free(&cur);
    kx_user_sums_free(&base);
    return plan;
}

/* Reads bytes [off, off + n) of fd into b. */
static int read_range(int fd, int64_t off, int64_t n, kx_buf *b, kx_err *e)
{
    kx_buf_reset(b);
    if (n == 0) return 0;
    if (fd < 0 || off < 0) return kx_fail(e, "a base output file is missing");
    kx_buf_reserve(b, (size_t)n + 1);
    ssize_t got = pread(fd, b->data, (size_t)n, (off_t)off);
    if (got != (ssize_t)n) return kx_fail(e, "a base output file is shorter than user_stats.csv says");
    b->len = (size_t)n;
    return 0;
}

/* Parses a sidecar "errors" cell into slots/counts (at most KX_KPE_COUNT + 1 pairs). */
static int parse_errors(const char *s, int *slot, long long *count, int *n, kx_err *e)
{
    *n = 0;
    while (*s) {
        char *end;
        long k = strtol(s, &end, 10);
        if (*end != ':' || k < 0 || k > KX_KPE_COUNT || *n > KX_KPE_COUNT) return kx_fail(e, "bad errors cell");
        long long c = strtoll(end + 1, &end, 10);
        if (c <= 0 || (*end && *end != ';')) return kx_fail(e, "bad errors cell");
        slot[*n] = (int)k;
        count[(*n)++] = c;
        s = *end ? end + 1 : end;
    }
    return 0;
}

/* Row path (Parquet written): reads the base rows of sidecar entry j, skipping the table
 * groups of earlier entries. -1 with e set when the base does not match its sidecar. */
static int fetch_rows(kp_out *o, long j, kx_kp_group *g, kx_err *e)
{
    const kx_kp_ustats *bs = &o->base_ustats;
    for (; o->base_next <= j; o->base_next++) {
        const kx_kp_ustat *s = &bs->v[o->base_next];
        if (s->rows == 0) continue;
        int got = kx_kptable_next_group(o->base_tab, g, e);
        if (got < 0) return -1;
        if (got == 0 || strcmp(g->user_id, s->folder) || strcmp(g->device_type, s->device) ||
            (int64_t)g->b.n != s->rows)
            return kx_fail(e, "%s does not match user_stats.csv at folder %s", kx_kptable_path(o->base_tab), s->folder);
    }
    if (bs->v[j].rows == 0) g->b.n = 0;
    return 0;
}

/* Everything taken from the base for entry j, read before anything is written. */
typedef struct kp_reuse_in {
    bool copy;               /* CSV-only: copy table bytes instead of rows */
    kx_kp_group grp;         /* row path: the user's columns */
    kx_buf kp, inv, mal;     /* byte ranges */
    int slot[KX_KPE_COUNT + 1];
    long long count[KX_KPE_COUNT + 1];
    int nslots;
} kp_reuse_in;

static void reuse_in_free(kp_reuse_in *in)
{
    kx_kp_group_free(&in->grp);
    kx_buf_free(&in->kp);
    kx_buf_free(&in->inv);
    kx_buf_free(&in->mal);
}

static int fetch_base(kp_out *o, long j, kp_reuse_in *in, kx_err *e)
{
    const kx_kp_ustat *s = &o->base_ustats.v[j];
    in->copy = !o->ctx->cfg->out_parquet && o->ctx->cfg->out_csv;
    if (read_range(o->base_mal_fd, s->mal_offset, s->mal_bytes, &in->mal, e) != 0) return -1;
    if (!in->copy) return fetch_rows(o, j, &in->grp, e);
    if (s->rows > 0 && s->kp_offset < 0) return kx_fail(e, "the base wrote no keypairs.csv");
    if (read_range(o->base_kp_fd, s->kp_offset, s->kp_bytes, &in->kp, e) != 0 ||
        read_range(o->base_inv_fd, s->inv_offset, s->inv_bytes, &in->inv, e) != 0)
        return -1;
    return parse_errors(s->errors, in->slot, in->count, &in->nslots, e);
}

/* Copy path: counters from the sidecar, table and invalid rows as bytes. */
static int put_copied(kp_out *o, const kx_kp_ustat *s, const kp_reuse_in *in, kx_err *err)
{
    o->total += s->rows;
    o->valid += s->valid;
    o->invalid += s->invalid;
    o->outliers += s->outliers;
    o->f_valid = s->valid;
    o->f_invalid = s->invalid;
    o->f_outliers = s->outliers;
    for (int i = 0; i < in->nslots; i++) dist_add_n(o, in->slot[i], in->count[i]);
    if (in->kp.len && kx_tw_write_csv_bytes(o->tw, in->kp.data, in->kp.len, err) != 0) return -1;
    return put_invalid_rows(o, in->inv.data, in->inv.len, err);
}

/* A folder taken over from the base: same rows, malformed lines and counters as if it had
 * been processed. Returns 1 when the base turned out unusable (nothing written). */
static int consume_reused(kp_out *o, long j, kx_err *err)
{
    kp_reuse_in in;
    memset(&in, 0, sizeof in);
    kx_kp_group_init(&in.grp);
    kx_err e;
    if (fetch_base(o, j, &in, &e) != 0) {
        kx_logf(o->ctx->log, KX_LOG_WARNING, COMPONENT, "Reuse stopped, parsing the remaining users: %s", e.msg);
        reuse_in_free(&in);
        close_base(o);
        return 1;
    }
    kx_kp_ustat s = o->base_ustats.v[j];
    kp_marks m = folder_begin(o);
    o->total_files += s.files;
    int rc;
    if (in.copy) {
        rc = put_copied(o, &s, &in, err);
    } else {
        kp_counts c;
        count_group(&in.grp, &c);
        add_counts(o, &c);
        rc = write_group(o, &in.grp, err);
    }
    if (rc == 0 && in.mal.len) {
        rc = lazy_open(o, &o->mal, &o->mal_open, "malformed_rows.csv", malformed_cols, 5, err);
        if (rc == 0) rc = kx_afile_write(&o->mal, in.mal.data, in.mal.len, err);
        o->mal_pos += (int64_t)in.mal.len;
        o->mal_row_bytes += (int64_t)in.mal.len;
        o->malformed += s.malformed;
    }
    o->users += s.rows > 0;
    record_folder(o, &s, m);
    o->reused++;
    reuse_in_free(&in);
    return rc;
}

/* Consumes one folder of a batch: from the base when planned and possible, else the
 * result of process_folder (computed here if the batch skipped it). */
static int consume_folder(kp_out *o, const kp_job *job, size_t i, long j, kx_err *err)
{
    if (j >= 0 && o->base_tab) {
        int rc = consume_reused(o, j, err);
        if (rc == 0) carry_scan_record(o, &job->folders[i]);
        if (rc <= 0) return rc;
    }
    if (j >= 0) { /* planned for reuse but the base failed: parse it now */
        kp_job one = *job;
        one.folders = &job->folders[i];
        one.results = &job->results[i];
        one.reuse = NULL;
        process_folder(&one, 0);
    }
    return consume_result(o, &job->folders[i], &job->results[i], err);
}

static int run_batches(kp_out *o, const kp_folders *folders, kx_err *err)
{
    const kx_config *cfg = o->ctx->cfg;
    size_t bs = cfg->batch_size > 0 ? (size_t)cfg->batch_size : 1;
    kp_job job = {cfg, NULL, NULL, NULL,
                  {cfg->outlier_hl_min_ms, cfg->outlier_hl_max_ms, cfg->outlier_il_abs_max_ms}};
    long *plan = plan_reuse(o, folders);
    kx_progress p;
    kx_progress_start(&p, o->ctx->show_progress, "keypairs", folders->n);
    for (size_t start = 0; start < folders->n; start += bs) {
        size_t n = folders->n - start < bs ? folders->n - start : bs;
        job.folders = folders->v + start;
        job.results = kx_calloc(n, sizeof *job.results);
        job.reuse = plan ? plan + start : NULL;
        kx_parallel_for(cfg->parallel_workers, n, process_folder, &job);
        int rc = 0;
        for (size_t i = 0; i < n; i++) {
            if (rc == 0) rc = consume_folder(o, &job, i, plan ? plan[start + i] : -1, err);
            free_result(&job.results[i]);
        }
        free(job.results);
        if (rc != 0) {
            kx_progress_finish(&p);
            free(plan);
            return -1;
        }
        kx_progress_add(&p, n);
        kx_logf(o->ctx->log, KX_LOG_DEBUG, COMPONENT, "Processed %zu/%zu user folders", start + n, folders->n);
    }
    kx_progress_finish(&p);
    free(plan);
    return 0;
}

static int finish_files(kp_out *o, kx_err *err)
{
    int rc = 0;
    if (o->inv_open) {
        o->inv_open = false;
        if (kx_afile_commit(&o->inv, err) != 0) rc = -1;
    }
    if (o->mal_open) {
        o->mal_open = false;
        if (kx_afile_commit(&o->mal, rc == 0 ? err : NULL) != 0) rc = -1;
    }
    kx_tw *tw = o->tw;
    o->tw = NULL;
    if (rc != 0) {
        kx_tw_abort(tw);
        return -1;
    }
    return kx_tw_commit(tw, err);
}

int kx_stage_keypairs(kx_stage_ctx *ctx)
{
    const kx_config *cfg = ctx->cfg;
    kx_err *err = &ctx->err;
    char *input = kx_path_join(ctx->version_dir, "cleaned_data");
    char *kp_final = kx_path_join(ctx->version_dir, "keypairs");
    char *kp_stage = kx_path_join(ctx->version_dir, ".keypairs.partial");
    char *meta_final = kx_path_join3(ctx->version_dir, "etl_metadata", "keypairs");
    char *meta_stage = kx_path_join3(ctx->version_dir, "etl_metadata", ".keypairs.partial");
    kp_folders folders = {0};
    kp_out o;
    memset(&o, 0, sizeof o);
    o.ctx = ctx;
    o.meta_dir = meta_stage;
    o.errors = json_array();
    o.base_mal_fd = o.base_kp_fd = o.base_inv_fd = -1;
    o.scan_ok = true;
    o.cleaning_id = kx_eda_cleaning_id(ctx->version_dir); /* before any file is read */
    int rc = -1;

    if (!kx_is_dir(input)) {
        kx_fail(err, "input folder %s does not exist (run the clean stage first)", input);
        goto out;
    }
    if (kx_rmtree(kp_stage, err) != 0 || kx_rmtree(meta_stage, err) != 0 || kx_mkdirs(kp_stage, err) != 0 ||
        kx_mkdirs(meta_stage, err) != 0)
        goto out;
    if (discover(cfg, input, &folders, err) != 0) goto out;
    kx_logf(ctx->log, KX_LOG_INFO, COMPONENT, "Found %zu user folders in %s", folders.n, input);
    kx_table_opts opts = {cfg->out_parquet, cfg->out_csv, cfg->parquet_compression,
                          cfg->parquet_row_group_rows, "keypairs", cfg->parallel_workers};
    o.tw = kx_tw_open(kp_stage, "keypairs", kx_kp_columns, KX_KP_NCOLS, &opts, err);
    if (!o.tw) goto out;
    if (run_batches(&o, &folders, err) != 0) goto out;
    if (finish_files(&o, err) != 0) goto out;
    if (write_metadata(&o, err) != 0) goto out;
    if (swap_in(kp_stage, kp_final, err) != 0 || swap_in(meta_stage, meta_final, err) != 0) goto out;
    kx_logf(ctx->log, KX_LOG_INFO, COMPONENT,
            "Extracted %lld keypairs (%lld valid, %lld outliers) from %lld files of %lld users; %lld malformed lines",
            o.total, o.valid, o.outliers, o.total_files, o.users, o.malformed);
    rc = 0;
out:
    if (o.tw) kx_tw_abort(o.tw);
    if (o.inv_open) kx_afile_abort(&o.inv);
    if (o.mal_open) kx_afile_abort(&o.mal);
    if (rc != 0) {
        kx_rmtree(kp_stage, NULL);
        kx_rmtree(meta_stage, NULL);
    }
    json_decref(o.errors);
    kx_buf_free(&o.buf);
    close_base(&o);
    kx_buf_free(&o.scan);
    free(o.cleaning_id);
    kx_kp_ustats_free(&o.ustats);
    free_folders(&folders);
    free(input);
    free(kp_final);
    free(kp_stage);
    free(meta_final);
    free(meta_stage);
    return rc;
}
