#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/mem.h"

void kx_buf_reserve(kx_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return;
    size_t c = b->cap ? b->cap : 256;
    while (c < need) c *= 2;
    b->data = kx_realloc(b->data, c);
    b->cap = c;
}

void kx_buf_put(kx_buf *b, const void *p, size_t n)
{
    kx_buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void kx_buf_puts(kx_buf *b, const char *s) { kx_buf_put(b, s, strlen(s)); }

void kx_buf_printf(kx_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    kx_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* "00" … "99": two digits per division (integers are the bulk of every CSV: 13-digit
 * epoch-millisecond timestamps). */
static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

/* v < 10^8 as exactly 8 digits: four independent pairs instead of a chain of divisions. */
static inline void put_8_digits(char *p, uint32_t v)
{
    uint32_t hi = v / 10000, lo = v % 10000;
    memcpy(p, digit_pairs + 2 * (hi / 100), 2);
    memcpy(p + 2, digit_pairs + 2 * (hi % 100), 2);
    memcpy(p + 4, digit_pairs + 2 * (lo / 100), 2);
    memcpy(p + 6, digit_pairs + 2 * (lo % 100), 2);
}

size_t kx_i64_to_chars(int64_t v, char out[24])
{
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    static const uint64_t pow10[19] = {10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
                                       10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL,
                                       100000000000ULL, 1000000000000ULL, 10000000000000ULL,
                                       100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
                                       100000000000000000ULL, 1000000000000000000ULL,
                                       10000000000000000000ULL};
    size_t len = 1; /* comparisons, not divisions */
    while (len < 20 && u >= pow10[len - 1]) len++;
    size_t n = len + (v < 0);
    char *p = out + n;
    *p = '\0';
    while (u >= 100000000) { /* 13-digit timestamps: one block of 8, then 5 digits */
        p -= 8;
        put_8_digits(p, (uint32_t)(u % 100000000));
        u /= 100000000;
    }
    while (u >= 100) {
        unsigned r = (unsigned)(u % 100);
        u /= 100;
        p -= 2;
        memcpy(p, digit_pairs + 2 * r, 2);
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, digit_pairs + 2 * u, 2);
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0) out[0] = '-';
    return n;
}

void kx_buf_put_i64(kx_buf *b, int64_t v)
{
    kx_buf_reserve(b, 24); /* in place (kx_i64_to_chars writes its NUL too) */
    b->len += kx_i64_to_chars(v, b->data + b->len);
}

void kx_buf_reset(kx_buf *b)
{
    b->len = 0;
    if (b->cap) b->data[0] = '\0';
}

void kx_buf_free(kx_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *kx_buf_steal(kx_buf *b)
{
    if (!b->data) return kx_strdup("");
    char *s = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}
