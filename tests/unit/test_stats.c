/* test_stats.c — statistics of spec 03 §5 on hand-computed vectors. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/stats.h"
#include "test.h"
#include "util/mem.h"

TEST(stats_worked_example_shift)
{
    /* 03 §5: key1 = Key.shift, HL in table order. */
    double x[] = {247, 264, 292, 208, 232, 296}, st[KX_ST_COUNT];
    kx_stats5(x, 6, st);
    CHECK_EQ_DBL(st[KX_ST_MEDIAN], 255.5);
    CHECK_EQ_DBL(st[KX_ST_MEAN], 256.5);
    CHECK_NEAR(st[KX_ST_STD], 34.407847942003, 1e-12);
    CHECK_EQ_DBL(st[KX_ST_Q1], 235.75);
    CHECK_EQ_DBL(st[KX_ST_Q3], 285.0);
}

TEST(stats_worked_example_two_and_one)
{
    double z[] = {71, 120}, st[KX_ST_COUNT];
    kx_stats5(z, 2, st);
    CHECK_EQ_DBL(st[KX_ST_MEDIAN], 95.5);
    CHECK_EQ_DBL(st[KX_ST_MEAN], 95.5);
    CHECK_EQ_DBL(st[KX_ST_STD], 34.64823227814083);
    CHECK_EQ_DBL(st[KX_ST_Q1], 83.25);
    CHECK_EQ_DBL(st[KX_ST_Q3], 107.75);
    double one[] = {71};
    kx_stats5(one, 1, st);
    for (int s = 0; s < KX_ST_COUNT; s++) CHECK_EQ_DBL(st[s], s == KX_ST_STD ? 0.0 : 71.0);
}

TEST(stats_odd_n_ties_and_empty)
{
    /* n = 5 with ties: sorted 1 2 2 2 9; h(q1) = 1 -> 2; h(q3) = 3 -> 2; median 2. */
    double x[] = {2, 9, 2, 1, 2}, st[KX_ST_COUNT];
    kx_stats5(x, 5, st);
    CHECK_EQ_DBL(st[KX_ST_MEDIAN], 2.0);
    CHECK_EQ_DBL(st[KX_ST_MEAN], 3.2);
    /* deviations -1.2 5.8 -1.2 -2.2 -1.2: squares 1.44+33.64+1.44+4.84+1.44 = 42.8; /4 = 10.7 */
    CHECK_NEAR(st[KX_ST_STD], sqrt(10.7), 1e-15);
    CHECK_EQ_DBL(st[KX_ST_Q1], 2.0);
    CHECK_EQ_DBL(st[KX_ST_Q3], 2.0);
    /* n = 4: sorted 1 3 5 10; q1 h = .75 -> 1 + .75*2 = 2.5; q3 h = 2.25 -> 5 + .25*5 = 6.25 */
    double y[] = {10, 1, 5, 3};
    kx_stats5(y, 4, st);
    CHECK_EQ_DBL(st[KX_ST_MEDIAN], 4.0);
    CHECK_EQ_DBL(st[KX_ST_Q1], 2.5);
    CHECK_EQ_DBL(st[KX_ST_Q3], 6.25);
    /* negative values (IL) */
    double z[] = {-8, 9};
    kx_stats5(z, 2, st);
    CHECK_EQ_DBL(st[KX_ST_MEDIAN], 0.5);
    CHECK_EQ_DBL(st[KX_ST_Q1], -3.75);
    kx_stats5(NULL, 0, st);
    for (int s = 0; s < KX_ST_COUNT; s++) CHECK(isnan(st[s]));
}

TEST(stats_compensated_sum_adversarial)
{
    /* 1e6 values alternating 1e13, 1, -1e13, 1, ... plus 0.1-scale noise: the naive sum
     * loses every small term; the exact sum is known by construction. */
    size_t n = 1000000;
    double *x = kx_malloc(n * sizeof *x);
    long double exact = 0;
    for (size_t i = 0; i < n; i++) {
        switch (i % 4) {
        case 0: x[i] = 1e13; break;
        case 2: x[i] = -1e13; break;
        default: x[i] = 1.0 + (double)(i % 7) * 0.125; break; /* exact binary fractions */
        }
        exact += (long double)x[i];
    }
    /* exact: the +-1e13 cancel; the small terms are exact in long double too. */
    double s = kx_sum(x, n);
    CHECK_NEAR(s, (double)exact, 1e-15);
    /* Now with a big term that does not cancel: 1e16 + many 1.0 (each lost in naive sum). */
    x[0] = 1e16;
    for (size_t i = 1; i < n; i++) x[i] = 1.0;
    s = kx_sum(x, n);
    CHECK_EQ_DBL(s, 1e16 + (double)(n - 1));
    double naive = 0;
    for (size_t i = 0; i < n; i++) naive += x[i];
    CHECK(naive != s); /* the adversarial case is real */
    /* Mean and std of a large shifted sample: 1e9 + {0,1}: mean 1e9+0.5, std ~0.5 */
    for (size_t i = 0; i < n; i++) x[i] = 1e9 + (double)(i % 2);
    double m = kx_mean(x, n);
    CHECK_EQ_DBL(m, 1e9 + 0.5);
    CHECK_NEAR(kx_std_sample(x, n, m), sqrt(0.25 * (double)n / (double)(n - 1)), 1e-12);
    free(x);
}

static int cmp_dbl_ref(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

TEST(stats_sort_doubles_matches_qsort)
{
    /* The inline introsort must give exactly the array of the comparator sort: sizes around
     * the insertion-sort cutoff and large ones, few distinct values (many ties), sorted,
     * reversed, organ-pipe and random inputs. Compared bit for bit. */
    static const size_t sizes[] = {0, 1, 2, 3, 15, 16, 17, 31, 100, 1000, 20000};
    uint64_t seed = 42;
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        size_t n = sizes[si];
        for (int shape = 0; shape < 5; shape++) {
            double *a = kx_malloc((n + 1) * sizeof *a), *b = kx_malloc((n + 1) * sizeof *b);
            for (size_t i = 0; i < n; i++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                int64_t r = (int64_t)(seed >> 33);
                switch (shape) {
                case 0: a[i] = (double)(r % 2001 - 1000); break;        /* random ms, ties */
                case 1: a[i] = (double)(r % 3); break;                  /* three values */
                case 2: a[i] = (double)i * 0.5; break;                  /* sorted */
                case 3: a[i] = -(double)i; break;                       /* reversed */
                default: a[i] = (double)(i < n / 2 ? i : n - i); break; /* organ pipe */
                }
                b[i] = a[i];
            }
            kx_sort_doubles(a, n);
            if (n > 1) qsort(b, n, sizeof *b, cmp_dbl_ref);
            CHECK(n == 0 || memcmp(a, b, n * sizeof *a) == 0);
            free(a);
            free(b);
        }
    }
}

TEST(stats_sort_doubles_negative_zero_stable)
{
    /* -0.0 == +0.0: the stable order of the comparator sort is kept (input order), so a
     * median shows the same sign of zero as before. */
    double x[20];
    for (int i = 0; i < 20; i++) x[i] = (double)(i % 5) - 2.0; /* -2..2, four each */
    x[7] = -0.0;                                                 /* was 0.0 (7 % 5 = 2) */
    kx_sort_doubles(x, 20);
    for (int i = 1; i < 20; i++) CHECK(x[i - 1] <= x[i]);
    /* zeros are at 8..11 in input order: indices 2 (+0), 7 (-0), 12 (+0), 17 (+0) */
    CHECK(!signbit(x[8]));
    CHECK(signbit(x[9]));
    CHECK(!signbit(x[10]) && !signbit(x[11]));
}

TEST(stats_merge_doubles_equals_sort_of_concatenation)
{
    /* Merging two sorted halves gives the sorted whole; ties keep a's element first, so a
     * -0.0 in a precedes an equal +0.0 in b (the stable sort of a ++ b). */
    double a[] = {-0.0, 1.0, 3.0, 3.0, 7.5}, b[] = {0.0, 2.0, 3.0, 9.0}, out[9];
    kx_merge_doubles(a, 5, b, 4, out);
    const double want[] = {0.0, 0.0, 1.0, 2.0, 3.0, 3.0, 3.0, 7.5, 9.0};
    for (int i = 0; i < 9; i++) CHECK_EQ_DBL(out[i], want[i]);
    CHECK(signbit(out[0]));
    CHECK(!signbit(out[1]));
    kx_merge_doubles(b, 4, a, 0, out);
    for (int i = 0; i < 4; i++) CHECK_EQ_DBL(out[i], b[i]);
    kx_merge_doubles(NULL, 0, NULL, 0, out);
}

TEST(stats_stats5_sorted_matches_stats5)
{
    /* 03 §5 worked example (Key.shift HL), sorted beforehand. */
    double x[] = {208, 232, 247, 264, 292, 296}, y[] = {296, 208, 264, 247, 292, 232}, s1[KX_ST_COUNT],
           s2[KX_ST_COUNT];
    kx_stats5_sorted(x, 6, s1);
    kx_stats5(y, 6, s2);
    for (int k = 0; k < KX_ST_COUNT; k++) CHECK_EQ_DBL(s1[k], s2[k]);
    CHECK_EQ_DBL(s1[KX_ST_MEDIAN], 255.5);
    CHECK_EQ_DBL(s1[KX_ST_Q3], 285.0);
}
