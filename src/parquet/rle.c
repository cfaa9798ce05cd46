/* rle.c — the RLE / bit-packed hybrid encoding of Parquet (Encodings.md):
 *
 *   run := bit-packed-run | rle-run, each starting with a ULEB128 header
 *   rle-run:        header = count << 1,     then the value in ceil(bit_width/8) bytes LE
 *   bit-packed-run: header = groups << 1 | 1, then groups * 8 values packed LSB first
 *
 * (Note: the LSB of the header is 1 for bit-packed runs, 0 for RLE runs.)
 * The encoder emits RLE runs for 8+ repeats and bit-packs the rest in groups of 8 (the last
 * group padded with zeros; readers stop after the value count they know).
 */
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

#include "parquet/pq_internal.h"

int kx_bit_width(uint32_t max_value)
{
    return max_value ? 32 - __builtin_clz(max_value) : 0;
}

static void put_rle_run(kx_buf *out, uint32_t value, size_t count, int bw)
{
    kx_thr_put_varint(out, (uint64_t)count << 1);
    uint8_t b[4];
    int nb = (bw + 7) / 8;
    for (int i = 0; i < nb; i++) b[i] = (uint8_t)(value >> (8 * i));
    kx_buf_put(out, b, (size_t)nb);
}

/* Packs groups*8 values (missing ones at the end as 0). */
static void put_packed(kx_buf *out, const uint32_t *v, size_t avail, size_t groups, int bw)
{
    kx_thr_put_varint(out, ((uint64_t)groups << 1) | 1);
    kx_buf_reserve(out, groups * (size_t)bw + 8);
    uint64_t acc = 0;
    int nbits = 0;
    for (size_t i = 0; i < groups * 8; i++) {
        uint64_t x = i < avail ? v[i] : 0;
        acc |= x << nbits;
        nbits += bw;
        while (nbits >= 8) {
            out->data[out->len++] = (char)(acc & 0xFF);
            acc >>= 8;
            nbits -= 8;
        }
    }
    out->data[out->len] = 0;
}

static size_t run_length(const uint32_t *v, size_t i, size_t n)
{
    size_t j = i + 1;
    while (j < n && v[j] == v[i]) j++;
    return j - i;
}

void kx_rle_encode(kx_buf *out, const uint32_t *v, size_t n, int bw)
{
    size_t i = 0;
    while (i < n) {
        size_t run = run_length(v, i, n);
        if (run >= 8 || bw == 0) {
            put_rle_run(out, v[i], run, bw);
            i += run;
            continue;
        }
        /* Bit-pack groups of 8 until a long run starts at a group boundary (max 63 groups
         * keeps the header in one byte). */
        size_t start = i, groups = 0;
        while (i < n && groups < 63) {
            if (groups > 0 && run_length(v, i, n) >= 8) break;
            i += 8;
            groups++;
        }
        if (i > n) i = n;
        put_packed(out, v + start, i - start, groups, bw);
    }
}

void kx_rle_encode_u8(kx_buf *out, const uint8_t *v, size_t n, int bw)
{
    /* Fast path for the common all-equal page (e.g. no nulls); otherwise widen once (a
     * bit-packed run may only be padded at the very end, so no chunking). */
    size_t k = 0;
    while (k < n && v[k] == v[0]) k++;
    if (k == n) {
        if (n) put_rle_run(out, v[0], n, bw);
        return;
    }
    uint32_t *tmp = kx_malloc(n * sizeof *tmp);
    for (k = 0; k < n; k++) tmp[k] = v[k];
    kx_rle_encode(out, tmp, n, bw);
    free(tmp);
}

int kx_rle_decode(const uint8_t *p, size_t len, int bw, uint32_t *out, size_t n,
                  uint32_t max_value)
{
    if (bw < 0 || bw > 32) return -1;
    const uint8_t *end = p + len;
    size_t got = 0;
    int vbytes = (bw + 7) / 8;
    while (got < n) {
        uint64_t h = 0;
        int shift = 0;
        for (;;) {
            if (p >= end || shift > 63) return -1;
            uint8_t b = *p++;
            h |= (uint64_t)(b & 0x7F) << shift;
            shift += 7;
            if (!(b & 0x80)) break;
        }
        if (h & 1) {
            uint64_t groups = h >> 1;
            if (groups == 0) return -1;
            uint64_t count = groups >= (1ull << 60) ? UINT64_MAX : groups * 8;
            size_t left = (size_t)(end - p);
            /* Some writers truncate the final run: accept when it still covers n. */
            size_t bytes = bw == 0 ? 0 : (groups > left / (size_t)bw ? left : (size_t)groups * (size_t)bw);
            uint64_t acc = 0;
            int nbits = 0;
            const uint8_t *q = p;
            uint64_t mask = bw == 32 ? 0xFFFFFFFFu : ((1ull << bw) - 1);
            for (uint64_t k = 0; k < count && got < n; k++) {
                while (nbits < bw) {
                    if (q >= p + bytes) return -1;
                    acc |= (uint64_t)*q++ << nbits;
                    nbits += 8;
                }
                uint32_t x = (uint32_t)(acc & mask);
                acc >>= bw;
                nbits -= bw;
                if (x > max_value) return -1;
                out[got++] = x;
            }
            p += bytes;
        } else {
            uint64_t count = h >> 1;
            if (count == 0) return -1;
            if (vbytes > end - p) return -1;
            uint32_t x = 0;
            for (int i = 0; i < vbytes; i++) x |= (uint32_t)p[i] << (8 * i);
            p += vbytes;
            if (x > max_value) return -1;
            size_t take = count < n - got ? (size_t)count : n - got;
            for (size_t k = 0; k < take; k++) out[got + k] = x;
            got += take;
        }
    }
    return 0;
}
