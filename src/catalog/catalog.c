/* catalog.c — backend selection and NULL-tolerant wrappers (see catalog.h). */
#include "catalog/catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <xxhash.h>

#include "util/mem.h"

int kx_catalog_open(const kx_config *cfg, kx_catalog_mode mode, kx_catalog **out, kx_err *err)
{
    *out = NULL;
    if (!strcmp(cfg->metadata_backend, "postgres"))
        return kx_fail(err, "METADATA_BACKEND=postgres: this keyetl was not built with PostgreSQL support "
                            "(use METADATA_BACKEND=sqlite)");
    if (strcmp(cfg->metadata_backend, "sqlite") != 0)
        return kx_fail(err, "unknown METADATA_BACKEND '%s'", cfg->metadata_backend);
    char *path = kx_config_metadata_db(cfg);
    int rc = kx_catalog_sqlite_open(path, mode, out, err);
    free(path);
    return rc;
}

void kx_catalog_close(kx_catalog *cat)
{
    if (cat) cat->ops->close(cat);
}

static int no_catalog(kx_err *err) { return kx_fail(err, "no catalog is open (the database does not exist)"); }

int kx_catalog_version_create(kx_catalog *cat, const json_t *record, kx_err *err)
{
    return cat ? cat->ops->version_create(cat, record, err) : no_catalog(err);
}

int kx_catalog_version_get(kx_catalog *cat, const char *id, json_t **record, kx_err *err)
{
    *record = NULL;
    return cat ? cat->ops->version_get(cat, id, record, err) : KX_CAT_NOT_FOUND;
}

int kx_catalog_version_put(kx_catalog *cat, const json_t *record, kx_err *err)
{
    return cat ? cat->ops->version_put(cat, record, err) : no_catalog(err);
}

int kx_catalog_version_list(kx_catalog *cat, json_t **records, kx_err *err)
{
    if (!cat) {
        *records = json_array();
        return 0;
    }
    return cat->ops->version_list(cat, records, err);
}

int kx_catalog_version_delete(kx_catalog *cat, const char *id, bool clear_current, kx_err *err)
{
    return cat ? cat->ops->version_delete(cat, id, clear_current, err) : no_catalog(err);
}

int kx_catalog_version_archive(kx_catalog *cat, const char *id, const char *archived_at, kx_err *err)
{
    return cat ? cat->ops->version_archive(cat, id, archived_at, err) : no_catalog(err);
}

int kx_catalog_current_get(kx_catalog *cat, char **id, kx_err *err)
{
    *id = NULL;
    return cat ? cat->ops->current_get(cat, id, err) : KX_CAT_NOT_FOUND;
}

int kx_catalog_current_set(kx_catalog *cat, const char *id, kx_err *err)
{
    return cat ? cat->ops->current_set(cat, id, err) : no_catalog(err);
}

int kx_catalog_current_clear(kx_catalog *cat, kx_err *err)
{
    return cat ? cat->ops->current_clear(cat, err) : no_catalog(err);
}

int kx_catalog_checksums_put(kx_catalog *cat, const char *vid, const json_t *users, kx_err *err)
{
    return cat ? cat->ops->checksums_put(cat, vid, users, err) : no_catalog(err);
}

int kx_catalog_checksums_get(kx_catalog *cat, const char *vid, json_t **users, kx_err *err)
{
    if (!cat) {
        *users = json_object();
        return 0;
    }
    return cat->ops->checksums_get(cat, vid, users, err);
}

int kx_catalog_outputs_put(kx_catalog *cat, const char *vid, const char *stage, const kx_output_file *files,
                           size_t n, kx_err *err)
{
    return cat ? cat->ops->outputs_put(cat, vid, stage, files, n, err) : no_catalog(err);
}

int kx_catalog_outputs_get(kx_catalog *cat, const char *vid, json_t **files, kx_err *err)
{
    if (!cat) {
        *files = json_array();
        return 0;
    }
    return cat->ops->outputs_get(cat, vid, files, err);
}

int kx_catalog_lock_acquire(kx_catalog *cat, const char *vid, kx_lock_owner *holder, kx_err *err)
{
    return cat ? cat->ops->lock_acquire(cat, vid, holder, err) : no_catalog(err);
}

int kx_catalog_lock_release(kx_catalog *cat, const char *vid, kx_err *err)
{
    return cat ? cat->ops->lock_release(cat, vid, err) : no_catalog(err);
}

int kx_catalog_lock_get(kx_catalog *cat, const char *vid, kx_lock_owner *holder, kx_err *err)
{
    return cat ? cat->ops->lock_get(cat, vid, holder, err) : KX_CAT_OK;
}

void kx_host_name(char out[256])
{
    struct utsname u;
    if (uname(&u) == 0) snprintf(out, 256, "%s", u.nodename);
    else snprintf(out, 256, "localhost");
}

bool kx_process_alive(long pid)
{
    if (pid <= 0) return false;
    /* EPERM: the process exists but belongs to someone else. */
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int kx_file_xxh3(const char *path, uint64_t *hash, uint64_t *size, kx_err *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return kx_fail_errno(err, "cannot open %s", path);
    XXH3_state_t *st = XXH3_createState();
    if (!st) {
        close(fd);
        return kx_fail(err, "cannot hash %s: out of memory", path);
    }
    XXH3_64bits_reset(st);
    enum { CHUNK = 1 << 20 };
    char *buf = kx_malloc(CHUNK);
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0) {
            if (errno == EINTR) continue;
            rc = kx_fail_errno(err, "cannot read %s", path);
            break;
        }
        if (r == 0) break;
        XXH3_64bits_update(st, buf, (size_t)r);
        total += (uint64_t)r;
    }
    if (rc == 0) {
        *hash = XXH3_64bits_digest(st);
        *size = total;
    }
    free(buf);
    XXH3_freeState(st);
    close(fd);
    return rc;
}
