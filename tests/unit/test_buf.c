/* Integer formatting (kx_i64_to_chars, used by every CSV/JSON integer and by the integral
 * fast path of double formatting) against printf. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "util/buf.h"
#include "util/mem.h"

TEST(i64_to_chars_matches_printf)
{
    static const int64_t edge[] = {0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, -1, -9, -10, -99, -100,
                                   1735660192368LL, 9999999999999999LL, 10000000000000000LL,
                                   INT64_MAX, INT64_MIN, -INT64_MAX};
    char a[24], b[32];
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        size_t n = kx_i64_to_chars(edge[i], a);
        snprintf(b, sizeof b, "%lld", (long long)edge[i]);
        CHECK_EQ_STR(a, b);
        CHECK_EQ_INT(n, strlen(b));
    }
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        int64_t v = (int64_t)x >> (i % 63);
        kx_i64_to_chars(v, a);
        snprintf(b, sizeof b, "%lld", (long long)v);
        CHECK_EQ_STR(a, b);
    }
    for (int64_t p = 1; p <= INT64_MAX / 10; p *= 10) { /* every digit-count boundary */
        int64_t around[] = {p - 1, p, p + 1, -p, -(p - 1)};
        for (size_t k = 0; k < 5; k++) {
            kx_i64_to_chars(around[k], a);
            snprintf(b, sizeof b, "%lld", (long long)around[k]);
            CHECK_EQ_STR(a, b);
        }
    }
}

/* Capacity growth (util/mem.h): doubling from the first capacity, never below need. */
TEST(mem_grown_cap_and_grow)
{
    CHECK_EQ_INT(kx_grown_cap(0, 1, 8), 8);
    CHECK_EQ_INT(kx_grown_cap(0, 9, 8), 16);
    CHECK_EQ_INT(kx_grown_cap(256, 257, 8), 512);
    CHECK_EQ_INT(kx_grown_cap(0, 1000, 256), 1024);
    CHECK_EQ_INT(kx_grown_cap(16, 10, 8), 16);
    size_t cap = 0;
    int *v = kx_grow(NULL, &cap, 20, sizeof *v);
    CHECK_EQ_INT(cap, 32);
    for (int i = 0; i < 32; i++) v[i] = i; /* all 32 usable (ASan checks) */
    v = kx_grow(v, &cap, 32, sizeof *v);
    CHECK_EQ_INT(cap, 32);
    CHECK_EQ_INT(v[31], 31);
    free(v);
}
