#include "io/json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "io/fmt.h"
#include "io/fs.h"
#include "io/text.h"

json_t *kx_json_strn(const void *s, size_t n)
{
    if (kx_utf8_valid(s, n)) return json_stringn_nocheck(s, n);
    kx_buf b = KX_BUF_INIT;
    kx_utf8_append_sanitized(&b, s, n);
    json_t *j = json_stringn_nocheck(b.data, b.len);
    kx_buf_free(&b);
    return j;
}

json_t *kx_json_str(const char *s) { return kx_json_strn(s, strlen(s)); }

json_t *kx_json_str_array(const char *const *s, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, kx_json_str(s[i]));
    return a;
}

json_t *kx_json_int_pair(int64_t a, int64_t b)
{
    json_t *v = json_array();
    json_array_append_new(v, json_integer(a));
    json_array_append_new(v, json_integer(b));
    return v;
}

json_t *kx_json_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *kx_json_seconds(double s) { return json_real(round(s * 1e6) / 1e6); }

void kx_timestamp_now(char out[32])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%06ld", base, (long)tv.tv_usec);
}

json_t *kx_json_timestamp_now(void)
{
    char ts[32];
    kx_timestamp_now(ts);
    return json_string(ts);
}

static void put_string(kx_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    kx_buf_putc(out, '"');
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        uint8_t c = u[i];
        if (c >= 0x80) {
            size_t l;
            uint32_t cp = kx_utf8_decode(u + i, n - i, &l);
            if (!l) { /* cannot happen for strings built with kx_json_strn */
                cp = c;
                l = 1;
            }
            i += l;
            char esc[32];
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                uint32_t hi = 0xD800 + (v >> 10), lo = 0xDC00 + (v & 0x3FF);
                snprintf(esc, sizeof esc, "\\u%04x\\u%04x", (unsigned)hi, (unsigned)lo);
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
            }
            kx_buf_puts(out, esc);
            continue;
        }
        i++;
        switch (c) {
        case '"': kx_buf_puts(out, "\\\""); break;
        case '\\': kx_buf_puts(out, "\\\\"); break;
        case '\n': kx_buf_puts(out, "\\n"); break;
        case '\r': kx_buf_puts(out, "\\r"); break;
        case '\t': kx_buf_puts(out, "\\t"); break;
        case '\b': kx_buf_puts(out, "\\b"); break;
        case '\f': kx_buf_puts(out, "\\f"); break;
        default:
            if (c < 0x20 || c == 0x7F) {
                char esc[8] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0, 0};
                kx_buf_put(out, esc, 6);
            } else {
                kx_buf_putc(out, (char)c);
            }
        }
    }
    kx_buf_putc(out, '"');
}

static void indent(kx_buf *out, int depth)
{
    kx_buf_putc(out, '\n');
    for (int i = 0; i < depth; i++) kx_buf_put(out, "  ", 2);
}

static void dump(kx_buf *out, const json_t *v, int depth)
{
    char tmp[KX_FMT_DOUBLE_MAX];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (json_object_size(v) == 0) {
            kx_buf_puts(out, "{}");
            return;
        }
        kx_buf_putc(out, '{');
        const char *key;
        json_t *val;
        size_t i = 0;
        json_object_foreach((json_t *)v, key, val) {
            if (i++) kx_buf_putc(out, ',');
            indent(out, depth + 1);
            put_string(out, key, strlen(key));
            kx_buf_put(out, ": ", 2);
            dump(out, val, depth + 1);
        }
        indent(out, depth);
        kx_buf_putc(out, '}');
        return;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (n == 0) {
            kx_buf_puts(out, "[]");
            return;
        }
        kx_buf_putc(out, '[');
        for (size_t i = 0; i < n; i++) {
            if (i) kx_buf_putc(out, ',');
            indent(out, depth + 1);
            dump(out, json_array_get(v, i), depth + 1);
        }
        indent(out, depth);
        kx_buf_putc(out, ']');
        return;
    }
    case JSON_STRING: put_string(out, json_string_value(v), json_string_length(v)); return;
    case JSON_INTEGER: kx_buf_put_i64(out, (int64_t)json_integer_value(v)); return;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (!isfinite(d)) {
            kx_buf_puts(out, "null");
            return;
        }
        kx_buf_put(out, tmp, kx_fmt_double(d, tmp));
        return;
    }
    case JSON_TRUE: kx_buf_puts(out, "true"); return;
    case JSON_FALSE: kx_buf_puts(out, "false"); return;
    case JSON_NULL: kx_buf_puts(out, "null"); return;
    }
}

void kx_json_dump(kx_buf *out, const json_t *v) { dump(out, v, 0); }

void kx_json_dump_at(kx_buf *out, const json_t *v, int depth) { dump(out, v, depth); }

int kx_json_write_file(const char *path, const json_t *v, kx_err *err)
{
    kx_buf b = KX_BUF_INIT;
    kx_json_dump(&b, v);
    int rc = kx_write_file_atomic(path, b.data, b.len, err);
    kx_buf_free(&b);
    return rc;
}
