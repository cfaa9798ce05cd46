/* table_read.h — reading a table keyetl wrote, from Parquet if present, else CSV.
 *
 * The caller names the columns it wants (name + expected type); batches come back in that
 * order, as kx_column arrays like the writer takes. Both formats hold identical values
 * (spec 04 §5), so a stage gets the same data whichever file exists. In CSV, an empty
 * field is null (strings included).
 */
#ifndef KX_IO_TABLE_READ_H
#define KX_IO_TABLE_READ_H

#include "io/table.h"

typedef struct kx_table_reader kx_table_reader;

/* Opens <dir>/<base>.parquet if it exists, else <dir>/<base>.csv. Fails if neither exists,
 * a wanted column is missing, or its type differs. */
kx_table_reader *kx_tr_open(const char *dir, const char *base, const kx_colspec *want, size_t nwant,
                            kx_err *err);
/* Same, decoding a Parquet row group's columns on up to `workers` threads (the result does
 * not depend on the count; CSV ignores it). kx_tr_open uses 1. */
kx_table_reader *kx_tr_open_workers(const char *dir, const char *base, const kx_colspec *want, size_t nwant,
                                    int workers, kx_err *err);
/* Reads the next batch (at most a row group / a few thousand CSV rows). Fills out[nwant]
 * (valid arrays always set; strings point into reader memory, valid until the next
 * call). Returns the number of rows, 0 at the end, -1 on error. */
long kx_tr_next(kx_table_reader *r, kx_column *out, kx_err *err);
/* Path of the file being read. */
const char *kx_tr_path(const kx_table_reader *r);
void kx_tr_close(kx_table_reader *r);

#endif
