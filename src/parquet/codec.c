/* codec.c — page compression for Parquet (Compression.md): UNCOMPRESSED, SNAPPY (raw
 * snappy blocks via snappy-c.h), GZIP (RFC 1952; zlib streams accepted too) and ZSTD
 * (frames via libzstd). Decompression always knows the exact output size from the page
 * header and rejects any other size. */
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "parquet/parquet.h"
#include "parquet/pq_internal.h"

int kx_pq_compress(int codec, int level, void *zstd_cctx, const void *src, size_t n, kx_buf *out,
                   kx_err *err)
{
    switch (codec) {
    case KX_PQ_CODEC_NONE: kx_buf_put(out, src, n); return 0;
    case KX_PQ_CODEC_SNAPPY: {
        size_t cap = snappy_max_compressed_length(n);
        kx_buf_reserve(out, cap + 1);
        size_t got = cap;
        if (snappy_compress(src, n, out->data + out->len, &got) != SNAPPY_OK)
            return kx_fail(err, "snappy compression failed");
        out->len += got;
        out->data[out->len] = 0;
        return 0;
    }
    case KX_PQ_CODEC_ZSTD: {
        size_t cap = ZSTD_compressBound(n);
        kx_buf_reserve(out, cap + 1);
        size_t got = zstd_cctx ? ZSTD_compressCCtx(zstd_cctx, out->data + out->len, cap, src, n, level)
                              : ZSTD_compress(out->data + out->len, cap, src, n, level);
        if (ZSTD_isError(got)) return kx_fail(err, "zstd compression failed: %s", ZSTD_getErrorName(got));
        out->len += got;
        out->data[out->len] = 0;
        return 0;
    }
    default: return kx_fail(err, "unsupported compression codec %d for writing", codec);
    }
}

static int inflate_exact(const void *src, size_t n, void *dst, size_t dst_len, kx_err *err)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) return kx_fail(err, "zlib init failed");
    z.next_in = (Bytef *)(uintptr_t)src;
    z.avail_in = (uInt)n;
    z.next_out = dst;
    z.avail_out = (uInt)dst_len;
    int rc = inflate(&z, Z_FINISH);
    size_t got = dst_len - z.avail_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END || got != dst_len)
        return kx_fail(err, "corrupt GZIP page (inflate: %s, %zu of %zu bytes)",
                       z.msg ? z.msg : "size mismatch", got, dst_len);
    return 0;
}

int kx_pq_decompress(int codec, const void *src, size_t n, void *dst, size_t dst_len,
                     kx_err *err)
{
    switch (codec) {
    case KX_PQ_CODEC_NONE:
        if (n != dst_len) return kx_fail(err, "uncompressed page: size %zu != %zu", n, dst_len);
        if (n) memcpy(dst, src, n);
        return 0;
    case KX_PQ_CODEC_SNAPPY: {
        size_t want = 0;
        if (snappy_uncompressed_length(src, n, &want) != SNAPPY_OK || want != dst_len)
            return kx_fail(err, "corrupt SNAPPY page (bad length header)");
        size_t got = dst_len;
        if (snappy_uncompress(src, n, dst, &got) != SNAPPY_OK || got != dst_len)
            return kx_fail(err, "corrupt SNAPPY page");
        return 0;
    }
    case KX_PQ_CODEC_GZIP:
        if (n > 0xFFFFFFFFu || dst_len > 0xFFFFFFFFu) return kx_fail(err, "GZIP page too large");
        return inflate_exact(src, n, dst, dst_len, err);
    case KX_PQ_CODEC_ZSTD: {
        size_t got = ZSTD_decompress(dst, dst_len, src, n);
        if (ZSTD_isError(got)) return kx_fail(err, "corrupt ZSTD page: %s", ZSTD_getErrorName(got));
        if (got != dst_len) return kx_fail(err, "corrupt ZSTD page: %zu bytes, expected %zu", got, dst_len);
        return 0;
    }
    default: return kx_fail(err, "unsupported compression codec %d", codec);
    }
}
