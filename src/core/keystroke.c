/* keystroke.c — see keystroke.h. Rules cited as 01 §2 rule N and 02 §N. */
#include "core/keystroke.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/text.h"
#include "util/mem.h"

/* ---- lines ---------------------------------------------------------------------------------- */

void kx_ks_lines_init(kx_ks_lines *it, const char *buf, size_t n)
{
    it->p = buf;
    it->end = buf + n;
    it->lineno = 0;
    if (n >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB &&
        (unsigned char)buf[2] == 0xBF)
        it->p += 3; /* rule 1: a UTF-8 BOM at the very start is ignored */
}

static bool contains(const char *s, size_t n, const char *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (s[i] == needle[0] && memcmp(s + i, needle, m) == 0) return true;
    return false;
}

static bool is_header(const char *s, size_t n)
{
    return contains(s, n, "Press", 5) || contains(s, n, "Time", 4);
}

bool kx_ks_lines_next(kx_ks_lines *it, const char **line, size_t *len, long *lineno)
{
    while (it->p < it->end) {
        const char *s = it->p;
        const char *lf = memchr(s, '\n', (size_t)(it->end - s));
        size_t n;
        if (lf) {
            n = (size_t)(lf - s);
            it->p = lf + 1;
            if (n > 0 && s[n - 1] == '\r') n--; /* CR immediately before LF */
        } else {
            n = (size_t)(it->end - s);
            it->p = it->end;
            if (n > 0 && s[n - 1] == '\r') n--; /* CR as the last byte of the file */
        }
        it->lineno++;
        if (n == 0) continue;                              /* rule 3 */
        if (it->lineno == 1 && is_header(s, n)) continue; /* rule 2 */
        *line = s;
        *len = n;
        *lineno = it->lineno;
        return true;
    }
    return false;
}

/* ---- one line ------------------------------------------------------------------------------- */

const char *kx_ks_reason_code(kx_ks_reason r)
{
    switch (r) {
    case KX_KS_TOO_FEW_FIELDS: return "too_few_fields";
    case KX_KS_BAD_EVENT_TYPE: return "bad_event_type";
    case KX_KS_BAD_TIME: return "bad_time";
    default: return "";
    }
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Validates [+-]? (D | D. | D.D | .D) ([eE][+-]?D)? over the whole of s[0..n). Sets *simple
 * when the text is an optionally signed integer of at most 15 digits (exact in a double, so
 * it can be converted without strtod). */
static bool time_grammar(const char *s, size_t n, bool *simple)
{
    size_t i = 0, int_digits = 0, frac_digits = 0;
    bool has_dot = false, has_exp = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    while (i < n && is_digit(s[i])) i++, int_digits++;
    if (i < n && s[i] == '.') {
        has_dot = true;
        i++;
        while (i < n && is_digit(s[i])) i++, frac_digits++;
    }
    if (int_digits == 0 && frac_digits == 0) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        has_exp = true;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t exp_digits = 0;
        while (i < n && is_digit(s[i])) i++, exp_digits++;
        if (exp_digits == 0) return false;
    }
    if (i != n) return false;
    *simple = !has_dot && !has_exp && int_digits <= 15;
    return true;
}

/* If s[0..8) are 8 ASCII digits, their value (SWAR: pairs, then quads, then the eight). */
static inline bool eight_digits(const char *s, uint64_t *out)
{
    uint64_t v;
    memcpy(&v, s, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v); /* first character in the low byte */
#endif
    /* every byte in 0x30..0x39: high nibble 3, and adding 6 does not carry into it */
    if (((v & 0xF0F0F0F0F0F0F0F0u) | (((v + 0x0606060606060606u) & 0xF0F0F0F0F0F0F0F0u) >> 4)) !=
        0x3333333333333333u)
        return false;
    v -= 0x3030303030303030u;
    v = (v * 10 + (v >> 8)) & 0x00FF00FF00FF00FFu;       /* 4 two-digit numbers */
    v = (v * 100 + (v >> 16)) & 0x0000FFFF0000FFFFu;     /* 2 four-digit numbers */
    *out = (v * 10000 + (v >> 32)) & 0xFFFFFFFFu;        /* the eight-digit number */
    return true;
}

bool kx_ks_parse_time(const char *s, size_t n, double *out)
{
    /* Fast path: 1 to 15 plain digits (epoch milliseconds have 13), no sign, no spaces.
     * 8 to 15 digits: two overlapping 8-digit SWAR blocks, the first and the last 8 bytes
     * (value = first * 10^(n-8) + last mod 10^(n-8)). The general path below gives the
     * same value for this text. */
    static const uint64_t pow10[8] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
    uint64_t first, last;
    if (n >= 8 && n <= 15) {
        if (eight_digits(s, &first) && eight_digits(s + n - 8, &last)) {
            *out = (double)(first * pow10[n - 8] + last % pow10[n - 8]); /* < 10^15: exact */
            return true;
        }
    } else if (n - 1 < 7) {
        int64_t v = 0;
        size_t i = 0;
        for (; i < n; i++) {
            unsigned d = (unsigned)(unsigned char)s[i] - '0';
            if (d > 9) break;
            v = v * 10 + (int64_t)d;
        }
        if (i == n) {
            *out = (double)v;
            return true;
        }
    }
    while (n > 0 && (*s == ' ' || *s == '\t')) s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    bool simple;
    if (!time_grammar(s, n, &simple)) return false;
    if (simple) { /* the common case: epoch milliseconds, 13 digits */
        bool neg = s[0] == '-';
        size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
        int64_t v = 0;
        for (; i < n; i++) v = v * 10 + (s[i] - '0');
        double d = (double)v; /* < 10^15 < 2^53: exact */
        *out = neg ? -d : d;
        return true;
    }
    /* strtod needs a terminated copy; the grammar has already been checked, so strtod
     * consumes the whole text (C locale). */
    char small[128];
    char *tmp = n < sizeof small ? small : kx_malloc(n + 1);
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    double d = strtod(tmp, NULL);
    if (tmp != small) free(tmp);
    if (!isfinite(d)) return false;
    *out = d;
    return true;
}

kx_ks_reason kx_ks_parse_line(const char *line, size_t len, kx_ks_event *ev)
{
    const char *c1 = memchr(line, ',', len);
    if (!c1) return KX_KS_TOO_FEW_FIELDS;
    const char *c2 = line + len - 1;
    while (*c2 != ',') c2--; /* terminates at c1 at the latest */
    if (c2 == c1) return KX_KS_TOO_FEW_FIELDS;
    if (c1 - line != 1 || (line[0] != 'P' && line[0] != 'R')) return KX_KS_BAD_EVENT_TYPE;
    const char *t = c2 + 1;
    if (!kx_ks_parse_time(t, (size_t)(line + len - t), &ev->time)) return KX_KS_BAD_TIME;
    ev->press = line[0] == 'P';
    ev->key = c1 + 1;
    ev->key_len = (size_t)(c2 - c1 - 1);
    return KX_KS_OK;
}

uint32_t kx_unicode_upper_to_lower(uint32_t cp)
{
    size_t lo = 0, hi = kx_lowercase_table_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kx_lowercase_table[mid][0] < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < kx_lowercase_table_len && kx_lowercase_table[lo][0] == cp ? kx_lowercase_table[lo][1] : cp;
}

static size_t utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

const char *kx_ks_normalize_key(const char *key, size_t len, char buf[4], size_t *out_len)
{
    *out_len = len;
    if (len == 1) { /* ASCII fast path: only A–Z are Uppercase; a lone byte >= 0x80 is invalid */
        if (key[0] >= 'A' && key[0] <= 'Z') {
            buf[0] = (char)(key[0] + ('a' - 'A'));
            return buf;
        }
        return key;
    }
    if (len == 0 || len > 4) return key;
    const uint8_t *s = (const uint8_t *)key;
    size_t used;
    uint32_t cp = kx_utf8_decode(s, len, &used);
    if (used != len) return key; /* invalid UTF-8, or more than one code point */
    uint32_t low = kx_unicode_upper_to_lower(cp);
    if (low == cp) return key;
    *out_len = utf8_encode(low, buf);
    return buf;
}

/* ---- matching ------------------------------------------------------------------------------- */

struct kx_ks_press {
    double time;
    int32_t prev; /* the press below it on the same key's stack, -1 = bottom */
};

void kx_ks_work_init(kx_ks_work *w) { memset(w, 0, sizeof *w); }

void kx_ks_work_free(kx_ks_work *w)
{
    free(w->events);
    free(w->cache);
    free(w->strokes);
    free(w->tmp);
    free(w->presses);
    free(w->top);
    free(w->seen);
    free(w->order);
    memset(w, 0, sizeof *w);
}

/* Makes slot (key + 1) addressable in top[] / seen[]. */
static void ensure_slot(kx_ks_work *w, size_t slot)
{
    if (slot < w->slots_cap) return;
    size_t old = w->slots_cap, cap = old;
    w->top = kx_grow(w->top, &cap, slot + 1, sizeof *w->top);
    cap = old;
    w->seen = kx_grow(w->seen, &cap, slot + 1, sizeof *w->seen);
    for (size_t i = old; i < cap; i++) {
        w->top[i] = -1;
        w->seen[i] = 0;
    }
    w->slots_cap = cap;
}

static void append_stroke(kx_ks_work *w, int32_t key, double press, double release)
{
    if (w->nstrokes == w->strokes_cap)
        w->strokes = kx_grow(w->strokes, &w->strokes_cap, w->nstrokes + 1, sizeof *w->strokes);
    kx_keystroke *k = &w->strokes[w->nstrokes];
    k->press = press;
    k->release = release;
    k->sort_time = isnan(press) ? release : press;
    k->key = key;
    k->pos = (uint32_t)w->nstrokes;
    w->nstrokes++;
}

/* One event of the scan (02 §2 step 2). */
static void match_event(kx_ks_work *w, int32_t key, bool press, double time)
{
    size_t slot = (size_t)(key + 1);
    ensure_slot(w, slot);
    if (!w->seen[slot]) {
        w->seen[slot] = 1;
        w->order = kx_grow(w->order, &w->order_cap, w->norder + 1, sizeof *w->order);
        w->order[w->norder++] = (int32_t)slot;
    }
    if (press) {
        if (w->npresses == w->presses_cap)
            w->presses = kx_grow(w->presses, &w->presses_cap, w->npresses + 1, sizeof *w->presses);
        w->presses[w->npresses].time = time;
        w->presses[w->npresses].prev = w->top[slot];
        w->top[slot] = (int32_t)w->npresses++;
    } else if (w->top[slot] >= 0) {
        struct kx_ks_press *p = &w->presses[w->top[slot]];
        w->top[slot] = p->prev;
        append_stroke(w, key, p->time, time);
    } else {
        append_stroke(w, key, NAN, time); /* orphan release */
    }
}

/* 02 §2 step 3: leftover presses, keys in first-appearance order, most recent first. Also
 * resets the per-key state for the next file. */
static void flush_unmatched(kx_ks_work *w)
{
    for (size_t i = 0; i < w->norder; i++) {
        int32_t slot = w->order[i];
        for (int32_t p = w->top[slot]; p >= 0; p = w->presses[p].prev)
            append_stroke(w, slot - 1, w->presses[p].time, NAN);
        w->top[slot] = -1;
        w->seen[slot] = 0;
    }
    w->norder = 0;
    w->npresses = 0;
}

static bool stroke_before(const kx_keystroke *a, const kx_keystroke *b)
{
    return a->sort_time < b->sort_time || (a->sort_time == b->sort_time && a->pos < b->pos);
}

/* 02 §2 step 4: sort by (sort time, append position). Bottom-up merge sort; the explicit
 * tie-breaker makes the order total, so the result does not depend on sort stability. Files
 * are nearly sorted, so the common case is one linear check. */
static void sort_strokes(kx_ks_work *w)
{
    size_t n = w->nstrokes;
    size_t i = 1;
    while (i < n && stroke_before(&w->strokes[i - 1], &w->strokes[i])) i++;
    if (i >= n) return;
    w->tmp = kx_grow(w->tmp, &w->tmp_cap, n, sizeof *w->tmp);
    kx_keystroke *src = w->strokes, *dst = w->tmp;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) dst[o++] = stroke_before(&src[b], &src[a]) ? src[b++] : src[a++];
            while (a < mid) dst[o++] = src[a++];
            while (b < hi) dst[o++] = src[b++];
        }
        kx_keystroke *t = src;
        src = dst;
        dst = t;
    }
    if (src != w->strokes) { /* result is in tmp: swap the buffers */
        kx_keystroke *t = w->strokes;
        size_t c = w->strokes_cap;
        w->strokes = w->tmp;
        w->strokes_cap = w->tmp_cap;
        w->tmp = t;
        w->tmp_cap = c;
    }
}

/* ---- pairing (02 §3–§4) ------------------------------------------------------------------------ */

static void make_pair(const kx_keystroke *k1, const kx_keystroke *k2, const kx_kp_thresholds *th,
                      kx_keypair *r)
{
    bool k1_orphan = isnan(k1->press), k1_unmatched = isnan(k1->release);
    bool k2_orphan = isnan(k2->press), k2_unmatched = isnan(k2->release);
    bool k1_matched = !k1_orphan && !k1_unmatched, k2_matched = !k2_orphan && !k2_unmatched;
    r->key1 = k1->key;
    r->key2 = k2->key;
    r->key1_press = k1->press;
    r->key1_release = k1->release;
    r->key2_press = k2->press;
    r->key2_release = k2->release;
    r->key1_timestamp = k1_orphan ? k1->release : k1->press;
    r->hl = k1_matched ? k1->release - k1->press : NAN;
    bool both = k1_matched && k2_matched;
    r->il = both ? k2->press - k1->release : NAN;
    r->pl = both ? k2->press - k1->press : NAN;
    r->rl = both ? k2->release - k1->release : NAN;

    /* The enum lists the combinations as key1 part × key2 part; see keypair.h. */
    int part1 = k1_unmatched ? 1 : k1_orphan ? 2 : 0; /* none, release, press */
    int part2 = k2_unmatched ? 1 : k2_orphan ? 2 : 0;
    kx_kp_error e;
    if (part1 == 0 && part2 == 0) e = KX_KPE_NONE;
    else if (part2 == 0) e = part1 == 1 ? KX_KPE_K1_RELEASE : KX_KPE_K1_PRESS;
    else if (part1 == 0) e = part2 == 1 ? KX_KPE_K2_RELEASE : KX_KPE_K2_PRESS;
    else if (part1 == 1) e = part2 == 1 ? KX_KPE_K1_RELEASE_K2_RELEASE : KX_KPE_K1_RELEASE_K2_PRESS;
    else e = part2 == 1 ? KX_KPE_K1_PRESS_K2_RELEASE : KX_KPE_K1_PRESS_K2_PRESS;
    if (k1_matched && r->hl < 0) e = KX_KPE_NEGATIVE_HL; /* replaces any key2 text */
    r->error = (uint8_t)e;
    r->valid = e == KX_KPE_NONE;
    /* Strict comparisons; NaN compares false, so absent values never trigger. */
    r->outlier = r->valid && (r->hl > th->hl_max_ms || r->hl < th->hl_min_ms || fabs(r->il) > th->il_abs_max_ms);
}

/* Rule 9 normalisation, then interning. */
static int32_t intern_key(kx_keytab *t, const char *key, size_t len)
{
    char kb[4];
    size_t klen;
    const char *k = kx_ks_normalize_key(key, len, kb, &klen);
    return kx_keytab_intern(t, k, klen);
}

/* Starts a new cache generation (entries of earlier calls stop matching). */
static void key_cache_begin(kx_ks_work *w)
{
    if (!w->cache) w->cache = kx_calloc(KX_KS_KEY_CACHE, sizeof *w->cache);
    if (++w->cache_gen == 0) { /* wrapped: forget everything */
        memset(w->cache, 0, KX_KS_KEY_CACHE * sizeof *w->cache);
        w->cache_gen = 1;
    }
}

/* The id of a raw (not normalised) non-empty key: from the cache when this call has seen the
 * same bytes, else normalised and interned. Same result as intern_key. */
static inline uint64_t load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t low_bytes(uint64_t v, size_t n) /* n in 0..8 */
{
    return n >= 8 ? v : v & ((UINT64_C(1) << (8 * n)) - 1);
}

/* The key bytes as two zero-padded words. end bounds the readable buffer: away from it, two
 * 8-byte loads and masks (the line goes on after the key with ",<time>"), else a copy. Byte
 * order does not matter: the words are only hashed and compared. */
static inline void key_words(const char *key, size_t len, const char *end, uint64_t *lo, uint64_t *hi)
{
    if ((size_t)(end - key) >= 16) {
        *lo = low_bytes(load64(key), len);
        *hi = len > 8 ? low_bytes(load64(key + 8), len - 8) : 0;
        return;
    }
    unsigned char b[16] = {0};
    memcpy(b, key, len);
    memcpy(lo, b, 8);
    memcpy(hi, b + 8, 8);
}

static int32_t key_id(kx_ks_work *w, kx_keytab *t, const char *key, size_t len, const char *end)
{
    if (len > 16) return intern_key(t, key, len);
    uint64_t lo, hi;
    key_words(key, len, end, &lo, &hi);
    uint64_t h = (lo ^ (hi * 0xC2B2AE3D27D4EB4Full) ^ len) * 0x9E3779B97F4A7C15ull;
    kx_ks_key_cache_entry *e = &w->cache[h >> 56]; /* KX_KS_KEY_CACHE = 256 */
    if (e->gen == w->cache_gen && e->len == len && e->lo == lo && e->hi == hi) return e->id;
    int32_t id = intern_key(t, key, len);
    *e = (kx_ks_key_cache_entry){lo, hi, w->cache_gen, (uint32_t)len, id};
    return id;
}

static void keep_event(kx_ks_work *w, int32_t key, bool press, double time)
{
    if (w->nevents == w->events_cap)
        w->events = kx_grow(w->events, &w->events_cap, w->nevents + 1, sizeof *w->events);
    w->events[w->nevents++] = (kx_ks_keyed_event){time, key, (uint8_t)press};
}

size_t kx_ks_file_to_keypairs(kx_ks_work *w, const char *buf, size_t n, const kx_ks_file_ids *ids,
                              const kx_kp_thresholds *th, kx_user_keypairs *u,
                              kx_ks_malformed_fn on_malformed, void *arg)
{
    w->nstrokes = 0;
    w->npresses = 0;
    w->norder = 0;
    w->nevents = 0;
    key_cache_begin(w);
    kx_ks_lines it;
    kx_ks_lines_init(&it, buf, n);
    const char *line;
    size_t len;
    long lineno;
    while (kx_ks_lines_next(&it, &line, &len, &lineno)) {
        kx_ks_event ev;
        kx_ks_reason r = kx_ks_parse_line(line, len, &ev);
        if (r != KX_KS_OK) {
            if (on_malformed) on_malformed(arg, lineno, r, line, len);
            continue;
        }
        int32_t key = ev.key_len > 0 ? key_id(w, &u->keys, ev.key, ev.key_len, buf + n) : KX_KEY_MISSING;
        if (w->keep_events) keep_event(w, key, ev.press, ev.time);
        match_event(w, key, ev.press, ev.time);
    }
    flush_unmatched(w);
    sort_strokes(w);
    if (w->nstrokes < 2) return 0;
    size_t npairs = w->nstrokes - 1;
    u->rows = kx_grow(u->rows, &u->cap, u->n + npairs, sizeof *u->rows);
    for (size_t i = 0; i < npairs; i++) {
        kx_keypair *r = &u->rows[u->n++]; /* make_pair sets every other field (no memset:
                                               * rep stos was ~1 % of the stage) */
        r->platform_id = ids->platform_id;
        r->video_id = ids->video_id;
        r->session_id = ids->session_id;
        r->sequence_id = (int32_t)i;
        make_pair(&w->strokes[i], &w->strokes[i + 1], th, r);
    }
    return npairs;
}
