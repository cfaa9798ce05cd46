/* test_features_csvsrc.c — see test_features_csvsrc.h (test-only code). */
#include "test_features_csvsrc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/fs.h"

enum { C_USER, C_PLATFORM, C_VIDEO, C_SESSION, C_KEY1, C_KEY2, C_HL, C_IL, C_VALID, C_OUTLIER, C_N };
static const char *const kp_cols[C_N] = {"user_id", "platform_id", "video_id", "session_id", "key1",
                                      "key2", "HL", "IL", "valid", "outlier"};

typedef struct field {
    kx_buf val;
    int quoted;
} field;

#define MAXF 4096

/* Parses one record at *pos into f[]; returns the field count, 0 at the end. */
static int parse_record(const kx_buf *t, size_t *pos, field f[MAXF])
{
    size_t p = *pos;
    if (p >= t->len) return 0;
    int n = 0;
    for (;;) {
        field *cur = &f[n < MAXF ? n : MAXF - 1];
        kx_buf_reset(&cur->val);
        cur->quoted = 0;
        if (p < t->len && t->data[p] == '"') {
            cur->quoted = 1;
            p++;
            while (p < t->len) {
                if (t->data[p] == '"') {
                    if (p + 1 < t->len && t->data[p + 1] == '"') {
                        kx_buf_putc(&cur->val, '"');
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                kx_buf_putc(&cur->val, t->data[p++]);
            }
        } else {
            size_t a = p;
            while (p < t->len && t->data[p] != ',' && t->data[p] != '\n') p++;
            kx_buf_put(&cur->val, t->data + a, p - a);
        }
        n++;
        if (p >= t->len || t->data[p] == '\n') {
            p++;
            break;
        }
        p++; /* comma */
    }
    *pos = p;
    return n;
}

static field fields[MAXF];

static void fields_free(void)
{
    for (int i = 0; i < MAXF; i++) kx_buf_free(&fields[i].val);
}

int kx_csvsrc_open(kx_csvsrc *s, const char *path, kx_err *err)
{
    memset(s, 0, sizeof *s);
    if (kx_read_file(path, &s->text, err)) return -1;
    size_t p = 0;
    int n = parse_record(&s->text, &p, fields);
    for (int c = 0; c < C_N; c++) {
        s->col[c] = -1;
        for (int i = 0; i < n; i++)
            if (fields[i].val.data && !strcmp(fields[i].val.data, kp_cols[c])) s->col[c] = i;
        if (s->col[c] < 0) {
            kx_buf_free(&s->text);
            return kx_fail(err, "%s: no column %s", path, kp_cols[c]);
        }
    }
    s->body = s->pos = p;
    return 0;
}

void kx_csvsrc_close(kx_csvsrc *s)
{
    kx_buf_free(&s->text);
    fields_free();
}

static int csv_rewind(void *arg, kx_err *err)
{
    (void)err;
    kx_csvsrc *s = arg;
    s->pos = s->body;
    return 0;
}

static double num(const field *f) { return f->val.len ? strtod(f->val.data, NULL) : NAN; }
static const char *str(const field *f) { return f->val.data ? f->val.data : ""; }

static int csv_next(void *arg, kx_user_keypairs *out, kx_err *err)
{
    (void)err;
    kx_csvsrc *s = arg;
    int got = 0;
    for (;;) {
        size_t p = s->pos;
        int n = parse_record(&s->text, &p, fields);
        if (n == 0) break;
        const char *uid = str(&fields[s->col[C_USER]]);
        if (got && strcmp(uid, out->user_id) != 0) break;
        if (!got) snprintf(out->user_id, sizeof out->user_id, "%s", uid);
        got = 1;
        s->pos = p;
        kx_keypair *r = kx_user_keypairs_push(out);
        memset(r, 0, sizeof *r);
        r->platform_id = atoi(str(&fields[s->col[C_PLATFORM]]));
        r->video_id = atoi(str(&fields[s->col[C_VIDEO]]));
        r->session_id = atoi(str(&fields[s->col[C_SESSION]]));
        const field *k1 = &fields[s->col[C_KEY1]], *k2 = &fields[s->col[C_KEY2]];
        r->key1 = (k1->val.len || k1->quoted) ? kx_keytab_intern(&out->keys, str(k1), k1->val.len)
                                              : KX_KEY_MISSING;
        r->key2 = (k2->val.len || k2->quoted) ? kx_keytab_intern(&out->keys, str(k2), k2->val.len)
                                              : KX_KEY_MISSING;
        r->hl = num(&fields[s->col[C_HL]]);
        r->il = num(&fields[s->col[C_IL]]);
        r->valid = !strcmp(str(&fields[s->col[C_VALID]]), "True");
        r->outlier = !strcmp(str(&fields[s->col[C_OUTLIER]]), "True");
    }
    return got;
}

kx_user_source kx_csvsrc_source(kx_csvsrc *s)
{
    kx_user_source src = {s, csv_rewind, csv_next, "keypairs.csv (test loader)", NULL};
    return src;
}

int kx_test_csv_ftable_load(const char *dir, const kx_colspec *want, size_t nwant, kx_ftable *out, kx_err *err)
{
    char *path = kx_path_join(dir, "features.csv");
    kx_buf text = KX_BUF_INIT;
    int rc = kx_read_file(path, &text, err);
    int *idx = calloc(nwant, sizeof *idx);
    size_t pos = 0;
    int n = rc ? 0 : parse_record(&text, &pos, fields);
    for (size_t c = 0; rc == 0 && c < nwant; c++) {
        idx[c] = -1;
        for (int i = 0; i < n; i++)
            if (!strcmp(str(&fields[i]), want[c].name)) idx[c] = i;
        if (idx[c] < 0) rc = kx_fail(err, "%s: no column %s", path, want[c].name);
    }
    size_t nid = kx_flevel_nid(out->level);
    while (rc == 0 && (n = parse_record(&text, &pos, fields)) > 0) {
        int64_t id[4] = {0, 0, 0, 0};
        for (size_t c = 1; c < nid; c++) id[c] = strtoll(str(&fields[idx[c]]), NULL, 10);
        size_t row = kx_ftable_add_row(out, str(&fields[idx[0]]), id[1], id[2], id[3]);
        for (size_t c = nid; c < nwant; c++) out->cols[c - nid][row] = num(&fields[idx[c]]);
    }
    free(idx);
    free(path);
    kx_buf_free(&text);
    return rc;
}
