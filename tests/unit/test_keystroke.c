/* Keystroke parsing, matching and pairing (spec 01 §2, 02 §2–§4, worked example 02 §9). */
#include <stdlib.h>

#include "core/keystroke.h"
#include "io/table.h"
#include "pipeline/kptable.h"
#include "util/buf.h"
#include "util/mem.h"
#include "test.h"

static const kx_kp_thresholds TH = {30, 2000, 1000};
static const kx_ks_file_ids IDS = {1, 1, 1};

/* Collects malformed lines as "lineno,reason,raw\n". */
static void collect_malformed(void *arg, long lineno, kx_ks_reason r, const char *line, size_t len)
{
    kx_buf *b = arg;
    kx_buf_printf(b, "%ld,%s,", lineno, kx_ks_reason_code(r));
    kx_buf_put(b, line, len);
    kx_buf_putc(b, '\n');
}

typedef struct parsed {
    kx_user_keypairs u;
    kx_ks_work w;
    kx_buf mal;
    size_t npairs;
} parsed;

static void parse(parsed *p, const char *text, size_t n)
{
    kx_user_keypairs_init(&p->u);
    memcpy(p->u.user_id, "U", 2);
    p->u.device_type = kx_strdup("desktop");
    kx_ks_work_init(&p->w);
    p->mal = (kx_buf)KX_BUF_INIT;
    p->npairs = kx_ks_file_to_keypairs(&p->w, text, n, &IDS, &TH, &p->u, collect_malformed, &p->mal);
}

static void parsed_free(parsed *p)
{
    kx_user_keypairs_free(&p->u);
    kx_ks_work_free(&p->w);
    kx_buf_free(&p->mal);
}

static const char *key_of(const parsed *p, int32_t id)
{
    const kx_key *k = kx_keytab_get(&p->u.keys, id);
    return k ? k->bytes : "<missing>";
}

static char *table_csv(const kx_user_keypairs *u)
{
    kx_kp_batch b;
    kx_kp_batch_fill(&b, u);
    kx_buf out = KX_BUF_INIT;
    kx_csv_put_header(&out, kx_kp_columns, KX_KP_NCOLS);
    kx_csv_put_rows(&out, kx_kp_columns, KX_KP_NCOLS, b.n, b.cols);
    kx_kp_batch_free(&b);
    return kx_buf_steal(&out);
}

static const char WORKED_EXAMPLE[] =
    "Press or Release,Key,Time\n"
    "P,a,100\nP,a,150\nP,a,200\nR,a,260\nP,b,300\nR,b,380\nR,c,390\nP,d,400\nR,d,350\n"
    "P,\",410\nR,\",470\nP,,,480\nR,,,530\nP;e;545\nP,T,560\nR,t,580\np,q,610\nP,,620\nR,,700\n"
    "P,z,1.7e3x\n\nP,NA,720\nR,NA,790\n";

static const char WORKED_EXPECTED[] =
    "user_id,platform_id,video_id,session_id,sequence_id,key1,key2,key1_press,key1_release,key2_press,key2_release,HL,IL,PL,RL,valid,error_description,key1_timestamp,outlier,device_type\n"
    "U,1,1,1,0,a,a,100.0,,150.0,,,,,,False,Missing key1 release; Missing key2 release,100.0,False,desktop\n"
    "U,1,1,1,1,a,a,150.0,,200.0,260.0,,,,,False,Missing key1 release,150.0,False,desktop\n"
    "U,1,1,1,2,a,b,200.0,260.0,300.0,380.0,60.0,40.0,100.0,120.0,True,No error,200.0,False,desktop\n"
    "U,1,1,1,3,b,c,300.0,380.0,,390.0,80.0,,,,False,Missing key2 press (orphan release),300.0,False,desktop\n"
    "U,1,1,1,4,c,d,,390.0,400.0,350.0,,,,,False,Missing key1 press (orphan release),390.0,False,desktop\n"
    "U,1,1,1,5,d,\"\"\"\",400.0,350.0,410.0,470.0,-50.0,60.0,10.0,120.0,False,Negative Hold Latency,400.0,False,desktop\n"
    "U,1,1,1,6,\"\"\"\",\",\",410.0,470.0,480.0,530.0,60.0,10.0,70.0,60.0,True,No error,410.0,False,desktop\n"
    "U,1,1,1,7,\",\",t,480.0,530.0,560.0,580.0,50.0,30.0,80.0,50.0,True,No error,480.0,False,desktop\n"
    "U,1,1,1,8,t,,560.0,580.0,620.0,700.0,20.0,40.0,60.0,120.0,True,No error,560.0,True,desktop\n"
    "U,1,1,1,9,,NA,620.0,700.0,720.0,790.0,80.0,20.0,100.0,90.0,True,No error,620.0,False,desktop\n";

TEST(keystroke_worked_example_rows)
{
    parsed p;
    parse(&p, WORKED_EXAMPLE, sizeof WORKED_EXAMPLE - 1);
    char *csv = table_csv(&p.u);
    size_t valid = 0, outliers = 0;
    for (size_t i = 0; i < p.u.n; i++) {
        valid += p.u.rows[i].valid;
        outliers += p.u.rows[i].outlier;
    }
    size_t npairs = p.npairs;
    char mal[256];
    snprintf(mal, sizeof mal, "%s", p.mal.data ? p.mal.data : "");
    parsed_free(&p);
    int same = strcmp(csv, WORKED_EXPECTED) == 0;
    if (!same) fprintf(stderr, "got:\n%s", csv);
    free(csv);
    CHECK(same);
    CHECK_EQ_INT(npairs, 10);
    CHECK_EQ_INT(valid, 5);
    CHECK_EQ_INT(outliers, 1);
    CHECK_EQ_STR(mal, "15,too_few_fields,P;e;545\n18,bad_event_type,p,q,610\n21,bad_time,P,z,1.7e3x\n");
}

TEST(keystroke_worked_example_sorted_keystrokes)
{
    parsed p;
    parse(&p, WORKED_EXAMPLE, sizeof WORKED_EXAMPLE - 1);
    /* a100, a150, a200, b300, c390, d400, "410, ,480, t560, ∅620, NA720 */
    static const char *keys[] = {"a", "a", "a", "b", "c", "d", "\"", ",", "t", "<missing>", "NA"};
    static const double sort_times[] = {100, 150, 200, 300, 390, 400, 410, 480, 560, 620, 720};
    size_t n = p.w.nstrokes;
    int ok = n == 11;
    for (size_t i = 0; ok && i < n; i++)
        ok = !strcmp(key_of(&p, p.w.strokes[i].key), keys[i]) && p.w.strokes[i].sort_time == sort_times[i];
    int c_orphan = ok && isnan(p.w.strokes[4].press);
    int a_unmatched = ok && isnan(p.w.strokes[0].release) && isnan(p.w.strokes[1].release);
    parsed_free(&p);
    CHECK(ok);
    CHECK(c_orphan);
    CHECK(a_unmatched);
}

/* ---- lines --------------------------------------------------------------------------------- */

/* All lines the iterator yields, as "lineno:text|". */
static void lines_of(const char *text, size_t n, char *out, size_t cap)
{
    kx_ks_lines it;
    kx_ks_lines_init(&it, text, n);
    const char *line;
    size_t len;
    long no;
    size_t o = 0;
    out[0] = 0;
    while (kx_ks_lines_next(&it, &line, &len, &no) && o < cap)
        o += (size_t)snprintf(out + o, cap - o, "%ld:%.*s|", no, (int)len, line);
}

#define LINES(lit, buf) lines_of(lit, sizeof(lit) - 1, buf, sizeof buf)

TEST(keystroke_lines_header_detection)
{
    char b[256];
    LINES("Press or Release,Key,Time\nP,a,1\n", b);
    CHECK_EQ_STR(b, "2:P,a,1|");
    LINES("P,a,1\nP,b,2\n", b); /* no header: read from line 1 */
    CHECK_EQ_STR(b, "1:P,a,1|2:P,b,2|");
    LINES("x,Time\nP,a,1\n", b); /* "Time" alone makes line 1 a header */
    CHECK_EQ_STR(b, "2:P,a,1|");
    LINES("P,a,1\nP,Time,2\nPress,x,3\n", b); /* only line 1 can be a header */
    CHECK_EQ_STR(b, "1:P,a,1|2:P,Time,2|3:Press,x,3|");
    LINES("press or release,key,time\n", b); /* case-sensitive */
    CHECK_EQ_STR(b, "1:press or release,key,time|");
}

TEST(keystroke_lines_bom_crlf_cr_empty)
{
    char b[256];
    LINES("\xEF\xBB\xBFPress or Release,Key,Time\nP,a,1\n", b);
    CHECK_EQ_STR(b, "2:P,a,1|");
    LINES("\xEF\xBB\xBFP,a,1\n", b);
    CHECK_EQ_STR(b, "1:P,a,1|");
    LINES("H,Time\r\nP,a,1\r\nR,a,2\r\n", b);
    CHECK_EQ_STR(b, "2:P,a,1|3:R,a,2|");
    LINES("P,a,1\rR,a,2\n", b); /* lone CR is an ordinary byte */
    CHECK_EQ_STR(b, "1:P,a,1\rR,a,2|");
    LINES("P,a,1\nR,a,2", b); /* no final newline */
    CHECK_EQ_STR(b, "1:P,a,1|2:R,a,2|");
    LINES("P,a,1\nR,a,2\r", b); /* CR as the last byte is dropped */
    CHECK_EQ_STR(b, "1:P,a,1|2:R,a,2|");
    LINES("P,a,1\r\r\n", b); /* only the CR right before LF is removed */
    CHECK_EQ_STR(b, "1:P,a,1\r|");
    LINES("Time\n\n\r\nP,a,1\n\n \n", b); /* empty lines skipped, whitespace line kept */
    CHECK_EQ_STR(b, "4:P,a,1|6: |");
    LINES("", b);
    CHECK_EQ_STR(b, "");
}

/* ---- fields and times ------------------------------------------------------------------------ */

static kx_ks_reason parse_str(const char *s, kx_ks_event *ev) { return kx_ks_parse_line(s, strlen(s), ev); }

TEST(keystroke_malformed_reasons)
{
    kx_ks_event ev;
    CHECK_EQ_INT(parse_str("P;a;1", &ev), KX_KS_TOO_FEW_FIELDS);
    CHECK_EQ_INT(parse_str("P,1", &ev), KX_KS_TOO_FEW_FIELDS);
    CHECK_EQ_INT(parse_str(" ", &ev), KX_KS_TOO_FEW_FIELDS);
    CHECK_EQ_INT(parse_str("p,a,1", &ev), KX_KS_BAD_EVENT_TYPE);
    CHECK_EQ_INT(parse_str(" P,a,1", &ev), KX_KS_BAD_EVENT_TYPE);
    CHECK_EQ_INT(parse_str("PR,a,1", &ev), KX_KS_BAD_EVENT_TYPE);
    CHECK_EQ_INT(parse_str(",a,1", &ev), KX_KS_BAD_EVENT_TYPE);
    CHECK_EQ_INT(parse_str("X,a,notanumber", &ev), KX_KS_BAD_EVENT_TYPE); /* first matching reason */
    CHECK_EQ_INT(parse_str("P,a,", &ev), KX_KS_BAD_TIME);
    CHECK_EQ_INT(parse_str("P,a,notanumber", &ev), KX_KS_BAD_TIME);
    CHECK_EQ_STR(kx_ks_reason_code(KX_KS_TOO_FEW_FIELDS), "too_few_fields");
    CHECK_EQ_STR(kx_ks_reason_code(KX_KS_BAD_EVENT_TYPE), "bad_event_type");
    CHECK_EQ_STR(kx_ks_reason_code(KX_KS_BAD_TIME), "bad_time");
}

static int time_ok(const char *s, double *v) { return kx_ks_parse_time(s, strlen(s), v); }

TEST(keystroke_time_grammar)
{
    double v = 0;
    CHECK(time_ok("+1", &v) && v == 1);
    CHECK(time_ok("1.", &v) && v == 1);
    CHECK(time_ok(".5", &v) && v == 0.5);
    CHECK(time_ok("1e3", &v) && v == 1000);
    CHECK(time_ok("1E+3", &v) && v == 1000);
    CHECK(time_ok("2.5e-1", &v) && v == 0.25);
    CHECK(time_ok(" 12 ", &v) && v == 12);
    CHECK(time_ok("\t12\t ", &v) && v == 12);
    CHECK(time_ok("-56", &v) && v == -56);
    CHECK(time_ok("-0", &v) && v == 0 && signbit(v));
    CHECK(time_ok("1735660192368", &v) && v == 1735660192368.0);
    CHECK(time_ok("1735660192368.5", &v) && v == 1735660192368.5);
    CHECK(time_ok("12345678901234567890", &v) && v == 12345678901234567890.0);
    CHECK(time_ok("1e-400", &v) && v == 0); /* underflow is finite */
    const char *bad[] = {"inf", "nan", "-inf", "Infinity", "0x10", "1_000", "1e", "1e+", ".", "+", "",
                         "1e400", "-1e400", "1.2.3", "1 2", "\n1", "1\r", "e3", "+-1", "1f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (time_ok(bad[i], &v)) {
            kx_test_fail(__FILE__, __LINE__, "time '%s' accepted", bad[i]);
            return;
        }
}

TEST(keystroke_key_field_split)
{
    kx_ks_event ev;
    CHECK_EQ_INT(parse_str("P,\",123", &ev), KX_KS_OK);
    CHECK(ev.key_len == 1 && ev.key[0] == '"' && ev.press && ev.time == 123);
    CHECK_EQ_INT(parse_str("P,,,123", &ev), KX_KS_OK);
    CHECK(ev.key_len == 1 && ev.key[0] == ',');
    CHECK_EQ_INT(parse_str("R,a,b,123", &ev), KX_KS_OK);
    CHECK(ev.key_len == 3 && !memcmp(ev.key, "a,b", 3) && !ev.press);
    CHECK_EQ_INT(parse_str("P,,123", &ev), KX_KS_OK);
    CHECK_EQ_INT(ev.key_len, 0); /* the missing key */
    CHECK_EQ_INT(parse_str("P,NA,1", &ev), KX_KS_OK);
    CHECK(ev.key_len == 2 && !memcmp(ev.key, "NA", 2));
}

static const char *norm(const char *k)
{
    static char out[16];
    char buf[4];
    size_t n;
    const char *r = kx_ks_normalize_key(k, strlen(k), buf, &n);
    memcpy(out, r, n);
    out[n] = 0;
    return out;
}

TEST(keystroke_key_normalisation)
{
    CHECK_EQ_STR(norm("T"), "t");
    CHECK_EQ_STR(norm("Z"), "z");
    CHECK_EQ_STR(norm("\xC3\x84"), "\xC3\xA4");         /* Ä → ä */
    CHECK_EQ_STR(norm("\xC4\xB0"), "i");                /* İ → i (simple mapping) */
    CHECK_EQ_STR(norm("\xCE\xA3"), "\xCF\x83");         /* Σ → σ */
    CHECK_EQ_STR(norm("\xE2\x92\xB6"), "\xE2\x93\x90"); /* Ⓐ (Other_Uppercase) → ⓐ */
    CHECK_EQ_STR(norm("\xF0\x90\x90\x80"), "\xF0\x90\x90\xA8"); /* Deseret 𐐀 → 𐐨 */
    CHECK_EQ_STR(norm("\xF0\x9D\x90\x80"), "\xF0\x9D\x90\x80"); /* 𝐀: Uppercase, no mapping */
    CHECK_EQ_STR(norm("\xC7\x85"), "\xC7\x85");         /* ǅ is titlecase, not Uppercase */
    CHECK_EQ_STR(norm("Key.Space"), "Key.Space");
    CHECK_EQ_STR(norm("AB"), "AB");
    CHECK_EQ_STR(norm(":"), ":");
    CHECK_EQ_STR(norm("\xDC"), "\xDC");                 /* invalid UTF-8: opaque */
    CHECK_EQ_STR(norm("\xC3"), "\xC3");
    CHECK_EQ_STR(norm("\xC3\x84\xC3\x84"), "\xC3\x84\xC3\x84"); /* two code points */
    CHECK_EQ_INT(kx_unicode_upper_to_lower(0x41), 0x61);
    CHECK_EQ_INT(kx_unicode_upper_to_lower(0x61), 0x61);
}

/* ---- matching ------------------------------------------------------------------------------------ */

#define PARSE(p, lit) parse(p, lit, sizeof(lit) - 1)

TEST(keystroke_lifo_auto_repeat)
{
    parsed p;
    PARSE(&p, "P,x,0\nR,x,50\nP,a,100\nP,a,250\nP,a,400\nR,a,460\n");
    /* x(0,50), a(400,460) matched; a100 and a250 unmatched: sorted x, a100, a250, a400. */
    int ok = p.w.nstrokes == 4 && p.w.strokes[1].press == 100 && isnan(p.w.strokes[1].release) &&
             p.w.strokes[2].press == 250 && isnan(p.w.strokes[2].release) && p.w.strokes[3].press == 400 &&
             p.w.strokes[3].release == 460;
    int e0 = p.u.rows[0].error, e1 = p.u.rows[1].error, e2 = p.u.rows[2].error;
    double hl0 = p.u.rows[0].hl;
    parsed_free(&p);
    CHECK(ok);
    CHECK_EQ_INT(e0, KX_KPE_K2_RELEASE);
    CHECK_EQ_DBL(hl0, 50);
    CHECK_EQ_INT(e1, KX_KPE_K1_RELEASE_K2_RELEASE);
    CHECK_EQ_INT(e2, KX_KPE_K1_RELEASE);
}

TEST(keystroke_orphans_and_combinations)
{
    parsed p;
    /* orphan z (release 10), unmatched q (press 20), orphan y (30), orphan w (40) */
    PARSE(&p, "R,z,10\nP,q,20\nR,y,30\nR,w,40\n");
    int n = (int)p.u.n;
    int e0 = p.u.rows[0].error, e1 = p.u.rows[1].error, e2 = p.u.rows[2].error;
    double ts0 = p.u.rows[0].key1_timestamp, ts1 = p.u.rows[1].key1_timestamp;
    int v = p.u.rows[0].valid || p.u.rows[1].valid || p.u.rows[2].valid;
    double hl = p.u.rows[1].hl;
    parsed_free(&p);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(e0, KX_KPE_K1_PRESS_K2_RELEASE);
    CHECK_EQ_INT(e1, KX_KPE_K1_RELEASE_K2_PRESS);
    CHECK_EQ_INT(e2, KX_KPE_K1_PRESS_K2_PRESS);
    CHECK_EQ_DBL(ts0, 10);
    CHECK_EQ_DBL(ts1, 20);
    CHECK_EQ_DBL(hl, NAN);
    CHECK(!v);
    CHECK_EQ_STR(kx_kp_error_text(KX_KPE_K1_PRESS_K2_PRESS),
                 "Missing key1 press (orphan release); Missing key2 press (orphan release)");
}

TEST(keystroke_stable_tie_order_edge_case_5)
{
    parsed p;
    /* edge CASES #5: same press time; the release order decides (h first, then Key.shift). */
    PARSE(&p, "P,Key.shift,1000\nP,H,1000\nR,H,1070\nR,Key.shift,1070\nP,H,1200\nR,h,1260\n");
    int ok = p.u.n == 2 && !strcmp(key_of(&p, p.u.rows[0].key1), "h") &&
             !strcmp(key_of(&p, p.u.rows[0].key2), "Key.shift") && !strcmp(key_of(&p, p.u.rows[1].key2), "h");
    double il = p.u.rows[0].il, pl = p.u.rows[0].pl, rl = p.u.rows[0].rl;
    int valid = p.u.rows[0].valid && p.u.rows[1].valid;
    parsed_free(&p);
    CHECK(ok);
    CHECK_EQ_DBL(il, -70);
    CHECK_EQ_DBL(pl, 0);
    CHECK_EQ_DBL(rl, 0);
    CHECK(valid);
}

TEST(keystroke_leftover_presses_follow_equal_times)
{
    parsed p;
    /* x and y pressed at 10; y released (appended first), x left over (appended after). */
    PARSE(&p, "P,x,10\nP,y,10\nR,y,20\nP,w,5\n");
    /* appended: y(10,20) pos0, then leftovers in first appearance order: x(10) pos1, w(5) pos2.
     * sorted: w5, y10, x10 */
    int ok = p.w.nstrokes == 3 && !strcmp(key_of(&p, p.w.strokes[0].key), "w") &&
             !strcmp(key_of(&p, p.w.strokes[1].key), "y") && !strcmp(key_of(&p, p.w.strokes[2].key), "x");
    parsed_free(&p);
    CHECK(ok);
}

TEST(keystroke_missing_key_matches_itself)
{
    parsed p;
    PARSE(&p, "P,,100\nR,,180\nP,,400\nR,,490\n");
    int ok = p.u.n == 1 && p.u.rows[0].key1 == KX_KEY_MISSING && p.u.rows[0].key2 == KX_KEY_MISSING &&
             p.u.rows[0].valid && p.u.rows[0].hl == 80 && p.u.rows[0].il == 220;
    parsed_free(&p);
    CHECK(ok);
}

TEST(keystroke_negative_hl_replaces_key2_text)
{
    parsed p;
    PARSE(&p, "P,m,100\nR,m,90\nP,n,300\n");
    int e = p.u.rows[0].error, v = p.u.rows[0].valid;
    double hl = p.u.rows[0].hl, il = p.u.rows[0].il;
    parsed_free(&p);
    CHECK_EQ_INT(e, KX_KPE_NEGATIVE_HL); /* "Missing key2 release" is dropped */
    CHECK(!v);
    CHECK_EQ_DBL(hl, -10);
    CHECK_EQ_DBL(il, NAN); /* key2 unmatched */
}

/* One valid pair with the given hold of key1 and IL; returns its outlier flag. */
static int outlier_for(double hl, double il)
{
    char text[128];
    snprintf(text, sizeof text, "P,a,1000\nR,a,%.17g\nP,b,%.17g\nR,b,%.17g\n", 1000 + hl, 1000 + hl + il,
             1000 + hl + il + 50);
    parsed p;
    parse(&p, text, strlen(text));
    int o = p.u.n == 1 && p.u.rows[0].valid ? p.u.rows[0].outlier : -1;
    parsed_free(&p);
    return o;
}

TEST(keystroke_outlier_thresholds_strict)
{
    CHECK_EQ_INT(outlier_for(30, 100), 0);
    CHECK_EQ_INT(outlier_for(29.5, 100), 1);
    CHECK_EQ_INT(outlier_for(2000, 100), 0);
    CHECK_EQ_INT(outlier_for(2000.5, 100), 1);
    CHECK_EQ_INT(outlier_for(100, 1000), 0);
    CHECK_EQ_INT(outlier_for(100, 1000.5), 1);
    CHECK_EQ_INT(outlier_for(1500, -1000), 0);
    CHECK_EQ_INT(outlier_for(1500, -1000.5), 1);
    /* invalid rows are never outliers */
    parsed p;
    PARSE(&p, "P,a,0\nR,a,5\nP,b,3000\n");
    int o = p.u.rows[0].outlier;
    parsed_free(&p);
    CHECK_EQ_INT(o, 0);
}

TEST(keystroke_sequence_restarts_and_small_files)
{
    parsed p;
    PARSE(&p, "Press or Release,Key,Time\n");
    size_t n0 = p.npairs;
    parsed_free(&p);
    PARSE(&p, "P,a,1\nR,a,2\n");
    size_t n1 = p.npairs;
    /* second file into the same user: sequence_id restarts at 0 */
    kx_ks_file_ids ids = {2, 3, 1};
    const char f2[] = "P,a,1\nR,a,2\nP,b,3\nR,b,4\nP,c,5\nR,c,6\n";
    size_t n2 = kx_ks_file_to_keypairs(&p.w, f2, sizeof f2 - 1, &ids, &TH, &p.u, NULL, NULL);
    int ok = p.u.n == 2 && p.u.rows[0].sequence_id == 0 && p.u.rows[1].sequence_id == 1 &&
             p.u.rows[1].platform_id == 2 && p.u.rows[1].video_id == 3 && p.u.rows[1].session_id == 1;
    parsed_free(&p);
    CHECK_EQ_INT(n0, 0);
    CHECK_EQ_INT(n1, 0);
    CHECK_EQ_INT(n2, 2);
    CHECK(ok);
}

TEST(keystroke_unsorted_input_is_sorted)
{
    parsed p;
    /* times decreasing: merge sort path */
    PARSE(&p, "P,e,50\nR,e,55\nP,d,40\nR,d,45\nP,c,30\nR,c,35\nP,b,20\nR,b,25\nP,a,10\nR,a,15\n");
    int ok = p.w.nstrokes == 5;
    for (size_t i = 0; ok && i < 5; i++) ok = p.w.strokes[i].press == 10.0 * (double)(i + 1);
    parsed_free(&p);
    CHECK(ok);
}

/* ---- the fast paths (docs/performance.md "Round 5"): same results as the general code ---- */

TEST(keystroke_time_fast_path_edges)
{
    double v = -1;
    CHECK(time_ok("0", &v) && v == 0 && !signbit(v));
    CHECK(time_ok("7", &v) && v == 7);
    CHECK(time_ok("00012", &v) && v == 12);
    CHECK(time_ok("999999999999999", &v) && v == 999999999999999.0);     /* 15 digits: fast */
    CHECK(time_ok("1234567890123456", &v) && v == 1234567890123456.0);   /* 16: general path */
    CHECK(time_ok("9007199254740993", &v) && v == 9007199254740992.0);   /* 2^53 + 1 rounds (strtod) */
    CHECK(time_ok("12 ", &v) && v == 12);
    CHECK(time_ok("1a", &v) == 0);
    CHECK(time_ok("12:", &v) == 0);
    CHECK(time_ok("/", &v) == 0); /* '0' - 1 */
    CHECK(time_ok("12345678", &v) && v == 12345678);      /* exactly the 8-digit block */
    CHECK(time_ok("99999999", &v) && v == 99999999);
    CHECK(time_ok("00000000", &v) && v == 0);
    CHECK(time_ok("1738288506822", &v) && v == 1738288506822.0);
    static const char *const bad8[] = {"1234567:9012", "123:5678", ":2345678", "1234567a90123", "12345678 9",
                                       "1234\xff" "678", "1234/678", "1234567\x80"};
    for (size_t i = 0; i < sizeof bad8 / sizeof bad8[0]; i++)
        if (time_ok(bad8[i], &v)) {
            kx_test_fail(__FILE__, __LINE__, "time '%s' accepted", bad8[i]);
            return;
        }
}

/* Key ids through the per-call cache: every event's id must name exactly the normalised bytes
 * of its raw key, across many distinct keys (cache collisions), lengths 1..20 (the 16-byte
 * cache limit), upper/lower case pairs, keys near the end of the buffer, and a second user
 * whose key table numbers the same keys differently. */
TEST(keystroke_key_cache_ids_match_bytes)
{
    kx_buf text = KX_BUF_INIT;
    char raw[901][24];
    size_t nraw = 0;
    kx_buf_puts(&text, "Press or Release,Key,Time\n");
    for (int i = 0; i < 600; i++) {
        int len = 1 + i % 20;
        for (int c = 0; c < len; c++) raw[nraw][c] = (char)("aBcDeFgHiJ"[(i / 20 + c) % 10] + (c % 3));
        raw[nraw][len] = 0;
        if (i % 7 == 0) memcpy(raw[nraw], "Q", 2); /* 'Q' and 'q' must share an id */
        if (i % 11 == 0) memcpy(raw[nraw], "q", 2);
        if (i % 13 == 0) /* the same first 8 bytes and length: only the second word differs */
            memcpy(raw[nraw], i % 26 ? "Key.backspace" : "Key.backslash", 14);
        kx_buf_printf(&text, "%c,%s,%d\n", i % 2 ? 'R' : 'P', raw[nraw], 1000 + i);
        nraw++;
    }
    for (int i = 0; i < 300; i++) { /* 300 keys > 256 cache slots, all with the same first word */
        snprintf(raw[nraw], sizeof raw[nraw], "Key.back%03d", i);
        kx_buf_printf(&text, "P,%s,%d\n", raw[nraw++], 2000 + i);
    }
    kx_buf_puts(&text, "P,Z,5"); /* last line, no LF: the key is < 16 bytes from the end */
    memcpy(raw[nraw++], "Z", 2);
    for (int round = 0; round < 2; round++) {
        kx_user_keypairs u;
        kx_user_keypairs_init(&u);
        if (round == 1) { /* a different numbering of the same keys */
            kx_keytab_intern(&u.keys, "zz", 2);
            kx_keytab_intern(&u.keys, "z", 1);
        }
        kx_ks_work w;
        kx_ks_work_init(&w);
        w.keep_events = true;
        for (int pass = 0; pass < 2; pass++) { /* the second call starts a new cache generation */
            kx_ks_file_to_keypairs(&w, text.data, text.len, &IDS, &TH, &u, NULL, NULL);
            CHECK_EQ_INT(w.nevents, nraw);
            for (size_t i = 0; i < nraw; i++) {
                char buf[4];
                size_t n;
                const char *k = kx_ks_normalize_key(raw[i], strlen(raw[i]), buf, &n);
                const kx_key *got = kx_keytab_get(&u.keys, w.events[i].key);
                if (!got || got->len != n || memcmp(got->bytes, k, n)) {
                    kx_test_fail(__FILE__, __LINE__, "event %zu: key '%s' got id %d", i, raw[i], w.events[i].key);
                    return;
                }
            }
        }
        kx_ks_work_free(&w);
        kx_user_keypairs_free(&u);
    }
    kx_buf_free(&text);
}

TEST(keystroke_kept_events_in_line_order)
{
    static const char f[] = "Press or Release,Key,Time\nP,A,30\nbad line\nR,,10\nX,a,5\nR,a,20\nP,b,1e1\n";
    kx_user_keypairs u;
    kx_user_keypairs_init(&u);
    kx_ks_work w;
    kx_ks_work_init(&w);
    w.keep_events = true;
    kx_ks_file_to_keypairs(&w, f, strlen(f), &IDS, &TH, &u, NULL, NULL);
    CHECK_EQ_INT(w.nevents, 4); /* malformed lines are not events */
    CHECK(w.events[0].press && w.events[0].time == 30 && !strcmp(u.keys.keys[w.events[0].key].bytes, "a"));
    CHECK(!w.events[1].press && w.events[1].time == 10 && w.events[1].key == KX_KEY_MISSING);
    CHECK(!w.events[2].press && w.events[2].time == 20 && w.events[2].key == w.events[0].key);
    CHECK(w.events[3].press && w.events[3].time == 10 && !strcmp(u.keys.keys[w.events[3].key].bytes, "b"));
    kx_ks_file_to_keypairs(&w, "P,c,1\n", 6, &IDS, &TH, &u, NULL, NULL);
    CHECK_EQ_INT(w.nevents, 1); /* per file */
    kx_ks_work_free(&w);
    kx_user_keypairs_free(&u);
}

/* The fast path against the general one: a leading space always takes the general path (it is
 * trimmed, then the grammar runs), so s and " " + s must be accepted alike, with equal values;
 * all-digit texts must also equal strtod. 200,000 random texts of 1..15 characters. */
TEST(keystroke_time_fast_path_equals_general)
{
    static const char alphabet[] = "0123456789012345678901234567890123456789.e+- \t:/a";
    uint64_t seed = 99;
    char s[20], sp[21];
    for (int t = 0; t < 200000; t++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t n = 1 + (size_t)((seed >> 59) % 15);
        bool digits = (seed >> 20) % 2; /* half the texts: digits only */
        for (size_t i = 0; i < n; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            s[i] = digits ? (char)('0' + (seed >> 40) % 10) : alphabet[(seed >> 40) % (sizeof alphabet - 1)];
        }
        s[n] = 0;
        sp[0] = ' ';
        memcpy(sp + 1, s, n + 1);
        double a = -1, b = -2;
        bool ok_a = kx_ks_parse_time(s, n, &a), ok_b = kx_ks_parse_time(sp, n + 1, &b);
        bool ok_digits = strspn(s, "0123456789") == n;
        if (ok_a != ok_b || (ok_a && memcmp(&a, &b, sizeof a)) || (ok_digits && (!ok_a || a != strtod(s, NULL)))) {
            kx_test_fail(__FILE__, __LINE__, "'%s': %d %.17g vs %d %.17g", s, ok_a, a, ok_b, b);
            return;
        }
    }
}
