/* kvc core (spec 05 §8): key mapping order, codes, sequences, split rules; and the stage
 * writer (kx_kvc_build) on in-memory users. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kvc.h"
#include "io/fs.h"
#include "pipeline/stage.h"
#include "pipeline/stage_kvc.h"
#include "test.h"
#include "test_support.h"
#include "util/buf.h"

/* Adds a row; k1/k2 NULL = missing key. */
static kx_keypair *add_row(kx_user_keypairs *u, int p, int v, int s, const char *k1, const char *k2,
                           double press, double release, int valid)
{
    kx_keypair *r = kx_user_keypairs_push(u);
    r->platform_id = p;
    r->video_id = v;
    r->session_id = s;
    r->sequence_id = (int32_t)u->n - 1;
    r->key1 = k1 ? kx_keytab_intern(&u->keys, k1, strlen(k1)) : KX_KEY_MISSING;
    r->key2 = k2 ? kx_keytab_intern(&u->keys, k2, strlen(k2)) : KX_KEY_MISSING;
    r->key1_press = press;
    r->key1_release = release;
    r->key2_press = release + 10;
    r->key2_release = release + 60;
    r->hl = release - press;
    r->il = r->pl = r->rl = NAN;
    r->key1_timestamp = press;
    r->valid = (uint8_t)valid;
    r->error = valid ? KX_KPE_NONE : KX_KPE_K1_RELEASE;
    return r;
}

static void user(kx_user_keypairs *u, const char *uid)
{
    kx_user_keypairs_init(u);
    snprintf(u->user_id, sizeof u->user_id, "%s", uid);
    u->device_type = strdup("desktop");
}

static const char *key_text(const kx_kvc_keys *k, size_t code)
{
    return kx_kvc_key_at(k, code)->bytes;
}

TEST(kvc_mapping_sorted_bytewise)
{
    kx_user_keypairs a, b;
    user(&a, "a");
    user(&b, "b");
    add_row(&a, 1, 1, 1, "a", "\"", 1, 2, 1);
    add_row(&a, 1, 1, 1, ",", "Key.space", 1, 2, 1);
    add_row(&a, 1, 1, 1, "\xC3\xA4", NULL, 1, 2, 0); /* invalid rows count for the mapping */
    add_row(&b, 1, 1, 1, NULL, "A", 1, 2, 1);
    add_row(&b, 1, 1, 1, "Key", "NA", 1, 2, 1);
    add_row(&b, 1, 1, 1, "\xDC", "null", 1, 2, 1);  /* invalid UTF-8 -> U+00DC (C3 9C) */
    add_row(&b, 1, 1, 1, "a", "a", 1, 2, 1);
    kx_kvc_keys k;
    kx_kvc_keys_init(&k);
    kx_kvc_keys_add_user(&k, &a);
    kx_kvc_keys_add_user(&k, &b);
    kx_kvc_keys_finalize(&k);
    const char *want[] = {"\"", ",", "A", "Key", "Key.space", "NA", "a", "null", "\xC3\x9C",
                          "\xC3\xA4"};
    CHECK_EQ_INT(kx_kvc_keys_count(&k), 10);
    for (size_t i = 0; i < 10; i++) CHECK_EQ_STR(key_text(&k, i), want[i]);

    int64_t codes[8];
    kx_err err;
    CHECK_EQ_INT(kx_kvc_user_codes(&k, &b, codes, &err), 0);
    int64_t m1[4], m2[4];
    kx_kvc_map_rows(&b, codes, m1, m2);
    CHECK_EQ_INT(m1[0], -1);
    CHECK_EQ_INT(m2[0], 2);
    CHECK_EQ_INT(m1[1], 3);
    CHECK_EQ_INT(m2[1], 5);
    CHECK_EQ_INT(m1[2], 8);
    CHECK_EQ_INT(m2[2], 7);
    CHECK_EQ_INT(m1[3], 6);
    CHECK_EQ_INT(m2[3], 6);
    kx_kvc_keys_free(&k);
    kx_user_keypairs_free(&a);
    kx_user_keypairs_free(&b);
}

TEST(kvc_mapping_empty)
{
    kx_kvc_keys k;
    kx_kvc_keys_init(&k);
    kx_user_keypairs a;
    user(&a, "a");
    add_row(&a, 1, 1, 1, NULL, NULL, 1, 2, 1);
    kx_kvc_keys_add_user(&k, &a);
    kx_kvc_keys_finalize(&k);
    CHECK_EQ_INT(kx_kvc_keys_count(&k), 0);
    kx_kvc_keys_free(&k);
    kx_user_keypairs_free(&a);
}

TEST(kvc_unknown_key_in_pass2_fails)
{
    kx_kvc_keys k;
    kx_kvc_keys_init(&k);
    kx_kvc_keys_finalize(&k);
    kx_user_keypairs a;
    user(&a, "a");
    add_row(&a, 1, 1, 1, "x", NULL, 1, 2, 1);
    int64_t codes[1];
    kx_err err;
    CHECK_EQ_INT(kx_kvc_user_codes(&k, &a, codes, &err), -1);
    CHECK(strstr(err.msg, "not in the key mapping") != NULL);
    kx_kvc_keys_free(&k);
    kx_user_keypairs_free(&a);
}

TEST(kvc_sequences_first_appearance_and_truncation)
{
    kx_user_keypairs u;
    user(&u, "u");
    add_row(&u, 2, 1, 1, "b", "a", 1000.9, 1095.2, 1);
    add_row(&u, 1, 1, 1, "a", "b", 2000, 2100, 1);
    add_row(&u, 2, 1, 1, NULL, "b", -1.5, 40, 1);  /* valid with missing key1 -> code -1 */
    add_row(&u, 3, 2, 2, "a", "b", 5, NAN, 0);      /* invalid: skipped */
    add_row(&u, 2, 1, 1, "a", "a", 3000, 3050, 1);
    int64_t codes[2] = {7, 4}; /* b -> 7, a -> 4 (u's local ids: b = 0, a = 1) */
    kx_kvc_seqs s;
    kx_kvc_seqs_init(&s);
    kx_kvc_seqs_reset(&s, "u");
    kx_err err;
    CHECK_EQ_INT(kx_kvc_seqs_add(&s, &u, codes, &err), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK_EQ_INT(s.rows, 4);
    CHECK_EQ_STR(s.inputs[0].id, "2_1_1");
    CHECK_EQ_STR(s.inputs[1].id, "1_1_1");
    CHECK_EQ_INT(s.inputs[0].n, 3);
    const int64_t want0[9] = {1000, 1095, 7, -1, 40, -1, 3000, 3050, 4};
    for (int i = 0; i < 9; i++) CHECK_EQ_INT(s.inputs[0].rows[i], want0[i]);
    CHECK_EQ_INT(s.inputs[1].rows[2], 4);
    /* The same uid again (second device): rows continue the existing groups. */
    CHECK_EQ_INT(kx_kvc_seqs_add(&s, &u, codes, &err), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK_EQ_INT(s.inputs[0].n, 6);
    /* Reset keeps no rows. */
    kx_kvc_seqs_reset(&s, "v");
    CHECK_EQ_INT(s.n, 0);
    CHECK_EQ_STR(s.user_id, "v");
    kx_kvc_seqs_free(&s);
    kx_user_keypairs_free(&u);
}

TEST(kvc_valid_row_without_time_fails)
{
    kx_user_keypairs u;
    user(&u, "u");
    add_row(&u, 1, 1, 1, "a", "a", NAN, 5, 1);
    int64_t codes[1] = {0};
    kx_kvc_seqs s;
    kx_kvc_seqs_init(&s);
    kx_err err;
    CHECK_EQ_INT(kx_kvc_seqs_add(&s, &u, codes, &err), -1);
    kx_kvc_seqs_free(&s);
    kx_user_keypairs_free(&u);
}

TEST(kvc_split_rules)
{
    kx_user_keypairs u;
    user(&u, "u");
    add_row(&u, 1, 1, 1, "a", "a", 1, 2, 1);
    add_row(&u, 4, 1, 1, "a", "a", 1, 2, 1); /* outside 1–3: always train */
    add_row(&u, 0, 1, 1, "a", "a", 1, 2, 1);
    add_row(&u, 3, 1, 2, "a", "a", 1, 2, 1);
    add_row(&u, 3, 2, 2, "a", "a", 1, 2, 1);
    int64_t codes[1] = {0};
    kx_kvc_seqs s;
    kx_kvc_seqs_init(&s);
    kx_err err;
    CHECK_EQ_INT(kx_kvc_seqs_add(&s, &u, codes, &err), 0);
    CHECK_EQ_INT(s.n, 5);
    for (int p = 1; p <= 3; p++) {
        CHECK(!kx_kvc_is_test(&s.inputs[1], p));
        CHECK(!kx_kvc_is_test(&s.inputs[2], p));
    }
    CHECK(kx_kvc_is_test(&s.inputs[0], 1));
    CHECK(!kx_kvc_is_test(&s.inputs[0], 2));
    kx_kvc_split_stats st[3];
    memset(st, 0, sizeof st);
    for (int p = 1; p <= 3; p++) kx_kvc_split_count(&st[p - 1], &s, p);
    CHECK_EQ_INT(st[0].train_samples, 4);
    CHECK_EQ_INT(st[0].test_samples, 1);
    CHECK_EQ_INT(st[1].train_samples, 5); /* no platform-2 input: empty test dict */
    CHECK_EQ_INT(st[1].test_samples, 0);
    CHECK_EQ_INT(st[1].test_users, 1);
    CHECK_EQ_INT(st[2].train_samples, 3);
    CHECK_EQ_INT(st[2].test_samples, 2);
    kx_kvc_seqs_free(&s);
    kx_user_keypairs_free(&u);
}

/* ---- kx_kvc_build over an in-memory source ---------------------------------------------- */

typedef struct mem_source {
    kx_user_keypairs *users;
    size_t n, next;
    int opens;
} mem_source;

static int ms_open(void *ctx, int pass, kx_err *err)
{
    (void)err;
    (void)pass;
    mem_source *m = ctx;
    m->next = 0;
    m->opens++;
    return 0;
}

/* Hands out a deep copy (the caller frees it). */
static int ms_next(void *ctx, kx_user_keypairs *out, kx_err *err)
{
    (void)err;
    mem_source *m = ctx;
    if (m->next == m->n) return 0;
    const kx_user_keypairs *u = &m->users[m->next++];
    memcpy(out->user_id, u->user_id, sizeof out->user_id);
    out->device_type = strdup(u->device_type);
    for (size_t i = 0; i < u->keys.n; i++)
        kx_keytab_intern(&out->keys, u->keys.keys[i].bytes, u->keys.keys[i].len);
    for (size_t i = 0; i < u->n; i++) *kx_user_keypairs_push(out) = u->rows[i];
    return 1;
}

static void ms_close(void *ctx) { (void)ctx; }

static char *slurp(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    kx_buf b = KX_BUF_INIT;
    kx_err err;
    if (kx_read_file(path, &b, &err) != 0) return NULL;
    return kx_buf_steal(&b);
}

TEST(kvc_build_in_memory)
{
    kx_user_keypairs us[4];
    user(&us[0], "u1");
    add_row(&us[0], 1, 1, 1, "\"", ",", 10, 20, 1);
    add_row(&us[0], 2, 1, 1, NULL, "a", 30, 45, 1);
    user(&us[1], "u1"); /* same user, second device */
    add_row(&us[1], 1, 1, 1, "a", "a", 50, 60, 1);
    user(&us[2], "u2"); /* no valid rows: counted, not in the splits */
    add_row(&us[2], 3, 1, 1, "z", NULL, 1, NAN, 0);
    user(&us[3], "u3");
    add_row(&us[3], 3, 1, 1, "a", "a", 7, 8, 1);
    mem_source m = {us, 4, 0, 0};
    kx_kvc_source src = {&m, ms_open, ms_next, ms_close, NULL, NULL};
    const char *dir = kx_test_tmpdir();
    kx_kvc_opts o = {dir, "V1", {false, true, 0, 65536, "keypairs_mapped", 2},
                     {false, true, 0, 65536, "kvc_sequences", 2}, NULL, NULL};
    json_t *stats = NULL;
    kx_err err;
    int rc = kx_kvc_build(&src, &o, &stats, &err);
    for (int i = 0; i < 4; i++) kx_user_keypairs_free(&us[i]);
    if (rc != 0) fprintf(stderr, "%s\n", err.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(m.opens, 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(stats, "total_keypairs")), 5);
    CHECK_EQ_INT(json_integer_value(json_object_get(stats, "unique_users")), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(stats, "unique_keys")), 4);
    json_t *p1 = json_object_get(json_object_get(stats, "train_test_splits"), "platform_1");
    CHECK_EQ_INT(json_integer_value(json_object_get(p1, "train_users")), 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(p1, "train_samples")), 2);
    CHECK_EQ_INT(json_integer_value(json_object_get(p1, "test_samples")), 1);
    json_decref(stats);

    char *km = slurp(dir, "key_mapping.json");
    CHECK(km != NULL);
    int ok = strcmp(km, "{\n  \"\\\"\": 0,\n  \",\": 1,\n  \"a\": 2,\n  \"z\": 3\n}") == 0;
    free(km);
    CHECK(ok);

    char *csv = slurp(dir, "keypairs_mapped.csv");
    CHECK(csv != NULL);
    ok = strstr(csv, ",outlier,device_type,key1_mapped,key2_mapped\n") != NULL &&
         strstr(csv, "\nu1,1,1,1,0,\"\"\"\",\",\",10.0,") != NULL &&
         strstr(csv, ",desktop,0,1\nu1,") != NULL && strstr(csv, ",desktop,-1,2\n") != NULL &&
         strstr(csv, ",desktop,3,-1\n") != NULL;
    if (!ok) fprintf(stderr, "%s", csv);
    free(csv);
    CHECK(ok);

    char *seq = slurp(dir, "sequences.csv");
    CHECK(seq != NULL);
    ok = strcmp(seq, "user_id,input_id,position,press,release,key_code\n"
                     "u1,1_1_1,0,10,20,0\nu1,1_1_1,1,50,60,2\nu1,2_1_1,0,30,45,-1\n"
                     "u3,3_1_1,0,7,8,2\n") == 0;
    free(seq);
    CHECK(ok);

    char *md = slurp(dir, "metadata.json");
    CHECK(md != NULL);
    const char *order[] = {"\"stage\": \"extract_kvc_features\"", "\"version_id\": \"V1\"",
                           "\"timestamp\"", "\"duration_seconds\"", "\"stats\"",
                           "\"total_keypairs\": 5", "\"unique_keys\": 4", "\"unique_users\": 3",
                           "\"train_test_splits\"", "\"platform_1\"", "\"platform_2\"",
                           "\"platform_3\"", "\"processing_time\"", "\"errors\": []", "\"config\"",
                           "\"test_platforms\": [", "\"filter_errors\": true",
                           "\"key_mapping_size\": 4"};
    const char *at = md;
    for (size_t i = 0; i < sizeof order / sizeof order[0] && at; i++) {
        at = strstr(at, order[i]);
    }
    ok = at != NULL;
    free(md);
    CHECK(ok);

    char path[600];
    snprintf(path, sizeof path, "%s/test_platform_2/test.npy", dir);
    CHECK(kx_is_file(path));
    snprintf(path, sizeof path, "%s/test_platform_3/train.npy", dir);
    CHECK(kx_is_file(path));
}

/* Failures inside pass 1 (user order) and pass 2 (a valid row without times) clean up. */
TEST(kvc_build_errors)
{
    kx_user_keypairs us[2];
    user(&us[0], "u2");
    add_row(&us[0], 1, 1, 1, "a", "b", 1, 2, 1);
    user(&us[1], "u1");
    add_row(&us[1], 1, 1, 1, "a", "b", NAN, 2, 1);
    mem_source m = {us, 2, 0, 0};
    kx_kvc_source src = {&m, ms_open, ms_next, ms_close, NULL, NULL};
    kx_kvc_opts o = {kx_test_tmpdir(), "V1", {false, true, 0, 65536, "keypairs_mapped", 2},
                     {false, true, 0, 65536, "kvc_sequences", 2}, NULL, NULL};
    json_t *stats = NULL;
    kx_err err;
    int rc1 = kx_kvc_build(&src, &o, &stats, &err);
    int sorted_msg = strstr(err.msg, "not sorted by user_id") != NULL;
    snprintf(us[1].user_id, sizeof us[1].user_id, "u3");
    int rc2 = kx_kvc_build(&src, &o, &stats, &err);
    int time_msg = strstr(err.msg, "without a finite key1 press/release") != NULL;
    for (int i = 0; i < 2; i++) kx_user_keypairs_free(&us[i]);
    CHECK_EQ_INT(rc1, -1);
    CHECK(sorted_msg);
    CHECK_EQ_INT(rc2, -1);
    CHECK(time_msg);
    CHECK(stats == NULL);
}

/* A failing stage run (here: no keypairs table) leaves the previous kvc_features/ as it
 * was and no staging folder behind. */
TEST(kvc_stage_failure_keeps_previous_outputs)
{
    const char *vdir = kx_test_tmpdir();
    char path[600];
    snprintf(path, sizeof path, "%s/kvc_features", vdir);
    kx_err err;
    CHECK_EQ_INT(kx_mkdirs(path, &err), 0);
    snprintf(path, sizeof path, "%s/kvc_features/key_mapping.json", vdir);
    CHECK_EQ_INT(kx_write_file_atomic(path, "{}", 2, &err), 0);
    kx_config cfg;
    kx_config_init(&cfg);
    kx_stage_ctx ctx = kx_test_stage_ctx(&cfg, vdir, NULL);
    int rc = kx_stage_kvc(&ctx);
    kx_config_free(&cfg);
    CHECK_EQ_INT(rc, -1);
    CHECK(ctx.stats == NULL);
    CHECK(kx_is_file(path));
    kx_dirlist l;
    CHECK_EQ_INT(kx_list_dir(vdir, &l, &err), 0);
    size_t n = l.n;
    kx_dirlist_free(&l);
    CHECK_EQ_INT(n, 1); /* only kvc_features */
}

/* Keys a user's key table holds but no row uses are not in the mapping; looking them up in
 * pass 2 (for several users) must neither fail nor shift the codes. */
TEST(kvc_unused_table_keys_ignored)
{
    kx_user_keypairs a, b;
    user(&a, "a");
    user(&b, "b");
    add_row(&a, 1, 1, 1, "m", NULL, 1, 2, 1);
    kx_keytab_intern(&a.keys, "zz", 2);
    kx_keytab_intern(&b.keys, "zz", 2);
    add_row(&b, 1, 1, 1, "b", "m", 1, 2, 1);
    kx_kvc_keys k;
    kx_kvc_keys_init(&k);
    kx_kvc_keys_add_user(&k, &a);
    kx_kvc_keys_add_user(&k, &b);
    kx_kvc_keys_finalize(&k);
    CHECK_EQ_INT(kx_kvc_keys_count(&k), 2); /* b, m */
    int64_t ca[2], cb[3];
    kx_err err;
    CHECK_EQ_INT(kx_kvc_user_codes(&k, &a, ca, &err), 0);
    CHECK_EQ_INT(kx_kvc_user_codes(&k, &b, cb, &err), 0);
    CHECK_EQ_INT(ca[0], 1);
    CHECK_EQ_INT(ca[1], -1);
    CHECK_EQ_INT(cb[0], -1);
    CHECK_EQ_INT(cb[1], 0);
    CHECK_EQ_INT(cb[2], 1);
    CHECK_EQ_INT(kx_kvc_keys_count(&k), 2);
    kx_kvc_keys_free(&k);
    kx_user_keypairs_free(&a);
    kx_user_keypairs_free(&b);
}

/* The column form gives the same groups as the row example above, fed in two runs (rows
 * 0–1, 2–4), and names the user-relative row of a valid row without a time. */
TEST(kvc_sequences_from_columns)
{
    const int64_t plat[5] = {2, 1, 2, 3, 2}, vid[5] = {1, 1, 1, 2, 1}, sess[5] = {1, 1, 1, 2, 1};
    const uint8_t valid[5] = {1, 1, 1, 0, 1};
    const double press[5] = {1000.9, 2000, -1.5, 5, 3000}, rel[5] = {1095.2, 2100, 40, NAN, 3050};
    const int64_t code[5] = {7, 4, -1, 4, 4};
    kx_kvc_seqs s;
    kx_kvc_seqs_init(&s);
    kx_kvc_seqs_reset(&s, "u");
    kx_err err;
    kx_kvc_rows a = {2, plat, vid, sess, valid, press, rel, code, 0};
    kx_kvc_rows b = {3, plat + 2, vid + 2, sess + 2, valid + 2, press + 2, rel + 2, code + 2, 2};
    CHECK_EQ_INT(kx_kvc_seqs_add_rows(&s, &a, &err), 0);
    CHECK_EQ_INT(kx_kvc_seqs_add_rows(&s, &b, &err), 0);
    CHECK_EQ_INT(s.n, 2);
    CHECK_EQ_INT(s.rows, 4);
    CHECK_EQ_STR(s.inputs[0].id, "2_1_1");
    CHECK_EQ_STR(s.inputs[1].id, "1_1_1");
    const int64_t want0[9] = {1000, 1095, 7, -1, 40, -1, 3000, 3050, 4};
    CHECK_EQ_INT(s.inputs[0].n, 3);
    for (int i = 0; i < 9; i++) CHECK_EQ_INT(s.inputs[0].rows[i], want0[i]);
    const int64_t want1[3] = {2000, 2100, 4};
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(s.inputs[1].rows[i], want1[i]);
    const uint8_t v1[1] = {1};
    const double nan1[1] = {NAN};
    kx_kvc_rows bad = {1, plat, vid, sess, v1, press, nan1, code, 41};
    CHECK_EQ_INT(kx_kvc_seqs_add_rows(&s, &bad, &err), -1);
    CHECK(strstr(err.msg, "row 41 of the user") != NULL);
    kx_kvc_seqs_free(&s);
}
