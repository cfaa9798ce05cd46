/* features.c — see features.h. */
#include "core/features.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/buf.h"
#include "util/mem.h"
#include "util/sort.h"

/* ---- bytewise key order -------------------------------------------------------------------- */
static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n);
    if (c) return c;
    return (alen > blen) - (alen < blen);
}

/* ---- string map: bytes -> counters (global digrams and unigrams) ----------------------------- */
typedef struct smap_entry {
    kx_key key;
    int64_t count;      /* rows in V */
    int64_t users;      /* users whose V contains it */
    int64_t last_user;  /* stamp of the last user counted in `users` */
} smap_entry;

typedef struct smap {
    smap_entry *items;
    size_t n, cap;
    uint32_t *slots; /* index+1, 0 = empty */
    size_t nslots;
} smap;

static void smap_rehash(smap *m, size_t nslots)
{
    free(m->slots);
    m->slots = kx_calloc(nslots, sizeof *m->slots);
    m->nslots = nslots;
    for (size_t i = 0; i < m->n; i++) {
        size_t h = (size_t)XXH3_64bits(m->items[i].key.bytes, m->items[i].key.len) & (nslots - 1);
        while (m->slots[h]) h = (h + 1) & (nslots - 1);
        m->slots[h] = (uint32_t)i + 1;
    }
}

/* The entry for these bytes, created (zeroed counters) if new. */
static smap_entry *smap_get(smap *m, const char *bytes, size_t len)
{
    if (m->nslots == 0) smap_rehash(m, 256);
    size_t h = (size_t)XXH3_64bits(bytes, len) & (m->nslots - 1);
    while (m->slots[h]) {
        smap_entry *e = &m->items[m->slots[h] - 1];
        if (e->key.len == len && !memcmp(e->key.bytes, bytes, len)) return e;
        h = (h + 1) & (m->nslots - 1);
    }
    m->items = kx_grow(m->items, &m->cap, m->n + 1, sizeof *m->items);
    smap_entry *e = &m->items[m->n];
    memset(e, 0, sizeof *e);
    e->key.bytes = kx_strndup(bytes, len);
    e->key.len = (uint32_t)len;
    e->last_user = -1;
    m->slots[h] = (uint32_t)++m->n;
    if (m->n * 2 > m->nslots) smap_rehash(m, m->nslots * 2);
    return &m->items[m->n - 1];
}

static void smap_free(smap *m)
{
    for (size_t i = 0; i < m->n; i++) free(m->items[i].key.bytes);
    free(m->items);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- pair map: (key1 id, key2 id) of one user -> int64 value --------------------------------- */
typedef struct pmap {
    uint64_t *keys; /* (k1 << 32 | k2) + 1, 0 = empty */
    int64_t *vals;
    size_t n, nslots;
} pmap;

static uint64_t pair_code(int32_t k1, int32_t k2) { return ((uint64_t)(uint32_t)k1 << 32 | (uint32_t)k2) + 1; }

static void pmap_init(pmap *m, size_t expect)
{
    size_t ns = 64;
    while (ns < expect * 2) ns *= 2;
    m->keys = kx_calloc(ns, sizeof *m->keys);
    m->vals = kx_calloc(ns, sizeof *m->vals);
    m->n = 0;
    m->nslots = ns;
}

static void pmap_free(pmap *m)
{
    free(m->keys);
    free(m->vals);
}

static size_t pmap_hash(uint64_t code, size_t nslots)
{
    return (size_t)XXH3_64bits(&code, sizeof code) & (nslots - 1);
}

static void pmap_grow(pmap *m)
{
    pmap big;
    pmap_init(&big, m->nslots);
    for (size_t i = 0; i < m->nslots; i++) {
        if (!m->keys[i]) continue;
        size_t h = pmap_hash(m->keys[i], big.nslots);
        while (big.keys[h]) h = (h + 1) & (big.nslots - 1);
        big.keys[h] = m->keys[i];
        big.vals[h] = m->vals[i];
    }
    big.n = m->n;
    pmap_free(m);
    *m = big;
}

/* Slot of the pair; *fresh tells whether it was just created (value 0). */
static int64_t *pmap_slot(pmap *m, int32_t k1, int32_t k2, bool *fresh)
{
    if ((m->n + 1) * 2 > m->nslots) pmap_grow(m);
    uint64_t code = pair_code(k1, k2);
    size_t h = pmap_hash(code, m->nslots);
    while (m->keys[h] && m->keys[h] != code) h = (h + 1) & (m->nslots - 1);
    *fresh = !m->keys[h];
    if (*fresh) {
        m->keys[h] = code;
        m->vals[h] = 0;
        m->n++;
    }
    return &m->vals[h];
}

/* ---- pass 1: selection ----------------------------------------------------------------------- */
struct kx_fsel {
    bool keep_outliers;
    smap unigrams;
    smap digrams;
    int64_t users_with_v;
    int64_t rows_v, rows_f;
    /* group input (kx_fsel_group_*), ids table-wide */
    pmap grp_pairs;         /* (key1, key2) -> V rows of the current group */
    int64_t grp_nv;         /* V rows of the current group */
    uint32_t grp_stamp;     /* current group number + 1 */
    uint32_t *key_stamp;    /* per key id: grp_stamp of the last group with it in V */
    uint8_t *in_unigrams;   /* per key id: already added to unigrams */
    size_t nids, ids_cap;
    int32_t *grp_keys;      /* key ids in the current group's V, first-seen order */
    size_t n_grp_keys, grp_keys_cap;
    pmap pair_entry;        /* (key1, key2) -> index + 1 of its digrams entry */
};

kx_fsel *kx_fsel_new(bool keep_outliers)
{
    kx_fsel *s = kx_calloc(1, sizeof *s);
    s->keep_outliers = keep_outliers;
    return s;
}

void kx_fsel_add_user(kx_fsel *s, const kx_user_keypairs *u)
{
    size_t nkeys = u->keys.n;
    uint8_t *key_in_v = kx_calloc(nkeys ? nkeys : 1, 1);
    pmap pairs;
    pmap_init(&pairs, 256);
    int64_t nv = 0;
    for (size_t i = 0; i < u->n; i++) {
        const kx_keypair *r = &u->rows[i];
        if (!r->valid) continue;
        nv++;
        if (kx_row_in_f(r, s->keep_outliers)) s->rows_f++;
        if (r->key1 >= 0) key_in_v[r->key1] = 1;
        if (r->key2 >= 0) key_in_v[r->key2] = 1;
        if (r->key1 >= 0 && r->key2 >= 0) {
            bool fresh;
            (*pmap_slot(&pairs, r->key1, r->key2, &fresh))++;
        }
    }
    s->rows_v += nv;
    if (nv > 0) {
        int64_t stamp = s->users_with_v++;
        for (size_t k = 0; k < nkeys; k++)
            if (key_in_v[k]) smap_get(&s->unigrams, u->keys.keys[k].bytes, u->keys.keys[k].len);
        /* Distinct (key1, key2) pairs of this user -> digram strings. Two pairs may give the
         * same string (03 §4); the stamp counts the user once for it. */
        kx_buf dg = KX_BUF_INIT;
        for (size_t h = 0; h < pairs.nslots; h++) {
            if (!pairs.keys[h]) continue;
            uint64_t code = pairs.keys[h] - 1;
            const kx_key *k1 = &u->keys.keys[(int32_t)(code >> 32)];
            const kx_key *k2 = &u->keys.keys[(int32_t)(code & 0xffffffffu)];
            kx_buf_reset(&dg);
            kx_buf_put(&dg, k1->bytes, k1->len);
            kx_buf_put(&dg, k2->bytes, k2->len);
            smap_entry *e = smap_get(&s->digrams, dg.data, dg.len);
            e->count += pairs.vals[h];
            if (e->last_user != stamp) {
                e->last_user = stamp;
                e->users++;
            }
        }
        kx_buf_free(&dg);
    }
    pmap_free(&pairs);
    free(key_in_v);
}

static void fsel_grow_ids(kx_fsel *s, size_t need)
{
    if (need <= s->nids) return;
    size_t cap = s->ids_cap;
    s->key_stamp = kx_grow(s->key_stamp, &cap, need, sizeof *s->key_stamp);
    s->in_unigrams = kx_realloc(s->in_unigrams, cap);
    memset(s->key_stamp + s->nids, 0, (cap - s->nids) * sizeof *s->key_stamp);
    memset(s->in_unigrams + s->nids, 0, cap - s->nids);
    s->ids_cap = s->nids = cap;
}

static void fsel_mark_key(kx_fsel *s, int32_t id)
{
    fsel_grow_ids(s, (size_t)id + 1);
    if (s->key_stamp[id] == s->grp_stamp) return;
    s->key_stamp[id] = s->grp_stamp;
    s->grp_keys = kx_grow(s->grp_keys, &s->grp_keys_cap, s->n_grp_keys + 1, sizeof *s->grp_keys);
    s->grp_keys[s->n_grp_keys++] = id;
}

void kx_fsel_group_rows(kx_fsel *s, size_t n, const int32_t *key1, const int32_t *key2, const uint8_t *valid,
                        const uint8_t *outlier)
{
    if (!s->grp_pairs.keys) pmap_init(&s->grp_pairs, 256);
    if (s->grp_stamp == 0) s->grp_stamp = 1;
    for (size_t i = 0; i < n; i++) {
        if (!valid[i]) continue;
        s->grp_nv++;
        if (s->keep_outliers || !outlier[i]) s->rows_f++;
        int32_t a = key1[i], b = key2[i];
        if (a >= 0) fsel_mark_key(s, a);
        if (b >= 0) fsel_mark_key(s, b);
        if (a >= 0 && b >= 0) {
            bool fresh;
            (*pmap_slot(&s->grp_pairs, a, b, &fresh))++;
        }
    }
}

/* Index of the digrams entry of pair (a, b): built from the bytes once per pass. */
static size_t fsel_pair_entry(kx_fsel *s, const kx_keytab *keys, int32_t a, int32_t b, kx_buf *dg)
{
    bool fresh;
    int64_t *v = pmap_slot(&s->pair_entry, a, b, &fresh);
    if (!fresh) return (size_t)(*v - 1);
    const kx_key *k1 = &keys->keys[a], *k2 = &keys->keys[b];
    kx_buf_reset(dg);
    kx_buf_put(dg, k1->bytes, k1->len);
    kx_buf_put(dg, k2->bytes, k2->len);
    smap_entry *e = smap_get(&s->digrams, dg->data, dg->len);
    *v = (int64_t)(e - s->digrams.items) + 1;
    return (size_t)(*v - 1);
}

void kx_fsel_group_end(kx_fsel *s, const kx_keytab *keys)
{
    int64_t nv = s->grp_nv;
    s->rows_v += nv;
    if (nv > 0) {
        int64_t stamp = s->users_with_v++;
        for (size_t k = 0; k < s->n_grp_keys; k++) {
            int32_t id = s->grp_keys[k];
            if (s->in_unigrams[id]) continue;
            smap_get(&s->unigrams, keys->keys[id].bytes, keys->keys[id].len);
            s->in_unigrams[id] = 1;
        }
        if (!s->pair_entry.keys) pmap_init(&s->pair_entry, 4096);
        kx_buf dg = KX_BUF_INIT;
        pmap *pairs = &s->grp_pairs;
        for (size_t h = 0; h < pairs->nslots; h++) {
            if (!pairs->keys[h]) continue;
            uint64_t code = pairs->keys[h] - 1;
            size_t idx = fsel_pair_entry(s, keys, (int32_t)(code >> 32), (int32_t)(code & 0xffffffffu), &dg);
            smap_entry *e = &s->digrams.items[idx];
            e->count += pairs->vals[h];
            if (e->last_user != stamp) {
                e->last_user = stamp;
                e->users++;
            }
        }
        kx_buf_free(&dg);
    }
    /* next group */
    if (s->grp_pairs.keys && s->grp_pairs.n) {
        memset(s->grp_pairs.keys, 0, s->grp_pairs.nslots * sizeof *s->grp_pairs.keys);
        s->grp_pairs.n = 0;
    }
    s->grp_nv = 0;
    s->n_grp_keys = 0;
    if (++s->grp_stamp == 0) { /* wrapped: forget the old stamps */
        if (s->key_stamp) memset(s->key_stamp, 0, s->nids * sizeof *s->key_stamp);
        s->grp_stamp = 1;
    }
}

static int cmp_key(const void *a, const void *b)
{
    const kx_key *x = a, *y = b;
    return key_cmp(x->bytes, x->len, y->bytes, y->len);
}

/* Ranking of 03 §4: count descending, then digram bytewise ascending. */
static int cmp_ranked(const void *a, const void *b)
{
    const smap_entry *x = *(const smap_entry *const *)a, *y = *(const smap_entry *const *)b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return key_cmp(x->key.bytes, x->key.len, y->key.bytes, y->key.len);
}

static kx_key key_dup(const kx_key *k)
{
    kx_key d = {kx_strndup(k->bytes, k->len), k->len};
    return d;
}

void kx_fsel_finish(kx_fsel *s, int top_k, kx_feat_selection *out)
{
    memset(out, 0, sizeof *out);
    out->rows_v = s->rows_v;
    out->rows_f = s->rows_f;
    out->users_with_v = (size_t)s->users_with_v;

    out->n_unigrams = s->unigrams.n;
    out->unigrams = kx_calloc(s->unigrams.n ? s->unigrams.n : 1, sizeof *out->unigrams);
    for (size_t i = 0; i < s->unigrams.n; i++) out->unigrams[i] = key_dup(&s->unigrams.items[i].key);
    kx_qsort(out->unigrams, out->n_unigrams, sizeof *out->unigrams, cmp_key);

    /* I = digrams present in every qualifying user's set. */
    smap_entry **inter = kx_calloc(s->digrams.n ? s->digrams.n : 1, sizeof *inter);
    size_t ni = 0;
    for (size_t i = 0; i < s->digrams.n; i++)
        if (s->users_with_v > 0 && s->digrams.items[i].users == s->users_with_v) inter[ni++] = &s->digrams.items[i];
    kx_qsort(inter, ni, sizeof *inter, cmp_ranked);
    out->intersection_size = ni;
    size_t nsel = top_k < 0 ? 0 : ((size_t)top_k < ni ? (size_t)top_k : ni);
    out->n_digrams = nsel;
    out->digrams = kx_calloc(nsel ? nsel : 1, sizeof *out->digrams);
    out->digram_counts = kx_calloc(nsel ? nsel : 1, sizeof *out->digram_counts);
    for (size_t j = 0; j < nsel; j++) {
        out->digrams[j] = key_dup(&inter[j]->key);
        out->digram_counts[j] = inter[j]->count;
    }
    free(inter);
    smap_free(&s->unigrams);
    smap_free(&s->digrams);
    if (s->grp_pairs.keys) pmap_free(&s->grp_pairs);
    if (s->pair_entry.keys) pmap_free(&s->pair_entry);
    free(s->key_stamp);
    free(s->in_unigrams);
    free(s->grp_keys);
    free(s);
}

void kx_feat_selection_free(kx_feat_selection *sel)
{
    for (size_t i = 0; i < sel->n_unigrams; i++) free(sel->unigrams[i].bytes);
    for (size_t j = 0; j < sel->n_digrams; j++) free(sel->digrams[j].bytes);
    free(sel->unigrams);
    free(sel->digrams);
    free(sel->digram_counts);
    memset(sel, 0, sizeof *sel);
}

/* ---- feature tables -------------------------------------------------------------------------- */
void kx_ftable_init(kx_ftable *t, kx_flevel level, size_t nfeat)
{
    memset(t, 0, sizeof *t);
    t->level = level;
    t->nfeat = nfeat;
    t->cols = kx_calloc(nfeat ? nfeat : 1, sizeof *t->cols);
}

void kx_ftable_free(kx_ftable *t)
{
    for (size_t c = 0; c < t->nfeat; c++) free(t->cols[c]);
    free(t->cols);
    free(t->uids);
    free(t->platform);
    free(t->session);
    free(t->video);
    memset(t, 0, sizeof *t);
}

static void ftable_reserve(kx_ftable *t, size_t need)
{
    if (need <= t->cap) return;
    size_t cap = kx_grown_cap(t->cap, need, 8);
    t->uids = kx_realloc(t->uids, cap * sizeof *t->uids);
    t->platform = kx_realloc(t->platform, cap * sizeof *t->platform);
    t->session = kx_realloc(t->session, cap * sizeof *t->session);
    t->video = kx_realloc(t->video, cap * sizeof *t->video);
    for (size_t c = 0; c < t->nfeat; c++) t->cols[c] = kx_realloc(t->cols[c], cap * sizeof **t->cols);
    t->cap = cap;
}

size_t kx_ftable_add_row(kx_ftable *t, const char *uid, int64_t p, int64_t s, int64_t v)
{
    ftable_reserve(t, t->nrows + 1);
    size_t r = t->nrows++;
    snprintf(t->uids[r], sizeof t->uids[r], "%s", uid);
    t->platform[r] = p;
    t->session[r] = t->level >= KX_FL_SESSION ? s : 0;
    t->video[r] = t->level >= KX_FL_VIDEO ? v : 0;
    for (size_t c = 0; c < t->nfeat; c++) t->cols[c][r] = NAN;
    return r;
}

void kx_ftable_append(kx_ftable *dst, const kx_ftable *src)
{
    ftable_reserve(dst, dst->nrows + src->nrows);
    size_t at = dst->nrows, n = src->nrows;
    if (n == 0) return;
    memcpy(dst->uids + at, src->uids, n * sizeof *src->uids);
    memcpy(dst->platform + at, src->platform, n * sizeof *src->platform);
    memcpy(dst->session + at, src->session, n * sizeof *src->session);
    memcpy(dst->video + at, src->video, n * sizeof *src->video);
    for (size_t c = 0; c < dst->nfeat; c++) memcpy(dst->cols[c] + at, src->cols[c], n * sizeof **src->cols);
    dst->nrows += n;
}

static int row_cmp(const kx_ftable *t, size_t a, size_t b)
{
    int c = strcmp(t->uids[a], t->uids[b]);
    if (c) return c;
    if (t->platform[a] != t->platform[b]) return t->platform[a] < t->platform[b] ? -1 : 1;
    if (t->session[a] != t->session[b]) return t->session[a] < t->session[b] ? -1 : 1;
    if (t->video[a] != t->video[b]) return t->video[a] < t->video[b] ? -1 : 1;
    return 0;
}

/* A row's sort key with its index: the comparator needs no context (qsort has none in C11). */
typedef struct row_key {
    const char *uid;
    int64_t platform, session, video;
    size_t row;
} row_key;

static int cmp_row_key(const void *a, const void *b)
{
    const row_key *x = a, *y = b;
    int c = strcmp(x->uid, y->uid);
    if (c) return c;
    if (x->platform != y->platform) return x->platform < y->platform ? -1 : 1;
    if (x->session != y->session) return x->session < y->session ? -1 : 1;
    if (x->video != y->video) return x->video < y->video ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

#define PERMUTE(arr, type)                                               \
    do {                                                                 \
        type *tmp_ = kx_malloc((n ? n : 1) * sizeof *tmp_);             \
        for (size_t i_ = 0; i_ < n; i_++) memcpy(&tmp_[i_], &(arr)[perm[i_]], sizeof *tmp_); \
        memcpy((arr), tmp_, n * sizeof *tmp_);                           \
        free(tmp_);                                                      \
    } while (0)

void kx_ftable_sort(kx_ftable *t)
{
    size_t n = t->nrows;
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++) sorted = row_cmp(t, i - 1, i) <= 0;
    if (sorted) return;
    /* Only reached for an unsorted input table. */
    row_key *keys = kx_malloc(n * sizeof *keys);
    for (size_t i = 0; i < n; i++) keys[i] = (row_key){t->uids[i], t->platform[i], t->session[i], t->video[i], i};
    kx_qsort(keys, n, sizeof *keys, cmp_row_key);
    size_t *perm = kx_malloc(n * sizeof *perm);
    for (size_t i = 0; i < n; i++) perm[i] = keys[i].row;
    free(keys);
    typedef char uid_t_[KX_UID_LEN + 1];
    PERMUTE(t->uids, uid_t_);
    PERMUTE(t->platform, int64_t);
    PERMUTE(t->session, int64_t);
    PERMUTE(t->video, int64_t);
    for (size_t c = 0; c < t->nfeat; c++) PERMUTE(t->cols[c], double);
    free(perm);
}

/* ---- pass 2: one user's groups --------------------------------------------------------------- */
typedef struct frow {
    int32_t p, s, v;
    uint32_t idx; /* row index in the user's table order (stable tie-break) */
} frow;

static int cmp_frow(const void *a, const void *b)
{
    const frow *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? -1 : 1;
    if (x->s != y->s) return x->s < y->s ? -1 : 1;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

typedef struct fsample {
    uint32_t feat; /* unigram i, or n_unigrams + digram j */
    double value;
} fsample;

/* Index of key k in the sorted unigram list, or -1. */
static int32_t find_unigram(const kx_feat_selection *sel, const kx_key *k)
{
    size_t lo = 0, hi = sel->n_unigrams;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(sel->unigrams[mid].bytes, sel->unigrams[mid].len, k->bytes, k->len);
        if (c == 0) return (int32_t)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static int32_t find_digram(const kx_feat_selection *sel, const kx_key *k1, const kx_key *k2)
{
    for (size_t j = 0; j < sel->n_digrams; j++) {
        const kx_key *d = &sel->digrams[j];
        if (d->len == k1->len + k2->len && !memcmp(d->bytes, k1->bytes, k1->len) &&
            !memcmp(d->bytes + k1->len, k2->bytes, k2->len))
            return (int32_t)j;
    }
    return -1;
}

/* The samples of one group, grouped by feature and sorted within each feature: feature f's
 * values are vals[start[f] .. start[f + 1]) in ascending order. */
typedef struct fsamples {
    double *vals;
    size_t *start; /* nf + 1 offsets */
} fsamples;

static void fsamples_free(fsamples *g)
{
    free(g->vals);
    free(g->start);
}

/* Samples of the video group rows[a..b): grouped by feature with a counting sort (a
 * comparison sort of the samples cost a third of the stage), then each feature's values
 * sorted. Features in ascending order, values in row order before the sort. */
static void video_samples(const kx_feat_selection *sel, const kx_user_keypairs *u, const frow *rows, size_t a,
                          size_t b, const int32_t *uni_of_key, const int32_t *dig_of_row, fsample **scratch,
                          size_t *scratch_cap, fsamples *out)
{
    size_t ns = 0;
    *scratch = kx_grow(*scratch, scratch_cap, 2 * (b - a) + 1, sizeof **scratch);
    for (size_t i = a; i < b; i++) {
        const kx_keypair *r = &u->rows[rows[i].idx];
        int32_t ui = r->key1 >= 0 ? uni_of_key[r->key1] : -1;
        if (ui >= 0 && !isnan(r->hl)) (*scratch)[ns++] = (fsample){(uint32_t)ui, r->hl};
        int32_t dj = dig_of_row[rows[i].idx];
        if (dj >= 0 && !isnan(r->il)) (*scratch)[ns++] = (fsample){(uint32_t)(sel->n_unigrams + (size_t)dj), r->il};
    }
    size_t nf = sel->n_unigrams + sel->n_digrams;
    size_t *start = kx_calloc(nf + 2, sizeof *start);
    for (size_t i = 0; i < ns; i++) start[(*scratch)[i].feat + 2]++;
    for (size_t f = 0; f < nf; f++) start[f + 2] += start[f + 1];
    double *vals = kx_malloc((ns ? ns : 1) * sizeof *vals);
    for (size_t i = 0; i < ns; i++) vals[start[(*scratch)[i].feat + 1]++] = (*scratch)[i].value;
    /* start[f + 1] is now the end of feature f, start[f] its beginning */
    for (size_t f = 0; f < nf; f++) kx_sort_doubles(vals + start[f], start[f + 1] - start[f]);
    out->vals = vals;
    out->start = start;
}

/* Samples of a group made of the consecutive child groups kids[0..nk) (the sessions of a
 * platform, the videos of a session): each feature's sorted runs merged stably in child
 * order, which is exactly the sorted sample a sort of the whole group's rows would give,
 * without sorting every sample again at each level. */
static void merge_samples(size_t nf, const fsamples *kids, size_t nk, double **tmp, size_t *tmp_cap,
                          fsamples *out)
{
    size_t *start = kx_calloc(nf + 2, sizeof *start);
    for (size_t f = 0; f < nf; f++) {
        size_t len = 0;
        for (size_t k = 0; k < nk; k++) len += kids[k].start[f + 1] - kids[k].start[f];
        start[f + 1] = start[f] + len;
    }
    double *vals = kx_malloc((start[nf] ? start[nf] : 1) * sizeof *vals);
    *tmp = kx_grow(*tmp, tmp_cap, start[nf] + 1, sizeof **tmp);
    for (size_t f = 0; f < nf; f++) {
        double *dst = vals + start[f];
        size_t have = 0; /* merged so far, in dst */
        for (size_t k = 0; k < nk; k++) {
            const double *run = kids[k].vals + kids[k].start[f];
            size_t n = kids[k].start[f + 1] - kids[k].start[f];
            if (!n) continue;
            if (!have) memcpy(dst, run, n * sizeof *dst);
            else {
                memcpy(*tmp, dst, have * sizeof *dst);
                kx_merge_doubles(*tmp, have, run, n, dst);
            }
            have += n;
        }
    }
    out->vals = vals;
    out->start = start;
}

/* A new row of t with the statistics of g. */
static void emit_row(size_t nf, const fsamples *g, const char *uid, const frow *first, kx_ftable *t)
{
    size_t row = kx_ftable_add_row(t, uid, first->p, first->s, first->v);
    for (size_t f = 0; f < nf; f++) {
        size_t cnt = g->start[f + 1] - g->start[f];
        if (!cnt) continue;
        double st[KX_ST_COUNT];
        kx_stats5_sorted(g->vals + g->start[f], cnt, st);
        for (int k = 0; k < KX_ST_COUNT; k++) t->cols[f * KX_ST_COUNT + (size_t)k][row] = st[k];
    }
}

/* Sorts rows (built in table order, so idx ascending) by (p, s, v, idx). A keystroke file's
 * rows share (p, s, v) and are contiguous, so the rows form a few runs; sorting the runs by
 * (p, s, v, first idx) and concatenating them gives exactly the row sort (runs never
 * interleave in idx) at a fraction of the comparisons. */
static void sort_frows(frow *rows, size_t n)
{
    size_t nruns = 0;
    for (size_t i = 0; i < n; i++)
        if (!i || rows[i].p != rows[i - 1].p || rows[i].s != rows[i - 1].s || rows[i].v != rows[i - 1].v) nruns++;
    if (nruns * 4 > n) { /* short runs: the plain row sort */
        kx_qsort(rows, n, sizeof *rows, cmp_frow);
        return;
    }
    frow *heads = kx_malloc((nruns ? nruns : 1) * sizeof *heads); /* idx field: run start in rows */
    size_t *len = kx_malloc((n ? n : 1) * sizeof *len);
    for (size_t i = 0, r = 0; i < n; i++) {
        if (!i || rows[i].p != rows[i - 1].p || rows[i].s != rows[i - 1].s || rows[i].v != rows[i - 1].v) {
            heads[r] = (frow){rows[i].p, rows[i].s, rows[i].v, (uint32_t)i};
            len[i] = 0;
            r++;
        }
        len[heads[r - 1].idx]++;
    }
    /* (p, s, v, start) orders runs like (p, s, v, first idx): idx grows with the start. */
    kx_qsort(heads, nruns, sizeof *heads, cmp_frow);
    frow *out = kx_malloc((n ? n : 1) * sizeof *out);
    size_t at = 0;
    for (size_t r = 0; r < nruns; r++) {
        memcpy(out + at, rows + heads[r].idx, len[heads[r].idx] * sizeof *out);
        at += len[heads[r].idx];
    }
    memcpy(rows, out, n * sizeof *rows);
    free(out);
    free(len);
    free(heads);
}

void kx_features_user(const kx_feat_selection *sel, bool keep_outliers, const kx_user_keypairs *u,
                      kx_fuser *out)
{
    size_t nfeat = kx_feat_ncols(sel);
    for (int l = 0; l < KX_FL_COUNT; l++) kx_ftable_init(&out->t[l], (kx_flevel)l, nfeat);

    size_t nkeys = u->keys.n;
    int32_t *uni_of_key = kx_malloc((nkeys ? nkeys : 1) * sizeof *uni_of_key);
    for (size_t k = 0; k < nkeys; k++) uni_of_key[k] = find_unigram(sel, &u->keys.keys[k]);

    /* Digram index of every F row (via a per-pair cache: few distinct pairs, many rows). */
    int32_t *dig_of_row = kx_malloc((u->n ? u->n : 1) * sizeof *dig_of_row);
    frow *rows = kx_malloc((u->n ? u->n : 1) * sizeof *rows);
    size_t nf = 0;
    pmap cache;
    pmap_init(&cache, 256);
    for (size_t i = 0; i < u->n; i++) {
        const kx_keypair *r = &u->rows[i];
        dig_of_row[i] = -1;
        if (!kx_row_in_f(r, keep_outliers)) continue;
        rows[nf++] = (frow){r->platform_id, r->session_id, r->video_id, (uint32_t)i};
        if (r->key1 < 0 || r->key2 < 0 || sel->n_digrams == 0) continue;
        bool fresh;
        int64_t *slot = pmap_slot(&cache, r->key1, r->key2, &fresh);
        if (fresh) *slot = find_digram(sel, &u->keys.keys[r->key1], &u->keys.keys[r->key2]);
        dig_of_row[i] = (int32_t)*slot;
    }
    pmap_free(&cache);
    sort_frows(rows, nf);

    /* Runs of equal (p), (p,s), (p,s,v) in the sorted rows are the groups of each level:
     * each video group's samples are sorted once, sessions and platforms merge them. */
    size_t nfe = sel->n_unigrams + sel->n_digrams;
    fsample *scratch = NULL;
    double *tmp = NULL;
    size_t scratch_cap = 0, tmp_cap = 0;
    fsamples *vids = NULL, *sess = NULL;
    size_t vids_cap = 0, sess_cap = 0;
    for (size_t pa = 0; pa < nf;) {
        size_t pb = pa, nsess = 0;
        while (pb < nf && rows[pb].p == rows[pa].p) pb++;
        for (size_t sa = pa; sa < pb;) {
            size_t sb = sa, nvid = 0;
            while (sb < pb && rows[sb].s == rows[sa].s) sb++;
            for (size_t va = sa; va < sb;) {
                size_t vb = va;
                while (vb < sb && rows[vb].v == rows[va].v) vb++;
                vids = kx_grow(vids, &vids_cap, nvid + 1, sizeof *vids);
                video_samples(sel, u, rows, va, vb, uni_of_key, dig_of_row, &scratch, &scratch_cap, &vids[nvid]);
                emit_row(nfe, &vids[nvid], u->user_id, &rows[va], &out->t[KX_FL_VIDEO]);
                nvid++;
                va = vb;
            }
            sess = kx_grow(sess, &sess_cap, nsess + 1, sizeof *sess);
            merge_samples(nfe, vids, nvid, &tmp, &tmp_cap, &sess[nsess]);
            emit_row(nfe, &sess[nsess], u->user_id, &rows[sa], &out->t[KX_FL_SESSION]);
            nsess++;
            for (size_t k = 0; k < nvid; k++) fsamples_free(&vids[k]);
            sa = sb;
        }
        fsamples plat;
        merge_samples(nfe, sess, nsess, &tmp, &tmp_cap, &plat);
        emit_row(nfe, &plat, u->user_id, &rows[pa], &out->t[KX_FL_PLATFORM]);
        fsamples_free(&plat);
        for (size_t k = 0; k < nsess; k++) fsamples_free(&sess[k]);
        pa = pb;
    }
    free(vids);
    free(sess);
    free(scratch);
    free(tmp);
    free(rows);
    free(dig_of_row);
    free(uni_of_key);
}

void kx_fuser_free(kx_fuser *f)
{
    for (int l = 0; l < KX_FL_COUNT; l++) kx_ftable_free(&f->t[l]);
}

/* ---- imputation ------------------------------------------------------------------------------ */
const char *const kx_istrategy_names[KX_IS_COUNT] = {"user_mean", "global_mean", "zero"};
const char *const kx_istrategy_reasons[KX_IS_COUNT] = {"Missing digram in this context", "No user mean available",
                                                      "No mean available"};

void kx_ftable_level_text(const kx_ftable *t, size_t row, char out[80])
{
    char s[24] = "", v[24] = "";
    if (t->level >= KX_FL_SESSION) snprintf(s, sizeof s, "%lld", (long long)t->session[row]);
    if (t->level >= KX_FL_VIDEO) snprintf(v, sizeof v, "%lld", (long long)t->video[row]);
    snprintf(out, 80, "p%lld_s%s_v%s", (long long)t->platform[row], s, v);
}

/* Per-table imputation context: the user ordinal of every row (rows of one user are
 * contiguous) and that user's slot in the first-appearance list (or -1). */
typedef struct impute_ctx {
    kx_impute_summary *sum;
    const kx_ftable *t;
    size_t *user_of_row;
    ptrdiff_t *slot_of_user;
} impute_ctx;

static void record(impute_ctx *ic, size_t row, size_t col, kx_istrategy st, double value)
{
    kx_impute_summary *sum = ic->sum;
    if (sum->by_strategy[st]++ == 0) sum->strategy_order[sum->n_strategies++] = st;
    sum->total++;
    sum->by_feature[col]++;
    ptrdiff_t *slot = &ic->slot_of_user[ic->user_of_row[row]];
    if (*slot < 0) {
        sum->users = kx_grow(sum->users, &sum->users_cap, sum->n_users + 1, sizeof *sum->users);
        sum->user_counts = kx_realloc(sum->user_counts, sum->users_cap * sizeof *sum->user_counts);
        snprintf(sum->users[sum->n_users], sizeof sum->users[0], "%s", ic->t->uids[row]);
        sum->user_counts[sum->n_users] = 0;
        *slot = (ptrdiff_t)sum->n_users++;
    }
    sum->user_counts[*slot]++;
    if (sum->n_details < KX_IMPUTE_DETAILS) sum->details[sum->n_details++] = (kx_irecord){row, col, st, value};
}

static void impute_column(kx_ftable *t, size_t col, impute_ctx *ic, uint8_t *was_missing)
{
    double *x = t->cols[col];
    size_t n = t->nrows, missing = 0;
    for (size_t r = 0; r < n; r++) missing += (was_missing[r] = (uint8_t)isnan(x[r]));
    if (missing == 0) return;
    /* Step 1: user means from the cells present before any filling (rows of a user are
     * contiguous because the table is sorted by user). */
    for (size_t a = 0; a < n;) {
        size_t b = a;
        kx_nsum s;
        kx_nsum_init(&s);
        size_t cnt = 0;
        while (b < n && strcmp(t->uids[b], t->uids[a]) == 0) {
            if (!was_missing[b]) {
                kx_nsum_add(&s, x[b]);
                cnt++;
            }
            b++;
        }
        if (cnt > 0) {
            double um = kx_nsum_value(&s) / (double)cnt;
            for (size_t r = a; r < b; r++)
                if (was_missing[r]) {
                    x[r] = um;
                    record(ic, r, col, KX_IS_USER_MEAN, um);
                }
        }
        a = b;
    }
    /* Step 2 / 3: global mean over the cells present now, else zero. */
    kx_nsum g;
    kx_nsum_init(&g);
    size_t present = 0;
    for (size_t r = 0; r < n; r++)
        if (!isnan(x[r])) {
            kx_nsum_add(&g, x[r]);
            present++;
        }
    if (present == n) return;
    kx_istrategy st = present > 0 ? KX_IS_GLOBAL_MEAN : KX_IS_ZERO;
    double fill = present > 0 ? kx_nsum_value(&g) / (double)present : 0.0;
    for (size_t r = 0; r < n; r++)
        if (isnan(x[r])) {
            x[r] = fill;
            record(ic, r, col, st, fill);
        }
}

void kx_ftable_impute(kx_ftable *t, kx_impute_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    sum->by_feature = kx_calloc(t->nfeat ? t->nfeat : 1, sizeof *sum->by_feature);
    size_t n = t->nrows ? t->nrows : 1;
    impute_ctx ic = {sum, t, kx_malloc(n * sizeof(size_t)), kx_malloc(n * sizeof(ptrdiff_t))};
    size_t nusers = 0;
    for (size_t r = 0; r < t->nrows; r++) {
        if (r > 0 && strcmp(t->uids[r], t->uids[r - 1]) != 0) nusers++;
        ic.user_of_row[r] = nusers;
    }
    for (size_t k = 0; k < n; k++) ic.slot_of_user[k] = -1;
    uint8_t *was_missing = kx_malloc(n);
    for (size_t c = 0; c < t->nfeat; c++) impute_column(t, c, &ic, was_missing);
    free(was_missing);
    free(ic.user_of_row);
    free(ic.slot_of_user);
}

void kx_impute_summary_free(kx_impute_summary *sum)
{
    free(sum->by_feature);
    free(sum->users);
    free(sum->user_counts);
    memset(sum, 0, sizeof *sum);
}
