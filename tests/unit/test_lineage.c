/* Unit tests of the copy-tree lineage summaries (pipeline/lineage.h) and of the download
 * stage handing its summary to the runner. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "io/fs.h"
#include "pipeline/lineage.h"
#include "pipeline/stage.h"
#include "test.h"
#include "test_support.h"
#include "util/mem.h"

static void put(const char *dir, const char *rel, const char *text)
{
    char *p = kx_path_join(dir, rel);
    kx_write_file_atomic(p, text, strlen(text), NULL);
    free(p);
}

/* The definition, spelled out: XXH3-64 of the sorted "path\0size\n" lines. */
static const char expected_lines[] = "a.csv\0" "3\n" "sub/b\0" "0\n" "sub/c d\0" "10\n" "z\0" "1\n";

TEST(lineage_summary_of_a_tree_on_disk)
{
    const char *tmp = kx_test_tmpdir();
    char *root = kx_path_join(tmp, "tree"), *sub = kx_path_join(tmp, "tree/sub");
    kx_mkdirs(sub, NULL);
    put(root, "z", "1");
    put(root, "a.csv", "abc");
    put(root, "sub/c d", "0123456789");
    put(root, "sub/b", "");
    uint64_t size = 0, hash = 0;
    int rc = kx_tree_summarize(root, 2, &size, &hash);
    uint64_t want = XXH3_64bits(expected_lines, sizeof expected_lines - 1);
    /* the same items handed over in another order give the same summary */
    kx_treesum t = KX_TREESUM_INIT;
    kx_treesum_add(&t, "sub/c d", 10);
    kx_treesum_add(&t, "z", 1);
    kx_treesum_add(&t, "sub/b", 0);
    kx_treesum_add(&t, "a.csv", 3);
    uint64_t size2 = 0, hash2 = 0;
    kx_treesum_finish(&t, &size2, &hash2);
    uint64_t s3 = 1, h3 = 1;
    int rc_missing = kx_tree_summarize("/nonexistent/keyetl-tree", 1, &s3, &h3);
    free(root);
    free(sub);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(size, 14);
    CHECK(hash == want);
    CHECK_EQ_INT(size2, 14);
    CHECK(hash2 == want);
    CHECK_EQ_INT(rc_missing, -1);
}

TEST(lineage_download_hands_over_its_tree)
{
    const char *tmp = kx_test_tmpdir();
    char *src = kx_path_join(tmp, "lsrc"), *vd = kx_path_join(tmp, "lart/v");
    kx_mkdirs(src, NULL);
    kx_mkdirs(vd, NULL);
    put(src, "u1_consent.json", "{}");
    put(src, "u1_1_1_1.csv", "P,a,1\nR,a,2\n");
    put(src, "u2_1_1_1.csv", "P,b,5\n");
    kx_stage_ctx ctx;
    int rc = kx_test_download(src, vd, 2, NULL, &ctx);
    char *tree = kx_path_join(vd, "raw_data/web_app_data");
    uint64_t size = 0, hash = 0;
    kx_tree_summarize(tree, 1, &size, &hash);
    bool handed = ctx.ntrees == 1 && !strcmp(ctx.trees[0].tree, "raw_data/web_app_data");
    bool same = handed && ctx.trees[0].size == size && ctx.trees[0].hash == hash;
    kx_stage_trees_free(&ctx);
    free(tree);
    free(src);
    free(vd);
    CHECK_EQ_INT(rc, 0);
    CHECK(handed);
    CHECK_EQ_INT(size, 2 + 12 + 6);
    CHECK(same);
}
