/* table_read_parquet.h — Parquet side of the table reader (io/table_read.h).
 *
 * A kx_pq_source reads a Parquet file keyetl wrote, row group by row group, returning the
 * wanted columns as kx_column arrays (valid arrays always set; strings point into source
 * memory, valid until the next call).
 */
#ifndef KX_IO_TABLE_READ_PARQUET_H
#define KX_IO_TABLE_READ_PARQUET_H

#include <stddef.h>

#include "io/table.h"
#include "util/err.h"

typedef struct kx_pq_source kx_pq_source;

/* Fails if the file cannot be read, a wanted column is missing or has another type. */
kx_pq_source *kx_pq_source_open(const char *path, const kx_colspec *want, size_t nwant, kx_err *err);
/* Rows in the next batch (one row group or part of one), 0 at the end, -1 on error. */
long kx_pq_source_next(kx_pq_source *s, kx_column *out, kx_err *err);
void kx_pq_source_close(kx_pq_source *s);

#endif
