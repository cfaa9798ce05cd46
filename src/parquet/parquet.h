/* parquet.h — a small native Apache Parquet writer and reader for flat tables.
 *
 * Format subset (details and limits: docs/parquet.md):
 *   - flat schemas (a root group and one leaf per column), REQUIRED or OPTIONAL leaves;
 *   - physical types BOOLEAN, INT32, INT64, DOUBLE, BYTE_ARRAY (optionally annotated as
 *     UTF8 / logical STRING);
 *   - writer: data page v1, PLAIN or dictionary (PLAIN dictionary page + RLE_DICTIONARY data
 *     pages, falling back to PLAIN once the dictionary would exceed 1 MiB), definition levels
 *     in the RLE/bit-packed hybrid with a 4-byte length, codecs ZSTD / SNAPPY / none,
 *     column-chunk statistics and TypeDefinedOrder column orders;
 *   - reader: also data page v2, PLAIN_DICTIONARY, RLE-encoded booleans and GZIP; any
 *     footer field it does not need is skipped.
 *
 * Writer: rows go in by batches of column arrays (kx_pqw_write); each row group's encoded
 * pages are buffered per column and flushed when the group is full, so memory stays bounded
 * by one row group. The file is written under a temporary name and renamed into place by
 * kx_pqw_commit (kx_afile), so readers never see a partial file.
 *
 * Reader: kx_pqr_open parses and validates the footer (every offset, length and count is
 * checked against the file size and the limits below); kx_pqr_read_column decodes one
 * column chunk of one row group. Corrupt, truncated or hostile input yields -1/NULL with a
 * message in kx_err, never a crash or an allocation beyond the limits.
 */
#ifndef KX_PARQUET_H
#define KX_PARQUET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* Physical types (parquet.thrift Type). */
typedef enum kx_pq_type {
    KX_PQ_BOOLEAN = 0, KX_PQ_INT32 = 1, KX_PQ_INT64 = 2, KX_PQ_INT96 = 3, KX_PQ_FLOAT = 4,
    KX_PQ_DOUBLE = 5, KX_PQ_BYTE_ARRAY = 6, KX_PQ_FIXED_LEN_BYTE_ARRAY = 7
} kx_pq_type;

/* Compression codecs (parquet.thrift CompressionCodec). */
enum { KX_PQ_CODEC_NONE = 0, KX_PQ_CODEC_SNAPPY = 1, KX_PQ_CODEC_GZIP = 2, KX_PQ_CODEC_ZSTD = 6 };

/* Encodings (parquet.thrift Encoding). */
enum {
    KX_PQ_ENC_PLAIN = 0, KX_PQ_ENC_PLAIN_DICTIONARY = 2, KX_PQ_ENC_RLE = 3,
    KX_PQ_ENC_BIT_PACKED = 4, KX_PQ_ENC_RLE_DICTIONARY = 8
};

/* Byte-array value (strings). Not NUL-terminated. */
typedef struct kx_pq_bytes {
    const char *ptr;
    uint32_t len;
} kx_pq_bytes;

const char *kx_pq_type_name(int type);
const char *kx_pq_codec_name(int codec);
const char *kx_pq_encoding_name(int enc);

/* ==== writer ================================================================================ */

typedef struct kx_pq_colspec {
    const char *name; /* verbatim, any UTF-8 */
    kx_pq_type type;  /* BOOLEAN, INT32, INT64, DOUBLE or BYTE_ARRAY */
    bool optional;    /* OPTIONAL (nullable) or REQUIRED */
    bool utf8;        /* BYTE_ARRAY: annotate as UTF8 / STRING */
    bool dictionary;  /* try dictionary encoding (falls back to PLAIN past 1 MiB) */
} kx_pq_colspec;

typedef struct kx_pq_kv {
    const char *key, *value;
} kx_pq_kv;

typedef struct kx_pqw_opts {
    int codec;               /* KX_PQ_CODEC_*: ZSTD, SNAPPY or NONE (opts NULL → ZSTD) */
    int zstd_level;          /* 0 → 1 */
    int64_t row_group_rows;  /* ≤ 0 → 65536 */
    size_t page_bytes;       /* target uncompressed data page size; 0 → 1 MiB */
    size_t dict_max_bytes;   /* dictionary limit (PLAIN size); 0 → 1 MiB */
    const char *created_by;  /* NULL → "keyetl version <v> (build <id>)" */
    const kx_pq_kv *kv;      /* footer key/value metadata (may be NULL) */
    size_t nkv;
    int workers;             /* encoding threads / worker slots; ≤ 1 → sequential. The file
                                is byte-identical for every value. */
} kx_pqw_opts;

/* One column of a batch: values points to nrows elements of uint8_t (BOOLEAN, 0/1),
 * int32_t, int64_t, double or kx_pq_bytes; valid (OPTIONAL columns only; NULL = all present)
 * marks nulls with 0. Null slots of values are ignored. */
typedef struct kx_pq_values {
    const void *values;
    const uint8_t *valid;
} kx_pq_values;

typedef struct kx_pqw kx_pqw;

/* Creates the file (under a temporary name). The specs are copied. */
kx_pqw *kx_pqw_open(const char *path, const kx_pq_colspec *cols, size_t ncols,
                    const kx_pqw_opts *opts, kx_err *err);
/* Appends nrows rows. With opts.workers > 1, the columns of large batches are encoded on
 * the writer's own threads (created at the first such batch). On failure the message is
 * that of the lowest failing column; the writer must then be aborted. */
int kx_pqw_write(kx_pqw *w, size_t nrows, const kx_pq_values *cols, kx_err *err);

/* Parallel writing driven by the caller (kx_tw mixes Parquet columns with CSV chunks on one
 * pool). kx_pqw_write is exactly this loop:
 *     while rows remain:
 *         n = kx_pqw_segment_rows(w, rows left)          never crosses a row group end
 *         kx_pqw_put_column(w, j, from, n, &cols[j], slot, err) for every column j — in any
 *             order, concurrently for distinct columns on distinct slots < kx_pqw_slots(w)
 *         kx_pqw_end_segment(w, n, err)                  after all columns; sequential
 * put_column encodes rows [from, from + n) of one batch column (indexes into cols[j]) and,
 * when the segment completes the row group, seals the column's chunk. end_segment writes a
 * completed row group to the file. After any failure the writer must be aborted. */
size_t kx_pqw_segment_rows(const kx_pqw *w, size_t nrows);
int kx_pqw_slots(const kx_pqw *w); /* opts.workers, at least 1 */
int kx_pqw_put_column(kx_pqw *w, size_t col, size_t from, size_t n, const kx_pq_values *v, int slot,
                      kx_err *err);
int kx_pqw_end_segment(kx_pqw *w, size_t n, kx_err *err);
/* Flushes the last row group, writes the footer, renames into place, frees w (always). */
int kx_pqw_commit(kx_pqw *w, kx_err *err);
/* Deletes the temporary file and frees w. */
void kx_pqw_abort(kx_pqw *w);

/* ==== copying writer (writer_copy.c) =========================================================
 * A file holding all columns of an open source file (kx_pqr) plus new INT64 columns, same
 * rows, same row groups: each source column chunk is copied byte for byte (its metadata
 * re-emitted with rebased offsets), only the new columns are encoded. Values of the new
 * columns go in in row order (any batch sizes); each source row group is written as soon as
 * its rows are complete. The source must stay open until commit/abort. New columns: INT64
 * (REQUIRED or OPTIONAL, dictionary-encoded up to 65,536 distinct values per chunk, else
 * PLAIN); opts as for kx_pqw (codec of the new columns, key/value metadata, created_by). */
typedef struct kx_pqr kx_pqr;
typedef struct kx_pqc kx_pqc;
kx_pqc *kx_pqc_open(const char *path, kx_pqr *src, const kx_pq_colspec *extra, size_t nextra,
                    const kx_pqw_opts *opts, kx_err *err);
int kx_pqc_write(kx_pqc *w, size_t nrows, const kx_pq_values *extra, kx_err *err);
/* Fails unless exactly the source's row count was written; then as kx_pqw_commit. */
int kx_pqc_commit(kx_pqc *w, kx_err *err);
void kx_pqc_abort(kx_pqc *w);

/* ==== reader ================================================================================ */

/* Hard limits against hostile files (a file exceeding them is rejected with a message). */
#define KX_PQR_MAX_FOOTER (64u << 20)     /* footer bytes */
#define KX_PQR_MAX_COLUMNS 100000u
#define KX_PQR_MAX_ROW_GROUP_ROWS (1ll << 28)
#define KX_PQR_MAX_PAGE_BYTES (256u << 20) /* uncompressed page */

typedef struct kx_pq_stats {
    bool has_null_count, has_min, has_max, min_is_deprecated;
    int64_t null_count;
    kx_pq_bytes min, max; /* PLAIN-encoded (no length prefix), point into the footer */
} kx_pq_stats;

typedef struct kx_pq_chunk {
    int type, codec;
    int encodings[16];
    int nencodings;
    int64_t num_values, total_uncompressed, total_compressed;
    int64_t data_page_offset, dictionary_page_offset; /* -1 when absent */
    kx_pq_stats stats;
    /* The chunk's ColumnMetaData struct as stored (Thrift compact bytes, STOP included),
     * pointing into the reader's footer copy: lets a writer copy the chunk and re-emit its
     * metadata field for field (writer_copy.c). Its byte range in the file is
     * [start, start + total_compressed) with start = the dictionary page offset if
     * present (>= 0), else the data page offset (both validated at open). */
    const uint8_t *raw_meta;
    uint32_t raw_meta_len;
} kx_pq_chunk;

typedef struct kx_pq_rowgroup {
    int64_t num_rows, total_byte_size;
    kx_pq_chunk *chunks; /* ncolumns */
} kx_pq_rowgroup;

typedef struct kx_pq_column {
    char *name;
    int type;           /* kx_pq_type */
    int repetition;     /* 0 REQUIRED, 1 OPTIONAL */
    int converted_type; /* -1 none; 0 UTF8, ... */
    int logical_type;   /* -1 none; else the LogicalType union field id (1 STRING, 10 INTEGER) */
    int int_bits;       /* INTEGER logical type: bit width, signedness */
    bool int_signed;
    int type_length;
    const uint8_t *raw_schema; /* the SchemaElement as stored (like kx_pq_chunk.raw_meta) */
    uint32_t raw_schema_len;
} kx_pq_column;

typedef struct kx_pq_meta {
    int32_t version;
    int64_t num_rows;
    size_t ncolumns;
    kx_pq_column *columns;
    size_t nrowgroups;
    kx_pq_rowgroup *rowgroups;
    char *created_by; /* NULL when absent */
    size_t nkv;
    char **keys, **values; /* values[i] may be NULL */
    bool has_column_orders;
    uint64_t file_size;
    uint32_t footer_len;
} kx_pq_meta;

/* Decoded column chunk. values: nvalues elements (uint8_t / int32_t / int64_t / double /
 * kx_pq_bytes), one per row, null rows have valid[i] == 0 and a zero value. Strings point
 * into memory owned by the colbuf. */
typedef struct kx_pq_colbuf {
    int type;
    size_t n;
    uint8_t *valid;
    void *values;
    void **owned; /* page buffers strings point into */
    size_t nowned, capowned;
} kx_pq_colbuf;

typedef struct kx_pqr kx_pqr;

kx_pqr *kx_pqr_open(const char *path, kx_err *err);
/* Reads from memory (not copied; must outlive the reader). name is used in messages. */
kx_pqr *kx_pqr_open_mem(const void *data, size_t len, const char *name, kx_err *err);
const kx_pq_meta *kx_pqr_meta(const kx_pqr *r);
const char *kx_pqr_name(const kx_pqr *r);
/* The file descriptor of a file reader (-1 for a memory reader): for in-kernel copies. */
int kx_pqr_fd(const kx_pqr *r);
/* Reads n raw bytes at offset off (bounds-checked against the file size). */
int kx_pqr_read_bytes(kx_pqr *r, uint64_t off, void *dst, size_t n, kx_err *err);
/* Column index by name, -1 if absent. */
long kx_pqr_find_column(const kx_pqr *r, const char *name);
/* Decodes column col of row group rg into out (replacing its previous contents). */
int kx_pqr_read_column(kx_pqr *r, size_t rg, size_t col, kx_pq_colbuf *out, kx_err *err);
/* Decodes columns cols[0..n) of row group rg into outs[0..n), on up to `workers` threads
 * (each column is independent and has its own scratch, so the result does not depend on
 * workers). On failure the message is that of the lowest failing index; outs of failed
 * columns are emptied, the others stay filled (free them all with kx_pq_colbuf_free). */
int kx_pqr_read_columns(kx_pqr *r, size_t rg, const size_t *cols, size_t n, kx_pq_colbuf *outs, int workers,
                        kx_err *err);
void kx_pq_colbuf_free(kx_pq_colbuf *c);
void kx_pqr_close(kx_pqr *r);

#endif
