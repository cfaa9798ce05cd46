/* thrift.c — Thrift compact protocol encoder/decoder (see pq_internal.h for the format). */
#include <string.h>

#include "parquet/pq_internal.h"

/* ---- encoder ------------------------------------------------------------------------------ */
void kx_thr_enc_init(kx_thr_enc *e, kx_buf *out)
{
    e->out = out;
    e->depth = 0;
    e->last[0] = 0;
}

void kx_thr_put_varint(kx_buf *out, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    kx_buf_put(out, tmp, n);
}

/* (v << 1) ^ (v >> 63) with an arithmetic shift, written on unsigned values: a right shift of
 * a negative signed value is implementation-defined in C11. */
uint64_t kx_thr_zigzag(int64_t v)
{
    uint64_t u = (uint64_t)v;
    return (u << 1) ^ (0 - (u >> 63));
}

void kx_thr_field(kx_thr_enc *e, int16_t id, int type)
{
    int delta = id - e->last[e->depth];
    if (delta > 0 && delta <= 15) {
        kx_buf_putc(e->out, (char)((delta << 4) | type));
    } else {
        kx_buf_putc(e->out, (char)type);
        kx_thr_put_varint(e->out, kx_thr_zigzag(id));
    }
    e->last[e->depth] = id;
}

void kx_thr_i32(kx_thr_enc *e, int16_t id, int32_t v)
{
    kx_thr_field(e, id, KX_THR_I32);
    kx_thr_put_varint(e->out, kx_thr_zigzag(v));
}

void kx_thr_i64(kx_thr_enc *e, int16_t id, int64_t v)
{
    kx_thr_field(e, id, KX_THR_I64);
    kx_thr_put_varint(e->out, kx_thr_zigzag(v));
}

void kx_thr_bool(kx_thr_enc *e, int16_t id, bool v) { kx_thr_field(e, id, v ? KX_THR_TRUE : KX_THR_FALSE); }

void kx_thr_binary(kx_thr_enc *e, int16_t id, const void *p, size_t n)
{
    kx_thr_field(e, id, KX_THR_BINARY);
    kx_thr_put_varint(e->out, n);
    kx_buf_put(e->out, p, n);
}

void kx_thr_string(kx_thr_enc *e, int16_t id, const char *s) { kx_thr_binary(e, id, s, strlen(s)); }

void kx_thr_struct_begin(kx_thr_enc *e, int16_t id)
{
    if (id > 0) kx_thr_field(e, id, KX_THR_STRUCT);
    e->depth++;
    e->last[e->depth] = 0;
}

void kx_thr_struct_end(kx_thr_enc *e)
{
    kx_buf_putc(e->out, KX_THR_STOP);
    e->depth--;
}

void kx_thr_list_begin(kx_thr_enc *e, int16_t id, int elem_type, size_t n)
{
    kx_thr_field(e, id, KX_THR_LIST);
    if (n < 15) {
        kx_buf_putc(e->out, (char)((n << 4) | (size_t)elem_type));
    } else {
        kx_buf_putc(e->out, (char)(0xF0 | elem_type));
        kx_thr_put_varint(e->out, n);
    }
}

void kx_thr_elem_i32(kx_thr_enc *e, int32_t v) { kx_thr_put_varint(e->out, kx_thr_zigzag(v)); }

void kx_thr_elem_binary(kx_thr_enc *e, const void *p, size_t n)
{
    kx_thr_put_varint(e->out, n);
    kx_buf_put(e->out, p, n);
}

/* ---- decoder ------------------------------------------------------------------------------ */
void kx_thr_dec_init(kx_thr_dec *d, const void *p, size_t n)
{
    d->p = p;
    d->end = d->p + n;
    d->depth = 0;
    d->failed = false;
    d->why = NULL;
}

void kx_thr_fail(kx_thr_dec *d, const char *why)
{
    if (!d->failed) d->why = why;
    d->failed = true;
    d->p = d->end; /* every later read fails fast */
}

uint64_t kx_thr_get_varint(kx_thr_dec *d)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (d->p >= d->end) {
            kx_thr_fail(d, "truncated varint");
            return 0;
        }
        uint8_t b = *d->p++;
        if (shift == 63 && (b & 0x7E)) {
            kx_thr_fail(d, "varint overflows 64 bits");
            return 0;
        }
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) return v;
    }
    kx_thr_fail(d, "varint too long");
    return 0;
}

int64_t kx_thr_get_zigzag(kx_thr_dec *d)
{
    uint64_t u = kx_thr_get_varint(d);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

bool kx_thr_next_field(kx_thr_dec *d, int16_t *last, int16_t *id, int *type)
{
    if (d->p >= d->end) {
        kx_thr_fail(d, "truncated struct");
        return false;
    }
    uint8_t b = *d->p++;
    if (b == KX_THR_STOP) return false;
    *type = b & 0x0F;
    int delta = b >> 4;
    if (delta) {
        *id = (int16_t)(*last + delta);
    } else {
        int64_t v = kx_thr_get_zigzag(d);
        if (v < -32768 || v > 32767) {
            kx_thr_fail(d, "field id out of range");
            return false;
        }
        *id = (int16_t)v;
    }
    if (*type > KX_THR_STRUCT) {
        kx_thr_fail(d, "unknown field type");
        return false;
    }
    *last = *id;
    return !d->failed;
}

int32_t kx_thr_get_i32(kx_thr_dec *d, int type)
{
    if (type != KX_THR_I32 && type != KX_THR_I16 && type != KX_THR_BYTE) {
        kx_thr_fail(d, "expected an integer field");
        return 0;
    }
    if (type == KX_THR_BYTE) {
        if (d->p >= d->end) { kx_thr_fail(d, "truncated byte"); return 0; }
        return (int8_t)*d->p++;
    }
    int64_t v = kx_thr_get_zigzag(d);
    if (v < INT32_MIN || v > INT32_MAX) {
        kx_thr_fail(d, "i32 out of range");
        return 0;
    }
    return (int32_t)v;
}

int64_t kx_thr_get_i64(kx_thr_dec *d, int type)
{
    if (type != KX_THR_I64 && type != KX_THR_I32 && type != KX_THR_I16) {
        kx_thr_fail(d, "expected an integer field");
        return 0;
    }
    return kx_thr_get_zigzag(d);
}

bool kx_thr_get_bool(kx_thr_dec *d, int type)
{
    if (type == KX_THR_TRUE) return true;
    if (type == KX_THR_FALSE) return false;
    kx_thr_fail(d, "expected a boolean field");
    return false;
}

const uint8_t *kx_thr_get_binary(kx_thr_dec *d, int type, uint32_t *n)
{
    *n = 0;
    if (type != KX_THR_BINARY) {
        kx_thr_fail(d, "expected a binary field");
        return NULL;
    }
    uint64_t len = kx_thr_get_varint(d);
    if (d->failed) return NULL;
    if (len > (uint64_t)(d->end - d->p)) {
        kx_thr_fail(d, "binary length beyond the end of the metadata");
        return NULL;
    }
    const uint8_t *p = d->p;
    d->p += len;
    *n = (uint32_t)len;
    return p;
}

bool kx_thr_get_list(kx_thr_dec *d, int type, int *elem_type, uint32_t *n)
{
    if (type != KX_THR_LIST && type != KX_THR_SET) {
        kx_thr_fail(d, "expected a list field");
        return false;
    }
    if (d->p >= d->end) {
        kx_thr_fail(d, "truncated list header");
        return false;
    }
    uint8_t b = *d->p++;
    *elem_type = b & 0x0F;
    uint64_t size = b >> 4;
    if (size == 15) size = kx_thr_get_varint(d);
    /* Every element takes at least one byte except booleans-in-type and empty structs'
     * STOP (also one byte): so the count can never exceed the remaining input. */
    if (d->failed || size > (uint64_t)(d->end - d->p)) {
        kx_thr_fail(d, "list longer than the metadata");
        return false;
    }
    *n = (uint32_t)size;
    return true;
}

bool kx_thr_enter(kx_thr_dec *d)
{
    if (++d->depth > KX_THR_MAX_DEPTH) {
        kx_thr_fail(d, "structs nested too deeply");
        return false;
    }
    return true;
}

void kx_thr_leave(kx_thr_dec *d) { d->depth--; }

static void skip_bytes(kx_thr_dec *d, size_t n)
{
    if (n > (size_t)(d->end - d->p)) kx_thr_fail(d, "truncated value");
    else d->p += n;
}

void kx_thr_skip(kx_thr_dec *d, int type)
{
    if (d->failed) return;
    switch (type) {
    case KX_THR_TRUE:
    case KX_THR_FALSE: return; /* value lives in the field header */
    case KX_THR_BYTE: skip_bytes(d, 1); return;
    case KX_THR_I16:
    case KX_THR_I32:
    case KX_THR_I64: (void)kx_thr_get_varint(d); return;
    case KX_THR_DOUBLE: skip_bytes(d, 8); return;
    case KX_THR_BINARY: { uint32_t n; (void)kx_thr_get_binary(d, type, &n); return; }
    case KX_THR_LIST:
    case KX_THR_SET: {
        int et;
        uint32_t n;
        if (!kx_thr_get_list(d, type, &et, &n) || !kx_thr_enter(d)) return;
        for (uint32_t i = 0; i < n && !d->failed; i++) {
            /* booleans inside collections are one byte each */
            if (et == KX_THR_TRUE || et == KX_THR_FALSE) skip_bytes(d, 1);
            else kx_thr_skip(d, et);
        }
        kx_thr_leave(d);
        return;
    }
    case KX_THR_MAP: {
        uint64_t n = kx_thr_get_varint(d);
        if (n == 0 || d->failed) return;
        if (n > (uint64_t)(d->end - d->p) || d->p >= d->end) { kx_thr_fail(d, "map too long"); return; }
        uint8_t kv = *d->p++;
        if (!kx_thr_enter(d)) return;
        for (uint64_t i = 0; i < n && !d->failed; i++) {
            int kt = kv >> 4, vt = kv & 0x0F;
            if (kt == KX_THR_TRUE || kt == KX_THR_FALSE) skip_bytes(d, 1); else kx_thr_skip(d, kt);
            if (vt == KX_THR_TRUE || vt == KX_THR_FALSE) skip_bytes(d, 1); else kx_thr_skip(d, vt);
        }
        kx_thr_leave(d);
        return;
    }
    case KX_THR_STRUCT: {
        if (!kx_thr_enter(d)) return;
        int16_t last = 0, id;
        int t;
        while (kx_thr_next_field(d, &last, &id, &t)) kx_thr_skip(d, t);
        kx_thr_leave(d);
        return;
    }
    default: kx_thr_fail(d, "unknown value type"); return;
    }
}
