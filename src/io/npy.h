/* npy.h — streaming writer of the kvc `.npy` files (spec 05 §8.1).
 *
 * A file is a 128-byte NPY 1.0 header followed by a pickle (protocol 4) of a 0-d object
 * array holding {user_id: {input_id: int64 array (n, 3)}}, so that
 * `numpy.load(path, allow_pickle=True).item()` returns that dict. Only the opcode subset of
 * the spec's table is used (no FRAME, no memo), byte for byte.
 *
 * The writer is a small state machine: begin_user / add_array / end_user, in output order.
 * It never holds more than its output buffer (flushed to the file at ~1 MiB) plus the
 * caller's current array, so a split of any size is written in bounded memory. Dict
 * opening marks (0x28) are emitted lazily at the first member, because an empty dict is
 * just 0x7D. With no file (kx_npy_init_mem) everything stays in `buf` (unit tests).
 */
#ifndef KX_IO_NPY_H
#define KX_IO_NPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/fs.h"
#include "util/buf.h"
#include "util/err.h"

#define KX_NPY_HEADER_LEN 128

typedef struct kx_npy_writer {
    kx_buf buf;        /* pending bytes (all bytes in memory mode) */
    kx_afile file;
    bool to_file;
    bool failed;
    bool any_user;     /* USERS dict got its MARK */
    bool in_user;
    bool any_input;    /* current INPUTS dict got its MARK */
    size_t users, arrays;
} kx_npy_writer;

/* ---- encoders (exposed for unit tests) ----------------------------------------------- */
/* The 128-byte header. */
void kx_npy_put_header(kx_buf *out);
/* U(s): SHORT_BINUNICODE (8C) when len < 256, else BINUNICODE (58, 4-byte LE length).
 * Bytes that are not valid UTF-8 are replaced per the fallback rule of 04 §1 first. */
void kx_npy_put_unicode(kx_buf *out, const void *s, size_t len);
/* I(n): BININT1 (4B) n < 256, BININT2 (4D) n < 65536, else BININT (4A, 4 bytes LE);
 * 0 <= n <= INT32_MAX. */
void kx_npy_put_int(kx_buf *out, uint32_t n);
/* DATA prefix: SHORT_BINBYTES (43) len < 256, BINBYTES (42) len < 2^32, else BYTES8 (8E). */
void kx_npy_put_bytes_prefix(kx_buf *out, uint64_t len);

/* ---- writer ------------------------------------------------------------------------- */
/* In-memory writer: the file's bytes accumulate in w->buf (free with kx_npy_free). */
void kx_npy_init_mem(kx_npy_writer *w);
/* Streams to <path> (temporary name until kx_npy_finish). */
int kx_npy_open(kx_npy_writer *w, const char *path, kx_err *err);

int kx_npy_begin_user(kx_npy_writer *w, const char *user_id, size_t len, kx_err *err);
/* One n x 3 array: rows[3*i + 0..2] = press, release, key code. */
int kx_npy_add_array(kx_npy_writer *w, const char *input_id, size_t len, const int64_t *rows,
                     size_t n, kx_err *err);
int kx_npy_end_user(kx_npy_writer *w, kx_err *err);
/* Writes the trailer; for a file writer flushes and renames into place, then releases
 * the file. The memory writer keeps its bytes in w->buf. */
int kx_npy_finish(kx_npy_writer *w, kx_err *err);
/* Drops the temporary file (if any) and frees the buffer; safe after finish. */
void kx_npy_free(kx_npy_writer *w);

#endif
