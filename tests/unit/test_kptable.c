/* The keypairs table: schema, batch fill, and the per-user reader over a CSV table. */
#include <stdlib.h>
#include <string.h>

#include "core/keystroke.h"
#include "io/fs.h"
#include "pipeline/kptable.h"
#include "util/buf.h"
#include "util/mem.h"
#include "test.h"

TEST(kptable_schema_is_02_5)
{
    static const char *names[KX_KP_NCOLS] = {
        "user_id", "platform_id", "video_id", "session_id", "sequence_id", "key1", "key2",
        "key1_press", "key1_release", "key2_press", "key2_release", "HL", "IL", "PL", "RL",
        "valid", "error_description", "key1_timestamp", "outlier", "device_type"};
    static const kx_coltype types[KX_KP_NCOLS] = {
        KX_COL_STRING, KX_COL_INT64, KX_COL_INT64, KX_COL_INT64, KX_COL_INT64, KX_COL_STRING,
        KX_COL_STRING, KX_COL_DOUBLE, KX_COL_DOUBLE, KX_COL_DOUBLE, KX_COL_DOUBLE, KX_COL_DOUBLE,
        KX_COL_DOUBLE, KX_COL_DOUBLE, KX_COL_DOUBLE, KX_COL_BOOL, KX_COL_STRING, KX_COL_DOUBLE,
        KX_COL_BOOL, KX_COL_STRING};
    for (int i = 0; i < KX_KP_NCOLS; i++) {
        CHECK_EQ_STR(kx_kp_columns[i].name, names[i]);
        CHECK_EQ_INT(kx_kp_columns[i].type, types[i]);
    }
}

/* Builds a user from keystroke text (worked-example style). */
static void make_user(kx_user_keypairs *u, const char *uid, const char *dev, const char *text)
{
    static const kx_kp_thresholds th = {30, 2000, 1000};
    static const kx_ks_file_ids ids = {3, 2, 1};
    kx_user_keypairs_init(u);
    snprintf(u->user_id, sizeof u->user_id, "%s", uid);
    u->device_type = kx_strdup(dev);
    kx_ks_work w;
    kx_ks_work_init(&w);
    kx_ks_file_to_keypairs(&w, text, strlen(text), &ids, &th, u, NULL, NULL);
    kx_ks_work_free(&w);
}

/* Writes the users as <dir>/keypairs.parquet (parquet) or keypairs.csv; 1 on success. */
static int write_table_rg(const char *dir, kx_user_keypairs *users, int n, bool parquet, int64_t rg_rows,
                          kx_err *err)
{
    kx_table_opts opts = {parquet, !parquet, 0, rg_rows, "keypairs", 2};
    kx_tw *w = kx_tw_open(dir, "keypairs", kx_kp_columns, KX_KP_NCOLS, &opts, err);
    int wrote = w != NULL;
    for (int i = 0; wrote && i < n; i++) {
        kx_kp_batch b;
        kx_kp_batch_fill(&b, &users[i]);
        wrote = kx_tw_write(w, b.n, b.cols, err) == 0;
        kx_kp_batch_free(&b);
    }
    if (w && !wrote) kx_tw_abort(w);
    return wrote && kx_tw_commit(w, err) == 0;
}

static int write_table(const char *dir, kx_user_keypairs *users, int n, bool parquet, kx_err *err)
{
    return write_table_rg(dir, users, n, parquet, 65536, err);
}

static int same_double(double a, double b) { return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof a); }

static int same_key(const kx_user_keypairs *a, int32_t ka, const kx_user_keypairs *b, int32_t kb)
{
    const kx_key *x = kx_keytab_get(&a->keys, ka), *y = kx_keytab_get(&b->keys, kb);
    if (!x || !y) return !x && !y;
    return x->len == y->len && !memcmp(x->bytes, y->bytes, x->len);
}

static int same_users(const kx_user_keypairs *a, const kx_user_keypairs *b)
{
    if (strcmp(a->user_id, b->user_id) || strcmp(a->device_type, b->device_type) || a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++) {
        const kx_keypair *x = &a->rows[i], *y = &b->rows[i];
        if (x->platform_id != y->platform_id || x->video_id != y->video_id || x->session_id != y->session_id ||
            x->sequence_id != y->sequence_id || !same_key(a, x->key1, b, y->key1) ||
            !same_key(a, x->key2, b, y->key2) || !same_double(x->key1_press, y->key1_press) ||
            !same_double(x->key1_release, y->key1_release) || !same_double(x->key2_press, y->key2_press) ||
            !same_double(x->key2_release, y->key2_release) || !same_double(x->hl, y->hl) ||
            !same_double(x->il, y->il) || !same_double(x->pl, y->pl) || !same_double(x->rl, y->rl) ||
            !same_double(x->key1_timestamp, y->key1_timestamp) || x->valid != y->valid ||
            x->outlier != y->outlier || x->error != y->error)
            return 0;
    }
    return 1;
}

TEST(kptable_csv_roundtrip_user_by_user)
{
    const char *vdir = kx_test_tmpdir();
    char *dir = kx_path_join(vdir, "keypairs");
    kx_mkdirs(dir, NULL);
    enum { NU = 4 };
    kx_user_keypairs users[NU];
    /* quote and comma keys, missing key, orphans, unmatched, negative HL, NA */
    make_user(&users[0], "0123456789abcdef0123456789abcdef", "desktop",
              "P,a,100\nP,a,150\nR,a,260\nR,c,390\nP,d,400\nR,d,350\nP,\",410\nR,\",470\nP,,,480\nR,,,530\n"
              "P,,620\nR,,700\nP,NA,720\nR,NA,790\n");
    make_user(&users[1], "11111111111111111111111111111111", "desktop", "P,x,1\nR,x,2\nP,y,3\nR,y,4.25\n");
    /* same user id under another device: a separate group */
    make_user(&users[2], "11111111111111111111111111111111", "mobile", "P,x,1\nR,x,2\nP,y,3\nR,y,4\n");
    make_user(&users[3], "22222222222222222222222222222222", "desktop", "P,\xDC,1\nR,\xDC,20\nP,q,30\nR,q,90\n");
    kx_err err;
    int wrote = write_table(dir, users, NU, false, &err);

    kx_kptable *t = wrote ? kx_kptable_open(vdir, &err) : NULL;
    int ok = t != NULL, got = 0;
    while (ok) {
        kx_user_keypairs u;
        int rc = kx_kptable_next_user(t, &u, &err);
        if (rc <= 0) {
            ok = rc == 0;
            break;
        }
        if (got >= NU) {
            ok = 0;
        } else if (got == 3) {
            /* the invalid UTF-8 key comes back as the fallback text U+00DC */
            ok = u.n == 1 && !strcmp(u.keys.keys[u.rows[0].key1].bytes, "\xC3\x9C");
        } else {
            ok = same_users(&users[got], &u);
        }
        if (!ok) fprintf(stderr, "user %d differs (%s)\n", got, err.msg);
        got++;
        kx_user_keypairs_free(&u);
    }
    int path_ok = t && strstr(kx_kptable_path(t), "keypairs/keypairs.csv") != NULL;
    kx_kptable_close(t);
    for (int i = 0; i < NU; i++) kx_user_keypairs_free(&users[i]);
    free(dir);
    CHECK(wrote);
    CHECK(ok);
    CHECK_EQ_INT(got, NU);
    CHECK(path_ok);
}

TEST(kptable_empty_table_and_bad_description)
{
    const char *vdir = kx_test_tmpdir();
    char *dir = kx_path_join(vdir, "keypairs");
    kx_mkdirs(dir, NULL);
    char *path = kx_path_join(dir, "keypairs.csv");
    kx_buf b = KX_BUF_INIT;
    kx_csv_put_header(&b, kx_kp_columns, KX_KP_NCOLS);
    kx_write_file_atomic(path, b.data, b.len, NULL);
    kx_err err;
    kx_kptable *t = kx_kptable_open(vdir, &err);
    kx_user_keypairs u;
    int rc = t ? kx_kptable_next_user(t, &u, &err) : -2;
    kx_kptable_close(t);
    kx_buf_puts(&b, "U,1,1,1,0,a,b,1.0,2.0,3.0,4.0,1.0,1.0,2.0,2.0,True,Bogus,1.0,False,desktop\n");
    kx_write_file_atomic(path, b.data, b.len, NULL);
    t = kx_kptable_open(vdir, &err);
    int rc2 = t ? kx_kptable_next_user(t, &u, &err) : -2;
    kx_kptable_close(t);
    kx_buf_free(&b);
    free(path);
    free(dir);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(rc2, -1);
    CHECK(strstr(err.msg, "Bogus") != NULL);
}

/* Column-limited reading (kvc pass 1): keys, ids and row counts as written; the columns
 * not read come back as documented defaults. Parquet, so only those columns are decoded. */
TEST(kptable_open_cols_keys_only)
{
    const char *vdir = kx_test_tmpdir();
    char *dir = kx_path_join(vdir, "keypairs");
    kx_mkdirs(dir, NULL);
    enum { NU = 3 };
    kx_user_keypairs users[NU];
    make_user(&users[0], "0123456789abcdef0123456789abcdef", "desktop",
              "P,a,100\nR,a,160\nP,b,200\nR,b,260\nP,a,300\nR,a,330\nP,,,480\nR,,,530\n");
    make_user(&users[1], "11111111111111111111111111111111", "desktop", "P,x,1\nR,x,2\nP,y,3\nR,y,4.25\n");
    make_user(&users[2], "11111111111111111111111111111111", "mobile", "P,y,1\nR,y,2\nP,x,3\nR,x,4\n");
    kx_err err;
    int wrote = write_table(dir, users, NU, true, &err);

    kx_kptable *t = wrote ? kx_kptable_open_cols(vdir, KX_KP_COL_KEY1 | KX_KP_COL_KEY2, &err) : NULL;
    int ok = t != NULL, got = 0, defaults = 1;
    while (ok) {
        kx_user_keypairs u;
        int rc = kx_kptable_next_user(t, &u, &err);
        if (rc <= 0) {
            ok = rc == 0;
            break;
        }
        const kx_user_keypairs *e = got < NU ? &users[got] : NULL;
        ok = e && !strcmp(e->user_id, u.user_id) && !strcmp(e->device_type, u.device_type) && e->n == u.n;
        for (size_t i = 0; ok && i < u.n; i++) {
            const kx_keypair *r = &u.rows[i];
            ok = same_key(e, e->rows[i].key1, &u, r->key1) && same_key(e, e->rows[i].key2, &u, r->key2);
            defaults = defaults && r->platform_id == 0 && r->sequence_id == 0 && isnan(r->hl) &&
                       isnan(r->key1_timestamp) && !r->valid && !r->outlier && r->error == 0;
        }
        got++;
        kx_user_keypairs_free(&u);
    }
    kx_kptable_close(t);
    for (int i = 0; i < NU; i++) kx_user_keypairs_free(&users[i]);
    free(dir);
    CHECK(wrote);
    CHECK(ok);
    CHECK(defaults);
    CHECK_EQ_INT(got, NU);
}

/* Appends the rows of a scan run to u (fields read: all but error_description). */
static void add_run(kx_user_keypairs *u, const kx_kp_run *r, const kx_keytab *keys)
{
    for (size_t i = 0; i < r->n; i++) {
        kx_keypair *k = kx_user_keypairs_push(u);
        const int64_t *ids[4] = {r->col[KX_KPI_PLATFORM], r->col[KX_KPI_VIDEO], r->col[KX_KPI_SESSION],
                                 r->col[KX_KPI_SEQUENCE]};
        k->platform_id = (int32_t)ids[0][i];
        k->video_id = (int32_t)ids[1][i];
        k->session_id = (int32_t)ids[2][i];
        k->sequence_id = (int32_t)ids[3][i];
        const int32_t *kid[2] = {r->col[KX_KPI_KEY1], r->col[KX_KPI_KEY2]};
        int32_t *dst[2] = {&k->key1, &k->key2};
        for (int j = 0; j < 2; j++) {
            const kx_key *key = kx_keytab_get(keys, kid[j][i]);
            *dst[j] = key ? kx_keytab_intern(&u->keys, key->bytes, key->len) : KX_KEY_MISSING;
        }
        double *d[9] = {&k->key1_press, &k->key1_release, &k->key2_press, &k->key2_release, &k->hl, &k->il,
                        &k->pl, &k->rl, &k->key1_timestamp};
        static const int dc[9] = {KX_KPI_K1_PRESS, KX_KPI_K1_RELEASE, KX_KPI_K2_PRESS, KX_KPI_K2_RELEASE, KX_KPI_HL,
                                  KX_KPI_IL, KX_KPI_PL, KX_KPI_RL, KX_KPI_K1_TIMESTAMP};
        for (int j = 0; j < 9; j++) *d[j] = ((const double *)r->col[dc[j]])[i];
        k->valid = ((const uint8_t *)r->col[KX_KPI_VALID])[i];
        k->outlier = ((const uint8_t *)r->col[KX_KPI_OUTLIER])[i];
        k->error = 0;
    }
}

/* ---- a small table split into 3-row row groups (groups span batches) ---------------------- */
typedef struct fx_user {
    const char *uid, *device, *log;
} fx_user;

/* quoted key, comma key, missing key, "NA", a release before its press, a held key */
#define FX_AWKWARD_LOG                                                                              \
    "P,a,100\nP,a,150\nR,a,260\nR,c,390\nP,d,400\nR,d,350\nP,\",410\nR,\",470\nP,,,480\nR,,,530\n" \
    "P,,620\nR,,700\nP,NA,720\nR,NA,790\n"

/* Builds users from fx and writes them as <tmp>/keypairs (Parquet or CSV, 3-row row groups). */
static int write_fixture(const fx_user *fx, int n, kx_user_keypairs *users, bool parquet, kx_err *err)
{
    char *dir = kx_path_join(kx_test_tmpdir(), "keypairs");
    kx_mkdirs(dir, NULL);
    for (int i = 0; i < n; i++) make_user(&users[i], fx[i].uid, fx[i].device, fx[i].log);
    int wrote = write_table_rg(dir, users, n, parquet, 3, err);
    free(dir);
    return wrote;
}

/* kx_kpscan: groups rebuilt from the runs equal the users written (every field but
 * error_description), in Parquet with 3-row row groups (groups span batches, a batch
 * holds several groups) and in CSV; the same uid under two devices is two groups. */
static void scan_roundtrip(bool parquet)
{
    const char *vdir = kx_test_tmpdir();
    static const fx_user fx[] = {
        {"0123456789abcdef0123456789abcdef", "desktop", FX_AWKWARD_LOG},
        {"11111111111111111111111111111111", "desktop", "P,x,1\nR,x,2\nP,y,3\nR,y,4.25\n"},
        {"11111111111111111111111111111111", "mobile", "P,x,1\nR,x,2\nP,y,3\nR,y,4\n"},
        {"22222222222222222222222222222222", "desktop", "P,q,30\nR,q,90\nP,a,100\nR,a,120\n"},
    };
    enum { NU = 4 };
    kx_user_keypairs users[NU];
    kx_err err;
    int wrote = write_fixture(fx, NU, users, parquet, &err);
    for (int i = 0; i < NU; i++) /* error_description is not offered by the scan */
        for (size_t j = 0; j < users[i].n; j++) users[i].rows[j].error = 0;
    kx_kpscan *s = wrote ? kx_kpscan_open(vdir, KX_KP_COLS_ALL, 2, &err) : NULL;
    int ok = s != NULL, got = -1, runs = 0, rc = 0;
    kx_user_keypairs u;
    kx_user_keypairs_init(&u);
    kx_kp_run r;
    while (ok && (rc = kx_kpscan_next(s, &r, &err)) > 0) {
        runs++;
        if (r.new_group) {
            if (got >= 0) ok = got < NU && same_users(&users[got], &u);
            kx_user_keypairs_free(&u);
            kx_user_keypairs_init(&u);
            snprintf(u.user_id, sizeof u.user_id, "%s", r.user_id);
            u.device_type = kx_strdup(r.device_type);
            got++;
        }
        add_run(&u, &r, kx_kpscan_keys(s));
    }
    if (ok && rc == 0 && got >= 0) ok = got < NU && same_users(&users[got], &u);
    kx_user_keypairs_free(&u);
    kx_kpscan_close(s);
    for (int i = 0; i < NU; i++) kx_user_keypairs_free(&users[i]);
    CHECK(wrote);
    CHECK(ok);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(got, NU - 1);
    if (parquet) CHECK(runs > NU); /* a group was split by a row-group boundary */
}

TEST(kpscan_parquet_runs_rebuild_the_groups) { scan_roundtrip(true); }
TEST(kpscan_csv_runs_rebuild_the_groups) { scan_roundtrip(false); }

/* CSV text of a batch's rows (all columns): equal texts = equal values, keys and nulls. */
static char *batch_csv(const kx_kp_batch *b)
{
    kx_buf out = KX_BUF_INIT;
    kx_csv_put_rows(&out, kx_kp_columns, KX_KP_NCOLS, b->n, b->cols);
    kx_buf_putc(&out, '\0');
    return out.data;
}

/* kx_kptable_next_group gives, user by user, what kx_kp_batch_fill makes of
 * kx_kptable_next_user's rows (groups split across row groups included), the error codes of
 * the rows, and kx_kp_batch_select_zero(valid) gives the invalid rows. */
static void group_matches_rows(bool parquet)
{
    const char *vdir = kx_test_tmpdir();
    static const fx_user fx[] = {
        {"0123456789abcdef0123456789abcdef", "desktop", FX_AWKWARD_LOG},
        {"11111111111111111111111111111111", "mobile", "P,x,1\nR,x,2\nP,y,3\nR,y,4.25\n"},
        {"22222222222222222222222222222222", "desktop", "P,q,30\nR,q,90\nP,a,100\nR,a,120\n"},
    };
    enum { NU = 3 };
    kx_user_keypairs users[NU];
    kx_err err;
    int wrote = write_fixture(fx, NU, users, parquet, &err);
    kx_kptable *rows = wrote ? kx_kptable_open(vdir, &err) : NULL;
    kx_kptable *cols = wrote ? kx_kptable_open(vdir, &err) : NULL;
    int ok = rows && cols, n = 0, invalid = 0, rc_rows = 0, rc_cols = 0;
    kx_kp_group g;
    kx_kp_group_init(&g);
    kx_user_keypairs u;
    while (ok && (rc_rows = kx_kptable_next_user(rows, &u, &err)) > 0) {
        rc_cols = kx_kptable_next_group(cols, &g, &err);
        ok = rc_cols == 1 && !strcmp(g.user_id, u.user_id) && !strcmp(g.device_type, u.device_type);
        kx_kp_batch want;
        kx_kp_batch_fill(&want, &u);
        char *a = batch_csv(&want), *b = ok ? batch_csv(&g.b) : NULL;
        ok = ok && !strcmp(a, b);
        for (size_t i = 0; ok && i < u.n; i++) ok = g.error_code[i] == u.rows[i].error;
        /* invalid rows: select from the group vs fill from the invalid row structs */
        kx_user_keypairs sub = u;
        sub.rows = kx_malloc((u.n ? u.n : 1) * sizeof *sub.rows);
        sub.n = 0;
        for (size_t i = 0; i < u.n; i++)
            if (!u.rows[i].valid) sub.rows[sub.n++] = u.rows[i];
        invalid += (int)sub.n;
        kx_kp_batch want_inv, got_inv;
        kx_kp_batch_fill(&want_inv, &sub);
        if (ok) kx_kp_batch_select_zero(&g.b, g.b.cols[KX_KPI_VALID].values, &got_inv);
        char *c = batch_csv(&want_inv), *d = ok ? batch_csv(&got_inv) : NULL;
        ok = ok && got_inv.n == sub.n && !strcmp(c, d);
        if (d) kx_kp_batch_free(&got_inv);
        free(a), free(b), free(c), free(d);
        free(sub.rows);
        kx_kp_batch_free(&want);
        kx_kp_batch_free(&want_inv);
        kx_user_keypairs_free(&u);
        n++;
    }
    if (ok && rc_rows == 0) rc_cols = kx_kptable_next_group(cols, &g, &err);
    kx_kp_group_free(&g);
    kx_kptable_close(rows);
    kx_kptable_close(cols);
    for (int i = 0; i < NU; i++) kx_user_keypairs_free(&users[i]);
    CHECK(wrote);
    CHECK(ok);
    CHECK_EQ_INT(rc_rows, 0);
    CHECK_EQ_INT(rc_cols, 0);
    CHECK_EQ_INT(n, NU);
    CHECK(invalid > 0);
}

TEST(kptable_parquet_groups_equal_filled_rows) { group_matches_rows(true); }
TEST(kptable_csv_groups_equal_filled_rows) { group_matches_rows(false); }
