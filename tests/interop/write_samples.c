/* Writes sample tables through keyetl's table writer (kx_tw: Parquet + CSV twins) for the
 * interop suite: every type, nulls, tricky strings (quotes, commas, LF, non-ASCII, invalid
 * UTF-8), NaN, dictionary + PLAIN fallback, every codec, several row groups, zero rows.
 * usage: write_samples OUTDIR */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/table.h"
#include "pipeline/config.h"

static const kx_colspec cols[6] = {{"user_id", KX_COL_STRING}, {"n", KX_COL_INT64}, {"HL_\"_median", KX_COL_DOUBLE},
                                   {"ok", KX_COL_BOOL}, {"key", KX_COL_STRING}, {"IL_\\_q1", KX_COL_DOUBLE}};
static const char *keys[] = {"a", "\"", ",", "NA", "é", "–", "Key.space", "line\nbreak", "\xdc\xb4", "x,\"y\"", "日本"};

static int table(const char *dir, const char *base, size_t rows, int codec, int64_t rg, int unique, int null_every)
{
    char (*ids)[48] = calloc(rows + 1, 48);
    kx_strref *u = calloc(rows + 1, sizeof *u), *k = calloc(rows + 1, sizeof *k);
    int64_t *n = calloc(rows + 1, 8);
    double *d = calloc(rows + 1, 8), *d2 = calloc(rows + 1, 8);
    uint8_t *b = calloc(rows + 1, 1), *valid = calloc(rows + 1, 1);
    for (size_t i = 0; i < rows; i++) {
        int len = unique ? snprintf(ids[i], 48, "user-%010zu-%08zx", i, i * 2654435761u)
                         : snprintf(ids[i], 48, "user%02zu", i / 97 % 50);
        u[i] = (kx_strref){ids[i], (uint32_t)len};
        k[i] = (kx_strref){keys[i % 11], (uint32_t)strlen(keys[i % 11])};
        n[i] = (int64_t)(i * 7) - 1000 + (i % 5 == 0 ? (int64_t)1 << 50 : 0);
        d[i] = i % 13 == 0 ? NAN : (double)i / 7.0 - 50.0;
        d2[i] = i % 3 == 0 ? -0.0 : 1735660013225.0 + (double)i;
        b[i] = (uint8_t)(i % 2);
        valid[i] = null_every ? (i % (size_t)null_every != 1) : 1;
    }
    kx_column c[6] = {{u, NULL, false}, {n, valid, false}, {d, valid, true}, {b, valid, false}, {k, valid, false}, {d2, NULL, false}};
    kx_table_opts o = {.parquet = true, .csv = true, .compression = codec, .row_group_rows = rg, .table_name = base};
    kx_err err;
    int rc = -1;
    kx_tw *w = kx_tw_open(dir, base, cols, 6, &o, &err);
    if (w) {
        rc = 0;
        for (size_t at = 0; at < rows && rc == 0; at += 10000) {
            size_t m = rows - at < 10000 ? rows - at : 10000;
            kx_column part[6];
            for (int j = 0; j < 6; j++) {
                size_t es = cols[j].type == KX_COL_STRING ? sizeof(kx_strref) : cols[j].type == KX_COL_BOOL ? 1 : 8;
                part[j] = c[j];
                part[j].values = (const char *)c[j].values + at * es;
                if (c[j].valid) part[j].valid = c[j].valid + at;
            }
            rc = kx_tw_write(w, m, part, &err);
        }
        if (rc == 0) rc = kx_tw_commit(w, &err);
        else kx_tw_abort(w);
    }
    if (rc) fprintf(stderr, "write_samples: %s: %s\n", base, err.msg);
    free(ids); free(u); free(k); free(n); free(d); free(d2); free(b); free(valid);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    const char *dir = argv[1];
    int rc = 0;
    rc |= table(dir, "types_zstd", 3000, KX_CODEC_ZSTD, 65536, 0, 4);
    rc |= table(dir, "types_snappy", 3000, KX_CODEC_SNAPPY, 65536, 0, 2);
    rc |= table(dir, "types_none", 3000, KX_CODEC_NONE, 65536, 0, 0);
    rc |= table(dir, "rowgroups", 5500, KX_CODEC_ZSTD, 1000, 0, 3);
    rc |= table(dir, "dict_fallback", 120000, KX_CODEC_SNAPPY, 200000, 1, 5);
    rc |= table(dir, "zero_rows", 0, KX_CODEC_ZSTD, 65536, 0, 0);
    return rc ? 1 : 0;
}
