#include "io/text.h"

#include <math.h>
#include <string.h>

#include "io/fmt.h"

size_t kx_utf8_seq_len(const uint8_t *s, size_t n)
{
    if (n == 0) return 0;
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    uint8_t lo = 0x80, hi = 0xBF;
    size_t len;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* <= U+10FFFF */
    } else {
        return 0;
    }
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

bool kx_utf8_valid(const void *p, size_t n)
{
    const uint8_t *s = p;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = kx_utf8_seq_len(s + i, n - i);
        if (!l) return false;
        i += l;
    }
    return true;
}

uint32_t kx_utf8_decode(const uint8_t *s, size_t n, size_t *len)
{
    size_t l = kx_utf8_seq_len(s, n);
    *len = l;
    switch (l) {
    case 1: return s[0];
    case 2: return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3: return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    case 4:
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    default: return 0;
    }
}

void kx_utf8_encode(kx_buf *out, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    kx_buf_put(out, b, n);
}

void kx_utf8_append_sanitized(kx_buf *out, const void *p, size_t n)
{
    const uint8_t *s = p;
    size_t i = 0, run = 0;
    while (i < n) {
        size_t l = s[i] < 0x80 ? 1 : kx_utf8_seq_len(s + i, n - i);
        if (l) {
            i += l;
            continue;
        }
        kx_buf_put(out, s + run, i - run);
        kx_utf8_encode(out, s[i]);
        i++;
        run = i;
    }
    kx_buf_put(out, s + run, n - run);
}

void kx_csv_put_str(kx_buf *out, const void *p, size_t n)
{
    const char *s = p;
    bool quote = false, ascii = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        ascii &= c < 0x80;
        if (c == ',' || c == '"' || c == '\r' || c == '\n') {
            quote = true;
            break;
        }
    }
    if (!quote) {
        if (ascii) kx_buf_put(out, s, n); /* the common case: plain ASCII keys and ids */
        else kx_utf8_append_sanitized(out, s, n);
        return;
    }
    kx_buf_putc(out, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') {
            kx_utf8_append_sanitized(out, s + run, i + 1 - run);
            kx_buf_putc(out, '"');
            run = i + 1;
        }
    }
    kx_utf8_append_sanitized(out, s + run, n - run);
    kx_buf_putc(out, '"');
}

void kx_csv_put_double(kx_buf *out, double v)
{
    if (!isfinite(v)) return;
    /* formatted in place: copying from a stack buffer cost a libc memcpy call per cell
     * (~7 % of a keypairs run with CSV) */
    kx_buf_reserve(out, KX_FMT_DOUBLE_MAX);
    out->len += kx_fmt_double(v, out->data + out->len);
    out->data[out->len] = '\0';
}

void kx_csv_put_i64(kx_buf *out, int64_t v) { kx_buf_put_i64(out, v); }

void kx_csv_put_bool(kx_buf *out, bool v) { kx_buf_puts(out, v ? "True" : "False"); }

void kx_html_put(kx_buf *out, const void *p, size_t n)
{
    kx_buf tmp = KX_BUF_INIT;
    kx_utf8_append_sanitized(&tmp, p, n);
    for (size_t i = 0; i < tmp.len; i++) {
        char c = tmp.data[i];
        switch (c) {
        case '&': kx_buf_puts(out, "&amp;"); break;
        case '<': kx_buf_puts(out, "&lt;"); break;
        case '>': kx_buf_puts(out, "&gt;"); break;
        case '"': kx_buf_puts(out, "&quot;"); break;
        case '\'': kx_buf_puts(out, "&#39;"); break;
        default: kx_buf_putc(out, c);
        }
    }
    kx_buf_free(&tmp);
}
