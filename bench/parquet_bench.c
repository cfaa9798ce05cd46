/* Parquet write/read throughput on a keypairs-like table (20 columns: 5 strings, 4 int64,
 * 9 doubles, 2 booleans). usage: parquet_bench ROWS OUT.parquet → one line of key=value. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "io/table.h"
#include "io/table_read_parquet.h"
#include "pipeline/config.h"

static const kx_colspec cols[20] = {
    {"user_id", KX_COL_STRING}, {"platform_id", KX_COL_INT64}, {"video_id", KX_COL_INT64},
    {"session_id", KX_COL_INT64}, {"sequence_id", KX_COL_INT64}, {"key1", KX_COL_STRING},
    {"key2", KX_COL_STRING}, {"key1_press", KX_COL_DOUBLE}, {"key1_release", KX_COL_DOUBLE},
    {"key2_press", KX_COL_DOUBLE}, {"key2_release", KX_COL_DOUBLE}, {"HL", KX_COL_DOUBLE},
    {"IL", KX_COL_DOUBLE}, {"PL", KX_COL_DOUBLE}, {"RL", KX_COL_DOUBLE}, {"valid", KX_COL_BOOL},
    {"error_description", KX_COL_STRING}, {"key1_timestamp", KX_COL_DOUBLE}, {"outlier", KX_COL_BOOL},
    {"device_type", KX_COL_STRING}};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#define B 65536
int main(int argc, char **argv)
{
    if (argc != 3) return 2;
    long rows = atol(argv[1]);
    static char users[200][33];
    static const char *keyset[] = {"a", "b", "c", "d", "e", "Key.space", "Key.shift", "t", "h", "o", "n", "s", "i", "r", "Key.backspace"};
    for (int u = 0; u < 200; u++) snprintf(users[u], 33, "%032x", u * 2654435761u);
    kx_strref *s[5];
    int64_t *i64[4];
    double *d[9];
    uint8_t *b[2], *valid = malloc(B);
    for (int j = 0; j < 5; j++) s[j] = malloc(B * sizeof(kx_strref));
    for (int j = 0; j < 4; j++) i64[j] = malloc(B * 8);
    for (int j = 0; j < 9; j++) d[j] = malloc(B * 8);
    for (int j = 0; j < 2; j++) b[j] = malloc(B);
    kx_table_opts o = {.parquet = true, .compression = KX_CODEC_ZSTD, .row_group_rows = 65536, .table_name = "keypairs"};
    kx_err err;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", argv[2]);
    char *slash = strrchr(dir, '/');
    *slash = 0;
    char base[256];
    snprintf(base, sizeof base, "%s", slash + 1);
    *strrchr(base, '.') = 0;
    double gen = 0, t0 = now();
    kx_tw *w = kx_tw_open(dir, base, cols, 20, &o, &err);
    if (!w) { fprintf(stderr, "%s\n", err.msg); return 1; }
    unsigned x = 1;
    for (long at = 0; at < rows; at += B) {
        double g0 = now();
        size_t n = (size_t)(rows - at < B ? rows - at : B);
        for (size_t i = 0; i < n; i++) {
            long r = at + (long)i;
            x = x * 1103515245u + 12345u;
            int u = (int)(r / 50000 % 200);
            s[0][i] = (kx_strref){users[u], 32};
            const char *k1 = keyset[x % 15], *k2 = keyset[(x >> 8) % 15];
            s[1][i] = (kx_strref){k1, (uint32_t)strlen(k1)};
            s[2][i] = (kx_strref){k2, (uint32_t)strlen(k2)};
            s[3][i] = (x % 100) ? (kx_strref){"No error", 8} : (kx_strref){"Missing key1 release", 20};
            s[4][i] = (kx_strref){"desktop", 7};
            i64[0][i] = 1 + r % 3; i64[1][i] = 1 + r / 7 % 3; i64[2][i] = 1 + r / 1000 % 2; i64[3][i] = r % 50000;
            double p = 1735660000000.0 + (double)r * 150.0 + (double)(x % 97);
            d[0][i] = p; d[1][i] = p + 80 + (x >> 4) % 60; d[2][i] = p + 150; d[3][i] = d[2][i] + 90 + (x >> 12) % 40;
            d[4][i] = d[1][i] - d[0][i]; d[5][i] = d[2][i] - d[1][i]; d[6][i] = d[2][i] - d[0][i]; d[7][i] = d[3][i] - d[1][i];
            d[8][i] = p;
            b[0][i] = (x % 100) != 0; b[1][i] = (x % 37) == 0;
            valid[i] = (x % 100) != 0;
        }
        kx_column c[20] = {{s[0], NULL, 0}, {i64[0], NULL, 0}, {i64[1], NULL, 0}, {i64[2], NULL, 0}, {i64[3], NULL, 0},
                           {s[1], NULL, 0}, {s[2], NULL, 0}, {d[0], NULL, 0}, {d[1], valid, 0}, {d[2], NULL, 0},
                           {d[3], NULL, 0}, {d[4], valid, 0}, {d[5], valid, 0}, {d[6], NULL, 0}, {d[7], valid, 0},
                           {b[0], NULL, 0}, {s[3], NULL, 0}, {d[8], NULL, 0}, {b[1], NULL, 0}, {s[4], NULL, 0}};
        gen += now() - g0;
        if (kx_tw_write(w, n, c, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return 1; }
    }
    if (kx_tw_commit(w, &err) != 0) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double wt = now() - t0 - gen;
    struct stat st;
    stat(argv[2], &st);
    t0 = now();
    kx_pq_source *src = kx_pq_source_open(argv[2], cols, 20, &err);
    if (!src) { fprintf(stderr, "%s\n", err.msg); return 1; }
    kx_column out[20];
    long got = 0, n;
    while ((n = kx_pq_source_next(src, out, &err)) > 0) got += n;
    kx_pq_source_close(src);
    double rt = now() - t0;
    if (n < 0 || got != rows) { fprintf(stderr, "read back %ld rows: %s\n", got, n < 0 ? err.msg : ""); return 1; }
    printf("rows=%ld bytes=%lld write_s=%.3f read_s=%.3f\n", rows, (long long)st.st_size, wt, rt);
    return 0;
}
