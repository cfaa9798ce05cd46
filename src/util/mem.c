#include "util/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "keyetl: out of memory (allocating %zu bytes)\n", n);
    abort();
}

void *kx_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *kx_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) oom(count * size);
    return p;
}

void *kx_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

size_t kx_grown_cap(size_t cap, size_t need, size_t first)
{
    size_t c = cap ? cap : first ? first : 1;
    while (c < need) {
        if (c > ((size_t)-1) / 2) oom(need);
        c *= 2;
    }
    return c;
}

void *kx_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t c = kx_grown_cap(*cap, need, 8);
    if (c > ((size_t)-1) / elem) oom(need * elem);
    p = kx_realloc(p, c * elem);
    *cap = c;
    return p;
}

char *kx_strdup(const char *s)
{
    return kx_strndup(s, strlen(s));
}

char *kx_strndup(const char *s, size_t n)
{
    char *d = kx_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *kx_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fprintf(stderr, "keyetl: bad format string %s\n", fmt);
        abort();
    }
    char *s = kx_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}
