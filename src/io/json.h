/* json.h — JSON output in the layout of spec 04 §6.
 *
 * Documents are built as jansson trees (insertion order is preserved, so key order is the
 * order of json_object_set calls) and serialised by kx_json_dump: two-space indentation,
 * one member per line, ASCII only (\uXXXX escapes, lower-case hex), doubles in repr form,
 * no newline after the final brace. Jansson cannot hold NaN, so build numbers with
 * kx_json_num, which yields null for non-finite values.
 */
#ifndef KX_IO_JSON_H
#define KX_IO_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* A JSON string from arbitrary bytes (fallback rule of 04 §1 applied). */
json_t *kx_json_strn(const void *s, size_t n);
json_t *kx_json_str(const char *s);
/* An array of n strings (kx_json_str each). */
json_t *kx_json_str_array(const char *const *s, size_t n);
/* [a, b]: a table shape (rows, columns). */
json_t *kx_json_int_pair(int64_t a, int64_t b);
/* Real number, or null when v is NaN or infinite. */
json_t *kx_json_num(double v);
/* Current local time as YYYY-MM-DDTHH:MM:SS.ffffff (04 §6). */
json_t *kx_json_timestamp_now(void);
void kx_timestamp_now(char out[32]);
/* Seconds rounded to 6 decimals. */
json_t *kx_json_seconds(double s);

void kx_json_dump(kx_buf *out, const json_t *v);
/* The same for a value nested `depth` levels deep (its lines indented to match), for
 * writers that stream a large document member by member. */
void kx_json_dump_at(kx_buf *out, const json_t *v, int depth);
/* Serialise and write atomically (temporary name, then rename). Steals nothing. */
int kx_json_write_file(const char *path, const json_t *v, kx_err *err);

#endif
