/* table_read_parquet.c — Parquet side of the table reader (see table_read_parquet.h). */
#include <stdlib.h>
#include <string.h>

#include "io/table_read_parquet.h"
#include "parquet/parquet.h"
#include "util/mem.h"

struct kx_pq_source {
    kx_pqr *r;
    char *path;
    size_t nwant;
    kx_coltype *types;
    size_t *index;       /* file column of each wanted column */
    kx_pq_colbuf *bufs;
    void **conv;         /* per column: converted arrays (strings, widened ints), reused */
    size_t *conv_cap;    /* per column: elements conv[j] holds */
    size_t rg;
    int workers;         /* threads decoding the columns of a row group */
};

static const char *coltype_name(kx_coltype t)
{
    switch (t) {
    case KX_COL_BOOL: return "boolean";
    case KX_COL_INT64: return "int64";
    case KX_COL_DOUBLE: return "double";
    default: return "string";
    }
}

static bool type_ok(kx_coltype want, int phys)
{
    switch (want) {
    case KX_COL_BOOL: return phys == KX_PQ_BOOLEAN;
    case KX_COL_INT64: return phys == KX_PQ_INT64 || phys == KX_PQ_INT32;
    case KX_COL_DOUBLE: return phys == KX_PQ_DOUBLE;
    default: return phys == KX_PQ_BYTE_ARRAY;
    }
}

kx_pq_source *kx_pq_source_open(const char *path, const kx_colspec *want, size_t nwant, kx_err *err)
{
    return kx_pq_source_open_workers(path, want, nwant, 1, err);
}

kx_pq_source *kx_pq_source_open_workers(const char *path, const kx_colspec *want, size_t nwant, int workers,
                                        kx_err *err)
{
    kx_pqr *r = kx_pqr_open(path, err);
    if (!r) return NULL;
    const kx_pq_meta *m = kx_pqr_meta(r);
    kx_pq_source *s = kx_calloc(1, sizeof *s);
    s->r = r;
    s->path = kx_strdup(path);
    s->nwant = nwant;
    s->workers = workers < 1 ? 1 : workers;
    s->types = kx_calloc(nwant ? nwant : 1, sizeof *s->types);
    s->index = kx_calloc(nwant ? nwant : 1, sizeof *s->index);
    s->bufs = kx_calloc(nwant ? nwant : 1, sizeof *s->bufs);
    s->conv = kx_calloc(nwant ? nwant : 1, sizeof *s->conv);
    s->conv_cap = kx_calloc(nwant ? nwant : 1, sizeof *s->conv_cap);
    for (size_t j = 0; j < nwant; j++) {
        long k = kx_pqr_find_column(r, want[j].name);
        s->types[j] = want[j].type;
        if (k < 0) {
            kx_fail(err, "%s: column %s is missing", path, want[j].name);
            goto fail;
        }
        const kx_pq_column *c = &m->columns[k];
        if (!type_ok(want[j].type, c->type)) {
            kx_fail(err, "%s: column %s is %s, expected %s", path, want[j].name, kx_pq_type_name(c->type),
                    coltype_name(want[j].type));
            goto fail;
        }
        s->index[j] = (size_t)k;
    }
    return s;
fail:
    kx_pq_source_close(s);
    return NULL;
}

/* Adapts a decoded chunk to the kx_column layout (kx_strref for strings, int64 for INT32).
 * The converted arrays are kept and reused from row group to row group: a fresh multi-MB
 * array per row group cost a page fault per 4 KiB touched. (They point into the decoded
 * chunk, which the next call replaces anyway, so reuse shortens no lifetime.) */
static void adapt(kx_pq_source *s, size_t j, kx_column *out)
{
    kx_pq_colbuf *b = &s->bufs[j];
    out->valid = b->valid;
    out->nan_is_null = false;
    out->values = b->values;
    if (b->type == KX_PQ_BYTE_ARRAY) {
        kx_strref *v = s->conv[j] = kx_grow(s->conv[j], &s->conv_cap[j], b->n + 1, sizeof *v);
        const kx_pq_bytes *in = b->values;
        for (size_t i = 0; i < b->n; i++) {
            v[i].ptr = in[i].ptr ? in[i].ptr : "";
            v[i].len = in[i].len;
        }
        out->values = v;
    } else if (b->type == KX_PQ_INT32) {
        int64_t *v = s->conv[j] = kx_grow(s->conv[j], &s->conv_cap[j], b->n + 1, sizeof *v);
        const int32_t *in = b->values;
        for (size_t i = 0; i < b->n; i++) v[i] = in[i];
        out->values = v;
    }
}

long kx_pq_source_next(kx_pq_source *s, kx_column *out, kx_err *err)
{
    const kx_pq_meta *m = kx_pqr_meta(s->r);
    while (s->rg < m->nrowgroups && m->rowgroups[s->rg].num_rows == 0) s->rg++;
    if (s->rg >= m->nrowgroups) return 0;
    size_t rg = s->rg++;
    if (kx_pqr_read_columns(s->r, rg, s->index, s->nwant, s->bufs, s->workers, err) != 0) return -1;
    for (size_t j = 0; j < s->nwant; j++) adapt(s, j, &out[j]);
    return (long)m->rowgroups[rg].num_rows;
}

void kx_pq_source_close(kx_pq_source *s)
{
    if (!s) return;
    for (size_t j = 0; j < s->nwant; j++) {
        kx_pq_colbuf_free(&s->bufs[j]);
        free(s->conv[j]);
    }
    free(s->bufs);
    free(s->conv);
    free(s->conv_cap);
    free(s->types);
    free(s->index);
    free(s->path);
    kx_pqr_close(s->r);
    free(s);
}

int kx_pq_table_columns(const char *path, kx_colspec **cols, size_t *ncols, kx_err *err)
{
    kx_pqr *r = kx_pqr_open(path, err);
    if (!r) return -1;
    const kx_pq_meta *m = kx_pqr_meta(r);
    kx_colspec *c = kx_calloc(m->ncolumns ? m->ncolumns : 1, sizeof *c);
    for (size_t j = 0; j < m->ncolumns; j++) {
        const kx_pq_column *pc = &m->columns[j];
        c[j].name = kx_strdup(pc->name);
        switch (pc->type) {
        case KX_PQ_BOOLEAN: c[j].type = KX_COL_BOOL; break;
        case KX_PQ_INT32:
        case KX_PQ_INT64: c[j].type = KX_COL_INT64; break;
        case KX_PQ_DOUBLE: c[j].type = KX_COL_DOUBLE; break;
        case KX_PQ_BYTE_ARRAY: c[j].type = KX_COL_STRING; break;
        default:
            kx_fail(err, "%s: column %s has unsupported type %s", path, pc->name, kx_pq_type_name(pc->type));
            kx_pq_colspecs_free(c, j + 1);
            kx_pqr_close(r);
            return -1;
        }
    }
    *cols = c;
    *ncols = m->ncolumns;
    kx_pqr_close(r);
    return 0;
}

void kx_pq_colspecs_free(kx_colspec *cols, size_t ncols)
{
    if (!cols) return;
    for (size_t j = 0; j < ncols; j++) free((char *)cols[j].name);
    free(cols);
}
