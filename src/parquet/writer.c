/* writer.c — streaming Parquet writer (see parquet.h).
 *
 * Layout of a file:  PAR1 | row group 0 chunks | row group 1 chunks | ... | footer | len | PAR1
 * Each column chunk: [dictionary page] data page* — pages are encoded and compressed as the
 * rows arrive and buffered per column until the row group is full, then every column's chunk
 * is written in column order. Memory is thus bounded by one row group of encoded pages.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#include "io/fs.h"
#include "parquet/parquet.h"
#include "parquet/pq_internal.h"
#include "util/mem.h"

#ifndef KEYETL_VERSION
#define KEYETL_VERSION "0.0.0"
#endif
#ifndef KEYETL_BUILD_ID
#define KEYETL_BUILD_ID "dev"
#endif

#define DEFAULT_RG_ROWS 65536
#define DEFAULT_PAGE_BYTES (1u << 20)
#define DEFAULT_DICT_BYTES (1u << 20)
#define MAX_PAGE_VALUES (1u << 20) /* keeps pages short even at 1-bit indices */
/* A row group is buffered (encoded) until it is complete, so for wide tables the row count
 * alone does not bound memory: a 65,536-row group of a 400-column DOUBLE table is 200 MB of
 * values plus per-column dictionaries. Groups are therefore also capped at RG_RAW_BYTES of
 * raw values (value widths summed over the columns; BYTE_ARRAY counted as 16), never below
 * RG_MIN_ROWS. Narrow tables (< 512 bytes per row) keep the configured row count. */
#define RG_RAW_BYTES (32u << 20)
#define RG_MIN_ROWS 1024
/* Entries after which a mostly-distinct fixed-width column gives up its dictionary. */
#define DICT_PROBE_MIN 4096

/* ---- dictionary ------------------------------------------------------------------------------ */
typedef struct dict {
    kx_buf plain;     /* the dictionary page body: PLAIN values in index order */
    uint32_t *slots;  /* open addressing: entry index + 1, 0 = empty */
    size_t nslots;
    uint32_t *off, *len, *hash; /* per entry: value bytes in plain, its length, hash */
    size_t n, cap;
} dict;

static void dict_free(dict *d)
{
    kx_buf_free(&d->plain);
    free(d->slots);
    free(d->off);
    free(d->len);
    free(d->hash);
    memset(d, 0, sizeof *d);
}

static void dict_reset(dict *d)
{
    kx_buf_reset(&d->plain);
    if (d->slots) memset(d->slots, 0, d->nslots * sizeof *d->slots);
    d->n = 0;
}

static void dict_rehash(dict *d)
{
    size_t ns = d->nslots ? d->nslots * 2 : 1024;
    uint32_t *slots = kx_calloc(ns, sizeof *slots);
    for (size_t i = 0; i < d->n; i++) {
        size_t s = d->hash[i] & (ns - 1);
        while (slots[s]) s = (s + 1) & (ns - 1);
        slots[s] = (uint32_t)i + 1;
    }
    free(d->slots);
    d->slots = slots;
    d->nslots = ns;
}

/* Slot hash. Only the probe order depends on it (entries are numbered in insertion order),
 * so the file bytes do not. Fixed-width values get a multiplicative hash (the high bits of
 * x * golden ratio); byte arrays XXH3. */
static uint32_t dict_hash(const void *p, uint32_t n, bool prefixed)
{
    if (prefixed || (n != 8 && n != 4)) return (uint32_t)XXH3_64bits(p, n);
    uint64_t x = 0;
    if (n == 8) memcpy(&x, p, 8);
    else {
        uint32_t y;
        memcpy(&y, p, 4);
        x = y;
    }
    x ^= x >> 29;
    return (uint32_t)((x * 0x9E3779B97F4A7C15ull) >> 32);
}

/* Finds or inserts value p[0..n) (prefixed: stored with a 4-byte length, BYTE_ARRAY PLAIN).
 * Returns 1 if inserted, 0 if found, -1 if inserting would exceed max bytes. */
static int dict_put(dict *d, const void *p, uint32_t n, bool prefixed, size_t max,
                    uint32_t *index)
{
    if (!d->nslots) dict_rehash(d);
    uint32_t h = dict_hash(p, n, prefixed);
    size_t s = h & (d->nslots - 1);
    if (!prefixed && n == 8) { /* INT64 / DOUBLE: compare as one word */
        uint64_t x;
        memcpy(&x, p, 8);
        for (uint32_t e; (e = d->slots[s]) != 0; s = (s + 1) & (d->nslots - 1)) {
            e--;
            uint64_t y;
            memcpy(&y, d->plain.data + d->off[e], 8);
            if (y == x) {
                *index = e;
                return 0;
            }
        }
    } else {
        for (uint32_t e; (e = d->slots[s]) != 0; s = (s + 1) & (d->nslots - 1)) {
            e--;
            if (d->hash[e] == h && d->len[e] == n && memcmp(d->plain.data + d->off[e], p, n) == 0) {
                *index = e;
                return 0;
            }
        }
    }
    if (d->plain.len + n + (prefixed ? 4 : 0) > max) return -1;
    if (d->n == d->cap) {
        size_t c = d->cap;
        d->off = kx_grow(d->off, &c, d->n + 1, sizeof *d->off);
        c = d->cap;
        d->len = kx_grow(d->len, &c, d->n + 1, sizeof *d->len);
        d->hash = kx_grow(d->hash, &d->cap, d->n + 1, sizeof *d->hash);
    }
    if (prefixed) {
        uint8_t l[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
        kx_buf_put(&d->plain, l, 4);
    }
    d->off[d->n] = (uint32_t)d->plain.len;
    d->len[d->n] = n;
    d->hash[d->n] = h;
    kx_buf_put(&d->plain, p, n);
    d->slots[s] = (uint32_t)d->n + 1;
    *index = (uint32_t)d->n++;
    if (d->n * 2 > d->nslots) dict_rehash(d);
    return 1;
}

/* ---- per column state --------------------------------------------------------------------- */
typedef struct chunk_rec {
    int64_t file_offset, data_page_offset, dict_page_offset; /* dict: -1 if none */
    int64_t total_uncompressed, total_compressed, num_values, nulls;
    unsigned encodings; /* bit per Encoding value */
    bool has_minmax;
    uint8_t *min, *max;
    uint32_t minlen, maxlen;
} chunk_rec;

typedef struct colw {
    kx_pq_colspec spec;
    /* current page */
    uint8_t *defs;
    size_t ndefs, capdefs;
    kx_buf vals;        /* PLAIN values */
    uint32_t *idx;      /* dictionary indices */
    size_t nidx, capidx;
    size_t page_rows, page_nonnull;
    /* current chunk */
    bool dict_mode;
    dict d;
    /* the previous dictionary value and its index: rows often repeat a value (user ids,
     * device types, codes), which then costs one compare. last_ptr (byte arrays) is only
     * trusted within one kx_pqw_write call, whose value memory cannot change. */
    bool last_ok;
    uint32_t last_index, last_len;
    const void *last_ptr;
    uint64_t last_bits;
    size_t dict_values; /* values dictionary-coded in this chunk */
    kx_buf pages;
    int64_t unc_total, num_values, nulls;
    unsigned encodings;
    /* statistics */
    bool has_minmax;
    int64_t imin, imax;
    double dmin, dmax;
    kx_buf smin, smax;
} colw;

struct kx_pqw {
    kx_afile file;
    char *path;
    colw *cols;
    size_t ncols;
    int codec, zlevel;
    int64_t rg_rows_max, rg_rows, total_rows;
    size_t page_bytes, dict_max;
    char *created_by;
    kx_pq_kv *kv;
    size_t nkv;
    void *zctx;
    uint64_t offset;
    kx_buf body, comp, hdr;
    chunk_rec *recs; /* nrg * ncols */
    int64_t *rg_nrows;
    size_t nrg, caprg;
};

static int write_bytes(kx_pqw *w, const void *p, size_t n, kx_err *err)
{
    if (kx_afile_write(&w->file, p, n, err) != 0) return -1;
    w->offset += n;
    return 0;
}

kx_pqw *kx_pqw_open(const char *path, const kx_pq_colspec *cols, size_t ncols,
                    const kx_pqw_opts *opts, kx_err *err)
{
    kx_pqw_opts def = {.codec = KX_PQ_CODEC_ZSTD};
    if (!opts) opts = &def;
    if (opts->codec != KX_PQ_CODEC_NONE && opts->codec != KX_PQ_CODEC_SNAPPY &&
        opts->codec != KX_PQ_CODEC_ZSTD) {
        kx_fail(err, "cannot write %s: unsupported codec %d", path, opts->codec);
        return NULL;
    }
    for (size_t j = 0; j < ncols; j++) {
        int t = cols[j].type;
        if (t != KX_PQ_BOOLEAN && t != KX_PQ_INT32 && t != KX_PQ_INT64 && t != KX_PQ_DOUBLE &&
            t != KX_PQ_BYTE_ARRAY) {
            kx_fail(err, "cannot write %s: column %s has unsupported type %d", path, cols[j].name, t);
            return NULL;
        }
    }
    if (ncols == 0) {
        kx_fail(err, "cannot write %s: a table needs at least one column", path);
        return NULL;
    }
    kx_pqw *w = kx_calloc(1, sizeof *w);
    if (kx_afile_open(&w->file, path, err) != 0) {
        free(w);
        return NULL;
    }
    w->path = kx_strdup(path);
    w->ncols = ncols;
    w->cols = kx_calloc(ncols ? ncols : 1, sizeof *w->cols);
    for (size_t j = 0; j < ncols; j++) {
        w->cols[j].spec = cols[j];
        w->cols[j].spec.name = kx_strdup(cols[j].name);
        if (cols[j].type == KX_PQ_BOOLEAN) w->cols[j].spec.dictionary = false;
        w->cols[j].dict_mode = w->cols[j].spec.dictionary;
    }
    w->codec = opts->codec;
    w->zlevel = opts->zstd_level ? opts->zstd_level : 1;
    w->rg_rows_max = opts->row_group_rows > 0 ? opts->row_group_rows : DEFAULT_RG_ROWS;
    size_t row_bytes = 0;
    for (size_t j = 0; j < ncols; j++) {
        int t = cols[j].type;
        row_bytes += t == KX_PQ_BOOLEAN ? 1 : t == KX_PQ_INT32 ? 4 : t == KX_PQ_BYTE_ARRAY ? 16 : 8;
    }
    int64_t by_bytes = (int64_t)(RG_RAW_BYTES / row_bytes);
    if (by_bytes < RG_MIN_ROWS) by_bytes = RG_MIN_ROWS;
    if (w->rg_rows_max > by_bytes) w->rg_rows_max = by_bytes;
    w->page_bytes = opts->page_bytes ? opts->page_bytes : DEFAULT_PAGE_BYTES;
    w->dict_max = opts->dict_max_bytes ? opts->dict_max_bytes : DEFAULT_DICT_BYTES;
    w->created_by = opts->created_by ? kx_strdup(opts->created_by)
                                     : kx_strdup("keyetl version " KEYETL_VERSION " (build " KEYETL_BUILD_ID ")");
    w->nkv = opts->nkv;
    w->kv = kx_calloc(opts->nkv ? opts->nkv : 1, sizeof *w->kv);
    for (size_t i = 0; i < opts->nkv; i++) {
        w->kv[i].key = kx_strdup(opts->kv[i].key);
        w->kv[i].value = opts->kv[i].value ? kx_strdup(opts->kv[i].value) : NULL;
    }
    if (w->codec == KX_PQ_CODEC_ZSTD) w->zctx = ZSTD_createCCtx();
    if (write_bytes(w, "PAR1", 4, err) != 0) {
        kx_pqw_abort(w);
        return NULL;
    }
    return w;
}

static void colw_free(colw *c)
{
    free((char *)c->spec.name);
    free(c->defs);
    kx_buf_free(&c->vals);
    free(c->idx);
    dict_free(&c->d);
    kx_buf_free(&c->pages);
    kx_buf_free(&c->smin);
    kx_buf_free(&c->smax);
}

static void free_writer(kx_pqw *w)
{
    for (size_t j = 0; j < w->ncols; j++) colw_free(&w->cols[j]);
    free(w->cols);
    for (size_t i = 0; i < w->nrg * w->ncols; i++) {
        free(w->recs[i].min);
        free(w->recs[i].max);
    }
    free(w->recs);
    free(w->rg_nrows);
    for (size_t i = 0; i < w->nkv; i++) {
        free((char *)w->kv[i].key);
        free((char *)w->kv[i].value);
    }
    free(w->kv);
    free(w->created_by);
    free(w->path);
    if (w->zctx) ZSTD_freeCCtx(w->zctx);
    kx_buf_free(&w->body);
    kx_buf_free(&w->comp);
    kx_buf_free(&w->hdr);
    free(w);
}

void kx_pqw_abort(kx_pqw *w)
{
    if (!w) return;
    kx_afile_abort(&w->file);
    free_writer(w);
}

/* ---- pages -------------------------------------------------------------------------------- */
static void put_u32le(kx_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    kx_buf_put(b, x, 4);
}

/* Appends page header + compressed body (w->body) to out. page_type 0 data, 2 dictionary. */
static int emit_page(kx_pqw *w, kx_buf *out, int page_type, size_t num_values, int encoding,
                     int64_t *unc_total, kx_err *err)
{
    if (w->body.len > INT32_MAX || num_values > INT32_MAX)
        return kx_fail(err, "cannot write %s: page too large", w->path);
    kx_buf_reset(&w->comp);
    if (kx_pq_compress(w->codec, w->zlevel, w->zctx, w->body.data, w->body.len, &w->comp, err) != 0)
        return -1;
    if (w->comp.len > INT32_MAX) return kx_fail(err, "cannot write %s: page too large", w->path);
    kx_buf_reset(&w->hdr);
    kx_thr_enc e;
    kx_thr_enc_init(&e, &w->hdr);
    kx_thr_i32(&e, 1, page_type);
    kx_thr_i32(&e, 2, (int32_t)w->body.len);
    kx_thr_i32(&e, 3, (int32_t)w->comp.len);
    if (page_type == 0) {
        kx_thr_struct_begin(&e, 5);
        kx_thr_i32(&e, 1, (int32_t)num_values);
        kx_thr_i32(&e, 2, encoding);
        kx_thr_i32(&e, 3, KX_PQ_ENC_RLE);
        kx_thr_i32(&e, 4, KX_PQ_ENC_RLE);
        kx_thr_struct_end(&e);
    } else {
        kx_thr_struct_begin(&e, 7);
        kx_thr_i32(&e, 1, (int32_t)num_values);
        kx_thr_i32(&e, 2, KX_PQ_ENC_PLAIN);
        kx_thr_struct_end(&e);
    }
    kx_buf_putc(&w->hdr, KX_THR_STOP);
    kx_buf_put(out, w->hdr.data, w->hdr.len);
    kx_buf_put(out, w->comp.data, w->comp.len);
    *unc_total += (int64_t)(w->hdr.len + w->body.len);
    return 0;
}

static int flush_page(kx_pqw *w, colw *c, kx_err *err)
{
    if (c->page_rows == 0) return 0;
    kx_buf_reset(&w->body);
    if (c->spec.optional) {
        put_u32le(&w->body, 0);
        size_t at = w->body.len;
        kx_rle_encode_u8(&w->body, c->defs, c->ndefs, 1);
        uint32_t n = (uint32_t)(w->body.len - at);
        memcpy(w->body.data + at - 4, (uint8_t[4]){(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)}, 4);
    }
    int enc = KX_PQ_ENC_PLAIN;
    if (c->dict_mode && c->d.n > 0) {
        enc = KX_PQ_ENC_RLE_DICTIONARY;
        int bw = kx_bit_width((uint32_t)(c->d.n - 1));
        if (bw == 0) bw = 1;
        kx_buf_putc(&w->body, (char)bw);
        kx_rle_encode(&w->body, c->idx, c->nidx, bw);
    } else {
        kx_buf_put(&w->body, c->vals.data, c->vals.len);
    }
    if (emit_page(w, &c->pages, 0, c->page_rows, enc, &c->unc_total, err) != 0) return -1;
    c->encodings |= 1u << enc;
    c->num_values += (int64_t)c->page_rows;
    c->ndefs = c->nidx = c->page_rows = c->page_nonnull = 0;
    kx_buf_reset(&c->vals);
    return 0;
}

static size_t page_estimate(const colw *c)
{
    size_t levels = c->spec.optional ? c->ndefs / 8 + 8 : 0;
    if (c->dict_mode) return levels + c->nidx * (size_t)(kx_bit_width((uint32_t)c->d.n) + 1) / 8;
    return levels + c->vals.len;
}

/* ---- statistics ----------------------------------------------------------------------------- */
static void stat_int(colw *c, int64_t v)
{
    if (!c->has_minmax) {
        c->imin = c->imax = v;
        c->has_minmax = true;
    } else if (v < c->imin) c->imin = v;
    else if (v > c->imax) c->imax = v;
}

static void stat_double(colw *c, double v)
{
    if (isnan(v)) return;
    if (!c->has_minmax) {
        c->dmin = c->dmax = v;
        c->has_minmax = true;
    } else if (v < c->dmin) c->dmin = v;
    else if (v > c->dmax) c->dmax = v;
}

static int cmp_bytes(const void *a, size_t an, const void *b, size_t bn)
{
    int r = memcmp(a, b, an < bn ? an : bn);
    if (r) return r;
    return an < bn ? -1 : an > bn;
}

static void stat_bytes(colw *c, const char *p, uint32_t n)
{
    if (!c->has_minmax) {
        kx_buf_put(&c->smin, p, n);
        kx_buf_put(&c->smax, p, n);
        c->has_minmax = true;
        return;
    }
    if (cmp_bytes(p, n, c->smin.data, c->smin.len) < 0) {
        kx_buf_reset(&c->smin);
        kx_buf_put(&c->smin, p, n);
    } else if (cmp_bytes(p, n, c->smax.data, c->smax.len) > 0) {
        kx_buf_reset(&c->smax);
        kx_buf_put(&c->smax, p, n);
    }
}

/* ---- values -------------------------------------------------------------------------------- */
static void put_plain(colw *c, const void *v)
{
    switch (c->spec.type) {
    case KX_PQ_BOOLEAN: {
        size_t bit = c->page_nonnull;
        if (bit % 8 == 0) kx_buf_putc(&c->vals, 0);
        if (*(const uint8_t *)v) c->vals.data[c->vals.len - 1] |= (char)(1u << (bit % 8));
        stat_int(c, *(const uint8_t *)v != 0);
        break;
    }
    case KX_PQ_INT32: kx_buf_put(&c->vals, v, 4); stat_int(c, *(const int32_t *)v); break;
    case KX_PQ_INT64: kx_buf_put(&c->vals, v, 8); stat_int(c, *(const int64_t *)v); break;
    case KX_PQ_DOUBLE: kx_buf_put(&c->vals, v, 8); stat_double(c, *(const double *)v); break;
    default: {
        const kx_pq_bytes *s = v;
        put_u32le(&c->vals, s->len);
        kx_buf_put(&c->vals, s->ptr, s->len);
        stat_bytes(c, s->ptr, s->len);
        break;
    }
    }
}

static void stat_new_entry(colw *c, const void *v)
{
    switch (c->spec.type) {
    case KX_PQ_INT32: stat_int(c, *(const int32_t *)v); break;
    case KX_PQ_INT64: stat_int(c, *(const int64_t *)v); break;
    case KX_PQ_DOUBLE: stat_double(c, *(const double *)v); break;
    default: {
        const kx_pq_bytes *s = v;
        stat_bytes(c, s->ptr, s->len);
        break;
    }
    }
}

/* Adds one non-null value: dictionary index if possible, else PLAIN. */
static int put_value(kx_pqw *w, colw *c, const void *v, kx_err *err)
{
    /* Fixed-width values that are mostly distinct (timestamps) gain nothing from a dictionary
     * and cost a hash probe each: once it holds DICT_PROBE_MIN entries and more than half of
     * the values were new, the rest of the chunk is PLAIN, exactly as when the dictionary is
     * full (the page is finished before this row). Depends only on the data: deterministic. */
    if (c->dict_mode && c->spec.type != KX_PQ_BYTE_ARRAY && c->d.n >= DICT_PROBE_MIN &&
        c->d.n * 2 > c->dict_values) {
        if (flush_page(w, c, err) != 0) return -1;
        c->dict_mode = false;
        c->last_ok = false;
    }
    if (c->dict_mode) {
        const void *p = v;
        uint32_t n = 8;
        bool prefixed = false;
        if (c->spec.type == KX_PQ_BYTE_ARRAY) {
            p = ((const kx_pq_bytes *)v)->ptr;
            n = ((const kx_pq_bytes *)v)->len;
            prefixed = true;
        } else if (c->spec.type == KX_PQ_INT32) n = 4;
        uint32_t index = 0;
        uint64_t bits = 0;
        if (!prefixed) memcpy(&bits, p, n);
        bool same = c->last_ok && (prefixed ? p == c->last_ptr && n == c->last_len : bits == c->last_bits);
        int r = 0;
        if (same) {
            index = c->last_index;
        } else {
            r = dict_put(&c->d, p ? p : "", n, prefixed, w->dict_max, &index);
            c->last_ok = r >= 0 && p != NULL;
            c->last_index = index;
            c->last_ptr = p;
            c->last_len = n;
            c->last_bits = bits;
        }
        if (r >= 0) {
            if (r == 1) stat_new_entry(c, v);
            if (c->nidx == c->capidx) c->idx = kx_grow(c->idx, &c->capidx, c->nidx + 1, sizeof *c->idx);
            c->idx[c->nidx++] = index;
            c->dict_values++;
            return 0;
        }
        /* Dictionary full: finish this page with indices, PLAIN for the rest of the chunk. */
        if (flush_page(w, c, err) != 0) return -1;
        c->dict_mode = false;
        c->last_ok = false;
    }
    put_plain(c, v);
    return 0;
}

static size_t value_size(int type)
{
    switch (type) {
    case KX_PQ_BOOLEAN: return 1;
    case KX_PQ_INT32: return 4;
    case KX_PQ_INT64:
    case KX_PQ_DOUBLE: return 8;
    default: return sizeof(kx_pq_bytes);
    }
}

static int write_column(kx_pqw *w, colw *c, size_t from, size_t n, const kx_pq_values *v,
                        kx_err *err)
{
    size_t vs = value_size(c->spec.type);
    const char *vals = v->values;
    if (c->spec.type == KX_PQ_BYTE_ARRAY) c->last_ok = false; /* new value memory */
    for (size_t i = from; i < from + n; i++) {
        bool present = !c->spec.optional || !v->valid || v->valid[i];
        /* value first: a dictionary fallback may flush the page before this row */
        if (present) {
            if (put_value(w, c, vals + i * vs, err) != 0) return -1;
            c->page_nonnull++;
        } else {
            c->nulls++;
        }
        if (c->spec.optional) {
            if (c->ndefs == c->capdefs) c->defs = kx_grow(c->defs, &c->capdefs, c->ndefs + 1, 1);
            c->defs[c->ndefs++] = present;
        }
        c->page_rows++;
        if (page_estimate(c) >= w->page_bytes || c->page_rows >= MAX_PAGE_VALUES) {
            if (flush_page(w, c, err) != 0) return -1;
        }
    }
    return 0;
}

/* ---- row groups -------------------------------------------------------------------------- */
static void encode_stat_value(colw *c, bool is_min, uint8_t **out, uint32_t *len)
{
    uint8_t tmp[8];
    const void *src = tmp;
    uint32_t n = 8;
    switch (c->spec.type) {
    case KX_PQ_BOOLEAN: tmp[0] = (uint8_t)(is_min ? c->imin : c->imax); n = 1; break;
    case KX_PQ_INT32: {
        int32_t x = (int32_t)(is_min ? c->imin : c->imax);
        memcpy(tmp, &x, 4);
        n = 4;
        break;
    }
    case KX_PQ_INT64: memcpy(tmp, is_min ? &c->imin : &c->imax, 8); break;
    case KX_PQ_DOUBLE: {
        double x = is_min ? c->dmin : c->dmax;
        if (x == 0) x = is_min ? -0.0 : 0.0; /* a zero extreme: -0.0 as min, +0.0 as max */
        memcpy(tmp, &x, 8);
        break;
    }
    default:
        src = is_min ? c->smin.data : c->smax.data;
        n = (uint32_t)(is_min ? c->smin.len : c->smax.len);
        break;
    }
    *out = kx_malloc(n ? n : 1);
    if (n) memcpy(*out, src, n);
    *len = n;
}

static int flush_row_group(kx_pqw *w, kx_err *err)
{
    if (w->rg_rows == 0) return 0;
    if (w->nrg == w->caprg) {
        size_t cap = w->caprg;
        w->rg_nrows = kx_grow(w->rg_nrows, &cap, w->nrg + 1, sizeof *w->rg_nrows);
        w->recs = kx_grow(w->recs, &w->caprg, w->nrg + 1, w->ncols * sizeof *w->recs);
    }
    chunk_rec *recs = w->recs + w->nrg * w->ncols;
    memset(recs, 0, w->ncols * sizeof *recs);
    w->rg_nrows[w->nrg++] = w->rg_rows;
    for (size_t j = 0; j < w->ncols; j++) {
        colw *c = &w->cols[j];
        chunk_rec *r = &recs[j];
        if (flush_page(w, c, err) != 0) return -1;
        r->file_offset = (int64_t)w->offset;
        r->dict_page_offset = -1;
        int64_t start = (int64_t)w->offset;
        int64_t unc = c->unc_total;
        if (c->encodings & (1u << KX_PQ_ENC_RLE_DICTIONARY)) {
            kx_buf dictpage = KX_BUF_INIT;
            kx_buf_reset(&w->body);
            kx_buf_put(&w->body, c->d.plain.data, c->d.plain.len);
            if (emit_page(w, &dictpage, 2, c->d.n, KX_PQ_ENC_PLAIN, &unc, err) != 0 ||
                write_bytes(w, dictpage.data, dictpage.len, err) != 0) {
                kx_buf_free(&dictpage);
                return -1;
            }
            kx_buf_free(&dictpage);
            r->dict_page_offset = start;
            c->encodings |= 1u << KX_PQ_ENC_PLAIN;
        }
        r->data_page_offset = (int64_t)w->offset;
        if (write_bytes(w, c->pages.data, c->pages.len, err) != 0) return -1;
        r->total_compressed = (int64_t)w->offset - start;
        r->total_uncompressed = unc;
        r->num_values = c->num_values;
        r->nulls = c->nulls;
        r->encodings = c->encodings | (1u << KX_PQ_ENC_RLE);
        r->has_minmax = c->has_minmax;
        if (c->has_minmax) {
            encode_stat_value(c, true, &r->min, &r->minlen);
            encode_stat_value(c, false, &r->max, &r->maxlen);
        }
        /* reset the chunk state */
        kx_buf_reset(&c->pages);
        dict_reset(&c->d);
        c->last_ok = false;
        c->dict_mode = c->spec.dictionary;
        c->dict_values = 0;
        c->unc_total = c->num_values = c->nulls = 0;
        c->encodings = 0;
        c->has_minmax = false;
        kx_buf_reset(&c->smin);
        kx_buf_reset(&c->smax);
    }
    w->total_rows += w->rg_rows;
    w->rg_rows = 0;
    return 0;
}

int kx_pqw_write(kx_pqw *w, size_t nrows, const kx_pq_values *cols, kx_err *err)
{
    size_t done = 0;
    while (done < nrows) {
        size_t room = (size_t)(w->rg_rows_max - w->rg_rows);
        size_t n = nrows - done < room ? nrows - done : room;
        for (size_t j = 0; j < w->ncols; j++)
            if (write_column(w, &w->cols[j], done, n, &cols[j], err) != 0) return -1;
        w->rg_rows += (int64_t)n;
        done += n;
        if (w->rg_rows >= w->rg_rows_max && flush_row_group(w, err) != 0) return -1;
    }
    return 0;
}

/* ---- footer ------------------------------------------------------------------------------- */
static void put_schema(kx_thr_enc *e, const kx_pqw *w)
{
    kx_thr_list_begin(e, 2, KX_THR_STRUCT, w->ncols + 1);
    kx_thr_struct_begin(e, 0);
    kx_thr_string(e, 4, "schema");
    kx_thr_i32(e, 5, (int32_t)w->ncols);
    kx_thr_struct_end(e);
    for (size_t j = 0; j < w->ncols; j++) {
        const kx_pq_colspec *s = &w->cols[j].spec;
        kx_thr_struct_begin(e, 0);
        kx_thr_i32(e, 1, s->type);
        kx_thr_i32(e, 3, s->optional ? 1 : 0);
        kx_thr_string(e, 4, s->name);
        if (s->type == KX_PQ_BYTE_ARRAY && s->utf8) {
            kx_thr_i32(e, 6, 0); /* ConvertedType UTF8 */
            kx_thr_struct_begin(e, 10); /* LogicalType */
            kx_thr_struct_begin(e, 1);  /* STRING: StringType {} */
            kx_thr_struct_end(e);
            kx_thr_struct_end(e);
        }
        kx_thr_struct_end(e);
    }
}

static void put_chunk(kx_thr_enc *e, const kx_pqw *w, size_t j, const chunk_rec *r)
{
    const kx_pq_colspec *s = &w->cols[j].spec;
    kx_thr_struct_begin(e, 0); /* ColumnChunk */
    kx_thr_i64(e, 2, r->file_offset);
    kx_thr_struct_begin(e, 3); /* ColumnMetaData */
    kx_thr_i32(e, 1, s->type);
    size_t nenc = 0;
    for (int k = 0; k < 32; k++) nenc += (r->encodings >> k) & 1;
    kx_thr_list_begin(e, 2, KX_THR_I32, nenc);
    for (int k = 0; k < 32; k++)
        if ((r->encodings >> k) & 1) kx_thr_elem_i32(e, k);
    kx_thr_list_begin(e, 3, KX_THR_BINARY, 1);
    kx_thr_elem_binary(e, s->name, strlen(s->name));
    kx_thr_i32(e, 4, w->codec);
    kx_thr_i64(e, 5, r->num_values);
    kx_thr_i64(e, 6, r->total_uncompressed);
    kx_thr_i64(e, 7, r->total_compressed);
    kx_thr_i64(e, 9, r->data_page_offset);
    if (r->dict_page_offset >= 0) kx_thr_i64(e, 11, r->dict_page_offset);
    kx_thr_struct_begin(e, 12); /* Statistics */
    kx_thr_i64(e, 3, r->nulls);
    if (r->has_minmax) {
        kx_thr_binary(e, 5, r->max, r->maxlen);
        kx_thr_binary(e, 6, r->min, r->minlen);
    }
    kx_thr_struct_end(e);
    kx_thr_struct_end(e); /* ColumnMetaData */
    kx_thr_struct_end(e); /* ColumnChunk */
}

static void put_footer(kx_buf *out, const kx_pqw *w)
{
    kx_thr_enc e;
    kx_thr_enc_init(&e, out);
    kx_thr_i32(&e, 1, 1);
    put_schema(&e, w);
    kx_thr_i64(&e, 3, w->total_rows);
    kx_thr_list_begin(&e, 4, KX_THR_STRUCT, w->nrg);
    for (size_t g = 0; g < w->nrg; g++) {
        const chunk_rec *recs = w->recs + g * w->ncols;
        int64_t unc = 0, comp = 0;
        for (size_t j = 0; j < w->ncols; j++) {
            unc += recs[j].total_uncompressed;
            comp += recs[j].total_compressed;
        }
        kx_thr_struct_begin(&e, 0);
        kx_thr_list_begin(&e, 1, KX_THR_STRUCT, w->ncols);
        for (size_t j = 0; j < w->ncols; j++) put_chunk(&e, w, j, &recs[j]);
        kx_thr_i64(&e, 2, unc);
        kx_thr_i64(&e, 3, w->rg_nrows[g]);
        if (w->ncols) kx_thr_i64(&e, 5, recs[0].file_offset);
        kx_thr_i64(&e, 6, comp);
        kx_thr_field(&e, 7, KX_THR_I16);
        kx_thr_put_varint(out, kx_thr_zigzag((int16_t)g));
        kx_thr_struct_end(&e);
    }
    if (w->nkv) {
        kx_thr_list_begin(&e, 5, KX_THR_STRUCT, w->nkv);
        for (size_t i = 0; i < w->nkv; i++) {
            kx_thr_struct_begin(&e, 0);
            kx_thr_string(&e, 1, w->kv[i].key);
            if (w->kv[i].value) kx_thr_string(&e, 2, w->kv[i].value);
            kx_thr_struct_end(&e);
        }
    }
    kx_thr_string(&e, 6, w->created_by);
    kx_thr_list_begin(&e, 7, KX_THR_STRUCT, w->ncols);
    for (size_t j = 0; j < w->ncols; j++) {
        kx_thr_struct_begin(&e, 0); /* ColumnOrder union */
        kx_thr_struct_begin(&e, 1); /* TYPE_ORDER: TypeDefinedOrder {} */
        kx_thr_struct_end(&e);
        kx_thr_struct_end(&e);
    }
    kx_buf_putc(out, KX_THR_STOP);
}

int kx_pqw_commit(kx_pqw *w, kx_err *err)
{
    int rc = flush_row_group(w, err);
    if (rc == 0) {
        kx_buf footer = KX_BUF_INIT;
        put_footer(&footer, w);
        uint8_t tail[8] = {(uint8_t)footer.len, (uint8_t)(footer.len >> 8), (uint8_t)(footer.len >> 16),
                           (uint8_t)(footer.len >> 24), 'P', 'A', 'R', '1'};
        rc = write_bytes(w, footer.data, footer.len, err);
        if (rc == 0) rc = write_bytes(w, tail, 8, err);
        kx_buf_free(&footer);
    }
    if (rc == 0) rc = kx_afile_commit(&w->file, err);
    else kx_afile_abort(&w->file);
    free_writer(w);
    return rc;
}
