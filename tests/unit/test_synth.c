/* Unit tests of the synthetic snapshot generator (pipeline/synth). */
#include <stdlib.h>
#include <string.h>

#include "io/fs.h"
#include "pipeline/stage.h"
#include "pipeline/synth.h"
#include "test.h"
#include "test_support.h"
#include "util/mem.h"

/* Concatenation of "name\0content" of every file of dir in name order (caller frees). */
static char *folder_bytes(const char *dir, size_t *len)
{
    kx_dirlist l;
    kx_buf all = KX_BUF_INIT;
    if (kx_list_dir(dir, &l, NULL) != 0) return NULL;
    for (size_t i = 0; i < l.n; i++) {
        char *p = kx_path_join(dir, l.items[i].name);
        kx_buf b = KX_BUF_INIT;
        kx_read_file(p, &b, NULL);
        kx_buf_put(&all, l.items[i].name, strlen(l.items[i].name) + 1);
        kx_buf_put(&all, b.data ? b.data : "", b.len);
        kx_buf_free(&b);
        free(p);
    }
    kx_dirlist_free(&l);
    *len = all.len;
    return kx_buf_steal(&all);
}

static void small_params(kx_synth_params *p, uint64_t seed, int workers)
{
    kx_synth_defaults(p);
    p->seed = seed;
    p->users = 12;
    p->workers = workers;
    p->broken_fraction = 0.4;
    p->mobile_fraction = 0.3;
}

TEST(synth_same_seed_same_bytes_any_workers)
{
    const char *tmp = kx_test_tmpdir();
    char *a = kx_path_join(tmp, "a"), *b = kx_path_join(tmp, "b"), *c = kx_path_join(tmp, "c");
    kx_synth_params p;
    kx_synth_summary s;
    kx_err err;
    small_params(&p, 42, 1);
    int r1 = kx_synth_write(&p, a, &s, &err);
    small_params(&p, 42, 3);
    int r2 = kx_synth_write(&p, b, &s, &err);
    small_params(&p, 43, 2);
    int r3 = kx_synth_write(&p, c, &s, &err);
    size_t na = 0, nb = 0, nc = 0;
    char *ba = folder_bytes(a, &na), *bb = folder_bytes(b, &nb), *bc = folder_bytes(c, &nc);
    bool same = na == nb && na > 0 && !memcmp(ba, bb, na);
    bool differ = !(na == nc && !memcmp(ba, bc, na));
    free(ba);
    free(bb);
    free(bc);
    free(a);
    free(b);
    free(c);
    CHECK(r1 == 0 && r2 == 0 && r3 == 0);
    CHECK(same);
    CHECK(differ);
}

TEST(synth_uid_format)
{
    char u1[33], u2[33];
    kx_synth_uid(1, 0, u1);
    kx_synth_uid(1, 1, u2);
    CHECK_EQ_INT(strlen(u1), 32);
    CHECK(strspn(u1, "0123456789abcdef") == 32);
    CHECK(strcmp(u1, u2) != 0);
    kx_synth_uid(2, 0, u2);
    CHECK(strcmp(u1, u2) != 0);
}

TEST(synth_output_passes_clean_with_expected_counts)
{
    const char *tmp = kx_test_tmpdir();
    char *vd = kx_path_join(tmp, "v"), *raw = kx_path_join(tmp, "v/raw_data/web_app_data");
    kx_synth_params p;
    kx_synth_summary s;
    kx_err err;
    small_params(&p, 2025, 2);
    p.users = 20;
    int rc = kx_synth_write(&p, raw, &s, &err);
    kx_config cfg;
    kx_config_init(&cfg);
    kx_log *log = kx_log_new(KX_LOG_OFF);
    kx_stage_ctx ctx = kx_test_stage_ctx(&cfg, vd, log);
    int crc = kx_stage_clean(&ctx);
    kx_stage_trees_free(&ctx);
    int64_t complete = json_integer_value(json_object_get(ctx.stats, "complete_users"));
    int64_t broken = json_integer_value(json_object_get(ctx.stats, "broken_users"));
    int64_t insufficient = json_integer_value(json_object_get(ctx.stats, "broken_insufficient_data"));
    int64_t mobile = json_integer_value(json_object_get(ctx.stats, "mobile_users"));
    int64_t total = json_integer_value(json_object_get(ctx.stats, "total_files"));
    json_decref(ctx.stats);
    kx_config_free(&cfg);
    kx_log_free(log);
    free(vd);
    free(raw);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(crc, 0);
    CHECK_EQ_INT(s.users, 20);
    CHECK(s.broken > 0 && s.complete > 0 && s.mobile > 0); /* the fixture exercises every kind */
    CHECK_EQ_INT(complete, s.complete);
    CHECK_EQ_INT(broken, s.broken);
    CHECK_EQ_INT(insufficient, s.by_kind[KX_SYNTH_FEW_ROWS]);
    CHECK_EQ_INT(mobile, s.mobile);
    CHECK_EQ_INT(total, s.files);
}

/* The snapshot folder appears at once (generated as OUT_DIR.partial, then renamed); a
 * non-empty OUT_DIR is refused and left untouched. */
TEST(synth_fresh_folder_and_partial_rename)
{
    const char *tmp = kx_test_tmpdir();
    char *out = kx_path_join(tmp, "fresh"), *partial = kx_path_join(tmp, "fresh.partial");
    kx_synth_params p;
    kx_synth_summary s;
    kx_err err;
    small_params(&p, 5, 2);
    p.users = 3;
    int r1 = kx_synth_write(&p, out, &s, &err);
    bool partial_gone = !kx_exists(partial);
    kx_dirlist l;
    size_t n1 = 0;
    if (kx_list_dir(out, &l, NULL) == 0) {
        n1 = l.n;
        kx_dirlist_free(&l);
    }
    kx_synth_summary s2;
    int r2 = kx_synth_write(&p, out, &s2, &err); /* not empty now */
    bool refused_msg = r2 != 0 && strstr(err.msg, "not empty") != NULL;
    size_t n2 = 0;
    if (kx_list_dir(out, &l, NULL) == 0) {
        n2 = l.n;
        kx_dirlist_free(&l);
    }
    free(out);
    free(partial);
    CHECK_EQ_INT(r1, 0);
    CHECK(partial_gone);
    CHECK_EQ_INT(n1, s.files);
    CHECK(refused_msg);
    CHECK_EQ_INT(n2, n1);
}

/* Every complete user's keystroke file has >= min_rows data rows and starts with the
 * header; every user gets the 60 (complete) or fewer files the summary counts. */
TEST(synth_complete_files_long_enough)
{
    const char *tmp = kx_test_tmpdir();
    char *out = kx_path_join(tmp, "rows");
    kx_synth_params p;
    kx_synth_summary s;
    kx_err err;
    small_params(&p, 77, 2);
    p.users = 4;
    p.broken_fraction = 0.0;
    p.mobile_fraction = 0.0;
    int rc = kx_synth_write(&p, out, &s, &err);
    kx_dirlist l;
    int64_t csv = 0, short_files = 0, bad_header = 0;
    if (rc == 0 && kx_list_dir(out, &l, NULL) == 0) {
        for (size_t i = 0; i < l.n; i++) {
            const char *nm = l.items[i].name;
            size_t len = strlen(nm);
            if (len < 4 || strcmp(nm + len - 4, ".csv") != 0) continue;
            char *path = kx_path_join(out, nm);
            kx_buf b = KX_BUF_INIT;
            kx_read_file(path, &b, NULL);
            int64_t lines = 0;
            for (size_t k = 0; k < b.len; k++) lines += b.data[k] == '\n';
            csv++;
            short_files += lines - 1 < p.min_rows;
            bad_header += b.len < 26 || memcmp(b.data, "Press or Release,Key,Time\n", 26) != 0;
            kx_buf_free(&b);
            free(path);
        }
        kx_dirlist_free(&l);
    }
    free(out);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(s.complete, 4);
    CHECK_EQ_INT(s.files, 4 * 60);
    CHECK_EQ_INT(csv, 4 * 18);
    CHECK_EQ_INT(short_files, 0);
    CHECK_EQ_INT(bad_header, 0);
}
