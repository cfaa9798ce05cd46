/* fmt_bench.c — ns per value of kx_fmt_double (Schubfach, src/io/fmt.c) against the old
 * printf/strtod search (tests/unit/test_fmt_ref.c). Built and run by bench/fmt_bench.sh.
 *
 *   fmt_bench [N]   N values in total (default 10M): half integral timestamps (fast path),
 *                   half non-integral feature values (a third each: 1-6 decimal values in
 *                   [-5000, 5000], full-precision ratios, random bit patterns). The
 *                   reference is timed on a 100k subset of each kind (it costs microseconds).
 * Prints a Markdown table.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/fmt.h"
#include "test_fmt_ref.h"

static uint64_t rng = 0x243F6A8885A308D3ULL;

static uint64_t next_u64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double make_feature(size_t i)
{
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    switch (i % 3) {
    case 0: {
        int dec = 1 + (int)(next_u64() % 6);
        int64_t span = (int64_t)(5000 * p10[dec]);
        int64_t n = (int64_t)(next_u64() % (uint64_t)(2 * span + 1)) - span;
        double v = (double)n / p10[dec];
        return v == floor(v) ? v + 0.5 : v;
    }
    case 1: return (double)(1 + next_u64() % 1000000) / (double)(3 + next_u64() % 997) + 1e-9;
    default:
        for (;;) {
            uint64_t b = next_u64();
            double v;
            memcpy(&v, &b, sizeof v);
            if (isfinite(v) && v != floor(v)) return v;
        }
    }
}

typedef size_t (*fmt_fn)(double, char *);

static size_t ref_fmt(double v, char *out) { return kx_ref_fmt_double(v, out); }
static size_t new_fmt(double v, char *out) { return kx_fmt_double(v, out); }

/* ns per value of f over vals[0..n); the sum of lengths keeps the calls alive. */
static double time_fmt(fmt_fn f, const double *vals, size_t n, size_t *sink)
{
    char buf[32];
    double t0 = now_ns();
    for (size_t i = 0; i < n; i++) *sink += f(vals[i], buf);
    return (now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    size_t total = argc > 1 ? (size_t)atol(argv[1]) : 10000000;
    size_t half = total / 2, ref_n = half < 100000 ? half : 100000;
    double *ints = malloc(half * sizeof *ints), *feats = malloc(half * sizeof *feats);
    if (!ints || !feats) {
        fprintf(stderr, "fmt_bench: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < half; i++) {
        ints[i] = 1735660013225.0 + (double)(next_u64() % 100000000);
        feats[i] = make_feature(i);
    }
    size_t sink = 0;
    double new_int = time_fmt(new_fmt, ints, half, &sink);
    double new_feat = time_fmt(new_fmt, feats, half, &sink);
    double ref_int = time_fmt(ref_fmt, ints, ref_n, &sink);
    double ref_feat = time_fmt(ref_fmt, feats, ref_n, &sink);
    /* per kind of feature value (every third element), new implementation only */
    double kind[3];
    for (int k = 0; k < 3; k++) {
        size_t m = half / 3;
        double *sub = malloc(m * sizeof *sub);
        if (!sub) return 1;
        for (size_t i = 0; i < m; i++) sub[i] = feats[3 * i + (size_t)k];
        kind[k] = time_fmt(new_fmt, sub, m, &sink);
        free(sub);
    }
    printf("| values | count (new / reference) | reference ns/value | new ns/value | speed-up |\n");
    printf("|---|---|---|---|---|\n");
    printf("| integral timestamps (fast path) | %zu / %zu | %.1f | %.1f | %.1fx |\n", half, ref_n,
           ref_int, new_int, ref_int / new_int);
    printf("| non-integral feature values | %zu / %zu | %.1f | %.1f | %.1fx |\n", half, ref_n,
           ref_feat, new_feat, ref_feat / new_feat);
    printf("\nNew implementation by kind of non-integral value (ns/value): 1-6 decimals %.1f, "
           "full-precision ratios %.1f, random bit patterns %.1f.\n", kind[0], kind[1], kind[2]);
    printf("(checksum %zu)\n", sink);
    free(ints);
    free(feats);
    return 0;
}
