/* mem.h — checked allocation.
 *
 * keyetl treats memory exhaustion as fatal (like Redis' zmalloc): every allocation goes
 * through these wrappers, which print a clear message and abort() on failure. Callers
 * therefore never see NULL from them, and no allocation result goes unchecked.
 */
#ifndef KX_UTIL_MEM_H
#define KX_UTIL_MEM_H

#include <stddef.h>

void *kx_malloc(size_t n);
void *kx_calloc(size_t count, size_t size);
void *kx_realloc(void *p, size_t n);
/* Grow an array to hold at least `need` elements of `elem` bytes; *cap is updated. */
void *kx_grow(void *p, size_t *cap, size_t need, size_t elem);
/* The capacity for `need` elements when growing from `cap` by doubling (from `first` when
 * cap is 0): for structures that grow several parallel arrays to one capacity. */
size_t kx_grown_cap(size_t cap, size_t need, size_t first);
char *kx_strdup(const char *s);
char *kx_strndup(const char *s, size_t n);
/* printf into a fresh heap string. */
char *kx_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
