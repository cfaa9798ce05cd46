/* table_read_parquet.h — Parquet side of the table reader (table_read.h).
 *
 * Reads a Parquet file row group by row group into kx_column arrays for the wanted columns
 * (by name, in want order). Type mapping: KX_COL_BOOL ← BOOLEAN, KX_COL_INT64 ← INT64 (or
 * INT32, widened), KX_COL_DOUBLE ← DOUBLE, KX_COL_STRING ← BYTE_ARRAY. Nulls come back as
 * valid[i] == 0 (valid arrays are always set; nan_is_null is false).
 */
#ifndef KX_IO_TABLE_READ_PARQUET_H
#define KX_IO_TABLE_READ_PARQUET_H

#include "io/table.h"

typedef struct kx_pq_source kx_pq_source;

/* Opens path; maps each wanted column by name, checks its type; error if missing/mismatch. */
kx_pq_source *kx_pq_source_open(const char *path, const kx_colspec *want, size_t nwant, kx_err *err);
/* Same, decoding the wanted columns of each row group on up to `workers` threads (same
 * result for any count). kx_pq_source_open uses 1. */
kx_pq_source *kx_pq_source_open_workers(const char *path, const kx_colspec *want, size_t nwant, int workers,
                                        kx_err *err);
/* Next row group as kx_column arrays in want order (valid arrays always set, strings point
 * into source memory valid until the next call). Returns rows, 0 at end, -1 on error. */
long kx_pq_source_next(kx_pq_source *s, kx_column *out, kx_err *err);
void kx_pq_source_close(kx_pq_source *s);

/* Every column of path as a kx_colspec (BOOLEAN, INT32/INT64, DOUBLE, BYTE_ARRAY; other
 * types are an error). Free with kx_pq_colspecs_free (names are owned). */
int kx_pq_table_columns(const char *path, kx_colspec **cols, size_t *ncols, kx_err *err);
void kx_pq_colspecs_free(kx_colspec *cols, size_t ncols);

#endif
