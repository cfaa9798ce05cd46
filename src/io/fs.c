#define _GNU_SOURCE /* O_NOATIME (kx_openat_read) */
#include "io/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/mem.h"
#include "util/sort.h"

static atomic_uint tmp_counter;

int kx_afile_open(kx_afile *f, const char *path, kx_err *err)
{
    memset(f, 0, sizeof *f);
    f->path = kx_strdup(path);
    f->tmp_path = kx_asprintf("%s.tmp-%ld-%u", path, (long)getpid(),
                              atomic_fetch_add(&tmp_counter, 1));
    f->fp = fopen(f->tmp_path, "wb");
    if (!f->fp) {
        kx_fail_errno(err, "cannot create %s", f->tmp_path);
        free(f->path);
        free(f->tmp_path);
        f->path = f->tmp_path = NULL;
        return -1;
    }
    return 0;
}

int kx_afile_write(kx_afile *f, const void *p, size_t n, kx_err *err)
{
    if (n && fwrite(p, 1, n, f->fp) != n) return kx_fail_errno(err, "cannot write %s", f->tmp_path);
    return 0;
}

int kx_afile_commit(kx_afile *f, kx_err *err)
{
    int rc = 0;
    if (fflush(f->fp) != 0) rc = kx_fail_errno(err, "cannot write %s", f->tmp_path);
    if (fclose(f->fp) != 0 && rc == 0) rc = kx_fail_errno(err, "cannot close %s", f->tmp_path);
    f->fp = NULL;
    if (rc == 0 && rename(f->tmp_path, f->path) != 0)
        rc = kx_fail_errno(err, "cannot rename %s to %s", f->tmp_path, f->path);
    if (rc != 0) unlink(f->tmp_path);
    free(f->path);
    free(f->tmp_path);
    f->path = f->tmp_path = NULL;
    return rc;
}

void kx_afile_abort(kx_afile *f)
{
    if (f->fp) {
        fclose(f->fp);
        f->fp = NULL;
    }
    if (f->tmp_path) unlink(f->tmp_path);
    free(f->path);
    free(f->tmp_path);
    f->path = f->tmp_path = NULL;
}

int kx_write_file_atomic(const char *path, const void *p, size_t n, kx_err *err)
{
    kx_afile f;
    if (kx_afile_open(&f, path, err) != 0) return -1;
    if (kx_afile_write(&f, p, n, err) != 0) {
        kx_afile_abort(&f);
        return -1;
    }
    return kx_afile_commit(&f, err);
}

int kx_read_file(const char *path, kx_buf *out, kx_err *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return kx_fail_errno(err, "cannot open %s", path);
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0) kx_buf_reserve(out, (size_t)st.st_size);
    for (;;) {
        kx_buf_reserve(out, 65536);
        ssize_t r = read(fd, out->data + out->len, out->cap - out->len - 1);
        if (r < 0) {
            if (errno == EINTR) continue;
            kx_fail_errno(err, "cannot read %s", path);
            close(fd);
            return -1;
        }
        if (r == 0) break;
        out->len += (size_t)r;
    }
    out->data[out->len] = '\0';
    close(fd);
    return 0;
}

int kx_mkdirs(const char *path, kx_err *err)
{
    char *p = kx_strdup(path);
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] == '/' || p[i] == '\0') {
            char c = p[i];
            p[i] = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                kx_fail_errno(err, "cannot create folder %s", p);
                free(p);
                return -1;
            }
            p[i] = c;
        }
    }
    free(p);
    if (!kx_is_dir(path)) return kx_fail(err, "cannot create folder %s: not a folder", path);
    return 0;
}

/* Removes the contents of the open folder dfd (`path` names it in messages), then the
 * folder itself as `name` in parent_fd. Everything is relative to open folders: a tree of
 * 100k+ files costs one unlinkat per file, not a walk of its full path (and no lstat when
 * readdir gives the type). dfd is consumed. */
static int rmtree_at(int parent_fd, const char *name, int dfd, const char *path, kx_err *err)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return kx_fail_errno(err, "cannot open folder %s", path);
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        bool is_dir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN) {
            struct stat st;
            is_dir = fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        }
        if (!is_dir) {
            if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT) {
                int saved = errno;
                char *sub = kx_path_join(path, e->d_name);
                errno = saved;
                rc = kx_fail_errno(err, "cannot remove %s", sub);
                free(sub);
            }
            continue;
        }
        int sfd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int saved = errno;
        char *sub = kx_path_join(path, e->d_name);
        errno = saved;
        if (sfd < 0) rc = errno == ENOENT ? 0 : kx_fail_errno(err, "cannot open folder %s", sub);
        else rc = rmtree_at(dirfd(d), e->d_name, sfd, sub, err);
        free(sub);
    }
    closedir(d);
    if (rc == 0 && unlinkat(parent_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        rc = kx_fail_errno(err, "cannot remove %s", path);
    return rc;
}

int kx_rmtree(const char *path, kx_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        return kx_fail_errno(err, "cannot stat %s", path);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT) return kx_fail_errno(err, "cannot remove %s", path);
        return 0;
    }
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) return kx_fail_errno(err, "cannot open folder %s", path);
    return rmtree_at(AT_FDCWD, path, dfd, path, err);
}

bool kx_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool kx_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool kx_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static int cmp_dirent(const void *a, const void *b)
{
    const kx_dirent *x = a, *y = b;
    return strcmp(x->name, y->name); /* strcmp compares as unsigned char: bytewise */
}

int kx_list_dir(const char *dir, kx_dirlist *out, kx_err *err) { return kx_list_dir_ex(dir, out, 0, err); }

/* Type (and size) of one entry: from d_type when allowed and known, else from fstatat. */
static void fill_dirent(int dfd, const struct dirent *e, unsigned flags, kx_dirent *it)
{
    if ((flags & KX_LIST_NO_SIZE) && (e->d_type == DT_REG || e->d_type == DT_DIR)) {
        it->is_dir = e->d_type == DT_DIR;
        it->is_file = e->d_type == DT_REG;
        it->size = UINT64_MAX;
        return;
    }
    struct stat st;
    if (fstatat(dfd, e->d_name, &st, 0) == 0) {
        it->is_dir = S_ISDIR(st.st_mode);
        it->is_file = S_ISREG(st.st_mode);
        it->size = (uint64_t)st.st_size;
    }
}

int kx_list_dir_ex(const char *dir, kx_dirlist *out, unsigned flags, kx_err *err)
{
    out->items = NULL;
    out->n = 0;
    DIR *d = opendir(dir);
    if (!d) return kx_fail_errno(err, "cannot open folder %s", dir);
    size_t cap = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        out->items = kx_grow(out->items, &cap, out->n + 1, sizeof *out->items);
        kx_dirent *it = &out->items[out->n++];
        memset(it, 0, sizeof *it);
        it->name = kx_strdup(e->d_name);
        fill_dirent(dirfd(d), e, flags, it);
        errno = 0;
    }
    int rc = 0;
    if (errno != 0) rc = kx_fail_errno(err, "cannot list folder %s", dir);
    closedir(d);
    if (rc) {
        kx_dirlist_free(out);
        return -1;
    }
    if (!(flags & KX_LIST_FS_ORDER)) kx_qsort(out->items, out->n, sizeof *out->items, cmp_dirent);
    return 0;
}

void kx_dirlist_free(kx_dirlist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->items[i].name);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

int kx_copy_file(const char *src, const char *dst, kx_err *err)
{
    int in = open(src, O_RDONLY);
    if (in < 0) return kx_fail_errno(err, "cannot open %s", src);
    kx_afile f;
    if (kx_afile_open(&f, dst, err) != 0) {
        close(in);
        return -1;
    }
    char buf[65536];
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0) {
            if (errno == EINTR) continue;
            kx_fail_errno(err, "cannot read %s", src);
            close(in);
            kx_afile_abort(&f);
            return -1;
        }
        if (r == 0) break;
        if (kx_afile_write(&f, buf, (size_t)r, err) != 0) {
            close(in);
            kx_afile_abort(&f);
            return -1;
        }
    }
    close(in);
    return kx_afile_commit(&f, err);
}

int kx_link_or_copy(const char *src, const char *dst, kx_err *err)
{
    if (link(src, dst) == 0) return 0;
    if (errno == EEXIST) {
        unlink(dst);
        if (link(src, dst) == 0) return 0;
    }
    return kx_copy_file(src, dst, err);
}

int kx_link_or_copy_at(int sfd, const char *sdir, const char *sname, int dfd, const char *ddir, const char *dname,
                       kx_err *err)
{
    if (linkat(sfd, sname, dfd, dname, 0) == 0) return 0;
    if (errno == EEXIST) {
        unlinkat(dfd, dname, 0);
        if (linkat(sfd, sname, dfd, dname, 0) == 0) return 0;
    }
    char *src = kx_path_join(sdir, sname), *dst = kx_path_join(ddir, dname);
    int rc = kx_copy_file(src, dst, err);
    free(src);
    free(dst);
    return rc;
}

int kx_openat_read(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOATIME);
    if (fd < 0 && errno == EPERM) fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    return fd;
}

int kx_read_fd(int fd, const char *path, uint64_t size, kx_buf *out, kx_err *err)
{
    size_t start = out->len;
    kx_buf_reserve(out, (size_t)size + 1);
    for (;;) {
        size_t want = out->cap - out->len - 1;
        if (want == 0) {
            kx_buf_reserve(out, 65536);
            want = out->cap - out->len - 1;
        }
        ssize_t r = read(fd, out->data + out->len, want);
        if (r < 0) {
            if (errno == EINTR) continue;
            return kx_fail_errno(err, "cannot read %s", path);
        }
        out->len += (size_t)r;
        /* A short read of a regular file ends at end-of-file: at the expected length there
         * is nothing left to ask for. Anything else reads on to a zero read. */
        if (r == 0 || ((size_t)r < want && out->len - start == size)) break;
    }
    out->data[out->len] = '\0';
    if (out->len - start != size)
        return kx_fail(err, "%s changed while being read (%llu bytes expected, %llu read)", path,
                       (unsigned long long)size, (unsigned long long)(out->len - start));
    return 0;
}

char *kx_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    if (la && a[la - 1] == '/') return kx_asprintf("%s%s", a, b);
    return kx_asprintf("%s/%s", a, b);
}

char *kx_path_join3(const char *a, const char *b, const char *c)
{
    char *ab = kx_path_join(a, b);
    char *r = kx_path_join(ab, c);
    free(ab);
    return r;
}
