/* test_eda_sidecar.c — the quality-scan sidecar (pipeline/eda_inputs.h): written per file the
 * way keypairs does, loaded, replayed; the replay must give exactly the accumulator state of
 * the file scan (kx_eda_scan_raw_files) on the same folders, including the folder order
 * where keypairs' and eda's orders differ. Rejection of stale / malformed sidecars. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/eda.h"
#include "io/fs.h"
#include "pipeline/eda_inputs.h"
#include "test.h"
#include "util/mem.h"

#define U1 "c1111111111111111111111111111111" /* sorts after "batch_0" */
#define U2 "22222222222222222222222222222222"

static void put(const char *dir, const char *name, const char *text)
{
    char *p = kx_path_join(dir, name);
    kx_write_file_atomic(p, text, strlen(text), NULL);
    free(p);
}

/* A sidecar record of dir (one user folder), the way keypairs writes it. */
static void record(kx_buf *out, size_t device, const char *partition, const char *folder, const char *dir,
                   size_t *folders, size_t *files)
{
    kx_dirlist l;
    kx_buf body = KX_BUF_INIT, data = KX_BUF_INIT;
    size_t nf = 0, ne = 0;
    kx_list_dir(dir, &l, NULL);
    for (size_t i = 0; i < l.n; i++) {
        if (!l.items[i].is_file || !kx_eda_is_scan_file_name(l.items[i].name)) continue;
        char *p = kx_path_join(dir, l.items[i].name);
        kx_buf_reset(&data);
        kx_read_file(p, &data, NULL);
        free(p);
        nf++;
        ne += (size_t)kx_eda_sidecar_scan(&body, l.items[i].name, data.data ? data.data : "", data.len);
    }
    kx_dirlist_free(&l);
    kx_eda_sidecar_folder(out, device, partition, folder, nf, ne, body.data, body.len);
    kx_buf_free(&body);
    kx_buf_free(&data);
    (*folders)++;
    *files += nf;
}

static char *dump_quality(kx_eda *e)
{
    kx_eda_meta m = {"v", "t", "", "", "", ""};
    json_t *d = kx_eda_results(e, &m);
    char *s = json_dumps(json_object_get(d, "quality_issues"), JSON_PRESERVE_ORDER | JSON_COMPACT);
    json_decref(d);
    return s;
}

static const char *KEYS_FILE = "Press or Release,Key,Time\n"
                               "P,a\tb,1\nP,%,2\nP,-,3\nP,,4\nP,\xc3\xa9,5\nP,Key.shift,6\nR,q,7\nP,q,8\nP,q,9\n";

/* Builds the fixture tree; returns the sidecar text (keypairs order: name, device, partition). */
static void build_tree(const char *t, kx_buf *sc)
{
    char d[512];
    /* desktop: U1 both plain and in partition batch_0 (eda: batch_0 first, "batch_0" < "c1...");
     * U2 in batch_0; mobile: U1 plain */
    snprintf(d, sizeof d, "%s/cleaned_data/desktop/raw_data/" U1, t);
    kx_mkdirs(d, NULL);
    put(d, "1_1_1_" U1 ".csv", "Press or Release,Key,Time\nP,x,5\n");
    put(d, "9999999999_1_1_" U1 ".csv", KEYS_FILE); /* id > 2^31-1: eda reads it */
    put(d, "1_1_1_" U1 ".txt", "P,q,1\n");
    snprintf(d, sizeof d, "%s/cleaned_data/desktop/raw_data/batch_0/" U1, t);
    kx_mkdirs(d, NULL);
    put(d, "1_1_1_" U1 ".csv", "Press or Release,Key,Time\nP,y,7\nR,z,8\n");
    snprintf(d, sizeof d, "%s/cleaned_data/desktop/raw_data/batch_0/" U2, t);
    kx_mkdirs(d, NULL);
    put(d, "1_1_1_" U2 ".csv", "Press or Release,Key,Time\nP,z,9\nR,z,10\n");
    snprintf(d, sizeof d, "%s/cleaned_data/mobile/raw_data/" U1, t);
    kx_mkdirs(d, NULL);
    put(d, "1_1_1_" U1 ".csv", "Press or Release,Key,Time\nR,m,1\nP,n,2\n");

    char *devs[] = {"desktop", "mobile"};
    size_t folders = 0, files = 0;
    kx_buf body = KX_BUF_INIT;
    snprintf(d, sizeof d, "%s/cleaned_data/desktop/raw_data/batch_0/" U2, t);
    record(&body, 0, "batch_0", U2, d, &folders, &files);
    snprintf(d, sizeof d, "%s/cleaned_data/desktop/raw_data/" U1, t);
    record(&body, 0, "", U1, d, &folders, &files);
    snprintf(d, sizeof d, "%s/cleaned_data/desktop/raw_data/batch_0/" U1, t);
    record(&body, 0, "batch_0", U1, d, &folders, &files);
    snprintf(d, sizeof d, "%s/cleaned_data/mobile/raw_data/" U1, t);
    record(&body, 1, "", U1, d, &folders, &files);
    char *id = kx_eda_cleaning_id(t);
    kx_eda_sidecar_header(sc, devs, 2, id);
    free(id);
    kx_buf_put(sc, body.data, body.len);
    kx_eda_sidecar_trailer(sc, folders, files);
    kx_buf_free(&body);
}

static void write_sidecar(const char *t, const char *text, size_t len)
{
    char d[512];
    snprintf(d, sizeof d, "%s/etl_metadata/keypairs", t);
    kx_mkdirs(d, NULL);
    put(d, KX_EDA_SIDECAR_FILE, "");
    char *p = kx_path_join(d, KX_EDA_SIDECAR_FILE);
    kx_write_file_atomic(p, text, len, NULL);
    free(p);
}

TEST(eda_sidecar_replay_equals_scan)
{
    const char *t = kx_test_tmpdir();
    kx_buf sc = KX_BUF_INIT;
    build_tree(t, &sc);
    write_sidecar(t, sc.data, sc.len);
    char *devs[] = {"desktop", "mobile"};
    char cleaned[512];
    snprintf(cleaned, sizeof cleaned, "%s/cleaned_data", t);

    kx_eda *scan = kx_eda_new();
    CHECK_EQ_INT(kx_eda_scan_raw_files(scan, cleaned, devs, 2, 2, NULL), 5);
    char *want = dump_quality(scan);

    kx_eda_sidecar s;
    kx_err err;
    CHECK_EQ_INT(kx_eda_sidecar_open(t, devs, 2, &s, &err), 0);
    CHECK_EQ_INT(s.n, 4);
    CHECK_EQ_INT(s.files, 5);
    kx_eda *rep = kx_eda_new();
    CHECK_EQ_INT(kx_eda_sidecar_replay(rep, &s), 5);
    char *got = dump_quality(rep);
    CHECK_EQ_STR(got, want);
    /* hand-checked: the > 2^31 file's keys, escaped and back (tab, %, -, missing, é), in the
     * order they went down; batch_0/U1's file comes before the plain U1 one (eda order) */
    CHECK(strstr(got, "\"" U1 "_9999999999_1_1_" U1 ".csv\":{\"a\\tb\":1.0,\"%\":2.0,\"-\":3.0,\"\":4.0,"
                      "\"\xc3\xa9\":5.0,\"q\":9.0}"));
    CHECK(strstr(got, "\"issue_counts\":{\"orphan_release\":3,\"double_press\":1}"));
    CHECK(strstr(got, "\"total_issues\":4"));
    free(want);
    free(got);
    kx_eda_sidecar_free(&s);
    kx_eda_free(scan);
    kx_eda_free(rep);
    kx_buf_free(&sc);
}

TEST(eda_sidecar_rejected_when_stale_or_malformed)
{
    const char *t = kx_test_tmpdir();
    kx_buf sc = KX_BUF_INIT;
    build_tree(t, &sc);
    char *devs[] = {"desktop", "mobile"}, *one[] = {"desktop"}, *swapped[] = {"mobile", "desktop"};
    kx_eda_sidecar s;
    kx_err err;
    CHECK_EQ_INT(kx_eda_sidecar_open(t, devs, 2, &s, &err), -1); /* absent */
    write_sidecar(t, sc.data, sc.len);
    CHECK_EQ_INT(kx_eda_sidecar_open(t, one, 1, &s, &err), -1);
    CHECK(strstr(err.msg, "DEVICE_TYPES"));
    CHECK_EQ_INT(kx_eda_sidecar_open(t, swapped, 2, &s, &err), -1);
    /* the cleaned data changed since keypairs (user_checksums.json rewritten) */
    char d[512];
    snprintf(d, sizeof d, "%s/etl_metadata/cleaning", t);
    kx_mkdirs(d, NULL);
    put(d, "user_checksums.json", "{}\n");
    CHECK_EQ_INT(kx_eda_sidecar_open(t, devs, 2, &s, &err), -1);
    CHECK(strstr(err.msg, "other cleaned data"));
    snprintf(d, sizeof d, "%s/etl_metadata/cleaning/user_checksums.json", t);
    remove(d);
    CHECK_EQ_INT(kx_eda_sidecar_open(t, devs, 2, &s, &err), 0);
    kx_eda_sidecar_free(&s);
    /* truncations at every line boundary, a wrong count, a bad escape, a bad time */
    for (size_t cut = 0; cut + 1 < sc.len; cut++) {
        if (sc.data[cut] != '\n') continue;
        write_sidecar(t, sc.data, cut + 1);
        CHECK_EQ_INT(kx_eda_sidecar_open(t, devs, 2, &s, &err), -1);
    }
    write_sidecar(t, sc.data, sc.len - 1); /* no final LF */
    CHECK_EQ_INT(kx_eda_sidecar_open(t, devs, 2, &s, &err), -1);
    const char *bad[] = {"\nend\t4\t5\n", "\nend\t4\t5\n", "\t6\n", "%2D", "\t4022000000000000\n", ",double_press:1"};
    const char *repl[] = {"\nend\t4\t5\nF\t0\t-\tx\t0\t0\n", "\nend\t3\t5\n", "\t7\n", "%2G",
                          "\t402200000000000\n", ",double_press:0"};
    for (size_t i = 0; i < 6; i++) {
        char *at = strstr(sc.data, bad[i]);
        CHECK(at != NULL);
        kx_buf m = KX_BUF_INIT;
        kx_buf_put(&m, sc.data, (size_t)(at - sc.data));
        kx_buf_puts(&m, repl[i]);
        kx_buf_puts(&m, at + strlen(bad[i]));
        write_sidecar(t, m.data, m.len);
        CHECK_EQ_INT(kx_eda_sidecar_open(t, devs, 2, &s, &err), -1);
        kx_buf_free(&m);
    }
    kx_buf_free(&sc);
}

/* The sidecar entry keypairs writes from its parser's kept events (kx_eda_check_keyed +
 * kx_eda_sidecar_put_check) must equal the one from parsing the bytes again
 * (kx_eda_sidecar_scan): fixed cases for each rule, then 400 random files. */
static int keyed_entry(kx_buf *out, const char *name, const char *data, size_t len)
{
    static const kx_kp_thresholds th = {30, 2000, 1000};
    static const kx_ks_file_ids ids = {1, 1, 1};
    kx_user_keypairs u;
    kx_user_keypairs_init(&u);
    kx_keytab_intern(&u.keys, "x", 1); /* ids need not start at 0 for the file's keys */
    kx_ks_work w;
    kx_ks_work_init(&w);
    w.keep_events = true;
    kx_ks_file_to_keypairs(&w, data, len, &ids, &th, &u, NULL, NULL);
    kx_eda_file_check c;
    kx_eda_check_keyed(w.events, w.nevents, &u.keys, &c);
    int wrote = kx_eda_sidecar_put_check(out, name, &c);
    kx_eda_file_check_free(&c);
    kx_ks_work_free(&w);
    kx_user_keypairs_free(&u);
    return wrote;
}

static int same_entry(const char *data)
{
    kx_buf a = KX_BUF_INIT, b = KX_BUF_INIT;
    int wa = kx_eda_sidecar_scan(&a, "f.csv", data, strlen(data));
    int wb = keyed_entry(&b, "f.csv", data, strlen(data));
    int same = wa == wb && a.len == b.len && (!a.len || !memcmp(a.data, b.data, a.len));
    if (!same) fprintf(stderr, "scan:\n%.*s\nkeyed:\n%.*s\n", (int)a.len, a.data, (int)b.len, b.data);
    kx_buf_free(&a);
    kx_buf_free(&b);
    return same;
}

TEST(eda_check_keyed_equals_scan)
{
    static const char *const cases[] = {
        "", "Press or Release,Key,Time\n",
        "P,a,1\nR,a,2\n",                           /* clean: no entry */
        "P,a,1\nP,a,2\nR,a,3\n",                    /* double press */
        "R,a,1\n",                                  /* orphan release */
        "P,a,5\nR,a,3\n",                           /* sorted by time first: orphan, then down */
        "P,A,5\nR,a,9\nP,b,1\n",                    /* normalisation joins A and a; b unreleased */
        "P,,1\nP,,2\nR,,3\nP,,4\n",                 /* the missing key */
        "P,Key.shift,1\nR,Key.shift,0\nP,Key.shift,2\nP,Key.ctrl,3\nP,Key.cmd,4\nP,Key.alt,5\nP,Key.caps_lock,6\n",
        "P,Key.shif,1\nP,Key.space,2\n",            /* near misses are not ignored */
        "P,b,3\nP,a,3\nR,b,3\nR,a,2\nP,c,1\nbad\nP,a,1e0\nR,-,4\nP,%,5\n", /* ties keep line order */
        "P,z,2\r\nP,y,1\r\nR,z,3",                  /* CRLF, no final LF */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (!same_entry(cases[i])) {
            kx_test_fail(__FILE__, __LINE__, "case %zu differs", i);
            return;
        }
    static const char *const keys[] = {"a", "A", "b", "B", "", "Key.shift", "Key.ctrl", "\xc3\x89", "\xc3\xa9",
                                       "Key.backspace", "a,b", "0123456789abcdefg"};
    uint64_t seed = 12345;
    for (int f = 0; f < 400; f++) {
        kx_buf t = KX_BUF_INIT;
        int lines = (int)(seed % 60);
        for (int l = 0; l < lines; l++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            const char *k = keys[(seed >> 33) % 12];
            int time = (int)((seed >> 20) % 40) + l / 2; /* mostly rising, with ties and drops */
            kx_buf_printf(&t, "%c,%s,%d\n", (seed >> 45) % 2 ? 'P' : 'R', k, time);
        }
        kx_buf_putc(&t, '\0');
        int ok = same_entry(t.data);
        kx_buf_free(&t);
        if (!ok) {
            kx_test_fail(__FILE__, __LINE__, "random file %d differs", f);
            return;
        }
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    }
}
