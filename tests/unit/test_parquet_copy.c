/* Copying Parquet writer (kx_pqc, writer_copy.c): a source file's column chunks copied byte
 * for byte plus new INT64 columns. Checked by reading the result back with the reader: the
 * schema (copied elements keep their annotations), row groups equal to the source's, every
 * value of every column, per-chunk codecs (copied chunks keep theirs), encodings
 * (dictionary, PLAIN past 65,536 distinct values), statistics, key/value metadata, and the
 * row-count checks. */
#include <stdlib.h>
#include <string.h>

#include "io/fs.h"
#include "parquet/parquet.h"
#include "test.h"
#include "util/mem.h"

#define SRC_ROWS 150000
#define SRC_RG 70000 /* groups of 70000, 70000, 10000 rows */

static const kx_pq_colspec src_spec[4] = {
    {"id", KX_PQ_INT64, true, false, true},
    {"name", KX_PQ_BYTE_ARRAY, true, true, true},
    {"x", KX_PQ_DOUBLE, true, false, false},
    {"flag", KX_PQ_BOOLEAN, true, false, false},
};

static const kx_pq_colspec extra_spec[2] = {
    {"small", KX_PQ_INT64, true, false, true},  /* i % 5 - 1: dictionary */
    {"wide", KX_PQ_INT64, true, false, true},   /* 3 i, null when i % 97 == 0: PLAIN in big groups */
};

static int64_t small_at(size_t i) { return (int64_t)(i % 5) - 1; }
static bool wide_valid(size_t i) { return i % 97 != 0; }

/* Source file: SNAPPY, 3 row groups, nulls in id every 11th row. */
static int write_source(const char *path)
{
    kx_err err;
    kx_pqw_opts o = {.codec = KX_PQ_CODEC_SNAPPY, .row_group_rows = SRC_RG};
    kx_pqw *w = kx_pqw_open(path, src_spec, 4, &o, &err);
    if (!w) return -1;
    int64_t *id = kx_malloc(SRC_ROWS * sizeof *id);
    uint8_t *idv = kx_malloc(SRC_ROWS), *flag = kx_malloc(SRC_ROWS);
    double *x = kx_malloc(SRC_ROWS * sizeof *x);
    kx_pq_bytes *name = kx_malloc(SRC_ROWS * sizeof *name);
    static const char *const names[3] = {"alpha", "b\xc3\xa9ta", ""};
    for (size_t i = 0; i < SRC_ROWS; i++) {
        id[i] = (int64_t)i * 1000;
        idv[i] = i % 11 != 0;
        x[i] = (double)i / 8.0;
        flag[i] = i % 3 == 0;
        name[i] = (kx_pq_bytes){names[i % 3], (uint32_t)strlen(names[i % 3])};
    }
    kx_pq_values v[4] = {{id, idv}, {name, NULL}, {x, NULL}, {flag, NULL}};
    int rc = kx_pqw_write(w, SRC_ROWS, v, &err);
    rc = rc == 0 ? kx_pqw_commit(w, &err) : (kx_pqw_abort(w), -1);
    free(id);
    free(idv);
    free(flag);
    free(x);
    free(name);
    return rc;
}

/* Copies src into path with the two new columns, given in batches of `batch` rows. */
static int write_copy(kx_pqr *src, const char *path, size_t rows, size_t batch, kx_err *err)
{
    kx_pq_kv kv[1] = {{"fpd.table", "copied"}};
    kx_pqw_opts o = {.codec = KX_PQ_CODEC_ZSTD, .kv = kv, .nkv = 1, .created_by = "test"};
    kx_pqc *w = kx_pqc_open(path, src, extra_spec, 2, &o, err);
    if (!w) return -1;
    int64_t *a = kx_malloc(batch * sizeof *a), *b = kx_malloc(batch * sizeof *b);
    uint8_t *bv = kx_malloc(batch);
    int rc = 0;
    for (size_t at = 0; at < rows && rc == 0; at += batch) {
        size_t k = rows - at < batch ? rows - at : batch;
        for (size_t i = 0; i < k; i++) {
            a[i] = small_at(at + i);
            b[i] = 3 * (int64_t)(at + i);
            bv[i] = wide_valid(at + i);
        }
        kx_pq_values v[2] = {{a, NULL}, {b, bv}};
        rc = kx_pqc_write(w, k, v, err);
    }
    free(a);
    free(b);
    free(bv);
    if (rc != 0) {
        kx_pqc_abort(w);
        return -1;
    }
    return kx_pqc_commit(w, err);
}

static bool has_encoding(const kx_pq_chunk *c, int enc)
{
    for (int i = 0; i < c->nencodings; i++)
        if (c->encodings[i] == enc) return true;
    return false;
}

static int64_t stat_i64(kx_pq_bytes b)
{
    int64_t v = 0;
    if (b.len == 8) memcpy(&v, b.ptr, 8);
    return v;
}

/* Compares every column of out with the source (and the new columns with their formulas);
 * returns a failure text or NULL. */
static const char *verify_copy(const char *src_path, const char *out_path)
{
    kx_err err;
    kx_pqr *s = kx_pqr_open(src_path, &err), *o = kx_pqr_open(out_path, &err);
    const char *bad = NULL;
    if (!s || !o) bad = "open failed";
    const kx_pq_meta *sm = s ? kx_pqr_meta(s) : NULL, *om = o ? kx_pqr_meta(o) : NULL;
    if (!bad && (om->ncolumns != 6 || om->num_rows != SRC_ROWS || om->nrowgroups != sm->nrowgroups))
        bad = "shape";
    if (!bad && (strcmp(om->columns[1].name, "name") || om->columns[1].converted_type != 0 ||
                 om->columns[1].logical_type != 1 || strcmp(om->columns[4].name, "small") ||
                 strcmp(om->columns[5].name, "wide") || om->columns[5].type != KX_PQ_INT64 ||
                 om->columns[5].repetition != 1))
        bad = "schema";
    if (!bad && (om->nkv != 1 || strcmp(om->keys[0], "fpd.table") || strcmp(om->values[0], "copied") ||
                 !om->created_by || strcmp(om->created_by, "test") || !om->has_column_orders))
        bad = "file metadata";
    kx_pq_colbuf a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    size_t row0 = 0;
    for (size_t g = 0; g < (om ? om->nrowgroups : 0) && !bad; g++) {
        const kx_pq_rowgroup *sg = &sm->rowgroups[g], *og = &om->rowgroups[g];
        if (og->num_rows != sg->num_rows) bad = "row group rows";
        for (size_t j = 0; j < 4 && !bad; j++) { /* copied: same values, codec, sizes, stats */
            const kx_pq_chunk *sc = &sg->chunks[j], *oc = &og->chunks[j];
            if (oc->codec != KX_PQ_CODEC_SNAPPY || oc->total_compressed != sc->total_compressed ||
                oc->num_values != sc->num_values || oc->stats.null_count != sc->stats.null_count ||
                (oc->dictionary_page_offset >= 0) != (sc->dictionary_page_offset >= 0))
                bad = "copied chunk metadata";
            if (!bad && (kx_pqr_read_column(s, g, j, &a, &err) != 0 || kx_pqr_read_column(o, g, j, &b, &err) != 0))
                bad = "read copied column";
            size_t es = j == 0 || j == 2 ? 8 : j == 3 ? 1 : sizeof(kx_pq_bytes);
            if (!bad && (a.n != b.n || memcmp(a.valid, b.valid, a.n) != 0)) bad = "copied nulls";
            for (size_t i = 0; i < a.n && !bad; i++) {
                if (j == 1) {
                    kx_pq_bytes x = ((kx_pq_bytes *)a.values)[i], y = ((kx_pq_bytes *)b.values)[i];
                    if (x.len != y.len || memcmp(x.ptr, y.ptr, x.len) != 0) bad = "copied string";
                } else if (memcmp((char *)a.values + i * es, (char *)b.values + i * es, es) != 0) {
                    bad = "copied value";
                }
            }
        }
        const kx_pq_chunk *cs = &og->chunks[4], *cw = &og->chunks[5];
        if (!bad && (cs->codec != KX_PQ_CODEC_ZSTD || !has_encoding(cs, KX_PQ_ENC_RLE_DICTIONARY) ||
                     stat_i64(cs->stats.min) != -1 || stat_i64(cs->stats.max) != 3 || cs->stats.null_count != 0))
            bad = "small chunk metadata";
        /* wide: 70000 distinct values per big group exceed the dictionary, so PLAIN */
        bool big = og->num_rows > 65536;
        if (!bad && (has_encoding(cw, KX_PQ_ENC_RLE_DICTIONARY) == big ||
                     stat_i64(cw->stats.max) != 3 * ((int64_t)(row0 + (size_t)og->num_rows) - 1)))
            bad = "wide chunk metadata";
        for (size_t j = 4; j < 6 && !bad; j++) {
            if (kx_pqr_read_column(o, g, j, &b, &err) != 0) {
                bad = "read new column";
                break;
            }
            int64_t nulls = 0;
            for (size_t i = 0; i < b.n && !bad; i++) {
                size_t r = row0 + i;
                bool v = j == 4 || wide_valid(r);
                int64_t want = j == 4 ? small_at(r) : 3 * (int64_t)r;
                nulls += !v;
                if (b.valid[i] != v || (v && ((int64_t *)b.values)[i] != want)) bad = "new column value";
            }
            if (!bad && og->chunks[j].stats.null_count != nulls) bad = "new column null count";
        }
        row0 += (size_t)og->num_rows;
    }
    kx_pq_colbuf_free(&a);
    kx_pq_colbuf_free(&b);
    kx_pqr_close(s);
    kx_pqr_close(o);
    return bad;
}

/* Fails the current test (at the caller's line) with verify_copy's reason. */
#define CHECK_COPY(src, out)                                                              \
    do {                                                                                  \
        const char *why_ = verify_copy((src), (out));                                     \
        if (why_) kx_test_fail(__FILE__, __LINE__, "copy of %s differs: %s", (src), why_); \
    } while (0)

TEST(parquet_copy_round_trip)
{
    char *src = kx_path_join(kx_test_tmpdir(), "copy_src.parquet");
    char *out = kx_path_join(kx_test_tmpdir(), "copy_out.parquet");
    CHECK_EQ_INT(write_source(src), 0);
    kx_err err;
    kx_pqr *r = kx_pqr_open(src, &err);
    CHECK(r != NULL);
    CHECK_EQ_INT(kx_pqr_meta(r)->nrowgroups, 3);
    /* batches of 777 rows straddle the row group boundaries */
    CHECK_EQ_INT(write_copy(r, out, SRC_ROWS, 777, &err), 0);
    kx_pqr_close(r);
    CHECK_COPY(src, out);
    free(src);
    free(out);
}

/* A source read from memory has no file descriptor: chunks are copied through a buffer. */
TEST(parquet_copy_from_memory_source)
{
    char *src = kx_path_join(kx_test_tmpdir(), "copy_src2.parquet");
    char *out = kx_path_join(kx_test_tmpdir(), "copy_out2.parquet");
    CHECK_EQ_INT(write_source(src), 0);
    kx_buf bytes = KX_BUF_INIT;
    kx_err err;
    CHECK_EQ_INT(kx_read_file(src, &bytes, &err), 0);
    kx_pqr *r = kx_pqr_open_mem(bytes.data, bytes.len, "mem", &err);
    CHECK(r != NULL && kx_pqr_fd(r) < 0);
    CHECK_EQ_INT(write_copy(r, out, SRC_ROWS, SRC_ROWS, &err), 0);
    kx_pqr_close(r);
    kx_buf_free(&bytes);
    CHECK_COPY(src, out);
    free(src);
    free(out);
}

/* Too few rows: commit fails and leaves no file; too many: the write fails. */
TEST(parquet_copy_row_count_checked)
{
    char *src = kx_path_join(kx_test_tmpdir(), "copy_src3.parquet");
    char *out = kx_path_join(kx_test_tmpdir(), "copy_out3.parquet");
    CHECK_EQ_INT(write_source(src), 0);
    kx_err err;
    kx_pqr *r = kx_pqr_open(src, &err);
    CHECK(r != NULL);
    CHECK_EQ_INT(write_copy(r, out, SRC_ROWS - 1, 1000, &err), -1);
    CHECK(strstr(err.msg, "149999 rows given") != NULL);
    CHECK(!kx_is_file(out));
    CHECK_EQ_INT(write_copy(r, out, SRC_ROWS + 5, 1000, &err), -1);
    CHECK(strstr(err.msg, "more rows than") != NULL);
    CHECK(!kx_is_file(out));
    kx_pqr_close(r);
    free(src);
    free(out);
}
