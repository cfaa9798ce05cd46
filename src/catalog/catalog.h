/* catalog.h — the version store (spec 05 §3.4, §3.5).
 *
 * A catalog keeps, per version: the §3.2 record (a JSON document), the per-user checksums
 * of clean (user_checksums.json content, for incremental reuse), the output files with
 * size and checksum (lineage) and the run lock; plus the current-version pointer.
 *
 * Backends implement kx_catalog_ops (a vtable, as in SQLite's VFS): SQLite is built in
 * (catalog_sqlite.c); a PostgreSQL backend can be added without touching the stages or
 * the runner. Every change is one transaction. Records are exchanged as jansson trees;
 * the backend reads id, created_at, updated_at and status from the record itself.
 *
 * Return codes: 0 (KX_CAT_OK) success, -1 error (message in err), or one of the
 * positive outcomes below. All wrappers accept cat == NULL, meaning "no catalog file
 * exists yet": reads see an empty store, writes fail. This lets planning and dry runs
 * (05 §4.6) work without creating the database.
 */
#ifndef KX_CATALOG_CATALOG_H
#define KX_CATALOG_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/config.h"
#include "util/err.h"

enum { KX_CAT_OK = 0, KX_CAT_NOT_FOUND = 1, KX_CAT_BUSY = 2, KX_CAT_EXISTS = 3 };

typedef enum kx_catalog_mode {
    KX_CATALOG_READ,  /* never creates or changes a file; NULL catalog when none exists */
    KX_CATALOG_WRITE  /* creates the database (and its folder) if needed */
} kx_catalog_mode;

typedef struct kx_lock_owner {
    long pid;
    char host[256];
    char since[40];
} kx_lock_owner;

typedef struct kx_output_file {
    const char *path;   /* relative to the version folder */
    uint64_t size;
    uint64_t checksum;  /* XXH3-64 of the content */
} kx_output_file;

typedef struct kx_catalog kx_catalog;

typedef struct kx_catalog_ops {
    const char *name;
    void (*close)(kx_catalog *cat);
    /* KX_CAT_EXISTS if a record with this id exists. */
    int (*version_create)(kx_catalog *cat, const json_t *record, kx_err *err);
    /* KX_CAT_NOT_FOUND if absent; *record is a new reference. */
    int (*version_get)(kx_catalog *cat, const char *id, json_t **record, kx_err *err);
    /* Replaces an existing record (KX_CAT_NOT_FOUND if absent). */
    int (*version_put)(kx_catalog *cat, const json_t *record, kx_err *err);
    /* Every record, newest created_at first, ties by id descending (archived included). */
    int (*version_list)(kx_catalog *cat, json_t **records, kx_err *err);
    /* Removes the record, its checksums, output files and lock row; with clear_current
     * also the pointer when it names this version. */
    int (*version_delete)(kx_catalog *cat, const char *id, bool clear_current, kx_err *err);
    /* status = archived, archived_at set, pointer removed if it named the version. */
    int (*version_archive)(kx_catalog *cat, const char *id, const char *archived_at, kx_err *err);
    int (*current_get)(kx_catalog *cat, char **id, kx_err *err); /* KX_CAT_NOT_FOUND if none */
    int (*current_set)(kx_catalog *cat, const char *id, kx_err *err);
    int (*current_clear)(kx_catalog *cat, kx_err *err);
    /* users = the "users" object of user_checksums.json: {uid: {"checksum": ..., ...}}. */
    int (*checksums_put)(kx_catalog *cat, const char *vid, const json_t *users, kx_err *err);
    int (*checksums_get)(kx_catalog *cat, const char *vid, json_t **users, kx_err *err);
    /* Replaces the output files recorded for (vid, stage). */
    int (*outputs_put)(kx_catalog *cat, const char *vid, const char *stage, const kx_output_file *files,
                       size_t n, kx_err *err);
    /* [{stage, path, size, checksum (16 hex digits)}] sorted by path. */
    int (*outputs_get)(kx_catalog *cat, const char *vid, json_t **files, kx_err *err);
    /* KX_CAT_BUSY (holder filled) when a live process holds it; a lock whose process is
     * gone on this host is taken over. */
    int (*lock_acquire)(kx_catalog *cat, const char *vid, kx_lock_owner *holder, kx_err *err);
    int (*lock_release)(kx_catalog *cat, const char *vid, kx_err *err);
    /* KX_CAT_OK when free or stale, KX_CAT_BUSY (holder filled) when held by a live process. */
    int (*lock_get)(kx_catalog *cat, const char *vid, kx_lock_owner *holder, kx_err *err);
} kx_catalog_ops;

struct kx_catalog {
    const kx_catalog_ops *ops;
};

/* Opens the backend selected by METADATA_BACKEND. postgres → error "not built with
 * PostgreSQL support" (a configuration error, exit 2). In READ mode *out is NULL when the
 * database does not exist. */
int kx_catalog_open(const kx_config *cfg, kx_catalog_mode mode, kx_catalog **out, kx_err *err);
void kx_catalog_close(kx_catalog *cat);

int kx_catalog_version_create(kx_catalog *cat, const json_t *record, kx_err *err);
int kx_catalog_version_get(kx_catalog *cat, const char *id, json_t **record, kx_err *err);
int kx_catalog_version_put(kx_catalog *cat, const json_t *record, kx_err *err);
int kx_catalog_version_list(kx_catalog *cat, json_t **records, kx_err *err);
int kx_catalog_version_delete(kx_catalog *cat, const char *id, bool clear_current, kx_err *err);
int kx_catalog_version_archive(kx_catalog *cat, const char *id, const char *archived_at, kx_err *err);
int kx_catalog_current_get(kx_catalog *cat, char **id, kx_err *err);
int kx_catalog_current_set(kx_catalog *cat, const char *id, kx_err *err);
int kx_catalog_current_clear(kx_catalog *cat, kx_err *err);
int kx_catalog_checksums_put(kx_catalog *cat, const char *vid, const json_t *users, kx_err *err);
int kx_catalog_checksums_get(kx_catalog *cat, const char *vid, json_t **users, kx_err *err);
int kx_catalog_outputs_put(kx_catalog *cat, const char *vid, const char *stage, const kx_output_file *files,
                           size_t n, kx_err *err);
int kx_catalog_outputs_get(kx_catalog *cat, const char *vid, json_t **files, kx_err *err);
int kx_catalog_lock_acquire(kx_catalog *cat, const char *vid, kx_lock_owner *holder, kx_err *err);
int kx_catalog_lock_release(kx_catalog *cat, const char *vid, kx_err *err);
int kx_catalog_lock_get(kx_catalog *cat, const char *vid, kx_lock_owner *holder, kx_err *err);

/* SQLite backend entry point (path = METADATA_DB). */
int kx_catalog_sqlite_open(const char *path, kx_catalog_mode mode, kx_catalog **out, kx_err *err);

/* Helpers shared by backends and callers. */
/* This machine's node name as reported by uname (not sanitised). */
void kx_host_name(char out[256]);
/* true when a process with this id exists on this machine. */
bool kx_process_alive(long pid);
/* XXH3-64 of a file's content, streamed; size returned too. */
int kx_file_xxh3(const char *path, uint64_t *hash, uint64_t *size, kx_err *err);

#endif
