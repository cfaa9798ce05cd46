/* writer_copy.c — a Parquet file made of another Parquet file's column chunks plus new
 * INT64 columns (kx_pqc_*, see parquet.h).
 *
 * Parquet locates every column chunk through the footer only (ColumnMetaData offsets and
 * sizes; pages are self-describing), so a chunk can move to another file byte for byte if
 * its offsets are rebased. For each row group of the source, in order:
 *   1. the source's column chunks are copied verbatim (pages, dictionary, compression);
 *   2. the new columns' chunks are encoded from the values given for that group's rows
 *      (OPTIONAL INT64: a PLAIN dictionary page + RLE_DICTIONARY data pages, or PLAIN pages
 *      past DICT_MAX distinct values; statistics null_count/min/max);
 *   3. the footer gets a RowGroup listing both. A copied chunk's ColumnMetaData is re-emitted
 *      field by field from the source footer bytes: data_page_offset and
 *      dictionary_page_offset are rebased, index_page_offset and the bloom filter location
 *      (which point outside the chunk) are dropped, every other field (type, encodings,
 *      path, codec, counts, sizes, statistics, encoding stats, ...) is kept as stored.
 * The schema is the source's SchemaElements (copied as stored) plus one element per new
 * column; the file key/value metadata and created_by are the caller's, as for kx_pqw.
 */
#define _GNU_SOURCE /* copy_file_range */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/fs.h"
#include "parquet/parquet.h"
#include "parquet/pq_internal.h"
#include "util/mem.h"

#define PAGE_ROWS (1u << 17) /* values per data page of a new column (1 MiB PLAIN) */
#define DICT_MAX (1u << 16)  /* distinct values a new column's dictionary may hold */
#define COPY_BLOCK (4u << 20)

/* Footer record of one new column chunk. */
typedef struct extra_rec {
    int64_t start, data_page_offset, dict_page_offset; /* dict: -1 if none */
    int64_t total_uncompressed, total_compressed, num_values, nulls;
    bool dict;
    bool has_minmax;
    int64_t min, max;
} extra_rec;

typedef struct out_group {
    size_t src_rg;
    int64_t *starts; /* new start offset of each copied chunk */
    extra_rec *extra;
} out_group;

struct kx_pqc {
    kx_pq_out out;
    char *path;
    kx_pqr *src;
    const kx_pq_meta *sm;
    kx_pq_colspec *extra;
    size_t nextra;
    int codec, zlevel;
    kx_pq_footer_ids ids; /* created_by and key/value metadata */
    size_t next_rg;     /* source row group being filled */
    int64_t have;       /* rows buffered for it */
    int64_t **vals;     /* per new column: the group's values */
    uint8_t **valid;    /* per new column: presence (1) of each row */
    bool *any_null;
    size_t cap;
    out_group *groups;
    size_t ngroups;
    int64_t total_rows;
    kx_pq_page_buf pb;  /* the page being encoded */
    kx_buf pages, dictpage, copybuf;
    uint32_t *idx;      /* dictionary indices of one chunk */
    uint8_t *ones;      /* definition levels of a page without nulls */
    size_t cap_idx, cap_ones;
};

static int write_bytes(kx_pqc *w, const void *p, size_t n, kx_err *err) { return kx_pq_out_write(&w->out, p, n, err); }

static void free_writer(kx_pqc *w)
{
    for (size_t j = 0; j < w->nextra; j++) {
        free((char *)w->extra[j].name);
        free(w->vals[j]);
        free(w->valid[j]);
    }
    free(w->extra);
    free(w->vals);
    free(w->valid);
    free(w->any_null);
    for (size_t g = 0; g < w->ngroups; g++) {
        free(w->groups[g].starts);
        free(w->groups[g].extra);
    }
    free(w->groups);
    kx_pq_footer_ids_free(&w->ids);
    free(w->path);
    kx_pq_page_buf_free(&w->pb);
    kx_buf_free(&w->pages);
    kx_buf_free(&w->dictpage);
    kx_buf_free(&w->copybuf);
    free(w->idx);
    free(w->ones);
    free(w);
}

void kx_pqc_abort(kx_pqc *w)
{
    if (!w) return;
    kx_pq_out_abort(&w->out);
    free_writer(w);
}

kx_pqc *kx_pqc_open(const char *path, kx_pqr *src, const kx_pq_colspec *extra, size_t nextra,
                    const kx_pqw_opts *opts, kx_err *err)
{
    kx_pqw_opts def;
    opts = kx_pq_opts_or_default(path, opts, &def, err);
    if (!opts) return NULL;
    for (size_t j = 0; j < nextra; j++)
        if (extra[j].type != KX_PQ_INT64) {
            kx_fail(err, "cannot write %s: new column %s must be INT64", path, extra[j].name);
            return NULL;
        }
    kx_pqc *w = kx_calloc(1, sizeof *w);
    if (kx_pq_out_open(&w->out, path, err) != 0) {
        free(w);
        return NULL;
    }
    w->path = kx_strdup(path);
    w->src = src;
    w->sm = kx_pqr_meta(src);
    w->nextra = nextra;
    size_t nx = nextra ? nextra : 1;
    w->extra = kx_calloc(nx, sizeof *w->extra);
    w->vals = kx_calloc(nx, sizeof *w->vals);
    w->valid = kx_calloc(nx, sizeof *w->valid);
    w->any_null = kx_calloc(nx, sizeof *w->any_null);
    for (size_t j = 0; j < nextra; j++) {
        w->extra[j] = extra[j];
        w->extra[j].name = kx_strdup(extra[j].name);
    }
    w->codec = opts->codec;
    w->zlevel = opts->zstd_level ? opts->zstd_level : 1;
    kx_pq_footer_ids_copy(&w->ids, opts);
    w->groups = kx_calloc(w->sm->nrowgroups ? w->sm->nrowgroups : 1, sizeof *w->groups);
    return w;
}

/* ---- copying ----------------------------------------------------------------------------- */

static int64_t chunk_start(const kx_pq_chunk *c)
{
    return c->dictionary_page_offset >= 0 ? c->dictionary_page_offset : c->data_page_offset;
}

/* Copies n bytes at off of the source to the end of the file: in the kernel when both are
 * files (copy_file_range), else through a buffer. */
static int copy_range(kx_pqc *w, uint64_t off, uint64_t n, kx_err *err)
{
    int in = kx_pqr_fd(w->src);
    FILE *fp = w->out.file.fp;
    if (in >= 0 && n > 0 && fflush(fp) == 0) {
        int out = fileno(fp);
        loff_t o = (loff_t)off;
        uint64_t left = n;
        while (left > 0) {
            ssize_t k = copy_file_range(in, &o, out, NULL, left, 0);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) break; /* unsupported here (or short source): copy the rest below */
            left -= (uint64_t)k;
        }
        w->out.offset += n - left;
        off += n - left;
        n = left;
    }
    while (n > 0) {
        size_t k = n < COPY_BLOCK ? (size_t)n : COPY_BLOCK;
        kx_buf_reset(&w->copybuf);
        kx_buf_reserve(&w->copybuf, k);
        if (kx_pqr_read_bytes(w->src, off, w->copybuf.data, k, err) != 0) return -1;
        if (write_bytes(w, w->copybuf.data, k, err) != 0) return -1;
        off += k;
        n -= k;
    }
    return 0;
}

/* ---- new columns --------------------------------------------------------------------------- */

/* Appends header + compressed w->pb.body to out (page_type 0 data, 2 dictionary). */
static int emit_page(kx_pqc *w, kx_buf *out, int page_type, size_t num_values, int encoding, int64_t *unc_total,
                     kx_err *err)
{
    return kx_pq_emit_page(&w->pb, w->codec, w->zlevel, out, page_type, num_values, encoding, unc_total, w->path, err);
}

/* Dictionary indices of the present values of v (first-seen order) into w->idx and the
 * PLAIN dictionary into w->dictpage. Returns the entry count, or 0 past DICT_MAX entries
 * (or with no present value): the chunk is then PLAIN. */
static size_t build_dict(kx_pqc *w, const int64_t *v, const uint8_t *valid, size_t n)
{
    size_t nslots = 1024;
    while (nslots < 2 * (n < DICT_MAX ? n : DICT_MAX)) nslots *= 2;
    uint32_t *slots = kx_calloc(nslots, sizeof *slots); /* entry + 1, 0 = empty */
    int64_t *ent = kx_malloc(DICT_MAX * sizeof *ent);
    if (n > w->cap_idx) w->idx = kx_grow(w->idx, &w->cap_idx, n, sizeof *w->idx);
    size_t nent = 0, k = 0;
    bool last_ok = false;
    int64_t last = 0;
    uint32_t last_i = 0;
    for (size_t i = 0; i < n; i++) {
        if (valid && !valid[i]) continue;
        int64_t x = v[i];
        if (last_ok && x == last) { /* runs of one code are the common case */
            w->idx[k++] = last_i;
            continue;
        }
        uint64_t h = (uint64_t)x * 0x9E3779B97F4A7C15ull;
        size_t s = (size_t)(h >> 32) & (nslots - 1);
        uint32_t e;
        while ((e = slots[s]) != 0 && ent[e - 1] != x) s = (s + 1) & (nslots - 1);
        if (!e) {
            if (nent == DICT_MAX) {
                nent = 0;
                break;
            }
            ent[nent++] = x;
            slots[s] = e = (uint32_t)nent;
        }
        w->idx[k++] = last_i = e - 1;
        last = x;
        last_ok = true;
    }
    kx_buf_reset(&w->dictpage);
    for (size_t i = 0; i < nent; i++) kx_buf_put(&w->dictpage, &ent[i], 8); /* LE host */
    free(slots);
    free(ent);
    return nent;
}

/* Encodes new column j for the buffered rows: appends its chunk to the file. */
static int write_extra_chunk(kx_pqc *w, size_t j, size_t n, extra_rec *r, kx_err *err)
{
    const int64_t *v = w->vals[j];
    const uint8_t *valid = w->any_null[j] ? w->valid[j] : NULL;
    memset(r, 0, sizeof *r);
    r->dict_page_offset = -1;
    for (size_t i = 0; i < n; i++) {
        if (valid && !valid[i]) {
            r->nulls++;
            continue;
        }
        if (!r->has_minmax) r->min = r->max = v[i];
        else if (v[i] < r->min) r->min = v[i];
        else if (v[i] > r->max) r->max = v[i];
        r->has_minmax = true;
    }
    size_t nent = build_dict(w, v, valid, n);
    r->dict = nent > 0;
    int bw = r->dict ? kx_bit_width((uint32_t)(nent - 1)) : 0;
    if (bw == 0) bw = 1;
    if (n > w->cap_ones) {
        w->ones = kx_grow(w->ones, &w->cap_ones, n, 1);
        memset(w->ones, 1, w->cap_ones);
    }
    const uint8_t *defs = valid ? valid : w->ones;
    kx_buf_reset(&w->pages);
    size_t k = 0; /* present values so far */
    for (size_t at = 0; at < n; at += PAGE_ROWS) {
        size_t m = n - at < PAGE_ROWS ? n - at : PAGE_ROWS;
        kx_buf_reset(&w->pb.body);
        kx_pq_put_def_levels(&w->pb.body, defs + at, m);
        size_t present = 0;
        for (size_t i = at; i < at + m; i++) present += defs[i] != 0;
        if (r->dict) {
            kx_buf_putc(&w->pb.body, (char)bw);
            kx_rle_encode(&w->pb.body, w->idx + k, present, bw);
        } else {
            for (size_t i = at; i < at + m; i++)
                if (defs[i]) kx_buf_put(&w->pb.body, &v[i], 8);
        }
        k += present;
        int enc = r->dict ? KX_PQ_ENC_RLE_DICTIONARY : KX_PQ_ENC_PLAIN;
        if (emit_page(w, &w->pages, 0, m, enc, &r->total_uncompressed, err) != 0) return -1;
    }
    r->start = (int64_t)w->out.offset;
    if (r->dict) {
        kx_buf_reset(&w->pb.body);
        kx_buf_put(&w->pb.body, w->dictpage.data, w->dictpage.len);
        kx_buf_reset(&w->dictpage);
        if (emit_page(w, &w->dictpage, 2, nent, KX_PQ_ENC_PLAIN, &r->total_uncompressed, err) != 0 ||
            write_bytes(w, w->dictpage.data, w->dictpage.len, err) != 0)
            return -1;
        r->dict_page_offset = r->start;
    }
    r->data_page_offset = (int64_t)w->out.offset;
    if (write_bytes(w, w->pages.data, w->pages.len, err) != 0) return -1;
    r->total_compressed = (int64_t)w->out.offset - r->start;
    r->num_values = (int64_t)n;
    return 0;
}

/* Writes source row group w->next_rg (copied) with the buffered values of the new columns. */
static int flush_group(kx_pqc *w, kx_err *err)
{
    const kx_pq_rowgroup *rg = &w->sm->rowgroups[w->next_rg];
    out_group *g = &w->groups[w->ngroups++];
    g->src_rg = w->next_rg;
    g->starts = kx_calloc(w->sm->ncolumns ? w->sm->ncolumns : 1, sizeof *g->starts);
    g->extra = kx_calloc(w->nextra ? w->nextra : 1, sizeof *g->extra);
    for (size_t j = 0; j < w->sm->ncolumns; j++) {
        const kx_pq_chunk *c = &rg->chunks[j];
        g->starts[j] = (int64_t)w->out.offset;
        if (copy_range(w, (uint64_t)chunk_start(c), (uint64_t)c->total_compressed, err) != 0) return -1;
    }
    for (size_t j = 0; j < w->nextra; j++)
        if (write_extra_chunk(w, j, (size_t)rg->num_rows, &g->extra[j], err) != 0) return -1;
    for (size_t j = 0; j < w->nextra; j++) w->any_null[j] = false;
    w->total_rows += rg->num_rows;
    w->next_rg++;
    w->have = 0;
    return 0;
}

/* Skips empty source row groups (nothing to copy, no rows to pair). */
static void skip_empty_groups(kx_pqc *w)
{
    while (w->next_rg < w->sm->nrowgroups && w->sm->rowgroups[w->next_rg].num_rows == 0) w->next_rg++;
}

int kx_pqc_write(kx_pqc *w, size_t nrows, const kx_pq_values *extra, kx_err *err)
{
    size_t done = 0;
    while (done < nrows) {
        skip_empty_groups(w);
        if (w->next_rg >= w->sm->nrowgroups)
            return kx_fail(err, "cannot write %s: more rows than %s has", w->path, kx_pqr_name(w->src));
        int64_t want = w->sm->rowgroups[w->next_rg].num_rows;
        if ((size_t)want > w->cap) {
            for (size_t j = 0; j < w->nextra; j++) {
                w->vals[j] = kx_realloc(w->vals[j], (size_t)want * sizeof **w->vals);
                w->valid[j] = kx_realloc(w->valid[j], (size_t)want);
            }
            w->cap = (size_t)want;
        }
        size_t m = nrows - done;
        if ((int64_t)m > want - w->have) m = (size_t)(want - w->have);
        for (size_t j = 0; j < w->nextra; j++) {
            memcpy(w->vals[j] + w->have, (const int64_t *)extra[j].values + done, m * 8);
            if (extra[j].valid) {
                memcpy(w->valid[j] + w->have, extra[j].valid + done, m);
                for (size_t i = 0; i < m && !w->any_null[j]; i++) w->any_null[j] = !extra[j].valid[done + i];
            } else {
                memset(w->valid[j] + w->have, 1, m);
            }
        }
        w->have += (int64_t)m;
        done += m;
        if (w->have == want && flush_group(w, err) != 0) return -1;
    }
    return 0;
}

/* ---- footer ------------------------------------------------------------------------------- */

/* ColumnMetaData of a copied chunk: the stored fields, offsets rebased (see the top). */
static int put_copied_meta(kx_thr_enc *e, const kx_pq_chunk *c, int64_t new_start, const char *name,
                           kx_err *err)
{
    kx_thr_dec d;
    kx_thr_dec_init(&d, c->raw_meta, c->raw_meta_len);
    kx_thr_struct_begin(e, 3);
    int16_t last = 0, id;
    int t;
    while (kx_thr_next_field(&d, &last, &id, &t)) {
        const uint8_t *v = d.p;
        kx_thr_skip(&d, t);
        if (d.failed) break;
        if (id == 9) {
            kx_thr_i64(e, 9, new_start + (c->data_page_offset - chunk_start(c)));
        } else if (id == 11) {
            if (c->dictionary_page_offset >= 0) kx_thr_i64(e, 11, new_start);
        } else if (id == 10 || id == 14 || id == 15) {
            continue; /* index page, bloom filter: outside the chunk, not copied */
        } else {
            kx_thr_field(e, id, t);
            kx_buf_put(e->out, v, (size_t)(d.p - v));
        }
    }
    if (d.failed) return kx_fail(err, "%s: cannot re-encode column metadata: %s", name, d.why);
    kx_thr_struct_end(e);
    return 0;
}

static void put_extra_chunk(kx_thr_enc *e, const kx_pqc *w, size_t j, const extra_rec *r)
{
    const kx_pq_colspec *s = &w->extra[j];
    unsigned enc = 1u << KX_PQ_ENC_PLAIN | 1u << KX_PQ_ENC_RLE | (r->dict ? 1u << KX_PQ_ENC_RLE_DICTIONARY : 0);
    /* INT64 statistics: PLAIN, 8 bytes little-endian (the host order of the supported hosts) */
    kx_pq_chunk_meta m = {s->name, s->type, w->codec, enc, r->start, r->data_page_offset, r->dict_page_offset,
                          r->num_values, r->total_uncompressed, r->total_compressed, r->nulls, r->has_minmax,
                          &r->min, &r->max, 8, 8};
    kx_pq_put_column_chunk(e, &m);
}

static void put_schema(kx_thr_enc *e, const kx_pqc *w)
{
    const kx_pq_meta *m = w->sm;
    kx_thr_list_begin(e, 2, KX_THR_STRUCT, m->ncolumns + w->nextra + 1);
    kx_thr_struct_begin(e, 0);
    kx_thr_string(e, 4, "schema");
    kx_thr_i32(e, 5, (int32_t)(m->ncolumns + w->nextra));
    kx_thr_struct_end(e);
    for (size_t j = 0; j < m->ncolumns; j++) /* list elements: position independent */
        kx_buf_put(e->out, m->columns[j].raw_schema, m->columns[j].raw_schema_len);
    for (size_t j = 0; j < w->nextra; j++) kx_pq_put_schema_element(e, &w->extra[j]);
}

static int put_group(kx_thr_enc *e, const kx_pqc *w, const out_group *g, size_t ordinal, kx_err *err)
{
    const kx_pq_meta *m = w->sm;
    const kx_pq_rowgroup *rg = &m->rowgroups[g->src_rg];
    int64_t unc = 0, comp = 0;
    kx_thr_struct_begin(e, 0);
    kx_thr_list_begin(e, 1, KX_THR_STRUCT, m->ncolumns + w->nextra);
    for (size_t j = 0; j < m->ncolumns; j++) {
        const kx_pq_chunk *c = &rg->chunks[j];
        kx_thr_struct_begin(e, 0);
        kx_thr_i64(e, 2, g->starts[j]);
        if (put_copied_meta(e, c, g->starts[j], w->path, err) != 0) return -1;
        kx_thr_struct_end(e);
        unc += c->total_uncompressed;
        comp += c->total_compressed;
    }
    for (size_t j = 0; j < w->nextra; j++) {
        put_extra_chunk(e, w, j, &g->extra[j]);
        unc += g->extra[j].total_uncompressed;
        comp += g->extra[j].total_compressed;
    }
    kx_thr_i64(e, 2, unc);
    kx_thr_i64(e, 3, rg->num_rows);
    kx_thr_i64(e, 5, m->ncolumns ? g->starts[0] : g->extra[0].start);
    kx_thr_i64(e, 6, comp);
    kx_thr_field(e, 7, KX_THR_I16);
    kx_thr_put_varint(e->out, kx_thr_zigzag((int16_t)ordinal));
    kx_thr_struct_end(e);
    return 0;
}

static int put_footer(kx_buf *out, const kx_pqc *w, kx_err *err)
{
    const kx_pq_meta *m = w->sm;
    kx_thr_enc e;
    kx_thr_enc_init(&e, out);
    kx_thr_i32(&e, 1, m->version == 2 ? 2 : 1);
    put_schema(&e, w);
    kx_thr_i64(&e, 3, w->total_rows);
    kx_thr_list_begin(&e, 4, KX_THR_STRUCT, w->ngroups);
    for (size_t g = 0; g < w->ngroups; g++)
        if (put_group(&e, w, &w->groups[g], g, err) != 0) return -1;
    /* the source's statistics follow TypeDefinedOrder when it says so; ours too */
    kx_pq_put_footer_tail(&e, w->ids.kv, w->ids.nkv, w->ids.created_by, m->has_column_orders, m->ncolumns + w->nextra);
    return 0;
}

int kx_pqc_commit(kx_pqc *w, kx_err *err)
{
    int rc = 0;
    skip_empty_groups(w);
    if (w->have != 0 || w->next_rg != w->sm->nrowgroups)
        rc = kx_fail(err, "cannot write %s: %lld rows given, %s has %lld", w->path,
                     (long long)(w->total_rows + w->have), kx_pqr_name(w->src), (long long)w->sm->num_rows);
    if (rc == 0 && w->nextra == 0 && w->sm->ncolumns == 0)
        rc = kx_fail(err, "cannot write %s: a table needs at least one column", w->path);
    kx_buf footer = KX_BUF_INIT;
    if (rc == 0) rc = put_footer(&footer, w, err);
    rc = kx_pq_out_finish(&w->out, rc, &footer, err);
    kx_buf_free(&footer);
    free_writer(w);
    return rc;
}
