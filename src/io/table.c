#include "io/table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/fs.h"
#include "io/text.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/pool.h"

struct kx_tw {
    const kx_colspec *cols;
    size_t ncols;
    kx_table_opts opts;
    bool csv_open;
    kx_afile csv;
    kx_buf csvbuf;
    int64_t csv_flushed;   /* CSV bytes already handed to the file */
    struct kx_pq_sink *pq; /* Parquet side; see table_parquet.c */
    kx_buf *chunks;        /* CSV chunk buffers of parallel writes, reused across batches */
    size_t nchunks_cap;
};

/* Parquet side hooks, implemented next to the Parquet writer (table_parquet.c). */
struct kx_pq_sink *kx_pq_sink_open(const char *path, const kx_colspec *cols, size_t ncols,
                                   const kx_table_opts *opts, kx_err *err);
int kx_pq_sink_write(struct kx_pq_sink *s, size_t nrows, const kx_column *cols, kx_err *err);
int kx_pq_sink_commit(struct kx_pq_sink *s, kx_err *err);
void kx_pq_sink_abort(struct kx_pq_sink *s);

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

static void free_chunks(kx_tw *w)
{
    for (size_t k = 0; k < w->nchunks_cap; k++) kx_buf_free(&w->chunks[k]);
    free(w->chunks);
}

static int flush_csv(kx_tw *w, kx_err *err)
{
    int rc = kx_afile_write(&w->csv, w->csvbuf.data, w->csvbuf.len, err);
    w->csv_flushed += (int64_t)w->csvbuf.len;
    kx_buf_reset(&w->csvbuf);
    return rc;
}

/* Parallel batch writing (opts.workers > 1). A batch is cut into work items run by
 * kx_parallel_for: item 0 is the whole Parquet side (when open), the others format
 * consecutive row ranges of the CSV side into their own buffers, appended afterwards in
 * row order. Every item touches only its own state, so the bytes are those of the
 * sequential writer. Small batches stay sequential (thread start-up would dominate). */
#define CSV_CHUNK_ROWS 2048
#define MAX_CSV_CHUNKS 64
#define MIN_PARALLEL_ROWS 1024

typedef struct batch_job {
    kx_tw *w;
    size_t nrows;
    const kx_column *cols;
    bool with_pq;      /* item 0 is the Parquet side */
    size_t nchunks;    /* CSV chunks */
    size_t chunk_rows;
    kx_buf *bufs;      /* per CSV chunk */
    int pq_rc;
    kx_err pq_err;
} batch_job;

static void batch_item(void *arg, size_t index)
{
    batch_job *j = arg;
    if (j->with_pq) {
        if (index == 0) {
            j->pq_rc = kx_pq_sink_write(j->w->pq, j->nrows, j->cols, &j->pq_err);
            return;
        }
        index--;
    }
    size_t from = index * j->chunk_rows;
    size_t n = j->nrows - from < j->chunk_rows ? j->nrows - from : j->chunk_rows;
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
    kx_csv_put_rows(&j->bufs[index], j->w->cols, j->w->ncols, n, part);
    free(part);
}

/* Returns 1 when the batch was written in parallel, 0 when the caller should write it
 * sequentially, -1 on error. */
static int write_parallel(kx_tw *w, size_t nrows, const kx_column *cols, kx_err *err)
{
    if (w->opts.workers < 2 || nrows < MIN_PARALLEL_ROWS) return 0;
    size_t nchunks = 0, chunk_rows = CSV_CHUNK_ROWS;
    if (w->csv_open) {
        nchunks = (nrows + chunk_rows - 1) / chunk_rows;
        if (nchunks > MAX_CSV_CHUNKS) {
            nchunks = MAX_CSV_CHUNKS;
            chunk_rows = (nrows + nchunks - 1) / nchunks;
            nchunks = (nrows + chunk_rows - 1) / chunk_rows;
        }
    }
    size_t items = nchunks + (w->pq ? 1 : 0);
    if (items < 2) return 0;
    batch_job j = {.w = w, .nrows = nrows, .cols = cols, .with_pq = w->pq != NULL,
                   .nchunks = nchunks, .chunk_rows = chunk_rows};
    if (nchunks > w->nchunks_cap) {
        w->chunks = kx_realloc(w->chunks, nchunks * sizeof *w->chunks);
        memset(w->chunks + w->nchunks_cap, 0, (nchunks - w->nchunks_cap) * sizeof *w->chunks);
        w->nchunks_cap = nchunks;
    }
    j.bufs = w->chunks;
    kx_parallel_for(w->opts.workers, items, batch_item, &j);
    int rc = 0;
    for (size_t k = 0; k < nchunks; k++) {
        kx_buf_put(&w->csvbuf, j.bufs[k].data, j.bufs[k].len);
        kx_buf_reset(&j.bufs[k]);
        if (rc == 0 && w->csvbuf.len > (1u << 20) && flush_csv(w, err) != 0) rc = -1;
    }
    if (rc == 0 && j.with_pq && j.pq_rc != 0) {
        *err = j.pq_err;
        rc = -1;
    }
    return rc == 0 ? 1 : -1;
}

int kx_tw_write(kx_tw *w, size_t nrows, const kx_column *cols, kx_err *err)
{
    int par = write_parallel(w, nrows, cols, err);
    if (par != 0) return par < 0 ? -1 : 0;
    if (w->csv_open) {
        kx_csv_put_rows(&w->csvbuf, w->cols, w->ncols, nrows, cols);
        if (w->csvbuf.len > (1u << 20) && flush_csv(w, err) != 0) return -1;
    }
    if (w->pq && kx_pq_sink_write(w->pq, nrows, cols, err) != 0) return -1;
    return 0;
}

int64_t kx_tw_csv_pos(const kx_tw *w)
{
    return w->csv_open ? w->csv_flushed + (int64_t)w->csvbuf.len : -1;
}

int kx_tw_write_csv_bytes(kx_tw *w, const void *p, size_t n, kx_err *err)
{
    if (!w->csv_open || w->pq) return kx_fail(err, "raw CSV rows need a CSV-only table writer");
    kx_buf_put(&w->csvbuf, p, n);
    if (w->csvbuf.len > (1u << 20)) return flush_csv(w, err);
    return 0;
}

int kx_tw_commit(kx_tw *w, kx_err *err)
{
    int rc = 0;
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
    free_chunks(w);
    free(w);
    return rc;
}

void kx_tw_abort(kx_tw *w)
{
    if (!w) return;
    if (w->csv_open) kx_afile_abort(&w->csv);
    if (w->pq) kx_pq_sink_abort(w->pq);
    kx_buf_free(&w->csvbuf);
    free_chunks(w);
    free(w);
}
