/* The kvc .npy writer (spec 05 §8.1): header bytes and pickle encodings, byte for byte. */
#include <stdlib.h>
#include <string.h>

#include "io/npy.h"
#include "test.h"
#include "util/buf.h"

/* Parses a hex string ("8C 03 61 62 63", spaces ignored) into out; returns its length. */
static size_t hex(const char *s, uint8_t *out)
{
    size_t n = 0;
    while (*s) {
        if (*s == ' ') {
            s++;
            continue;
        }
        char two[3] = {s[0], s[1], 0};
        out[n++] = (uint8_t)strtoul(two, NULL, 16);
        s += 2;
    }
    return n;
}

/* True if b[off..] starts with the bytes of the hex string. */
static int bytes_at(const kx_buf *b, size_t off, const char *hexs)
{
    uint8_t want[4096];
    size_t n = hex(hexs, want);
    return off + n <= b->len && memcmp(b->data + off, want, n) == 0;
}

TEST(npy_header_exact_128_bytes)
{
    kx_buf b = KX_BUF_INIT;
    kx_npy_put_header(&b);
    CHECK_EQ_INT(b.len, 128);
    CHECK(bytes_at(&b, 0, "93 4E 55 4D 50 59 01 00 76 00"));
    const char *dict = "{'descr': '|O', 'fortran_order': False, 'shape': (), }";
    CHECK_EQ_INT(strlen(dict), 54);
    CHECK(memcmp(b.data + 10, dict, 54) == 0);
    for (size_t i = 64; i < 127; i++) CHECK_EQ_INT(b.data[i], ' '); /* 63 spaces */
    CHECK_EQ_INT((uint8_t)b.data[127], 0x0A);
    kx_buf_free(&b);
}

TEST(npy_unicode_short_and_long_forms)
{
    char s[300];
    memset(s, 'x', sizeof s);
    kx_buf b = KX_BUF_INIT;
    kx_npy_put_unicode(&b, "abc", 3);
    CHECK_EQ_INT(b.len, 5);
    CHECK(bytes_at(&b, 0, "8C 03 61 62 63"));
    kx_buf_reset(&b);
    kx_npy_put_unicode(&b, s, 255);
    CHECK_EQ_INT(b.len, 2 + 255);
    CHECK(bytes_at(&b, 0, "8C FF 78"));
    kx_buf_reset(&b);
    kx_npy_put_unicode(&b, s, 256);
    CHECK_EQ_INT(b.len, 5 + 256);
    CHECK(bytes_at(&b, 0, "58 00 01 00 00 78"));
    kx_buf_reset(&b);
    kx_npy_put_unicode(&b, "", 0);
    CHECK_EQ_INT(b.len, 2);
    CHECK(bytes_at(&b, 0, "8C 00"));
    kx_buf_reset(&b);
    /* Non-ASCII: length counts UTF-8 bytes; an invalid byte gets the Latin-1 fallback. */
    kx_npy_put_unicode(&b, "\xC3\xA4", 2);
    CHECK(bytes_at(&b, 0, "8C 02 C3 A4"));
    kx_buf_reset(&b);
    kx_npy_put_unicode(&b, "\xDC", 1);
    CHECK_EQ_INT(b.len, 4);
    CHECK(bytes_at(&b, 0, "8C 02 C3 9C"));
    kx_buf_free(&b);
}

TEST(npy_int_forms)
{
    kx_buf b = KX_BUF_INIT;
    struct { uint32_t n; const char *hex; size_t len; } cases[] = {
        {0, "4B 00", 2},          {255, "4B FF", 2},          {256, "4D 00 01", 3},
        {65535, "4D FF FF", 3},   {65536, "4A 00 00 01 00", 5}, {305419896, "4A 78 56 34 12", 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kx_buf_reset(&b);
        kx_npy_put_int(&b, cases[i].n);
        CHECK_EQ_INT(b.len, cases[i].len);
        CHECK(bytes_at(&b, 0, cases[i].hex));
    }
    kx_buf_free(&b);
}

TEST(npy_bytes_prefix_forms)
{
    kx_buf b = KX_BUF_INIT;
    kx_npy_put_bytes_prefix(&b, 0);
    CHECK_EQ_INT(b.len, 2);
    CHECK(bytes_at(&b, 0, "43 00"));
    kx_buf_reset(&b);
    kx_npy_put_bytes_prefix(&b, 255);
    CHECK(bytes_at(&b, 0, "43 FF"));
    kx_buf_reset(&b);
    kx_npy_put_bytes_prefix(&b, 256);
    CHECK_EQ_INT(b.len, 5);
    CHECK(bytes_at(&b, 0, "42 00 01 00 00"));
    kx_buf_reset(&b);
    kx_npy_put_bytes_prefix(&b, UINT64_C(0xFFFFFFFF));
    CHECK(bytes_at(&b, 0, "42 FF FF FF FF"));
    kx_buf_reset(&b);
    kx_npy_put_bytes_prefix(&b, UINT64_C(1) << 32);
    CHECK_EQ_INT(b.len, 9);
    CHECK(bytes_at(&b, 0, "8E 00 00 00 00 01 00 00 00"));
    kx_buf_free(&b);
}

/* The spec's building blocks, spelled out in hex. */
#define G_RECON "8C 15 6E 75 6D 70 79 2E 63 6F 72 65 2E 6D 75 6C 74 69 61 72 72 61 79 " \
                "8C 0C 5F 72 65 63 6F 6E 73 74 72 75 63 74 93 "                          \
                "8C 05 6E 75 6D 70 79 8C 07 6E 64 61 72 72 61 79 93 "                     \
                "4B 00 85 43 01 62 87 52 "
#define G_DTYPE "8C 05 6E 75 6D 70 79 8C 05 64 74 79 70 65 93 "
#define STATE_TAIL "4E 4E 4E 4A FF FF FF FF 4A FF FF FF FF "
#define OUTER G_RECON "28 4B 01 29 " G_DTYPE "8C 02 4F 38 89 88 87 52 28 4B 03 8C 01 7C " \
              STATE_TAIL "4B 3F 74 62 89 5D "
#define ARRAY_DTYPE G_DTYPE "8C 02 69 38 89 88 87 52 28 4B 03 8C 01 3C " STATE_TAIL "4B 00 74 62 "

TEST(npy_empty_dict_file)
{
    kx_npy_writer w;
    kx_npy_init_mem(&w);
    kx_err err;
    CHECK_EQ_INT(kx_npy_finish(&w, &err), 0);
    CHECK(bytes_at(&w.buf, 128, "80 04 " OUTER "7D 61 74 62 2E"));
    uint8_t want[1024];
    CHECK_EQ_INT(w.buf.len, 128 + hex("80 04 " OUTER "7D 61 74 62 2E", want));
    kx_npy_free(&w);
}

TEST(npy_user_with_empty_inner_dict)
{
    kx_npy_writer w;
    kx_npy_init_mem(&w);
    kx_err err;
    CHECK_EQ_INT(kx_npy_begin_user(&w, "ab", 2, &err), 0);
    CHECK_EQ_INT(kx_npy_end_user(&w, &err), 0);
    CHECK_EQ_INT(kx_npy_finish(&w, &err), 0);
    const char *want = "80 04 " OUTER "7D 28 8C 02 61 62 7D 75 61 74 62 2E";
    uint8_t wb[1024];
    CHECK_EQ_INT(w.buf.len, 128 + hex(want, wb));
    CHECK(bytes_at(&w.buf, 128, want));
    CHECK_EQ_INT(w.users, 1);
    CHECK_EQ_INT(w.arrays, 0);
    kx_npy_free(&w);
}

TEST(npy_one_array_exact)
{
    kx_npy_writer w;
    kx_npy_init_mem(&w);
    kx_err err;
    int64_t rows[3] = {1000, 1095, -1};
    CHECK_EQ_INT(kx_npy_begin_user(&w, "u", 1, &err), 0);
    CHECK_EQ_INT(kx_npy_add_array(&w, "1_1_1", 5, rows, 1, &err), 0);
    CHECK_EQ_INT(kx_npy_end_user(&w, &err), 0);
    CHECK_EQ_INT(kx_npy_finish(&w, &err), 0);
    const char *want =
        "80 04 " OUTER "7D 28 8C 01 75 7D 28 8C 05 31 5F 31 5F 31 "
        G_RECON "28 4B 01 4B 01 4B 03 86 " ARRAY_DTYPE "89 43 18 "
        "E8 03 00 00 00 00 00 00 47 04 00 00 00 00 00 00 FF FF FF FF FF FF FF FF "
        "74 62 75 75 61 74 62 2E";
    uint8_t wb[2048];
    CHECK_EQ_INT(w.buf.len, 128 + hex(want, wb));
    CHECK(bytes_at(&w.buf, 128, want));
    kx_npy_free(&w);
}

/* n = 10 rows -> 240 data bytes (SHORT_BINBYTES); n = 11 -> 264 (BINBYTES). */
TEST(npy_data_short_and_long)
{
    int64_t rows[3 * 11];
    for (int i = 0; i < 33; i++) rows[i] = i;
    for (size_t n = 10; n <= 11; n++) {
        kx_npy_writer w;
        kx_npy_init_mem(&w);
        kx_err err;
        CHECK_EQ_INT(kx_npy_begin_user(&w, "u", 1, &err), 0);
        CHECK_EQ_INT(kx_npy_add_array(&w, "3_2_1", 5, rows, n, &err), 0);
        CHECK_EQ_INT(kx_npy_end_user(&w, &err), 0);
        CHECK_EQ_INT(kx_npy_finish(&w, &err), 0);
        uint8_t pre[2048];
        size_t off = 128 + hex("80 04 " OUTER "7D 28 8C 01 75 7D 28 8C 05 33 5F 32 5F 31 " G_RECON
                               "28 4B 01", pre);
        CHECK(bytes_at(&w.buf, off, n == 10 ? "4B 0A 4B 03 86" : "4B 0B 4B 03 86"));
        off += 5 + hex(ARRAY_DTYPE "89", pre);
        CHECK(bytes_at(&w.buf, off, n == 10 ? "43 F0" : "42 08 01 00 00"));
        off += n == 10 ? 2 : 5;
        CHECK_EQ_INT(w.buf.len, off + 24 * n + 8); /* data, 74 62 75 75 61 74 62 2E */
        CHECK(bytes_at(&w.buf, off + 24 * n, "74 62 75 75 61 74 62 2E"));
        CHECK(bytes_at(&w.buf, off + 8, "01 00 00 00 00 00 00 00")); /* row 0 release = 1 */
        kx_npy_free(&w);
    }
}

TEST(npy_out_of_order_calls_fail)
{
    kx_npy_writer w;
    kx_npy_init_mem(&w);
    kx_err err;
    int64_t row[3] = {0, 0, 0};
    CHECK_EQ_INT(kx_npy_add_array(&w, "1_1_1", 5, row, 1, &err), -1);
    CHECK_EQ_INT(kx_npy_end_user(&w, &err), -1);
    CHECK_EQ_INT(kx_npy_begin_user(&w, "u", 1, &err), 0);
    CHECK_EQ_INT(kx_npy_finish(&w, &err), -1);
    kx_npy_free(&w);
}

TEST(npy_file_writer_matches_memory)
{
    const char *dir = kx_test_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/x.npy", dir);
    kx_npy_writer f, m;
    kx_err err;
    CHECK_EQ_INT(kx_npy_open(&f, path, &err), 0);
    kx_npy_init_mem(&m);
    /* 50,000 rows: crosses the 1 MiB flush threshold inside one array. */
    size_t n = 50000;
    int64_t *rows = malloc(3 * n * sizeof *rows);
    for (size_t i = 0; i < 3 * n; i++) rows[i] = (int64_t)i * 7 - 5;
    kx_npy_writer *ws[2] = {&f, &m};
    for (int k = 0; k < 2; k++) {
        CHECK_EQ_INT(kx_npy_begin_user(ws[k], "u1", 2, &err), 0);
        CHECK_EQ_INT(kx_npy_add_array(ws[k], "1_1_1", 5, rows, n, &err), 0);
        CHECK_EQ_INT(kx_npy_add_array(ws[k], "2_1_1", 5, rows, 2, &err), 0);
        CHECK_EQ_INT(kx_npy_end_user(ws[k], &err), 0);
        CHECK_EQ_INT(kx_npy_finish(ws[k], &err), 0);
    }
    free(rows);
    FILE *fp = fopen(path, "rb");
    CHECK(fp != NULL);
    char *data = malloc(m.buf.len + 1);
    size_t got = fread(data, 1, m.buf.len + 1, fp);
    fclose(fp);
    int same = got == m.buf.len && memcmp(data, m.buf.data, got) == 0;
    free(data);
    kx_npy_free(&f);
    kx_npy_free(&m);
    CHECK(same);
}
