/* table_read.c — reading a table keyetl wrote (see table_read.h).
 *
 * Parquet is delegated to table_read_parquet.c. The CSV side is an RFC 4180 reader for the
 * files of 04 §3: LF records (a CR before the LF of a record is tolerated), fields quoted
 * when they contain , " CR or LF, doubled quotes inside quotes. The header is mapped to the
 * wanted columns by name; values are parsed per wanted type. Memory is bounded: the file is
 * read in chunks and rows are returned in batches of KX_TR_CSV_BATCH.
 */
#include "io/table_read.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fs.h"
#include "io/table_read_parquet.h"
#include "util/buf.h"
#include "util/mem.h"

#define KX_TR_CSV_BATCH 8192
#define KX_TR_CHUNK (1u << 20)

struct kx_table_reader {
    char *path;
    kx_pq_source *pq; /* Parquet file, or NULL for CSV */

    /* CSV state */
    FILE *fp;
    char *buf;            /* read buffer: [pos, len) is unparsed */
    size_t len, pos, cap;
    bool eof;
    long line;            /* physical line number where the next record starts */
    size_t nwant;
    kx_colspec *want;     /* copy of the wanted specs (names point to the caller's strings) */
    int *map;             /* per CSV column: wanted index or -1 */
    size_t ncsv;
    void **values;        /* per wanted column: KX_TR_CSV_BATCH values */
    uint8_t **valid;
    size_t **str_off;     /* per string column: offset into arena, SIZE_MAX = null */
    kx_buf arena;         /* string bytes of the current batch */
    kx_buf field;         /* scratch for unescaping one quoted field */
};

const char *kx_tr_path(const kx_table_reader *r) { return r ? r->path : ""; }

/* ---- records ---------------------------------------------------------------------------------- */

static int refill(kx_table_reader *r, kx_err *err)
{
    if (r->pos > 0) { /* keep the unparsed tail at the start */
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->cap - r->len < KX_TR_CHUNK / 2) {
        r->cap *= 2;
        r->buf = kx_realloc(r->buf, r->cap);
    }
    size_t got = fread(r->buf + r->len, 1, r->cap - r->len, r->fp);
    if (got == 0) {
        if (ferror(r->fp)) return kx_fail_errno(err, "cannot read %s", r->path);
        r->eof = true;
    }
    r->len += got;
    return 0;
}

/* Finds the next complete record: [*start, *end) without the LF. Returns 1, 0 at the end of
 * the file, -1 on a read error. The record stays valid until the next call. */
static int next_record(kx_table_reader *r, size_t *start, size_t *end, kx_err *err)
{
    size_t scan = 0; /* bytes of the record already scanned, relative to pos */
    bool in_quotes = false;
    for (;;) {
        const char *b = r->buf + r->pos;
        size_t avail = r->len - r->pos;
        for (; scan < avail; scan++) {
            char c = b[scan];
            if (c == '"') in_quotes = !in_quotes; /* a doubled quote toggles twice */
            else if (c == '\n' && !in_quotes) {
                *start = r->pos;
                *end = r->pos + scan;
                r->pos += scan + 1;
                return 1;
            }
        }
        if (r->eof) {
            if (avail == 0) return 0;
            *start = r->pos; /* last record without a final LF */
            *end = r->len;
            r->pos = r->len;
            return 1;
        }
        if (refill(r, err) != 0) return -1; /* moves the record to offset 0; scan stays valid */
    }
}

/* Splits the record at *p (up to end) into its next field. Unquoted fields point into the
 * record; quoted ones are unescaped into r->field. Returns -1 on a syntax error. */
static int next_field(kx_table_reader *r, const char **p, const char *end, const char **fs,
                      size_t *fn, bool *quoted)
{
    const char *s = *p;
    if (s < end && *s == '"') {
        kx_buf_reset(&r->field);
        s++;
        for (;;) {
            const char *q = memchr(s, '"', (size_t)(end - s));
            if (!q) return -1; /* unterminated quote */
            kx_buf_put(&r->field, s, (size_t)(q - s));
            if (q + 1 < end && q[1] == '"') {
                kx_buf_putc(&r->field, '"');
                s = q + 2;
                continue;
            }
            s = q + 1;
            break;
        }
        if (s < end && *s != ',' && !(*s == '\r' && s + 1 == end)) return -1;
        *fs = r->field.data ? r->field.data : "";
        *fn = r->field.len;
        *quoted = true;
    } else {
        size_t rem = s < end ? (size_t)(end - s) : 0;
        const char *c = rem ? memchr(s, ',', rem) : NULL;
        const char *fe = c ? c : end;
        if (!c && fe > s && fe[-1] == '\r') fe--; /* CR LF record ending */
        *fs = s;
        *fn = (size_t)(fe - s);
        *quoted = false;
        s = fe;
    }
    if (s < end && *s == '\r' && s + 1 == end) s++;
    *p = s;
    return 0;
}

/* ---- values ------------------------------------------------------------------------------------ */

static bool parse_i64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) neg = s[i++] == '-';
    if (i == n) return false;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (lim - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static bool parse_double(const char *s, size_t n, double *out)
{
    char small[64];
    char *tmp = n < sizeof small ? small : kx_malloc(n + 1);
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *endp;
    errno = 0;
    double d = strtod(tmp, &endp);
    bool ok = n > 0 && endp == tmp + n && isfinite(d);
    if (tmp != small) free(tmp);
    *out = d;
    return ok;
}

/* Stores field (s, n) in wanted column w, row i. */
static int store_value(kx_table_reader *r, size_t w, size_t i, const char *s, size_t n, bool quoted,
                       kx_err *err)
{
    kx_coltype type = r->want[w].type;
    bool null = n == 0 && (!quoted || type != KX_COL_STRING);
    r->valid[w][i] = !null;
    bool ok = true;
    switch (type) {
    case KX_COL_BOOL: {
        uint8_t *v = r->values[w];
        v[i] = 0;
        if (null) break;
        if (n == 4 && !memcmp(s, "True", 4)) v[i] = 1;
        else ok = n == 5 && !memcmp(s, "False", 5);
        break;
    }
    case KX_COL_INT64: {
        int64_t *v = r->values[w];
        v[i] = 0;
        if (!null) ok = parse_i64(s, n, &v[i]);
        break;
    }
    case KX_COL_DOUBLE: {
        double *v = r->values[w];
        v[i] = NAN;
        if (!null) ok = parse_double(s, n, &v[i]);
        break;
    }
    case KX_COL_STRING:
        ((kx_strref *)r->values[w])[i].len = null ? 0 : (uint32_t)n;
        if (null) {
            r->str_off[w][i] = SIZE_MAX;
        } else {
            r->str_off[w][i] = r->arena.len;
            kx_buf_put(&r->arena, s, n);
        }
        break;
    }
    if (!ok)
        return kx_fail(err, "%s, line %ld: column %s: cannot read '%.*s' as %s", r->path, r->line,
                       r->want[w].name, (int)(n > 60 ? 60 : n), s,
                       type == KX_COL_BOOL ? "a boolean (True/False)" : type == KX_COL_INT64 ? "an integer" : "a number");
    return 0;
}

static long count_lines(const char *s, size_t n)
{
    long k = 0;
    for (const char *p = s; (p = memchr(p, '\n', (size_t)(s + n - p))) != NULL; p++) k++;
    return k;
}

/* ---- open / next / close ------------------------------------------------------------------------ */

static int read_header(kx_table_reader *r, kx_err *err)
{
    size_t a, b;
    int rc = next_record(r, &a, &b, err);
    if (rc < 0) return -1;
    if (rc == 0) return kx_fail(err, "%s: empty file (no header line)", r->path);
    r->line += 1 + count_lines(r->buf + a, b - a);
    size_t *seen = kx_calloc(r->nwant, sizeof *seen); /* 1 + CSV column, 0 = not found */
    size_t cap = 0;
    const char *p = r->buf + a, *end = r->buf + b;
    for (size_t j = 0;; j++) {
        const char *fs;
        size_t fn;
        bool q;
        if (next_field(r, &p, end, &fs, &fn, &q) != 0) {
            free(seen);
            return kx_fail(err, "%s, line 1: malformed CSV header", r->path);
        }
        r->map = kx_grow(r->map, &cap, j + 1, sizeof *r->map);
        r->map[j] = -1;
        for (size_t w = 0; w < r->nwant; w++)
            if (!seen[w] && strlen(r->want[w].name) == fn && !memcmp(r->want[w].name, fs, fn)) {
                r->map[j] = (int)w;
                seen[w] = j + 1;
                break;
            }
        r->ncsv = j + 1;
        if (p >= end) break;
        p++; /* the comma */
    }
    for (size_t w = 0; w < r->nwant; w++)
        if (!seen[w]) {
            free(seen);
            return kx_fail(err, "%s: column %s is missing", r->path, r->want[w].name);
        }
    free(seen);
    return 0;
}

static kx_table_reader *open_csv(kx_table_reader *r, const kx_colspec *want, size_t nwant, kx_err *err)
{
    r->fp = fopen(r->path, "rb");
    if (!r->fp) {
        kx_fail_errno(err, "cannot open %s", r->path);
        kx_tr_close(r);
        return NULL;
    }
    r->cap = KX_TR_CHUNK;
    r->buf = kx_malloc(r->cap);
    r->line = 1;
    r->nwant = nwant;
    r->want = kx_malloc((nwant ? nwant : 1) * sizeof *r->want);
    memcpy(r->want, want, nwant * sizeof *want);
    r->values = kx_calloc(nwant ? nwant : 1, sizeof *r->values);
    r->valid = kx_calloc(nwant ? nwant : 1, sizeof *r->valid);
    r->str_off = kx_calloc(nwant ? nwant : 1, sizeof *r->str_off);
    static const size_t elem[] = {[KX_COL_BOOL] = 1, [KX_COL_INT64] = 8, [KX_COL_DOUBLE] = 8,
                                  [KX_COL_STRING] = sizeof(kx_strref)};
    for (size_t w = 0; w < nwant; w++) {
        r->values[w] = kx_malloc(KX_TR_CSV_BATCH * elem[want[w].type]);
        r->valid[w] = kx_malloc(KX_TR_CSV_BATCH);
        if (want[w].type == KX_COL_STRING) r->str_off[w] = kx_malloc(KX_TR_CSV_BATCH * sizeof(size_t));
    }
    if (read_header(r, err) != 0) {
        kx_tr_close(r);
        return NULL;
    }
    return r;
}

kx_table_reader *kx_tr_open(const char *dir, const char *base, const kx_colspec *want, size_t nwant,
                            kx_err *err)
{
    return kx_tr_open_workers(dir, base, want, nwant, 1, err);
}

kx_table_reader *kx_tr_open_workers(const char *dir, const char *base, const kx_colspec *want, size_t nwant,
                                    int workers, kx_err *err)
{
    kx_table_reader *r = kx_calloc(1, sizeof *r);
    char *name = kx_asprintf("%s.parquet", base);
    r->path = kx_path_join(dir, name);
    free(name);
    if (kx_is_file(r->path)) {
        r->pq = kx_pq_source_open_workers(r->path, want, nwant, workers, err);
        if (!r->pq) {
            kx_tr_close(r);
            return NULL;
        }
        return r;
    }
    free(r->path);
    name = kx_asprintf("%s.csv", base);
    r->path = kx_path_join(dir, name);
    free(name);
    if (!kx_exists(r->path)) {
        kx_fail(err, "cannot read table %s/%s: neither %s.parquet nor %s.csv exists", dir, base, base, base);
        kx_tr_close(r);
        return NULL;
    }
    return open_csv(r, want, nwant, err);
}

/* Parses one record into row i of the batch. */
static int parse_row(kx_table_reader *r, size_t i, size_t a, size_t b, kx_err *err)
{
    const char *p = r->buf + a, *end = r->buf + b;
    size_t j = 0;
    for (;; j++) {
        const char *fs;
        size_t fn;
        bool q;
        if (next_field(r, &p, end, &fs, &fn, &q) != 0)
            return kx_fail(err, "%s, line %ld: malformed CSV field", r->path, r->line);
        if (j < r->ncsv && r->map[j] >= 0 && store_value(r, (size_t)r->map[j], i, fs, fn, q, err) != 0)
            return -1;
        if (p >= end) break;
        p++;
    }
    if (j + 1 != r->ncsv)
        return kx_fail(err, "%s, line %ld: %zu fields, the header has %zu", r->path, r->line, j + 1, r->ncsv);
    return 0;
}

long kx_tr_next(kx_table_reader *r, kx_column *out, kx_err *err)
{
    if (r->pq) return kx_pq_source_next(r->pq, out, err);
    kx_buf_reset(&r->arena);
    kx_buf_reserve(&r->arena, 1);
    size_t n = 0;
    while (n < KX_TR_CSV_BATCH) {
        size_t a, b;
        int rc = next_record(r, &a, &b, err);
        if (rc < 0) return -1;
        if (rc == 0) break;
        /* A blank line is a record only in a one-column table (one null value). */
        if (r->ncsv > 1 && (b == a || (b == a + 1 && r->buf[a] == '\r'))) {
            r->line++;
            continue;
        }
        if (parse_row(r, n, a, b, err) != 0) return -1;
        r->line += 1 + count_lines(r->buf + a, b - a);
        n++;
    }
    for (size_t w = 0; w < r->nwant; w++) {
        out[w].values = r->values[w];
        out[w].valid = r->valid[w];
        out[w].nan_is_null = r->want[w].type == KX_COL_DOUBLE;
        if (r->want[w].type != KX_COL_STRING) continue;
        kx_strref *s = r->values[w];
        for (size_t i = 0; i < n; i++) {
            size_t off = r->str_off[w][i];
            s[i].ptr = off == SIZE_MAX ? "" : r->arena.data + off;
        }
    }
    return (long)n;
}

void kx_tr_close(kx_table_reader *r)
{
    if (!r) return;
    if (r->pq) kx_pq_source_close(r->pq);
    if (r->fp) fclose(r->fp);
    for (size_t w = 0; w < r->nwant; w++) {
        free(r->values[w]);
        free(r->valid[w]);
        free(r->str_off[w]);
    }
    free(r->values);
    free(r->valid);
    free(r->str_off);
    free(r->want);
    free(r->map);
    free(r->buf);
    kx_buf_free(&r->arena);
    kx_buf_free(&r->field);
    free(r->path);
    free(r);
}
