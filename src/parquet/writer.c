/* writer.c — streaming Parquet writer (see parquet.h).
 *
 * Layout of a file:  PAR1 | row group 0 chunks | row group 1 chunks | ... | footer | len | PAR1
 * Each column chunk: [dictionary page] data page* — pages are encoded and compressed as the
 * rows arrive and buffered per column until the row group is full, then every column's chunk
 * is written in column order. Memory is thus bounded by one row group of encoded pages.
 *
 * Parallelism: everything a column chunk needs (current page, dictionary, statistics, encoded
 * pages) lives in its colw, and the page scratch (body / compressed body / header / zstd
 * context) is per worker slot, so the columns of a segment (rows that do not cross a row
 * group end) are encoded concurrently; a column whose segment completes the row group also
 * seals its chunk (last page, dictionary page, statistics) in parallel. Only the file writes,
 * in column order, are sequential (kx_pqw_end_segment). Each column's bytes depend only on
 * that column's values, so the file is the same for every worker count.
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
#include "util/pool.h"

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
    /* the chunk sealed when a segment completed the row group (seal_chunk), waiting for
     * kx_pqw_end_segment to write it: dictionary page, then data pages (in pages) */
    kx_buf dictpage;
    chunk_rec rec; /* offsets are filled when written */
    char pad[64];  /* the next column's hot fields never share a cache line with this one's */
} colw;

/* Scratch of one worker slot: page body, compressed body, page header, zstd context.
 * Slot k is used by one thread at a time, so columns encoded concurrently never share it;
 * the bytes produced do not depend on which slot encoded a column. */
typedef struct scratch {
    char pad0[64]; /* keeps the hot buffer headers of two slots off a shared cache line */
    kx_pq_page_buf pb;
    char pad1[64];
} scratch;

struct kx_pqw {
    kx_pq_out out;
    char *path;
    colw *cols;
    size_t ncols;
    int codec, zlevel;
    int64_t rg_rows_max, rg_rows, total_rows;
    size_t page_bytes, dict_max;
    kx_pq_footer_ids ids; /* created_by and key/value metadata */
    scratch *scr;    /* nslots */
    int nslots;      /* opts.workers, at least 1 */
    kx_pool *pool;   /* kx_pqw_write's threads (created at its first large batch) */
    kx_err *slot_err; /* per slot: message of its lowest failing column (parallel writes) */
    size_t *slot_fail; /* per slot: that column, or SIZE_MAX */
    chunk_rec *recs; /* nrg * ncols */
    int64_t *rg_nrows;
    size_t nrg, caprg;
};

const kx_pqw_opts *kx_pq_opts_or_default(const char *path, const kx_pqw_opts *opts, kx_pqw_opts *def, kx_err *err)
{
    *def = (kx_pqw_opts){.codec = KX_PQ_CODEC_ZSTD};
    if (!opts) opts = def;
    if (opts->codec != KX_PQ_CODEC_NONE && opts->codec != KX_PQ_CODEC_SNAPPY && opts->codec != KX_PQ_CODEC_ZSTD) {
        kx_fail(err, "cannot write %s: unsupported codec %d", path, opts->codec);
        return NULL;
    }
    return opts;
}

int kx_pq_out_open(kx_pq_out *o, const char *path, kx_err *err)
{
    o->offset = 0;
    if (kx_afile_open(&o->file, path, err) != 0) return -1;
    if (kx_pq_out_write(o, "PAR1", 4, err) == 0) return 0;
    kx_afile_abort(&o->file);
    return -1;
}

int kx_pq_out_write(kx_pq_out *o, const void *p, size_t n, kx_err *err)
{
    if (kx_afile_write(&o->file, p, n, err) != 0) return -1;
    o->offset += n;
    return 0;
}

int kx_pq_out_finish(kx_pq_out *o, int rc, const kx_buf *footer, kx_err *err)
{
    if (rc == 0) {
        size_t n = footer->len;
        uint8_t tail[8] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24), 'P', 'A', 'R', '1'};
        rc = kx_pq_out_write(o, footer->data, n, err);
        if (rc == 0) rc = kx_pq_out_write(o, tail, 8, err);
    }
    if (rc == 0) return kx_afile_commit(&o->file, err);
    kx_afile_abort(&o->file);
    return rc;
}

void kx_pq_out_abort(kx_pq_out *o) { kx_afile_abort(&o->file); }

static int write_bytes(kx_pqw *w, const void *p, size_t n, kx_err *err) { return kx_pq_out_write(&w->out, p, n, err); }

kx_pqw *kx_pqw_open(const char *path, const kx_pq_colspec *cols, size_t ncols,
                    const kx_pqw_opts *opts, kx_err *err)
{
    kx_pqw_opts def;
    opts = kx_pq_opts_or_default(path, opts, &def, err);
    if (!opts) return NULL;
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
    if (kx_pq_out_open(&w->out, path, err) != 0) {
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
    int64_t by_bytes = row_bytes ? (int64_t)(RG_RAW_BYTES / row_bytes) : RG_MIN_ROWS; /* ncols > 0 here */
    if (by_bytes < RG_MIN_ROWS) by_bytes = RG_MIN_ROWS;
    if (w->rg_rows_max > by_bytes) w->rg_rows_max = by_bytes;
    w->page_bytes = opts->page_bytes ? opts->page_bytes : DEFAULT_PAGE_BYTES;
    w->dict_max = opts->dict_max_bytes ? opts->dict_max_bytes : DEFAULT_DICT_BYTES;
    kx_pq_footer_ids_copy(&w->ids, opts);
    w->nslots = opts->workers > 1 ? opts->workers : 1;
    w->scr = kx_calloc((size_t)w->nslots, sizeof *w->scr);
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
    kx_buf_free(&c->dictpage);
    free(c->rec.min);
    free(c->rec.max);
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
    kx_pq_footer_ids_free(&w->ids);
    free(w->path);
    kx_pool_destroy(w->pool);
    for (int k = 0; k < w->nslots; k++) {
        kx_pq_page_buf_free(&w->scr[k].pb);
    }
    free(w->scr);
    free(w->slot_err);
    free(w->slot_fail);
    free(w);
}

void kx_pqw_abort(kx_pqw *w)
{
    if (!w) return;
    kx_pq_out_abort(&w->out);
    free_writer(w);
}

/* ---- pages -------------------------------------------------------------------------------- */
void kx_pq_put_u32le(kx_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    kx_buf_put(b, x, 4);
}

void kx_pq_put_page_header(kx_buf *hdr, int page_type, size_t body_len, size_t comp_len, size_t num_values,
                           int encoding)
{
    kx_thr_enc e;
    kx_thr_enc_init(&e, hdr);
    kx_thr_i32(&e, 1, page_type);
    kx_thr_i32(&e, 2, (int32_t)body_len);
    kx_thr_i32(&e, 3, (int32_t)comp_len);
    kx_thr_struct_begin(&e, page_type == 0 ? 5 : 7);
    kx_thr_i32(&e, 1, (int32_t)num_values);
    kx_thr_i32(&e, 2, encoding);
    if (page_type == 0) {
        kx_thr_i32(&e, 3, KX_PQ_ENC_RLE); /* definition levels */
        kx_thr_i32(&e, 4, KX_PQ_ENC_RLE); /* repetition levels (none: flat schema) */
    }
    kx_thr_struct_end(&e);
    kx_buf_putc(hdr, KX_THR_STOP);
}

void kx_pq_footer_ids_copy(kx_pq_footer_ids *ids, const kx_pqw_opts *opts)
{
    ids->created_by = opts->created_by ? kx_strdup(opts->created_by)
                                       : kx_strdup("keyetl version " KEYETL_VERSION " (build " KEYETL_BUILD_ID ")");
    ids->nkv = opts->nkv;
    ids->kv = kx_calloc(opts->nkv ? opts->nkv : 1, sizeof *ids->kv);
    for (size_t i = 0; i < opts->nkv; i++) {
        ids->kv[i].key = kx_strdup(opts->kv[i].key);
        ids->kv[i].value = opts->kv[i].value ? kx_strdup(opts->kv[i].value) : NULL;
    }
}

void kx_pq_footer_ids_free(kx_pq_footer_ids *ids)
{
    for (size_t i = 0; i < ids->nkv; i++) {
        free((char *)ids->kv[i].key);
        free((char *)ids->kv[i].value);
    }
    free(ids->kv);
    free(ids->created_by);
    ids->kv = NULL;
    ids->created_by = NULL;
    ids->nkv = 0;
}

void kx_pq_put_footer_tail(kx_thr_enc *e, const kx_pq_kv *kv, size_t nkv, const char *created_by, bool orders,
                           size_t ncols)
{
    if (nkv) {
        kx_thr_list_begin(e, 5, KX_THR_STRUCT, nkv);
        for (size_t i = 0; i < nkv; i++) {
            kx_thr_struct_begin(e, 0);
            kx_thr_string(e, 1, kv[i].key);
            if (kv[i].value) kx_thr_string(e, 2, kv[i].value);
            kx_thr_struct_end(e);
        }
    }
    kx_thr_string(e, 6, created_by);
    if (orders) {
        kx_thr_list_begin(e, 7, KX_THR_STRUCT, ncols);
        for (size_t j = 0; j < ncols; j++) {
            kx_thr_struct_begin(e, 0); /* ColumnOrder union */
            kx_thr_struct_begin(e, 1); /* TYPE_ORDER: TypeDefinedOrder {} */
            kx_thr_struct_end(e);
            kx_thr_struct_end(e);
        }
    }
    kx_buf_putc(e->out, KX_THR_STOP);
}

void kx_pq_page_buf_free(kx_pq_page_buf *b)
{
    if (b->zctx) ZSTD_freeCCtx(b->zctx);
    kx_buf_free(&b->body);
    kx_buf_free(&b->comp);
    kx_buf_free(&b->hdr);
    memset(b, 0, sizeof *b);
}

void kx_pq_put_def_levels(kx_buf *body, const uint8_t *defs, size_t n)
{
    kx_pq_put_u32le(body, 0);
    size_t at = body->len;
    kx_rle_encode_u8(body, defs, n, 1);
    uint32_t len = (uint32_t)(body->len - at);
    memcpy(body->data + at - 4, (uint8_t[4]){(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24)}, 4);
}

int kx_pq_emit_page(kx_pq_page_buf *b, int codec, int level, kx_buf *out, int page_type, size_t num_values,
                    int encoding, int64_t *unc_total, const char *path, kx_err *err)
{
    if (b->body.len > INT32_MAX || num_values > INT32_MAX) return kx_fail(err, "cannot write %s: page too large", path);
    kx_buf_reset(&b->comp);
    if (codec == KX_PQ_CODEC_ZSTD && !b->zctx) b->zctx = ZSTD_createCCtx();
    if (kx_pq_compress(codec, level, b->zctx, b->body.data, b->body.len, &b->comp, err) != 0) return -1;
    if (b->comp.len > INT32_MAX) return kx_fail(err, "cannot write %s: page too large", path);
    kx_buf_reset(&b->hdr);
    kx_pq_put_page_header(&b->hdr, page_type, b->body.len, b->comp.len, num_values, encoding);
    kx_buf_put(out, b->hdr.data, b->hdr.len);
    kx_buf_put(out, b->comp.data, b->comp.len);
    *unc_total += (int64_t)(b->hdr.len + b->body.len);
    return 0;
}

static int emit_page(const kx_pqw *w, scratch *sc, kx_buf *out, int page_type, size_t num_values, int encoding,
                     int64_t *unc_total, kx_err *err)
{
    return kx_pq_emit_page(&sc->pb, w->codec, w->zlevel, out, page_type, num_values, encoding, unc_total, w->path, err);
}

static int flush_page(const kx_pqw *w, colw *c, scratch *sc, kx_err *err)
{
    if (c->page_rows == 0) return 0;
    kx_buf_reset(&sc->pb.body);
    if (c->spec.optional) kx_pq_put_def_levels(&sc->pb.body, c->defs, c->ndefs);
    int enc = KX_PQ_ENC_PLAIN;
    if (c->dict_mode && c->d.n > 0) {
        enc = KX_PQ_ENC_RLE_DICTIONARY;
        int bw = kx_bit_width((uint32_t)(c->d.n - 1));
        if (bw == 0) bw = 1;
        kx_buf_putc(&sc->pb.body, (char)bw);
        kx_rle_encode(&sc->pb.body, c->idx, c->nidx, bw);
    } else {
        kx_buf_put(&sc->pb.body, c->vals.data, c->vals.len);
    }
    if (emit_page(w, sc, &c->pages, 0, c->page_rows, enc, &c->unc_total, err) != 0) return -1;
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
        kx_pq_put_u32le(&c->vals, s->len);
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
static int put_value(const kx_pqw *w, colw *c, scratch *sc, const void *v, kx_err *err)
{
    /* Fixed-width values that are mostly distinct (timestamps) gain nothing from a dictionary
     * and cost a hash probe each: once it holds DICT_PROBE_MIN entries and more than half of
     * the values were new, the rest of the chunk is PLAIN, exactly as when the dictionary is
     * full (the page is finished before this row). Depends only on the data: deterministic. */
    if (c->dict_mode && c->spec.type != KX_PQ_BYTE_ARRAY && c->d.n >= DICT_PROBE_MIN &&
        c->d.n * 2 > c->dict_values) {
        if (flush_page(w, c, sc, err) != 0) return -1;
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
        if (flush_page(w, c, sc, err) != 0) return -1;
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

/* ---- bulk PLAIN rows ------------------------------------------------------------------------
 * Most fixed-width columns of big tables (times, durations) end up PLAIN. While the current
 * page cannot fill up, their rows are appended in bulk: same bytes, statistics, levels and
 * page boundaries as the row-by-row path, without its per-row checks. */

/* How many of the next `avail` rows cannot make the page full, even if all are present:
 * each row adds at most vs value bytes and one level bit (bounded by a byte), and
 * page_estimate must stay below page_bytes after every row, page_rows below the cap. */
static size_t plain_rows_that_fit(const kx_pqw *w, const colw *c, size_t vs, size_t avail)
{
    size_t est = page_estimate(c);
    if (est + 1 >= w->page_bytes || c->page_rows + 1 >= MAX_PAGE_VALUES) return 0;
    size_t r = (w->page_bytes - est - 1) / (vs + 1);
    size_t cap = MAX_PAGE_VALUES - 1 - c->page_rows;
    if (r > cap) r = cap;
    return r < avail ? r : avail;
}

static void stat_fixed(colw *c, const char *p)
{
    switch (c->spec.type) {
    case KX_PQ_INT32: {
        int32_t x;
        memcpy(&x, p, 4);
        stat_int(c, x);
        break;
    }
    case KX_PQ_INT64: {
        int64_t x;
        memcpy(&x, p, 8);
        stat_int(c, x);
        break;
    }
    default: {
        double x;
        memcpy(&x, p, 8);
        stat_double(c, x);
        break;
    }
    }
}

/* Rows [from, from + r) of a PLAIN INT32/INT64/DOUBLE column (see plain_rows_that_fit). */
static void put_plain_fixed_rows(colw *c, const char *vals, const uint8_t *valid, size_t from, size_t r,
                                 size_t vs)
{
    bool optional = c->spec.optional, all = !optional || !valid;
    if (optional && c->ndefs + r > c->capdefs) c->defs = kx_grow(c->defs, &c->capdefs, c->ndefs + r, 1);
    if (all) {
        kx_buf_put(&c->vals, vals + from * vs, r * vs);
        for (size_t i = from; i < from + r; i++) stat_fixed(c, vals + i * vs);
        if (optional) memset(c->defs + c->ndefs, 1, r);
        c->page_nonnull += r;
    } else {
        kx_buf_reserve(&c->vals, r * vs);
        for (size_t i = from; i < from + r; i++) {
            bool present = valid[i] != 0;
            c->defs[c->ndefs + (i - from)] = present;
            if (!present) {
                c->nulls++;
                continue;
            }
            memcpy(c->vals.data + c->vals.len, vals + i * vs, vs);
            c->vals.len += vs;
            stat_fixed(c, vals + i * vs);
            c->page_nonnull++;
        }
        c->vals.data[c->vals.len] = '\0'; /* kx_buf keeps its terminator */
    }
    if (optional) c->ndefs += r;
    c->page_rows += r;
}

static bool is_fixed_plain(const colw *c)
{
    return !c->dict_mode &&
           (c->spec.type == KX_PQ_INT32 || c->spec.type == KX_PQ_INT64 || c->spec.type == KX_PQ_DOUBLE);
}

static int write_column(const kx_pqw *w, colw *c, scratch *sc, size_t from, size_t n,
                        const kx_pq_values *v, kx_err *err)
{
    size_t vs = value_size(c->spec.type);
    const char *vals = v->values;
    if (c->spec.type == KX_PQ_BYTE_ARRAY) c->last_ok = false; /* new value memory */
    for (size_t i = from; i < from + n; i++) {
        if (is_fixed_plain(c)) {
            size_t r = plain_rows_that_fit(w, c, vs, from + n - i);
            if (r >= 8) {
                put_plain_fixed_rows(c, vals, v->valid, i, r, vs);
                i += r - 1;
                continue;
            }
        }
        bool present = !c->spec.optional || !v->valid || v->valid[i];
        /* value first: a dictionary fallback may flush the page before this row */
        if (present) {
            if (put_value(w, c, sc, vals + i * vs, err) != 0) return -1;
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
            if (flush_page(w, c, sc, err) != 0) return -1;
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

/* Finishes column c's chunk of the current row group (its last page, dictionary page,
 * statistics) into c->pages / c->dictpage / c->rec, and resets the chunk state for the next
 * group. Touches only c and sc, so columns can be sealed concurrently. */
static int seal_chunk(const kx_pqw *w, colw *c, scratch *sc, kx_err *err)
{
    if (flush_page(w, c, sc, err) != 0) return -1;
    chunk_rec *r = &c->rec;
    memset(r, 0, sizeof *r);
    int64_t unc = c->unc_total;
    kx_buf_reset(&c->dictpage);
    if (c->encodings & (1u << KX_PQ_ENC_RLE_DICTIONARY)) {
        kx_buf_reset(&sc->pb.body);
        kx_buf_put(&sc->pb.body, c->d.plain.data, c->d.plain.len);
        if (emit_page(w, sc, &c->dictpage, 2, c->d.n, KX_PQ_ENC_PLAIN, &unc, err) != 0) return -1;
        c->encodings |= 1u << KX_PQ_ENC_PLAIN;
    }
    r->total_uncompressed = unc;
    r->num_values = c->num_values;
    r->nulls = c->nulls;
    r->encodings = c->encodings | (1u << KX_PQ_ENC_RLE);
    r->has_minmax = c->has_minmax;
    if (c->has_minmax) {
        encode_stat_value(c, true, &r->min, &r->minlen);
        encode_stat_value(c, false, &r->max, &r->maxlen);
    }
    /* reset the chunk state (pages and dictpage are emptied once written) */
    dict_reset(&c->d);
    c->last_ok = false;
    c->dict_mode = c->spec.dictionary;
    c->dict_values = 0;
    c->unc_total = c->num_values = c->nulls = 0;
    c->encodings = 0;
    c->has_minmax = false;
    kx_buf_reset(&c->smin);
    kx_buf_reset(&c->smax);
    return 0;
}

/* Writes every column's sealed chunk, in column order, and records the row group. */
static int write_row_group(kx_pqw *w, kx_err *err)
{
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
        *r = c->rec; /* takes over min / max */
        memset(&c->rec, 0, sizeof c->rec);
        int64_t start = (int64_t)w->out.offset;
        r->file_offset = start;
        r->dict_page_offset = c->dictpage.len ? start : -1;
        if (write_bytes(w, c->dictpage.data, c->dictpage.len, err) != 0) return -1;
        r->data_page_offset = (int64_t)w->out.offset;
        if (write_bytes(w, c->pages.data, c->pages.len, err) != 0) return -1;
        r->total_compressed = (int64_t)w->out.offset - start;
        kx_buf_reset(&c->pages);
        kx_buf_reset(&c->dictpage);
    }
    w->total_rows += w->rg_rows;
    w->rg_rows = 0;
    return 0;
}

/* ---- segments (see parquet.h: parallel writing) ------------------------------------------- */
size_t kx_pqw_segment_rows(const kx_pqw *w, size_t nrows)
{
    size_t room = (size_t)(w->rg_rows_max - w->rg_rows);
    return nrows < room ? nrows : room;
}

int kx_pqw_slots(const kx_pqw *w)
{
    return w->nslots;
}

int kx_pqw_put_column(kx_pqw *w, size_t col, size_t from, size_t n, const kx_pq_values *v, int slot,
                      kx_err *err)
{
    colw *c = &w->cols[col];
    scratch *sc = &w->scr[slot];
    if (write_column(w, c, sc, from, n, v, err) != 0) return -1;
    /* the segment completes the row group: seal this column's chunk here, in parallel */
    if (w->rg_rows + (int64_t)n >= w->rg_rows_max) return seal_chunk(w, c, sc, err);
    return 0;
}

int kx_pqw_end_segment(kx_pqw *w, size_t n, kx_err *err)
{
    w->rg_rows += (int64_t)n;
    if (w->rg_rows >= w->rg_rows_max) return write_row_group(w, err);
    return 0;
}

/* A segment's columns on the writer's own pool (kx_pqw_write with workers > 1). */
typedef struct seg_job {
    kx_pqw *w;
    size_t from, n;
    const kx_pq_values *cols;
} seg_job;

static void seg_column(void *arg, size_t j, int slot)
{
    seg_job *job = arg;
    kx_pqw *w = job->w;
    if (w->slot_fail[slot] < j) return; /* a lower column already failed on this slot */
    if (kx_pqw_put_column(w, j, job->from, job->n, &job->cols[j], slot, &w->slot_err[slot]) != 0)
        w->slot_fail[slot] = j;
}

/* Below this many values per segment, waking the pool costs more than it saves. */
#define MIN_PARALLEL_VALUES 8192

static int write_segment_parallel(kx_pqw *w, size_t from, size_t n, const kx_pq_values *cols, kx_err *err)
{
    if (!w->pool) {
        w->pool = kx_pool_create(w->nslots);
        w->slot_err = kx_calloc((size_t)w->nslots, sizeof *w->slot_err);
        w->slot_fail = kx_calloc((size_t)w->nslots, sizeof *w->slot_fail);
    }
    for (int k = 0; k < w->nslots; k++) w->slot_fail[k] = SIZE_MAX;
    seg_job job = {w, from, n, cols};
    kx_pool_run(w->pool, w->ncols, seg_column, &job);
    int first = -1; /* the slot whose failing column is the lowest */
    for (int k = 0; k < w->nslots; k++)
        if (w->slot_fail[k] != SIZE_MAX && (first < 0 || w->slot_fail[k] < w->slot_fail[first])) first = k;
    if (first >= 0) {
        if (err) *err = w->slot_err[first];
        return -1;
    }
    return 0;
}

int kx_pqw_write(kx_pqw *w, size_t nrows, const kx_pq_values *cols, kx_err *err)
{
    size_t done = 0;
    while (done < nrows) {
        size_t n = kx_pqw_segment_rows(w, nrows - done);
        if (w->nslots > 1 && w->ncols > 1 && n * w->ncols >= MIN_PARALLEL_VALUES) {
            if (write_segment_parallel(w, done, n, cols, err) != 0) return -1;
        } else {
            for (size_t j = 0; j < w->ncols; j++)
                if (kx_pqw_put_column(w, j, done, n, &cols[j], 0, err) != 0) return -1;
        }
        if (kx_pqw_end_segment(w, n, err) != 0) return -1;
        done += n;
    }
    return 0;
}

/* ---- footer ------------------------------------------------------------------------------- */
void kx_pq_put_schema_element(kx_thr_enc *e, const kx_pq_colspec *s)
{
    kx_thr_struct_begin(e, 0);
    kx_thr_i32(e, 1, s->type);
    kx_thr_i32(e, 3, s->optional ? 1 : 0);
    kx_thr_string(e, 4, s->name);
    if (s->type == KX_PQ_BYTE_ARRAY && s->utf8) {
        kx_thr_i32(e, 6, 0);        /* ConvertedType UTF8 */
        kx_thr_struct_begin(e, 10); /* LogicalType */
        kx_thr_struct_begin(e, 1);  /* STRING: StringType {} */
        kx_thr_struct_end(e);
        kx_thr_struct_end(e);
    }
    kx_thr_struct_end(e);
}

static void put_schema(kx_thr_enc *e, const kx_pqw *w)
{
    kx_thr_list_begin(e, 2, KX_THR_STRUCT, w->ncols + 1);
    kx_thr_struct_begin(e, 0);
    kx_thr_string(e, 4, "schema");
    kx_thr_i32(e, 5, (int32_t)w->ncols);
    kx_thr_struct_end(e);
    for (size_t j = 0; j < w->ncols; j++) kx_pq_put_schema_element(e, &w->cols[j].spec);
}

void kx_pq_put_column_chunk(kx_thr_enc *e, const kx_pq_chunk_meta *m)
{
    kx_thr_struct_begin(e, 0); /* ColumnChunk */
    kx_thr_i64(e, 2, m->file_offset);
    kx_thr_struct_begin(e, 3); /* ColumnMetaData */
    kx_thr_i32(e, 1, m->type);
    size_t nenc = 0;
    for (int k = 0; k < 32; k++) nenc += (m->encodings >> k) & 1;
    kx_thr_list_begin(e, 2, KX_THR_I32, nenc);
    for (int k = 0; k < 32; k++)
        if ((m->encodings >> k) & 1) kx_thr_elem_i32(e, k);
    kx_thr_list_begin(e, 3, KX_THR_BINARY, 1);
    kx_thr_elem_binary(e, m->name, strlen(m->name));
    kx_thr_i32(e, 4, m->codec);
    kx_thr_i64(e, 5, m->num_values);
    kx_thr_i64(e, 6, m->total_uncompressed);
    kx_thr_i64(e, 7, m->total_compressed);
    kx_thr_i64(e, 9, m->data_page_offset);
    if (m->dict_page_offset >= 0) kx_thr_i64(e, 11, m->dict_page_offset);
    kx_thr_struct_begin(e, 12); /* Statistics */
    kx_thr_i64(e, 3, m->nulls);
    if (m->has_minmax) {
        kx_thr_binary(e, 5, m->max, m->maxlen);
        kx_thr_binary(e, 6, m->min, m->minlen);
    }
    kx_thr_struct_end(e);
    kx_thr_struct_end(e); /* ColumnMetaData */
    kx_thr_struct_end(e); /* ColumnChunk */
}

static void put_chunk(kx_thr_enc *e, const kx_pqw *w, size_t j, const chunk_rec *r)
{
    const kx_pq_colspec *s = &w->cols[j].spec;
    kx_pq_chunk_meta m = {s->name, s->type, w->codec, r->encodings, r->file_offset, r->data_page_offset,
                          r->dict_page_offset, r->num_values, r->total_uncompressed, r->total_compressed,
                          r->nulls, r->has_minmax, r->min, r->max, r->minlen, r->maxlen};
    kx_pq_put_column_chunk(e, &m);
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
    kx_pq_put_footer_tail(&e, w->ids.kv, w->ids.nkv, w->ids.created_by, true, w->ncols);
}

/* The last, partial row group (sealed here, sequentially). */
static int flush_last_row_group(kx_pqw *w, kx_err *err)
{
    if (w->rg_rows == 0) return 0;
    for (size_t j = 0; j < w->ncols; j++)
        if (seal_chunk(w, &w->cols[j], &w->scr[0], err) != 0) return -1;
    return write_row_group(w, err);
}

int kx_pqw_commit(kx_pqw *w, kx_err *err)
{
    int rc = flush_last_row_group(w, err);
    kx_buf footer = KX_BUF_INIT;
    if (rc == 0) put_footer(&footer, w);
    rc = kx_pq_out_finish(&w->out, rc, &footer, err);
    kx_buf_free(&footer);
    free_writer(w);
    return rc;
}
