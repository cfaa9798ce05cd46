/* Unit tests of the fs.h helpers for large folders: kx_list_dir_ex, kx_read_fd,
 * kx_link_or_copy_at, kx_openat_read and kx_rmtree (which works relative to open folders). */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/fs.h"
#include "test.h"
#include "util/mem.h"

/* tmp/<sub>/ with b.txt ("bb"), a.txt ("a"), d/ and l.txt -> a.txt; returns the folder. */
static char *make_folder(const char *sub)
{
    char *dir = kx_path_join(kx_test_tmpdir(), sub);
    char *d = kx_path_join(dir, "d"), *a = kx_path_join(dir, "a.txt"), *b = kx_path_join(dir, "b.txt");
    char *l = kx_path_join(dir, "l.txt");
    kx_mkdirs(d, NULL);
    kx_write_file_atomic(b, "bb", 2, NULL);
    kx_write_file_atomic(a, "a", 1, NULL);
    if (symlink("a.txt", l) != 0) abort();
    free(d);
    free(a);
    free(b);
    free(l);
    return dir;
}

static const kx_dirent *find(const kx_dirlist *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].name, name)) return &l->items[i];
    return NULL;
}

TEST(fs_list_dir_ex_types_from_readdir)
{
    char *dir = make_folder("ls");
    kx_dirlist sorted, fast;
    CHECK_EQ_INT(kx_list_dir(dir, &sorted, NULL), 0);
    CHECK_EQ_INT(kx_list_dir_ex(dir, &fast, KX_LIST_NO_SIZE | KX_LIST_FS_ORDER, NULL), 0);
    free(dir);
    CHECK_EQ_INT(sorted.n, 4);
    CHECK_EQ_INT(fast.n, 4);
    CHECK_EQ_STR(sorted.items[0].name, "a.txt"); /* default: byte order, sizes */
    CHECK_EQ_STR(sorted.items[3].name, "l.txt");
    CHECK_EQ_INT(sorted.items[1].size, 2);
    const kx_dirent *a = find(&fast, "a.txt"), *d = find(&fast, "d"), *l = find(&fast, "l.txt");
    CHECK(a && d && l);
    CHECK(a->is_file && !a->is_dir);
    CHECK(a->size == UINT64_MAX); /* regular file: typed by d_type, not stat'ed */
    CHECK(d->is_dir && !d->is_file);
    CHECK(l->is_file && l->size == 1); /* symlink: stat'ed (followed), so typed and sized */
    kx_dirlist_free(&sorted);
    kx_dirlist_free(&fast);
}

TEST(fs_read_fd_one_read_and_length_check)
{
    char *dir = make_folder("rd");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    int fd = kx_openat_read(dfd, "b.txt");
    CHECK(fd >= 0);
    kx_buf b = KX_BUF_INIT;
    kx_buf_puts(&b, "x"); /* appended after what is there */
    kx_err err;
    int rc = kx_read_fd(fd, "b.txt", 2, &b, &err);
    close(fd);
    fd = kx_openat_read(dfd, "b.txt");
    kx_buf c = KX_BUF_INIT;
    int rc_short = kx_read_fd(fd, "b.txt", 5, &c, &err); /* listed 5, holds 2 */
    close(fd);
    close(dfd);
    free(dir);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(b.data, "xbb");
    CHECK_EQ_INT(rc_short, -1);
    CHECK(strstr(err.msg, "b.txt changed while being read (5 bytes expected, 2 read)") != NULL);
    kx_buf_free(&b);
    kx_buf_free(&c);
}

TEST(fs_read_fd_large_file_in_several_reads)
{
    char *dir = kx_path_join(kx_test_tmpdir(), "big");
    kx_mkdirs(dir, NULL);
    size_t n = 200000 + 17;
    char *data = kx_malloc(n);
    for (size_t i = 0; i < n; i++) data[i] = (char)('a' + i % 26);
    char *p = kx_path_join(dir, "f");
    kx_write_file_atomic(p, data, n, NULL);
    int fd = open(p, O_RDONLY);
    kx_buf b = KX_BUF_INIT;
    int rc = kx_read_fd(fd, p, n, &b, NULL);
    close(fd);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(b.len, n);
    CHECK(memcmp(b.data, data, n) == 0);
    kx_buf_free(&b);
    free(data);
    free(p);
    free(dir);
}

TEST(fs_link_or_copy_at_links_and_replaces)
{
    char *dir = make_folder("ln");
    char *out = kx_path_join(kx_test_tmpdir(), "ln-out");
    kx_mkdirs(out, NULL);
    int sfd = open(dir, O_RDONLY | O_DIRECTORY), dfd = open(out, O_RDONLY | O_DIRECTORY);
    char *old = kx_path_join(out, "x.txt");
    kx_write_file_atomic(old, "old", 3, NULL);
    int rc = kx_link_or_copy_at(sfd, dir, "b.txt", dfd, out, "x.txt", NULL); /* EEXIST: replaced */
    struct stat s1, s2;
    char *src = kx_path_join(dir, "b.txt");
    bool same = stat(src, &s1) == 0 && stat(old, &s2) == 0 && s1.st_ino == s2.st_ino;
    close(sfd);
    close(dfd);
    free(src);
    free(old);
    free(out);
    free(dir);
    CHECK_EQ_INT(rc, 0);
    CHECK(same);
}

TEST(fs_rmtree_nested_tree_and_missing)
{
    char *dir = make_folder("rm");
    char *deep = kx_path_join(dir, "d/e/f");
    kx_mkdirs(deep, NULL);
    char *file = kx_path_join(deep, "g.txt");
    kx_write_file_atomic(file, "g", 1, NULL);
    char *target = kx_path_join(kx_test_tmpdir(), "keep.txt"); /* a symlink's target survives */
    kx_write_file_atomic(target, "k", 1, NULL);
    char *lnk = kx_path_join(dir, "d/e/to-keep");
    if (symlink(target, lnk) != 0) abort();
    int rc = kx_rmtree(dir, NULL);
    bool gone = !kx_exists(dir), kept = kx_is_file(target);
    int rc_missing = kx_rmtree(dir, NULL);
    free(deep);
    free(file);
    free(target);
    free(lnk);
    free(dir);
    CHECK_EQ_INT(rc, 0);
    CHECK(gone);
    CHECK(kept);
    CHECK_EQ_INT(rc_missing, 0);
}
