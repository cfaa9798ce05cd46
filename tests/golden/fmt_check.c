/* fmt_check.c — helper for tests/golden/fmt_python_repr.sh (built by that script against
 * build/libkeyetl.a and tests/unit/test_fmt_ref.c).
 *
 *   fmt_check dump N      prints N lines "<C99 hex float> <kx_fmt_double text>": every power
 *                         of two, interval-edge cases, then a mix of random bit patterns,
 *                         typical feature values (n / 10^d) and timestamps
 *   fmt_check cross N     compares kx_fmt_double with the slow reference on N random bit
 *                         patterns and N typical values; prints mismatches, exits 1 if any
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fmt.h"
#include "test_fmt_ref.h"

static uint64_t rng = 0x853C49E6748FEA9BULL;

static uint64_t next_u64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double random_bits(void)
{
    for (;;) {
        uint64_t b = next_u64();
        double v;
        memcpy(&v, &b, sizeof v);
        if (isfinite(v)) return v;
    }
}

static double random_typical(void)
{
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    int dec = 1 + (int)(next_u64() % 6);
    int64_t span = (int64_t)(5000 * p10[dec]);
    int64_t n = (int64_t)(next_u64() % (uint64_t)(2 * span + 1)) - span;
    return (double)n / p10[dec];
}

static double random_mixed(long i)
{
    switch (i % 4) {
    case 0: return random_bits();
    case 1: return random_typical();
    case 2: return (double)(next_u64() % 1000000) / (double)(1 + next_u64() % 999); /* ratios */
    default: return 1.7e12 + (double)(next_u64() % 100000000); /* timestamps */
    }
}

static void dump_one(double v)
{
    char s[KX_FMT_DOUBLE_MAX];
    kx_fmt_double(v, s);
    printf("%a %s\n", v, s);
}

static int dump(long n)
{
    for (int e = -1074; e < 1024; e++) {
        dump_one(ldexp(1, e));
        dump_one(nextafter(ldexp(1, e), 0));
        dump_one(nextafter(ldexp(1, e), INFINITY));
    }
    /* interval-edge cases: midpoints t * 2^(q-1) that are multiples of 10^j (see test_fmt.c) */
    for (int q = 1; q <= 80; q++) {
        int j = q - 1 < 20 ? q - 1 : 20;
        uint64_t p5 = 1;
        for (int i = 0; i < j; i++) p5 *= 5;
        uint64_t lo = ((uint64_t)1 << 53) / p5 + 1, hi = ((uint64_t)1 << 54) / p5;
        for (uint64_t u = lo; u < hi && u < lo + 20; u++)
            if (p5 * u & 1) {
                dump_one(ldexp((double)((p5 * u - 1) / 2), q));
                dump_one(ldexp((double)((p5 * u + 1) / 2), q));
            }
    }
    for (long i = 0; i < n; i++) dump_one(random_mixed(i));
    return ferror(stdout) ? 1 : 0;
}

static int cross(long n)
{
    long bad = 0;
    char a[KX_FMT_DOUBLE_MAX], b[32];
    for (long i = 0; i < 2 * n; i++) {
        double v = i < n ? random_bits() : random_typical();
        kx_fmt_double(v, a);
        kx_ref_fmt_double(v, b);
        if (strcmp(a, b) != 0 || strtod(a, NULL) != v) {
            if (bad++ < 10) printf("mismatch %a: new %s reference %s\n", v, a, b);
        }
    }
    printf("%ld values, %ld mismatches\n", 2 * n, bad);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fmt_check dump|cross N\n");
        return 2;
    }
    long n = atol(argv[2]);
    if (!strcmp(argv[1], "dump")) return dump(n);
    if (!strcmp(argv[1], "cross")) return cross(n);
    fprintf(stderr, "fmt_check: unknown mode %s\n", argv[1]);
    return 2;
}
