/* pq_internal.h — building blocks shared by the Parquet writer and reader (not public):
 * the Thrift compact protocol (encoder on kx_buf, bounds-checked decoder), the RLE/bit-packed
 * hybrid encoding, and page compression codecs.
 *
 * Thrift compact protocol (apache/thrift doc/specs/thrift-compact-protocol.md):
 *   - integers are ULEB128 varints; i16/i32/i64 are zigzag-encoded first;
 *   - a field header is one byte (delta << 4 | type) when the field id is 1..15 above the
 *     previous field id of the same struct, else the type byte followed by the zigzag
 *     varint i16 id; booleans carry their value in the type (1 true, 2 false);
 *   - a list header is (size << 4 | elem type) for size < 15, else 0xF0 | type + varint size;
 *   - a struct ends with a 0 byte (STOP).
 */
#ifndef KX_PARQUET_INTERNAL_H
#define KX_PARQUET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/fs.h"
#include "parquet/parquet.h"
#include "util/buf.h"
#include "util/err.h"

/* Compact-protocol type ids. */
enum {
    KX_THR_STOP = 0, KX_THR_TRUE = 1, KX_THR_FALSE = 2, KX_THR_BYTE = 3, KX_THR_I16 = 4,
    KX_THR_I32 = 5, KX_THR_I64 = 6, KX_THR_DOUBLE = 7, KX_THR_BINARY = 8, KX_THR_LIST = 9,
    KX_THR_SET = 10, KX_THR_MAP = 11, KX_THR_STRUCT = 12
};

#define KX_THR_MAX_DEPTH 32

/* ---- encoder ------------------------------------------------------------------------------ */
typedef struct kx_thr_enc {
    kx_buf *out;
    int depth;
    int16_t last[KX_THR_MAX_DEPTH]; /* last field id per open struct */
} kx_thr_enc;

void kx_thr_enc_init(kx_thr_enc *e, kx_buf *out);
void kx_thr_put_varint(kx_buf *out, uint64_t v);
uint64_t kx_thr_zigzag(int64_t v);
void kx_thr_field(kx_thr_enc *e, int16_t id, int type);
void kx_thr_i32(kx_thr_enc *e, int16_t id, int32_t v);
void kx_thr_i64(kx_thr_enc *e, int16_t id, int64_t v);
void kx_thr_bool(kx_thr_enc *e, int16_t id, bool v);
void kx_thr_binary(kx_thr_enc *e, int16_t id, const void *p, size_t n);
void kx_thr_string(kx_thr_enc *e, int16_t id, const char *s);
/* Opens a struct-valued field (id > 0) or a struct list element (id == 0). */
void kx_thr_struct_begin(kx_thr_enc *e, int16_t id);
void kx_thr_struct_end(kx_thr_enc *e); /* writes STOP and pops */
void kx_thr_list_begin(kx_thr_enc *e, int16_t id, int elem_type, size_t n);
void kx_thr_elem_i32(kx_thr_enc *e, int32_t v);
void kx_thr_elem_binary(kx_thr_enc *e, const void *p, size_t n);

/* ---- decoder ------------------------------------------------------------------------------ */
typedef struct kx_thr_dec {
    const uint8_t *p, *end;
    int depth;
    bool failed;
    const char *why; /* first failure */
} kx_thr_dec;

void kx_thr_dec_init(kx_thr_dec *d, const void *p, size_t n);
uint64_t kx_thr_get_varint(kx_thr_dec *d);
int64_t kx_thr_get_zigzag(kx_thr_dec *d);
/* Reads a field header: returns false at STOP (or on failure). *last tracks the field id. */
bool kx_thr_next_field(kx_thr_dec *d, int16_t *last, int16_t *id, int *type);
int32_t kx_thr_get_i32(kx_thr_dec *d, int type);
int64_t kx_thr_get_i64(kx_thr_dec *d, int type);
bool kx_thr_get_bool(kx_thr_dec *d, int type);
/* Binary/string: returns a pointer into the input, length in *n (bounds-checked). */
const uint8_t *kx_thr_get_binary(kx_thr_dec *d, int type, uint32_t *n);
/* List header: element type and count (count checked against the remaining input). */
bool kx_thr_get_list(kx_thr_dec *d, int type, int *elem_type, uint32_t *n);
/* Skips one value of the given type (nested structs bounded by KX_THR_MAX_DEPTH). */
void kx_thr_skip(kx_thr_dec *d, int type);
void kx_thr_fail(kx_thr_dec *d, const char *why);
bool kx_thr_enter(kx_thr_dec *d); /* depth++ with limit */
void kx_thr_leave(kx_thr_dec *d);

/* ---- RLE / bit-packed hybrid --------------------------------------------------------------- */
/* Encodes n values of bit_width (0..32) bits; no length prefix. */
void kx_rle_encode(kx_buf *out, const uint32_t *v, size_t n, int bit_width);
void kx_rle_encode_u8(kx_buf *out, const uint8_t *v, size_t n, int bit_width);
/* Decodes exactly n values from [p, p+len) into out. Returns 0, or -1 if the input is short,
 * malformed, or a value exceeds max_value. */
int kx_rle_decode(const uint8_t *p, size_t len, int bit_width, uint32_t *out, size_t n,
                  uint32_t max_value);
int kx_bit_width(uint32_t max_value);

/* ---- codecs ------------------------------------------------------------------------------- */
/* codec: Parquet CompressionCodec (0 none, 1 snappy, 2 gzip, 6 zstd). Compress appends to out. */
/* zstd_cctx: a ZSTD_CCtx to reuse, or NULL. */
int kx_pq_compress(int codec, int level, void *zstd_cctx, const void *src, size_t n, kx_buf *out,
                   kx_err *err);
int kx_pq_decompress(int codec, const void *src, size_t n, void *dst, size_t dst_len,
                     kx_err *err);

/* ---- metadata pieces both writers emit (writer.c, writer_copy.c) --------------------------- */
/* Appends v as 4 little-endian bytes (level and BYTE_ARRAY length prefixes). */
void kx_pq_put_u32le(kx_buf *b, uint32_t v);
/* Appends a PageHeader + STOP to hdr: page_type 0 = v1 data page (DataPageHeader with RLE
 * definition/repetition levels), 2 = dictionary page (DictionaryPageHeader). */
void kx_pq_put_page_header(kx_buf *hdr, int page_type, size_t body_len, size_t comp_len, size_t num_values,
                           int encoding);
/* A SchemaElement list element for a flat column (type, repetition, name; UTF8/STRING
 * annotation for BYTE_ARRAY columns marked utf8). */
void kx_pq_put_schema_element(kx_thr_enc *e, const kx_pq_colspec *s);

/* What the footer says about one column chunk a writer encoded. */
typedef struct kx_pq_chunk_meta {
    const char *name;
    int type, codec;
    unsigned encodings; /* bit per Encoding value, listed in ascending order */
    int64_t file_offset, data_page_offset, dict_page_offset; /* dict: -1 if none */
    int64_t num_values, total_uncompressed, total_compressed, nulls;
    bool has_minmax;
    const void *min, *max; /* PLAIN-encoded statistics values */
    uint32_t minlen, maxlen;
} kx_pq_chunk_meta;

/* A ColumnChunk list element (file_offset, ColumnMetaData with Statistics). */
void kx_pq_put_column_chunk(kx_thr_enc *e, const kx_pq_chunk_meta *m);

/* The footer's identity fields, owned copies of a kx_pqw_opts' (created_by defaults to
 * "keyetl version <v> (build <id>)"). */
typedef struct kx_pq_footer_ids {
    char *created_by;
    kx_pq_kv *kv;
    size_t nkv;
} kx_pq_footer_ids;
void kx_pq_footer_ids_copy(kx_pq_footer_ids *ids, const kx_pqw_opts *opts);
void kx_pq_footer_ids_free(kx_pq_footer_ids *ids);

/* FileMetaData fields 5–7 and the closing STOP: key/value metadata (when nkv > 0),
 * created_by, and with `orders` a TypeDefinedOrder ColumnOrder for each of ncols columns. */
void kx_pq_put_footer_tail(kx_thr_enc *e, const kx_pq_kv *kv, size_t nkv, const char *created_by, bool orders,
                           size_t ncols);

/* ---- page encoding both writers share ------------------------------------------------------- */
/* Buffers for encoding one page: its uncompressed body, the compressed bytes, the header, and
 * a zstd context created at the first zstd page. */
typedef struct kx_pq_page_buf {
    kx_buf body, comp, hdr;
    void *zctx;
} kx_pq_page_buf;
void kx_pq_page_buf_free(kx_pq_page_buf *b);
/* Appends definition levels (bit width 1, RLE/bit-packed hybrid) with their 4-byte length. */
void kx_pq_put_def_levels(kx_buf *body, const uint8_t *defs, size_t n);
/* Compresses b->body with codec/level and appends header + compressed bytes to out
 * (page_type 0 data page v1, 2 dictionary page); adds header + body sizes to *unc_total.
 * path names the file in the "page too large" message. */
int kx_pq_emit_page(kx_pq_page_buf *b, int codec, int level, kx_buf *out, int page_type, size_t num_values,
                    int encoding, int64_t *unc_total, const char *path, kx_err *err);

/* ---- the output file both writers produce ---------------------------------------------------- */
/* opts, or the defaults (ZSTD) when NULL; NULL with err set if its codec cannot be written. */
const kx_pqw_opts *kx_pq_opts_or_default(const char *path, const kx_pqw_opts *opts, kx_pqw_opts *def, kx_err *err);

/* A Parquet file being written: under a temporary name (kx_afile) until finished, with the
 * offset of the next byte (the footer records page and chunk offsets). */
typedef struct kx_pq_out {
    kx_afile file;
    uint64_t offset;
} kx_pq_out;

/* Creates the file and writes the leading magic "PAR1". */
int kx_pq_out_open(kx_pq_out *o, const char *path, kx_err *err);
int kx_pq_out_write(kx_pq_out *o, const void *p, size_t n, kx_err *err);
/* With rc == 0: appends the footer, its 4-byte length and "PAR1" and renames the file into
 * place. Otherwise, or when that fails, deletes it. Returns the final status. */
int kx_pq_out_finish(kx_pq_out *o, int rc, const kx_buf *footer, kx_err *err);
/* Deletes the temporary file. */
void kx_pq_out_abort(kx_pq_out *o);

#endif
