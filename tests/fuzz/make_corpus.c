/* Writes the tiny seed files of tests/fuzz/corpus/parquet/ (run by hand when the writer
 * changes: cc ... tests/fuzz/make_corpus.c build/libkeyetl.a $(LIBS); ./a.out DIR). */
#include <stdio.h>
#include <string.h>

#include "parquet/parquet.h"

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    const kx_pq_colspec spec[5] = {{"b", KX_PQ_BOOLEAN, true, false, false},
                                   {"i", KX_PQ_INT64, true, false, true},
                                   {"d", KX_PQ_DOUBLE, true, false, false},
                                   {"s", KX_PQ_BYTE_ARRAY, true, true, true},
                                   {"r", KX_PQ_INT32, false, false, false}};
    uint8_t b[6] = {1, 0, 1, 1, 0, 0}, valid[6] = {1, 0, 1, 1, 1, 0};
    int64_t i[6] = {1, 2, 2, 2, -5, 7};
    double d[6] = {0.5, -0.0, 3, 3, 1e300, 2};
    kx_pq_bytes s[6] = {{"a", 1}, {"b", 1}, {"a", 1}, {"\xc3\xa9", 2}, {"", 0}, {"a,\"", 3}};
    int32_t r[6] = {1, 2, 3, 4, 5, 6};
    const int codecs[3] = {KX_PQ_CODEC_NONE, KX_PQ_CODEC_SNAPPY, KX_PQ_CODEC_ZSTD};
    for (int k = 0; k < 4; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/seed%d.parquet", argv[1], k);
        kx_pqw_opts o = {.codec = codecs[k % 3], .row_group_rows = k == 3 ? 2 : 0, .dict_max_bytes = k == 3 ? 3 : 0};
        kx_err err;
        kx_pqw *w = kx_pqw_open(path, spec, 5, &o, &err);
        kx_pq_values v[5] = {{b, valid}, {i, valid}, {d, valid}, {s, valid}, {r, NULL}};
        if (!w || kx_pqw_write(w, 6, v, &err) != 0 || kx_pqw_commit(w, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
    }
    return 0;
}
