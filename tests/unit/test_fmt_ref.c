/* test_fmt_ref.c — reference implementation for the formatter tests (not a test file itself).
 *
 * This is the original src/io/fmt.c algorithm, kept verbatim apart from names: for each digit
 * count k it takes the correctly rounded k-digit decimal of v from printf("%.*e") (glibc
 * rounds exactly) and checks whether strtod reads it back as v; at powers of two the
 * neighbour one unit away is tried too, because there the rounding interval is asymmetric.
 * The first hit is the shortest, closest decimal. One fix against the original: when the
 * rounded candidate ended in zeros its neighbours were not tried (see below). It costs ~1-3 us per value, hence the
 * Schubfach implementation in src/io/fmt.c; the tests compare the two on millions of values.
 */
#include "test_fmt_ref.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse "d.ddde[+-]xx" from printf into digit string + exponent. */
static int split_sci(const char *s, char digits[20], int *exp10)
{
    int k = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') digits[k++] = *s;
    *exp10 = (*s == 'e') ? atoi(s + 1) : 0;
    while (k > 1 && digits[k - 1] == '0') k--;
    digits[k] = '\0';
    return k;
}

static double digits_value(const char *digits, int k, int exp10)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%c.%se%d", digits[0], k > 1 ? digits + 1 : "", exp10);
    return strtod(buf, NULL);
}

/* Add delta (+1 / -1) to the last of k digits; renormalises on carry/borrow. */
static int bump(char digits[20], int k, int *exp10, int delta)
{
    char d[24];
    memcpy(d, digits, (size_t)k);
    int i = k - 1;
    if (delta > 0) {
        while (i >= 0 && d[i] == '9') d[i--] = '0';
        if (i < 0) { /* 99..9 + 1 = 100..0 */
            memmove(d + 1, d, (size_t)k);
            d[0] = '1';
            (*exp10)++;
        } else {
            d[i]++;
        }
    } else {
        while (i >= 0 && d[i] == '0') d[i--] = '9';
        if (i < 0) return -1;
        d[i]--;
        if (d[0] == '0') { /* 100..0 - 1 = 099..9 */
            memmove(d, d + 1, (size_t)k - 1);
            d[k - 1] = '9';
            (*exp10)--;
        }
    }
    while (k > 1 && d[k - 1] == '0') k--;
    memcpy(digits, d, (size_t)k);
    digits[k] = '\0';
    return k;
}

int kx_ref_shortest_digits(double v, char digits[20], int *exp10)
{
    double a = fabs(v);
    char buf[64];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec, a);
        char d[20];
        int e;
        int k = split_sci(buf, d, &e);
        if (digits_value(d, k, e) == a) {
            memcpy(digits, d, (size_t)k + 1);
            *exp10 = e;
            return k;
        }
        /* The neighbours are +-1 in the last of the prec + 1 digits, so restore the trailing
         * zeros split_sci stripped. (The original skipped this case, and so missed e.g.
         * 2^-791 = 7.678447687145631e-239, whose rounded 16 digits end in 0.) */
        while (k < prec + 1) d[k++] = '0';
        d[k] = '\0';
        for (int delta = -1; delta <= 1; delta += 2) {
            char n[20];
            memcpy(n, d, (size_t)k + 1);
            int ne = e;
            int nk = bump(n, k, &ne, delta);
            if (nk > 0 && nk <= prec + 1 && digits_value(n, nk, ne) == a) {
                memcpy(digits, n, (size_t)nk + 1);
                *exp10 = ne;
                return nk;
            }
        }
    }
    snprintf(buf, sizeof buf, "%.16e", a);
    return split_sci(buf, digits, exp10);
}

size_t kx_ref_fmt_double(double v, char out[32])
{
    if (isnan(v)) return (size_t)snprintf(out, 32, "nan");
    if (isinf(v)) return (size_t)snprintf(out, 32, v < 0 ? "-inf" : "inf");
    size_t n = 0;
    if (signbit(v)) out[n++] = '-';
    double a = fabs(v);
    if (a == 0) {
        memcpy(out + n, "0.0", 4);
        return n + 3;
    }
    if (a < 1e16 && a == floor(a)) {
        return n + (size_t)snprintf(out + n, 32 - n, "%.0f.0", a);
    }
    char d[20];
    int e;
    int k = kx_ref_shortest_digits(a, d, &e);
    if (e >= 0 && e < 16) {
        for (int i = 0; i <= e; i++) out[n++] = i < k ? d[i] : '0';
        out[n++] = '.';
        if (k > e + 1) {
            for (int i = e + 1; i < k; i++) out[n++] = d[i];
        } else {
            out[n++] = '0';
        }
    } else if (e < 0 && e >= -4) {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = 0; i < -e - 1; i++) out[n++] = '0';
        for (int i = 0; i < k; i++) out[n++] = d[i];
    } else {
        out[n++] = d[0];
        if (k > 1) {
            out[n++] = '.';
            for (int i = 1; i < k; i++) out[n++] = d[i];
        }
        n += (size_t)snprintf(out + n, 32 - n, "e%c%02d", e < 0 ? '-' : '+',
                              e < 0 ? -e : e);
    }
    out[n] = '\0';
    return n;
}
