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

void kx_kp_batch_free(kx_kp_batch *b)
{
    for (int c = 0; c < KX_KP_NCOLS; c++) {
        free(b->mem[c]);
        free(b->valid[c]);
    }
    memset(b, 0, sizeof *b);
}

/* ---- reading user by user ----------------------------------------------------------------- */

#define KEY_CACHE_SLOTS 256

struct kx_kptable {
    kx_table_reader *tr;
    uint32_t mask;               /* columns read (bit per kx_kp_columns index) */
    int which[KX_KP_NCOLS];      /* reader position k -> column index, for k < nread */
    size_t nread;
    kx_column got[KX_KP_NCOLS];  /* the reader's batch, in reader order */
    kx_column cols[KX_KP_NCOLS]; /* the current batch by column index (unread: zeroed) */
    long nrows, pos;             /* rows in the batch, next row to hand out */
    bool eof;
    /* Key strings already interned for the current user, by address: a dictionary-decoded
     * column hands out the same pointer for every row holding the same dictionary entry, so
     * one pointer lookup replaces hashing the bytes (direct-mapped; a miss just interns).
     * Equal pointer and length within one batch means equal bytes. Cleared per user (ids
     * are per user) and per batch (its memory is replaced). */
    struct key_slot {
        const char *ptr;
        uint32_t len;
        int32_t id;
    } kcache[KEY_CACHE_SLOTS];
};

kx_kptable *kx_kptable_open_cols(const char *version_dir, uint32_t mask, kx_err *err)
{
    return kx_kptable_open_workers(version_dir, mask, 1, err);
}

kx_kptable *kx_kptable_open_workers(const char *version_dir, uint32_t mask, int workers, kx_err *err)
{
    mask = (mask & KX_KP_COLS_ALL) | KX_KP_COL_USER | KX_KP_COL_DEVICE;
    kx_colspec want[KX_KP_NCOLS];
    kx_kptable *t = kx_calloc(1, sizeof *t);
    t->mask = mask;
    for (int c = 0; c < KX_KP_NCOLS; c++)
        if (mask & (1u << c)) {
            t->which[t->nread] = c;
            want[t->nread++] = kx_kp_columns[c];
        }
    char *dir = kx_path_join(version_dir, "keypairs");
    t->tr = kx_tr_open_workers(dir, "keypairs", want, t->nread, workers, err);
    free(dir);
    if (!t->tr) {
        free(t);
        return NULL;
    }
    return t;
}

kx_kptable *kx_kptable_open(const char *version_dir, kx_err *err)
{
    return kx_kptable_open_cols(version_dir, KX_KP_COLS_ALL, err);
}

static bool have_col(const kx_kptable *t, int c) { return (t->mask >> c) & 1u; }

const char *kx_kptable_path(const kx_kptable *t) { return kx_tr_path(t->tr); }

void kx_kptable_close(kx_kptable *t)
{
    if (!t) return;
    kx_tr_close(t->tr);
    free(t);
}

static bool is_null(const kx_column *c, long i) { return c->valid && !c->valid[i]; }

static kx_strref str_at(const kx_kptable *t, int c, long i)
{
    return ((const kx_strref *)t->cols[c].values)[i];
}

static bool same_str(kx_strref s, const char *z)
{
    return strlen(z) == s.len && (s.len == 0 || memcmp(z, s.ptr, s.len) == 0);
}

static double dbl_at(const kx_kptable *t, int c, long i)
{
    if (!have_col(t, c) || is_null(&t->cols[c], i)) return NAN;
    return ((const double *)t->cols[c].values)[i];
}

static bool bool_at(const kx_kptable *t, int c, long i)
{
    return have_col(t, c) && ((const uint8_t *)t->cols[c].values)[i] != 0;
}

/* Key column c (C_KEY1 / C_KEY2) of row i interned into u->keys. */
static int32_t key_at(kx_kptable *t, int c, long i, kx_user_keypairs *u)
{
    if (!have_col(t, c) || is_null(&t->cols[c], i)) return KX_KEY_MISSING;
    kx_strref s = str_at(t, c, i);
    uintptr_t a = (uintptr_t)s.ptr;
    struct key_slot *slot = &t->kcache[((a >> 3) ^ (a >> 11)) & (KEY_CACHE_SLOTS - 1)];
    if (slot->ptr == s.ptr && slot->len == s.len && s.ptr) return slot->id;
    int32_t id = kx_keytab_intern(&u->keys, s.ptr, s.len);
    *slot = (struct key_slot){s.ptr, s.len, id};
    return id;
}

/* Row i of the current batch → one kx_keypair of u. */
static int convert_row(kx_kptable *t, long i, kx_user_keypairs *u, kx_err *err)
{
    static const int never_null[] = {C_USER, C_PLATFORM, C_VIDEO, C_SESSION, C_SEQUENCE,
                                     C_VALID, C_ERROR, C_K1TS, C_OUTLIER, C_DEVICE};
    for (size_t j = 0; j < sizeof never_null / sizeof never_null[0]; j++)
        if (have_col(t, never_null[j]) && is_null(&t->cols[never_null[j]], i))
            return kx_fail(err, "%s: column %s is null in a row of user %s", kx_tr_path(t->tr),
                           kx_kp_columns[never_null[j]].name, u->user_id);
    kx_keypair *r = kx_user_keypairs_push(u);
    int32_t *ids[4] = {&r->platform_id, &r->video_id, &r->session_id, &r->sequence_id};
    for (int c = C_PLATFORM; c <= C_SEQUENCE; c++) {
        if (!have_col(t, c)) continue;
        int64_t v = ((const int64_t *)t->cols[c].values)[i];
        if (v < INT32_MIN || v > INT32_MAX)
            return kx_fail(err, "%s: %s value %lld is out of range", kx_tr_path(t->tr),
                           kx_kp_columns[c].name, (long long)v);
        *ids[c - C_PLATFORM] = (int32_t)v;
    }
    r->key1 = key_at(t, C_KEY1, i, u);
    r->key2 = key_at(t, C_KEY2, i, u);
    r->key1_press = dbl_at(t, C_K1P, i);
    r->key1_release = dbl_at(t, C_K1R, i);
    r->key2_press = dbl_at(t, C_K2P, i);
    r->key2_release = dbl_at(t, C_K2R, i);
    r->hl = dbl_at(t, C_HL, i);
    r->il = dbl_at(t, C_IL, i);
    r->pl = dbl_at(t, C_PL, i);
    r->rl = dbl_at(t, C_RL, i);
    r->key1_timestamp = dbl_at(t, C_K1TS, i);
    r->valid = bool_at(t, C_VALID, i);
    r->outlier = bool_at(t, C_OUTLIER, i);
    r->error = 0;
    if (!have_col(t, C_ERROR)) return 0;
    kx_strref e = str_at(t, C_ERROR, i);
    int code = kx_kp_error_parse(e.ptr, e.len);
    if (code < 0)
        return kx_fail(err, "%s: unknown error_description '%.*s' for user %s", kx_tr_path(t->tr),
                       (int)(e.len > 100 ? 100 : e.len), e.ptr, u->user_id);
    r->error = (uint8_t)code;
    return 0;
}

/* Starts a new group from row i: user id and device type. */
static int start_user(kx_kptable *t, long i, kx_user_keypairs *u, kx_err *err)
{
    kx_strref uid = str_at(t, C_USER, i), dev = str_at(t, C_DEVICE, i);
    if (is_null(&t->cols[C_USER], i) || uid.len > KX_UID_LEN || (uid.len && memchr(uid.ptr, '\0', uid.len)))
        return kx_fail(err, "%s: invalid user_id in row %ld of a batch", kx_tr_path(t->tr), i);
    if (uid.len) memcpy(u->user_id, uid.ptr, uid.len);
    u->user_id[uid.len] = '\0';
    u->device_type = is_null(&t->cols[C_DEVICE], i) ? kx_strdup("") : kx_strndup(dev.ptr, dev.len);
    memset(t->kcache, 0, sizeof t->kcache); /* ids are per user (u->keys) */
    return 0;
}

int kx_kptable_next_user(kx_kptable *t, kx_user_keypairs *out, kx_err *err)
{
    kx_user_keypairs_init(out);
    bool have = false;
    for (;;) {
        if (t->pos >= t->nrows) {
            if (t->eof) break;
            long n = kx_tr_next(t->tr, t->got, err);
            if (n < 0) goto fail;
            for (size_t k = 0; k < t->nread; k++) t->cols[t->which[k]] = t->got[k];
            memset(t->kcache, 0, sizeof t->kcache); /* batch memory is replaced */
            t->nrows = n;
            t->pos = 0;
            if (n == 0) {
                t->eof = true;
                break;
            }
        }
        long i = t->pos;
        if (!have) {
            if (start_user(t, i, out, err) != 0) goto fail;
            have = true;
        } else if (is_null(&t->cols[C_USER], i) || is_null(&t->cols[C_DEVICE], i) ||
                   !same_str(str_at(t, C_USER, i), out->user_id) ||
                   !same_str(str_at(t, C_DEVICE, i), out->device_type)) {
            return 1; /* row i starts the next user; it stays pending */
        }
        if (convert_row(t, i, out, err) != 0) goto fail;
        t->pos++;
    }
    if (have) return 1;
    kx_user_keypairs_free(out);
    return 0;
fail:
    kx_user_keypairs_free(out);
    return -1;
}

/* ---- column-level reading (kx_kpscan) ------------------------------------------------------- */

#define SCAN_KEY_SLOTS 1024

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
    mask = (mask & KX_KP_COLS_ALL & ~(uint32_t)KX_KP_COL_ERROR) | KX_KP_COL_USER | KX_KP_COL_DEVICE;
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
        struct key_slot *slot = &s->kcache[((a >> 3) ^ (a >> 13)) & (SCAN_KEY_SLOTS - 1)];
        if (slot->ptr != v[i].ptr || slot->len != v[i].len || !v[i].ptr)
            *slot = (struct key_slot){v[i].ptr, v[i].len, kx_keytab_intern(&s->keys, v[i].ptr, v[i].len)};
        ids[i] = slot->id;
    }
}

/* Batch-wide checks (the per-row ones of convert_row) and the derived arrays. */
static int scan_prepare(kx_kpscan *s, long n, kx_err *err)
{
    static const int never_null[] = {C_USER, C_PLATFORM, C_VIDEO, C_SESSION, C_SEQUENCE,
                                     C_VALID, C_K1TS, C_OUTLIER, C_DEVICE};
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
        for (int c = 0; c < KX_KP_NCOLS; c++)
            if (s->nan_copy[c]) s->nan_copy[c] = kx_realloc(s->nan_copy[c], s->cap * sizeof(double));
    }
    memset(s->kcache, 0, sizeof s->kcache); /* batch memory was replaced */
    for (int c = 0; c < KX_KP_NCOLS; c++) {
        s->arr[c] = NULL;
        if (!scan_has(s, c) || c == C_USER || c == C_DEVICE) continue;
        const kx_column *col = &s->cols[c];
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
                    : kx_kp_columns[c].type == KX_COL_BOOL ? 1 : 8;
        run->col[c] = (const char *)s->arr[c] + (size_t)i * elem;
    }
    s->pos = j;
    return 1;
}
