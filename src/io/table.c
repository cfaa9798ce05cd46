#include "io/table.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/fs.h"
#include "io/text.h"
#include "util/buf.h"
#include "util/mem.h"

struct kx_tw {
    const kx_colspec *cols;
    size_t ncols;
    kx_table_opts opts;
    bool csv_open;
    kx_afile csv;
    kx_buf csvbuf;
    int64_t csv_flushed;   /* CSV bytes already handed to the file */
    struct kx_pq_sink *pq; /* Parquet side; see table_parquet.c */
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

static int flush_csv(kx_tw *w, kx_err *err)
{
    int rc = kx_afile_write(&w->csv, w->csvbuf.data, w->csvbuf.len, err);
    w->csv_flushed += (int64_t)w->csvbuf.len;
    kx_buf_reset(&w->csvbuf);
    return rc;
}

int kx_tw_write(kx_tw *w, size_t nrows, const kx_column *cols, kx_err *err)
{
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
    free(w);
    return rc;
}

void kx_tw_abort(kx_tw *w)
{
    if (!w) return;
    if (w->csv_open) kx_afile_abort(&w->csv);
    if (w->pq) kx_pq_sink_abort(w->pq);
    kx_buf_free(&w->csvbuf);
    free(w);
}
