/* buf.h — growable byte buffer, the building block of every text writer. */
#ifndef KX_UTIL_BUF_H
#define KX_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct kx_buf {
    char *data;   /* always NUL-terminated when cap > 0 */
    size_t len;
    size_t cap;
} kx_buf;

#define KX_BUF_INIT {NULL, 0, 0}

void kx_buf_reserve(kx_buf *b, size_t extra);
void kx_buf_put(kx_buf *b, const void *p, size_t n);
void kx_buf_puts(kx_buf *b, const char *s);
/* Inline: a CSV row is mostly single characters (separators, newlines). */
static inline void kx_buf_putc(kx_buf *b, char c)
{
    if (b->len + 2 > b->cap) kx_buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}
void kx_buf_printf(kx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kx_buf_put_i64(kx_buf *b, int64_t v);
/* Decimal text of v into out (NUL-terminated); returns its length. */
size_t kx_i64_to_chars(int64_t v, char out[24]);
void kx_buf_reset(kx_buf *b);          /* len = 0, keeps memory */
void kx_buf_free(kx_buf *b);
/* Hand over the heap string (NUL-terminated); the buffer becomes empty. */
char *kx_buf_steal(kx_buf *b);

#endif
