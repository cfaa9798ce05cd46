/* eda.c — accumulators and the analysis_results.json document (spec 05 §7.1). */
#include "core/eda.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/sort.h"

const char *const kx_eda_feature_names[KX_EDA_NFEAT] = {"HL", "IL", "PL", "RL"};

const char *const kx_eda_modifier_keys[] = {
    "Key.alt",   "Key.alt_l",    "Key.alt_r",      "Key.caps_lock", "Key.cmd",    "Key.cmd_l",
    "Key.cmd_r", "Key.ctrl",     "Key.ctrl_l",     "Key.ctrl_r",    "Key.fn",     "Key.option",
    "Key.option_l", "Key.option_r", "Key.shift",   "Key.shift_l",   "Key.shift_r", "Key.tab",
    "Key.win",   "Key.win_l",    "Key.win_r",
};
const size_t kx_eda_modifier_count = sizeof kx_eda_modifier_keys / sizeof kx_eda_modifier_keys[0];

bool kx_eda_is_modifier(const char *key, size_t len)
{
    /* Called for every negative-IL row: reject by the common "Key." prefix first, then
     * compare lengths (computed once) before bytes. */
    static _Thread_local size_t lens[32];
    if (!key || len < 4 || memcmp(key, "Key.", 4)) return false;
    if (!lens[0])
        for (size_t i = 0; i < kx_eda_modifier_count; i++) lens[i] = strlen(kx_eda_modifier_keys[i]);
    for (size_t i = 0; i < kx_eda_modifier_count; i++)
        if (lens[i] == len && !memcmp(kx_eda_modifier_keys[i] + 4, key + 4, len - 4)) return true;
    return false;
}

/* ---- small containers ---------------------------------------------------------------------- */

/* Exact multiset of doubles: a value -> count hash map (keys by bit pattern). Timing values
 * are differences of integer millisecond timestamps in practice, so the distinct values are
 * few (thousands) even for 10^8 rows; memory is proportional to the distinct values, and
 * every order statistic stays exact. kx_eda_results sorts it (vcmap_finish): then v[] is
 * ascending (ties of equal value, i.e. -0.0/+0.0, by bit pattern) and cum[i] = number of
 * values <= v[i]. */
typedef struct vcmap {
    double *v;
    int64_t *c, *cum;
    size_t n, cap;
    uint32_t *slots; /* index + 1, 0 = empty */
    size_t nslots;
    int64_t total;
} vcmap;

static uint64_t dbl_bits(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static size_t vc_hash(uint64_t b)
{
    b ^= b >> 33;
    b *= 0xff51afd7ed558ccdULL;
    b ^= b >> 33;
    b *= 0xc4ceb9fe1a85ec53ULL;
    b ^= b >> 33;
    return (size_t)b;
}

static void vcmap_rehash(vcmap *m, size_t nslots)
{
    free(m->slots);
    m->slots = kx_calloc(nslots, sizeof *m->slots);
    m->nslots = nslots;
    for (size_t i = 0; i < m->n; i++) {
        size_t h = vc_hash(dbl_bits(m->v[i])) & (nslots - 1);
        while (m->slots[h]) h = (h + 1) & (nslots - 1);
        m->slots[h] = (uint32_t)(i + 1);
    }
}

static void vcmap_add(vcmap *m, double x)
{
    m->total++;
    if ((m->n + 1) * 2 > m->nslots) vcmap_rehash(m, m->nslots ? m->nslots * 2 : 256);
    uint64_t b = dbl_bits(x);
    size_t h = vc_hash(b) & (m->nslots - 1);
    while (m->slots[h]) {
        size_t i = m->slots[h] - 1;
        if (dbl_bits(m->v[i]) == b) {
            m->c[i]++;
            return;
        }
        h = (h + 1) & (m->nslots - 1);
    }
    if (m->n == m->cap) {
        size_t cap = m->cap;
        m->v = kx_grow(m->v, &cap, m->n + 1, sizeof *m->v);
        m->c = kx_realloc(m->c, cap * sizeof *m->c);
        m->cap = cap;
    }
    m->v[m->n] = x;
    m->c[m->n] = 1;
    m->slots[h] = (uint32_t)(++m->n);
}

static void vcmap_free(vcmap *m)
{
    free(m->v);
    free(m->c);
    free(m->cum);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

typedef struct vc_pair {
    double v;
    int64_t c;
} vc_pair;

static int vc_pair_cmp(const void *pa, const void *pb)
{
    const vc_pair *a = pa, *b = pb;
    if (a->v != b->v) return a->v < b->v ? -1 : 1;
    uint64_t x = dbl_bits(a->v), y = dbl_bits(b->v);
    return x < y ? 1 : x > y ? -1 : 0; /* -0.0 (sign bit set) first */
}

static void vcmap_finish(vcmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->nslots = 0;
    vc_pair *p = kx_malloc((m->n ? m->n : 1) * sizeof *p);
    for (size_t i = 0; i < m->n; i++) p[i] = (vc_pair){m->v[i], m->c[i]};
    if (m->n) kx_qsort(p, m->n, sizeof *p, vc_pair_cmp);
    m->cum = kx_malloc((m->n ? m->n : 1) * sizeof *m->cum);
    int64_t run = 0;
    for (size_t i = 0; i < m->n; i++) {
        m->v[i] = p[i].v;
        m->c[i] = p[i].c;
        m->cum[i] = run += p[i].c;
    }
    free(p);
}

/* Counting map from byte strings to counts, on the interning table of core/keypair.h:
 * entry i is key i of `keys` (insertion order) with its value in v[i]. */
typedef struct cnt_val {
    int64_t count;
    uint8_t flag; /* e.g. "expected" for negative-IL patterns */
} cnt_val;

typedef struct cntmap {
    kx_keytab keys;
    cnt_val *v;
    size_t n, cap;
} cntmap;

/* One entry of a ranked view (cntmap_ranked). */
typedef struct cnt_entry {
    const char *s;
    size_t len;
    int64_t count;
    uint8_t flag;
} cnt_entry;

static void cntmap_free(cntmap *m)
{
    kx_keytab_free(&m->keys);
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* Adds inc to the count of s (a new entry starts at 0); returns the entry's index. */
static size_t cntmap_add(cntmap *m, const void *s, size_t len, int64_t inc)
{
    size_t i = (size_t)kx_keytab_intern(&m->keys, s, len);
    if (i == m->n) {
        m->v = kx_grow(m->v, &m->cap, m->n + 1, sizeof *m->v);
        m->v[m->n++] = (cnt_val){0, 0};
    }
    m->v[i].count += inc;
    return i;
}

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

/* Count descending, then text bytewise. */
static int cnt_entry_cmp(const void *pa, const void *pb)
{
    const cnt_entry *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return bytes_cmp(a->s, a->len, b->s, b->len);
}

/* The entries in ranking order (strings point into m); caller frees the array. */
static cnt_entry *cntmap_ranked(const cntmap *m)
{
    cnt_entry *r = kx_malloc((m->n ? m->n : 1) * sizeof *r);
    for (size_t i = 0; i < m->n; i++)
        r[i] = (cnt_entry){m->keys.keys[i].bytes, m->keys.keys[i].len, m->v[i].count, m->v[i].flag};
    kx_qsort(r, m->n, sizeof *r, cnt_entry_cmp);
    return r;
}

/* ---- accumulator ----------------------------------------------------------------------------- */

typedef struct user_rec {
    char id[KX_UID_LEN + 1];
    int64_t total, valid, invalid, outliers;
    int64_t neg_il, neg_il_expected, neg_rl;
    int64_t hl_rows, extreme; /* valid rows with HL; of those HL > 5000 */
    char *top_il;             /* "k1→k2, …" (≤ 3) */
} user_rec;

typedef struct extreme_row {
    double hl;
    size_t user;    /* index into users */
    char *key1;     /* NULL = missing key */
    char *key2;
    size_t device;  /* index into devices */
    int32_t session, video;
    size_t order;   /* table order */
} extreme_row;

struct kx_eda {
    user_rec *users;
    size_t nusers, capusers;
    cntmap cur_il; /* negative-IL patterns of the last user added (per-user top 3) */

    char **devices;
    size_t ndevices, capdevices;

    vcmap values[KX_EDA_NFEAT]; /* exact value -> count multisets */
    double sums[KX_EDA_NFEAT];
    int64_t negatives[KX_EDA_NFEAT], zeros[KX_EDA_NFEAT];

    int64_t total, valid;
    int64_t neg_il, neg_il_expected, neg_rl, neg_rl_with_il;
    cntmap il_patterns, rl_patterns;

    extreme_row *extremes;
    size_t nextremes, capextremes;
    int64_t hl_rows;
    size_t row_order;

    /* quality scan */
    size_t files_read;
    kx_eda_issue issue_order[KX_EDA_NISSUE]; /* first-seen order over all files */
    int64_t issue_counts[KX_EDA_NISSUE];      /* by order position */
    size_t nissue_types;
    json_t *unreleased;

    cntmap consent; /* user id -> index into consent_ts */
    char **consent_ts;
    size_t nconsent, capconsent;

    bool finished;
};

kx_eda *kx_eda_new(void)
{
    kx_eda *e = kx_calloc(1, sizeof *e);
    e->unreleased = json_object();
    return e;
}

void kx_eda_free(kx_eda *e)
{
    if (!e) return;
    for (size_t i = 0; i < e->nusers; i++) free(e->users[i].top_il);
    free(e->users);
    cntmap_free(&e->cur_il);
    for (size_t i = 0; i < e->ndevices; i++) free(e->devices[i]);
    free(e->devices);
    for (int f = 0; f < KX_EDA_NFEAT; f++) vcmap_free(&e->values[f]);
    cntmap_free(&e->il_patterns);
    cntmap_free(&e->rl_patterns);
    for (size_t i = 0; i < e->nextremes; i++) {
        free(e->extremes[i].key1);
        free(e->extremes[i].key2);
    }
    free(e->extremes);
    json_decref(e->unreleased);
    cntmap_free(&e->consent);
    for (size_t i = 0; i < e->nconsent; i++) free(e->consent_ts[i]);
    free(e->consent_ts);
    free(e);
}

static size_t device_index(kx_eda *e, const char *dev)
{
    if (!dev) dev = "";
    for (size_t i = 0; i < e->ndevices; i++)
        if (!strcmp(e->devices[i], dev)) return i;
    if (e->ndevices == e->capdevices)
        e->devices = kx_grow(e->devices, &e->capdevices, e->ndevices + 1, sizeof *e->devices);
    e->devices[e->ndevices] = kx_strdup(dev);
    return e->ndevices++;
}

/* The per-user "k1→k2, k1→k2, k1→k2" string from cur_il, then clears cur_il. */
static void finish_user_patterns(kx_eda *e)
{
    if (!e->nusers) return;
    user_rec *u = &e->users[e->nusers - 1];
    cnt_entry *r = cntmap_ranked(&e->cur_il);
    kx_buf b = KX_BUF_INIT;
    for (size_t i = 0; i < e->cur_il.n && i < 3; i++) {
        if (i) kx_buf_puts(&b, ", ");
        kx_buf_put(&b, r[i].s, r[i].len);
    }
    free(r);
    free(u->top_il);
    u->top_il = b.len ? kx_buf_steal(&b) : kx_strdup("");
    kx_buf_free(&b);
    cntmap_free(&e->cur_il);
}

static user_rec *user_for(kx_eda *e, const char *id)
{
    if (e->nusers && !strcmp(e->users[e->nusers - 1].id, id)) return &e->users[e->nusers - 1];
    finish_user_patterns(e);
    if (e->nusers == e->capusers) e->users = kx_grow(e->users, &e->capusers, e->nusers + 1, sizeof *e->users);
    user_rec *u = &e->users[e->nusers++];
    memset(u, 0, sizeof *u);
    snprintf(u->id, sizeof u->id, "%s", id);
    return u;
}

static void key_text(const kx_user_keypairs *u, int32_t id, const char **s, size_t *n)
{
    const kx_key *k = kx_keytab_get(&u->keys, id);
    *s = k ? k->bytes : NULL;
    *n = k ? k->len : 0;
}

/* Negative IL / RL bookkeeping for one valid row. */
static void add_negatives(kx_eda *e, user_rec *ur, const kx_user_keypairs *u, const kx_keypair *r)
{
    const char *k1, *k2;
    size_t n1, n2;
    key_text(u, r->key1, &k1, &n1);
    key_text(u, r->key2, &k2, &n2);
    bool both = k1 && k2;
    kx_buf t = KX_BUF_INIT;
    if (r->il < 0) {
        bool expected = kx_eda_is_modifier(k1, n1);
        e->neg_il++;
        ur->neg_il++;
        if (expected) e->neg_il_expected++, ur->neg_il_expected++;
        if (both) {
            kx_buf_put(&t, k1, n1);
            kx_buf_puts(&t, " \xe2\x86\x92 ");
            kx_buf_put(&t, k2, n2);
            size_t pi = cntmap_add(&e->il_patterns, t.data, t.len, 1); /* may move v */
            e->il_patterns.v[pi].flag = expected;
            kx_buf_reset(&t);
            kx_buf_put(&t, k1, n1);
            kx_buf_puts(&t, "\xe2\x86\x92");
            kx_buf_put(&t, k2, n2);
            cntmap_add(&e->cur_il, t.data, t.len, 1);
            kx_buf_reset(&t);
        }
    }
    if (r->rl < 0) {
        e->neg_rl++;
        ur->neg_rl++;
        if (r->il < 0) e->neg_rl_with_il++;
        if (both) {
            kx_buf_put(&t, k1, n1);
            kx_buf_puts(&t, " \xe2\x86\x92 ");
            kx_buf_put(&t, k2, n2);
            cntmap_add(&e->rl_patterns, t.data, t.len, 1);
        }
    }
    kx_buf_free(&t);
}

static void add_extreme(kx_eda *e, size_t user, const kx_user_keypairs *u, const kx_keypair *r)
{
    if (e->nextremes == e->capextremes)
        e->extremes = kx_grow(e->extremes, &e->capextremes, e->nextremes + 1, sizeof *e->extremes);
    extreme_row *x = &e->extremes[e->nextremes++];
    const kx_key *k1 = kx_keytab_get(&u->keys, r->key1), *k2 = kx_keytab_get(&u->keys, r->key2);
    x->hl = r->hl;
    x->user = user;
    x->key1 = k1 ? kx_strndup(k1->bytes, k1->len) : NULL;
    x->key2 = k2 ? kx_strndup(k2->bytes, k2->len) : NULL;
    x->device = device_index(e, u->device_type);
    x->session = r->session_id;
    x->video = r->video_id;
    x->order = e->row_order;
}

void kx_eda_add_user(kx_eda *e, const kx_user_keypairs *u)
{
    if (e->finished || u->n == 0) return;
    user_rec *ur = user_for(e, u->user_id);
    size_t uidx = (size_t)(ur - e->users);
    device_index(e, u->device_type);
    for (size_t i = 0; i < u->n; i++, e->row_order++) {
        const kx_keypair *r = &u->rows[i];
        e->total++;
        ur->total++;
        if (!r->valid) {
            ur->invalid++;
            continue;
        }
        e->valid++;
        ur->valid++;
        if (r->outlier) ur->outliers++;
        const double v[KX_EDA_NFEAT] = {r->hl, r->il, r->pl, r->rl};
        for (int f = 0; f < KX_EDA_NFEAT; f++) {
            if (isnan(v[f])) continue;
            vcmap_add(&e->values[f], v[f]);
            e->sums[f] += v[f];
            if (v[f] < 0) e->negatives[f]++;
            if (v[f] == 0) e->zeros[f]++;
        }
        add_negatives(e, ur, u, r);
        if (!isnan(r->hl)) {
            e->hl_rows++;
            ur->hl_rows++;
            if (r->hl > KX_EDA_EXTREME_HL_MS) {
                ur->extreme++;
                add_extreme(e, uidx, u, r);
            }
        }
    }
}

/* Object member whose name is arbitrary bytes (sanitised per 04 §1, as jansson needs UTF-8). */
static void obj_set_bytes_key(json_t *obj, const char *k, size_t len, json_t *value)
{
    json_t *ks = kx_json_strn(k, len);
    json_object_set_new(obj, json_string_value(ks), value);
    json_decref(ks);
}

/* ---- quality scan (01 §2 events) ---------------------------------------------------------------- */

typedef struct ord_event {
    kx_eda_event ev;
    size_t idx;
} ord_event;

static int ord_event_cmp(const void *pa, const void *pb)
{
    const ord_event *a = pa, *b = pb;
    if (a->ev.time != b->ev.time) return a->ev.time < b->ev.time ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

void kx_eda_sort_events(kx_eda_event *events, size_t n)
{
    size_t i = 1;
    while (i < n && !(events[i].time < events[i - 1].time)) i++;
    if (i >= n) return; /* already in time order: the stable sort is the identity */
    ord_event *o = kx_malloc(n * sizeof *o);
    for (i = 0; i < n; i++) o[i] = (ord_event){events[i], i};
    kx_qsort(o, n, sizeof *o, ord_event_cmp);
    for (i = 0; i < n; i++) events[i] = o[i].ev;
    free(o);
}

static bool quality_ignored(const kx_eda_event *ev)
{
    static const struct {
        const char *s;
        uint32_t len;
    } ignored[] = {{"Key.shift", 9}, {"Key.ctrl", 8}, {"Key.alt", 7}, {"Key.cmd", 7}, {"Key.caps_lock", 13}};
    if (!ev->key || ev->key_len < 7 || ev->key[0] != 'K') return false; /* most events: a letter */
    for (size_t i = 0; i < 5; i++)
        if (ignored[i].len == ev->key_len && !memcmp(ignored[i].s, ev->key, ev->key_len)) return true;
    return false;
}

const char *const kx_eda_issue_names[KX_EDA_NISSUE] = {"double_press", "orphan_release", "negative_hold_time"};

/* Counts one issue of a file, keeping the file's first-seen order of types. */
static void count_issue(kx_eda_file_check *c, kx_eda_issue type)
{
    for (size_t i = 0; i < c->nissue; i++)
        if (c->issue_order[i] == type) {
            c->issue_counts[i]++;
            return;
        }
    c->issue_order[c->nissue] = type;
    c->issue_counts[c->nissue++] = 1;
}

static long find_down(const kx_eda_down_key *d, size_t n, const kx_eda_event *ev)
{
    for (size_t i = 0; i < n; i++)
        if (d[i].key_len == ev->key_len && (!d[i].key_len || !memcmp(d[i].key, ev->key, d[i].key_len))) return (long)i;
    return -1;
}

void kx_eda_check_file(kx_eda_event *events, size_t n, kx_eda_file_check *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < n; i++)
        if (!events[i].key) events[i].key_len = 0;
    kx_eda_sort_events(events, n);

    kx_eda_down_key *down = kx_malloc((n ? n : 1) * sizeof *down); /* keys down, in the order they went down */
    size_t ndown = 0;
    for (size_t i = 0; i < n; i++) {
        const kx_eda_event *ev = &events[i];
        if (quality_ignored(ev)) continue;
        long at = find_down(down, ndown, ev);
        if (ev->press) {
            if (at >= 0) {
                count_issue(c, KX_EDA_DOUBLE_PRESS);
                down[at].time = ev->time; /* keeps its place, like a dict update */
            } else {
                down[ndown++] = (kx_eda_down_key){ev->key_len ? ev->key : NULL, ev->key_len, ev->time};
            }
        } else if (at < 0) {
            count_issue(c, KX_EDA_ORPHAN_RELEASE);
        } else {
            if (ev->time < down[at].time) count_issue(c, KX_EDA_NEGATIVE_HOLD_TIME);
            memmove(&down[at], &down[at + 1], (ndown - (size_t)at - 1) * sizeof *down);
            ndown--;
        }
    }
    c->unreleased = down;
    c->nunreleased = ndown;
}

/* quality_ignored by key bytes (NULL: the missing key). */
static bool quality_ignored_key(const kx_key *k)
{
    if (!k) return false;
    kx_eda_event ev = {k->bytes, k->len, false, 0};
    return quality_ignored(&ev);
}

typedef struct ord_keyed {
    double time;
    size_t idx;
} ord_keyed;

static int ord_keyed_cmp(const void *pa, const void *pb)
{
    const ord_keyed *a = pa, *b = pb;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* The stable time order of kx_eda_sort_events, as indexes (NULL: ev is in order already). */
static size_t *keyed_order(const kx_ks_keyed_event *ev, size_t n)
{
    size_t i = 1;
    while (i < n && !(ev[i].time < ev[i - 1].time)) i++;
    if (i >= n) return NULL;
    ord_keyed *o = kx_malloc(n * sizeof *o);
    for (i = 0; i < n; i++) o[i] = (ord_keyed){ev[i].time, i};
    kx_qsort(o, n, sizeof *o, ord_keyed_cmp);
    size_t *idx = kx_malloc(n * sizeof *idx);
    for (i = 0; i < n; i++) idx[i] = o[i].idx;
    free(o);
    return idx;
}

typedef struct down_id {
    int32_t key;
    double time;
} down_id;

void kx_eda_check_keyed(const kx_ks_keyed_event *ev, size_t n, const kx_keytab *keys, kx_eda_file_check *c)
{
    memset(c, 0, sizeof *c);
    size_t *order = keyed_order(ev, n);
    down_id *down = kx_malloc((n ? n : 1) * sizeof *down); /* keys down, in the order they went down */
    size_t ndown = 0;
    /* quality_ignored per key slot (key + 1): 0 not known yet, 1 checked, 2 ignored */
    uint8_t *ignored = kx_calloc(keys->n + 1, 1);
    for (size_t j = 0; j < n; j++) {
        const kx_ks_keyed_event *e = &ev[order ? order[j] : j];
        uint8_t *ig = &ignored[e->key + 1];
        if (!*ig) *ig = quality_ignored_key(kx_keytab_get(keys, e->key)) ? 2 : 1;
        if (*ig == 2) continue;
        long at = -1;
        for (size_t i = 0; i < ndown; i++)
            if (down[i].key == e->key) {
                at = (long)i;
                break;
            }
        if (e->press) {
            if (at >= 0) {
                count_issue(c, KX_EDA_DOUBLE_PRESS);
                down[at].time = e->time; /* keeps its place, like a dict update */
            } else {
                down[ndown++] = (down_id){e->key, e->time};
            }
        } else if (at < 0) {
            count_issue(c, KX_EDA_ORPHAN_RELEASE);
        } else {
            if (e->time < down[at].time) count_issue(c, KX_EDA_NEGATIVE_HOLD_TIME);
            memmove(&down[at], &down[at + 1], (ndown - (size_t)at - 1) * sizeof *down);
            ndown--;
        }
    }
    free(order);
    free(ignored);
    if (ndown) {
        c->unreleased = kx_malloc(ndown * sizeof *c->unreleased);
        for (size_t i = 0; i < ndown; i++) {
            const kx_key *k = kx_keytab_get(keys, down[i].key);
            c->unreleased[i] = (kx_eda_down_key){k ? k->bytes : NULL, k ? k->len : 0, down[i].time};
        }
        c->nunreleased = ndown;
    }
    free(down);
}

void kx_eda_file_check_free(kx_eda_file_check *c)
{
    free(c->unreleased);
    c->unreleased = NULL;
    c->nunreleased = 0;
}

void kx_eda_add_file_check(kx_eda *e, const char *user_id, const char *file_name, const kx_eda_file_check *c)
{
    e->files_read++;
    for (size_t k = 0; k < c->nissue; k++) {
        size_t i = 0;
        while (i < e->nissue_types && e->issue_order[i] != c->issue_order[k]) i++;
        if (i == e->nissue_types) {
            e->issue_order[e->nissue_types++] = c->issue_order[k];
            e->issue_counts[i] = 0;
        }
        e->issue_counts[i] += c->issue_counts[k];
    }
    if (c->nunreleased) {
        json_t *keys = json_object();
        for (size_t i = 0; i < c->nunreleased; i++) {
            const kx_eda_down_key *d = &c->unreleased[i];
            obj_set_bytes_key(keys, d->key_len ? d->key : "", d->key_len, kx_json_num(d->time));
        }
        char *label = kx_asprintf("%s_%s", user_id, file_name);
        obj_set_bytes_key(e->unreleased, label, strlen(label), keys);
        free(label);
    }
}

void kx_eda_add_clean_files(kx_eda *e, size_t n) { e->files_read += n; }

void kx_eda_scan_file(kx_eda *e, const char *user_id, const char *file_name, kx_eda_event *events, size_t n)
{
    kx_eda_file_check c;
    kx_eda_check_file(events, n, &c);
    kx_eda_add_file_check(e, user_id, file_name, &c);
    kx_eda_file_check_free(&c);
}

void kx_eda_set_consent(kx_eda *e, const char *user_id, const char *timestamp)
{
    size_t before = e->consent.n;
    size_t i = cntmap_add(&e->consent, user_id, strlen(user_id), 0);
    if (e->consent.n == before) return;
    e->consent.v[i].count = (int64_t)e->nconsent;
    if (e->nconsent == e->capconsent)
        e->consent_ts = kx_grow(e->consent_ts, &e->capconsent, e->nconsent + 1, sizeof *e->consent_ts);
    e->consent_ts[e->nconsent++] = kx_strdup(timestamp ? timestamp : "");
}

static const char *consent_of(kx_eda *e, const char *user_id)
{
    int32_t i = kx_keytab_find(&e->consent.keys, user_id, strlen(user_id));
    return i < 0 ? "" : e->consent_ts[e->consent.v[i].count];
}

/* ---- statistics helpers ----------------------------------------------------------------------- */

double kx_eda_quantile(const double *x, size_t n, double p)
{
    double h = (double)(n - 1) * p;
    size_t lo = (size_t)floor(h);
    size_t hi = lo + 1 < n ? lo + 1 : n - 1;
    return x[lo] + (h - (double)lo) * (x[hi] - x[lo]);
}

double kx_eda_value_at(const double *v, const int64_t *cum, size_t n, int64_t k)
{
    size_t lo = 0, hi = n - 1; /* first i with cum[i] > k */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > k) hi = mid;
        else lo = mid + 1;
    }
    return v[lo];
}

double kx_eda_wquantile(const double *v, const int64_t *cum, size_t n, double p)
{
    int64_t total = cum[n - 1];
    double h = (double)(total - 1) * p;
    int64_t lo = (int64_t)floor(h);
    int64_t hi = lo + 1 < total ? lo + 1 : total - 1;
    double xlo = kx_eda_value_at(v, cum, n, lo), xhi = kx_eda_value_at(v, cum, n, hi);
    return xlo + (h - (double)lo) * (xhi - xlo);
}

double kx_eda_round1(double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.1f", v);
    return strtod(buf, NULL);
}

static int dbl_cmp(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return a < b ? -1 : a > b;
}

static double sample_std(const double *x, size_t n, double mean)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
    return sqrt(ss / (double)(n - 1));
}

/* part / whole × 100, in that order: it reproduces the reference values of the spec (V0907
 * validity 99.97376824418616; 100 × part / whole gives ...18 in the last digits). */
static double pct(int64_t part, int64_t whole) { return whole ? (double)part / (double)whole * 100.0 : 0.0; }

/* ---- JSON sections ----------------------------------------------------------------------------- */

static json_t *summary_json(const kx_eda *e)
{
    json_t *s = json_object();
    json_object_set_new(s, "total_keypairs", json_integer(e->total));
    json_object_set_new(s, "valid_keypairs", json_integer(e->valid));
    json_object_set_new(s, "invalid_keypairs", json_integer(e->total - e->valid));
    json_object_set_new(s, "validity_rate", json_real(pct(e->valid, e->total)));
    json_object_set_new(s, "unique_users", json_integer((json_int_t)e->nusers));
    json_t *d = json_array();
    for (size_t i = 0; i < e->ndevices; i++) json_array_append_new(d, kx_json_str(e->devices[i]));
    json_object_set_new(s, "device_types", d);
    return s;
}

/* The mean is summed in table order; the std's squared deviations are summed per distinct
 * value in ascending order (count × d²), which can differ from a row-by-row sum in the last
 * bits only. Quantiles are exact order statistics of the multiset. */
static json_t *feature_stats_json(kx_eda *e, int f)
{
    vcmap *d = &e->values[f];
    json_t *s = json_object();
    json_object_set_new(s, "count", json_integer((json_int_t)d->total));
    if (!d->total) return s;
    double mean = e->sums[f] / (double)d->total;
    double std = NAN;
    if (d->total > 1) {
        double ss = 0;
        for (size_t i = 0; i < d->n; i++) ss += (double)d->c[i] * ((d->v[i] - mean) * (d->v[i] - mean));
        std = sqrt(ss / (double)(d->total - 1));
    }
    json_object_set_new(s, "mean", kx_json_num(mean));
    json_object_set_new(s, "std", kx_json_num(std));
    json_object_set_new(s, "min", kx_json_num(d->v[0]));
    json_object_set_new(s, "max", kx_json_num(d->v[d->n - 1]));
    json_object_set_new(s, "median", kx_json_num(kx_eda_wquantile(d->v, d->cum, d->n, 0.5)));
    json_object_set_new(s, "q25", kx_json_num(kx_eda_wquantile(d->v, d->cum, d->n, 0.25)));
    json_object_set_new(s, "q75", kx_json_num(kx_eda_wquantile(d->v, d->cum, d->n, 0.75)));
    json_object_set_new(s, "negative_count", json_integer(e->negatives[f]));
    json_object_set_new(s, "zero_count", json_integer(e->zeros[f]));
    json_object_set_new(s, "outlier_threshold_low", kx_json_num(kx_eda_wquantile(d->v, d->cum, d->n, 0.01)));
    json_object_set_new(s, "outlier_threshold_high", kx_json_num(kx_eda_wquantile(d->v, d->cum, d->n, 0.99)));
    return s;
}

static json_t *patterns_json(const cntmap *m, bool with_type)
{
    json_t *a = json_array();
    cnt_entry *r = cntmap_ranked(m);
    for (size_t i = 0; i < m->n && i < 15; i++) {
        json_t *p = json_object();
        json_object_set_new(p, "pattern", kx_json_strn(r[i].s, r[i].len));
        json_object_set_new(p, "count", json_integer(r[i].count));
        if (with_type) json_object_set_new(p, "type", json_string(r[i].flag ? "expected" : "unexpected"));
        json_array_append_new(a, p);
    }
    free(r);
    return a;
}

static int user_id_cmp(const void *pa, const void *pb)
{
    const user_rec *a = *(user_rec *const *)pa, *b = *(user_rec *const *)pb;
    return strcmp(a->id, b->id);
}

static json_t *negative_json(kx_eda *e, user_rec **by_id)
{
    json_t *n = json_object(), *s = json_object();
    int64_t with_valid = 0, with_il = 0, with_rl = 0;
    for (size_t i = 0; i < e->nusers; i++) {
        with_valid += e->users[i].valid > 0;
        with_il += e->users[i].neg_il > 0;
        with_rl += e->users[i].neg_rl > 0;
    }
    json_object_set_new(s, "total_users", json_integer(with_valid));
    json_object_set_new(s, "users_with_negative_il", json_integer(with_il));
    json_object_set_new(s, "users_with_negative_rl", json_integer(with_rl));
    json_t *mods = json_array();
    for (size_t i = 0; i < kx_eda_modifier_count; i++) json_array_append_new(mods, json_string(kx_eda_modifier_keys[i]));
    json_object_set_new(s, "modifier_keys", mods);
    json_object_set_new(n, "summary", s);

    json_t *il = json_object();
    json_object_set_new(il, "total_count", json_integer(e->neg_il));
    json_object_set_new(il, "expected_count", json_integer(e->neg_il_expected));
    json_object_set_new(il, "unexpected_count", json_integer(e->neg_il - e->neg_il_expected));
    json_object_set_new(il, "top_patterns", patterns_json(&e->il_patterns, true));
    json_object_set_new(n, "negative_IL", il);

    json_t *rl = json_object();
    json_object_set_new(rl, "total_count", json_integer(e->neg_rl));
    json_object_set_new(rl, "with_negative_IL", json_integer(e->neg_rl_with_il));
    json_object_set_new(rl, "standalone", json_integer(e->neg_rl - e->neg_rl_with_il));
    json_object_set_new(rl, "top_patterns", patterns_json(&e->rl_patterns, false));
    json_object_set_new(n, "negative_RL", rl);

    json_t *us = json_array();
    for (size_t i = 0; i < e->nusers; i++) {
        const user_rec *u = by_id[i];
        if (!u->neg_il && !u->neg_rl) continue;
        json_t *o = json_object();
        json_object_set_new(o, "user_id", kx_json_str(u->id));
        json_object_set_new(o, "total_keypairs", json_integer(u->valid));
        json_object_set_new(o, "negative_il_total", json_integer(u->neg_il));
        json_object_set_new(o, "negative_il_expected", json_integer(u->neg_il_expected));
        json_object_set_new(o, "negative_il_unexpected", json_integer(u->neg_il - u->neg_il_expected));
        json_object_set_new(o, "negative_il_percent", json_real(kx_eda_round1(pct(u->neg_il, u->valid))));
        json_object_set_new(o, "negative_rl_total", json_integer(u->neg_rl));
        json_object_set_new(o, "negative_rl_percent", json_real(kx_eda_round1(pct(u->neg_rl, u->valid))));
        json_object_set_new(o, "top_il_patterns", kx_json_str(u->top_il ? u->top_il : ""));
        json_object_set_new(o, "timestamp", kx_json_str(consent_of(e, u->id)));
        json_array_append_new(us, o);
    }
    json_object_set_new(n, "user_summary", us);
    return n;
}

/* HL descending, ties in table order. */
static int extreme_cmp(const void *pa, const void *pb)
{
    const extreme_row *a = pa, *b = pb;
    if (a->hl != b->hl) return a->hl > b->hl ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static json_t *key_or_null(const char *k) { return k ? kx_json_str(k) : json_null(); }

static json_t *extreme_json(kx_eda *e, user_rec **by_id)
{
    json_t *x = json_object();
    size_t n = e->nextremes;
    json_object_set_new(x, "threshold_ms", json_integer((json_int_t)KX_EDA_EXTREME_HL_MS));
    json_object_set_new(x, "total_extreme_count", json_integer((json_int_t)n));
    json_object_set_new(x, "percentage_of_valid", json_real(pct((int64_t)n, e->hl_rows)));
    /* statistics over the HL values in table order (deterministic summation) */
    double *hl = kx_malloc((n ? n : 1) * sizeof *hl);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += hl[i] = e->extremes[i].hl;
    if (n) kx_qsort(e->extremes, n, sizeof *e->extremes, extreme_cmp);
    json_t *cases = json_array();
    for (size_t i = 0; i < n && i < 50; i++) {
        const extreme_row *r = &e->extremes[i];
        json_t *c = json_object();
        json_object_set_new(c, "user_id", kx_json_str(e->users[r->user].id));
        json_object_set_new(c, "key", key_or_null(r->key1));
        json_object_set_new(c, "hl_ms", kx_json_num(r->hl));
        json_object_set_new(c, "hl_seconds", kx_json_num(r->hl / 1000.0));
        json_object_set_new(c, "next_key", key_or_null(r->key2));
        json_object_set_new(c, "device_type", kx_json_str(e->devices[r->device]));
        json_object_set_new(c, "session_id", json_integer(r->session));
        json_object_set_new(c, "video_id", json_integer(r->video));
        json_array_append_new(cases, c);
    }
    json_object_set_new(x, "extreme_cases", cases);
    if (!n) {
        free(hl);
        return x;
    }

    cntmap keys = {0};
    for (size_t i = 0; i < n; i++) {
        const char *k = e->extremes[i].key1 ? e->extremes[i].key1 : "";
        cntmap_add(&keys, k, strlen(k), 1);
    }
    double mean = sum / (double)n;
    double std = n > 1 ? sample_std(hl, n, mean) : NAN;
    kx_qsort(hl, n, sizeof *hl, dbl_cmp);
    cnt_entry *kr = cntmap_ranked(&keys);
    json_t *kd = json_object();
    for (size_t i = 0; i < keys.n && i < 20; i++) {
        obj_set_bytes_key(kd, kr[i].s, kr[i].len, json_integer(kr[i].count));
    }
    free(kr);
    cntmap_free(&keys);
    json_object_set_new(x, "key_distribution", kd);

    json_t *st = json_object();
    json_object_set_new(st, "mean_ms", kx_json_num(mean));
    json_object_set_new(st, "median_ms", kx_json_num(kx_eda_quantile(hl, n, 0.5)));
    json_object_set_new(st, "max_ms", kx_json_num(hl[n - 1]));
    json_object_set_new(st, "max_seconds", kx_json_num(hl[n - 1] / 1000.0));
    json_object_set_new(st, "min_ms", kx_json_num(hl[0]));
    json_object_set_new(st, "std_ms", kx_json_num(std));
    json_object_set_new(x, "extreme_stats", st);
    free(hl);

    int64_t affected = 0, with_hl = 0;
    for (size_t i = 0; i < e->nusers; i++) {
        affected += e->users[i].extreme > 0;
        with_hl += e->users[i].hl_rows > 0;
    }
    json_t *us = json_object();
    json_object_set_new(us, "users_with_extreme_hl", json_integer(affected));
    json_object_set_new(us, "total_users", json_integer(with_hl));
    json_object_set_new(us, "percentage_users_affected", json_real(pct(affected, with_hl)));
    json_object_set_new(x, "user_stats", us);

    /* users_most_affected: count descending, then id (by_id is id-sorted; stable pick) */
    cntmap ua = {0};
    for (size_t i = 0; i < e->nusers; i++)
        if (by_id[i]->extreme) cntmap_add(&ua, by_id[i]->id, strlen(by_id[i]->id), by_id[i]->extreme);
    cnt_entry *ur = cntmap_ranked(&ua);
    json_t *ma = json_array();
    for (size_t i = 0; i < ua.n && i < 10; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "user_id", kx_json_strn(ur[i].s, ur[i].len));
        json_object_set_new(o, "count", json_integer(ur[i].count));
        json_array_append_new(ma, o);
    }
    free(ur);
    cntmap_free(&ua);
    json_object_set_new(x, "users_most_affected", ma);
    return x;
}

static json_t *user_stat_json(const user_rec *u)
{
    json_t *o = json_object();
    json_object_set_new(o, "user_id", kx_json_str(u->id));
    json_object_set_new(o, "total_keypairs", json_integer(u->total));
    json_object_set_new(o, "valid_keypairs", json_integer(u->valid));
    json_object_set_new(o, "invalid_keypairs", json_integer(u->invalid));
    json_object_set_new(o, "validity_rate", json_real(pct(u->valid, u->total)));
    json_object_set_new(o, "outlier_count", json_integer(u->outliers));
    json_object_set_new(o, "outlier_rate", json_real(pct(u->outliers, u->valid)));
    return o;
}

static int validity_cmp(const void *pa, const void *pb)
{
    const user_rec *a = *(user_rec *const *)pa, *b = *(user_rec *const *)pb;
    double va = pct(a->valid, a->total), vb = pct(b->valid, b->total);
    if (va != vb) return va > vb ? -1 : 1;
    return strcmp(a->id, b->id);
}

static json_t *user_stats_json(kx_eda *e, user_rec **by_id)
{
    json_t *s = json_object();
    for (size_t i = 0; i < e->nusers; i++) obj_set_bytes_key(s, by_id[i]->id, strlen(by_id[i]->id), user_stat_json(by_id[i]));
    user_rec **by_rate = kx_malloc((e->nusers ? e->nusers : 1) * sizeof *by_rate);
    memcpy(by_rate, by_id, e->nusers * sizeof *by_rate);
    kx_qsort(by_rate, e->nusers, sizeof *by_rate, validity_cmp);
    json_t *all = json_array();
    for (size_t i = 0; i < e->nusers; i++) json_array_append_new(all, user_stat_json(by_rate[i]));
    free(by_rate);
    json_object_set_new(s, "all_users", all);
    return s;
}

static json_t *quality_json(const kx_eda *e, int64_t *total_issues)
{
    *total_issues = 0;
    if (!e->files_read) return json_null();
    json_t *q = json_object(), *c = json_object();
    for (size_t i = 0; i < e->nissue_types; i++) {
        *total_issues += e->issue_counts[i];
        json_object_set_new(c, kx_eda_issue_names[e->issue_order[i]], json_integer(e->issue_counts[i]));
    }
    json_object_set_new(q, "total_issues", json_integer(*total_issues));
    json_object_set_new(q, "issue_counts", c);
    json_object_set_new(q, "unreleased_keys", json_incref(e->unreleased));
    return q;
}

static json_t *recommendations_json(const kx_eda *e, const json_t *timing, int64_t total_issues)
{
    json_t *r = json_array();
    double validity = pct(e->valid, e->total);
    if (validity < 90) {
        char *s = kx_asprintf("**Data Quality:** Validity rate is %.1f%%. Consider reviewing data collection procedures.",
                              validity);
        json_array_append_new(r, json_string(s));
        free(s);
    }
    if ((double)total_issues > 0.05 * (double)e->total) {
        char *s = kx_asprintf("**High Error Rate:** %lld quality issues detected. Investigate data collection "
                              "synchronization.", (long long)total_issues);
        json_array_append_new(r, json_string(s));
        free(s);
    }
    if (e->files_read && json_object_size(e->unreleased))
        json_array_append_new(r, json_string("**Unreleased Keys:** Multiple sessions have unreleased keys. May "
                                             "indicate incomplete data capture."));
    for (int f = 0; f < KX_EDA_NFEAT; f++) {
        json_t *neg = json_object_get(json_object_get(timing, kx_eda_feature_names[f]), "negative_count");
        if (!neg || json_integer_value(neg) <= 0) continue;
        char *s = kx_asprintf("**%s Timing:** %lld negative values detected. Check timestamp synchronization.",
                              kx_eda_feature_names[f], (long long)json_integer_value(neg));
        json_array_append_new(r, json_string(s));
        free(s);
    }
    if (!json_array_size(r))
        json_array_append_new(r, json_string("**Overall Assessment:** Data quality appears good. No major issues "
                                             "detected."));
    return r;
}

json_t *kx_eda_results(kx_eda *e, const kx_eda_meta *m)
{
    if (!e->finished) {
        finish_user_patterns(e);
        for (int f = 0; f < KX_EDA_NFEAT; f++) vcmap_finish(&e->values[f]);
    }
    e->finished = true;
    user_rec **by_id = kx_malloc((e->nusers ? e->nusers : 1) * sizeof *by_id);
    for (size_t i = 0; i < e->nusers; i++) by_id[i] = &e->users[i];
    kx_qsort(by_id, e->nusers, sizeof *by_id, user_id_cmp);

    json_t *doc = json_object();
    json_object_set_new(doc, "version_id", kx_json_str(m->version_id ? m->version_id : ""));
    json_object_set_new(doc, "timestamp", kx_json_str(m->timestamp ? m->timestamp : ""));
    json_object_set_new(doc, "summary", summary_json(e));
    json_t *timing = json_object();
    for (int f = 0; f < KX_EDA_NFEAT; f++)
        json_object_set_new(timing, kx_eda_feature_names[f], feature_stats_json(e, f));
    json_object_set_new(doc, "timing_stats", timing);
    json_object_set_new(doc, "negative_analysis", negative_json(e, by_id));
    json_object_set_new(doc, "extreme_hl_analysis", extreme_json(e, by_id));
    json_object_set_new(doc, "user_stats", user_stats_json(e, by_id));
    int64_t total_issues;
    json_object_set_new(doc, "quality_issues", quality_json(e, &total_issues));
    json_object_set_new(doc, "recommendations", recommendations_json(e, timing, total_issues));
    json_t *p = json_object();
    json_object_set_new(p, "keypairs", kx_json_str(m->path_keypairs ? m->path_keypairs : ""));
    json_object_set_new(p, "metadata", kx_json_str(m->path_metadata ? m->path_metadata : ""));
    json_object_set_new(p, "raw_data", kx_json_str(m->path_raw_data ? m->path_raw_data : ""));
    json_object_set_new(p, "analysis_results", kx_json_str(m->path_analysis_results ? m->path_analysis_results : ""));
    json_object_set_new(doc, "data_paths", p);
    free(by_id);
    return doc;
}

const double *kx_eda_distribution(const kx_eda *e, kx_eda_feature f, const int64_t **counts, const int64_t **cum,
                                  size_t *n)
{
    *n = e->values[f].n;
    *counts = e->values[f].c;
    *cum = e->values[f].cum;
    return e->values[f].v;
}
