/* fmt.c — shortest round-trip double formatting (Python repr, spec 04 §2).
 *
 * Digits come from the Schubfach algorithm (R. Giulietti, "The Schubfach way to render
 * doubles", 2020), written from the paper's description; docs/float-format.md has the
 * derivation and the correctness argument. In short, for v = c * 2^q:
 *
 *   - R = the rounding interval of v: every real in R reads back as v (round half to even),
 *     so its ends are included iff c is even. Usually R = [c - 1/2, c + 1/2] * 2^q; when c is
 *     2^52 the lower neighbour is twice as close: R = [c - 1/4, c + 1/2] * 2^q.
 *   - k is chosen so that the width of R is in [1, 10) * 10^k. Then R holds at most one
 *     multiple of 10^(k+1) (if so it is the unique shortest candidate) and always holds the
 *     nearest multiple of 10^k to v (then that one is the closest of the shortest).
 *   - v and the ends of R, times 4 * 10^-k, are computed as 64-bit integers "rounded to odd"
 *     (floor, with the lowest bit forced to 1 when the exact value is not an integer) from a
 *     126-bit approximation of 10^-k (fmt_table.c). That keeps every comparison with an
 *     integer exact, so the in/out decisions and the tie (round half to even) are exact.
 *
 * Uses unsigned __int128 (GCC and Clang on 64-bit targets) for the 64x128-bit products.
 *
 * Integral doubles below 1e16 (timestamps, latencies: the bulk of keystroke data) take a
 * fast path: their repr is the integer followed by ".0".
 */
#include "io/fmt.h"

#include <math.h>
#include <string.h>

#include "io/fmt_table.h"
#include "util/buf.h"

typedef unsigned __int128 u128;

size_t kx_fmt_i64(int64_t v, char out[24]) { return kx_i64_to_chars(v, out); }

/* ---- Schubfach digit generation ---------------------------------------------------------- */

#define C_MIN ((uint64_t)1 << 52) /* smallest significand of a normal double */
#define Q_MIN (-1074)             /* exponent of subnormals and of the smallest normals */
#define MASK63 (((uint64_t)1 << 63) - 1)

/* floor(q * log10(2)), floor(log10(3/4 * 2^q)) and floor(e * log2(10)) by fixed-point
 * multiplication; scripts/gen_pow10_table.py checks all three exhaustively over the
 * exponents used here (q in [-1074, 971], e in [-292, 324]). ">>" of a negative int is
 * an arithmetic shift (floor) on GCC and Clang, which is what these rely on. */
static int flog10_pow2(int q) { return (q * 78913) >> 18; }
static int flog10_three_quarters_pow2(int q) { return (q * 315653 - 131072) >> 20; }
static int flog2_pow10(int e) { return (e * 1741647) >> 19; }

/* x * g / 2^127 rounded to odd: the floor, with bit 0 set when any of the 63 bits below the
 * binary point is set. The 63-bit cut absorbs the (positive, < 2^-66) error of g's upward
 * rounding, so exact integers stay exact; see docs/float-format.md. */
static uint64_t round_to_odd(const uint64_t g[2], uint64_t x)
{
    u128 lo = (u128)g[1] * x;
    u128 t = (u128)g[0] * x + (lo >> 64); /* floor(g * x / 2^64), < 2^126 */
    uint64_t ip = (uint64_t)(t >> 63);
    uint64_t frac = (uint64_t)t & MASK63;
    return ip | (frac != 0);
}

/* Shortest, closest decimal f * 10^e in the rounding interval of c * 2^q (c > 0). */
static uint64_t schubfach(uint64_t c, int q, int *e)
{
    /* Work in quarter units so that the interval ends (c +- 1/2, c - 1/4) are integers. */
    uint64_t out = c & 1; /* odd c: interval ends excluded */
    uint64_t cb = c << 2, cbr = cb + 2, cbl;
    int k;
    if (c != C_MIN || q == Q_MIN) {
        cbl = cb - 2;
        k = flog10_pow2(q);
    } else {
        cbl = cb - 1;
        k = flog10_three_quarters_pow2(q);
    }
    /* x * 2^h * g / 2^127 = x * 2^q * 10^-k; h is in [2, 5] (checked by the generator). */
    int h = q + flog2_pow10(-k) + 2;
    const uint64_t *g = kx_pow10_g[k - KX_POW10_K_MIN];
    uint64_t vb = round_to_odd(g, cb << h);   /* 4 v / 10^k */
    uint64_t vbl = round_to_odd(g, cbl << h); /* 4 (lower end) / 10^k */
    uint64_t vbr = round_to_odd(g, cbr << h); /* 4 (upper end) / 10^k */
    uint64_t s = vb >> 2;                     /* floor(v / 10^k) */

    /* One digit shorter: the multiples of 10 around s; R holds at most one of them. */
    uint64_t sp10 = s / 10 * 10, tp10 = sp10 + 10;
    int upin = vbl + out <= sp10 << 2;
    int wpin = (tp10 << 2) + out <= vbr;
    if (upin != wpin) {
        *e = k;
        return upin ? sp10 : tp10;
    }
    /* Same length: s or s + 1, whichever is in R; if both, the closer (ties to even). */
    uint64_t t = s + 1;
    int uin = vbl + out <= s << 2;
    int win = (t << 2) + out <= vbr;
    *e = k;
    if (uin != win) return uin ? s : t;
    uint64_t mid = (s + t) << 1; /* 4 (s + 1/2) */
    if (vb < mid || (vb == mid && (s & 1) == 0)) return s;
    return t;
}

static const char DIGIT_PAIRS[201] = "00010203040506070809101112131415161718192021222324"
                                     "25262728293031323334353637383940414243444546474849"
                                     "50515253545556575859606162636465666768697071727374"
                                     "75767778798081828384858687888990919293949596979899";

/* Writes the decimal digits of f (f > 0, no trailing zeros wanted by caller) right-aligned
 * ending at end; returns the number of digits. */
static int write_digits(uint64_t f, char *end)
{
    char *p = end;
    while (f >= 100) {
        unsigned r = (unsigned)(f % 100);
        f /= 100;
        p -= 2;
        memcpy(p, DIGIT_PAIRS + 2 * r, 2);
    }
    if (f >= 10) {
        p -= 2;
        memcpy(p, DIGIT_PAIRS + 2 * f, 2);
    } else {
        *--p = (char)('0' + f);
    }
    return (int)(end - p);
}

int kx_shortest_digits(double v, char digits[20], int *exp10)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint64_t frac = bits & (C_MIN - 1);
    int be = (int)((bits >> 52) & 0x7ff);
    uint64_t c = be ? frac | C_MIN : frac;
    int q = be ? be - 1075 : Q_MIN;
    int e;
    uint64_t f = schubfach(c, q, &e);
    while (f % 10 == 0) { /* at most 16 iterations; usually none */
        f /= 10;
        e++;
    }
    char tmp[20];
    int n = write_digits(f, tmp + sizeof tmp);
    memcpy(digits, tmp + sizeof tmp - n, (size_t)n);
    digits[n] = '\0';
    *exp10 = e + n - 1;
    return n;
}

/* ---- layout (spec 04 §2 rules 3-5) -------------------------------------------------------- */

size_t kx_fmt_double(double v, char out[KX_FMT_DOUBLE_MAX])
{
    if (isnan(v)) {
        memcpy(out, "nan", 4);
        return 3;
    }
    if (isinf(v)) {
        memcpy(out, v < 0 ? "-inf" : "inf", v < 0 ? 5 : 4);
        return v < 0 ? 4 : 3;
    }
    size_t n = 0;
    if (signbit(v)) out[n++] = '-';
    double a = fabs(v);
    if (a == 0) {
        memcpy(out + n, "0.0", 4);
        return n + 3;
    }
    if (a < 1e16 && a == (double)(int64_t)a) {
        n += kx_fmt_i64((int64_t)a, out + n);
        memcpy(out + n, ".0", 3);
        return n + 2;
    }
    char d[20];
    int e;
    int k = kx_shortest_digits(a, d, &e);
    if (e >= 0 && e < 16) {
        /* integer part: e + 1 digits, zero-padded; then the rest or "0" */
        for (int i = 0; i <= e; i++) out[n++] = i < k ? d[i] : '0';
        out[n++] = '.';
        if (k > e + 1) {
            memcpy(out + n, d + e + 1, (size_t)(k - e - 1));
            n += (size_t)(k - e - 1);
        } else {
            out[n++] = '0';
        }
    } else if (e < 0 && e >= -4) {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = 0; i < -e - 1; i++) out[n++] = '0';
        memcpy(out + n, d, (size_t)k);
        n += (size_t)k;
    } else {
        out[n++] = d[0];
        if (k > 1) {
            out[n++] = '.';
            memcpy(out + n, d + 1, (size_t)(k - 1));
            n += (size_t)(k - 1);
        }
        out[n++] = 'e';
        out[n++] = e < 0 ? '-' : '+';
        unsigned ae = (unsigned)(e < 0 ? -e : e);
        if (ae >= 100) {
            out[n++] = (char)('0' + ae / 100);
            ae %= 100;
        }
        memcpy(out + n, DIGIT_PAIRS + 2 * ae, 2);
        n += 2;
    }
    out[n] = '\0';
    return n;
}
