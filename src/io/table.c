#include "io/table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/fs.h"
#include "io/pq_sink.h"
#include "io/text.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/pool.h"

/* CSV chunks of one parallel segment, in row order. */
typedef struct chunk_set {
    kx_buf *bufs;
    size_t n, cap;
} chunk_set;

struct kx_tw {
    const kx_colspec *cols;
    size_t ncols;
    kx_table_opts opts;
    bool csv_open;
    kx_afile csv;
    kx_buf csvbuf;
    int64_t csv_flushed;   /* CSV bytes already handed to the file */
    struct kx_pq_sink *pq; /* Parquet side; see table_parquet.c */
    /* parallel path (see write_parallel) */
    kx_pool *pool;         /* opts.workers > 1: created at the first parallel batch */
    kx_err *slot_err;      /* per pool slot: message of its lowest failing Parquet column */
    size_t *slot_fail;     /* per pool slot: that column, or SIZE_MAX */
    chunk_set sets[2];     /* CSV chunk buffers, reused: one is formatted while the other is written */
    int pending;           /* the set holding formatted CSV rows not yet written, or -1 */
    int write_rc;          /* the write item's result */
    kx_err write_err;
};

static bool is_null(const kx_colspec *spec, const kx_column *c, size_t i)
{
    if (c->valid && !c->valid[i]) return true;
    if (spec->type == KX_COL_DOUBLE && c->nan_is_null && isnan(((const double *)c->values)[i]))
        return true;
    return false;
}

void kx_csv_put_header(kx_buf *out, const kx_colspec *cols, size_t ncols)
{
    for (size_t j = 0; j < ncols; j++) {
        if (j) kx_buf_putc(out, ',');
        kx_csv_put_str(out, cols[j].name, strlen(cols[j].name));
    }
    kx_buf_putc(out, '\n');
}

void kx_csv_put_rows(kx_buf *out, const kx_colspec *cols, size_t ncols, size_t nrows,
                     const kx_column *data)
{
    for (size_t i = 0; i < nrows; i++) {
        for (size_t j = 0; j < ncols; j++) {
            if (j) kx_buf_putc(out, ',');
            const kx_column *c = &data[j];
            if (is_null(&cols[j], c, i)) continue;
            switch (cols[j].type) {
            case KX_COL_BOOL: kx_csv_put_bool(out, ((const uint8_t *)c->values)[i] != 0); break;
            case KX_COL_INT64: kx_csv_put_i64(out, ((const int64_t *)c->values)[i]); break;
            case KX_COL_DOUBLE: kx_csv_put_double(out, ((const double *)c->values)[i]); break;
            case KX_COL_STRING: {
                const kx_strref *s = &((const kx_strref *)c->values)[i];
                kx_csv_put_str(out, s->ptr, s->len);
                break;
            }
            }
        }
        kx_buf_putc(out, '\n');
    }
}

kx_tw *kx_tw_open(const char *dir, const char *base, const kx_colspec *cols, size_t ncols,
                  const kx_table_opts *opts, kx_err *err)
{
    kx_tw *w = kx_calloc(1, sizeof *w);
    w->cols = cols;
    w->ncols = ncols;
    w->opts = *opts;
    w->pending = -1;
    if (opts->csv) {
        char *name = kx_asprintf("%s.csv", base);
        char *path = kx_path_join(dir, name);
        int rc = kx_afile_open(&w->csv, path, err);
        free(name);
        free(path);
        if (rc != 0) {
            free(w);
            return NULL;
        }
        w->csv_open = true;
        kx_csv_put_header(&w->csvbuf, cols, ncols);
    }
    if (opts->parquet) {
        char *name = kx_asprintf("%s.parquet", base);
        char *path = kx_path_join(dir, name);
        w->pq = kx_pq_sink_open(path, cols, ncols, opts, err);
        free(name);
        free(path);
        if (!w->pq) {
            if (w->csv_open) kx_afile_abort(&w->csv);
            kx_buf_free(&w->csvbuf);
            free(w);
            return NULL;
        }
    }
    return w;
}

/* Frees the parallel-writing state (pool, CSV chunk buffers). */
static void free_parallel(kx_tw *w)
{
    for (int s = 0; s < 2; s++) {
        for (size_t k = 0; k < w->sets[s].cap; k++) kx_buf_free(&w->sets[s].bufs[k]);
        free(w->sets[s].bufs);
    }
    kx_pool_destroy(w->pool);
    free(w->slot_err);
    free(w->slot_fail);
}

static int flush_csv(kx_tw *w, kx_err *err)
{
    int rc = kx_afile_write(&w->csv, w->csvbuf.data, w->csvbuf.len, err);
    w->csv_flushed += (int64_t)w->csvbuf.len;
    kx_buf_reset(&w->csvbuf);
    return rc;
}

/* CSV byte order: the file, then the pending chunk set, then csvbuf — and csvbuf is empty
 * while a set is pending (settle_pending moves the set into csvbuf before anything else is
 * appended to it). */
static size_t pending_bytes(const kx_tw *w)
{
    size_t n = 0;
    if (w->pending >= 0)
        for (size_t k = 0; k < w->sets[w->pending].n; k++) n += w->sets[w->pending].bufs[k].len;
    return n;
}

static void settle_pending(kx_tw *w)
{
    if (w->pending < 0) return;
    chunk_set *set = &w->sets[w->pending];
    for (size_t k = 0; k < set->n; k++) {
        kx_buf_put(&w->csvbuf, set->bufs[k].data, set->bufs[k].len);
        kx_buf_reset(&set->bufs[k]);
    }
    set->n = 0;
    w->pending = -1;
}

/* Parallel batch writing (opts.workers > 1), on the writer's persistent pool (kx_pool: one
 * wake-up per segment, not thread creation — kvc and keypairs write one batch per user).
 * A batch is cut at Parquet row group ends into segments (kx_pq_sink_segment_rows); the
 * work items of a segment are:
 *   - the file write of the CSV rows formatted by the previous segment (the pending chunk
 *     set; or the bytes in csvbuf: header, sequential batches). They precede everything
 *     formatted now, so writing them concurrently keeps the byte order, and the main thread
 *     never copies chunks into one buffer;
 *   - its CSV chunks (consecutive row ranges formatted into the other set's buffers);
 *   - its Parquet columns (each encoded on the item's pool slot).
 * Every item touches only its own state, so the bytes are those of the sequential writer.
 * Small batches stay sequential (a wake-up would dominate). */
#define CSV_CHUNK_ROWS 2048
#define MIN_CSV_CHUNK_ROWS 256
#define MAX_CSV_CHUNKS 64
#define MIN_PARALLEL_VALUES 16384 /* rows x columns of a batch */

typedef struct seg_job {
    kx_tw *w;
    const kx_column *cols;
    size_t from, nrows;   /* the segment: rows [from, from + nrows) of cols */
    size_t nwrite;        /* 1: item 0 writes the pending set (or csvbuf) to the CSV file */
    chunk_set *out;       /* CSV chunks: items [nwrite, nwrite + out->n) */
    size_t chunk_rows;
} seg_job;

static void csv_chunk(seg_job *j, size_t index)
{
    size_t from = index * j->chunk_rows;
    size_t n = j->nrows - from < j->chunk_rows ? j->nrows - from : j->chunk_rows;
    from += j->from;
    kx_column *part = kx_malloc((j->w->ncols ? j->w->ncols : 1) * sizeof *part);
    for (size_t c = 0; c < j->w->ncols; c++) {
        const kx_column *in = &j->cols[c];
        size_t width = j->w->cols[c].type == KX_COL_BOOL     ? 1
                       : j->w->cols[c].type == KX_COL_STRING ? sizeof(kx_strref)
                                                            : 8;
        part[c].values = (const char *)in->values + from * width;
        part[c].valid = in->valid ? in->valid + from : NULL;
        part[c].nan_is_null = in->nan_is_null;
    }
    /* format into a local copy of the buffer header: the headers of neighbouring chunks
     * share cache lines, and updating them from two threads per field would make every
     * append a cache miss (false sharing) */
    kx_buf b = j->out->bufs[index];
    kx_csv_put_rows(&b, j->w->cols, j->w->ncols, n, part);
    j->out->bufs[index] = b;
    free(part);
}

static void write_item(kx_tw *w)
{
    int rc = 0;
    if (w->pending >= 0) {
        const chunk_set *set = &w->sets[w->pending];
        for (size_t k = 0; k < set->n && rc == 0; k++)
            rc = kx_afile_write(&w->csv, set->bufs[k].data, set->bufs[k].len, &w->write_err);
    } else {
        rc = kx_afile_write(&w->csv, w->csvbuf.data, w->csvbuf.len, &w->write_err);
    }
    w->write_rc = rc;
}

static void seg_item(void *arg, size_t index, int slot)
{
    seg_job *j = arg;
    if (index < j->nwrite) {
        write_item(j->w);
        return;
    }
    index -= j->nwrite;
    if (index < j->out->n) {
        csv_chunk(j, index);
        return;
    }
    kx_tw *w = j->w;
    size_t col = index - j->out->n;
    if (w->slot_fail[slot] < col) return; /* a lower column already failed on this slot */
    if (kx_pq_sink_put_column(w->pq, col, j->from, j->nrows, j->cols, slot, &w->slot_err[slot]) != 0)
        w->slot_fail[slot] = col;
}

/* CSV chunking of n rows: CSV_CHUNK_ROWS per chunk; without Parquet items, smaller chunks
 * so that every slot gets work. */
static size_t csv_chunks(const kx_tw *w, size_t n, size_t *chunk_rows)
{
    if (!w->csv_open) return 0;
    size_t rows = CSV_CHUNK_ROWS;
    if (!w->pq) {
        size_t share = (n + 2 * (size_t)kx_pool_slots(w->pool) - 1) / (2 * (size_t)kx_pool_slots(w->pool));
        if (share < rows) rows = share < MIN_CSV_CHUNK_ROWS ? MIN_CSV_CHUNK_ROWS : share;
    }
    if ((n + rows - 1) / rows > MAX_CSV_CHUNKS) rows = (n + MAX_CSV_CHUNKS - 1) / MAX_CSV_CHUNKS;
    *chunk_rows = rows;
    return (n + rows - 1) / rows;
}

static int write_segment(kx_tw *w, size_t from, size_t n, const kx_column *cols, kx_err *err)
{
    chunk_set *out = &w->sets[w->pending == 0 ? 1 : 0];
    seg_job j = {.w = w, .cols = cols, .from = from, .nrows = n, .out = out};
    out->n = csv_chunks(w, n, &j.chunk_rows);
    if (out->n > out->cap) {
        out->bufs = kx_realloc(out->bufs, out->n * sizeof *out->bufs);
        memset(out->bufs + out->cap, 0, (out->n - out->cap) * sizeof *out->bufs);
        out->cap = out->n;
    }
    size_t written = pending_bytes(w) + (w->pending < 0 ? w->csvbuf.len : 0);
    j.nwrite = w->csv_open && written > 0;
    w->write_rc = 0;
    int slots = kx_pool_slots(w->pool);
    for (int k = 0; k < slots; k++) w->slot_fail[k] = SIZE_MAX;
    kx_pool_run(w->pool, j.nwrite + out->n + (w->pq ? w->ncols : 0), seg_item, &j);
    if (j.nwrite) {
        w->csv_flushed += (int64_t)written;
        if (w->pending >= 0) {
            chunk_set *done = &w->sets[w->pending];
            for (size_t k = 0; k < done->n; k++) kx_buf_reset(&done->bufs[k]);
            done->n = 0;
        }
        kx_buf_reset(&w->csvbuf);
    }
    w->pending = out->n ? (int)(out - w->sets) : -1;
    if (w->write_rc != 0) {
        if (err) *err = w->write_err;
        return -1;
    }
    if (!w->pq) return 0;
    int first = -1; /* the slot whose failing column is the lowest */
    for (int k = 0; k < slots; k++)
        if (w->slot_fail[k] != SIZE_MAX && (first < 0 || w->slot_fail[k] < w->slot_fail[first])) first = k;
    if (first >= 0) {
        if (err) *err = w->slot_err[first];
        return -1;
    }
    return kx_pq_sink_end_segment(w->pq, n, err);
}

/* Returns 1 when the batch was written in parallel, 0 when the caller should write it
 * sequentially, -1 on error. */
static int write_parallel(kx_tw *w, size_t nrows, const kx_column *cols, kx_err *err)
{
    if (w->opts.workers < 2 || nrows * w->ncols < MIN_PARALLEL_VALUES) return 0;
    if (!w->pq && nrows < 2 * MIN_CSV_CHUNK_ROWS) return 0;
    if (!w->pool) {
        w->pool = kx_pool_create(w->opts.workers);
        w->slot_err = kx_calloc((size_t)kx_pool_slots(w->pool), sizeof *w->slot_err);
        w->slot_fail = kx_calloc((size_t)kx_pool_slots(w->pool), sizeof *w->slot_fail);
    }
    if (w->pq) kx_pq_sink_reserve(w->pq, nrows);
    for (size_t done = 0; done < nrows;) {
        size_t n = w->pq ? kx_pq_sink_segment_rows(w->pq, nrows - done) : nrows - done;
        if (write_segment(w, done, n, cols, err) != 0) return -1;
        done += n;
    }
    return 1;
}

int kx_tw_write(kx_tw *w, size_t nrows, const kx_column *cols, kx_err *err)
{
    int par = write_parallel(w, nrows, cols, err);
    if (par != 0) return par < 0 ? -1 : 0;
    settle_pending(w);
    if (w->csv_open) {
        kx_csv_put_rows(&w->csvbuf, w->cols, w->ncols, nrows, cols);
        if (w->csvbuf.len > (1u << 20) && flush_csv(w, err) != 0) return -1;
    }
    if (w->pq && kx_pq_sink_write(w->pq, nrows, cols, err) != 0) return -1;
    return 0;
}

int64_t kx_tw_csv_pos(const kx_tw *w)
{
    return w->csv_open ? w->csv_flushed + (int64_t)pending_bytes(w) + (int64_t)w->csvbuf.len : -1;
}

int kx_tw_write_csv_bytes(kx_tw *w, const void *p, size_t n, kx_err *err)
{
    if (!w->csv_open || w->pq) return kx_fail(err, "raw CSV rows need a CSV-only table writer");
    settle_pending(w);
    kx_buf_put(&w->csvbuf, p, n);
    if (w->csvbuf.len > (1u << 20)) return flush_csv(w, err);
    return 0;
}

int kx_tw_commit(kx_tw *w, kx_err *err)
{
    int rc = 0;
    settle_pending(w);
    if (w->csv_open) {
        if (flush_csv(w, err) != 0) {
            kx_afile_abort(&w->csv);
            rc = -1;
        } else {
            rc = kx_afile_commit(&w->csv, err);
        }
        w->csv_open = false;
    }
    if (w->pq) {
        if (rc == 0) rc = kx_pq_sink_commit(w->pq, err);
        else kx_pq_sink_abort(w->pq);
        w->pq = NULL;
    }
    kx_buf_free(&w->csvbuf);
    free_parallel(w);
    free(w);
    return rc;
}

void kx_tw_abort(kx_tw *w)
{
    if (!w) return;
    if (w->csv_open) kx_afile_abort(&w->csv);
    if (w->pq) kx_pq_sink_abort(w->pq);
    kx_buf_free(&w->csvbuf);
    free_parallel(w);
    free(w);
}
