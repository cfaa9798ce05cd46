/* fmt.h — number formatting shared by every text writer (spec 04 §2).
 *
 * Doubles are written in the shortest round-trip form, identical to Python's repr():
 * fixed notation for decimal exponents -4 <= e < 16, scientific otherwise, `.0` for
 * integral values, `-0.0` for negative zero. NaN and infinities are the caller's
 * business (they are written as null / empty cell, never as text).
 */
#ifndef KX_IO_FMT_H
#define KX_IO_FMT_H

#include <stddef.h>
#include <stdint.h>

#define KX_FMT_DOUBLE_MAX 32

/* Writes the repr() text of a finite double into out (NUL-terminated), returns its length.
 * Behaviour for non-finite input: writes "nan"/"inf"/"-inf" (never used by writers). */
size_t kx_fmt_double(double v, char out[KX_FMT_DOUBLE_MAX]);

/* Shortest round-trip digits of a finite, non-zero |v|: writes the decimal digit string
 * (no leading zeros) into digits and returns its length k; *exp10 receives e such that
 * |v| ~= d1.d2...dk * 10^e. */
int kx_shortest_digits(double v, char digits[20], int *exp10);

/* Decimal int64. Returns length. */
size_t kx_fmt_i64(int64_t v, char out[24]);

#endif
