/* table_parquet.c — Parquet side of the table writer (kx_tw), on top of src/parquet.
 *
 * Mapping (spec 04 §4): every column is OPTIONAL; KX_COL_BOOL → BOOLEAN, KX_COL_INT64 →
 * INT64, KX_COL_DOUBLE → DOUBLE, KX_COL_STRING → BYTE_ARRAY UTF8/STRING. A row is null when
 * valid[i] == 0, and a double is also null when it is not finite (the CSV writer prints
 * NaN/±inf as an empty field, so both formats agree; 04 §5). Strings go through the UTF-8
 * fallback rule (04 §1) exactly like CSV. Strings and INT64 columns try dictionary encoding.
 *
 * A batch is written by segments (rows within one row group, kx_pqw_segment_rows); each
 * column of a segment is one independent item — its null mask / UTF-8 fix-up (per column
 * scratch) and its encoding (kx_pqw_put_column on a worker slot) — so kx_tw can run the
 * columns on several threads, next to its CSV chunks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/pq_sink.h"
#include "io/table.h"
#include "io/text.h"
#include "parquet/parquet.h"
#include "pipeline/config.h"
#include "util/mem.h"

struct kx_pq_sink {
    kx_pqw *w;
    const kx_colspec *cols;
    size_t ncols;
    uint8_t **valid;      /* per column scratch (doubles) */
    kx_pq_bytes **strs;   /* per column scratch (strings) */
    size_t cap;           /* rows the scratch arrays hold */
    kx_buf *arena;        /* per column: sanitized strings of the current batch */
};

static int map_codec(int c)
{
    switch (c) {
    case KX_CODEC_SNAPPY: return KX_PQ_CODEC_SNAPPY;
    case KX_CODEC_NONE: return KX_PQ_CODEC_NONE;
    default: return KX_PQ_CODEC_ZSTD;
    }
}

static kx_pq_type map_type(kx_coltype t)
{
    switch (t) {
    case KX_COL_BOOL: return KX_PQ_BOOLEAN;
    case KX_COL_INT64: return KX_PQ_INT64;
    case KX_COL_DOUBLE: return KX_PQ_DOUBLE;
    default: return KX_PQ_BYTE_ARRAY;
    }
}

struct kx_pq_sink *kx_pq_sink_open(const char *path, const kx_colspec *cols, size_t ncols,
                                   const kx_table_opts *opts, kx_err *err)
{
    kx_pq_colspec *specs = kx_calloc(ncols ? ncols : 1, sizeof *specs);
    for (size_t j = 0; j < ncols; j++) {
        specs[j].name = cols[j].name;
        specs[j].type = map_type(cols[j].type);
        specs[j].optional = true;
        specs[j].utf8 = cols[j].type == KX_COL_STRING;
        specs[j].dictionary = cols[j].type == KX_COL_STRING || cols[j].type == KX_COL_INT64;
    }
    kx_pq_kv kv[2] = {{"fpd.table", opts->table_name}, {"fpd.schema_version", "1"}};
    kx_pqw_opts po = {
        .codec = map_codec(opts->compression),
        .row_group_rows = opts->row_group_rows,
        .kv = opts->table_name ? kv : kv + 1,
        .nkv = opts->table_name ? 2 : 1,
        .workers = opts->workers,
    };
    kx_pqw *w = kx_pqw_open(path, specs, ncols, &po, err);
    free(specs);
    if (!w) return NULL;
    struct kx_pq_sink *s = kx_calloc(1, sizeof *s);
    s->w = w;
    s->cols = cols;
    s->ncols = ncols;
    s->valid = kx_calloc(ncols ? ncols : 1, sizeof *s->valid);
    s->strs = kx_calloc(ncols ? ncols : 1, sizeof *s->strs);
    s->arena = kx_calloc(ncols ? ncols : 1, sizeof *s->arena);
    return s;
}

/* Sizes the per-column scratch for a batch of nrows (before its columns run in parallel). */
void kx_pq_sink_reserve(struct kx_pq_sink *s, size_t nrows)
{
    if (nrows <= s->cap) return;
    for (size_t j = 0; j < s->ncols; j++) {
        free(s->valid[j]);
        free(s->strs[j]);
        s->valid[j] = NULL;
        s->strs[j] = NULL;
        if (s->cols[j].type == KX_COL_DOUBLE) s->valid[j] = kx_malloc(nrows);
        if (s->cols[j].type == KX_COL_STRING) s->strs[j] = kx_malloc(nrows * sizeof(kx_pq_bytes));
    }
    s->cap = nrows;
}

/* Doubles: null also when not finite (NaN, ±inf), as in CSV. Rows [from, end). */
static const uint8_t *double_valid(uint8_t *scratch, const kx_column *c, size_t from, size_t end)
{
    const double *v = c->values;
    bool any = c->valid != NULL;
    for (size_t i = from; i < end && !any; i++) any = !isfinite(v[i]);
    if (!any) return NULL;
    for (size_t i = from; i < end; i++) scratch[i] = (uint8_t)((!c->valid || c->valid[i]) && isfinite(v[i]));
    return scratch;
}

/* kx_utf8_valid with an 8-bytes-at-a-time ASCII prefix scan (keys, ids and texts are
 * nearly always ASCII). */
static bool utf8_valid_fast(const char *p, size_t n)
{
    if (n == 0) return true; /* an empty string may come as {NULL, 0} */
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        if (x & 0x8080808080808080ull) break;
    }
    while (i < n && (unsigned char)p[i] < 0x80) i++;
    return i == n || kx_utf8_valid(p + i, n - i);
}

/* Strings of rows [from, end): valid UTF-8 is passed through; otherwise the sanitized copy
 * (at most 2 bytes per input byte) lives in this column's arena, reserved up front so it
 * never moves. */
static void strings(kx_buf *arena, kx_pq_bytes *out, const kx_column *c, size_t from, size_t end)
{
    const kx_strref *in = c->values;
    size_t need = 0;
    /* the previous row's string, known valid: columns repeat one pointer (a user id, an
     * interned key), checked once */
    const char *ok_ptr = NULL;
    uint32_t ok_len = 0;
    for (size_t i = from; i < end; i++) {
        bool present = !c->valid || c->valid[i];
        out[i].ptr = present ? in[i].ptr : NULL;
        out[i].len = present ? in[i].len : 0;
        if (!present || (in[i].ptr == ok_ptr && in[i].len == ok_len && ok_ptr)) continue;
        if (utf8_valid_fast(in[i].ptr, in[i].len)) {
            ok_ptr = in[i].ptr;
            ok_len = in[i].len;
        } else {
            need += 2 * (size_t)in[i].len;
            out[i].ptr = NULL; /* marks "sanitize" for the second pass */
        }
    }
    kx_buf_reset(arena);
    if (!need) return;
    kx_buf_reserve(arena, need);
    for (size_t i = from; i < end; i++) {
        if (out[i].ptr || !(!c->valid || c->valid[i]) || in[i].len == 0) continue;
        size_t at = arena->len;
        kx_utf8_append_sanitized(arena, in[i].ptr, in[i].len);
        out[i].ptr = arena->data + at;
        out[i].len = (uint32_t)(arena->len - at);
    }
}

size_t kx_pq_sink_segment_rows(const struct kx_pq_sink *s, size_t nrows)
{
    return kx_pqw_segment_rows(s->w, nrows);
}

/* Column j of rows [from, from + n) of the batch cols: maps it (touching only column j's
 * scratch) and encodes it on worker slot `slot`. */
int kx_pq_sink_put_column(struct kx_pq_sink *s, size_t j, size_t from, size_t n, const kx_column *cols, int slot,
                          kx_err *err)
{
    const kx_column *c = &cols[j];
    kx_pq_values v = {c->values, c->valid};
    if (s->cols[j].type == KX_COL_DOUBLE) v.valid = double_valid(s->valid[j], c, from, from + n);
    if (s->cols[j].type == KX_COL_STRING) {
        strings(&s->arena[j], s->strs[j], c, from, from + n);
        v.values = s->strs[j];
    }
    return kx_pqw_put_column(s->w, j, from, n, &v, slot, err);
}

int kx_pq_sink_end_segment(struct kx_pq_sink *s, size_t n, kx_err *err)
{
    return kx_pqw_end_segment(s->w, n, err);
}

/* Sequential batch: the same segments and columns, in order, on slot 0. */
int kx_pq_sink_write(struct kx_pq_sink *s, size_t nrows, const kx_column *cols, kx_err *err)
{
    kx_pq_sink_reserve(s, nrows);
    for (size_t done = 0; done < nrows;) {
        size_t n = kx_pq_sink_segment_rows(s, nrows - done);
        for (size_t j = 0; j < s->ncols; j++)
            if (kx_pq_sink_put_column(s, j, done, n, cols, 0, err) != 0) return -1;
        if (kx_pq_sink_end_segment(s, n, err) != 0) return -1;
        done += n;
    }
    return 0;
}

static void free_sink(struct kx_pq_sink *s)
{
    for (size_t j = 0; j < s->ncols; j++) {
        free(s->valid[j]);
        free(s->strs[j]);
        kx_buf_free(&s->arena[j]);
    }
    free(s->arena);
    free(s->valid);
    free(s->strs);
    free(s);
}

int kx_pq_sink_commit(struct kx_pq_sink *s, kx_err *err)
{
    int rc = kx_pqw_commit(s->w, err);
    free_sink(s);
    return rc;
}

void kx_pq_sink_abort(struct kx_pq_sink *s)
{
    if (!s) return;
    kx_pqw_abort(s->w);
    free_sink(s);
}
