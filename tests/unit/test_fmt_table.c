/* The generated 126-bit power-of-ten table (src/io/fmt_table.c), recomputed independently of
 * scripts/gen_pow10_table.py with a tiny C big integer: for every k,
 *     (g - 1) * D <= N < g * D   where 10^-k * 2^-r = N / D,  r = floor(log2(10^-k)) - 125,
 * i.e. g = floor(10^-k * 2^-r) + 1, and 2^125 < g < 2^126. */
#include <stdint.h>

#include "io/fmt_table.h"
#include "test.h"

#define BIG_LIMBS 48 /* 1536 bits: 10^324 * 2^0 and 2^1100 both fit */

typedef struct {
    uint32_t w[BIG_LIMBS]; /* little-endian 32-bit limbs */
} big;

static void big_set_u128(big *a, uint64_t hi, uint64_t lo)
{
    memset(a, 0, sizeof *a);
    a->w[0] = (uint32_t)lo;
    a->w[1] = (uint32_t)(lo >> 32);
    a->w[2] = (uint32_t)hi;
    a->w[3] = (uint32_t)(hi >> 32);
}

/* Returns 0, or -1 on overflow. */
static int big_mul_small(big *a, uint32_t m)
{
    uint64_t carry = 0;
    for (int i = 0; i < BIG_LIMBS; i++) {
        uint64_t p = (uint64_t)a->w[i] * m + carry;
        a->w[i] = (uint32_t)p;
        carry = p >> 32;
    }
    return carry ? -1 : 0;
}

static int big_shl(big *a, int bits)
{
    for (int i = 0; i < bits; i++)
        if (big_mul_small(a, 2)) return -1;
    return 0;
}

static int big_cmp(const big *a, const big *b)
{
    for (int i = BIG_LIMBS - 1; i >= 0; i--)
        if (a->w[i] != b->w[i]) return a->w[i] < b->w[i] ? -1 : 1;
    return 0;
}

static int big_bitlen(const big *a)
{
    for (int i = BIG_LIMBS - 1; i >= 0; i--)
        for (int b = 31; b >= 0; b--)
            if (a->w[i] >> b & 1) return 32 * i + b + 1;
    return 0;
}

/* floor(log2(10^e)) from the bit length of 10^|e| (10^n is a power of two only for n = 0). */
static int floor_log2_pow10(int e)
{
    big p;
    big_set_u128(&p, 0, 1);
    for (int i = 0; i < (e < 0 ? -e : e); i++) big_mul_small(&p, 10);
    int bl = big_bitlen(&p);
    return e >= 0 ? bl - 1 : -bl;
}

TEST(fmt_table_matches_exact_powers_of_ten)
{
    for (int k = KX_POW10_K_MIN; k <= KX_POW10_K_MAX; k++) {
        const uint64_t *g = kx_pow10_g[k - KX_POW10_K_MIN];
        CHECK(g[0] >> 61 == 1); /* 2^125 <= g < 2^126 */
        int r = floor_log2_pow10(-k) - 125;
        big n, lo, hi; /* N, (g - 1) * D, g * D */
        big_set_u128(&n, 0, 1);
        for (int i = 0; i < (k < 0 ? -k : 0); i++) CHECK(big_mul_small(&n, 10) == 0);
        if (r < 0) CHECK(big_shl(&n, -r) == 0);
        /* lo = (g - 1) * D, hi = g * D (g's low word is never 0 here: checked) */
        CHECK(g[1] != 0);
        big_set_u128(&lo, g[0], g[1] - 1);
        big_set_u128(&hi, g[0], g[1]);
        /* multiply lo and hi by D: D = 10^max(k,0) * 2^max(r,0) */
        for (int i = 0; i < (k > 0 ? k : 0); i++) {
            CHECK(big_mul_small(&lo, 10) == 0);
            CHECK(big_mul_small(&hi, 10) == 0);
        }
        if (r > 0) {
            CHECK(big_shl(&lo, r) == 0);
            CHECK(big_shl(&hi, r) == 0);
        }
        if (!(big_cmp(&lo, &n) <= 0 && big_cmp(&n, &hi) < 0)) {
            kx_test_fail(__FILE__, __LINE__, "table entry for k=%d is not floor(10^-k 2^-r)+1", k);
            return;
        }
    }
}
