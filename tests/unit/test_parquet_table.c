/* Parquet through keyetl's table interfaces: kx_tw's Parquet sink (UTF-8 fallback, NaN →
 * null, codecs, footer keys), the kx_pq_source reader, and the pyarrow-written reference
 * keypairs file of the shared data (SKIP when absent). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/fs.h"
#include "io/table.h"
#include "io/table_read_parquet.h"
#include "parquet/parquet.h"
#include "pipeline/config.h"
#include "test.h"
#include "util/buf.h"
#include "util/mem.h"

static const kx_colspec cols4[4] = {
    {"b", KX_COL_BOOL}, {"i", KX_COL_INT64}, {"HL_\"_median", KX_COL_DOUBLE}, {"key", KX_COL_STRING}};

TEST(parquet_table_writer_and_source)
{
    const char *dir = kx_test_tmpdir();
    uint8_t b[4] = {1, 0, 1, 1};
    int64_t i[4] = {-3, 0, 1ll << 40, 9};
    double d[4] = {1.5, NAN, -0.0, 2.0};
    kx_strref s[4] = {{"a,\"b", 4}, {"\xdc", 1}, {"", 0}, {"\xe2\x80\x93", 3}};
    uint8_t valid[4] = {1, 1, 0, 1};
    kx_column c[4] = {{b, NULL, false}, {i, valid, false}, {d, NULL, true}, {s, valid, false}};
    const int codecs[3] = {KX_CODEC_ZSTD, KX_CODEC_SNAPPY, KX_CODEC_NONE};
    const int pq_codecs[3] = {KX_PQ_CODEC_ZSTD, KX_PQ_CODEC_SNAPPY, KX_PQ_CODEC_NONE};
    for (int k = 0; k < 3; k++) {
        kx_table_opts o = {.parquet = true, .csv = true, .compression = codecs[k], .row_group_rows = 3,
                           .table_name = "demo"};
        kx_err err;
        kx_tw *w = kx_tw_open(dir, "t", cols4, 4, &o, &err);
        CHECK(w != NULL);
        CHECK_EQ_INT(kx_tw_write(w, 4, c, &err), 0);
        CHECK_EQ_INT(kx_tw_commit(w, &err), 0);
        char *path = kx_path_join(dir, "t.parquet");
        kx_pqr *r = kx_pqr_open(path, &err);
        CHECK(r != NULL);
        const kx_pq_meta *m = kx_pqr_meta(r);
        CHECK_EQ_INT(m->nrowgroups, 2);
        CHECK_EQ_INT(m->rowgroups[0].chunks[0].codec, pq_codecs[k]);
        CHECK_EQ_INT(m->nkv, 2);
        CHECK_EQ_STR(m->keys[0], "fpd.table");
        CHECK_EQ_STR(m->values[0], "demo");
        CHECK_EQ_STR(m->keys[1], "fpd.schema_version");
        CHECK_EQ_STR(m->values[1], "1");
        for (size_t j = 0; j < 4; j++) CHECK_EQ_INT(m->columns[j].repetition, 1);
        CHECK_EQ_STR(m->columns[2].name, "HL_\"_median");
        kx_pqr_close(r);

        kx_pq_source *src = kx_pq_source_open(path, cols4, 4, &err);
        free(path);
        CHECK(src != NULL);
        kx_column out[4];
        CHECK_EQ_INT(kx_pq_source_next(src, out, &err), 3);
        CHECK_EQ_INT(((const uint8_t *)out[0].values)[1], 0);
        CHECK_EQ_INT(out[1].valid[2], 0);
        CHECK_EQ_INT(((const int64_t *)out[1].values)[1], 0);
        CHECK_EQ_INT(out[2].valid[1], 0); /* NaN → null */
        CHECK_EQ_INT(out[2].valid[2], 1);
        CHECK(signbit(((const double *)out[2].values)[2]));
        const kx_strref *ks = out[3].values;
        CHECK(ks[0].len == 4 && memcmp(ks[0].ptr, "a,\"b", 4) == 0);
        CHECK(ks[1].len == 2 && memcmp(ks[1].ptr, "\xc3\x9c", 2) == 0); /* 0xDC → Ü */
        CHECK_EQ_INT(out[3].valid[2], 0);
        CHECK_EQ_INT(kx_pq_source_next(src, out, &err), 1);
        CHECK(ks != out[3].values || true);
        CHECK(((const kx_strref *)out[3].values)[0].len == 3);
        CHECK_EQ_INT(kx_pq_source_next(src, out, &err), 0);
        kx_pq_source_close(src);
    }
    /* the source rejects a missing column and a type mismatch */
    kx_err err;
    char *path = kx_path_join(dir, "t.parquet");
    kx_colspec bad1 = {"nope", KX_COL_INT64}, bad2 = {"key", KX_COL_DOUBLE};
    CHECK(kx_pq_source_open(path, &bad1, 1, &err) == NULL);
    CHECK(strstr(err.msg, "nope") != NULL);
    CHECK(kx_pq_source_open(path, &bad2, 1, &err) == NULL);
    CHECK(strstr(err.msg, "expected double") != NULL);
    free(path);
}

/* Reference keypairs (pyarrow, SNAPPY, dictionary pages) against the expected CSV. */
TEST(parquet_reference_keypairs)
{
    const char *shared = kx_test_shared_dir();
    if (!shared) SKIP("shared data absent");
    char *ref = kx_path_join(shared, "data/fpd-dev/reference/keypairs.parquet");
    char *csv = kx_path_join(shared, "data/fpd-dev/expected/keypairs/keypairs.csv");
    if (!kx_is_file(ref) || !kx_is_file(csv)) {
        free(ref);
        free(csv);
        SKIP("reference keypairs absent");
    }
    kx_err err;
    kx_colspec *cols = NULL;
    size_t ncols = 0;
    CHECK_EQ_INT(kx_pq_table_columns(ref, &cols, &ncols, &err), 0);
    CHECK_EQ_INT(ncols, 20);
    CHECK_EQ_STR(cols[0].name, "user_id");
    CHECK_EQ_STR(cols[5].name, "key1");
    CHECK_EQ_STR(cols[19].name, "device_type");
    CHECK_EQ_INT(cols[15].type, KX_COL_BOOL);
    CHECK_EQ_INT(cols[11].type, KX_COL_DOUBLE);
    kx_pq_source *s = kx_pq_source_open(ref, cols, ncols, &err);
    CHECK(s != NULL);
    kx_column data[20];
    kx_buf got = KX_BUF_INIT, exp = KX_BUF_INIT;
    long total = 0, n;
    int first = 1;
    while ((n = kx_pq_source_next(s, data, &err)) > 0) {
        if (first) kx_csv_put_rows(&got, cols, ncols, 5, data); /* the first 5 rows as CSV */
        first = 0;
        total += n;
    }
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(total, 85750);
    /* the same user's first 5 rows in the expected CSV */
    CHECK_EQ_INT(kx_read_file(csv, &exp, &err), 0);
    char user[40];
    memcpy(user, got.data, 32);
    user[32] = 0;
    const char *at = strstr(exp.data, user);
    CHECK(at != NULL);
    CHECK(strncmp(at, got.data, got.len) == 0);
    kx_buf_free(&got);
    kx_buf_free(&exp);
    kx_pq_source_close(s);
    kx_pq_colspecs_free(cols, ncols);
    free(ref);
    free(csv);
}

/* The reference rows written back through kx_tw: identical when read again, and the ZSTD
 * Parquet file at least 60% smaller than the CSV (acceptance). */
TEST(parquet_keypairs_rewrite_size)
{
    const char *shared = kx_test_shared_dir();
    if (!shared) SKIP("shared data absent");
    char *ref = kx_path_join(shared, "data/fpd-dev/reference/keypairs.parquet");
    if (!kx_is_file(ref)) {
        free(ref);
        SKIP("reference keypairs absent");
    }
    const char *dir = kx_test_tmpdir();
    kx_err err;
    kx_colspec *cols = NULL;
    size_t ncols = 0;
    CHECK_EQ_INT(kx_pq_table_columns(ref, &cols, &ncols, &err), 0);
    kx_pq_source *s = kx_pq_source_open(ref, cols, ncols, &err);
    kx_table_opts o = {.parquet = true, .csv = true, .compression = KX_CODEC_ZSTD, .row_group_rows = 65536,
                       .table_name = "keypairs"};
    kx_tw *w = kx_tw_open(dir, "keypairs", cols, ncols, &o, &err);
    CHECK(s && w);
    kx_column data[20];
    long n;
    while ((n = kx_pq_source_next(s, data, &err)) > 0) CHECK_EQ_INT(kx_tw_write(w, (size_t)n, data, &err), 0);
    CHECK_EQ_INT(kx_tw_commit(w, &err), 0);
    kx_pq_source_close(s);
    char *pq = kx_path_join(dir, "keypairs.parquet"), *csv = kx_path_join(dir, "keypairs.csv");
    struct stat a, b;
    CHECK(stat(pq, &a) == 0 && stat(csv, &b) == 0);
    printf("# keypairs: parquet %lld bytes, csv %lld bytes (%.1f%% smaller)\n", (long long)a.st_size,
           (long long)b.st_size, 100.0 * (1.0 - (double)a.st_size / (double)b.st_size));
    CHECK((double)a.st_size <= 0.4 * (double)b.st_size);
    /* read back: 2 row groups, 85750 rows, the CSV twin of the rewritten file is the same */
    kx_pq_source *s2 = kx_pq_source_open(pq, cols, ncols, &err);
    CHECK(s2 != NULL);
    kx_buf all = KX_BUF_INIT, want = KX_BUF_INIT;
    kx_csv_put_header(&all, cols, ncols);
    long total = 0;
    while ((n = kx_pq_source_next(s2, data, &err)) > 0) {
        kx_csv_put_rows(&all, cols, ncols, (size_t)n, data);
        total += n;
    }
    CHECK_EQ_INT(total, 85750);
    CHECK_EQ_INT(kx_read_file(csv, &want, &err), 0);
    CHECK_EQ_INT(all.len, want.len);
    CHECK(memcmp(all.data, want.data, all.len) == 0);
    kx_buf_free(&all);
    kx_buf_free(&want);
    kx_pq_source_close(s2);
    free(pq);
    free(csv);
    free(ref);
    kx_pq_colspecs_free(cols, ncols);
}

/* Writes a 60,300-row table (all column types, nulls, NaN, non-UTF-8 strings) in batches of
 * 7,000 rows (and one of 300, below the parallel threshold) with the given worker count;
 * returns the bytes of <base>.parquet and .csv. Row groups of 6,000 rows end inside batches;
 * the CSV (> 1 MiB) is flushed to the file during parallel batches. Checks that
 * kx_tw_csv_pos after the last batch is the CSV file's size. */
static void write_worker_table(const char *dir, const char *base, int workers, bool parquet, bool csv_too,
                               kx_buf *pq, kx_buf *csv)
{
    enum { N = 60300, BATCH = 7000 };
    static uint8_t b[N], valid[N];
    static int64_t i64[N];
    static double d[N];
    static kx_strref s[N];
    static const char *words[5] = {"alpha", "b,\"c\"", "\xff\xfe", "", "\xe2\x80\x93x"};
    for (size_t r = 0; r < N; r++) {
        b[r] = (uint8_t)(r % 3 == 0);
        valid[r] = (uint8_t)(r % 11 != 0);
        i64[r] = (int64_t)(r * 7919 % 1000) - 500;
        d[r] = r % 13 == 0 ? NAN : (double)r / 7.0;
        s[r] = (kx_strref){words[r % 5], (uint32_t)strlen(words[r % 5])};
    }
    kx_table_opts o = {.parquet = parquet, .csv = csv_too, .compression = KX_CODEC_ZSTD,
                       .row_group_rows = 6000, .table_name = "w", .workers = workers};
    kx_err err;
    kx_tw *w = kx_tw_open(dir, base, cols4, 4, &o, &err);
    CHECK(w != NULL);
    for (size_t at = 0, n = 0; at < N; at += n) {
        n = N - at < BATCH ? N - at : BATCH;
        if (at == 14000) n = 300; /* a small batch between large ones */
        kx_column c[4] = {{b + at, NULL, false}, {i64 + at, valid + at, false}, {d + at, NULL, true},
                          {s + at, valid + at, false}};
        CHECK_EQ_INT(kx_tw_write(w, n, c, &err), 0);
    }
    int64_t pos = kx_tw_csv_pos(w);
    CHECK_EQ_INT(kx_tw_commit(w, &err), 0);
    char *name, *path;
    if (csv_too) {
        name = kx_asprintf("%s.csv", base);
        path = kx_path_join(dir, name);
        CHECK_EQ_INT(kx_read_file(path, csv, &err), 0);
        free(name);
        free(path);
        CHECK_EQ_INT(pos, csv->len);
    }
    if (parquet) {
        name = kx_asprintf("%s.parquet", base);
        path = kx_path_join(dir, name);
        CHECK_EQ_INT(kx_read_file(path, pq, &err), 0);
        free(name);
        free(path);
    }
}

TEST(table_writer_workers_byte_identical)
{
    /* CSV only, Parquet + CSV, Parquet only; workers 1 (sequential) against 2 and 3 */
    const char *dir = kx_test_tmpdir();
    for (int fmt = 0; fmt < 3; fmt++) {
        bool parquet = fmt > 0, csv_too = fmt < 2;
        kx_buf pq1 = KX_BUF_INIT, csv1 = KX_BUF_INIT;
        write_worker_table(dir, "seq", 1, parquet, csv_too, &pq1, &csv1);
        if (csv_too) CHECK(csv1.len > (3u << 19)); /* 1.5 MiB */
        if (parquet) CHECK(pq1.len > 1000);
        for (int workers = 2; workers <= 3; workers++) {
            kx_buf pq2 = KX_BUF_INIT, csv2 = KX_BUF_INIT;
            write_worker_table(dir, "par", workers, parquet, csv_too, &pq2, &csv2);
            bool same = csv1.len == csv2.len && (!csv1.len || memcmp(csv1.data, csv2.data, csv1.len) == 0) &&
                        pq1.len == pq2.len && (!pq1.len || memcmp(pq1.data, pq2.data, pq1.len) == 0);
            kx_buf_free(&pq2);
            kx_buf_free(&csv2);
            if (!same) kx_test_fail(__FILE__, __LINE__, "format %d workers %d: bytes differ", fmt, workers);
        }
        kx_buf_free(&pq1);
        kx_buf_free(&csv1);
        CHECK(!kx_test_failed());
    }
}
