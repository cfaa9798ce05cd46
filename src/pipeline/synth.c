/* synth.c — synthetic raw snapshots; see synth.h. */
#include "pipeline/synth.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/fs.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/sort.h"
#include "util/pool.h"

/* ---- PRNG: splitmix64 seeding xoshiro256** (public-domain algorithms by Vigna et al.) ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static void rng_seed(rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

/* Uniform in [0, 1). */
static double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

static int64_t rng_int(rng *r, int64_t lo, int64_t hi) /* inclusive */
{
    return lo + (int64_t)(rng_unit(r) * (double)(hi - lo + 1));
}

/* Standard normal (Box–Muller; one value per call keeps the stream simple). */
static double rng_normal(rng *r)
{
    double u1 = rng_unit(r), u2 = rng_unit(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static double rng_lognormal(rng *r, double median, double sigma) { return median * exp(sigma * rng_normal(r)); }

void kx_synth_uid(uint64_t seed, int64_t index, char uid[33])
{
    uint64_t x = seed ^ ((uint64_t)index * 0x9e3779b97f4a7c15ULL) ^ 0x5a17c0de5a17c0deULL;
    uint64_t a = splitmix64(&x), b = splitmix64(&x);
    snprintf(uid, 33, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

void kx_synth_defaults(kx_synth_params *p)
{
    memset(p, 0, sizeof *p);
    p->seed = 1;
    p->users = 30;
    p->workers = 1;
    p->broken_fraction = 0.35;
    p->mobile_fraction = 0.1;
    p->instant_fraction = 0.13;
    p->caps_lock_fraction = 0.08;
    p->text_median_chars = 152;
    p->long_text_prob = 0.02;
    p->min_rows = 300;
    p->hold_median_ms = 106;
    p->hold_user_sigma = 0.22;
    p->hold_sigma = 0.28;
    p->hold_tail_prob = 0.025;
    p->pp_median_ms = 250;
    p->pp_user_sigma = 0.3;
    p->pp_sigma = 0.42;
    p->digram_spread = 0.25;
    p->pause_prob = 0.12;
    p->pause_median_ms = 2000;
    p->pause_sigma = 0.9;
    p->typo_prob = 0.03;
    p->shift_lead_ms = 110;
    p->shift_lag_ms = 40;
    p->shift_early_release = 0.45;
    p->f3_prob = 0.01;
    p->unreleased_prob = 0.007;
    p->orphan_prob = 0.005;
    p->repeat_prob = 0.003;
    p->epoch_ms = 1735660000000LL;
    p->broken_rows = 250;
}

/* ---- text corpus ------------------------------------------------------------------------------
 * Our own comment sentences about the three study videos (video = (seq div 3) mod 3 + 1):
 * 1 a coach's speech to his team, 2 the slap at an awards ceremony, 3 a tense meeting of
 * presidents in an office. Generic sentences fit any video. A few use digits, quotes,
 * question marks and non-ASCII punctuation (’ — …) as real participants type them. */

static const char *const corpus_v1[] = {
    "The coach walks into the gym and tells his players that school comes before basketball.",
    "He locks the gym because the team ignored the contract they all signed.",
    "I like how he treats the players with respect but still expects a lot from them.",
    "The speech about fear and light is the part that stuck with me the most.",
    "Some parents are angry, but he refuses to give up on the grades rule.",
    "It shows that discipline and focus matter more than winning a single game.",
    "The players sit on the floor doing their homework instead of practicing.",
    "He wants them to have a future after high school, not just a trophy.",
    "One player stands up and answers the question that the coach asked weeks ago.",
    "This is a great example of leadership that puts people first.",
    "The team was 16 and 0 and he still cancelled the games, which took courage.",
    "You can tell the boys finally understand what he was trying to teach them.",
    "My own coach in school said almost the same thing to us.",
    "It’s a movie, but the message about hard work is very real.",
};
static const char *const corpus_v2[] = {
    "The host makes a joke about the actor’s wife and the mood changes in a second.",
    "He walks up on stage and slaps the comedian in front of millions of viewers.",
    "At first the audience laughs because they think it is part of the show.",
    "Then he goes back to his seat and shouts at the host twice.",
    "I was shocked that nobody stopped the ceremony after it happened.",
    "Violence is never the answer, even when a joke goes too far.",
    "The comedian stayed calm and kept going, which was impressive.",
    "Later that night he won the award and cried during his speech.",
    "People are still arguing about who was wrong in this clip.",
    "It was 2022 and the whole internet talked about nothing else for a week.",
    "The joke was about a medical condition, so I understand why she was hurt.",
    "Still, hitting someone on live TV is not okay.",
    "I think both of them could have handled it better.",
    "That moment felt unreal — one second jokes, the next real anger.",
};
static const char *const corpus_v3[] = {
    "The meeting in the office starts friendly and then turns into an argument.",
    "The presidents talk over each other while the cameras keep rolling.",
    "It is unusual to see a diplomatic meeting get this heated in public.",
    "One of them says the other is not grateful enough for the help.",
    "The guest tries to explain what his country has been going through.",
    "The reporters in the room look surprised by how tense it gets.",
    "Leaders should discuss these things behind closed doors, not on TV.",
    "I felt uncomfortable watching it, the stakes are so high.",
    "The vice president joins in and the conversation gets even worse.",
    "At the end the guest leaves early and the deal is not signed.",
    "Whatever your politics, this was not how a meeting should go.",
    "It made me wonder what happens next for the people in that war.",
    "They argue for almost 10 minutes about respect and manners.",
    "Nobody really listens to the other side…",
};
static const char *const corpus_any[] = {
    "I watched the clip twice to be sure.",
    "This video made me think about how we treat each other.",
    "Honestly, I didn’t expect that ending.",
    "What would you have done in that situation?",
    "The comments under this video are really divided.",
    "I agree with most people here.",
    "It’s interesting how a short clip can start such a big debate.",
    "I don't know what to think about it yet.",
    "Great video, thanks for sharing!",
    "People should watch the whole thing before they judge.",
    "My friends and I talked about this for hours.",
    "In my opinion, respect is the main lesson here.",
};

#define N_OF(a) (sizeof(a) / sizeof *(a))

/* Appends sentences for `video` (1..3) until the text has at least `target` bytes. */
static void make_text(rng *r, int video, int target, kx_buf *out)
{
    const char *const *pool = video == 1 ? corpus_v1 : video == 2 ? corpus_v2 : corpus_v3;
    size_t n_pool = video == 1 ? N_OF(corpus_v1) : video == 2 ? N_OF(corpus_v2) : N_OF(corpus_v3);
    while ((int)out->len < target) {
        if (out->len) kx_buf_putc(out, ' ');
        if (rng_unit(r) < 0.25) kx_buf_puts(out, corpus_any[rng_int(r, 0, (int64_t)N_OF(corpus_any) - 1)]);
        else kx_buf_puts(out, pool[rng_int(r, 0, (int64_t)n_pool - 1)]);
    }
}

/* ---- typist profile --------------------------------------------------------------------------- */

typedef struct profile {
    bool instant;        /* hold 0–3 ms, regular rhythm (browser / input-method logging) */
    bool caps_lock;      /* capitals via Caps Lock instead of Shift */
    bool release_lower;  /* a letter released after Shift is logged in lower case */
    bool smart_quotes;   /* types ’ for ' */
    bool mobile;         /* some keys logged as `Unidentified` */
    double hold_med, hold_sigma, pp_med, pp_sigma, pause_prob, typo_prob;
} profile;

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

static void make_profile(const kx_synth_params *p, rng *r, bool mobile, profile *pr)
{
    memset(pr, 0, sizeof *pr);
    pr->mobile = mobile;
    pr->instant = mobile || rng_unit(r) < p->instant_fraction;
    pr->caps_lock = rng_unit(r) < p->caps_lock_fraction;
    pr->release_lower = rng_unit(r) < 0.5;
    pr->smart_quotes = rng_unit(r) < 0.1;
    pr->hold_med = clampd(rng_lognormal(r, p->hold_median_ms, p->hold_user_sigma), 45, 220);
    pr->hold_sigma = p->hold_sigma * (0.8 + 0.4 * rng_unit(r));
    pr->pp_med = clampd(rng_lognormal(r, p->pp_median_ms, p->pp_user_sigma), 110, 600);
    pr->pp_sigma = p->pp_sigma * (0.8 + 0.4 * rng_unit(r));
    pr->pause_prob = clampd(rng_lognormal(r, p->pause_prob, 0.7), 0.002, 0.3);
    pr->typo_prob = clampd(rng_lognormal(r, p->typo_prob, 0.5), 0.002, 0.15);
    if (pr->instant) { /* real instant typists: ~80–140 ms per key, hardly any pauses */
        pr->pp_med = 75 + 65 * rng_unit(r);
        pr->pp_sigma = 0.06;
        pr->pause_prob *= 0.05;
    }
}

/* ---- keystroke events ------------------------------------------------------------------------ */

typedef struct event {
    int64_t t;
    int seq;      /* insertion order: tie-break of the time sort */
    char type;    /* 'P' / 'R' */
    char key[15];
} event;

typedef struct events {
    event *v;
    size_t n, cap;
} events;

static void ev_add(events *e, char type, const char *key, double t)
{
    if (e->n == e->cap) e->v = kx_grow(e->v, &e->cap, e->n + 1, sizeof *e->v);
    event *x = &e->v[e->n];
    x->t = (int64_t)llround(t);
    x->seq = (int)e->n;
    x->type = type;
    size_t n = strlen(key);
    if (n > sizeof x->key - 1) n = sizeof x->key - 1;
    memcpy(x->key, key, n);
    x->key[n] = '\0';
    e->n++;
}

static int cmp_event(const void *a, const void *b)
{
    const event *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->seq - y->seq;
}

/* Deterministic per-digram speed factor in [exp(-spread), exp(spread)] from the two bytes. */
static double digram_factor(const kx_synth_params *p, unsigned char a, unsigned char b)
{
    uint64_t x = ((uint64_t)a << 8 | b) * 0x9e3779b97f4a7c15ULL;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 32;
    double u = (double)(x & 0xffffff) / (double)0xffffff; /* [0, 1] */
    return exp(p->digram_spread * (2 * u - 1));
}

/* State of typing one task. */
typedef struct typist {
    const kx_synth_params *p;
    const profile *pr;
    rng *r;
    events *e;
    double t;             /* press time of the next keystroke */
    unsigned char prev;   /* previous typed byte (digram factor) */
} typist;

static double draw_hold(typist *ty)
{
    if (ty->pr->instant) return (double)rng_int(ty->r, 0, 3);
    double h = rng_lognormal(ty->r, ty->pr->hold_med, ty->pr->hold_sigma);
    if (rng_unit(ty->r) < ty->p->hold_tail_prob) h *= 2 + 4 * rng_unit(ty->r);
    return clampd(h, 8, 1800);
}

/* Advances the clock to the next press after a keystroke of byte c. */
static void advance(typist *ty, unsigned char c)
{
    double pp = rng_lognormal(ty->r, ty->pr->pp_med, ty->pr->pp_sigma);
    if (!ty->pr->instant) pp *= digram_factor(ty->p, ty->prev, c);
    ty->t += pp < 12 ? 12 : pp;
    ty->prev = c;
}

/* One plain keystroke; returns its hold. */
static double stroke(typist *ty, const char *key, unsigned char c)
{
    double hold = draw_hold(ty);
    ev_add(ty->e, 'P', key, ty->t);
    ev_add(ty->e, 'R', key, ty->t + hold);
    advance(ty, c);
    return hold;
}

/* A capital (or shifted symbol) `up`; `low` is its unshifted name for a lower-case release. */
static void shifted_stroke(typist *ty, const char *up, const char *low, unsigned char c)
{
    rng *r = ty->r;
    if (ty->pr->caps_lock) {
        stroke(ty, "Key.caps_lock", 0);
        stroke(ty, up, c);
        stroke(ty, "Key.caps_lock", 0);
        return;
    }
    double lead = ty->pr->instant ? 1 + (double)rng_int(r, 0, 2) : rng_lognormal(r, ty->p->shift_lead_ms, 0.4);
    ev_add(ty->e, 'P', "Key.shift", ty->t);
    ty->t += lead;
    double hold = draw_hold(ty);
    ev_add(ty->e, 'P', up, ty->t);
    if (!ty->pr->instant && rng_unit(r) < ty->p->shift_early_release) {
        /* Shift let go while the letter is still down: the release is logged unshifted */
        ev_add(ty->e, 'R', "Key.shift", ty->t + hold * (0.2 + 0.7 * rng_unit(r)));
        ev_add(ty->e, 'R', ty->pr->release_lower ? low : up, ty->t + hold);
    } else {
        ev_add(ty->e, 'R', up, ty->t + hold);
        double lag = ty->pr->instant ? 0 : rng_lognormal(r, ty->p->shift_lag_ms, 0.5);
        ev_add(ty->e, 'R', "Key.shift", ty->t + hold + lag);
    }
    advance(ty, c);
}

/* Held Backspace: presses auto-repeat every ~33 ms after ~500 ms, one release at the end. */
static void held_backspace(typist *ty, int n)
{
    double t0 = ty->t, t = t0;
    for (int i = 0; i < n; i++) {
        ev_add(ty->e, 'P', "Key.backspace", t);
        t += i == 0 ? 480 + 60 * rng_unit(ty->r) : 30 + 6 * rng_unit(ty->r);
    }
    ev_add(ty->e, 'R', "Key.backspace", t - 10);
    ty->t = t;
    advance(ty, 8);
}

/* A wrong letter run of n keys, a reaction pause, then n Backspaces (held if `held`). */
static void typo(typist *ty, int n, bool held)
{
    static const char letters[] = "etaoinshrdlucmfwypvbgk";
    char k[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        k[0] = letters[rng_int(ty->r, 0, (int64_t)sizeof letters - 2)];
        stroke(ty, k, (unsigned char)k[0]);
    }
    ty->t += rng_lognormal(ty->r, 250, 0.5);
    if (held && n >= 2) {
        held_backspace(ty, n);
        return;
    }
    for (int i = 0; i < n; i++) stroke(ty, "Key.backspace", 8);
}

/* Name of the key for the UTF-8 character at s (length *len); sets *shift for capitals and
 * shifted symbols and writes their unshifted name to low. */
static const char *char_key(const profile *pr, rng *r, const char *s, int *len, bool *shift, char name[8], char low[8])
{
    unsigned char c = (unsigned char)s[0];
    *shift = false;
    *len = 1;
    if (c >= 0x80) { /* whole UTF-8 sequence is one key (’ — …) */
        int n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        memcpy(name, s, (size_t)n);
        name[n] = '\0';
        *len = n;
        return name;
    }
    if (pr->mobile && c != ' ' && rng_unit(r) < 0.3) return "Unidentified";
    switch (c) {
    case ' ': return "Key.space";
    case ',': return "Key.comma";
    case '\'': return pr->smart_quotes ? "’" : "'";
    default: break;
    }
    name[0] = (char)c;
    name[1] = '\0';
    if (c >= 'A' && c <= 'Z') {
        *shift = true;
        low[0] = (char)(c - 'A' + 'a');
        low[1] = '\0';
    } else if (strchr("?!\":()", c)) {
        *shift = true;
        low[0] = (char)c; /* pynput logs the shifted symbol on release too */
        low[1] = '\0';
    }
    return name;
}

/* Types text[from..] with ty (continuing its clock). */
static void type_span(typist *ty, const char *text, bool *held_armed)
{
    const kx_synth_params *p = ty->p;
    const profile *pr = ty->pr;
    rng *r = ty->r;
    char name[8], low[8];
    bool word_start = true;
    for (const char *s = text; *s;) {
        unsigned char c = (unsigned char)*s;
        /* thinking pauses mostly before a word, rarely inside one, never before a space */
        double w = c == ' ' ? 0.0 : word_start ? 2.5 : 0.5;
        if (rng_unit(r) < pr->pause_prob * w) ty->t += rng_lognormal(r, p->pause_median_ms, p->pause_sigma);
        if (c >= 'a' && c <= 'z' && rng_unit(r) < pr->typo_prob) {
            double u = rng_unit(r);
            int n = *held_armed ? (int)rng_int(r, 2, 5) : u < 0.7 ? 1 : u < 0.9 ? 2 : 3;
            typo(ty, n, *held_armed);
            *held_armed = false;
        }
        int len;
        bool shift;
        const char *key = char_key(pr, r, s, &len, &shift, name, low);
        if (shift) shifted_stroke(ty, key, low, c);
        else stroke(ty, key, c);
        word_start = c == ' ';
        s += len;
    }
}

/* Rare per-file anomalies seen in real logs, placed within [t0, t1]. */
static void add_anomalies(const kx_synth_params *p, rng *r, double t0, double t1, events *e)
{
    static const char *const mods[3] = {"Key.alt", "Key.ctrl", "Key.cmd"};
    static const char *const orphans[3] = {"Key.shift", "Key.alt", "Key.ctrl"};
    if (rng_unit(r) < p->f3_prob) ev_add(e, 'P', "F3", t0 - 200 - 2800 * rng_unit(r));
    if (rng_unit(r) < p->unreleased_prob) ev_add(e, 'P', mods[rng_int(r, 0, 2)], t0 + (t1 - t0) * rng_unit(r));
    if (rng_unit(r) < p->orphan_prob) ev_add(e, 'R', orphans[rng_int(r, 0, 2)], t0 + (t1 - t0) * rng_unit(r));
}

/* The log of one task: text (grown until the log has >= min_rows rows), events, end time. */
static double type_task(const kx_synth_params *p, const profile *pr, rng *r, int video, double t0, kx_buf *text,
                        events *e)
{
    int target = (int)rng_lognormal(r, p->text_median_chars, 0.18);
    if (rng_unit(r) < p->long_text_prob) target = (int)(target * (3 + 2.5 * rng_unit(r)));
    if (target < 120) target = 120;
    typist ty = {p, pr, r, e, t0, ' '};
    bool held_armed = rng_unit(r) < p->repeat_prob;
    kx_buf_reset(text);
    e->n = 0;
    while (e->n < (size_t)p->min_rows) { /* too short for a complete user: type another sentence */
        size_t from = text->len;
        make_text(r, video, (int)from + (from ? 60 : target), text);
        type_span(&ty, text->data + from, &held_armed);
    }
    add_anomalies(p, r, t0, ty.t, e);
    return ty.t;
}

static void put_events(kx_buf *out, events *e, size_t max_rows)
{
    kx_qsort(e->v, e->n, sizeof *e->v, cmp_event);
    kx_buf_puts(out, "Press or Release,Key,Time\n");
    for (size_t i = 0; i < e->n && i < max_rows; i++) {
        const event *x = &e->v[i];
        kx_buf_reserve(out, 40);
        out->data[out->len++] = x->type;
        out->data[out->len++] = ',';
        kx_buf_puts(out, x->key);
        kx_buf_putc(out, ',');
        kx_buf_put_i64(out, x->t);
        kx_buf_putc(out, '\n');
    }
}

/* ---- JSON files ------------------------------------------------------------------------------ */

static void iso_time(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char buf[24];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", buf, (int)(ms % 1000));
}

typedef struct persona {
    bool mobile;
    const char *ua, *platform, *vendor;
    int sw, sh, ww, wh;
} persona;

static void make_persona(rng *r, bool mobile, persona *pe)
{
    static const char *const desk_ua[] = {
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"};
    static const char *const desk_pf[] = {"Win32", "MacIntel", "Linux x86_64"};
    static const char *const desk_vd[] = {"Google Inc.", "Apple Computer, Inc.", ""};
    pe->mobile = mobile;
    if (mobile) {
        pe->ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        pe->platform = "iPhone";
        pe->vendor = "Apple Computer, Inc.";
        pe->sw = 390, pe->sh = 844, pe->ww = 390, pe->wh = 664;
        return;
    }
    int k = (int)rng_int(r, 0, 2);
    pe->ua = desk_ua[k];
    pe->platform = desk_pf[k];
    pe->vendor = desk_vd[k];
    pe->sw = k == 1 ? 1440 : 1920, pe->sh = k == 1 ? 900 : 1080;
    pe->ww = pe->sw - (int)rng_int(r, 0, 200), pe->wh = pe->sh - (int)rng_int(r, 100, 250);
}

static void put_demographics(kx_buf *b, rng *r, int64_t index, const persona *pe, const char *when)
{
    static const char *const genders[] = {"female", "male", "non_binary", "prefer_not_to_say"};
    static const char *const ages[] = {"18_24", "25_34", "35_44", "45_54", "55_64"};
    static const char *const hands[] = {"right", "right", "right", "left", "ambidextrous"};
    static const char *const edus[] = {"high_school", "bachelor", "master", "doctorate", "some_college"};
    const char *dt = pe->mobile ? "mobile" : "desktop", *mb = pe->mobile ? "true" : "false";
    kx_buf_printf(b,
                  "{\n  \"email\": \"user%lld@example.org\",\n  \"gender\": \"%s\",\n  \"age\": \"%s\",\n"
                  "  \"handedness\": \"%s\",\n  \"education\": \"%s\",\n  \"consent_email_for_future\": %s,\n"
                  "  \"submission_timestamp\": \"%s\",\n  \"device_info\": {\n    \"isMobile\": %s,\n"
                  "    \"userAgent\": \"%s\",\n    \"screenWidth\": %d,\n    \"screenHeight\": %d,\n"
                  "    \"windowWidth\": %d,\n    \"windowHeight\": %d,\n    \"touchCapable\": %s,\n"
                  "    \"platform\": \"%s\",\n    \"vendor\": \"%s\",\n    \"deviceType\": \"%s\"\n  },\n"
                  "  \"is_mobile\": %s,\n  \"device_type\": \"%s\"\n}",
                  (long long)index, genders[rng_int(r, 0, 3)], ages[rng_int(r, 0, 4)], hands[rng_int(r, 0, 4)],
                  edus[rng_int(r, 0, 4)], rng_unit(r) < 0.5 ? "true" : "false", when, mb, pe->ua, pe->sw, pe->sh,
                  pe->ww, pe->wh, mb, pe->platform, pe->vendor, dt, mb, dt);
}

/* ---- one user ------------------------------------------------------------------------------- */

typedef struct synth_job {
    const kx_synth_params *p;
    const char *dir; /* for messages */
    int dirfd;       /* files are created relative to it (no path resolution per file) */
    kx_synth_summary *per_user; /* slots */
    kx_err *errs;
    int *rc;
} synth_job;

/* Creates dir/name (must not exist) with the bytes of b in one write. */
static int put_file(const synth_job *job, const char *name, const kx_buf *b, kx_synth_summary *s, kx_err *err)
{
    int fd = openat(job->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return kx_fail_errno(err, "cannot create %s/%s", job->dir, name);
    const char *d = b->data ? b->data : "";
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(fd, d + off, b->len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            close(fd);
            errno = e;
            return kx_fail_errno(err, "cannot write %s/%s", job->dir, name);
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) return kx_fail_errno(err, "cannot close %s/%s", job->dir, name);
    s->files++;
    s->bytes += (int64_t)b->len;
    return 0;
}

/* Which files of a broken user are absent or short. */
typedef struct damage {
    kx_synth_kind kind;
    bool skip[18];       /* keystroke file absent */
    int short_rows[18];  /* > 0: keystroke file cut to this many data rows */
    bool drop_consent, drop_start;
} damage;

static void make_damage(const kx_synth_params *p, rng *r, damage *d)
{
    memset(d, 0, sizeof *d);
    double u = rng_unit(r);
    if (u >= p->broken_fraction) return;
    /* mix seen in fpd-dev: mostly too-few-rows users, then missing files, then metadata */
    double v = rng_unit(r);
    d->kind = v < 0.6 ? KX_SYNTH_FEW_ROWS : v < 0.85 ? KX_SYNTH_MISSING_FILES : KX_SYNTH_MISSING_METADATA;
    if (d->kind == KX_SYNTH_MISSING_FILES) {
        int k = (int)rng_int(r, 1, 4);
        for (int i = 0; i < k; i++) d->skip[rng_int(r, 0, 17)] = true;
    } else if (d->kind == KX_SYNTH_FEW_ROWS) {
        /* aborted sessions: some tasks hold only the odd `P,F3` row or a few keystrokes */
        int k = (int)rng_int(r, 1, 18);
        for (int i = 0; i < k; i++) {
            int seq = (int)rng_int(r, 0, 17);
            d->short_rows[seq] = rng_unit(r) < 0.5 ? 1 : (int)rng_int(r, 1, p->broken_rows);
        }
    } else if (rng_unit(r) < 0.5) {
        d->drop_consent = true;
    } else {
        d->drop_start = true;
    }
}

static int put_task_files(const synth_job *job, const char *uid, int seq, const damage *d, const profile *pr,
                          const persona *pe, rng *r, double *t, kx_buf *b, kx_buf *text, events *ev,
                          kx_synth_summary *s, kx_err *err)
{
    static const char *const platforms[3] = {"facebook", "instagram", "twitter"};
    const kx_synth_params *p = job->p;
    char name[128], ch = "fit"[seq % 3];
    double t0 = *t + 2000 + rng_unit(r) * 3000;
    double t1 = type_task(p, pr, r, (seq / 3) % 3 + 1, t0, text, ev);
    int rc = 0;
    if (!d->skip[seq]) {
        kx_buf_reset(b);
        if (d->short_rows[seq] == 1) { /* an aborted task: only the odd F3 row */
            ev->n = 0;
            ev_add(ev, 'P', "F3", t0);
        }
        put_events(b, ev, d->short_rows[seq] > 0 ? (size_t)d->short_rows[seq] : (size_t)-1);
        snprintf(name, sizeof name, "%c_%s_%d.csv", ch, uid, seq);
        rc = put_file(job, name, b, s, err);
    }
    snprintf(name, sizeof name, "%c_%s_%d_raw.txt", ch, uid, seq);
    if (rc == 0) rc = put_file(job, name, text, s, err);
    kx_buf_reset(b);
    kx_buf_printf(b,
                  "{\n  \"user_id\": \"%s\",\n  \"platform_id\": \"%d\",\n  \"task_id\": \"%d\",\n"
                  "  \"start_time\": %lld,\n  \"end_time\": %lld,\n  \"duration_ms\": %lld,\n"
                  "  \"platform\": \"%s\",\n  \"is_mobile\": %s,\n  \"device_type\": \"%s\",\n"
                  "  \"user_agent\": \"%s\",\n  \"screen_size\": \"%dx%d\"\n}",
                  uid, seq % 3, seq, (long long)t0, (long long)t1, (long long)(t1 - t0), platforms[seq % 3],
                  pe->mobile ? "true" : "false", pe->mobile ? "mobile" : "desktop", pe->ua, pe->sw, pe->sh);
    snprintf(name, sizeof name, "%c_%s_%d_metadata.json", ch, uid, seq);
    if (rc == 0) rc = put_file(job, name, b, s, err);
    *t = t1;
    return rc;
}

/* consent, start_time, start_study, demographics, completion, survey_code. */
static int put_user_files(const synth_job *job, const char *uid, int64_t index, const damage *d, const persona *pe,
                          rng *r, int64_t start_ms, int64_t end_ms, kx_buf *b, kx_synth_summary *s, kx_err *err)
{
    char name[128], when[32], done[32];
    iso_time(start_ms, when);
    iso_time(end_ms, done);
    int rc = 0;
    if (!d->drop_consent) {
        kx_buf_reset(b);
        kx_buf_printf(b,
                      "{\n  \"consented\": \"Yes\",\n  \"userId\": \"%s\",\n  \"timestamp\": \"%s\",\n"
                      "  \"userAgent\": \"%s\",\n  \"url\": \"https://example.org/consent.html?launched=true\"\n}",
                      uid, when, pe->ua);
        snprintf(name, sizeof name, "%s_consent.json", uid);
        rc = put_file(job, name, b, s, err);
    }
    if (rc == 0 && !d->drop_start) {
        kx_buf_reset(b);
        kx_buf_printf(b, "{\n  \"start_timestamp\": \"%s\",\n  \"timezone\": \"UTC\",\n  \"session_id\": \"%s\"\n}",
                      when, uid);
        snprintf(name, sizeof name, "%s_start_time.json", uid);
        rc = put_file(job, name, b, s, err);
    }
    if (rc == 0) {
        kx_buf_reset(b);
        kx_buf_printf(b, "{\n  \"userId\": \"%s\",\n  \"started\": \"%s\"\n}", uid, when);
        snprintf(name, sizeof name, "%s_start_study.json", uid);
        rc = put_file(job, name, b, s, err);
    }
    if (rc == 0) {
        kx_buf_reset(b);
        put_demographics(b, r, index, pe, done);
        snprintf(name, sizeof name, "%s_demographics.json", uid);
        rc = put_file(job, name, b, s, err);
    }
    if (rc == 0 && d->kind == KX_SYNTH_OK) { /* only finished studies leave these two */
        kx_buf_reset(b);
        kx_buf_printf(b, "{\n  \"userId\": \"%s\",\n  \"completed\": true,\n  \"timestamp\": \"%s\"\n}", uid, done);
        snprintf(name, sizeof name, "%s_completion.json", uid);
        rc = put_file(job, name, b, s, err);
        if (rc == 0) {
            kx_buf_reset(b);
            kx_buf_printf(b, "{\n  \"userId\": \"%s\",\n  \"survey_code\": \"SYN-%08llX\"\n}", uid,
                          (unsigned long long)(rng_next(r) & 0xffffffffULL));
            snprintf(name, sizeof name, "%s_survey_code.json", uid);
            rc = put_file(job, name, b, s, err);
        }
    }
    return rc;
}

static int synth_user(const synth_job *job, int64_t index, kx_synth_summary *s, kx_err *err)
{
    const kx_synth_params *p = job->p;
    rng r;
    rng_seed(&r, p->seed, (uint64_t)index + 1);
    char uid[33];
    kx_synth_uid(p->seed, index, uid);
    bool mobile = rng_unit(&r) < p->mobile_fraction;
    damage d;
    make_damage(p, &r, &d);
    persona pe;
    make_persona(&r, mobile, &pe);
    profile pr;
    make_profile(p, &r, mobile, &pr);
    double t = (double)p->epoch_ms + (double)index * 3600000.0 + (double)rng_int(&r, 0, 600000);
    int64_t start_ms = (int64_t)t;
    kx_buf b = KX_BUF_INIT, text = KX_BUF_INIT;
    events ev = {NULL, 0, 0};
    int rc = 0;
    for (int seq = 0; seq < 18 && rc == 0; seq++) rc = put_task_files(job, uid, seq, &d, &pr, &pe, &r, &t, &b, &text, &ev, s, err);
    if (rc == 0) rc = put_user_files(job, uid, index, &d, &pe, &r, start_ms, (int64_t)t, &b, s, err);
    free(ev.v);
    kx_buf_free(&b);
    kx_buf_free(&text);
    s->users = 1;
    s->by_kind[d.kind] = 1;
    s->complete = d.kind == KX_SYNTH_OK;
    s->broken = !s->complete;
    s->mobile = mobile;
    s->mobile_complete = mobile && s->complete;
    return rc;
}

static void synth_worker(void *arg, size_t i)
{
    synth_job *job = arg;
    job->rc[i] = synth_user(job, (int64_t)i, &job->per_user[i], &job->errs[i]);
}

/* out_dir must be absent or an empty folder (rename(2) replaces an empty folder). */
static int check_out_dir(const char *out_dir, kx_err *err)
{
    if (!kx_exists(out_dir)) return 0;
    if (!kx_is_dir(out_dir)) return kx_fail(err, "%s exists and is not a folder", out_dir);
    kx_dirlist l;
    if (kx_list_dir(out_dir, &l, err) != 0) return -1;
    size_t n = l.n;
    kx_dirlist_free(&l);
    if (n) return kx_fail(err, "%s is not empty (synth writes a fresh snapshot folder)", out_dir);
    return 0;
}

static void add_summary(kx_synth_summary *sum, const kx_synth_summary *s)
{
    sum->users += s->users;
    sum->complete += s->complete;
    sum->broken += s->broken;
    sum->mobile += s->mobile;
    sum->mobile_complete += s->mobile_complete;
    sum->files += s->files;
    sum->bytes += s->bytes;
    for (int k = 0; k < KX_SYNTH_KIND_COUNT; k++) sum->by_kind[k] += s->by_kind[k];
}

int kx_synth_write(const kx_synth_params *p, const char *out_dir, kx_synth_summary *sum, kx_err *err)
{
    memset(sum, 0, sizeof *sum);
    if (p->users < 0) return kx_fail(err, "number of users must be >= 0, got %lld", (long long)p->users);
    if (p->text_median_chars < 1 || p->min_rows < 1 || p->broken_rows < 1)
        return kx_fail(err, "text length, minimum rows and broken rows must be >= 1");
    if (check_out_dir(out_dir, err) != 0) return -1;
    char *partial = kx_malloc(strlen(out_dir) + 9);
    sprintf(partial, "%s.partial", out_dir);
    if (kx_rmtree(partial, err) != 0 || kx_mkdirs(partial, err) != 0) {
        free(partial);
        return -1;
    }
    int dirfd = open(partial, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        kx_fail_errno(err, "cannot open folder %s", partial);
        free(partial);
        return -1;
    }
    size_t n = (size_t)p->users;
    synth_job job = {p, partial, dirfd, kx_calloc(n ? n : 1, sizeof(kx_synth_summary)),
                     kx_calloc(n ? n : 1, sizeof(kx_err)), kx_calloc(n ? n : 1, sizeof(int))};
    kx_parallel_for(p->workers > 0 ? p->workers : 1, n, synth_worker, &job);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (job.rc[i] != 0 && rc == 0) rc = kx_fail(err, "%s", job.errs[i].msg);
        add_summary(sum, &job.per_user[i]);
    }
    if (close(dirfd) != 0 && rc == 0) rc = kx_fail_errno(err, "cannot close folder %s", partial);
    if (rc == 0 && rename(partial, out_dir) != 0) rc = kx_fail_errno(err, "cannot rename %s to %s", partial, out_dir);
    if (rc != 0) kx_rmtree(partial, NULL);
    free(job.per_user);
    free(job.errs);
    free(job.rc);
    free(partial);
    return rc;
}
