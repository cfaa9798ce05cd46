/* table.h — columnar batches and the multi-format table writer.
 *
 * Every table keyetl writes (keypairs, feature tables, kvc) goes through kx_tw: one call
 * per batch of rows, and the same values reach the Parquet file and the CSV file, so the
 * two formats hold identical data by construction (spec 04 §5). Both files are written
 * under temporary names and appear only on kx_tw_commit.
 */
#ifndef KX_IO_TABLE_H
#define KX_IO_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef enum kx_coltype { KX_COL_BOOL, KX_COL_INT64, KX_COL_DOUBLE, KX_COL_STRING } kx_coltype;

typedef struct kx_strref {
    const char *ptr;
    uint32_t len;
} kx_strref;

typedef struct kx_colspec {
    const char *name;
    kx_coltype type;
} kx_colspec;

/* One column of a batch. values points to nrows elements of: uint8_t (bool, 0/1),
 * int64_t, double or kx_strref. A row is null when valid != NULL && valid[i] == 0, or,
 * for DOUBLE columns with nan_is_null, when the value is NaN. Strings may be any bytes:
 * writers apply the UTF-8 fallback rule of 04 §1. */
typedef struct kx_column {
    const void *values;
    const uint8_t *valid;
    bool nan_is_null;
} kx_column;

typedef struct kx_table_opts {
    bool parquet;
    bool csv;
    int compression;        /* KX_CODEC_* of pipeline/config.h */
    int64_t row_group_rows; /* Parquet row group size */
    const char *table_name; /* footer key fpd.table, e.g. "keypairs" */
    int workers;            /* threads for formatting/encoding a batch (a pool kept by the
                               writer: CSV chunks and one item per Parquet column); 0/1 =
                               sequential. The files are byte-identical for every value. */
} kx_table_opts;

typedef struct kx_tw kx_tw;

/* Opens <dir>/<base>.parquet and/or <dir>/<base>.csv (per opts) for writing. The column
 * specs (and their names) must stay valid until commit/abort. */
kx_tw *kx_tw_open(const char *dir, const char *base, const kx_colspec *cols, size_t ncols,
                  const kx_table_opts *opts, kx_err *err);
int kx_tw_write(kx_tw *w, size_t nrows, const kx_column *cols, kx_err *err);
/* CSV bytes produced so far (header included), or -1 when no CSV file is written. */
int64_t kx_tw_csv_pos(const kx_tw *w);
/* Appends CSV rows formatted earlier by a writer with the same columns (incremental reuse
 * copies them byte for byte). Only for CSV-only writers (fails if Parquet is also open). */
int kx_tw_write_csv_bytes(kx_tw *w, const void *p, size_t n, kx_err *err);
/* Finishes both files and renames them into place; frees w (also on failure). */
int kx_tw_commit(kx_tw *w, kx_err *err);
/* Removes the temporary files and frees w. */
void kx_tw_abort(kx_tw *w);

/* CSV only, for the always-CSV diagnostic tables: write one batch as CSV rows (no header)
 * into out, with the rules of 04 §3. */
struct kx_buf;
void kx_csv_put_header(struct kx_buf *out, const kx_colspec *cols, size_t ncols);
void kx_csv_put_rows(struct kx_buf *out, const kx_colspec *cols, size_t ncols, size_t nrows,
                     const kx_column *data);

#endif
