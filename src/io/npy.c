/* npy.c — see npy.h. Opcode names follow Python's pickletools. */
#include "io/npy.h"

#include <stdlib.h>
#include <string.h>

#include "io/text.h"

#define FLUSH_AT (1u << 20)

enum {
    OP_MARK = 0x28, OP_EMPTY_TUPLE = 0x29, OP_STOP = 0x2E, OP_BINBYTES = 0x42,
    OP_SHORT_BINBYTES = 0x43, OP_BININT = 0x4A, OP_BININT1 = 0x4B, OP_BININT2 = 0x4D,
    OP_NONE = 0x4E, OP_REDUCE = 0x52, OP_BINUNICODE = 0x58, OP_EMPTY_LIST = 0x5D,
    OP_APPEND = 0x61, OP_BUILD = 0x62, OP_TUPLE = 0x74, OP_SETITEMS = 0x75,
    OP_EMPTY_DICT = 0x7D, OP_PROTO = 0x80, OP_TUPLE1 = 0x85, OP_TUPLE2 = 0x86,
    OP_TUPLE3 = 0x87, OP_NEWTRUE = 0x88, OP_NEWFALSE = 0x89, OP_SHORT_BINUNICODE = 0x8C,
    OP_BYTES8 = 0x8E, OP_STACK_GLOBAL = 0x93,
};

static void put_byte(kx_buf *out, unsigned v) { kx_buf_putc(out, (char)(uint8_t)v); }

static void put_le(kx_buf *out, uint64_t v, int nbytes)
{
    for (int i = 0; i < nbytes; i++) put_byte(out, (unsigned)(v >> (8 * i)) & 0xFF);
}

void kx_npy_put_header(kx_buf *out)
{
    static const char magic[] = "\x93NUMPY\x01\x00\x76\x00";
    static const char dict[] = "{'descr': '|O', 'fortran_order': False, 'shape': (), }";
    size_t start = out->len;
    kx_buf_put(out, magic, sizeof magic - 1);
    kx_buf_put(out, dict, sizeof dict - 1);
    while (out->len - start < KX_NPY_HEADER_LEN - 1) kx_buf_putc(out, ' ');
    kx_buf_putc(out, '\n');
}

void kx_npy_put_unicode(kx_buf *out, const void *s, size_t len)
{
    kx_buf clean = KX_BUF_INIT;
    if (!kx_utf8_valid(s, len)) { /* pickle requires valid UTF-8 */
        kx_utf8_append_sanitized(&clean, s, len);
        s = clean.data;
        len = clean.len;
    }
    if (len < 256) {
        put_byte(out, OP_SHORT_BINUNICODE);
        put_byte(out, (unsigned)len);
    } else {
        put_byte(out, OP_BINUNICODE);
        put_le(out, len, 4);
    }
    kx_buf_put(out, s, len);
    kx_buf_free(&clean);
}

void kx_npy_put_int(kx_buf *out, uint32_t n)
{
    if (n < 256) {
        put_byte(out, OP_BININT1);
        put_byte(out, n);
    } else if (n < 65536) {
        put_byte(out, OP_BININT2);
        put_le(out, n, 2);
    } else {
        put_byte(out, OP_BININT);
        put_le(out, n, 4);
    }
}

void kx_npy_put_bytes_prefix(kx_buf *out, uint64_t len)
{
    if (len < 256) {
        put_byte(out, OP_SHORT_BINBYTES);
        put_byte(out, (unsigned)len);
    } else if (len < (UINT64_C(1) << 32)) {
        put_byte(out, OP_BINBYTES);
        put_le(out, len, 4);
    } else {
        put_byte(out, OP_BYTES8);
        put_le(out, len, 8);
    }
}

/* G(m, n) = U(m) U(n) STACK_GLOBAL */
static void put_global(kx_buf *out, const char *module, const char *name)
{
    kx_npy_put_unicode(out, module, strlen(module));
    kx_npy_put_unicode(out, name, strlen(name));
    put_byte(out, OP_STACK_GLOBAL);
}

/* R: _reconstruct(ndarray, (0,), b'b') — an empty array whose state BUILD sets. */
static void put_reconstruct(kx_buf *out)
{
    put_global(out, "numpy.core.multiarray", "_reconstruct");
    put_global(out, "numpy", "ndarray");
    put_byte(out, OP_BININT1);
    put_byte(out, 0);
    put_byte(out, OP_TUPLE1);
    put_byte(out, OP_SHORT_BINBYTES);
    put_byte(out, 1);
    put_byte(out, 'b');
    put_byte(out, OP_TUPLE3);
    put_byte(out, OP_REDUCE);
}

/* dtype(<code>, False, True) with state (3, <order>, None, None, None, -1, -1, <flags>). */
static void put_dtype(kx_buf *out, const char *code, const char *order, unsigned flags)
{
    put_global(out, "numpy", "dtype");
    kx_npy_put_unicode(out, code, strlen(code));
    put_byte(out, OP_NEWFALSE);
    put_byte(out, OP_NEWTRUE);
    put_byte(out, OP_TUPLE3);
    put_byte(out, OP_REDUCE);
    put_byte(out, OP_MARK);
    put_byte(out, OP_BININT1);
    put_byte(out, 3);
    kx_npy_put_unicode(out, order, strlen(order));
    for (int i = 0; i < 3; i++) put_byte(out, OP_NONE);
    for (int i = 0; i < 2; i++) {
        put_byte(out, OP_BININT);
        put_le(out, 0xFFFFFFFFu, 4);
    }
    put_byte(out, OP_BININT1);
    put_byte(out, flags);
    put_byte(out, OP_TUPLE);
    put_byte(out, OP_BUILD);
}

static int flush(kx_npy_writer *w, bool force, kx_err *err)
{
    if (!w->to_file || (!force && w->buf.len < FLUSH_AT)) return 0;
    int rc = kx_afile_write(&w->file, w->buf.data, w->buf.len, err);
    kx_buf_reset(&w->buf);
    if (rc != 0) w->failed = true;
    return rc;
}

/* Everything up to (and including) the outer list's EMPTY_LIST. */
static void put_prologue(kx_buf *out)
{
    kx_npy_put_header(out);
    put_byte(out, OP_PROTO);
    put_byte(out, 4);
    put_reconstruct(out);
    put_byte(out, OP_MARK);
    put_byte(out, OP_BININT1);
    put_byte(out, 1);
    put_byte(out, OP_EMPTY_TUPLE);
    put_dtype(out, "O8", "|", 63);
    put_byte(out, OP_NEWFALSE);
    put_byte(out, OP_EMPTY_LIST);
    put_byte(out, OP_EMPTY_DICT); /* USERS */
}

void kx_npy_init_mem(kx_npy_writer *w)
{
    memset(w, 0, sizeof *w);
    put_prologue(&w->buf);
}

int kx_npy_open(kx_npy_writer *w, const char *path, kx_err *err)
{
    memset(w, 0, sizeof *w);
    if (kx_afile_open(&w->file, path, err) != 0) return -1;
    w->to_file = true;
    put_prologue(&w->buf);
    return 0;
}

int kx_npy_begin_user(kx_npy_writer *w, const char *user_id, size_t len, kx_err *err)
{
    if (w->failed || w->in_user) return kx_fail(err, "npy writer: begin_user out of order");
    if (!w->any_user) put_byte(&w->buf, OP_MARK);
    w->any_user = true;
    w->in_user = true;
    w->any_input = false;
    w->users++;
    kx_npy_put_unicode(&w->buf, user_id, len);
    put_byte(&w->buf, OP_EMPTY_DICT); /* INPUTS */
    return flush(w, false, err);
}

int kx_npy_add_array(kx_npy_writer *w, const char *input_id, size_t len, const int64_t *rows,
                     size_t n, kx_err *err)
{
    if (w->failed || !w->in_user) return kx_fail(err, "npy writer: add_array outside a user");
    if (n > INT32_MAX) return kx_fail(err, "npy writer: array of %zu rows is too large", n);
    kx_buf *out = &w->buf;
    if (!w->any_input) put_byte(out, OP_MARK);
    w->any_input = true;
    w->arrays++;
    kx_npy_put_unicode(out, input_id, len);
    put_reconstruct(out);
    put_byte(out, OP_MARK);
    put_byte(out, OP_BININT1);
    put_byte(out, 1);
    kx_npy_put_int(out, (uint32_t)n);
    put_byte(out, OP_BININT1);
    put_byte(out, 3);
    put_byte(out, OP_TUPLE2);
    put_dtype(out, "i8", "<", 0);
    put_byte(out, OP_NEWFALSE);
    kx_npy_put_bytes_prefix(out, (uint64_t)n * 24);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* The rows are the array's bytes already (int64 little-endian, row-major). */
    if (flush(w, false, err) != 0) return -1;
    if (w->to_file && n * 24 >= FLUSH_AT) { /* large: straight to the file */
        if (flush(w, true, err) != 0) return -1;
        if (kx_afile_write(&w->file, rows, n * 24, err) != 0) {
            w->failed = true;
            return -1;
        }
    } else {
        kx_buf_put(out, rows, n * 24);
    }
#else
    for (size_t i = 0; i < 3 * n; i += 3) {
        uint8_t row[24];
        for (int c = 0; c < 3; c++)
            for (int b = 0; b < 8; b++) row[8 * c + b] = (uint8_t)((uint64_t)rows[i + c] >> (8 * b));
        kx_buf_put(out, row, sizeof row);
        if (out->len >= FLUSH_AT && flush(w, false, err) != 0) return -1;
    }
#endif
    put_byte(out, OP_TUPLE);
    put_byte(out, OP_BUILD);
    return flush(w, false, err);
}

int kx_npy_end_user(kx_npy_writer *w, kx_err *err)
{
    if (w->failed || !w->in_user) return kx_fail(err, "npy writer: end_user without a user");
    if (w->any_input) put_byte(&w->buf, OP_SETITEMS);
    w->in_user = false;
    return flush(w, false, err);
}

int kx_npy_finish(kx_npy_writer *w, kx_err *err)
{
    if (w->failed || w->in_user) return kx_fail(err, "npy writer: finish out of order");
    if (w->any_user) put_byte(&w->buf, OP_SETITEMS);
    put_byte(&w->buf, OP_APPEND);
    put_byte(&w->buf, OP_TUPLE);
    put_byte(&w->buf, OP_BUILD);
    put_byte(&w->buf, OP_STOP);
    if (!w->to_file) return 0;
    if (flush(w, true, err) != 0) return -1;
    w->to_file = false;
    w->failed = true; /* no more writes */
    kx_buf_free(&w->buf);
    return kx_afile_commit(&w->file, err);
}

void kx_npy_free(kx_npy_writer *w)
{
    if (w->to_file) kx_afile_abort(&w->file);
    w->to_file = false;
    kx_buf_free(&w->buf);
}
