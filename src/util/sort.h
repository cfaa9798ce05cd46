/* sort.h — qsort wrapper.
 *
 * qsort's base pointer is declared non-null even for zero elements, so an empty array whose
 * pointer is NULL would be undefined behaviour (UBSan reports it). kx_qsort skips arrays
 * of fewer than two elements. Every sort in keyetl has a comparator with an explicit
 * tie-breaker, so the instability of qsort never shows in outputs.
 */
#ifndef KX_UTIL_SORT_H
#define KX_UTIL_SORT_H

#include <stdlib.h>

static inline void kx_qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1) qsort(base, n, size, cmp);
}

#endif
