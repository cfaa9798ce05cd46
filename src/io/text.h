/* text.h — UTF-8 handling (spec 04 §1), CSV fields (04 §3) and HTML escaping (04 §7). */
#ifndef KX_IO_TEXT_H
#define KX_IO_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Length of the well-formed UTF-8 sequence at s[0..n) (Unicode Table 3-7), or 0 if the
 * first byte does not start one. */
size_t kx_utf8_seq_len(const uint8_t *s, size_t n);
bool kx_utf8_valid(const void *s, size_t n);
/* Append s to out, replacing every byte outside a well-formed sequence by the UTF-8 of
 * U+0080..U+00FF with the same value (the Latin-1 reading), per the fallback rule. */
void kx_utf8_append_sanitized(kx_buf *out, const void *s, size_t n);
/* Decode one well-formed sequence; returns the code point, *len = bytes used (0 if invalid). */
uint32_t kx_utf8_decode(const uint8_t *s, size_t n, size_t *len);
void kx_utf8_encode(kx_buf *out, uint32_t cp);

/* CSV field: sanitized per 04 §1, quoted iff it contains , " CR or LF. */
void kx_csv_put_str(kx_buf *out, const void *s, size_t n);
/* CSV double: shortest repr; NaN -> empty field. */
void kx_csv_put_double(kx_buf *out, double v);
void kx_csv_put_i64(kx_buf *out, int64_t v);
void kx_csv_put_bool(kx_buf *out, bool v);

/* HTML text: sanitized, & < > " ' escaped. */
void kx_html_put(kx_buf *out, const void *s, size_t n);

#endif
