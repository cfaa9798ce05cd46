/* stage_download.c — the `download` stage (spec 01 §3): import one flat snapshot into
 * <version>/raw_data/web_app_data/.
 *
 * Sources: a local folder (path or file:// URI). S3 sources (s3://…, or BUCKET_NAME) are
 * recognised but not supported in this build: the stage fails with a clear message.
 *
 * Files are staged in raw_data/.web_app_data.partial/ as <name>.part, size-checked and
 * renamed, then the staging folder replaces web_app_data/ in one rename. A local file is
 * hard-linked when the file system allows it (same device, permitted), else copied. A hard
 * link shares the inode with the source; that is safe because keyetl never writes a file
 * in place (every output is written under a temporary name and renamed), so the source is
 * never modified.
 */
#include "pipeline/stage_download.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clean_rules.h"
#include "io/fs.h"
#include "io/json.h"
#include "pipeline/stage.h"
#include "util/mem.h"
#include "util/pool.h"
#include "util/sort.h"

#define COMP "download"

/* ---- retry loop ------------------------------------------------------------------------------ */

typedef struct retry_job {
    kx_fetch_fn fetch;
    void *arg;
    const size_t *todo; /* object indices of this pass */
    int *rc;            /* per slot */
    kx_err *errs;       /* per slot */
} retry_job;

static void retry_worker(void *arg, size_t k)
{
    retry_job *j = arg;
    j->rc[k] = j->fetch(j->arg, j->todo[k], &j->errs[k]);
}

/* Appends the errors of the failed slots of one pass (in `todo` order, which is ascending
 * object order) and keeps their indices in todo; returns their count. */
static size_t keep_failed(size_t *todo, size_t n, const int *rc, const kx_err *errs, json_t *errors)
{
    size_t w = 0;
    for (size_t k = 0; k < n; k++) {
        if (rc[k] == 0) continue;
        json_array_append_new(errors, kx_json_str(errs[k].msg));
        todo[w++] = todo[k];
    }
    return w;
}

/* One pass over `todo`; keeps the failed indices in todo (order kept), returns their count. */
static size_t fetch_pass(size_t *todo, size_t n, int workers, kx_fetch_fn fetch, void *arg, json_t *errors)
{
    retry_job j = {fetch, arg, todo, kx_calloc(n ? n : 1, sizeof(int)), kx_calloc(n ? n : 1, sizeof(kx_err))};
    kx_parallel_for(workers, n, retry_worker, &j);
    size_t w = keep_failed(todo, n, j.rc, j.errs, errors);
    free(j.rc);
    free(j.errs);
    return w;
}

void kx_download_objects_with(size_t n, int workers, kx_first_pass_fn first, kx_fetch_fn fetch, void *arg,
                              kx_sleep_fn sleep_fn, json_t *errors, bool *failed, kx_retry_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    size_t *todo = kx_calloc(n ? n : 1, sizeof *todo);
    for (size_t i = 0; i < n; i++) todo[i] = i;
    size_t left;
    if (first) {
        int *rc = kx_calloc(n ? n : 1, sizeof(int));
        kx_err *errs = kx_calloc(n ? n : 1, sizeof(kx_err)); /* pages are touched only by failures */
        first(arg, n, workers, rc, errs);
        left = keep_failed(todo, n, rc, errs, errors);
        free(rc);
        free(errs);
    } else {
        left = fetch_pass(todo, n, workers, fetch, arg, errors);
    }
    stats->initial_failed = left;
    for (unsigned r = 1; r <= KX_DOWNLOAD_RETRY_ROUNDS && left > 0; r++) {
        if (sleep_fn) sleep_fn(1u << (r - 1));
        stats->rounds++;
        left = fetch_pass(todo, left, workers, fetch, arg, errors);
    }
    stats->final_failed = left;
    stats->recovered = stats->initial_failed - left;
    for (size_t i = 0; i < n; i++) failed[i] = false;
    for (size_t k = 0; k < left; k++) failed[todo[k]] = true;
    free(todo);
}

void kx_download_objects(size_t n, int workers, kx_fetch_fn fetch, void *arg, kx_sleep_fn sleep_fn,
                         json_t *errors, bool *failed, kx_retry_stats *stats)
{
    kx_download_objects_with(n, workers, NULL, fetch, arg, sleep_fn, errors, failed, stats);
}

static void real_sleep(unsigned seconds) { sleep(seconds); }

/* ---- local source -------------------------------------------------------------------------- */

/* The base version's import (01 §3.2 step 4): its manifest entries and its raw folder. */
typedef struct base_entry {
    const char *name; /* points into the manifest JSON */
    uint64_t size;
    int64_t mtime_ns; /* modification time seen when the base hashed it */
    const char *sha256;
} base_entry;

typedef struct base_import {
    json_t *manifest;
    base_entry *v; /* sorted by name, as in the manifest */
    size_t n;
} base_import;

typedef struct local_job {
    const char *src_dir;    /* absolute source folder */
    const char *staging;
    int src_fd, staging_fd; /* the two folders, opened once (lookups relative to them) */
    kx_dirent **objs;       /* import set in name order (pointers into the listing); a size is
                             * UINT64_MAX until the file is first opened */
    const size_t *link_order; /* object indices in the source's readdir order */
    char (*hex)[65];        /* per object: sha256 of the imported content (manifest) */
    int64_t *mtime_ns;      /* per object: modification time when it was hashed (manifest) */
    const base_import *base;/* NULL when no base version may be reused */
    size_t *reused;         /* per object: 1 if its hash came from the base */
    unsigned char *link_failed; /* first pass: 1 if the object could not be hard-linked */
    atomic_size_t next_hash;    /* first pass: next object for the hashing threads */
} local_job;

static char *src_path(const local_job *j, const char *name) { return kx_path_join(j->src_dir, name); }

/* sha256 of an open file of `size` bytes (from fstat), streamed from its current offset;
 * dir/name (or dir alone when name is "") names it in messages.
 * A short read that reaches `size` is end-of-file (regular file): no extra read to see it. */
static int sha256_fd(int fd, const char *dir, const char *name, uint64_t size, char hex[65], kx_err *err)
{
    kx_sha256 *s = kx_sha256_new();
    char buf[65536];
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int saved = errno;
            char *path = *name ? kx_path_join(dir, name) : kx_strdup(dir);
            errno = saved;
            rc = kx_fail_errno(err, "cannot read %s", path);
            free(path);
            break;
        }
        if (r == 0) break;
        kx_sha256_update(s, buf, (size_t)r);
        total += (uint64_t)r;
        if ((size_t)r < sizeof buf && total == size) break;
    }
    kx_sha256_final(s, hex);
    return rc;
}

static int sha256_file(const char *path, char hex[65], kx_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return kx_fail_errno(err, "cannot open %s", path);
    int rc = sha256_fd(fd, path, "", UINT64_MAX, hex, err);
    close(fd);
    return rc;
}

static int cmp_base_entry(const void *key, const void *elem)
{
    return strcmp(key, ((const base_entry *)elem)->name);
}

static int64_t mtime_ns(const struct stat *st) { return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec; }

/* The base manifest's sha256 for a source file whose name, size and modification time equal
 * the base manifest entry (01 §3.2 step 4): the base hashed exactly these bytes (a file
 * rewritten since has a new mtime), so the hash is taken instead of reading the file. The
 * mtime is the one the base saw when it hashed, not the base copy's current one: a hard link
 * shares its inode, and so its mtime, with the source. NULL when the file must be read. */
static const char *base_sha256(const local_job *j, const char *name, const struct stat *src)
{
    const base_entry *e = bsearch(name, j->base->v, j->base->n, sizeof *j->base->v, cmp_base_entry);
    if (!e || e->size != (uint64_t)src->st_size || e->mtime_ns != mtime_ns(src)) return NULL;
    return e->sha256;
}

/* The file's size as listed: the first size seen for it (the listing takes types from
 * readdir, so that is usually the fstat of the hashing pass); a later one must agree. */
static int check_size(const local_job *j, kx_dirent *e, const struct stat *st, kx_err *err)
{
    if (e->size == UINT64_MAX) e->size = (uint64_t)st->st_size;
    if ((uint64_t)st->st_size == e->size) return 0;
    char *src = src_path(j, e->name);
    kx_fail(err, "size mismatch for %s: %llu bytes listed, %llu now", src, (unsigned long long)e->size,
            (unsigned long long)st->st_size);
    free(src);
    return -1;
}

/* Size, mtime and sha256 of source object i (not its import): the base's hash when the
 * file is unchanged since the base, else one open, one fstat and the reads, relative to the
 * open source folder (in flat folders of 100k+ entries every path lookup is a kernel
 * directory search). */
static int hash_object(local_job *j, size_t i, kx_err *err)
{
    kx_dirent *e = j->objs[i];
    struct stat st;
    if (j->base && fstatat(j->src_fd, e->name, &st, 0) == 0 && check_size(j, e, &st, err) == 0) {
        const char *sum = base_sha256(j, e->name, &st);
        if (sum) { /* unchanged since the base: its hash, no read */
            memcpy(j->hex[i], sum, 65);
            j->mtime_ns[i] = mtime_ns(&st);
            j->reused[i] = 1;
            return 0;
        }
    }
    j->reused[i] = 0;
    int fd = kx_openat_read(j->src_fd, e->name);
    int rc = -1;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int saved = errno;
        char *src = src_path(j, e->name);
        errno = saved;
        kx_fail_errno(err, fd < 0 ? "cannot open %s" : "cannot stat %s", src);
        free(src);
    } else if (check_size(j, e, &st, err) == 0) {
        j->mtime_ns[i] = mtime_ns(&st); /* taken before the read: a later change shows next time */
        rc = sha256_fd(fd, j->src_dir, e->name, e->size, j->hex[i], err);
    }
    if (fd >= 0) close(fd);
    return rc;
}

/* Hard-links object i into staging (AT_SYMLINK_FOLLOW links a symlink's target, as the
 * spec asks). A hard link shares the inode, so its bytes are the ones hashed. */
static int link_object(const local_job *j, size_t i)
{
    const char *name = j->objs[i]->name;
    if (linkat(j->src_fd, name, j->staging_fd, name, AT_SYMLINK_FOLLOW) == 0) return 0;
    return errno == EEXIST && unlinkat(j->staging_fd, name, 0) == 0 &&
                   linkat(j->src_fd, name, j->staging_fd, name, AT_SYMLINK_FOLLOW) == 0
               ? 0 : -1;
}

/* Fallback when hard-linking is refused: copy to <name>.part, size-check, rename, and hash
 * the copy. No mtime is recorded for a copy (its reuse is not offered to the next run). */
static int copy_object(local_job *j, size_t i, kx_err *err)
{
    const kx_dirent *e = j->objs[i];
    char *src = src_path(j, e->name);
    char *part = kx_asprintf("%s/%s.part", j->staging, e->name);
    char *dst = kx_path_join(j->staging, e->name);
    /* A symbolic link is resolved first: link() would otherwise link the link itself. */
    char *target = realpath(src, NULL);
    int rc = -1;
    struct stat st;
    if (!target) {
        kx_fail_errno(err, "cannot resolve %s", src);
    } else if (kx_link_or_copy(target, part, err) == 0) {
        if (stat(part, &st) != 0) kx_fail_errno(err, "cannot stat %s", part);
        else if ((uint64_t)st.st_size != e->size)
            kx_fail(err, "size mismatch for %s: %llu bytes listed, %llu copied", src, (unsigned long long)e->size,
                    (unsigned long long)st.st_size);
        else if (rename(part, dst) != 0) kx_fail_errno(err, "cannot rename %s", part);
        else rc = 0;
        if (rc != 0) unlink(part);
    }
    if (rc == 0) rc = sha256_file(dst, j->hex[i], err);
    j->mtime_ns[i] = INT64_MIN;
    j->reused[i] = 0;
    free(target);
    free(part);
    free(dst);
    free(src);
    return rc;
}

/* One attempt at object i (retry rounds): hash, then link, else copy. */
static int fetch_local(void *arg, size_t i, kx_err *err)
{
    local_job *j = arg;
    if (hash_object(j, i, err) != 0) return -1;
    if (link_object(j, i) == 0) return 0;
    return copy_object(j, i, err);
}

/* ---- first pass: one linking thread, the others hashing -------------------------------------- */

/* Every link into the one staging folder takes that folder's lock (i_rwsem) exclusively:
 * two linking threads mostly wait for each other (measured: ~8 % of the CPU time spinning
 * on the lock at 10,000 users). So one thread links every object, in the source's readdir
 * order (on ext4 hash order: the new names land in the staging folder's directory blocks
 * one after the other instead of at random), while the other threads hash. */
typedef struct first_pass {
    local_job *j;
    size_t n;
    const size_t *items; /* copy pass: the objects to copy */
    int *rc;
    kx_err *errs;
} first_pass;

static void lane_worker(void *arg, size_t lane)
{
    first_pass *f = arg;
    local_job *j = f->j;
    if (lane == 0) {
        for (size_t k = 0; k < f->n; k++) {
            size_t i = j->link_order[k];
            j->link_failed[i] = link_object(j, i) != 0;
        }
        return;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&j->next_hash, 1);
        if (i >= f->n) break;
        f->rc[i] = hash_object(j, i, &f->errs[i]);
    }
}

static void copy_worker(void *arg, size_t k)
{
    first_pass *f = arg;
    size_t i = f->items[k];
    f->rc[i] = copy_object(f->j, i, &f->errs[i]);
}

static void local_first_pass(void *arg, size_t n, int workers, int *rc, kx_err *errs)
{
    local_job *j = arg;
    j->link_failed = kx_calloc(n ? n : 1, 1);
    atomic_store(&j->next_hash, 0);
    first_pass f = {j, n, NULL, rc, errs};
    kx_parallel_for(workers, workers < 2 ? 2 : (size_t)workers, lane_worker, &f);
    /* Objects hashed but not linked (another device, links refused): copied, in parallel. */
    size_t *copy = kx_calloc(n ? n : 1, sizeof *copy), m = 0;
    for (size_t i = 0; i < n; i++)
        if (rc[i] == 0 && j->link_failed[i]) copy[m++] = i;
    first_pass cf = {j, m, copy, rc, errs};
    kx_parallel_for(workers, m, copy_worker, &cf);
    free(copy);
    free(j->link_failed);
    j->link_failed = NULL;
}

/* ---- manifest -------------------------------------------------------------------------------- */

/* `files` list of the manifest for the regular files of `dir` (sorted by name). `known`
 * (optional) maps the names imported by this run to the sha256 computed while importing,
 * so only files not in it are read again. */
typedef struct file_sum {
    const char *dir;
    kx_dirent *items;
    char (*hex)[65];
    int *rc;
    kx_err *errs;
} file_sum;

static void sum_worker(void *arg, size_t i)
{
    file_sum *f = arg;
    if (!f->items[i].is_file || f->hex[i][0]) return;
    char *p = kx_path_join(f->dir, f->items[i].name);
    f->rc[i] = sha256_file(p, f->hex[i], &f->errs[i]);
    free(p);
}

/* True if kx_json_dump prints s between quotes as is: printable ASCII without '"' or '\\'. */
static bool plain_json_text(const char *s)
{
    for (const unsigned char *u = (const unsigned char *)s; *u; u++)
        if (*u < 0x20 || *u > 0x7e || *u == '"' || *u == '\\') return false;
    return true;
}

/* One entry of the manifest's `files` list, byte for byte as kx_json_dump_at(…, 2) prints
 * the object {"name", "size", "sha256"[, "mtime_ns"]}. Plain names (all of them in practice)
 * are written directly: building and freeing a jansson object per entry was most of the
 * manifest's cost (590k entries at 10,000 users); other names go through jansson. */
static void put_manifest_entry(kx_buf *b, const char *name, uint64_t size, const char *hex, int64_t mtime)
{
    if (!plain_json_text(name)) {
        json_t *o = json_object();
        json_object_set_new(o, "name", kx_json_str(name));
        json_object_set_new(o, "size", json_integer((json_int_t)size));
        json_object_set_new(o, "sha256", json_string(hex));
        if (mtime != INT64_MIN) json_object_set_new(o, "mtime_ns", json_integer(mtime));
        kx_json_dump_at(b, o, 2);
        json_decref(o);
        return;
    }
    kx_buf_puts(b, "{\n      \"name\": \"");
    kx_buf_puts(b, name);
    kx_buf_puts(b, "\",\n      \"size\": ");
    kx_buf_put_i64(b, (int64_t)size);
    kx_buf_puts(b, ",\n      \"sha256\": \"");
    kx_buf_puts(b, hex);
    kx_buf_putc(b, '"');
    if (mtime != INT64_MIN) {
        kx_buf_puts(b, ",\n      \"mtime_ns\": ");
        kx_buf_put_i64(b, mtime);
    }
    kx_buf_puts(b, "\n    }");
}

typedef struct dl_paths {
    char *raw_dir;   /* <vd>/raw_data */
    char *dest;      /* <vd>/raw_data/web_app_data */
    char *staging;   /* <vd>/raw_data/.web_app_data.partial */
    char *meta_dir;  /* <vd>/etl_metadata/download */
} dl_paths;

/* Streams manifest.json (01 §3.3): the header members as one small tree, then the `files`
 * list entry by entry, so memory stays flat for snapshots of any size (a jansson tree of
 * 568k entries took ~600 MB). `known` (optional) maps the names imported by this run to the
 * sha256 and mtime seen while importing; other files are hashed here. */
static int write_manifest(kx_stage_ctx *ctx, const dl_paths *p, const char *source_uri, const kx_dirlist *known,
                          char (*known_hex)[65], const int64_t *known_mtime, kx_err *err)
{
    kx_dirlist own = {NULL, 0};
    const kx_dirlist *l = known;
    if (!l) {
        if (kx_list_dir(p->dest, &own, err) != 0) return -1;
        l = &own;
    }
    size_t n = l->n;
    file_sum f = {p->dest, l->items, kx_calloc(n ? n : 1, 65), kx_calloc(n ? n : 1, sizeof(int)),
                  kx_calloc(n ? n : 1, sizeof(kx_err))};
    if (known_hex) memcpy(f.hex, known_hex, n * 65);
    kx_parallel_for(ctx->cfg->parallel_workers, n, sum_worker, &f);
    int64_t count = 0, bytes = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!l->items[i].is_file) continue;
        if (f.rc[i] != 0) rc = kx_fail(err, "%s", f.errs[i].msg);
        count++;
        bytes += (int64_t)l->items[i].size;
    }
    char *path = kx_path_join(p->meta_dir, "manifest.json");
    kx_afile out;
    if (rc == 0 && kx_afile_open(&out, path, err) != 0) rc = -1;
    else if (rc == 0) {
        json_t *m = json_object();
        json_object_set_new(m, "version_id", kx_json_str(ctx->version_id));
        json_object_set_new(m, "stage", json_string("download"));
        json_object_set_new(m, "source", kx_json_str(source_uri));
        json_object_set_new(m, "destination", kx_json_str(p->dest));
        json_object_set_new(m, "files_downloaded", json_integer(count));
        json_object_set_new(m, "total_size", json_integer(bytes));
        json_object_set_new(m, "timestamp", kx_json_timestamp_now());
        kx_buf b = KX_BUF_INIT;
        kx_json_dump(&b, m); /* "{ ... \n}": reopen it for the last member */
        json_decref(m);
        b.len -= 2;
        kx_buf_puts(&b, count ? ",\n  \"files\": [" : ",\n  \"files\": []\n}");
        size_t written = 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (!l->items[i].is_file) continue;
            kx_buf_puts(&b, written++ ? ",\n    " : "\n    ");
            /* (added) mtime_ns: the source's mtime when it was hashed, for reuse by the next run */
            put_manifest_entry(&b, l->items[i].name, l->items[i].size, f.hex[i],
                               known_mtime ? known_mtime[i] : INT64_MIN);
            if (b.len > (1u << 20)) {
                rc = kx_afile_write(&out, b.data, b.len, err);
                kx_buf_reset(&b);
            }
        }
        if (count) kx_buf_puts(&b, "\n  ]\n}");
        if (rc == 0) rc = kx_afile_write(&out, b.data, b.len, err);
        kx_buf_free(&b);
        if (rc == 0) rc = kx_afile_commit(&out, err);
        else kx_afile_abort(&out);
    }
    free(path);
    free(f.hex);
    free(f.rc);
    free(f.errs);
    kx_dirlist_free(&own);
    if (rc == 0) {
        ctx->stats = json_object();
        json_object_set_new(ctx->stats, "files_count", json_integer(count));
        json_object_set_new(ctx->stats, "total_size", json_integer(bytes));
    }
    return rc;
}

static int write_log(const dl_paths *p, int64_t files, int64_t bytes, json_t *errors, json_t *start,
                     const kx_retry_stats *rs, json_t *failed_files, kx_err *err)
{
    json_t *log = json_object();
    json_object_set_new(log, "files_downloaded", json_integer(files));
    json_object_set_new(log, "total_size", json_integer(bytes));
    json_object_set(log, "errors", errors);
    json_object_set(log, "start_time", start);
    json_t *r = json_object();
    json_object_set_new(r, "initial_gstmp_files", json_integer((json_int_t)rs->initial_failed));
    json_object_set_new(r, "retries_attempted", json_integer((json_int_t)rs->rounds));
    json_object_set_new(r, "files_recovered", json_integer((json_int_t)rs->recovered));
    json_object_set_new(r, "final_gstmp_files", json_integer((json_int_t)rs->final_failed));
    json_object_set(r, "failed_files", failed_files);
    json_object_set_new(log, "retry_stats", r);
    json_object_set_new(log, "end_time", kx_json_timestamp_now());
    int rc = kx_mkdirs(p->meta_dir, err);
    if (rc == 0) {
        char *path = kx_path_join(p->meta_dir, "download_log.json");
        rc = kx_json_write_file(path, log, err);
        free(path);
    }
    json_decref(log);
    return rc;
}

/* Local folder path of a source, or NULL (with err) for S3 / unusable sources. */
static char *local_source_path(const kx_stage_ctx *ctx, kx_err *err)
{
    const kx_config *cfg = ctx->cfg;
    const char *src = cfg->raw_source;
    char *s3 = NULL;
    if (!src || !*src) {
        if (!cfg->bucket_name || !*cfg->bucket_name) {
            kx_fail(err, "no snapshot source: set RAW_SOURCE (--source) or BUCKET_NAME");
            return NULL;
        }
        s3 = kx_asprintf("s3://%s/uploads/", cfg->bucket_name);
        src = s3;
    }
    if (!strncmp(src, "s3://", 5)) {
        if (ctx->local_only) kx_fail(err, "source %s is an S3 source, which --local-only forbids", src);
        else kx_fail(err, "source %s: S3 sources are not supported in this build (use a local folder or file:// URI)", src);
        free(s3);
        return NULL;
    }
    if (!strncmp(src, "file://", 7)) src += 7;
    if (!*src) {
        kx_fail(err, "source %s names no folder", cfg->raw_source);
        return NULL;
    }
    return kx_strdup(src);
}

static bool dir_has_entries(const char *dir)
{
    kx_dirlist l;
    if (!kx_is_dir(dir) || kx_list_dir(dir, &l, NULL) != 0) return false;
    bool any = l.n > 0;
    kx_dirlist_free(&l);
    return any;
}

/* --local-only with no RAW_SOURCE: adopt an existing non-empty web_app_data (01 §3.1). */
static int adopt_existing(kx_stage_ctx *ctx, const dl_paths *p)
{
    json_t *start = kx_json_timestamp_now();
    char *abs = realpath(p->dest, NULL);
    if (!abs) {
        json_decref(start);
        return kx_fail_errno(&ctx->err, "cannot resolve %s", p->dest);
    }
    char *uri = kx_asprintf("file://%s/", abs);
    free(abs);
    kx_logf(ctx->log, KX_LOG_INFO, COMP, "--local-only: adopting %s as is", p->dest);
    int rc = kx_mkdirs(p->meta_dir, &ctx->err);
    if (rc == 0) rc = write_manifest(ctx, p, uri, NULL, NULL, NULL, &ctx->err);
    json_t *errors = json_array(), *failed = json_array();
    kx_retry_stats rs = {0, 0, 0, 0};
    if (rc == 0) {
        json_t *fc = json_object_get(ctx->stats, "files_count"), *ts = json_object_get(ctx->stats, "total_size");
        rc = write_log(p, json_integer_value(fc), json_integer_value(ts), errors, start, &rs, failed, &ctx->err);
    }
    json_decref(errors);
    json_decref(failed);
    json_decref(start);
    free(uri);
    return rc;
}

static void free_paths(dl_paths *p)
{
    free(p->raw_dir);
    free(p->dest);
    free(p->staging);
    free(p->meta_dir);
}

typedef struct fs_pos {
    kx_dirent *e;
    size_t pos; /* position in readdir order */
} fs_pos;

static int cmp_fs_pos(const void *a, const void *b)
{
    return strcmp(((const fs_pos *)a)->e->name, ((const fs_pos *)b)->e->name); /* names are unique */
}

/* Import set (01 §3.1): regular files or links to them directly inside, no dot names.
 * `l` is in readdir order; objs gets the set in name order (the order of every output) and
 * link_order the object indices in readdir order (the order of linking, see lane_worker). */
static size_t import_set(kx_dirlist *l, kx_dirent ***objs, size_t **link_order)
{
    fs_pos *v = kx_calloc(l->n ? l->n : 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++) {
        kx_dirent *e = &l->items[i];
        if (e->name[0] == '.' || !e->is_file) continue;
        v[n] = (fs_pos){e, n};
        n++;
    }
    kx_qsort(v, n, sizeof *v, cmp_fs_pos);
    *objs = kx_calloc(n ? n : 1, sizeof **objs);
    *link_order = kx_calloc(n ? n : 1, sizeof **link_order);
    for (size_t i = 0; i < n; i++) {
        (*objs)[i] = v[i].e;
        (*link_order)[v[i].pos] = i;
    }
    free(v);
    return n;
}

/* Loads the base version's manifest (names sorted, as written) and opens its raw folder.
 * Returns false, logging why, when there is nothing usable: then every file is read. */
static bool base_load(const kx_stage_ctx *ctx, base_import *b)
{
    memset(b, 0, sizeof *b);
    if (!ctx->base_version_dir) return false;
    char *mpath = kx_asprintf("%s/etl_metadata/download/manifest.json", ctx->base_version_dir);
    json_error_t je;
    b->manifest = json_load_file(mpath, 0, &je);
    json_t *files = json_object_get(b->manifest, "files");
    size_t n = json_array_size(files);
    b->v = kx_calloc(n ? n : 1, sizeof *b->v);
    bool ok = json_is_array(files);
    for (size_t i = 0; ok && i < n; i++) {
        json_t *f = json_array_get(files, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *sum = json_string_value(json_object_get(f, "sha256"));
        json_t *size = json_object_get(f, "size"), *mt = json_object_get(f, "mtime_ns");
        ok = name && sum && strlen(sum) == 64 && json_is_integer(size) && json_integer_value(size) >= 0 &&
             (i == 0 || strcmp(b->v[i - 1].name, name) < 0);
        if (ok)
            b->v[b->n++] = (base_entry){name, (uint64_t)json_integer_value(size),
                                        json_is_integer(mt) ? (int64_t)json_integer_value(mt) : INT64_MIN, sum};
    }
    if (!ok)
        kx_logf(ctx->log, KX_LOG_WARNING, COMP, "Base version %s not usable for reuse (%s), reading every file",
                ctx->base_version_dir, !b->manifest ? je.text : "malformed manifest");
    free(mpath);
    return ok;
}

static void base_free(base_import *b)
{
    json_decref(b->manifest);
    free(b->v);
}

/* The imported folder holds exactly the import set under its names (every object linked
 * or copied, sizes checked), so its lineage summary needs no second listing (lineage.h). */
static void hand_over_tree(kx_stage_ctx *ctx, kx_dirent *const *objs, size_t n)
{
    kx_treesum sum = KX_TREESUM_INIT;
    for (size_t i = 0; i < n; i++) {
        if (objs[i]->size == UINT64_MAX) { /* size never seen: let the runner list the folder */
            kx_treesum_free(&sum);
            return;
        }
        kx_treesum_add(&sum, objs[i]->name, objs[i]->size);
    }
    kx_stage_add_tree(ctx, "raw_data/web_app_data", &sum);
}

/* One import from a local folder, from the listing to download_log.json (kx_stage_download). */
typedef struct dl_run {
    dl_paths p;
    char *src, *src_abs, *uri; /* the source as configured, resolved, and as a file:// URI */
    kx_dirlist listing;        /* the source folder, readdir order */
    kx_dirent **objs;          /* the import set in name order (pointers into listing) */
    size_t *link_order;        /* object indices in readdir order */
    size_t n;
    char (*hex)[65];           /* per object: sha256 of the imported content */
    int64_t *mtimes;           /* per object: mtime when hashed; INT64_MIN for copies */
    bool *failed;              /* per object: still failed after the retry rounds */
    kx_retry_stats rs;
    json_t *errors, *failed_files; /* download_log.json: messages, source URIs of failed objects */
    int64_t ok_files, ok_bytes;
} dl_run;

/* Resolves the source folder and lists its import set (01 §3.1). */
static int list_source(kx_stage_ctx *ctx, dl_run *r)
{
    r->src = local_source_path(ctx, &ctx->err);
    if (!r->src) return -1;
    if (!kx_is_dir(r->src)) return kx_fail(&ctx->err, "source folder %s does not exist or is not a folder", r->src);
    r->src_abs = realpath(r->src, NULL);
    if (!r->src_abs) return kx_fail_errno(&ctx->err, "cannot resolve source folder %s", r->src);
    r->uri = kx_asprintf("file://%s%s", r->src_abs, strcmp(r->src_abs, "/") ? "/" : "");
    /* Types from readdir (sizes when each file is opened), in readdir order for linking. */
    if (kx_list_dir_ex(r->src_abs, &r->listing, KX_LIST_NO_SIZE | KX_LIST_FS_ORDER, &ctx->err) != 0) return -1;
    r->n = import_set(&r->listing, &r->objs, &r->link_order);
    if (r->n == 0) return kx_fail(&ctx->err, "source folder %s holds no files to import", r->src);
    return 0;
}

/* Copies (links) every object into a fresh staging folder with retries (01 §3.2 steps 1–2),
 * taking unchanged files' hashes from the base version when there is one. */
static int import_objects(kx_stage_ctx *ctx, dl_run *r)
{
    size_t n = r->n;
    kx_logf(ctx->log, KX_LOG_INFO, COMP, "Importing %zu files from %s", n, r->uri);
    if (kx_rmtree(r->p.staging, &ctx->err) || kx_mkdirs(r->p.staging, &ctx->err)) return -1;
    r->hex = kx_calloc(n, 65);
    r->mtimes = kx_calloc(n, sizeof *r->mtimes);
    for (size_t i = 0; i < n; i++) r->mtimes[i] = INT64_MIN; /* copies: no mtime recorded */
    r->failed = kx_calloc(n, sizeof *r->failed);
    base_import base;
    bool have_base = base_load(ctx, &base);
    local_job job = {r->src_abs, r->p.staging, open(r->src_abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC),
                     open(r->p.staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r->objs, r->link_order, r->hex,
                     r->mtimes, have_base ? &base : NULL, kx_calloc(n, sizeof(size_t)), NULL, 0};
    int rc = 0;
    if (job.src_fd < 0 || job.staging_fd < 0) {
        rc = kx_fail_errno(&ctx->err, "cannot open %s", job.src_fd < 0 ? r->src_abs : r->p.staging);
    } else {
        kx_download_objects_with(n, ctx->cfg->parallel_workers, local_first_pass, fetch_local, &job, real_sleep,
                                 r->errors, r->failed, &r->rs);
    }
    if (job.src_fd >= 0) close(job.src_fd);
    if (job.staging_fd >= 0) close(job.staging_fd);
    if (rc == 0 && have_base) {
        size_t reused = 0;
        for (size_t i = 0; i < n; i++) reused += job.reused[i];
        kx_logf(ctx->log, KX_LOG_INFO, COMP, "%zu of %zu files unchanged since base version %s (not re-read)", reused,
                n, ctx->base_version_id ? ctx->base_version_id : ctx->base_version_dir);
    }
    free(job.reused);
    base_free(&base);
    return rc;
}

/* Counts what was imported and lists what failed (01 §3.2 step 3: any failure fails the stage). */
static int tally_objects(kx_stage_ctx *ctx, dl_run *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->failed[i]) {
            char *f = kx_path_join(r->uri, r->objs[i]->name);
            json_array_append_new(r->failed_files, kx_json_str(f));
            free(f);
        } else {
            r->ok_files++;
            r->ok_bytes += (int64_t)r->objs[i]->size;
        }
    }
    kx_logf(ctx->log, KX_LOG_INFO, COMP, "Imported %lld files (%lld bytes)", (long long)r->ok_files,
            (long long)r->ok_bytes);
    if (r->rs.final_failed)
        return kx_fail(&ctx->err, "%zu of %zu files could not be imported from %s (see download_log.json)",
                       r->rs.final_failed, r->n, r->uri);
    return 0;
}

/* Swaps staging in for web_app_data (step 3), writes the manifest, hands the tree summary
 * to the runner. */
static int publish(kx_stage_ctx *ctx, dl_run *r)
{
    if (kx_rmtree(r->p.dest, &ctx->err)) return -1;
    if (rename(r->p.staging, r->p.dest) != 0)
        return kx_fail_errno(&ctx->err, "cannot rename %s to %s", r->p.staging, r->p.dest);
    kx_dirlist imported = {kx_calloc(r->n, sizeof *imported.items), 0}; /* names stay owned by the listing */
    for (size_t i = 0; i < r->n; i++) imported.items[imported.n++] = *r->objs[i];
    int rc = kx_mkdirs(r->p.meta_dir, &ctx->err);
    if (rc == 0) rc = write_manifest(ctx, &r->p, r->uri, &imported, r->hex, r->mtimes, &ctx->err);
    free(imported.items);
    if (rc == 0) hand_over_tree(ctx, r->objs, r->n);
    return rc;
}

static void dl_run_free(dl_run *r)
{
    json_decref(r->errors);
    json_decref(r->failed_files);
    kx_dirlist_free(&r->listing);
    free(r->objs);
    free(r->link_order);
    free(r->hex);
    free(r->mtimes);
    free(r->failed);
    free(r->src);
    free(r->src_abs);
    free(r->uri);
    free_paths(&r->p);
}

int kx_stage_download(kx_stage_ctx *ctx)
{
    dl_run r;
    memset(&r, 0, sizeof r);
    r.p = (dl_paths){kx_asprintf("%s/raw_data", ctx->version_dir), kx_asprintf("%s/raw_data/web_app_data", ctx->version_dir),
                     kx_asprintf("%s/raw_data/.web_app_data.partial", ctx->version_dir),
                     kx_asprintf("%s/etl_metadata/download", ctx->version_dir)};
    if (ctx->local_only && (!ctx->cfg->raw_source || !*ctx->cfg->raw_source) && dir_has_entries(r.p.dest)) {
        int rc = adopt_existing(ctx, &r.p);
        free_paths(&r.p);
        return rc;
    }
    json_t *start = kx_json_timestamp_now();
    r.errors = json_array();
    r.failed_files = json_array();
    int rc = list_source(ctx, &r);
    if (rc == 0) rc = import_objects(ctx, &r);
    if (rc == 0) rc = tally_objects(ctx, &r);
    if (rc == 0) rc = publish(ctx, &r);
    if (rc != 0) {
        kx_rmtree(r.p.staging, NULL);
        json_array_append_new(r.errors, kx_json_str(ctx->err.msg));
    }
    kx_err lerr; /* download_log.json is written in every case (step 3) */
    if (write_log(&r.p, r.ok_files, r.ok_bytes, r.errors, start, &r.rs, r.failed_files, &lerr) != 0 && rc == 0)
        rc = kx_fail(&ctx->err, "%s", lerr.msg);
    if (rc != 0) {
        json_decref(ctx->stats);
        ctx->stats = NULL;
    }
    json_decref(start);
    dl_run_free(&r);
    return rc;
}
