/* Parquet library: Thrift compact protocol, RLE/bit-packed hybrid, writer/reader round trips
 * (types, null patterns, encodings, codecs, row groups, zero rows), statistics, and hostile
 * input. Expected bytes are hand-computed from the format specifications. */
#include <stdlib.h>
#include <string.h>

#include "io/fs.h"
#include "parquet/parquet.h"
#include "parquet/pq_internal.h"
#include "test.h"
#include "util/mem.h"

/* ---- thrift compact ------------------------------------------------------------------------ */
TEST(parquet_thrift_varint_zigzag)
{
    kx_buf b = KX_BUF_INIT;
    kx_thr_put_varint(&b, 300); /* 300 = 0b10_0101100 → AC 02 */
    CHECK_EQ_INT(b.len, 2);
    CHECK_EQ_INT((uint8_t)b.data[0], 0xAC);
    CHECK_EQ_INT((uint8_t)b.data[1], 0x02);
    CHECK_EQ_INT(kx_thr_zigzag(0), 0);
    CHECK_EQ_INT(kx_thr_zigzag(-1), 1);
    CHECK_EQ_INT(kx_thr_zigzag(1), 2);
    CHECK_EQ_INT(kx_thr_zigzag(-64), 127);
    CHECK(kx_thr_zigzag(INT64_MIN) == UINT64_MAX);
    CHECK(kx_thr_zigzag(INT64_MAX) == UINT64_MAX - 1);
    kx_thr_dec d;
    kx_thr_dec_init(&d, b.data, b.len);
    CHECK_EQ_INT(kx_thr_get_varint(&d), 300);
    CHECK(!d.failed);
    kx_thr_get_varint(&d); /* nothing left */
    CHECK(d.failed);
    kx_buf_free(&b);
}

TEST(parquet_thrift_fields_lists_structs)
{
    kx_buf b = KX_BUF_INIT;
    kx_thr_enc e;
    kx_thr_enc_init(&e, &b);
    kx_thr_i32(&e, 1, 5);               /* 0x15 (delta 1, I32), zigzag 10 */
    kx_thr_i64(&e, 20, -2);             /* delta 19 > 15: 0x06, zigzag(20)=40, zigzag(-2)=3 */
    kx_thr_list_begin(&e, 21, KX_THR_I32, 3); /* 0x19, 0x35 */
    kx_thr_elem_i32(&e, 1);
    kx_thr_elem_i32(&e, -1);
    kx_thr_elem_i32(&e, 2);
    kx_thr_struct_begin(&e, 22);        /* 0x1C */
    kx_thr_bool(&e, 1, true);           /* 0x11 */
    kx_thr_string(&e, 2, "ab");         /* 0x18 02 'a' 'b' */
    kx_thr_struct_end(&e);              /* 00 */
    kx_thr_bool(&e, 23, false);         /* 0x12 */
    kx_buf_putc(&b, 0);
    const uint8_t want[] = {0x15, 0x0A, 0x06, 0x28, 0x03, 0x19, 0x35, 0x02, 0x01, 0x04, 0x1C,
                            0x11, 0x18, 0x02, 'a', 'b', 0x00, 0x12, 0x00};
    CHECK_EQ_INT(b.len, sizeof want);
    CHECK(memcmp(b.data, want, sizeof want) == 0);

    kx_thr_dec d;
    kx_thr_dec_init(&d, b.data, b.len);
    int16_t last = 0, id;
    int t;
    CHECK(kx_thr_next_field(&d, &last, &id, &t) && id == 1 && t == KX_THR_I32);
    CHECK_EQ_INT(kx_thr_get_i32(&d, t), 5);
    CHECK(kx_thr_next_field(&d, &last, &id, &t) && id == 20 && t == KX_THR_I64);
    CHECK_EQ_INT(kx_thr_get_i64(&d, t), -2);
    CHECK(kx_thr_next_field(&d, &last, &id, &t) && id == 21);
    int et;
    uint32_t n;
    CHECK(kx_thr_get_list(&d, t, &et, &n) && et == KX_THR_I32 && n == 3);
    CHECK_EQ_INT(kx_thr_get_i32(&d, et), 1);
    CHECK_EQ_INT(kx_thr_get_i32(&d, et), -1);
    CHECK_EQ_INT(kx_thr_get_i32(&d, et), 2);
    CHECK(kx_thr_next_field(&d, &last, &id, &t) && id == 22 && t == KX_THR_STRUCT);
    kx_thr_skip(&d, t); /* unknown struct: skipped whole */
    CHECK(kx_thr_next_field(&d, &last, &id, &t) && id == 23);
    CHECK(!kx_thr_get_bool(&d, t));
    CHECK(!kx_thr_next_field(&d, &last, &id, &t));
    CHECK(!d.failed);
    kx_buf_free(&b);
}

TEST(parquet_thrift_hostile)
{
    /* list claiming 2^32 elements in 6 bytes; binary longer than the input; deep nesting */
    const uint8_t biglist[] = {0x19, 0xF5, 0xFF, 0xFF, 0xFF, 0x0F};
    kx_thr_dec d;
    kx_thr_dec_init(&d, biglist, sizeof biglist);
    kx_thr_skip(&d, KX_THR_STRUCT);
    CHECK(d.failed);
    const uint8_t longbin[] = {0x18, 0x7F, 'x'};
    kx_thr_dec_init(&d, longbin, sizeof longbin);
    kx_thr_skip(&d, KX_THR_STRUCT);
    CHECK(d.failed);
    uint8_t deep[200];
    memset(deep, 0x1C, sizeof deep); /* struct field in struct field in ... */
    kx_thr_dec_init(&d, deep, sizeof deep);
    kx_thr_skip(&d, KX_THR_STRUCT);
    CHECK(d.failed);
}

/* ---- RLE / bit-packed hybrid ---------------------------------------------------------------- */
TEST(parquet_rle_spec_examples)
{
    kx_buf b = KX_BUF_INIT;
    uint32_t ones[10] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    kx_rle_encode(&b, ones, 10, 1); /* RLE run: header 10<<1 = 0x14, value 01 */
    CHECK_EQ_INT(b.len, 2);
    CHECK_EQ_INT((uint8_t)b.data[0], 0x14);
    CHECK_EQ_INT((uint8_t)b.data[1], 0x01);
    kx_buf_reset(&b);
    uint32_t seq[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    kx_rle_encode(&b, seq, 8, 3); /* Encodings.md bit-packing example: 1 group → 0x03 88 C6 FA */
    CHECK_EQ_INT(b.len, 4);
    CHECK_EQ_INT((uint8_t)b.data[0], 0x03);
    CHECK_EQ_INT((uint8_t)b.data[1], 0x88);
    CHECK_EQ_INT((uint8_t)b.data[2], 0xC6);
    CHECK_EQ_INT((uint8_t)b.data[3], 0xFA);
    uint32_t out[8];
    CHECK_EQ_INT(kx_rle_decode((const uint8_t *)b.data, b.len, 3, out, 8, 7), 0);
    for (int i = 0; i < 8; i++) CHECK_EQ_INT(out[i], i);
    CHECK_EQ_INT(kx_rle_decode((const uint8_t *)b.data, b.len, 3, out, 8, 6), -1); /* 7 > max */
    CHECK_EQ_INT(kx_rle_decode((const uint8_t *)b.data, 2, 3, out, 8, 7), -1);    /* truncated */
    kx_buf_free(&b);
}

TEST(parquet_rle_round_trip_random)
{
    srand(7);
    for (int bw = 1; bw <= 20; bw += 3) {
        size_t n = 1000 + (size_t)bw * 37;
        uint32_t *v = kx_malloc(n * sizeof *v), *o = kx_malloc(n * sizeof *o);
        uint32_t mask = (1u << bw) - 1;
        for (size_t i = 0; i < n; i++) v[i] = (i / 50) % 3 == 0 ? 5 & mask : (uint32_t)rand() & mask;
        kx_buf b = KX_BUF_INIT;
        kx_rle_encode(&b, v, n, bw);
        int rc = kx_rle_decode((const uint8_t *)b.data, b.len, bw, o, n, mask);
        int same = rc == 0 && memcmp(v, o, n * sizeof *v) == 0;
        kx_buf_free(&b);
        free(v);
        free(o);
        CHECK(same);
    }
}

/* ---- writer / reader round trips -------------------------------------------------------------- */
enum { PAT_NONE, PAT_ALL, PAT_ALT, PAT_RANDOM };

typedef struct sample {
    size_t n;
    uint8_t *b, *valid;
    int32_t *i32;
    int64_t *i64;
    double *d;
    kx_pq_bytes *s;
    char (*sbuf)[16];
} sample;

static void sample_make(sample *x, size_t n, int pat, int distinct)
{
    x->n = n;
    x->b = kx_calloc(n + 1, 1);
    x->valid = kx_calloc(n + 1, 1);
    x->i32 = kx_calloc(n + 1, 4);
    x->i64 = kx_calloc(n + 1, 8);
    x->d = kx_calloc(n + 1, 8);
    x->s = kx_calloc(n + 1, sizeof *x->s);
    x->sbuf = kx_calloc(n + 1, 16);
    srand(42);
    for (size_t i = 0; i < n; i++) {
        x->valid[i] = pat == PAT_NONE ? 1 : pat == PAT_ALL ? 0 : pat == PAT_ALT ? (i % 2) : (rand() % 4 != 0);
        x->b[i] = (uint8_t)(i % 3 == 0);
        x->i32[i] = (int32_t)(i % (size_t)distinct) - 7;
        x->i64[i] = (int64_t)(i * 7919 % (size_t)distinct) * 1000003 - 5000000000ll;
        x->d[i] = (double)(i % (size_t)distinct) / 3.0 - 1.0;
        int len = snprintf(x->sbuf[i], 16, "k%zu,\"é", i % (size_t)distinct);
        x->s[i].ptr = x->sbuf[i];
        x->s[i].len = (uint32_t)len;
    }
}

static void sample_free(sample *x)
{
    free(x->b); free(x->valid); free(x->i32); free(x->i64); free(x->d); free(x->s); free(x->sbuf);
}

static const kx_pq_colspec spec5[5] = {
    {"flag", KX_PQ_BOOLEAN, true, false, false},
    {"small", KX_PQ_INT32, true, false, true},
    {"big", KX_PQ_INT64, true, false, true},
    {"x", KX_PQ_DOUBLE, true, false, false},
    {"name", KX_PQ_BYTE_ARRAY, true, true, true},
};

static int write_sample_spec(const char *path, const kx_pq_colspec *spec, const sample *x, const kx_pqw_opts *o,
                             size_t batch)
{
    kx_err err;
    kx_pqw *w = kx_pqw_open(path, spec, 5, o, &err);
    if (!w) return -1;
    for (size_t at = 0; at < x->n || (at == 0 && x->n == 0); at += batch) {
        size_t k = x->n - at < batch ? x->n - at : batch;
        kx_pq_values v[5] = {{x->b + at, x->valid + at}, {x->i32 + at, x->valid + at},
                             {x->i64 + at, x->valid + at}, {x->d + at, x->valid + at},
                             {x->s + at, x->valid + at}};
        if (kx_pqw_write(w, k, v, &err) != 0) {
            kx_pqw_abort(w);
            return -1;
        }
        if (x->n == 0) break;
    }
    return kx_pqw_commit(w, &err);
}

static int write_sample(const char *path, const sample *x, const kx_pqw_opts *o, size_t batch)
{
    return write_sample_spec(path, spec5, x, o, batch);
}

/* Reads every row group back and compares with the sample; returns a failure text or NULL. */
static const char *verify(const char *path, const sample *x, size_t *nrg_out)
{
    kx_err err;
    kx_pqr *r = kx_pqr_open(path, &err);
    if (!r) return "open failed";
    const kx_pq_meta *m = kx_pqr_meta(r);
    const char *bad = NULL;
    if (m->num_rows != (int64_t)x->n || m->ncolumns != 5) bad = "row/column count";
    size_t row = 0;
    kx_pq_colbuf cb[5];
    memset(cb, 0, sizeof cb);
    for (size_t g = 0; g < m->nrowgroups && !bad; g++) {
        for (size_t j = 0; j < 5 && !bad; j++)
            if (kx_pqr_read_column(r, g, j, &cb[j], &err) != 0) bad = "read_column failed";
        for (size_t i = 0; i < cb[0].n && !bad; i++, row++) {
            uint8_t v = x->valid[row];
            for (size_t j = 0; j < 5; j++)
                if (cb[j].valid[i] != v) bad = "null position";
            if (!v || bad) continue;
            if (((uint8_t *)cb[0].values)[i] != x->b[row]) bad = "bool value";
            if (((int32_t *)cb[1].values)[i] != x->i32[row]) bad = "int32 value";
            if (((int64_t *)cb[2].values)[i] != x->i64[row]) bad = "int64 value";
            if (memcmp(&((double *)cb[3].values)[i], &x->d[row], 8) != 0) bad = "double value";
            kx_pq_bytes s = ((kx_pq_bytes *)cb[4].values)[i];
            if (s.len != x->s[row].len || memcmp(s.ptr, x->s[row].ptr, s.len) != 0) bad = "string value";
        }
    }
    if (!bad && row != x->n) bad = "rows read";
    if (nrg_out) *nrg_out = m->nrowgroups;
    for (size_t j = 0; j < 5; j++) kx_pq_colbuf_free(&cb[j]);
    kx_pqr_close(r);
    return bad;
}

static char *tmp_path(const char *name) { return kx_path_join(kx_test_tmpdir(), name); }

TEST(parquet_round_trip_null_patterns)
{
    const int pats[] = {PAT_NONE, PAT_ALL, PAT_ALT, PAT_RANDOM};
    for (int p = 0; p < 4; p++) {
        sample x;
        sample_make(&x, 3001, pats[p], 50);
        char *path = tmp_path("nulls.parquet");
        kx_pqw_opts o = {.codec = KX_PQ_CODEC_ZSTD, .row_group_rows = 1000};
        int rc = write_sample(path, &x, &o, 777);
        size_t nrg = 0;
        const char *bad = rc == 0 ? verify(path, &x, &nrg) : "write failed";
        free(path);
        sample_free(&x);
        if (bad) kx_test_fail(__FILE__, __LINE__, "pattern %d: %s", p, bad);
        CHECK(!bad);
        CHECK_EQ_INT(nrg, 4); /* 1000+1000+1000+1 */
    }
}

TEST(parquet_round_trip_codecs_and_encodings)
{
    const int codecs[] = {KX_PQ_CODEC_NONE, KX_PQ_CODEC_SNAPPY, KX_PQ_CODEC_ZSTD};
    for (int c = 0; c < 3; c++) {
        for (int mode = 0; mode < 3; mode++) {
            /* mode 0: small dictionaries; 1: dictionary limit forces fallback; 2: small pages */
            sample x;
            sample_make(&x, 20000, PAT_RANDOM, mode == 0 ? 40 : 20000);
            char *path = tmp_path("codec.parquet");
            kx_pqw_opts o = {.codec = codecs[c], .dict_max_bytes = mode == 1 ? 5000 : 0,
                             .page_bytes = mode == 2 ? 4096 : 0};
            int rc = write_sample(path, &x, &o, 20000);
            const char *bad = rc == 0 ? verify(path, &x, NULL) : "write failed";
            if (!bad) {
                kx_err err;
                kx_pqr *r = kx_pqr_open(path, &err);
                const kx_pq_chunk *ch = &kx_pqr_meta(r)->rowgroups[0].chunks[4];
                bool has_plain = false, has_dict = false, has_rle = false;
                for (int k = 0; k < ch->nencodings; k++) {
                    has_plain |= ch->encodings[k] == KX_PQ_ENC_PLAIN;
                    has_dict |= ch->encodings[k] == KX_PQ_ENC_RLE_DICTIONARY;
                    has_rle |= ch->encodings[k] == KX_PQ_ENC_RLE;
                }
                if (ch->codec != codecs[c] || !has_dict || !has_rle || ch->dictionary_page_offset < 4 ||
                    ch->dictionary_page_offset >= ch->data_page_offset) bad = "chunk metadata";
                if (mode == 1 && !has_plain) bad = "no PLAIN fallback";
                if (mode == 2 && ch->total_uncompressed < 20000) bad = "sizes";
                kx_pqr_close(r);
            }
            free(path);
            sample_free(&x);
            if (bad) kx_test_fail(__FILE__, __LINE__, "codec %d mode %d: %s", codecs[c], mode, bad);
            CHECK(!bad);
        }
    }
}

TEST(parquet_zero_rows)
{
    sample x;
    sample_make(&x, 0, PAT_NONE, 1);
    char *path = tmp_path("empty.parquet");
    kx_pqw_opts o = {.codec = KX_PQ_CODEC_ZSTD};
    CHECK_EQ_INT(write_sample(path, &x, &o, 10), 0);
    kx_err err;
    kx_pqr *r = kx_pqr_open(path, &err);
    free(path);
    sample_free(&x);
    CHECK(r != NULL);
    CHECK_EQ_INT(kx_pqr_meta(r)->nrowgroups, 0);
    CHECK_EQ_INT(kx_pqr_meta(r)->num_rows, 0);
    CHECK_EQ_INT(kx_pqr_meta(r)->ncolumns, 5);
    CHECK_EQ_STR(kx_pqr_meta(r)->columns[4].name, "name");
    kx_pqr_close(r);
}

TEST(parquet_statistics_and_footer)
{
    char *path = tmp_path("stats.parquet");
    kx_pq_colspec spec[3] = {{"d", KX_PQ_DOUBLE, true, false, false},
                             {"s", KX_PQ_BYTE_ARRAY, true, true, true},
                             {"i", KX_PQ_INT64, false, false, false}};
    double d[5] = {0.0, NAN, 3.5, -0.0, 2.0};
    kx_pq_bytes s[5] = {{"b", 1}, {"\xc3\xa9", 2}, {"ab", 2}, {"", 0}, {"zz", 2}};
    int64_t i[5] = {5, -9, 7, 0, 1};
    uint8_t valid[5] = {1, 1, 1, 1, 0};
    kx_pq_kv kv = {"fpd.table", "t"};
    kx_pqw_opts o = {.codec = KX_PQ_CODEC_SNAPPY, .kv = &kv, .nkv = 1};
    kx_err err;
    kx_pqw *w = kx_pqw_open(path, spec, 3, &o, &err);
    CHECK(w != NULL);
    kx_pq_values v[3] = {{d, valid}, {s, valid}, {i, NULL}};
    CHECK_EQ_INT(kx_pqw_write(w, 5, v, &err), 0);
    CHECK_EQ_INT(kx_pqw_commit(w, &err), 0);
    kx_pqr *r = kx_pqr_open(path, &err);
    free(path);
    CHECK(r != NULL);
    const kx_pq_meta *m = kx_pqr_meta(r);
    CHECK_EQ_INT(m->version, 1);
    CHECK(strncmp(m->created_by, "keyetl version " KEYETL_VERSION " (build ", 23) == 0);
    CHECK_EQ_INT(m->created_by[strlen(m->created_by) - 1], ')');
    CHECK(m->has_column_orders);
    CHECK_EQ_INT(m->nkv, 1);
    CHECK_EQ_STR(m->keys[0], "fpd.table");
    CHECK_EQ_STR(m->values[0], "t");
    CHECK_EQ_INT(m->columns[1].converted_type, 0);
    CHECK_EQ_INT(m->columns[1].logical_type, 1);
    CHECK_EQ_INT(m->columns[2].repetition, 0);
    const kx_pq_chunk *c = m->rowgroups[0].chunks;
    /* doubles: NaN excluded, the zero extreme written as -0.0 (min) */
    double mn, mx;
    CHECK(c[0].stats.has_min && c[0].stats.min.len == 8);
    memcpy(&mn, c[0].stats.min.ptr, 8);
    memcpy(&mx, c[0].stats.max.ptr, 8);
    CHECK(mn == 0.0 && signbit(mn));
    CHECK_EQ_DBL(mx, 3.5);
    CHECK_EQ_INT(c[0].stats.null_count, 1);
    CHECK(!c[0].stats.min_is_deprecated);
    /* strings: bytewise unsigned, "" < "ab" < "b" < "é" */
    CHECK_EQ_INT(c[1].stats.min.len, 0);
    CHECK(c[1].stats.max.len == 2 && memcmp(c[1].stats.max.ptr, "\xc3\xa9", 2) == 0);
    int64_t imin, imax;
    memcpy(&imin, c[2].stats.min.ptr, 8);
    memcpy(&imax, c[2].stats.max.ptr, 8);
    CHECK_EQ_INT(imin, -9);
    CHECK_EQ_INT(imax, 7);
    CHECK_EQ_INT(c[2].stats.null_count, 0);
    kx_pqr_close(r);
}

TEST(parquet_double_positive_zero_max)
{
    char *path = tmp_path("zero.parquet");
    kx_pq_colspec spec = {"d", KX_PQ_DOUBLE, true, false, false};
    double d[2] = {-0.0, -4.0};
    kx_err err;
    kx_pqw *w = kx_pqw_open(path, &spec, 1, NULL, &err);
    kx_pq_values v = {d, NULL};
    CHECK_EQ_INT(kx_pqw_write(w, 2, &v, &err), 0);
    CHECK_EQ_INT(kx_pqw_commit(w, &err), 0);
    kx_pqr *r = kx_pqr_open(path, &err);
    free(path);
    CHECK(r != NULL);
    double mx;
    memcpy(&mx, kx_pqr_meta(r)->rowgroups[0].chunks[0].stats.max.ptr, 8);
    CHECK(mx == 0.0 && !signbit(mx));
    CHECK_EQ_INT(kx_pqr_meta(r)->rowgroups[0].chunks[0].codec, KX_PQ_CODEC_ZSTD);
    kx_pqr_close(r);
}

/* Every truncation and many byte flips of a small valid file: errors, never crashes. */
TEST(parquet_corrupt_inputs)
{
    sample x;
    sample_make(&x, 300, PAT_RANDOM, 20);
    char *path = tmp_path("good.parquet");
    kx_pqw_opts o = {.codec = KX_PQ_CODEC_SNAPPY, .row_group_rows = 100};
    CHECK_EQ_INT(write_sample(path, &x, &o, 300), 0);
    kx_buf file = KX_BUF_INIT;
    kx_err err;
    CHECK_EQ_INT(kx_read_file(path, &file, &err), 0);
    free(path);
    sample_free(&x);
    int opened = 0, rejected = 0;
    uint8_t *copy = kx_malloc(file.len);
    for (size_t cut = 0; cut < file.len; cut += 7) {
        kx_pqr *r = kx_pqr_open_mem(file.data, cut, "cut", &err);
        if (r) opened++, kx_pqr_close(r);
        else rejected++;
    }
    CHECK_EQ_INT(opened, 0); /* a truncated file never passes as valid */
    srand(3);
    for (int k = 0; k < 3000; k++) {
        memcpy(copy, file.data, file.len);
        for (int f = 0; f < 3; f++) copy[(size_t)rand() % file.len] ^= (uint8_t)(1u << (rand() % 8));
        kx_pqr *r = kx_pqr_open_mem(copy, file.len, "flip", &err);
        if (!r) continue;
        kx_pq_colbuf cb = {0};
        const kx_pq_meta *m = kx_pqr_meta(r);
        for (size_t g = 0; g < m->nrowgroups; g++)
            for (size_t j = 0; j < m->ncolumns; j++)
                if (m->rowgroups[g].num_rows < 100000) (void)kx_pqr_read_column(r, g, j, &cb, &err);
        kx_pq_colbuf_free(&cb);
        kx_pqr_close(r);
    }
    free(copy);
    kx_buf_free(&file);
    CHECK(rejected > 0);
    /* not Parquet at all */
    CHECK(kx_pqr_open_mem("PAR1xxxxPAR1", 12, "tiny", &err) == NULL);
    CHECK(strstr(err.msg, "tiny") != NULL);
}

/* ---- parallel writing: the bytes do not depend on the worker count ------------------------------ */

/* Writes x to path with `workers` and returns the file bytes in out (0 on success). */
static int sample_bytes(const char *path, const kx_pq_colspec *spec, const sample *x, kx_pqw_opts o, int workers,
                        size_t batch, kx_buf *out)
{
    o.workers = workers;
    kx_err err;
    int rc = write_sample_spec(path, spec, x, &o, batch);
    if (rc == 0) rc = kx_read_file(path, out, &err);
    return rc;
}

/* Writes x again with (workers, batch) into got and compares with ref: NULL if the bytes are
 * the same, else why not. */
static const char *rewrite_differs(const char *path, const kx_pq_colspec *spec, const sample *x, kx_pqw_opts o,
                                   int workers, size_t batch, const kx_buf *ref, kx_buf *got)
{
    kx_buf_reset(got);
    if (sample_bytes(path, spec, x, o, workers, batch, got) != 0) return "write failed";
    return got->len == ref->len && memcmp(got->data, ref->data, ref->len) == 0 ? NULL : "bytes differ";
}

/* REQUIRED and OPTIONAL columns mixed; dictionary on a DOUBLE-free subset. */
static const kx_pq_colspec spec5_mixed[5] = {
    {"flag", KX_PQ_BOOLEAN, false, false, false},
    {"small", KX_PQ_INT32, true, false, false},
    {"big", KX_PQ_INT64, false, false, true},
    {"x", KX_PQ_DOUBLE, true, false, true},
    {"name", KX_PQ_BYTE_ARRAY, false, true, true},
};

TEST(parquet_writer_workers_byte_identical)
{
    /* codecs x (small dictionaries | dictionary limit forces PLAIN fallback | small pages)
     * x null patterns x two schemas; 20,000 rows in batches of 2,500 (parallel segments of
     * 12,500 values) and row groups of 3,000 rows, so segments end inside batches and row
     * groups end inside batches. */
    const int codecs[] = {KX_PQ_CODEC_NONE, KX_PQ_CODEC_SNAPPY, KX_PQ_CODEC_ZSTD};
    const int pats[] = {PAT_NONE, PAT_RANDOM, PAT_ALL};
    char *path1 = tmp_path("w1.parquet"), *pathn = kx_path_join(kx_test_tmpdir(), "wn.parquet");
    for (int c = 0; c < 3; c++)
        for (int mode = 0; mode < 3; mode++)
            for (int p = 0; p < 3; p++)
                for (int schema = 0; schema < 2; schema++) {
                    sample x;
                    sample_make(&x, 20000, pats[p], mode == 0 ? 40 : 20000);
                    kx_pqw_opts o = {.codec = codecs[c], .row_group_rows = 3000,
                                     .dict_max_bytes = mode == 1 ? 5000 : 0, .page_bytes = mode == 2 ? 4096 : 0};
                    const kx_pq_colspec *spec = schema ? spec5_mixed : spec5;
                    kx_buf ref = KX_BUF_INIT, got = KX_BUF_INIT;
                    const char *bad = NULL;
                    if (sample_bytes(path1, spec, &x, o, 1, 2500, &ref) != 0) bad = "write failed (1)";
                    size_t nrg = 0;
                    if (!bad && schema == 0) {
                        bad = verify(path1, &x, &nrg);
                        if (!bad && nrg != 7) bad = "row group count";
                    }
                    for (int workers = 2; workers <= 3 && !bad; workers++) {
                        bad = rewrite_differs(pathn, spec, &x, o, workers, 2500, &ref, &got);
                        if (bad)
                            kx_test_fail(__FILE__, __LINE__, "codec %d mode %d pattern %d schema %d workers %d: %s",
                                         codecs[c], mode, pats[p], schema, workers, bad);
                    }
                    if (bad && !kx_test_failed())
                        kx_test_fail(__FILE__, __LINE__, "codec %d mode %d pattern %d schema %d: %s", codecs[c],
                                     mode, pats[p], schema, bad);
                    kx_buf_free(&ref);
                    kx_buf_free(&got);
                    sample_free(&x);
                    if (bad) break;
                }
    free(path1);
    free(pathn);
}

/* The caller-driven API: columns of each segment in reverse order on changing slots give the
 * bytes of kx_pqw_write. */
TEST(parquet_writer_segments_any_column_order)
{
    sample x;
    sample_make(&x, 9000, PAT_RANDOM, 300);
    kx_pqw_opts o = {.codec = KX_PQ_CODEC_ZSTD, .row_group_rows = 2000, .workers = 3};
    kx_buf ref = KX_BUF_INIT, got = KX_BUF_INIT;
    char *seq = tmp_path("seq.parquet"), *path = kx_path_join(kx_test_tmpdir(), "seg.parquet");
    CHECK_EQ_INT(sample_bytes(seq, spec5, &x, o, 1, 4500, &ref), 0);
    free(seq);
    kx_err err;
    kx_pqw *w = kx_pqw_open(path, spec5, 5, &o, &err);
    CHECK(w != NULL);
    CHECK_EQ_INT(kx_pqw_slots(w), 3);
    int slot = 0, segments = 0;
    for (size_t at = 0; at < x.n; at += 4500) {
        kx_pq_values v[5] = {{x.b + at, x.valid + at}, {x.i32 + at, x.valid + at}, {x.i64 + at, x.valid + at},
                             {x.d + at, x.valid + at}, {x.s + at, x.valid + at}};
        for (size_t done = 0; done < 4500;) {
            size_t n = kx_pqw_segment_rows(w, 4500 - done);
            CHECK(n > 0 && n <= 2000);
            for (size_t j = 5; j-- > 0; slot = (slot + 1) % 3)
                CHECK_EQ_INT(kx_pqw_put_column(w, j, done, n, &v[j], slot, &err), 0);
            CHECK_EQ_INT(kx_pqw_end_segment(w, n, &err), 0);
            done += n;
            segments++;
        }
    }
    CHECK_EQ_INT(segments, 6); /* 2000+2000+500 | 1500+2000+1000 */
    CHECK_EQ_INT(kx_pqw_commit(w, &err), 0);
    CHECK_EQ_INT(kx_read_file(path, &got, &err), 0);
    CHECK_EQ_INT(got.len, ref.len);
    CHECK(memcmp(got.data, ref.data, ref.len) == 0);
    free(path);
    kx_buf_free(&ref);
    kx_buf_free(&got);
    sample_free(&x);
}

/* Batches of 1 row always take the row-by-row path; larger batches let PLAIN fixed-width
 * columns append runs of rows in bulk (writer.c, "bulk PLAIN rows"). Both must give the
 * same bytes: pages end at the same rows, statistics and levels are the same. Distinct
 * values make the dictionaries give up (PLAIN), small pages put many boundaries inside
 * batches; both schemas (REQUIRED/OPTIONAL) and all null patterns. */
TEST(parquet_writer_bulk_plain_rows_byte_identical)
{
    const int pats[] = {PAT_NONE, PAT_ALT, PAT_RANDOM, PAT_ALL};
    const size_t batches[] = {7, 1000, 20000};
    char *path1 = tmp_path("b1.parquet"), *pathn = kx_path_join(kx_test_tmpdir(), "bn.parquet");
    for (int p = 0; p < 4; p++)
        for (int schema = 0; schema < 2; schema++)
            for (int pages = 0; pages < 2; pages++) {
                sample x;
                sample_make(&x, 20000, pats[p], 20000);
                kx_pqw_opts o = {.codec = KX_PQ_CODEC_NONE, .row_group_rows = 9000,
                                 .page_bytes = pages ? 1000 : 0};
                const kx_pq_colspec *spec = schema ? spec5_mixed : spec5;
                kx_buf ref = KX_BUF_INIT, got = KX_BUF_INIT;
                const char *bad = sample_bytes(path1, spec, &x, o, 1, 1, &ref) != 0 ? "write failed (1)" : NULL;
                if (!bad && schema == 0) {
                    size_t nrg = 0;
                    bad = verify(path1, &x, &nrg);
                }
                for (size_t b = 0; b < 3 && !bad; b++) bad = rewrite_differs(pathn, spec, &x, o, 1, batches[b], &ref, &got);
                if (bad) kx_test_fail(__FILE__, __LINE__, "pattern %d schema %d pages %d: %s", pats[p], schema, pages, bad);
                kx_buf_free(&ref);
                kx_buf_free(&got);
                sample_free(&x);
                if (bad) break;
            }
    free(path1);
    free(pathn);
}
