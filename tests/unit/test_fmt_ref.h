/* test_fmt_ref.h — the original (slow, printf/strtod search) shortest round-trip formatter,
 * kept as an independent reference for tests/unit/test_fmt.c and bench/fmt_bench.c.
 * Same contracts as kx_shortest_digits / kx_fmt_double in src/io/fmt.h. */
#ifndef KX_TEST_FMT_REF_H
#define KX_TEST_FMT_REF_H

#include <stddef.h>

int kx_ref_shortest_digits(double v, char digits[20], int *exp10);
size_t kx_ref_fmt_double(double v, char out[32]);

#endif
