/* reader.c — Parquet reader for flat schemas (see parquet.h).
 *
 * Hostile-input policy: every length, offset and count read from the file is checked
 * against the bytes actually available (footer, chunk, page) and the KX_PQR_* limits before
 * it is used to index or allocate; any violation is reported as "<file>: corrupt Parquet
 * file: <reason>". Output arrays grow with the values actually decoded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parquet/parquet.h"
#include "parquet/pq_internal.h"
#include "util/mem.h"
#include "util/pool.h"

/* Level and index buffers of one column decode. Each concurrent decode has its own, so
 * columns of a row group can be decoded in parallel (kx_pqr_read_columns). */
typedef struct decode_scratch {
    uint32_t *def, *idx;
    size_t cap_def, cap_idx;
} decode_scratch;

struct kx_pqr {
    char *name;
    int fd;                 /* -1 when reading from memory */
    const uint8_t *mem;
    uint64_t size;
    uint8_t *footer;        /* owned copy of the footer (stats point into it) */
    kx_pq_meta meta;
    decode_scratch scratch; /* for kx_pqr_read_column (one column at a time) */
};

const char *kx_pq_type_name(int t)
{
    static const char *const n[] = {"BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE",
                                    "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
    return t >= 0 && t < 8 ? n[t] : "UNKNOWN";
}

const char *kx_pq_codec_name(int c)
{
    static const char *const n[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"};
    return c >= 0 && c < 8 ? n[c] : "UNKNOWN";
}

const char *kx_pq_encoding_name(int e)
{
    static const char *const n[] = {"PLAIN", "GROUP_VAR_INT", "PLAIN_DICTIONARY", "RLE", "BIT_PACKED",
                                    "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
                                    "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
    return e >= 0 && e < 10 ? n[e] : "UNKNOWN";
}

static int corrupt(kx_pqr *r, kx_err *err, const char *why)
{
    return kx_fail(err, "%s: corrupt or unsupported Parquet file: %s", r->name, why);
}

static int read_at(kx_pqr *r, uint64_t off, void *dst, size_t n, kx_err *err)
{
    if (off > r->size || n > r->size - off) return corrupt(r, err, "read beyond the end of the file");
    if (r->fd < 0) {
        if (n) memcpy(dst, r->mem + off, n);
        return 0;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(r->fd, (char *)dst + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return kx_fail_errno(err, "cannot read %s", r->name);
        if (k == 0) return corrupt(r, err, "file shorter than expected");
        got += (size_t)k;
    }
    return 0;
}

/* ---- footer ------------------------------------------------------------------------------- */
typedef struct schema_el {
    int type, repetition, converted, logical, int_bits, type_length;
    bool int_signed, has_type;
    int64_t num_children;
    const uint8_t *name;
    uint32_t name_len;
    const uint8_t *raw; /* the element's Thrift bytes */
    uint32_t raw_len;
} schema_el;

static void parse_logical(kx_thr_dec *d, schema_el *s)
{
    if (!kx_thr_enter(d)) return;
    int16_t last = 0, id;
    int t;
    while (kx_thr_next_field(d, &last, &id, &t)) {
        if (s->logical < 0) s->logical = id;
        if (id == 10 && t == KX_THR_STRUCT) { /* INTEGER: IntType {1: i8 bitWidth, 2: bool isSigned} */
            if (!kx_thr_enter(d)) return;
            int16_t l2 = 0, i2;
            int t2;
            while (kx_thr_next_field(d, &l2, &i2, &t2)) {
                if (i2 == 1) s->int_bits = kx_thr_get_i32(d, t2);
                else if (i2 == 2) s->int_signed = kx_thr_get_bool(d, t2);
                else kx_thr_skip(d, t2);
            }
            kx_thr_leave(d);
        } else {
            kx_thr_skip(d, t);
        }
    }
    kx_thr_leave(d);
}

static void parse_schema_el(kx_thr_dec *d, schema_el *s)
{
    const uint8_t *raw = s->raw;
    memset(s, 0, sizeof *s);
    s->raw = raw;
    s->type = -1;
    s->repetition = 0;
    s->converted = -1;
    s->logical = -1;
    if (!kx_thr_enter(d)) return;
    int16_t last = 0, id;
    int t;
    while (kx_thr_next_field(d, &last, &id, &t)) {
        switch (id) {
        case 1: s->type = kx_thr_get_i32(d, t); s->has_type = true; break;
        case 2: s->type_length = kx_thr_get_i32(d, t); break;
        case 3: s->repetition = kx_thr_get_i32(d, t); break;
        case 4: s->name = kx_thr_get_binary(d, t, &s->name_len); break;
        case 5: s->num_children = kx_thr_get_i32(d, t); break;
        case 6: s->converted = kx_thr_get_i32(d, t); break;
        case 10:
            if (t == KX_THR_STRUCT) parse_logical(d, s);
            else kx_thr_skip(d, t);
            break;
        default: kx_thr_skip(d, t); break;
        }
    }
    kx_thr_leave(d);
}

static void parse_stats(kx_thr_dec *d, kx_pq_stats *st)
{
    kx_pq_bytes dmin = {0}, dmax = {0};
    bool has_dmin = false, has_dmax = false;
    if (!kx_thr_enter(d)) return;
    int16_t last = 0, id;
    int t;
    while (kx_thr_next_field(d, &last, &id, &t)) {
        const uint8_t *p;
        uint32_t n;
        switch (id) {
        case 1: p = kx_thr_get_binary(d, t, &n); dmax = (kx_pq_bytes){(const char *)p, n}; has_dmax = true; break;
        case 2: p = kx_thr_get_binary(d, t, &n); dmin = (kx_pq_bytes){(const char *)p, n}; has_dmin = true; break;
        case 3: st->null_count = kx_thr_get_i64(d, t); st->has_null_count = true; break;
        case 5: p = kx_thr_get_binary(d, t, &n); st->max = (kx_pq_bytes){(const char *)p, n}; st->has_max = true; break;
        case 6: p = kx_thr_get_binary(d, t, &n); st->min = (kx_pq_bytes){(const char *)p, n}; st->has_min = true; break;
        default: kx_thr_skip(d, t); break;
        }
    }
    kx_thr_leave(d);
    if (!st->has_min && !st->has_max && (has_dmin || has_dmax)) {
        st->min = dmin;
        st->max = dmax;
        st->has_min = has_dmin;
        st->has_max = has_dmax;
        st->min_is_deprecated = true;
    }
}

static void parse_column_meta(kx_thr_dec *d, kx_pq_chunk *c)
{
    if (!kx_thr_enter(d)) return;
    int16_t last = 0, id;
    int t;
    while (kx_thr_next_field(d, &last, &id, &t)) {
        switch (id) {
        case 1: c->type = kx_thr_get_i32(d, t); break;
        case 2: {
            int et;
            uint32_t n;
            if (!kx_thr_get_list(d, t, &et, &n)) break;
            for (uint32_t i = 0; i < n && !d->failed; i++) {
                int32_t e = kx_thr_get_i32(d, et);
                if (c->nencodings < 16) c->encodings[c->nencodings++] = e;
            }
            break;
        }
        case 4: c->codec = kx_thr_get_i32(d, t); break;
        case 5: c->num_values = kx_thr_get_i64(d, t); break;
        case 6: c->total_uncompressed = kx_thr_get_i64(d, t); break;
        case 7: c->total_compressed = kx_thr_get_i64(d, t); break;
        case 9: c->data_page_offset = kx_thr_get_i64(d, t); break;
        case 11: c->dictionary_page_offset = kx_thr_get_i64(d, t); break;
        case 12:
            if (t == KX_THR_STRUCT) parse_stats(d, &c->stats);
            else kx_thr_skip(d, t);
            break;
        default: kx_thr_skip(d, t); break;
        }
    }
    kx_thr_leave(d);
}

static void parse_column_chunk(kx_thr_dec *d, kx_pq_chunk *c, bool *external, bool *has_meta)
{
    if (!kx_thr_enter(d)) return;
    int16_t last = 0, id;
    int t;
    while (kx_thr_next_field(d, &last, &id, &t)) {
        if (id == 1 && t == KX_THR_BINARY) {
            *external = true;
            kx_thr_skip(d, t);
        } else if (id == 3 && t == KX_THR_STRUCT) {
            const uint8_t *at = d->p;
            parse_column_meta(d, c);
            c->raw_meta = at;
            c->raw_meta_len = (uint32_t)(d->p - at);
            *has_meta = true;
        } else {
            kx_thr_skip(d, t);
        }
    }
    kx_thr_leave(d);
}

static int parse_row_group(kx_pqr *r, kx_thr_dec *d, kx_pq_rowgroup *g, kx_err *err)
{
    size_t ncols = r->meta.ncolumns;
    g->chunks = kx_calloc(ncols ? ncols : 1, sizeof *g->chunks);
    size_t got_cols = 0;
    bool external = false, missing_meta = false, seen_cols = false;
    if (!kx_thr_enter(d)) return 0;
    int16_t last = 0, id;
    int t;
    while (kx_thr_next_field(d, &last, &id, &t)) {
        if (id == 1 && !seen_cols) {
            int et;
            uint32_t n;
            seen_cols = true;
            if (!kx_thr_get_list(d, t, &et, &n)) break;
            if (n != ncols || et != KX_THR_STRUCT) return corrupt(r, err, "row group column count differs from the schema");
            for (uint32_t i = 0; i < n && !d->failed; i++) {
                bool has = false;
                g->chunks[i].dictionary_page_offset = -1;
                g->chunks[i].data_page_offset = -1;
                parse_column_chunk(d, &g->chunks[i], &external, &has);
                if (!has) missing_meta = true;
                got_cols++;
            }
        } else if (id == 2) g->total_byte_size = kx_thr_get_i64(d, t);
        else if (id == 3) g->num_rows = kx_thr_get_i64(d, t);
        else kx_thr_skip(d, t);
    }
    kx_thr_leave(d);
    if (d->failed) return 0; /* reported by the caller */
    if (external) return corrupt(r, err, "column chunks in external files are not supported");
    if (got_cols != ncols || missing_meta) return corrupt(r, err, "row group without column metadata");
    return 0;
}

static int parse_schema(kx_pqr *r, kx_thr_dec *d, int type, kx_err *err)
{
    int et;
    uint32_t n;
    if (!kx_thr_get_list(d, type, &et, &n)) return 0;
    if (et != KX_THR_STRUCT || n == 0) return corrupt(r, err, "empty or malformed schema");
    if (n - 1 > KX_PQR_MAX_COLUMNS) return corrupt(r, err, "too many columns");
    schema_el *els = kx_calloc(n, sizeof *els);
    for (uint32_t i = 0; i < n && !d->failed; i++) {
        els[i].raw = d->p;
        parse_schema_el(d, &els[i]);
        els[i].raw_len = (uint32_t)(d->p - els[i].raw);
    }
    int rc = 0;
    if (d->failed) goto out;
    if (els[0].num_children != (int64_t)n - 1) {
        rc = corrupt(r, err, "nested schemas are not supported (root children != leaves)");
        goto out;
    }
    r->meta.ncolumns = n - 1;
    r->meta.columns = kx_calloc(n, sizeof *r->meta.columns);
    for (uint32_t i = 1; i < n; i++) {
        schema_el *s = &els[i];
        kx_pq_column *c = &r->meta.columns[i - 1];
        c->name = kx_strndup(s->name ? (const char *)s->name : "", s->name_len);
        if (s->num_children > 0 || !s->has_type) {
            rc = corrupt(r, err, "nested schemas are not supported");
            goto out;
        }
        c->type = s->type;
        c->repetition = s->repetition;
        c->converted_type = s->converted;
        c->logical_type = s->logical;
        c->int_bits = s->int_bits;
        c->int_signed = s->int_signed;
        c->type_length = s->type_length;
        c->raw_schema = s->raw;
        c->raw_schema_len = s->raw_len;
    }
out:
    free(els);
    return rc;
}

static int parse_footer(kx_pqr *r, const uint8_t *p, size_t n, kx_err *err)
{
    kx_thr_dec d;
    kx_thr_dec_init(&d, p, n);
    kx_pq_meta *m = &r->meta;
    bool has_schema = false, has_rows = false, has_rgs = false;
    int16_t last = 0, id;
    int t;
    while (kx_thr_next_field(&d, &last, &id, &t)) {
        if (id == 1) m->version = kx_thr_get_i32(&d, t);
        else if (id == 2 && !has_schema) {
            has_schema = true;
            if (parse_schema(r, &d, t, err) != 0) return -1;
        } else if (id == 3) {
            m->num_rows = kx_thr_get_i64(&d, t);
            has_rows = true;
        } else if (id == 4 && has_schema && !has_rgs) {
            int et;
            uint32_t k;
            has_rgs = true;
            if (!kx_thr_get_list(&d, t, &et, &k)) break;
            if (et != KX_THR_STRUCT) return corrupt(r, err, "malformed row group list");
            m->rowgroups = kx_calloc(k ? k : 1, sizeof *m->rowgroups);
            for (uint32_t i = 0; i < k && !d.failed; i++) {
                m->nrowgroups = i + 1;
                if (parse_row_group(r, &d, &m->rowgroups[i], err) != 0) return -1;
            }
        } else if (id == 5 && !m->keys) {
            int et;
            uint32_t k;
            if (!kx_thr_get_list(&d, t, &et, &k)) break;
            if (et != KX_THR_STRUCT) return corrupt(r, err, "malformed key/value metadata");
            m->keys = kx_calloc(k ? k : 1, sizeof *m->keys);
            m->values = kx_calloc(k ? k : 1, sizeof *m->values);
            for (uint32_t i = 0; i < k && !d.failed; i++) {
                if (!kx_thr_enter(&d)) break;
                int16_t l2 = 0, i2;
                int t2;
                m->nkv = i + 1;
                while (kx_thr_next_field(&d, &l2, &i2, &t2)) {
                    uint32_t len;
                    const uint8_t *s;
                    if (i2 == 1 && !m->keys[i] && (s = kx_thr_get_binary(&d, t2, &len)))
                        m->keys[i] = kx_strndup((const char *)s, len);
                    else if (i2 == 2 && !m->values[i] && (s = kx_thr_get_binary(&d, t2, &len)))
                        m->values[i] = kx_strndup((const char *)s, len);
                    else kx_thr_skip(&d, t2);
                }
                kx_thr_leave(&d);
                if (!m->keys[i]) m->keys[i] = kx_strdup("");
            }
        } else if (id == 6 && !m->created_by) {
            uint32_t len;
            const uint8_t *s = kx_thr_get_binary(&d, t, &len);
            if (s) m->created_by = kx_strndup((const char *)s, len);
        } else if (id == 7) {
            m->has_column_orders = true;
            kx_thr_skip(&d, t);
        } else {
            kx_thr_skip(&d, t);
        }
    }
    if (d.failed) return corrupt(r, err, d.why);
    if (!has_schema || !has_rows || !has_rgs) return corrupt(r, err, "footer lacks schema, num_rows or row groups");
    return 0;
}

/* Checks every chunk's byte range and counts before any data is read. */
static int validate(kx_pqr *r, kx_err *err)
{
    kx_pq_meta *m = &r->meta;
    uint64_t data_end = r->size - 8 - m->footer_len;
    int64_t total = 0;
    for (size_t g = 0; g < m->nrowgroups; g++) {
        kx_pq_rowgroup *rg = &m->rowgroups[g];
        if (rg->num_rows < 0 || rg->num_rows > KX_PQR_MAX_ROW_GROUP_ROWS)
            return corrupt(r, err, "row group row count out of range");
        total += rg->num_rows;
        for (size_t j = 0; j < m->ncolumns; j++) {
            kx_pq_chunk *c = &rg->chunks[j];
            if (c->dictionary_page_offset <= 0 || c->dictionary_page_offset >= c->data_page_offset)
                c->dictionary_page_offset = c->dictionary_page_offset > 0 && c->data_page_offset < 0
                                                ? c->dictionary_page_offset : -1;
            int64_t start = c->dictionary_page_offset >= 0 ? c->dictionary_page_offset : c->data_page_offset;
            if (start < 4 || c->total_compressed < 0 || (uint64_t)start > data_end ||
                (uint64_t)c->total_compressed > data_end - (uint64_t)start)
                return corrupt(r, err, "column chunk outside the data area of the file");
            if (c->type != m->columns[j].type) return corrupt(r, err, "column chunk type differs from the schema");
        }
    }
    if (total != m->num_rows) return corrupt(r, err, "row groups do not add up to num_rows");
    return 0;
}

static kx_pqr *open_common(kx_pqr *r, kx_err *err)
{
    uint8_t tail[8], head[4];
    if (r->size < 12) {
        corrupt(r, err, "file too short to be Parquet");
        goto fail;
    }
    if (read_at(r, 0, head, 4, err) != 0 || read_at(r, r->size - 8, tail, 8, err) != 0) goto fail;
    if (memcmp(head, "PAR1", 4) != 0 || memcmp(tail + 4, "PAR1", 4) != 0) {
        corrupt(r, err, memcmp(tail + 4, "PARE", 4) == 0 ? "encrypted files are not supported"
                                                         : "missing PAR1 magic (not a Parquet file, or truncated)");
        goto fail;
    }
    uint32_t flen = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 | (uint32_t)tail[3] << 24;
    if (flen > r->size - 12 || flen > KX_PQR_MAX_FOOTER) {
        corrupt(r, err, "footer length out of range");
        goto fail;
    }
    r->meta.footer_len = flen;
    r->meta.file_size = r->size;
    r->footer = kx_malloc(flen ? flen : 1);
    if (read_at(r, r->size - 8 - flen, r->footer, flen, err) != 0) goto fail;
    if (parse_footer(r, r->footer, flen, err) != 0 || validate(r, err) != 0) goto fail;
    return r;
fail:
    kx_pqr_close(r);
    return NULL;
}

kx_pqr *kx_pqr_open(const char *path, kx_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        kx_fail_errno(err, "cannot open %s", path);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        kx_fail(err, "cannot read %s: not a regular file", path);
        close(fd);
        return NULL;
    }
    kx_pqr *r = kx_calloc(1, sizeof *r);
    r->name = kx_strdup(path);
    r->fd = fd;
    r->size = (uint64_t)st.st_size;
    return open_common(r, err);
}

kx_pqr *kx_pqr_open_mem(const void *data, size_t len, const char *name, kx_err *err)
{
    kx_pqr *r = kx_calloc(1, sizeof *r);
    r->name = kx_strdup(name ? name : "(memory)");
    r->fd = -1;
    r->mem = data;
    r->size = len;
    return open_common(r, err);
}

const kx_pq_meta *kx_pqr_meta(const kx_pqr *r) { return &r->meta; }

const char *kx_pqr_name(const kx_pqr *r) { return r->name; }

int kx_pqr_fd(const kx_pqr *r) { return r->fd; }

int kx_pqr_read_bytes(kx_pqr *r, uint64_t off, void *dst, size_t n, kx_err *err)
{
    return read_at(r, off, dst, n, err);
}

long kx_pqr_find_column(const kx_pqr *r, const char *name)
{
    for (size_t j = 0; j < r->meta.ncolumns; j++)
        if (strcmp(r->meta.columns[j].name, name) == 0) return (long)j;
    return -1;
}

void kx_pqr_close(kx_pqr *r)
{
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    kx_pq_meta *m = &r->meta;
    for (size_t j = 0; j < m->ncolumns; j++) free(m->columns[j].name);
    free(m->columns);
    for (size_t g = 0; g < m->nrowgroups; g++) free(m->rowgroups[g].chunks);
    free(m->rowgroups);
    for (size_t i = 0; i < m->nkv; i++) {
        free(m->keys[i]);
        free(m->values[i]);
    }
    free(m->keys);
    free(m->values);
    free(m->created_by);
    free(r->footer);
    free(r->scratch.def);
    free(r->scratch.idx);
    free(r->name);
    free(r);
}

/* ---- column data -------------------------------------------------------------------------- */
void kx_pq_colbuf_free(kx_pq_colbuf *c)
{
    free(c->valid);
    free(c->values);
    for (size_t i = 0; i < c->nowned; i++) free(c->owned[i]);
    free(c->owned);
    memset(c, 0, sizeof *c);
}

static void own(kx_pq_colbuf *c, void *p)
{
    c->owned = kx_grow(c->owned, &c->capowned, c->nowned + 1, sizeof *c->owned);
    c->owned[c->nowned++] = p;
}

static size_t elem_size(int type)
{
    switch (type) {
    case KX_PQ_BOOLEAN: return 1;
    case KX_PQ_INT32: return 4;
    case KX_PQ_INT64:
    case KX_PQ_DOUBLE: return 8;
    case KX_PQ_BYTE_ARRAY: return sizeof(kx_pq_bytes);
    default: return 0;
    }
}

typedef struct dictionary {
    void *values;
    size_t n;
} dictionary;

/* PLAIN-decodes n values from [p, p+len) into out (element layout of the colbuf). */
static int decode_plain(int type, const uint8_t *p, size_t len, size_t n, void *out)
{
    size_t es = elem_size(type);
    if (es == 0) return -1; /* unsupported type (read_column rejects it first) */
    if (type == KX_PQ_BOOLEAN) {
        if ((n + 7) / 8 > len) return -1;
        for (size_t i = 0; i < n; i++) ((uint8_t *)out)[i] = (p[i / 8] >> (i % 8)) & 1;
        return 0;
    }
    if (type != KX_PQ_BYTE_ARRAY) {
        if (n > len / es) return -1;
        memcpy(out, p, n * es);
        return 0;
    }
    kx_pq_bytes *o = out;
    const uint8_t *end = p + len;
    for (size_t i = 0; i < n; i++) {
        if (end - p < 4) return -1;
        uint32_t l = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        p += 4;
        if (l > (size_t)(end - p)) return -1;
        o[i].ptr = (const char *)p;
        o[i].len = l;
        p += l;
    }
    return 0;
}

static uint32_t *scratch(uint32_t **buf, size_t *cap, size_t n)
{
    if (n > *cap) *buf = kx_grow(*buf, cap, n, sizeof **buf);
    return *buf;
}

/* dense[i] = dict[idx[i]] (indices already checked against the dictionary size); the common
 * element sizes get fixed-size copies the compiler turns into plain loads and stores. */
static void gather(char *dense, const void *dict, const uint32_t *idx, size_t n, size_t es)
{
    if (es == sizeof(kx_pq_bytes)) {
        const kx_pq_bytes *d = dict;
        kx_pq_bytes *o = (kx_pq_bytes *)(void *)dense;
        for (size_t i = 0; i < n; i++) o[i] = d[idx[i]];
    } else if (es == 8) {
        for (size_t i = 0; i < n; i++) memcpy(dense + i * 8, (const char *)dict + (size_t)idx[i] * 8, 8);
    } else {
        for (size_t i = 0; i < n; i++) memcpy(dense + i * es, (const char *)dict + (size_t)idx[i] * es, es);
    }
}

/* Decodes the values of one data page: rows [at, at+nrows) of out, defs (NULL = all present). */
static int decode_values(kx_pqr *r, decode_scratch *sc, kx_pq_colbuf *out, size_t at, size_t nrows, const uint32_t *defs,
                         const uint8_t *p, size_t len, int encoding, const dictionary *dict, kx_err *err)
{
    size_t es = elem_size(out->type);
    size_t nn = 0;
    for (size_t i = 0; i < nrows; i++) nn += defs ? defs[i] : 1;
    /* Decode the nn present values densely at the start of the page's slots, then spread
     * them to their rows walking backwards (row i >= its dense index, so nothing unread is
     * overwritten). */
    char *base = (char *)out->values + at * es;
    char *dense = base;
    if (encoding == KX_PQ_ENC_PLAIN) {
        if (decode_plain(out->type, p, len, nn, dense) != 0) return corrupt(r, err, "PLAIN values exceed the page");
    } else if (encoding == KX_PQ_ENC_PLAIN_DICTIONARY || encoding == KX_PQ_ENC_RLE_DICTIONARY) {
        if (!dict) return corrupt(r, err, "dictionary-encoded page without a dictionary page");
        if (nn > 0) {
            if (len < 1 || p[0] > 32) return corrupt(r, err, "bad dictionary index bit width");
            if (dict->n == 0) return corrupt(r, err, "index into an empty dictionary");
            uint32_t *idx = scratch(&sc->idx, &sc->cap_idx, nn);
            if (kx_rle_decode(p + 1, len - 1, p[0], idx, nn, (uint32_t)(dict->n - 1)) != 0)
                return corrupt(r, err, "bad dictionary indices");
            gather(dense, dict->values, idx, nn, es);
        }
    } else if (encoding == KX_PQ_ENC_RLE && out->type == KX_PQ_BOOLEAN) {
        uint32_t *v = scratch(&sc->idx, &sc->cap_idx, nn ? nn : 1);
        if (len < 4) return corrupt(r, err, "RLE boolean page too short");
        uint32_t l = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        if (l > len - 4 || kx_rle_decode(p + 4, l, 1, v, nn, 1) != 0) return corrupt(r, err, "bad RLE booleans");
        for (size_t i = 0; i < nn; i++) ((uint8_t *)dense)[i] = (uint8_t)v[i];
    } else {
        return kx_fail(err, "%s: unsupported Parquet encoding %s", r->name, kx_pq_encoding_name(encoding));
    }
    /* spread: walk backwards so dense values are consumed before being overwritten */
    if (defs && nn < nrows) {
        size_t src = nn;
        for (size_t i = nrows; i-- > 0;) {
            if (defs[i]) {
                src--;
                if (src != i) memcpy(base + i * es, dense + src * es, es);
            } else {
                memset(base + i * es, 0, es);
            }
        }
    }
    if (defs)
        for (size_t i = 0; i < nrows; i++) out->valid[at + i] = (uint8_t)defs[i];
    else
        memset(out->valid + at, 1, nrows); /* REQUIRED column, or no nulls */
    return 0;
}

typedef struct page_header {
    int type;
    int32_t unc, comp;
    int32_t num_values, encoding, def_enc;
    /* v2 */
    int32_t num_nulls, num_rows, def_len, rep_len;
    bool is_compressed;
    bool has_data, has_dict, has_v2;
} page_header;

static void parse_sub_header(kx_thr_dec *d, page_header *h, int which)
{
    if (!kx_thr_enter(d)) return;
    int16_t last = 0, id;
    int t;
    while (kx_thr_next_field(d, &last, &id, &t)) {
        if (id == 1) h->num_values = kx_thr_get_i32(d, t);
        else if (which == 5 && id == 2) h->encoding = kx_thr_get_i32(d, t);
        else if (which == 5 && id == 3) h->def_enc = kx_thr_get_i32(d, t);
        else if (which == 7 && id == 2) h->encoding = kx_thr_get_i32(d, t);
        else if (which == 8 && id == 2) h->num_nulls = kx_thr_get_i32(d, t);
        else if (which == 8 && id == 3) h->num_rows = kx_thr_get_i32(d, t);
        else if (which == 8 && id == 4) h->encoding = kx_thr_get_i32(d, t);
        else if (which == 8 && id == 5) h->def_len = kx_thr_get_i32(d, t);
        else if (which == 8 && id == 6) h->rep_len = kx_thr_get_i32(d, t);
        else if (which == 8 && id == 7) h->is_compressed = kx_thr_get_bool(d, t);
        else kx_thr_skip(d, t);
    }
    kx_thr_leave(d);
}

static size_t parse_page_header(const uint8_t *p, size_t n, page_header *h, const char **why)
{
    kx_thr_dec d;
    kx_thr_dec_init(&d, p, n);
    memset(h, 0, sizeof *h);
    h->type = -1;
    h->is_compressed = true;
    h->def_enc = KX_PQ_ENC_RLE;
    int16_t last = 0, id;
    int t;
    while (kx_thr_next_field(&d, &last, &id, &t)) {
        if (id == 1) h->type = kx_thr_get_i32(&d, t);
        else if (id == 2) h->unc = kx_thr_get_i32(&d, t);
        else if (id == 3) h->comp = kx_thr_get_i32(&d, t);
        else if ((id == 5 || id == 7 || id == 8) && t == KX_THR_STRUCT) {
            parse_sub_header(&d, h, id);
            if (id == 5) h->has_data = true;
            if (id == 7) h->has_dict = true;
            if (id == 8) h->has_v2 = true;
        } else kx_thr_skip(&d, t);
    }
    if (d.failed) {
        *why = d.why;
        return 0;
    }
    return (size_t)(d.p - p);
}

static int grow_out(kx_pq_colbuf *out, size_t need, size_t *cap)
{
    if (need <= *cap) return 0;
    size_t c = *cap;
    out->valid = kx_grow(out->valid, &c, need, 1);
    out->values = kx_grow(out->values, cap, need, elem_size(out->type));
    return 0;
}

static int read_dictionary(kx_pqr *r, kx_pq_colbuf *out, const page_header *h, uint8_t *page, size_t len,
                           dictionary *dict, kx_err *err)
{
    if (dict->values) return corrupt(r, err, "second dictionary page in a column chunk");
    if (h->num_values < 0) return corrupt(r, err, "negative dictionary size");
    if (h->encoding != KX_PQ_ENC_PLAIN && h->encoding != KX_PQ_ENC_PLAIN_DICTIONARY)
        return corrupt(r, err, "dictionary page is not PLAIN-encoded");
    size_t n = (size_t)h->num_values;
    size_t es = elem_size(out->type);
    if (es == 0) return corrupt(r, err, "dictionary of an unsupported type");
    /* every value takes at least one bit (booleans), one byte otherwise: bound n by len */
    size_t min_bytes = out->type == KX_PQ_BYTE_ARRAY ? 4 : es;
    if (out->type == KX_PQ_BOOLEAN ? n > len * 8 : n > len / min_bytes)
        return corrupt(r, err, "dictionary larger than its page");
    dict->values = kx_malloc(n * es + 1);
    own(out, dict->values);
    dict->n = n;
    if (decode_plain(out->type, page, len, n, dict->values) != 0) return corrupt(r, err, "dictionary values exceed the page");
    return 0;
}

static int read_data_page(kx_pqr *r, decode_scratch *sc, kx_pq_colbuf *out, const kx_pq_column *col, const kx_pq_chunk *ch,
                          const page_header *h, const uint8_t *raw, size_t *got, size_t *cap, size_t rows,
                          const dictionary *dict, kx_err *err)
{
    if (h->num_values < 0 || (size_t)h->num_values > rows - *got)
        return corrupt(r, err, "page holds more values than the row group has rows");
    size_t n = (size_t)h->num_values;
    bool optional = col->repetition == 1;
    const uint8_t *vals;
    size_t vlen;
    uint8_t *page = NULL;
    uint32_t *defs = NULL;
    if (h->type == 0) { /* DATA_PAGE v1: whole page compressed */
        page = kx_malloc((size_t)h->unc + 1);
        own(out, page);
        if (kx_pq_decompress(ch->codec, raw, (size_t)h->comp, page, (size_t)h->unc, err) != 0) return -1;
        vals = page;
        vlen = (size_t)h->unc;
        if (optional) {
            if (h->def_enc != KX_PQ_ENC_RLE) return kx_fail(err, "%s: unsupported definition level encoding %s", r->name, kx_pq_encoding_name(h->def_enc));
            if (vlen < 4) return corrupt(r, err, "page too short for its definition levels");
            uint32_t l = (uint32_t)vals[0] | (uint32_t)vals[1] << 8 | (uint32_t)vals[2] << 16 | (uint32_t)vals[3] << 24;
            if (l > vlen - 4) return corrupt(r, err, "definition levels exceed the page");
            defs = scratch(&sc->def, &sc->cap_def, n ? n : 1);
            if (kx_rle_decode(vals + 4, l, 1, defs, n, 1) != 0) return corrupt(r, err, "bad definition levels");
            vals += 4 + l;
            vlen -= 4 + (size_t)l;
        }
    } else { /* DATA_PAGE_V2: levels uncompressed, then the (maybe compressed) values */
        if (h->def_len < 0 || h->rep_len < 0 || (int64_t)h->def_len + h->rep_len > h->comp ||
            (int64_t)h->def_len + h->rep_len > h->unc)
            return corrupt(r, err, "bad level lengths in a v2 page");
        if (h->rep_len != 0) return corrupt(r, err, "repetition levels in a flat column");
        const uint8_t *lv = raw;
        size_t lvlen = (size_t)h->def_len;
        raw += h->def_len;
        size_t clen = (size_t)(h->comp - h->def_len), ulen = (size_t)(h->unc - h->def_len);
        page = kx_malloc(ulen + 1);
        own(out, page);
        if (kx_pq_decompress(h->is_compressed ? ch->codec : KX_PQ_CODEC_NONE, raw, clen, page, ulen, err) != 0) return -1;
        vals = page;
        vlen = ulen;
        if (optional) {
            defs = scratch(&sc->def, &sc->cap_def, n ? n : 1);
            if (kx_rle_decode(lv, lvlen, 1, defs, n, 1) != 0) return corrupt(r, err, "bad definition levels");
        }
    }
    grow_out(out, *got + n, cap);
    if (decode_values(r, sc, out, *got, n, defs, vals, vlen, h->encoding, dict, err) != 0) return -1;
    *got += n;
    return 0;
}

static int read_column(kx_pqr *r, decode_scratch *sc, size_t rg, size_t col, kx_pq_colbuf *out, kx_err *err)
{
    kx_pq_colbuf_free(out);
    const kx_pq_meta *m = &r->meta;
    if (rg >= m->nrowgroups || col >= m->ncolumns) return kx_fail(err, "%s: no row group %zu / column %zu", r->name, rg, col);
    const kx_pq_column *c = &m->columns[col];
    const kx_pq_chunk *ch = &m->rowgroups[rg].chunks[col];
    size_t rows = (size_t)m->rowgroups[rg].num_rows;
    if (!elem_size(c->type)) return kx_fail(err, "%s: column %s has unsupported type %s", r->name, c->name, kx_pq_type_name(c->type));
    if (c->repetition != 0 && c->repetition != 1) return kx_fail(err, "%s: repeated column %s is not supported", r->name, c->name);
    out->type = c->type;
    int64_t start = ch->dictionary_page_offset >= 0 ? ch->dictionary_page_offset : ch->data_page_offset;
    size_t len = (size_t)ch->total_compressed;
    uint8_t *buf = kx_malloc(len + 1);
    own(out, buf);
    if (read_at(r, (uint64_t)start, buf, len, err) != 0) goto fail;
    size_t pos = 0, got = 0, cap = 0;
    dictionary dict = {0};
    grow_out(out, rows < 4096 ? rows : 4096, &cap);
    while (got < rows) {
        page_header h;
        const char *why = "page header";
        if (pos >= len) { corrupt(r, err, "column chunk ends before all rows were read"); goto fail; }
        size_t hl = parse_page_header(buf + pos, len - pos, &h, &why);
        if (hl == 0) { corrupt(r, err, why); goto fail; }
        pos += hl;
        if (h.comp < 0 || h.unc < 0 || (size_t)h.comp > len - pos || (uint32_t)h.unc > KX_PQR_MAX_PAGE_BYTES) {
            corrupt(r, err, "page size out of range");
            goto fail;
        }
        const uint8_t *raw = buf + pos;
        pos += (size_t)h.comp;
        if (h.type == 2 && h.has_dict) {
            uint8_t *page = kx_malloc((size_t)h.unc + 1);
            own(out, page);
            if (kx_pq_decompress(ch->codec, raw, (size_t)h.comp, page, (size_t)h.unc, err) != 0 ||
                read_dictionary(r, out, &h, page, (size_t)h.unc, &dict, err) != 0)
                goto fail;
        } else if ((h.type == 0 && h.has_data) || (h.type == 3 && h.has_v2)) {
            if (read_data_page(r, sc, out, c, ch, &h, raw, &got, &cap, rows, dict.values ? &dict : NULL, err) != 0) goto fail;
        } else if (h.type == 0 || h.type == 2 || h.type == 3) {
            corrupt(r, err, "page header without its type-specific header");
            goto fail;
        }
        /* other page types (index pages) are skipped */
    }
    if (out->n == 0 && rows == 0) grow_out(out, 1, &cap);
    out->n = got;
    return 0;
fail:
    kx_pq_colbuf_free(out);
    return -1;
}

int kx_pqr_read_column(kx_pqr *r, size_t rg, size_t col, kx_pq_colbuf *out, kx_err *err)
{
    return read_column(r, &r->scratch, rg, col, out, err);
}

/* ---- several columns of a row group in parallel ---------------------------------------------- */
typedef struct column_jobs {
    kx_pqr *r;
    size_t rg;
    const size_t *cols;
    kx_pq_colbuf *outs;
    decode_scratch *scratch; /* per column slot */
    kx_err *errs;            /* per column slot */
    int *rcs;
} column_jobs;

static void read_column_job(void *arg, size_t i)
{
    column_jobs *j = arg;
    j->rcs[i] = read_column(j->r, &j->scratch[i], j->rg, j->cols[i], &j->outs[i], &j->errs[i]);
}

int kx_pqr_read_columns(kx_pqr *r, size_t rg, const size_t *cols, size_t n, kx_pq_colbuf *outs, int workers,
                        kx_err *err)
{
    if (workers <= 1 || n <= 1) {
        for (size_t i = 0; i < n; i++)
            if (kx_pqr_read_column(r, rg, cols[i], &outs[i], err) != 0) return -1;
        return 0;
    }
    column_jobs j = {r, rg, cols, outs, kx_calloc(n, sizeof *j.scratch), kx_calloc(n, sizeof *j.errs),
                     kx_calloc(n, sizeof *j.rcs)};
    kx_parallel_for(workers, n, read_column_job, &j);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (j.rcs[i] != 0 && rc == 0) { /* the first failing column, whatever the timing */
            if (err) *err = j.errs[i];
            rc = -1;
        }
        free(j.scratch[i].def);
        free(j.scratch[i].idx);
    }
    free(j.scratch);
    free(j.errs);
    free(j.rcs);
    return rc;
}
