/* fs.h — file-system helpers: atomic writes, sorted listings, trees, links.
 *
 * Every output file of keyetl is produced through kx_afile or kx_write_file_atomic: data
 * goes to "<path>.tmp-<pid>-<n>" in the same folder and is renamed over <path> only when
 * complete, so an interrupted run never leaves a half-written file under a final name.
 */
#ifndef KX_IO_FS_H
#define KX_IO_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/buf.h"
#include "util/err.h"

/* ---- streaming atomic file ------------------------------------------------------------- */
typedef struct kx_afile {
    FILE *fp;
    char *path;     /* final name */
    char *tmp_path; /* temporary name while open */
} kx_afile;

int kx_afile_open(kx_afile *f, const char *path, kx_err *err);
int kx_afile_write(kx_afile *f, const void *p, size_t n, kx_err *err);
/* Flush, close, rename to the final name. On failure the temporary file is removed. */
int kx_afile_commit(kx_afile *f, kx_err *err);
/* Close and delete the temporary file (safe on an unopened or committed kx_afile). */
void kx_afile_abort(kx_afile *f);

int kx_write_file_atomic(const char *path, const void *p, size_t n, kx_err *err);
int kx_read_file(const char *path, kx_buf *out, kx_err *err);

/* ---- folders ----------------------------------------------------------------------------- */
int kx_mkdirs(const char *path, kx_err *err);
/* Recursively remove path (file or folder). Missing path is success. */
int kx_rmtree(const char *path, kx_err *err);
bool kx_is_dir(const char *path);
bool kx_is_file(const char *path); /* regular file, or symlink to one */
bool kx_exists(const char *path);

typedef struct kx_dirent {
    char *name;
    bool is_dir;
    bool is_file; /* regular file or symlink to one */
    uint64_t size;
} kx_dirent;

typedef struct kx_dirlist {
    kx_dirent *items;
    size_t n;
} kx_dirlist;

/* Entries of dir except "." and "..", sorted bytewise by name (deterministic, never in
 * file-system order). */
int kx_list_dir(const char *dir, kx_dirlist *out, kx_err *err);
void kx_dirlist_free(kx_dirlist *l);

/* kx_list_dir with options, for folders of 100k+ entries where every per-entry stat is a
 * kernel directory search:
 *   KX_LIST_NO_SIZE   types come from readdir's d_type; only symbolic links and entries of
 *                     unknown type are stat'ed. `size` is then UINT64_MAX ("not known") for
 *                     entries that were not stat'ed — take it from fstat once the file is open.
 *   KX_LIST_FS_ORDER  entries stay in file-system (readdir) order, not sorted. On ext4 that
 *                     is hash order: creating names in that order in another folder of the
 *                     same file system touches its directory blocks one after the other.
 *                     Only for work whose order does not show in any output. */
enum { KX_LIST_NO_SIZE = 1u, KX_LIST_FS_ORDER = 2u };
int kx_list_dir_ex(const char *dir, kx_dirlist *out, unsigned flags, kx_err *err);

/* Hard-link src to dst; if the file system refuses, copy the bytes (atomically). */
int kx_link_or_copy(const char *src, const char *dst, kx_err *err);
int kx_copy_file(const char *src, const char *dst, kx_err *err);
/* kx_link_or_copy relative to open folders (short names: no walk of long paths). sdir and
 * ddir are the folders' paths, used for error messages and the copy fallback only. */
int kx_link_or_copy_at(int sfd, const char *sdir, const char *sname, int dfd, const char *ddir, const char *dname,
                       kx_err *err);

/* Opens dfd/name read-only for a single pass (O_CLOEXEC), without updating its access time
 * when the caller may ask that (O_NOATIME; owner or CAP_FOWNER, else a plain open): every
 * hard link changes a file's ctime, so under relatime each first read after a link would
 * otherwise write the inode. Returns the fd or -1 with errno set. */
int kx_openat_read(int dfd, const char *name);

/* Reads an open regular file of `size` bytes (from fstat) into out (appended, NUL-ended
 * like kx_read_file). Stops on the short read that reaches `size`, so a file costs one
 * read() instead of two (the second only to see end-of-file). A file whose length is not
 * `size` is an error naming `path`. */
int kx_read_fd(int fd, const char *path, uint64_t size, kx_buf *out, kx_err *err);

/* Join path parts with '/' into a fresh heap string. */
char *kx_path_join(const char *a, const char *b);
char *kx_path_join3(const char *a, const char *b, const char *c);

#endif
