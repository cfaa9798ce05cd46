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
    DIR *d = opendir(path);
    if (!d) return kx_fail_errno(err, "cannot open folder %s", path);
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *sub = kx_path_join(path, e->d_name);
        rc = kx_rmtree(sub, err);
        free(sub);
        if (rc) break;
    }
    closedir(d);
    if (rc == 0 && rmdir(path) != 0 && errno != ENOENT) rc = kx_fail_errno(err, "cannot remove %s", path);
    return rc;
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

int kx_list_dir(const char *dir, kx_dirlist *out, kx_err *err)
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
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, 0) == 0) {
            it->is_dir = S_ISDIR(st.st_mode);
            it->is_file = S_ISREG(st.st_mode);
            it->size = (uint64_t)st.st_size;
        }
        errno = 0;
    }
    int rc = 0;
    if (errno != 0) rc = kx_fail_errno(err, "cannot list folder %s", dir);
    closedir(d);
    if (rc) {
        kx_dirlist_free(out);
        return -1;
    }
    kx_qsort(out->items, out->n, sizeof *out->items, cmp_dirent);
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
