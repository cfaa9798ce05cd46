/* kptable.c — the keypairs table (spec 02 §5): schema, rows → columns, and reading the
 * table back one user at a time. See kptable.h. */
#include "pipeline/kptable.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fs.h"
#include "io/table_read.h"
#include "util/mem.h"

enum {
    C_USER, C_PLATFORM, C_VIDEO, C_SESSION, C_SEQUENCE, C_KEY1, C_KEY2,
    C_K1P, C_K1R, C_K2P, C_K2R, C_HL, C_IL, C_PL, C_RL,
    C_VALID, C_ERROR, C_K1TS, C_OUTLIER, C_DEVICE
};

const kx_colspec kx_kp_columns[KX_KP_NCOLS] = {
    {"user_id", KX_COL_STRING},        {"platform_id", KX_COL_INT64},
    {"video_id", KX_COL_INT64},        {"session_id", KX_COL_INT64},
    {"sequence_id", KX_COL_INT64},     {"key1", KX_COL_STRING},
    {"key2", KX_COL_STRING},           {"key1_press", KX_COL_DOUBLE},
    {"key1_release", KX_COL_DOUBLE},   {"key2_press", KX_COL_DOUBLE},
    {"key2_release", KX_COL_DOUBLE},   {"HL", KX_COL_DOUBLE},
    {"IL", KX_COL_DOUBLE},             {"PL", KX_COL_DOUBLE},
    {"RL", KX_COL_DOUBLE},             {"valid", KX_COL_BOOL},
    {"error_description", KX_COL_STRING}, {"key1_timestamp", KX_COL_DOUBLE},
    {"outlier", KX_COL_BOOL},          {"device_type", KX_COL_STRING},
};

/* ---- rows → columns ----------------------------------------------------------------------- */

static void *col_alloc(kx_kp_batch *b, int c, size_t elem)
{
    b->mem[c] = kx_malloc((b->n ? b->n : 1) * elem);
    b->cols[c].values = b->mem[c];
    return b->mem[c];
}

/* Bytes per value of column c in a kx_kp_batch. */
static size_t col_elem_size(int c)
{
    switch (kx_kp_columns[c].type) {
    case KX_COL_STRING: return sizeof(kx_strref);
    case KX_COL_BOOL: return 1;
    default: return 8; /* INT64, DOUBLE */
    }
}

static kx_strref key_ref(const kx_user_keypairs *u, int32_t id, uint8_t *valid)
{
    const kx_key *k = kx_keytab_get(&u->keys, id);
    *valid = k != NULL;
    return k ? (kx_strref){k->bytes, k->len} : (kx_strref){"", 0};
}

void kx_kp_batch_fill(kx_kp_batch *b, const kx_user_keypairs *u)
{
    memset(b, 0, sizeof *b);
    size_t n = b->n = u->n;
    kx_strref *uid = col_alloc(b, C_USER, sizeof *uid);
    kx_strref *dev = col_alloc(b, C_DEVICE, sizeof *dev);
    kx_strref *k1 = col_alloc(b, C_KEY1, sizeof *k1);
    kx_strref *k2 = col_alloc(b, C_KEY2, sizeof *k2);
    kx_strref *errs = col_alloc(b, C_ERROR, sizeof *errs);
    int64_t *ints[4];
    for (int c = C_PLATFORM; c <= C_SEQUENCE; c++) ints[c - C_PLATFORM] = col_alloc(b, c, sizeof(int64_t));
    double *dbl[9];
    static const int dcols[9] = {C_K1P, C_K1R, C_K2P, C_K2R, C_HL, C_IL, C_PL, C_RL, C_K1TS};
    for (int j = 0; j < 9; j++) {
        dbl[j] = col_alloc(b, dcols[j], sizeof(double));
        b->cols[dcols[j]].nan_is_null = true;
    }
    uint8_t *valid = col_alloc(b, C_VALID, 1);
    uint8_t *outlier = col_alloc(b, C_OUTLIER, 1);
    b->valid[C_KEY1] = kx_malloc(n ? n : 1);
    b->valid[C_KEY2] = kx_malloc(n ? n : 1);
    b->cols[C_KEY1].valid = b->valid[C_KEY1];
    b->cols[C_KEY2].valid = b->valid[C_KEY2];

    kx_strref uref = {u->user_id, (uint32_t)strlen(u->user_id)};
    const char *d = u->device_type ? u->device_type : "";
    kx_strref dref = {d, (uint32_t)strlen(d)};
    for (size_t i = 0; i < n; i++) {
        const kx_keypair *r = &u->rows[i];
        uid[i] = uref;
        dev[i] = dref;
        ints[0][i] = r->platform_id;
        ints[1][i] = r->video_id;
        ints[2][i] = r->session_id;
        ints[3][i] = r->sequence_id;
        k1[i] = key_ref(u, r->key1, &b->valid[C_KEY1][i]);
        k2[i] = key_ref(u, r->key2, &b->valid[C_KEY2][i]);
        const char *et = kx_kp_error_text((kx_kp_error)r->error);
        errs[i] = (kx_strref){et, (uint32_t)strlen(et)};
        dbl[0][i] = r->key1_press;
        dbl[1][i] = r->key1_release;
        dbl[2][i] = r->key2_press;
        dbl[3][i] = r->key2_release;
        dbl[4][i] = r->hl;
        dbl[5][i] = r->il;
        dbl[6][i] = r->pl;
        dbl[7][i] = r->rl;
        dbl[8][i] = r->key1_timestamp;
        valid[i] = r->valid != 0;
        outlier[i] = r->outlier != 0;
    }
}

void kx_kp_batch_select_zero(const kx_kp_batch *b, const uint8_t *keep, kx_kp_batch *dst)
{
    memset(dst, 0, sizeof *dst);
    size_t m = 0;
    for (size_t i = 0; i < b->n; i++) m += keep[i] == 0;
    dst->n = m;
    for (int c = 0; c < KX_KP_NCOLS; c++) {
        size_t es = col_elem_size(c);
        const char *src = b->cols[c].values;
        char *out = dst->mem[c] = kx_malloc((m ? m : 1) * es);
        uint8_t *vout = b->cols[c].valid ? (dst->valid[c] = kx_malloc(m ? m : 1)) : NULL;
        for (size_t i = 0, k = 0; i < b->n; i++) {
            if (keep[i]) continue;
            memcpy(out + k * es, src + i * es, es);
            if (vout) vout[k] = b->cols[c].valid[i];
            k++;
        }
        dst->cols[c] = (kx_column){out, vout, b->cols[c].nan_is_null};
    }
}

void kx_kp_batch_free(kx_kp_batch *b)
{
    for (int c = 0; c < KX_KP_NCOLS; c++) {
        free(b->mem[c]);
        free(b->valid[c]);
    }
    memset(b, 0, sizeof *b);
}

/* ---- reading user by user ----------------------------------------------------------------- */

/* kx_kptable is a kx_kpscan whose runs are gathered into users: rows are filled column by
 * column from the run arrays, and the scan's table-wide key ids are mapped to the user's own
 * ids (interned in first-seen row order, as before) once per key and user. */
struct key_slot {
    const char *ptr;
    uint32_t len;
    int32_t id;
};

struct kx_kptable {
    kx_kpscan *scan;
    uint32_t mask;
    kx_kp_run pending; /* a run read but not yet handed out (it starts the next user) */
    bool have_pending;
    /* scan key id -> id in the current user's table, valid where stamp == user_stamp */
    int32_t *local;
    uint32_t *stamp;
    size_t nlocal;
    uint32_t user_stamp;
};

kx_kptable *kx_kptable_open_cols(const char *version_dir, uint32_t mask, kx_err *err)
{
    return kx_kptable_open_workers(version_dir, mask, 1, err);
}

kx_kptable *kx_kptable_open_workers(const char *version_dir, uint32_t mask, int workers, kx_err *err)
{
    kx_kpscan *scan = kx_kpscan_open(version_dir, mask, workers, err);
    if (!scan) return NULL;
    kx_kptable *t = kx_calloc(1, sizeof *t);
    t->scan = scan;
    t->mask = (mask & KX_KP_COLS_ALL) | KX_KP_COL_USER | KX_KP_COL_DEVICE;
    return t;
}

kx_kptable *kx_kptable_open(const char *version_dir, kx_err *err)
{
    return kx_kptable_open_cols(version_dir, KX_KP_COLS_ALL, err);
}

const char *kx_kptable_path(const kx_kptable *t) { return kx_kpscan_path(t->scan); }

void kx_kptable_close(kx_kptable *t)
{
    if (!t) return;
    kx_kpscan_close(t->scan);
    free(t->local);
    free(t->stamp);
    free(t);
}

/* The current user's id for scan key id `id` (KX_KEY_MISSING stays). */
static int32_t local_key(kx_kptable *t, const kx_keytab *keys, int32_t id, kx_user_keypairs *u)
{
    if (id < 0) return KX_KEY_MISSING;
    if ((size_t)id >= t->nlocal) {
        size_t cap = t->nlocal;
        size_t need = (size_t)id + 1 > keys->n ? (size_t)id + 1 : keys->n; /* ids come from keys: id < n */
        t->local = kx_grow(t->local, &cap, need, sizeof *t->local);
        t->stamp = kx_realloc(t->stamp, cap * sizeof *t->stamp);
        memset(t->stamp + t->nlocal, 0, (cap - t->nlocal) * sizeof *t->stamp);
        t->nlocal = cap;
    }
    if (t->stamp[id] != t->user_stamp) {
        t->stamp[id] = t->user_stamp;
        t->local[id] = kx_keytab_intern(&u->keys, keys->keys[id].bytes, keys->keys[id].len);
    }
    return t->local[id];
}

static double run_dbl(const kx_kp_run *r, int c, size_t i)
{
    return r->col[c] ? ((const double *)r->col[c])[i] : NAN;
}

/* Appends the rows of run r to u; columns not read keep their defaults. */
static void append_run(kx_kptable *t, const kx_kp_run *r, kx_user_keypairs *u)
{
    const kx_keytab *keys = kx_kpscan_keys(t->scan);
    u->rows = kx_grow(u->rows, &u->cap, u->n + r->n, sizeof *u->rows);
    kx_keypair *rows = u->rows + u->n;
    memset(rows, 0, r->n * sizeof *rows);
    u->n += r->n;
    const int64_t *ids[4] = {r->col[C_PLATFORM], r->col[C_VIDEO], r->col[C_SESSION], r->col[C_SEQUENCE]};
    const int32_t *k1 = r->col[C_KEY1], *k2 = r->col[C_KEY2];
    const uint8_t *valid = r->col[C_VALID], *outlier = r->col[C_OUTLIER], *error = r->col[C_ERROR];
    for (size_t i = 0; i < r->n; i++) {
        kx_keypair *k = &rows[i];
        if (ids[0]) k->platform_id = (int32_t)ids[0][i];
        if (ids[1]) k->video_id = (int32_t)ids[1][i];
        if (ids[2]) k->session_id = (int32_t)ids[2][i];
        if (ids[3]) k->sequence_id = (int32_t)ids[3][i];
        k->key1 = k1 ? local_key(t, keys, k1[i], u) : KX_KEY_MISSING;
        k->key2 = k2 ? local_key(t, keys, k2[i], u) : KX_KEY_MISSING;
        k->key1_press = run_dbl(r, C_K1P, i);
        k->key1_release = run_dbl(r, C_K1R, i);
        k->key2_press = run_dbl(r, C_K2P, i);
        k->key2_release = run_dbl(r, C_K2R, i);
        k->hl = run_dbl(r, C_HL, i);
        k->il = run_dbl(r, C_IL, i);
        k->pl = run_dbl(r, C_PL, i);
        k->rl = run_dbl(r, C_RL, i);
        k->key1_timestamp = run_dbl(r, C_K1TS, i);
        k->valid = valid && valid[i] != 0;
        k->outlier = outlier && outlier[i] != 0;
        k->error = error ? error[i] : 0;
    }
}

int kx_kptable_next_user(kx_kptable *t, kx_user_keypairs *out, kx_err *err)
{
    kx_user_keypairs_init(out);
    bool have = false;
    for (;;) {
        if (!t->have_pending) {
            int rc = kx_kpscan_next(t->scan, &t->pending, err);
            if (rc < 0) goto fail;
            if (rc == 0) break;
            t->have_pending = true;
        }
        const kx_kp_run *r = &t->pending;
        if (have && r->new_group) return 1; /* it starts the next user; it stays pending */
        if (!have) {
            snprintf(out->user_id, sizeof out->user_id, "%s", r->user_id);
            out->device_type = kx_strdup(r->device_type);
            if (++t->user_stamp == 0) { /* wrapped: forget the old stamps */
                if (t->stamp) memset(t->stamp, 0, t->nlocal * sizeof *t->stamp);
                t->user_stamp = 1;
            }
            have = true;
        }
        append_run(t, r, out);
        t->have_pending = false;
    }
    if (have) return 1;
    kx_user_keypairs_free(out);
    return 0;
fail:
    kx_user_keypairs_free(out);
    return -1;
}

/* ---- reading user by user into columns (kx_kptable_next_group) ---------------------------------
 * The reuse path of the keypairs stage writes a base user's rows unchanged: copying the scan's
 * run arrays into the writer's columns skips the kx_keypair round trip (append_run, then
 * kx_kp_batch_fill), which cost as much as the rest of taking a user over. */

void kx_kp_group_init(kx_kp_group *g)
{
    memset(g, 0, sizeof *g);
}

void kx_kp_group_free(kx_kp_group *g)
{
    kx_kp_batch_free(&g->b);
    free(g->device_type);
    free(g->error_code);
    memset(g, 0, sizeof *g);
}

/* Room for `need` rows in every column (the column pointers are set when the group ends). */
static void group_reserve(kx_kp_group *g, size_t need)
{
    if (need <= g->cap) return;
    size_t cap = kx_grown_cap(g->cap, need, 256);
    for (int c = 0; c < KX_KP_NCOLS; c++) g->b.mem[c] = kx_realloc(g->b.mem[c], cap * col_elem_size(c));
    g->b.valid[C_KEY1] = kx_realloc(g->b.valid[C_KEY1], cap);
    g->b.valid[C_KEY2] = kx_realloc(g->b.valid[C_KEY2], cap);
    g->error_code = kx_realloc(g->error_code, cap);
    g->cap = cap;
}

static void group_keys(const kx_keytab *keys, const int32_t *ids, size_t n, kx_strref *out, uint8_t *valid)
{
    for (size_t i = 0; i < n; i++) {
        const kx_key *k = ids ? kx_keytab_get(keys, ids[i]) : NULL;
        valid[i] = k != NULL;
        out[i] = k ? (kx_strref){k->bytes, k->len} : (kx_strref){"", 0};
    }
}

/* Appends run r's rows at g->b.n (room reserved). */
static void group_append(kx_kptable *t, const kx_kp_run *r, kx_kp_group *g)
{
    size_t at = g->b.n, n = r->n;
    kx_kp_batch *b = &g->b;
    kx_strref *uid = (kx_strref *)b->mem[C_USER] + at, *dev = (kx_strref *)b->mem[C_DEVICE] + at;
    kx_strref uref = {g->user_id, (uint32_t)strlen(g->user_id)};
    kx_strref dref = {g->device_type, (uint32_t)strlen(g->device_type)};
    for (size_t i = 0; i < n; i++) {
        uid[i] = uref;
        dev[i] = dref;
    }
    for (int c = C_PLATFORM; c <= C_SEQUENCE; c++) {
        int64_t *dst = (int64_t *)b->mem[c] + at;
        if (r->col[c]) memcpy(dst, r->col[c], n * sizeof *dst);
        else memset(dst, 0, n * sizeof *dst);
    }
    const kx_keytab *keys = kx_kpscan_keys(t->scan);
    group_keys(keys, r->col[C_KEY1], n, (kx_strref *)b->mem[C_KEY1] + at, b->valid[C_KEY1] + at);
    group_keys(keys, r->col[C_KEY2], n, (kx_strref *)b->mem[C_KEY2] + at, b->valid[C_KEY2] + at);
    static const int dcols[9] = {C_K1P, C_K1R, C_K2P, C_K2R, C_HL, C_IL, C_PL, C_RL, C_K1TS};
    for (int j = 0; j < 9; j++) {
        double *dst = (double *)b->mem[dcols[j]] + at;
        if (r->col[dcols[j]]) memcpy(dst, r->col[dcols[j]], n * sizeof *dst);
        else for (size_t i = 0; i < n; i++) dst[i] = NAN;
    }
    static const int bcols[2] = {C_VALID, C_OUTLIER};
    for (int j = 0; j < 2; j++) {
        uint8_t *dst = (uint8_t *)b->mem[bcols[j]] + at;
        const uint8_t *src = r->col[bcols[j]];
        for (size_t i = 0; i < n; i++) dst[i] = src && src[i] != 0;
    }
    const uint8_t *err = r->col[C_ERROR];
    kx_strref *etext = (kx_strref *)b->mem[C_ERROR] + at;
    for (size_t i = 0; i < n; i++) {
        uint8_t e = err ? err[i] : 0;
        const char *et = kx_kp_error_text((kx_kp_error)e);
        g->error_code[at + i] = e;
        etext[i] = (kx_strref){et, (uint32_t)strlen(et)};
    }
    b->n += n;
}

/* Points the batch's columns at the arrays (after the last realloc) and sets the flags. */
static void group_finish(kx_kp_group *g)
{
    kx_kp_batch *b = &g->b;
    for (int c = 0; c < KX_KP_NCOLS; c++) {
        b->cols[c].values = b->mem[c];
        b->cols[c].valid = b->valid[c];
        b->cols[c].nan_is_null = kx_kp_columns[c].type == KX_COL_DOUBLE;
    }
}

int kx_kptable_next_group(kx_kptable *t, kx_kp_group *g, kx_err *err)
{
    g->b.n = 0;
    bool have = false;
    for (;;) {
        if (!t->have_pending) {
            int rc = kx_kpscan_next(t->scan, &t->pending, err);
            if (rc < 0) return -1;
            if (rc == 0) break;
            t->have_pending = true;
        }
        const kx_kp_run *r = &t->pending;
        if (have && r->new_group) break; /* it starts the next user; it stays pending */
        if (!have) {
            snprintf(g->user_id, sizeof g->user_id, "%s", r->user_id);
            free(g->device_type);
            g->device_type = kx_strdup(r->device_type);
            have = true;
        }
        group_reserve(g, g->b.n + r->n);
        group_append(t, r, g);
        t->have_pending = false;
    }
    if (!have) return 0;
    group_finish(g);
    return 1;
}

/* ---- column-level reading (kx_kpscan) ------------------------------------------------------- */

#define SCAN_KEY_SLOTS 1024 /* = 1 << (64 - 54), see scan_key_ids */

struct kx_kpscan {
    kx_table_reader *tr;
    uint32_t mask;
    int which[KX_KP_NCOLS];
    size_t nread;
    kx_column got[KX_KP_NCOLS];
    kx_column cols[KX_KP_NCOLS]; /* current batch by column index */
    const void *arr[KX_KP_NCOLS]; /* what runs point into: values, key ids or NaN copies */
    long nrows, pos;
    bool eof;
    kx_keytab keys;               /* table-wide key ids */
    int32_t *kid[2];              /* key1 / key2 ids of the batch */
    uint8_t *err_code;            /* error_description codes of the batch */
    double *nan_copy[KX_KP_NCOLS]; /* double columns with nulls: NaN where null */
    size_t cap;                   /* rows allocated in kid / nan_copy */
    bool have_group;              /* a group is open (uid/dev below) */
    char uid[KX_UID_LEN + 1];
    size_t uid_len;
    char *dev;
    size_t dev_len;
    /* key strings already mapped in this batch, by address (see struct kx_kptable) */
    struct key_slot kcache[SCAN_KEY_SLOTS];
};

kx_kpscan *kx_kpscan_open(const char *version_dir, uint32_t mask, int workers, kx_err *err)
{
    mask = (mask & KX_KP_COLS_ALL) | KX_KP_COL_USER | KX_KP_COL_DEVICE;
    kx_colspec want[KX_KP_NCOLS];
    kx_kpscan *s = kx_calloc(1, sizeof *s);
    s->mask = mask;
    kx_keytab_init(&s->keys);
    for (int c = 0; c < KX_KP_NCOLS; c++)
        if (mask & (1u << c)) {
            s->which[s->nread] = c;
            want[s->nread++] = kx_kp_columns[c];
        }
    char *dir = kx_path_join(version_dir, "keypairs");
    s->tr = kx_tr_open_workers(dir, "keypairs", want, s->nread, workers, err);
    free(dir);
    if (!s->tr) {
        kx_kpscan_close(s);
        return NULL;
    }
    return s;
}

const kx_keytab *kx_kpscan_keys(const kx_kpscan *s) { return &s->keys; }

const char *kx_kpscan_path(const kx_kpscan *s) { return kx_tr_path(s->tr); }

void kx_kpscan_close(kx_kpscan *s)
{
    if (!s) return;
    kx_tr_close(s->tr);
    kx_keytab_free(&s->keys);
    free(s->kid[0]);
    free(s->kid[1]);
    free(s->err_code);
    for (int c = 0; c < KX_KP_NCOLS; c++) free(s->nan_copy[c]);
    free(s->dev);
    free(s);
}

static bool scan_has(const kx_kpscan *s, int c) { return (s->mask >> c) & 1u; }

/* Key ids of column c (C_KEY1 / C_KEY2) for the n rows of the batch. */
static void scan_key_ids(kx_kpscan *s, int c, int32_t *ids, long n)
{
    const kx_column *col = &s->cols[c];
    const kx_strref *v = col->values;
    for (long i = 0; i < n; i++) {
        if (col->valid && !col->valid[i]) {
            ids[i] = KX_KEY_MISSING;
            continue;
        }
        uintptr_t a = (uintptr_t)v[i].ptr;
        /* dictionary entries sit a few bytes apart: multiplicative hash of the whole address */
        struct key_slot *slot = &s->kcache[(uint64_t)a * 0x9E3779B97F4A7C15ull >> 54];
        if (slot->ptr != v[i].ptr || slot->len != v[i].len || !v[i].ptr)
            *slot = (struct key_slot){v[i].ptr, v[i].len, kx_keytab_intern(&s->keys, v[i].ptr, v[i].len)};
        ids[i] = slot->id;
    }
}

/* error_description codes for the n rows of the batch (texts repeat: one parse per pointer). */
static int scan_error_codes(kx_kpscan *s, long n, kx_err *err)
{
    const kx_strref *v = s->cols[C_ERROR].values;
    const char *last = NULL;
    uint32_t last_len = 0;
    int code = 0;
    for (long i = 0; i < n; i++) {
        if (!last || v[i].ptr != last || v[i].len != last_len) {
            code = kx_kp_error_parse(v[i].ptr, v[i].len);
            if (code < 0) {
                kx_strref u = ((const kx_strref *)s->cols[C_USER].values)[i];
                return kx_fail(err, "%s: unknown error_description '%.*s' for user %.*s", kx_tr_path(s->tr),
                               (int)(v[i].len > 100 ? 100 : v[i].len), v[i].ptr, (int)(u.len > 40 ? 40 : u.len),
                               u.ptr);
            }
            last = v[i].ptr;
            last_len = v[i].len;
        }
        s->err_code[i] = (uint8_t)code;
    }
    return 0;
}

/* Batch-wide checks (null / out-of-range ids) and the derived arrays. */
static int scan_prepare(kx_kpscan *s, long n, kx_err *err)
{
    static const int never_null[] = {C_USER, C_PLATFORM, C_VIDEO, C_SESSION, C_SEQUENCE, C_VALID,
                                     C_ERROR, C_K1TS, C_OUTLIER, C_DEVICE};
    for (size_t j = 0; j < sizeof never_null / sizeof never_null[0]; j++) {
        const kx_column *col = &s->cols[never_null[j]];
        if (!scan_has(s, never_null[j]) || !col->valid) continue;
        for (long i = 0; i < n; i++)
            if (!col->valid[i])
                return kx_fail(err, "%s: column %s is null in row %ld of a batch", kx_tr_path(s->tr),
                               kx_kp_columns[never_null[j]].name, i);
    }
    for (int c = C_PLATFORM; c <= C_SEQUENCE; c++) {
        if (!scan_has(s, c)) continue;
        const int64_t *v = s->cols[c].values;
        for (long i = 0; i < n; i++)
            if (v[i] < INT32_MIN || v[i] > INT32_MAX)
                return kx_fail(err, "%s: %s value %lld is out of range", kx_tr_path(s->tr), kx_kp_columns[c].name,
                               (long long)v[i]);
    }
    if ((size_t)n > s->cap) {
        s->cap = (size_t)n;
        for (int k = 0; k < 2; k++) s->kid[k] = kx_realloc(s->kid[k], s->cap * sizeof *s->kid[k]);
        s->err_code = kx_realloc(s->err_code, s->cap);
        for (int c = 0; c < KX_KP_NCOLS; c++)
            if (s->nan_copy[c]) s->nan_copy[c] = kx_realloc(s->nan_copy[c], s->cap * sizeof(double));
    }
    memset(s->kcache, 0, sizeof s->kcache); /* batch memory was replaced */
    for (int c = 0; c < KX_KP_NCOLS; c++) {
        s->arr[c] = NULL;
        if (!scan_has(s, c) || c == C_USER || c == C_DEVICE) continue;
        const kx_column *col = &s->cols[c];
        if (c == C_ERROR) {
            if (scan_error_codes(s, n, err) != 0) return -1;
            s->arr[c] = s->err_code;
            continue;
        }
        if (c == C_KEY1 || c == C_KEY2) {
            int32_t *ids = s->kid[c - C_KEY1];
            scan_key_ids(s, c, ids, n);
            s->arr[c] = ids;
            continue;
        }
        s->arr[c] = col->values;
        if (kx_kp_columns[c].type != KX_COL_DOUBLE || !col->valid) continue;
        long first_null = 0;
        while (first_null < n && col->valid[first_null]) first_null++;
        if (first_null == n) continue;
        if (!s->nan_copy[c]) s->nan_copy[c] = kx_malloc((s->cap ? s->cap : 1) * sizeof(double));
        double *d = s->nan_copy[c];
        const double *v = col->values;
        for (long i = 0; i < n; i++) d[i] = col->valid[i] ? v[i] : NAN;
        s->arr[c] = d;
    }
    return 0;
}

static bool same_ref(kx_strref a, kx_strref b)
{
    return a.len == b.len && (a.ptr == b.ptr || a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Opens the group of row i (its user id checked like start_user). */
static int scan_start_group(kx_kpscan *s, kx_strref uid, kx_strref dev, long i, kx_err *err)
{
    if (uid.len > KX_UID_LEN || (uid.len && memchr(uid.ptr, '\0', uid.len)))
        return kx_fail(err, "%s: invalid user_id in row %ld of a batch", kx_tr_path(s->tr), i);
    if (uid.len) memcpy(s->uid, uid.ptr, uid.len);
    s->uid[uid.len] = '\0';
    s->uid_len = uid.len;
    free(s->dev);
    s->dev = kx_strndup(dev.ptr, dev.len);
    s->dev_len = dev.len;
    s->have_group = true;
    return 0;
}

int kx_kpscan_next(kx_kpscan *s, kx_kp_run *run, kx_err *err)
{
    while (s->pos >= s->nrows) {
        if (s->eof) return 0;
        long n = kx_tr_next(s->tr, s->got, err);
        if (n < 0) return -1;
        for (size_t k = 0; k < s->nread; k++) s->cols[s->which[k]] = s->got[k];
        s->nrows = n;
        s->pos = 0;
        if (n == 0) {
            s->eof = true;
            return 0;
        }
        if (scan_prepare(s, n, err) != 0) return -1;
    }
    const kx_strref *users = s->cols[C_USER].values, *devs = s->cols[C_DEVICE].values;
    long i = s->pos, j = i + 1;
    kx_strref u = users[i], d = devs[i];
    bool cont = s->have_group && same_ref(u, (kx_strref){s->uid, (uint32_t)s->uid_len}) &&
                same_ref(d, (kx_strref){s->dev, (uint32_t)s->dev_len});
    if (!cont && scan_start_group(s, u, d, i, err) != 0) return -1;
    while (j < s->nrows && same_ref(users[j], u) && same_ref(devs[j], d)) j++;
    memset(run, 0, sizeof *run);
    run->user_id = s->uid;
    run->device_type = s->dev;
    run->new_group = !cont;
    run->n = (size_t)(j - i);
    for (int c = 0; c < KX_KP_NCOLS; c++) {
        if (!s->arr[c]) continue;
        size_t elem = c == C_KEY1 || c == C_KEY2 ? sizeof(int32_t)
                    : kx_kp_columns[c].type == KX_COL_BOOL || c == C_ERROR ? 1 : 8;
        run->col[c] = (const char *)s->arr[c] + (size_t)i * elem;
    }
    s->pos = j;
    return 1;
}
