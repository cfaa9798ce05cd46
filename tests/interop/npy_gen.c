/* npy_gen.c — test program for tests/interop/npy_numpy.sh and tests/golden/kvc_edge.sh.
 *
 *   npy_gen fixture OUT.npy
 *       Writes a .npy with the C writer covering the encoding boundaries (empty dicts, long
 *       strings, I(n) and DATA size forms). Values follow a formula npy_check.py recomputes.
 *   npy_gen kvc KEYPAIRS.csv OUTDIR [FORMATS]
 *       Loads a keypairs.csv (test-only loader, RFC 4180) into users and runs the kvc
 *       writer (kx_kvc_build) into OUTDIR. FORMATS = csv (default), parquet or parquet,csv:
 *       the formats of keypairs_mapped and sequences.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/keypair.h"
#include "io/fs.h"
#include "io/npy.h"
#include "pipeline/stage_kvc.h"
#include "util/buf.h"
#include "util/mem.h"

/* ---- fixture ----------------------------------------------------------------------------- */

static int fixture(const char *path)
{
    static const size_t sizes[] = {1, 10, 11, 255, 256, 65535, 65536};
    kx_npy_writer w;
    kx_err err;
    if (kx_npy_open(&w, path, &err) != 0) goto fail;
    /* user "empty": {} ; user of 300 'x' (BINUNICODE): all sizes ; "ü": one array whose
     * input id has 256 chars. */
    if (kx_npy_begin_user(&w, "empty", 5, &err) || kx_npy_end_user(&w, &err)) goto fail;
    char longid[301];
    memset(longid, 'x', 300);
    longid[300] = 0;
    if (kx_npy_begin_user(&w, longid, 300, &err)) goto fail;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        int64_t *rows = kx_malloc(3 * n * sizeof *rows);
        for (size_t i = 0; i < n; i++) {
            rows[3 * i] = (int64_t)(i * 3 + n) + INT64_C(1735660000000);
            rows[3 * i + 1] = -(int64_t)(i + 1);
            rows[3 * i + 2] = (int64_t)(i % 97) - 1;
        }
        char id[32];
        int len = snprintf(id, sizeof id, "n%zu", n);
        int rc = kx_npy_add_array(&w, id, (size_t)len, rows, n, &err);
        free(rows);
        if (rc) goto fail;
    }
    if (kx_npy_end_user(&w, &err)) goto fail;
    memset(longid, 'y', 256);
    int64_t one[3] = {INT64_MAX, INT64_MIN, 0};
    if (kx_npy_begin_user(&w, "\xC3\xBC", 2, &err) ||
        kx_npy_add_array(&w, longid, 256, one, 1, &err) || kx_npy_end_user(&w, &err))
        goto fail;
    if (kx_npy_finish(&w, &err)) goto fail;
    kx_npy_free(&w);
    return 0;
fail:
    fprintf(stderr, "npy_gen: %s\n", err.msg);
    kx_npy_free(&w);
    return 1;
}

/* ---- keypairs.csv loader (test only) ---------------------------------------------------- */

typedef struct field {
    char *s; /* NUL-terminated, unquoted */
    size_t len;
} field;

/* Parses one record at *p (RFC 4180); fields point into scratch. Returns field count. */
static size_t parse_record(const char **p, const char *end, field *f, size_t maxf, kx_buf *scratch,
                           size_t *offs)
{
    size_t nf = 0;
    kx_buf_reset(scratch);
    const char *s = *p;
    for (;;) {
        size_t start = scratch->len;
        if (s < end && *s == '"') {
            s++;
            while (s < end) {
                if (*s == '"') {
                    if (s + 1 < end && s[1] == '"') {
                        kx_buf_putc(scratch, '"');
                        s += 2;
                        continue;
                    }
                    s++;
                    break;
                }
                kx_buf_putc(scratch, *s++);
            }
        } else {
            while (s < end && *s != ',' && *s != '\n') kx_buf_putc(scratch, *s++);
        }
        if (nf < maxf) {
            offs[nf] = start;
            f[nf].len = scratch->len - start;
        }
        nf++;
        kx_buf_putc(scratch, '\0');
        if (s < end && *s == ',') {
            s++;
            continue;
        }
        if (s < end && *s == '\n') s++;
        break;
    }
    *p = s;
    for (size_t i = 0; i < nf && i < maxf; i++) f[i].s = scratch->data + offs[i];
    return nf;
}

static double num(const field *f) { return f->len ? strtod(f->s, NULL) : NAN; }

static int load_csv(const char *path, kx_user_keypairs **out, size_t *nout)
{
    kx_buf file = KX_BUF_INIT, scratch = KX_BUF_INIT;
    kx_err err;
    if (kx_read_file(path, &file, &err) != 0) {
        fprintf(stderr, "npy_gen: %s\n", err.msg);
        return -1;
    }
    const char *p = file.data, *end = file.data + file.len;
    field f[24];
    size_t offs[24];
    parse_record(&p, end, f, 24, &scratch, offs); /* header */
    kx_user_keypairs *users = NULL;
    size_t n = 0, cap = 0;
    while (p < end) {
        size_t nf = parse_record(&p, end, f, 24, &scratch, offs);
        if (nf != 20) {
            fprintf(stderr, "npy_gen: %s: record with %zu fields\n", path, nf);
            return -1;
        }
        kx_user_keypairs *u = n ? &users[n - 1] : NULL;
        if (!u || strcmp(u->user_id, f[0].s) != 0 || strcmp(u->device_type, f[19].s) != 0) {
            users = kx_grow(users, &cap, n + 1, sizeof *users);
            u = &users[n++];
            kx_user_keypairs_init(u);
            snprintf(u->user_id, sizeof u->user_id, "%s", f[0].s);
            u->device_type = kx_strdup(f[19].s);
        }
        kx_keypair *r = kx_user_keypairs_push(u);
        r->platform_id = atoi(f[1].s);
        r->video_id = atoi(f[2].s);
        r->session_id = atoi(f[3].s);
        r->sequence_id = atoi(f[4].s);
        r->key1 = f[5].len ? kx_keytab_intern(&u->keys, f[5].s, f[5].len) : KX_KEY_MISSING;
        r->key2 = f[6].len ? kx_keytab_intern(&u->keys, f[6].s, f[6].len) : KX_KEY_MISSING;
        double *d[] = {&r->key1_press, &r->key1_release, &r->key2_press, &r->key2_release,
                       &r->hl, &r->il, &r->pl, &r->rl};
        for (int j = 0; j < 8; j++) *d[j] = num(&f[7 + j]);
        r->valid = strcmp(f[15].s, "True") == 0;
        int e = kx_kp_error_parse(f[16].s, f[16].len);
        r->error = (uint8_t)(e < 0 ? 0 : e);
        r->key1_timestamp = num(&f[17]);
        r->outlier = strcmp(f[18].s, "True") == 0;
    }
    kx_buf_free(&file);
    kx_buf_free(&scratch);
    *out = users;
    *nout = n;
    return 0;
}

typedef struct src_ctx {
    kx_user_keypairs *users;
    size_t n, next;
} src_ctx;

static int s_open(void *ctx, int pass, kx_err *err)
{
    (void)err;
    (void)pass;
    ((src_ctx *)ctx)->next = 0;
    return 0;
}

static int s_next(void *ctx, kx_user_keypairs *out, kx_err *err)
{
    (void)err;
    src_ctx *c = ctx;
    if (c->next == c->n) return 0;
    const kx_user_keypairs *u = &c->users[c->next++];
    memcpy(out->user_id, u->user_id, sizeof out->user_id);
    out->device_type = kx_strdup(u->device_type);
    for (size_t i = 0; i < u->keys.n; i++)
        kx_keytab_intern(&out->keys, u->keys.keys[i].bytes, u->keys.keys[i].len);
    for (size_t i = 0; i < u->n; i++) *kx_user_keypairs_push(out) = u->rows[i];
    return 1;
}

static void s_close(void *ctx) { (void)ctx; }

static int kvc(const char *csv, const char *outdir, const char *formats)
{
    src_ctx c = {NULL, 0, 0};
    if (load_csv(csv, &c.users, &c.n) != 0) return 1;
    bool pq = strstr(formats, "parquet") != NULL, cs = strstr(formats, "csv") != NULL;
    kx_kvc_opts o = {outdir, "npy_gen", {pq, cs, 0, 65536, "keypairs_mapped", 2},
                     {pq, cs, 0, 65536, "kvc_sequences", 2}, NULL, NULL};
    kx_kvc_source src = {&c, s_open, s_next, s_close, NULL, NULL};
    json_t *stats = NULL;
    kx_err err;
    int rc = kx_kvc_build(&src, &o, &stats, &err);
    if (rc != 0) fprintf(stderr, "npy_gen: %s\n", err.msg);
    json_decref(stats);
    for (size_t i = 0; i < c.n; i++) kx_user_keypairs_free(&c.users[i]);
    free(c.users);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "fixture") == 0) return fixture(argv[2]);
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "kvc") == 0)
        return kvc(argv[2], argv[3], argc == 5 ? argv[4] : "csv");
    fprintf(stderr, "usage: npy_gen fixture OUT.npy | npy_gen kvc KEYPAIRS.csv OUTDIR [FORMATS]\n");
    return 2;
}
