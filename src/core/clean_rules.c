/* clean_rules.c — pure rules of the clean stage; see clean_rules.h. */
#include "core/clean_rules.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fmt.h"
#include "io/text.h"
#include "util/mem.h"

/* ---- character classes ------------------------------------------------------------------- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); } /* lower case only */
static bool is_tsclass(char c) { return is_digit(c) || c == 'T' || c == 'Z' || c == '-'; }

/* Number of hex characters at s (stops at the first non-hex, never past NUL). */
static size_t hex_run(const char *s)
{
    size_t n = 0;
    while (is_hex(s[n])) n++;
    return n;
}

static size_t digit_run(const char *s)
{
    size_t n = 0;
    while (is_digit(s[n])) n++;
    return n;
}

/* True if s starts with exactly `n` hex characters followed by '_'. */
static bool hex_exact_then_us(const char *s, size_t n)
{
    return hex_run(s) == n && s[n] == '_';
}

static void copy_uid(char uid[KX_UID_LEN + 1], const char *s)
{
    memcpy(uid, s, KX_UID_LEN);
    uid[KX_UID_LEN] = '\0';
}

bool kx_clean_is_gstmp(const char *name) { return strstr(name, ".gstmp") != NULL; }

/* Rule a: `[fit]_<32 hex>_<digits>` anywhere (leftmost match). */
static bool rule_a(const char *name, char uid[KX_UID_LEN + 1])
{
    for (const char *p = name; *p; p++) {
        if ((*p == 'f' || *p == 'i' || *p == 't') && p[1] == '_' && hex_exact_then_us(p + 2, KX_UID_LEN) &&
            is_digit(p[2 + KX_UID_LEN + 1])) {
            copy_uid(uid, p + 2);
            return true;
        }
    }
    return false;
}

/* Rule c: starts with `<digits>_<digits>_<digits>_<32 hex>`. */
static bool rule_c(const char *name, char uid[KX_UID_LEN + 1])
{
    const char *p = name;
    for (int i = 0; i < 3; i++) {
        size_t d = digit_run(p);
        if (d == 0 || p[d] != '_') return false;
        p += d + 1;
    }
    if (hex_run(p) < KX_UID_LEN) return false;
    copy_uid(uid, p);
    return true;
}

/* Rule e: `[0-9TZ-]+_[0-9a-f]+_<32 hex>_` anywhere (leftmost match). The three parts are
 * separated by '_', which none of the classes contains, so the match is found by checking,
 * at every '_' preceded by a [0-9TZ-] character, the two following segments. */
static bool rule_e(const char *name, char uid[KX_UID_LEN + 1])
{
    for (const char *p = name; *p; p++) {
        if (*p != '_' || p == name || !is_tsclass(p[-1])) continue;
        size_t h = hex_run(p + 1);
        if (h == 0 || p[1 + h] != '_') continue;
        const char *u = p + 1 + h + 1;
        if (hex_exact_then_us(u, KX_UID_LEN)) {
            copy_uid(uid, u);
            return true;
        }
    }
    return false;
}

int kx_clean_extract_uid(const char *name, char uid[KX_UID_LEN + 1])
{
    if (rule_a(name, uid)) return 'a';
    if (hex_exact_then_us(name, KX_UID_LEN)) {
        copy_uid(uid, name);
        return 'b';
    }
    if (rule_c(name, uid)) return 'c';
    if (hex_exact_then_us(name, 8) && hex_exact_then_us(name + 9, KX_UID_LEN)) {
        copy_uid(uid, name + 9);
        return 'd';
    }
    if (rule_e(name, uid)) return 'e';
    uid[0] = '\0';
    return 0;
}

bool kx_clean_is_timestamp_file(const char *name)
{
    /* YYYY-MM-DDTHH-MM-SS-mmmZ_ : 'D' marks a digit position. */
    static const char pattern[] = "DDDD-DD-DDTDD-DD-DD-DDDZ_";
    size_t i = 0;
    for (; pattern[i]; i++) {
        char c = name[i];
        if (pattern[i] == 'D' ? !is_digit(c) : c != pattern[i]) break;
    }
    if (!pattern[i]) return true;
    return hex_exact_then_us(name, 8) && hex_exact_then_us(name + 9, KX_UID_LEN);
}

/* ---- exact task names -------------------------------------------------------------------- */

bool kx_clean_parse_task_name(const char *name, kx_task_name *out)
{
    memset(out, 0, sizeof *out);
    char c = name[0];
    if (!(c == 'f' || c == 'i' || c == 't') || name[1] != '_') return false;
    if (!hex_exact_then_us(name + 2, KX_UID_LEN)) return false;
    const char *s = name + 2 + KX_UID_LEN + 1;
    size_t d = digit_run(s);
    if (d == 0 || (d > 1 && s[0] == '0')) return false;
    const char *rest = s + d;
    kx_task_kind kind;
    if (!strcmp(rest, ".csv")) kind = KX_TASK_CSV;
    else if (!strcmp(rest, "_raw.txt")) kind = KX_TASK_RAW_TXT;
    else return false;
    long seq = 0;
    for (size_t i = 0; i < d; i++) {
        if (seq >= 100000000L) { /* only "> 17" matters; keep it from overflowing */
            seq = 1000000000L;
            break;
        }
        seq = seq * 10 + (s[i] - '0');
    }
    out->kind = kind;
    out->letter = c;
    copy_uid(out->uid, name + 2);
    out->seq = seq;
    return true;
}

char kx_clean_seq_letter(long seq) { return "fit"[seq % 3]; }

bool kx_clean_task_consistent(const kx_task_name *t)
{
    return t->seq >= 0 && t->seq < KX_SEQ_COUNT && t->letter == kx_clean_seq_letter(t->seq);
}

void kx_clean_seq_ids(long seq, int *platform_id, int *video_id, int *session_id)
{
    *platform_id = (int)(seq % 3) + 1;
    *video_id = (int)((seq / 3) % 3) + 1;
    *session_id = (int)(seq / 9) + 1;
}

void kx_clean_target_name(const kx_task_name *t, char out[64])
{
    int p, v, s;
    kx_clean_seq_ids(t->seq, &p, &v, &s);
    snprintf(out, 64, "%d_%d_%d_%s.%s", p, v, s, t->uid, t->kind == KX_TASK_CSV ? "csv" : "txt");
}

void kx_clean_expected_csv_name(const char *uid, int seq, char out[64])
{
    snprintf(out, 64, "%c_%.32s_%d.csv", kx_clean_seq_letter(seq), uid, seq);
}

/* ---- line counting ----------------------------------------------------------------------- */

void kx_linecount_init(kx_linecount *lc)
{
    memset(lc, 0, sizeof *lc);
    lc->last = -1;
}

/* Number of LF bytes in p[0..n), eight bytes at a time: a byte of w ^ LF is zero exactly
 * where w holds LF; ((x & 0x7f..) + 0x7f..) | x sets a byte's top bit iff the byte is
 * non-zero, with no carry between bytes (so no false hits); the multiply adds the eight
 * 0/1 lanes. */
static int64_t count_lf(const unsigned char *p, size_t n)
{
    const uint64_t ones = 0x0101010101010101u, low7 = 0x7f7f7f7f7f7f7f7fu, lf = ones * '\n';
    int64_t count = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        uint64_t x = w ^ lf;
        uint64_t zero = ~(((x & low7) + low7) | x) & ~low7; /* top bit of each zero byte */
        count += (int64_t)(((zero >> 7) * ones) >> 56);
    }
    for (; i < n; i++) count += p[i] == '\n';
    return count;
}

void kx_linecount_feed(kx_linecount *lc, const void *p, size_t n)
{
    const unsigned char *s = p;
    if (n == 0) return;
    if (!memchr(s, '\r', n)) { /* the common case: only LF terminators */
        lc->terminators += count_lf(s, n) - (lc->prev_cr && s[0] == '\n');
        lc->prev_cr = false;
    } else {
        for (size_t i = 0; i < n; i++) {
            unsigned char c = s[i];
            if (c == '\n') {
                if (!lc->prev_cr) lc->terminators++; /* LF after CR completes a CRLF already counted */
                lc->prev_cr = false;
            } else if (c == '\r') {
                lc->terminators++;
                lc->prev_cr = true;
            } else {
                lc->prev_cr = false;
            }
        }
    }
    lc->last = s[n - 1];
    lc->bytes += n;
}

int64_t kx_linecount_lines(const kx_linecount *lc)
{
    int64_t lines = lc->terminators;
    if (lc->bytes > 0 && lc->last != '\n' && lc->last != '\r') lines++;
    return lines;
}

int64_t kx_clean_count_rows(const void *p, size_t n)
{
    kx_linecount lc;
    kx_linecount_init(&lc);
    kx_linecount_feed(&lc, p, n);
    return kx_linecount_lines(&lc) - 1;
}

/* ---- JSON values --------------------------------------------------------------------------- */

bool kx_json_truthy(const json_t *v)
{
    if (!v) return false;
    switch (json_typeof(v)) {
    case JSON_TRUE: return true;
    case JSON_INTEGER: return json_integer_value(v) != 0;
    case JSON_REAL: return json_real_value(v) != 0.0;
    case JSON_STRING: return json_string_length(v) > 0;
    case JSON_ARRAY: return json_array_size(v) > 0;
    case JSON_OBJECT: return json_object_size(v) > 0;
    default: return false; /* false, null */
    }
}

void kx_clean_put_json_cell(kx_buf *out, const json_t *v, const char *dflt)
{
    if (!v) {
        kx_buf_puts(out, dflt);
        return;
    }
    switch (json_typeof(v)) {
    case JSON_TRUE: kx_buf_puts(out, "True"); break;
    case JSON_FALSE: kx_buf_puts(out, "False"); break;
    case JSON_NULL: break;
    case JSON_INTEGER: kx_csv_put_i64(out, (int64_t)json_integer_value(v)); break;
    case JSON_REAL: kx_csv_put_double(out, json_real_value(v)); break;
    case JSON_STRING: kx_csv_put_str(out, json_string_value(v), json_string_length(v)); break;
    default: {
        char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s) {
            kx_csv_put_str(out, s, strlen(s));
            free(s);
        }
        break;
    }
    }
}

void kx_clean_metadata_header(kx_buf *out, bool include_pii)
{
    kx_buf_puts(out, "user_id,status,");
    if (include_pii) kx_buf_puts(out, "email,");
    kx_buf_puts(out, "gender,age,handedness,education,consent_email_for_future,submission_timestamp,"
                     "is_mobile,device_type,user_agent,screen_width,screen_height,window_width,"
                     "window_height,touch_capable,platform,vendor,consented,consent_timestamp,"
                     "consent_user_agent,consent_url,has_timestamp_files\n");
}

/* Member of an object, NULL when obj is NULL / not an object / lacks the key. */
static const json_t *member(const json_t *obj, const char *key)
{
    return obj && json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

/* First present of two members (the "else" fallbacks of the column table). */
static const json_t *member2(const json_t *a, const char *ka, const json_t *b, const char *kb)
{
    const json_t *v = member(a, ka);
    return v ? v : member(b, kb);
}

void kx_clean_metadata_row(kx_buf *out, const char *uid, bool complete, const json_t *demo,
                           const json_t *consent, bool has_timestamp_files, bool include_pii)
{
    const json_t *dev = member(demo, "device_info");
    if (dev && !json_is_object(dev)) dev = NULL;
    kx_csv_put_str(out, uid, strlen(uid));
    kx_buf_puts(out, complete ? ",complete" : ",broken");
#define CELL(v, d)                          \
    do {                                    \
        kx_buf_putc(out, ',');              \
        kx_clean_put_json_cell(out, v, d);  \
    } while (0)
    if (include_pii) CELL(member(demo, "email"), "");
    CELL(member(demo, "gender"), "");
    CELL(member2(demo, "age", demo, "age_range"), "");
    CELL(member(demo, "handedness"), "");
    CELL(member(demo, "education"), "");
    CELL(member(demo, "consent_email_for_future"), "False");
    CELL(member(demo, "submission_timestamp"), "");
    CELL(member2(demo, "is_mobile", dev, "isMobile"), "False");
    CELL(member2(demo, "device_type", dev, "deviceType"), "unknown");
    CELL(member(dev, "userAgent"), "");
    CELL(member(dev, "screenWidth"), "0");
    CELL(member(dev, "screenHeight"), "0");
    CELL(member(dev, "windowWidth"), "0");
    CELL(member(dev, "windowHeight"), "0");
    CELL(member(dev, "touchCapable"), "False");
    CELL(member(dev, "platform"), "");
    CELL(member(dev, "vendor"), "");
    CELL(member(consent, "consented"), "");
    CELL(member(consent, "timestamp"), "");
    CELL(member(consent, "userAgent"), "");
    CELL(member(consent, "url"), "");
#undef CELL
    kx_buf_puts(out, has_timestamp_files ? ",True\n" : ",False\n");
}

/* ---- reasons ------------------------------------------------------------------------------- */

void kx_clean_reason_min_rows(kx_buf *out, int64_t min_rows, const char *const *names,
                              const int64_t *rows, size_t n)
{
    kx_buf_printf(out, "CSV files with insufficient data (< %lld rows): ", (long long)min_rows);
    for (size_t i = 0; i < n; i++)
        kx_buf_printf(out, "%s%s (%lld rows)", i ? ", " : "", names[i], (long long)rows[i]);
}

void kx_clean_reason_incomplete(kx_buf *out, const bool present[KX_SEQ_COUNT])
{
    static const char *const platforms[3] = {"facebook", "instagram", "twitter"};
    kx_buf_puts(out, "Incomplete platform data (need all 18 files): ");
    for (int p = 0; p < 3; p++) {
        int count = 0;
        for (int s = p; s < KX_SEQ_COUNT; s += 3) count += present[s];
        kx_buf_printf(out, "%s%s %d/6 [", p ? "; " : "", platforms[p], count);
        bool first = true;
        for (int s = p; s < KX_SEQ_COUNT; s += 3) {
            if (!present[s]) continue;
            kx_buf_printf(out, "%s%d", first ? "" : ", ", s);
            first = false;
        }
        kx_buf_putc(out, ']');
    }
}

void kx_clean_reason_partial(kx_buf *out, const char *const *names, size_t n)
{
    kx_buf_puts(out, "Partial downloads present: ");
    for (size_t i = 0; i < n && i < 3; i++) kx_buf_printf(out, "%s%s", i ? ", " : "", names[i]);
}

/* ---- SHA-256 --------------------------------------------------------------------------------- */

struct kx_sha256 {
    EVP_MD_CTX *md;
};

kx_sha256 *kx_sha256_new(void)
{
    kx_sha256 *s = kx_malloc(sizeof *s);
    s->md = EVP_MD_CTX_new();
    if (!s->md || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "keyetl: cannot initialise SHA-256 (libcrypto)\n");
        abort();
    }
    return s;
}

void kx_sha256_update(kx_sha256 *s, const void *p, size_t n)
{
    if (n) EVP_DigestUpdate(s->md, p, n);
}

void kx_sha256_final(kx_sha256 *s, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(s->md, md, &len);
    for (unsigned int i = 0; i < len && i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[64] = '\0';
    EVP_MD_CTX_free(s->md);
    free(s);
}

struct kx_user_hash {
    kx_sha256 *sha;
};

kx_user_hash *kx_user_hash_new(void)
{
    kx_user_hash *h = kx_malloc(sizeof *h);
    h->sha = kx_sha256_new();
    return h;
}

void kx_user_hash_file_begin(kx_user_hash *h, const char *name, uint64_t size)
{
    char num[24];
    size_t n = kx_fmt_i64((int64_t)size, num);
    kx_sha256_update(h->sha, name, strlen(name) + 1); /* name bytes and the 0x00 byte */
    kx_sha256_update(h->sha, num, n);
    kx_sha256_update(h->sha, "", 1);
}

void kx_user_hash_content(kx_user_hash *h, const void *p, size_t n) { kx_sha256_update(h->sha, p, n); }

void kx_user_hash_final(kx_user_hash *h, char hex[65])
{
    kx_sha256_final(h->sha, hex);
    free(h);
}
