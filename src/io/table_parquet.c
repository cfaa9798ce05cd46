/* table_parquet.c — Parquet side of the table writer (kx_tw).
 *
 * Placeholder until the Parquet writer lands (issue 3): opening a Parquet sink fails with a
 * clear message, so OUTPUT_FORMATS=csv works and parquet is reported as unavailable. */
#include <stdlib.h>

#include "io/table.h"

struct kx_pq_sink;
struct kx_pq_sink *kx_pq_sink_open(const char *path, const kx_colspec *cols, size_t ncols,
                                   const kx_table_opts *opts, kx_err *err);
int kx_pq_sink_write(struct kx_pq_sink *s, size_t nrows, const kx_column *cols, kx_err *err);
int kx_pq_sink_commit(struct kx_pq_sink *s, kx_err *err);
void kx_pq_sink_abort(struct kx_pq_sink *s);

struct kx_pq_sink *kx_pq_sink_open(const char *path, const kx_colspec *cols, size_t ncols,
                                   const kx_table_opts *opts, kx_err *err)
{
    (void)cols; (void)ncols; (void)opts;
    kx_fail(err, "cannot write %s: Parquet output is not available in this build", path);
    return NULL;
}

int kx_pq_sink_write(struct kx_pq_sink *s, size_t nrows, const kx_column *cols, kx_err *err)
{
    (void)s; (void)nrows; (void)cols;
    return kx_fail(err, "Parquet output is not available in this build");
}

int kx_pq_sink_commit(struct kx_pq_sink *s, kx_err *err)
{
    (void)s;
    return kx_fail(err, "Parquet output is not available in this build");
}

void kx_pq_sink_abort(struct kx_pq_sink *s) { (void)s; }
