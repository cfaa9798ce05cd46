/* kvc.c — see kvc.h. */
#include "core/kvc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/text.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/sort.h"

/* ---- key mapping ------------------------------------------------------------------------- */

void kx_kvc_keys_init(kx_kvc_keys *k)
{
    memset(k, 0, sizeof *k);
    kx_keytab_init(&k->tab);
}

void kx_kvc_keys_free(kx_kvc_keys *k)
{
    kx_keytab_free(&k->tab);
    free(k->code_of);
    free(k->id_of);
    memset(k, 0, sizeof *k);
}

/* Interns key bytes as later stages see them: keys read back from a table are valid UTF-8
 * already; in-memory keys with invalid bytes get the 04 §1 fallback first, so that the
 * mapping and its JSON agree (and equal strings share one code). */
static int32_t intern_clean(kx_keytab *t, const char *bytes, size_t len)
{
    if (kx_utf8_valid(bytes, len)) return kx_keytab_intern(t, bytes, len);
    kx_buf b = KX_BUF_INIT;
    kx_utf8_append_sanitized(&b, bytes, len);
    int32_t id = kx_keytab_intern(t, b.data, b.len);
    kx_buf_free(&b);
    return id;
}

void kx_kvc_keys_add_user(kx_kvc_keys *k, const kx_user_keypairs *u)
{
    /* Only keys that occur in rows count; mark the user's used key ids first so each
     * distinct key is interned once per user. */
    uint8_t *used = kx_calloc(u->keys.n ? u->keys.n : 1, 1);
    for (size_t i = 0; i < u->n; i++) {
        if (u->rows[i].key1 >= 0) used[u->rows[i].key1] = 1;
        if (u->rows[i].key2 >= 0) used[u->rows[i].key2] = 1;
    }
    for (size_t i = 0; i < u->keys.n; i++)
        if (used[i]) intern_clean(&k->tab, u->keys.keys[i].bytes, u->keys.keys[i].len);
    free(used);
}

void kx_kvc_keys_add(kx_kvc_keys *k, const char *bytes, size_t len)
{
    intern_clean(&k->tab, bytes, len);
}

static int key_cmp(const kx_key *a, const kx_key *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->bytes, b->bytes, n);
    if (c) return c;
    return (a->len > b->len) - (a->len < b->len);
}

typedef struct key_ref {
    const kx_key *key;
    int32_t id;
} key_ref;

static int ref_cmp(const void *a, const void *b)
{
    return key_cmp(((const key_ref *)a)->key, ((const key_ref *)b)->key);
}

void kx_kvc_keys_finalize(kx_kvc_keys *k)
{
    size_t n = k->tab.n;
    key_ref *refs = kx_malloc((n ? n : 1) * sizeof *refs);
    for (size_t i = 0; i < n; i++) refs[i] = (key_ref){&k->tab.keys[i], (int32_t)i};
    /* Keys are distinct, so the order is total and qsort's instability cannot show. */
    kx_qsort(refs, n, sizeof *refs, ref_cmp);
    k->id_of = kx_malloc((n ? n : 1) * sizeof *k->id_of);
    k->code_of = kx_malloc((n ? n : 1) * sizeof *k->code_of);
    for (size_t c = 0; c < n; c++) {
        k->id_of[c] = refs[c].id;
        k->code_of[refs[c].id] = (int64_t)c;
    }
    free(refs);
    k->count = n;
    k->final = true;
}

size_t kx_kvc_keys_count(const kx_kvc_keys *k) { return k->count; }

const kx_key *kx_kvc_key_at(const kx_kvc_keys *k, size_t code)
{
    return &k->tab.keys[k->id_of[code]];
}

int64_t kx_kvc_code_of(kx_kvc_keys *k, const char *bytes, size_t len)
{
    int32_t id = intern_clean(&k->tab, bytes, len);
    return (size_t)id < k->count ? k->code_of[id] : -1;
}

int kx_kvc_user_codes(kx_kvc_keys *k, const kx_user_keypairs *u, int64_t *codes, kx_err *err)
{
    size_t n = k->count;
    for (size_t i = 0; i < u->keys.n; i++) {
        int32_t id = intern_clean(&k->tab, u->keys.keys[i].bytes, u->keys.keys[i].len);
        if ((size_t)id >= n) {
            /* Not seen in pass 1: only possible for a key the user's table has but no row
             * uses (harmless, never looked up), or if the input changed between passes. */
            codes[i] = -1;
            continue;
        }
        codes[i] = k->code_of[id];
    }
    for (size_t i = 0; i < u->n; i++) {
        int32_t a = u->rows[i].key1, b = u->rows[i].key2;
        if ((a >= 0 && codes[a] < 0) || (b >= 0 && codes[b] < 0))
            return kx_fail(err, "user %s: key not in the key mapping (keypairs table changed "
                                "during the kvc stage?)", u->user_id);
    }
    return 0;
}

void kx_kvc_map_rows(const kx_user_keypairs *u, const int64_t *codes, int64_t *key1_mapped,
                     int64_t *key2_mapped)
{
    for (size_t i = 0; i < u->n; i++) {
        int32_t a = u->rows[i].key1, b = u->rows[i].key2;
        key1_mapped[i] = a >= 0 ? codes[a] : -1;
        key2_mapped[i] = b >= 0 ? codes[b] : -1;
    }
}

/* ---- sequences ----------------------------------------------------------------------------- */

void kx_kvc_seqs_init(kx_kvc_seqs *s) { memset(s, 0, sizeof *s); }

void kx_kvc_seqs_reset(kx_kvc_seqs *s, const char *user_id)
{
    for (size_t i = 0; i < s->n; i++) s->inputs[i].n = 0;
    s->n = 0;
    s->rows = 0;
    s->last = 0;
    snprintf(s->user_id, sizeof s->user_id, "%s", user_id);
}

void kx_kvc_seqs_free(kx_kvc_seqs *s)
{
    /* Inputs beyond n keep their row buffers for reuse; free up to cap. */
    for (size_t i = 0; i < s->cap; i++) free(s->inputs[i].rows);
    free(s->inputs);
    memset(s, 0, sizeof *s);
}

static kx_kvc_input *input_for(kx_kvc_seqs *s, int32_t platform_id, int32_t video_id, int32_t session_id)
{
    if (s->n) {
        kx_kvc_input *in = &s->inputs[s->last];
        if (in->platform_id == platform_id && in->video_id == video_id &&
            in->session_id == session_id)
            return in;
        /* Few inputs per user (18 in the study design): a linear scan is enough. */
        for (size_t i = 0; i < s->n; i++) {
            in = &s->inputs[i];
            if (in->platform_id == platform_id && in->video_id == video_id &&
                in->session_id == session_id) {
                s->last = i;
                return in;
            }
        }
    }
    size_t old_cap = s->cap;
    s->inputs = kx_grow(s->inputs, &s->cap, s->n + 1, sizeof *s->inputs);
    if (s->cap > old_cap) memset(s->inputs + old_cap, 0, (s->cap - old_cap) * sizeof *s->inputs);
    kx_kvc_input *in = &s->inputs[s->n];
    in->platform_id = platform_id;
    in->video_id = video_id;
    in->session_id = session_id;
    int len = snprintf(in->id, sizeof in->id, "%d_%d_%d", (int)platform_id, (int)video_id,
                       (int)session_id);
    in->id_len = (size_t)len;
    in->n = 0;
    s->last = s->n++;
    return in;
}

/* Times are integral ms; truncation toward zero is what int64 conversion does. */
static int to_i64(double v, int64_t *out)
{
    if (!isfinite(v) || v >= 9.2e18 || v <= -9.2e18) return -1;
    *out = (int64_t)v;
    return 0;
}

/* Appends one valid row [press, release, code] to its input group. */
static int add_row(kx_kvc_seqs *s, int32_t p, int32_t v, int32_t sess, double key1_press, double key1_release,
                   int64_t code, const char *uid, size_t row, kx_err *err)
{
    int64_t press, release;
    if (to_i64(key1_press, &press) != 0 || to_i64(key1_release, &release) != 0)
        return kx_fail(err, "user %s: valid keypair (row %zu of the user) without a finite "
                            "key1 press/release time", uid, row);
    kx_kvc_input *in = input_for(s, p, v, sess);
    in->rows = kx_grow(in->rows, &in->cap, 3 * (in->n + 1), sizeof *in->rows);
    int64_t *out = &in->rows[3 * in->n++];
    out[0] = press;
    out[1] = release;
    out[2] = code;
    s->rows++;
    return 0;
}

int kx_kvc_seqs_add(kx_kvc_seqs *s, const kx_user_keypairs *u, const int64_t *codes, kx_err *err)
{
    for (size_t i = 0; i < u->n; i++) {
        const kx_keypair *r = &u->rows[i];
        if (!r->valid) continue;
        if (add_row(s, r->platform_id, r->video_id, r->session_id, r->key1_press, r->key1_release,
                    r->key1 >= 0 ? codes[r->key1] : -1, u->user_id, i, err) != 0)
            return -1;
    }
    return 0;
}

int kx_kvc_seqs_add_rows(kx_kvc_seqs *s, const kx_kvc_rows *r, kx_err *err)
{
    for (size_t i = 0; i < r->n; i++) {
        if (!r->valid[i]) continue;
        if (add_row(s, (int32_t)r->platform_id[i], (int32_t)r->video_id[i], (int32_t)r->session_id[i],
                    r->key1_press[i], r->key1_release[i], r->key1_code[i], s->user_id, r->first_row + i, err) != 0)
            return -1;
    }
    return 0;
}

bool kx_kvc_is_test(const kx_kvc_input *in, int held_out) { return in->platform_id == held_out; }

void kx_kvc_split_count(kx_kvc_split_stats *st, const kx_kvc_seqs *s, int held_out)
{
    st->train_users++;
    st->test_users++;
    for (size_t i = 0; i < s->n; i++) {
        if (kx_kvc_is_test(&s->inputs[i], held_out)) st->test_samples++;
        else st->train_samples++;
    }
}
