/* CSV table reader: round trips through kx_tw (CSV) and kx_tr for every type, nulls,
 * quoted strings, batches and errors. */
#include <stdlib.h>

#include "io/fs.h"
#include "io/table.h"
#include "io/table_read.h"
#include "util/mem.h"
#include "test.h"

static const kx_colspec COLS[4] = {
    {"s", KX_COL_STRING}, {"i", KX_COL_INT64}, {"d", KX_COL_DOUBLE}, {"b", KX_COL_BOOL}};

static int write_table(const char *dir, const char *base, size_t n, const kx_strref *s, const uint8_t *svalid,
                       const int64_t *iv, const uint8_t *ivalid, const double *dv, const uint8_t *bv,
                       const uint8_t *bvalid)
{
    kx_table_opts opts = {false, true, 0, 65536, "t", 2};
    kx_err err;
    kx_tw *w = kx_tw_open(dir, base, COLS, 4, &opts, &err);
    if (!w) return -1;
    kx_column c[4] = {{s, svalid, false}, {iv, ivalid, false}, {dv, NULL, true}, {bv, bvalid, false}};
    if (kx_tw_write(w, n, c, &err) != 0) {
        kx_tw_abort(w);
        return -1;
    }
    return kx_tw_commit(w, &err);
}

TEST(table_read_csv_roundtrip_all_types)
{
    const char *dir = kx_test_tmpdir();
    static const char *strs[] = {"plain", "a,b", "\"", "line\nbreak", "cr\rin", "", "NA", "\xC3\xA4"};
    enum { N = 8 };
    kx_strref s[N];
    uint8_t sv[N] = {1, 1, 1, 1, 1, 0, 1, 1};
    int64_t iv[N] = {0, -1, INT64_MAX, INT64_MIN, 42, 7, 0, 5};
    uint8_t ivv[N] = {1, 1, 1, 1, 1, 1, 0, 1};
    double dv[N] = {0.0, -0.0, 0.1 + 0.2, 1e-5, 1735660192368.0, NAN, 5e-324, -56.0};
    uint8_t bv[N] = {1, 0, 1, 0, 1, 0, 0, 1};
    uint8_t bvv[N] = {1, 1, 1, 1, 1, 1, 0, 1};
    for (int k = 0; k < N; k++) s[k] = (kx_strref){strs[k], (uint32_t)strlen(strs[k])};
    CHECK_EQ_INT(write_table(dir, "t", N, s, sv, iv, ivv, dv, bv, bvv), 0);

    /* Ask for the columns in another order, to check the name mapping. */
    static const kx_colspec want[4] = {
        {"b", KX_COL_BOOL}, {"d", KX_COL_DOUBLE}, {"s", KX_COL_STRING}, {"i", KX_COL_INT64}};
    kx_err err;
    kx_table_reader *r = kx_tr_open(dir, "t", want, 4, &err);
    CHECK(r != NULL);
    kx_column out[4];
    long n = kx_tr_next(r, out, &err);
    int ok = n == N;
    for (int k = 0; ok && k < N; k++) {
        const kx_strref *rs = &((const kx_strref *)out[2].values)[k];
        if (out[2].valid[k] != sv[k]) ok = 0;
        if (sv[k] && (rs->len != s[k].len || memcmp(rs->ptr, s[k].ptr, s[k].len))) ok = 0;
        if (out[3].valid[k] != ivv[k] || (ivv[k] && ((const int64_t *)out[3].values)[k] != iv[k])) ok = 0;
        double d = ((const double *)out[1].values)[k];
        if (isnan(dv[k]) ? out[1].valid[k] : (!out[1].valid[k] || memcmp(&d, &dv[k], sizeof d))) ok = 0;
        if (out[0].valid[k] != bvv[k] || (bvv[k] && ((const uint8_t *)out[0].values)[k] != bv[k])) ok = 0;
        if (!ok) fprintf(stderr, "row %d differs\n", k);
    }
    long end = kx_tr_next(r, out, &err);
    char *path = kx_strdup(kx_tr_path(r));
    kx_tr_close(r);
    int csv_path = strstr(path, "t.csv") != NULL;
    free(path);
    CHECK(ok);
    CHECK_EQ_INT(end, 0);
    CHECK(csv_path);
}

TEST(table_read_csv_many_rows_in_batches)
{
    const char *dir = kx_test_tmpdir();
    enum { N = 30000 };
    kx_strref *s = kx_malloc(N * sizeof *s);
    int64_t *iv = kx_malloc(N * sizeof *iv);
    double *dv = kx_malloc(N * sizeof *dv);
    uint8_t *bv = kx_malloc(N);
    /* long quoted strings so records straddle the 1 MiB read chunks */
    static char text[120];
    memset(text, 'x', sizeof text - 1);
    text[10] = ',';
    text[50] = '"';
    text[sizeof text - 1] = 0;
    for (int k = 0; k < N; k++) {
        s[k] = (kx_strref){text, (uint32_t)(k % 100)};
        iv[k] = k;
        dv[k] = k / 7.0;
        bv[k] = k & 1;
    }
    int wrc = write_table(dir, "big", N, s, NULL, iv, NULL, dv, bv, NULL);
    kx_err err;
    kx_table_reader *r = wrc == 0 ? kx_tr_open(dir, "big", COLS, 4, &err) : NULL;
    long total = 0, batches = 0;
    int ok = r != NULL;
    while (ok) {
        kx_column out[4];
        long n = kx_tr_next(r, out, &err);
        if (n <= 0) {
            ok = n == 0;
            break;
        }
        batches++;
        for (long j = 0; j < n && ok; j++) {
            long k = total + j;
            const kx_strref *rs = &((const kx_strref *)out[0].values)[j];
            uint32_t want_len = (uint32_t)(k % 100);
            /* k % 100 == 0 is an empty string: written as an empty field, read back as null */
            if (want_len == 0) ok = !out[0].valid[j];
            else ok = out[0].valid[j] && rs->len == want_len && !memcmp(rs->ptr, text, want_len);
            ok = ok && ((const int64_t *)out[1].values)[j] == k && ((const double *)out[2].values)[j] == k / 7.0 &&
                 ((const uint8_t *)out[3].values)[j] == (k & 1);
        }
        total += n;
    }
    kx_tr_close(r);
    free(s);
    free(iv);
    free(dv);
    free(bv);
    CHECK_EQ_INT(wrc, 0);
    CHECK(ok);
    CHECK_EQ_INT(total, N);
    CHECK(batches >= 4);
}

static void put(const char *dir, const char *name, const char *text)
{
    char *p = kx_path_join(dir, name);
    kx_write_file_atomic(p, text, strlen(text), NULL);
    free(p);
}

TEST(table_read_csv_errors)
{
    const char *dir = kx_test_tmpdir();
    kx_err err;
    CHECK(kx_tr_open(dir, "none", COLS, 4, &err) == NULL);
    CHECK(strstr(err.msg, "none.csv") != NULL);

    put(dir, "nocol.csv", "s,i,d\nx,1,2.0\n");
    CHECK(kx_tr_open(dir, "nocol", COLS, 4, &err) == NULL);
    CHECK(strstr(err.msg, "column b is missing") != NULL);

    put(dir, "badint.csv", "s,i,d,b\nx,1,2.0,True\ny,1.5,2.0,False\n");
    kx_table_reader *r = kx_tr_open(dir, "badint", COLS, 4, &err);
    CHECK(r != NULL);
    kx_column out[4];
    long n = kx_tr_next(r, out, &err);
    kx_tr_close(r);
    CHECK_EQ_INT(n, -1);
    CHECK(strstr(err.msg, "line 3") != NULL && strstr(err.msg, "column i") != NULL);

    put(dir, "badbool.csv", "s,i,d,b\nx,1,2.0,true\n");
    r = kx_tr_open(dir, "badbool", COLS, 4, &err);
    CHECK(r != NULL);
    n = kx_tr_next(r, out, &err);
    kx_tr_close(r);
    CHECK_EQ_INT(n, -1);

    put(dir, "fields.csv", "s,i,d,b\nx,1,2.0\n");
    r = kx_tr_open(dir, "fields", COLS, 4, &err);
    CHECK(r != NULL);
    n = kx_tr_next(r, out, &err);
    kx_tr_close(r);
    CHECK_EQ_INT(n, -1);
    CHECK(strstr(err.msg, "3 fields") != NULL);
}

TEST(table_read_csv_lenient_input)
{
    const char *dir = kx_test_tmpdir();
    /* extra columns ignored, CRLF records, a quoted number, no final newline */
    put(dir, "x.csv", "extra,b,s,i,d\r\nq,True,\"a\"\"b\",\"7\",1.5\r\nq,False,,8,\r\nq,True,\"\",9,2");
    kx_err err;
    kx_table_reader *r = kx_tr_open(dir, "x", COLS, 4, &err);
    CHECK(r != NULL);
    kx_column out[4];
    long n = kx_tr_next(r, out, &err);
    const kx_strref *s = out[0].values;
    int ok = n == 3 && s[0].len == 3 && !memcmp(s[0].ptr, "a\"b", 3) && !out[0].valid[1] && out[0].valid[2] &&
             s[2].len == 0 && ((const int64_t *)out[1].values)[0] == 7 && !out[2].valid[1] &&
             ((const double *)out[2].values)[2] == 2.0 && ((const uint8_t *)out[3].values)[1] == 0;
    kx_tr_close(r);
    CHECK(ok);
}

TEST(table_read_prefers_parquet)
{
    const char *dir = kx_test_tmpdir();
    put(dir, "p.csv", "s,i,d,b\nx,1,2.0,True\n");
    put(dir, "p.parquet", "not a parquet file");
    kx_err err;
    kx_table_reader *r = kx_tr_open(dir, "p", COLS, 4, &err);
    kx_tr_close(r);
    CHECK(r == NULL); /* the .parquet file is chosen (and is unreadable here) */
}
