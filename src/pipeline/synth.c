/* synth.c — synthetic raw snapshots; see synth.h. */
#include "pipeline/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/fs.h"
#include "util/buf.h"
#include "util/mem.h"
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
    p->broken_fraction = 0.2;
    p->mobile_fraction = 0.1;
    p->min_chars = 170;
    p->max_chars = 260;
    p->hold_median_ms = 95;
    p->hold_sigma = 0.25;
    p->pp_median_ms = 190;
    p->pp_sigma = 0.4;
    p->pause_prob = 0.03;
    p->pause_min_ms = 1200;
    p->pause_max_ms = 2500;
    p->typo_prob = 0.02;
    p->shift_lead_ms = 60;
    p->shift_lag_ms = 25;
    p->epoch_ms = 1735660000000LL;
    p->broken_rows = 120;
}

/* ---- text ----------------------------------------------------------------------------------- */

static const char *const words[] = {
    "the", "coach", "team", "players", "clip", "shows", "really", "and", "it", "was", "a", "moment",
    "people", "think", "about", "respect", "this", "video", "interesting", "meeting", "president", "talk",
    "why", "everyone", "should", "watch", "discipline", "focus", "on", "school", "work", "together",
    "of", "in", "to", "is", "that", "for", "with", "what", "happened", "stage", "joke", "slap", "news",
    "i", "feel", "like", "great", "strong", "words", "but", "not", "very", "good", "many", "comments"};
static const size_t n_words = sizeof words / sizeof *words;

/* A comment of at least `target` characters: capitalised sentences ending in '.', words
 * separated by spaces, an occasional comma. */
static void make_text(rng *r, int target, kx_buf *out)
{
    bool sentence_start = true;
    while ((int)out->len < target) {
        const char *w = words[rng_int(r, 0, (int64_t)n_words - 1)];
        if (out->len) kx_buf_putc(out, ' ');
        if (sentence_start || !strcmp(w, "i")) {
            kx_buf_putc(out, (char)(w[0] - 'a' + 'A'));
            kx_buf_puts(out, w + 1);
        } else {
            kx_buf_puts(out, w);
        }
        sentence_start = false;
        double u = rng_unit(r);
        if (u < 0.1) {
            kx_buf_putc(out, '.');
            sentence_start = true;
        } else if (u < 0.14) {
            kx_buf_putc(out, ',');
        }
    }
    if (out->data[out->len - 1] != '.') {
        if (out->data[out->len - 1] == ',') out->len--;
        kx_buf_putc(out, '.');
        out->data[out->len] = '\0';
    }
}

/* ---- keystroke events ------------------------------------------------------------------------ */

typedef struct event {
    int64_t t;
    int seq;      /* insertion order: tie-break of the time sort */
    char type;    /* 'P' / 'R' */
    char key[16];
} event;

typedef struct events {
    event *v;
    size_t n, cap;
} events;

static void ev_add(events *e, char type, const char *key, double t)
{
    e->v = kx_grow(e->v, &e->cap, e->n + 1, sizeof *e->v);
    event *x = &e->v[e->n];
    x->t = (int64_t)llround(t);
    x->seq = (int)e->n;
    x->type = type;
    snprintf(x->key, sizeof x->key, "%s", key);
    e->n++;
}

static int cmp_event(const void *a, const void *b)
{
    const event *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->seq - y->seq;
}

static void key_name(char c, char out[16])
{
    if (c == ' ') snprintf(out, 16, "Key.space");
    else snprintf(out, 16, "%c", c);
}

/* One keystroke (press + release) at press time *t; advances *t to the next press. */
static void keystroke(const kx_synth_params *p, rng *r, events *e, const char *key, bool shifted, double *t)
{
    double hold = rng_lognormal(r, p->hold_median_ms, p->hold_sigma);
    if (hold < 25) hold = 25;
    if (shifted) ev_add(e, 'P', "Key.shift", *t - p->shift_lead_ms * (0.5 + rng_unit(r)));
    ev_add(e, 'P', key, *t);
    ev_add(e, 'R', key, *t + hold);
    if (shifted) ev_add(e, 'R', "Key.shift", *t + hold + p->shift_lag_ms * (0.5 + rng_unit(r)));
    double pp = rng_lognormal(r, p->pp_median_ms, p->pp_sigma);
    if (pp < 35) pp = 35;
    *t += pp + (shifted ? p->shift_lead_ms : 0);
}

/* Keystroke log of typing `text` starting at t0; returns the end time. */
static double type_text(const kx_synth_params *p, rng *r, const char *text, double t0, events *e)
{
    double t = t0;
    char key[16];
    for (const char *c = text; *c; c++) {
        if (*c == ' ' && rng_unit(r) < p->pause_prob) t += p->pause_min_ms + rng_unit(r) * (p->pause_max_ms - p->pause_min_ms);
        if (*c >= 'a' && *c <= 'z' && rng_unit(r) < p->typo_prob) {
            char wrong[2] = {(char)('a' + rng_int(r, 0, 25)), 0};
            keystroke(p, r, e, wrong, false, &t);
            keystroke(p, r, e, "Key.backspace", false, &t);
        }
        bool upper = *c >= 'A' && *c <= 'Z';
        key_name(*c, key);
        keystroke(p, r, e, key, upper, &t);
    }
    return t;
}

static void put_events(kx_buf *out, events *e, size_t max_rows)
{
    qsort(e->v, e->n, sizeof *e->v, cmp_event);
    kx_buf_puts(out, "Press or Release,Key,Time\n");
    for (size_t i = 0; i < e->n && i < max_rows; i++)
        kx_buf_printf(out, "%c,%s,%lld\n", e->v[i].type, e->v[i].key, (long long)e->v[i].t);
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
    const char *dir;
    kx_synth_summary *per_user; /* slots */
    kx_err *errs;
    int *rc;
} synth_job;

static int put_file(const char *dir, const char *name, const kx_buf *b, kx_synth_summary *s, kx_err *err)
{
    char *path = kx_path_join(dir, name);
    int rc = kx_write_file_atomic(path, b->data ? b->data : "", b->len, err);
    free(path);
    s->files++;
    s->bytes += (int64_t)b->len;
    return rc;
}

static int synth_user(const synth_job *job, int64_t index, kx_synth_summary *s, kx_err *err)
{
    static const char *const platforms[3] = {"facebook", "instagram", "twitter"};
    const kx_synth_params *p = job->p;
    rng r;
    rng_seed(&r, p->seed, (uint64_t)index + 1);
    char uid[33], name[128], when[32];
    kx_synth_uid(p->seed, index, uid);
    bool mobile = rng_unit(&r) < p->mobile_fraction;
    kx_synth_kind kind = KX_SYNTH_OK;
    if (rng_unit(&r) < p->broken_fraction) kind = (kx_synth_kind)rng_int(&r, 1, KX_SYNTH_KIND_COUNT - 1);
    bool skip[18] = {false};
    int short_seq = -1;
    if (kind == KX_SYNTH_MISSING_FILES) {
        int k = (int)rng_int(&r, 1, 4);
        for (int i = 0; i < k; i++) skip[rng_int(&r, 0, 17)] = true;
    } else if (kind == KX_SYNTH_FEW_ROWS) {
        short_seq = (int)rng_int(&r, 0, 17);
    }
    persona pe;
    make_persona(&r, mobile, &pe);
    double t = (double)p->epoch_ms + (double)index * 3600000.0 + (double)rng_int(&r, 0, 600000);
    int64_t start_ms = (int64_t)t;
    kx_buf b = KX_BUF_INIT, text = KX_BUF_INIT;
    events ev = {NULL, 0, 0};
    int rc = 0;
    for (int seq = 0; seq < 18 && rc == 0; seq++) {
        kx_buf_reset(&text);
        make_text(&r, (int)rng_int(&r, p->min_chars, p->max_chars), &text);
        ev.n = 0;
        double t0 = t + 2000 + rng_unit(&r) * 3000;
        double t1 = type_text(p, &r, text.data, t0, &ev);
        char ch = "fit"[seq % 3];
        if (!skip[seq]) {
            kx_buf_reset(&b);
            put_events(&b, &ev, seq == short_seq ? (size_t)p->broken_rows : (size_t)-1);
            snprintf(name, sizeof name, "%c_%s_%d.csv", ch, uid, seq);
            rc = put_file(job->dir, name, &b, s, err);
        }
        snprintf(name, sizeof name, "%c_%s_%d_raw.txt", ch, uid, seq);
        if (rc == 0) rc = put_file(job->dir, name, &text, s, err);
        kx_buf_reset(&b);
        kx_buf_printf(&b,
                      "{\n  \"user_id\": \"%s\",\n  \"platform_id\": \"%d\",\n  \"task_id\": \"%d\",\n"
                      "  \"start_time\": %lld,\n  \"end_time\": %lld,\n  \"duration_ms\": %lld,\n"
                      "  \"platform\": \"%s\",\n  \"is_mobile\": %s,\n  \"device_type\": \"%s\",\n"
                      "  \"user_agent\": \"%s\",\n  \"screen_size\": \"%dx%d\"\n}",
                      uid, seq % 3, seq, (long long)t0, (long long)t1, (long long)(t1 - t0), platforms[seq % 3],
                      mobile ? "true" : "false", mobile ? "mobile" : "desktop", pe.ua, pe.sw, pe.sh);
        snprintf(name, sizeof name, "%c_%s_%d_metadata.json", ch, uid, seq);
        if (rc == 0) rc = put_file(job->dir, name, &b, s, err);
        t = t1;
    }
    bool drop_consent = false, drop_start = false;
    if (kind == KX_SYNTH_MISSING_METADATA) {
        if (rng_unit(&r) < 0.5) drop_consent = true;
        else drop_start = true;
    }
    iso_time(start_ms, when);
    if (rc == 0 && !drop_consent) {
        kx_buf_reset(&b);
        kx_buf_printf(&b,
                      "{\n  \"consented\": \"Yes\",\n  \"userId\": \"%s\",\n  \"timestamp\": \"%s\",\n"
                      "  \"userAgent\": \"%s\",\n  \"url\": \"https://example.org/consent.html?launched=true\"\n}",
                      uid, when, pe.ua);
        snprintf(name, sizeof name, "%s_consent.json", uid);
        rc = put_file(job->dir, name, &b, s, err);
    }
    if (rc == 0 && !drop_start) {
        kx_buf_reset(&b);
        kx_buf_printf(&b, "{\n  \"start_timestamp\": \"%s\",\n  \"timezone\": \"UTC\",\n  \"session_id\": \"%s\"\n}",
                      when, uid);
        snprintf(name, sizeof name, "%s_start_time.json", uid);
        rc = put_file(job->dir, name, &b, s, err);
    }
    if (rc == 0) {
        kx_buf_reset(&b);
        iso_time((int64_t)t, when);
        put_demographics(&b, &r, index, &pe, when);
        snprintf(name, sizeof name, "%s_demographics.json", uid);
        rc = put_file(job->dir, name, &b, s, err);
    }
    free(ev.v);
    kx_buf_free(&b);
    kx_buf_free(&text);
    s->users = 1;
    s->by_kind[kind] = 1;
    s->complete = kind == KX_SYNTH_OK;
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

int kx_synth_write(const kx_synth_params *p, const char *out_dir, kx_synth_summary *sum, kx_err *err)
{
    memset(sum, 0, sizeof *sum);
    if (p->users < 0) return kx_fail(err, "number of users must be >= 0, got %lld", (long long)p->users);
    if (p->min_chars < 1 || p->max_chars < p->min_chars)
        return kx_fail(err, "typed characters per task: need 1 <= min <= max");
    if (kx_mkdirs(out_dir, err) != 0) return -1;
    size_t n = (size_t)p->users;
    synth_job job = {p, out_dir, kx_calloc(n ? n : 1, sizeof(kx_synth_summary)), kx_calloc(n ? n : 1, sizeof(kx_err)),
                     kx_calloc(n ? n : 1, sizeof(int))};
    kx_parallel_for(p->workers > 0 ? p->workers : 1, n, synth_worker, &job);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (job.rc[i] != 0 && rc == 0) rc = kx_fail(err, "%s", job.errs[i].msg);
        const kx_synth_summary *s = &job.per_user[i];
        sum->users += s->users;
        sum->complete += s->complete;
        sum->broken += s->broken;
        sum->mobile += s->mobile;
        sum->mobile_complete += s->mobile_complete;
        sum->files += s->files;
        sum->bytes += s->bytes;
        for (int k = 0; k < KX_SYNTH_KIND_COUNT; k++) sum->by_kind[k] += s->by_kind[k];
    }
    free(job.per_user);
    free(job.errs);
    free(job.rc);
    return rc;
}
