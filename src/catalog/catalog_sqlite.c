/* catalog_sqlite.c — the embedded SQLite version store (spec 05 §3.4).
 *
 * One database file (METADATA_DB), WAL mode so readers never block the writer, a busy
 * timeout so two engine processes wait for each other instead of failing, and every change
 * in its own transaction (BEGIN IMMEDIATE, so the write lock is taken up front and a
 * read-then-write sequence such as a lock claim cannot interleave with another process).
 *
 * Read-only opening (dry runs, `versions list`) must not create any file: SQLite creates
 * the -wal and -shm files even for a read-only connection, so when no -wal file exists (no
 * other connection is open) the database is opened with immutable=1, which reads the main
 * file without any side file; otherwise the side files already exist and are shared.
 */
#include "catalog/catalog.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/fs.h"
#include "io/json.h"
#include "util/buf.h"
#include "util/mem.h"

typedef struct sq_catalog {
    kx_catalog base;
    sqlite3 *db;
    char *path;
} sq_catalog;

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS versions(id TEXT PRIMARY KEY, created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL, status TEXT NOT NULL, record TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS versions_by_created ON versions(created_at, id);"
    "CREATE TABLE IF NOT EXISTS current_version(one INTEGER PRIMARY KEY CHECK (one = 1),"
    " version_id TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS user_checksums(version_id TEXT NOT NULL, user_id TEXT NOT NULL,"
    " checksum TEXT NOT NULL, entry TEXT NOT NULL, PRIMARY KEY(version_id, user_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS output_files(version_id TEXT NOT NULL, stage TEXT NOT NULL,"
    " path TEXT NOT NULL, size INTEGER NOT NULL, checksum TEXT NOT NULL,"
    " PRIMARY KEY(version_id, path)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS run_locks(version_id TEXT PRIMARY KEY, pid INTEGER NOT NULL,"
    " host TEXT NOT NULL, acquired_at TEXT NOT NULL);";

static sqlite3 *DB(kx_catalog *c) { return ((sq_catalog *)c)->db; }

static int sq_fail(kx_catalog *c, kx_err *err, const char *what)
{
    return kx_fail(err, "catalog %s: %s: %s", ((sq_catalog *)c)->path, what, sqlite3_errmsg(DB(c)));
}

static int exec_sql(kx_catalog *c, const char *sql, kx_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(DB(c), sql, NULL, NULL, &msg) != SQLITE_OK) {
        kx_fail(err, "catalog %s: %s", ((sq_catalog *)c)->path, msg ? msg : sqlite3_errmsg(DB(c)));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int begin(kx_catalog *c, kx_err *err) { return exec_sql(c, "BEGIN IMMEDIATE", err); }
static int commit(kx_catalog *c, kx_err *err)
{
    if (exec_sql(c, "COMMIT", err) == 0) return 0;
    sqlite3_exec(DB(c), "ROLLBACK", NULL, NULL, NULL);
    return -1;
}
static void rollback(kx_catalog *c) { sqlite3_exec(DB(c), "ROLLBACK", NULL, NULL, NULL); }

/* Prepares sql and binds the text arguments (NULL-terminated list). */
static sqlite3_stmt *prep(kx_catalog *c, const char *sql, kx_err *err, const char *const *args)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(DB(c), sql, -1, &st, NULL) != SQLITE_OK) {
        sq_fail(c, err, "prepare");
        return NULL;
    }
    for (int i = 0; args && args[i]; i++) sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_TRANSIENT);
    return st;
}

/* Runs a statement that returns no rows. */
static int run(kx_catalog *c, const char *sql, kx_err *err, const char *const *args)
{
    sqlite3_stmt *st = prep(c, sql, err, args);
    if (!st) return -1;
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) return sq_fail(c, err, "write");
    return 0;
}

static const char *rec_str(const json_t *rec, const char *key)
{
    const char *s = json_string_value(json_object_get(rec, key));
    return s ? s : "";
}

static char *dump_compact(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (!s) {
        fprintf(stderr, "keyetl: out of memory serialising a record\n");
        abort();
    }
    return s;
}

/* ---- versions ---------------------------------------------------------------------------- */

static int sq_version_create(kx_catalog *c, const json_t *rec, kx_err *err)
{
    const char *id = rec_str(rec, "id");
    if (begin(c, err)) return -1;
    const char *a1[] = {id, NULL};
    sqlite3_stmt *st = prep(c, "SELECT 1 FROM versions WHERE id = ?", err, a1);
    if (!st) goto fail;
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r == SQLITE_ROW) {
        rollback(c);
        return KX_CAT_EXISTS;
    }
    char *doc = dump_compact(rec);
    const char *a2[] = {id, rec_str(rec, "created_at"), rec_str(rec, "updated_at"), rec_str(rec, "status"), doc, NULL};
    int w = run(c, "INSERT INTO versions(id, created_at, updated_at, status, record) VALUES (?, ?, ?, ?, ?)", err, a2);
    free(doc);
    if (w) goto fail;
    return commit(c, err);
fail:
    rollback(c);
    return -1;
}

static int parse_record(kx_catalog *c, const char *text, json_t **out, kx_err *err)
{
    json_error_t je;
    *out = json_loads(text, JSON_DECODE_ANY, &je);
    if (!*out) return kx_fail(err, "catalog %s: corrupt record: %s", ((sq_catalog *)c)->path, je.text);
    return 0;
}

static int sq_version_get(kx_catalog *c, const char *id, json_t **rec, kx_err *err)
{
    const char *a[] = {id, NULL};
    sqlite3_stmt *st = prep(c, "SELECT record FROM versions WHERE id = ?", err, a);
    if (!st) return -1;
    int r = sqlite3_step(st), rc;
    if (r == SQLITE_ROW) rc = parse_record(c, (const char *)sqlite3_column_text(st, 0), rec, err);
    else if (r == SQLITE_DONE) rc = KX_CAT_NOT_FOUND;
    else rc = sq_fail(c, err, "read");
    sqlite3_finalize(st);
    return rc;
}

static int sq_version_put(kx_catalog *c, const json_t *rec, kx_err *err)
{
    char *doc = dump_compact(rec);
    const char *a[] = {rec_str(rec, "updated_at"), rec_str(rec, "status"), doc, rec_str(rec, "id"), NULL};
    int rc = -1;
    if (begin(c, err)) goto out;
    if (run(c, "UPDATE versions SET updated_at = ?, status = ?, record = ? WHERE id = ?", err, a)) {
        rollback(c);
        goto out;
    }
    if (sqlite3_changes(DB(c)) == 0) {
        rollback(c);
        rc = KX_CAT_NOT_FOUND;
        goto out;
    }
    rc = commit(c, err);
out:
    free(doc);
    return rc;
}

/* Runs a SELECT, handing each row to add (0, or -1 with err set), which collects it into
 * *out (starting as `empty`). On failure *out is freed and set to NULL. */
typedef int (*row_fn)(kx_catalog *c, sqlite3_stmt *st, json_t *out, kx_err *err);
static int select_rows(kx_catalog *c, const char *sql, const char *const *args, json_t *empty, json_t **out,
                       row_fn add, kx_err *err)
{
    *out = empty;
    sqlite3_stmt *st = prep(c, sql, err, args);
    int r = SQLITE_DONE, rc = st ? 0 : -1;
    while (rc == 0 && (r = sqlite3_step(st)) == SQLITE_ROW) rc = add(c, st, *out, err);
    if (rc == 0 && r != SQLITE_DONE) rc = sq_fail(c, err, "read");
    sqlite3_finalize(st);
    if (rc == 0) return 0;
    json_decref(*out);
    *out = NULL;
    return -1;
}

static int add_record(kx_catalog *c, sqlite3_stmt *st, json_t *records, kx_err *err)
{
    json_t *rec;
    if (parse_record(c, (const char *)sqlite3_column_text(st, 0), &rec, err)) return -1;
    json_array_append_new(records, rec);
    return 0;
}

static int sq_version_list(kx_catalog *c, json_t **records, kx_err *err)
{
    return select_rows(c, "SELECT record FROM versions ORDER BY created_at DESC, id DESC", NULL, json_array(), records,
                       add_record, err);
}

static int sq_version_delete(kx_catalog *c, const char *id, bool clear_current, kx_err *err)
{
    const char *a[] = {id, NULL};
    if (begin(c, err)) return -1;
    if (run(c, "DELETE FROM versions WHERE id = ?", err, a)) goto fail;
    if (sqlite3_changes(DB(c)) == 0) {
        rollback(c);
        return KX_CAT_NOT_FOUND;
    }
    if (run(c, "DELETE FROM user_checksums WHERE version_id = ?", err, a) ||
        run(c, "DELETE FROM output_files WHERE version_id = ?", err, a) ||
        run(c, "DELETE FROM run_locks WHERE version_id = ?", err, a))
        goto fail;
    if (clear_current && run(c, "DELETE FROM current_version WHERE version_id = ?", err, a)) goto fail;
    return commit(c, err);
fail:
    rollback(c);
    return -1;
}

static int sq_version_archive(kx_catalog *c, const char *id, const char *archived_at, kx_err *err)
{
    if (begin(c, err)) return -1;
    json_t *rec = NULL;
    int r = sq_version_get(c, id, &rec, err);
    if (r != 0) {
        rollback(c);
        return r;
    }
    json_object_set_new(rec, "status", json_string("archived"));
    json_object_set_new(rec, "updated_at", json_string(archived_at));
    json_object_set_new(rec, "archived_at", json_string(archived_at));
    char *doc = dump_compact(rec);
    const char *a1[] = {archived_at, doc, id, NULL};
    const char *a2[] = {id, NULL};
    int w = run(c, "UPDATE versions SET updated_at = ?, status = 'archived', record = ? WHERE id = ?", err, a1) ||
            run(c, "DELETE FROM user_checksums WHERE version_id = ?", err, a2) ||
            run(c, "DELETE FROM current_version WHERE version_id = ?", err, a2);
    free(doc);
    json_decref(rec);
    if (w) {
        rollback(c);
        return -1;
    }
    return commit(c, err);
}

/* ---- current pointer --------------------------------------------------------------------- */

static int sq_current_get(kx_catalog *c, char **id, kx_err *err)
{
    sqlite3_stmt *st = prep(c, "SELECT version_id FROM current_version WHERE one = 1", err, NULL);
    if (!st) return -1;
    int r = sqlite3_step(st), rc = KX_CAT_NOT_FOUND;
    if (r == SQLITE_ROW) {
        *id = kx_strdup((const char *)sqlite3_column_text(st, 0));
        rc = 0;
    } else if (r != SQLITE_DONE) {
        rc = sq_fail(c, err, "read");
    }
    sqlite3_finalize(st);
    return rc;
}

static int sq_current_set(kx_catalog *c, const char *id, kx_err *err)
{
    const char *a[] = {id, NULL};
    if (begin(c, err)) return -1;
    if (run(c, "INSERT INTO current_version(one, version_id) VALUES (1, ?)"
               " ON CONFLICT(one) DO UPDATE SET version_id = excluded.version_id", err, a)) {
        rollback(c);
        return -1;
    }
    return commit(c, err);
}

static int sq_current_clear(kx_catalog *c, kx_err *err)
{
    if (begin(c, err)) return -1;
    if (run(c, "DELETE FROM current_version", err, NULL)) {
        rollback(c);
        return -1;
    }
    return commit(c, err);
}

/* ---- per-user checksums ------------------------------------------------------------------ */

/* Replaces rows in one transaction: `del` (bound to del_args) removes the old ones, then
 * the `ins` statement runs once per row i < n after bind(st, i, arg) has bound it. */
typedef void (*bind_row_fn)(sqlite3_stmt *st, size_t i, void *arg);

static int replace_rows(kx_catalog *c, const char *del, const char **del_args, const char *ins, size_t n,
                        bind_row_fn bind, void *arg, kx_err *err)
{
    if (begin(c, err)) return -1;
    sqlite3_stmt *st = NULL;
    if (run(c, del, err, del_args) || !(st = prep(c, ins, err, NULL))) goto fail;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(st);
        bind(st, i, arg);
        if (sqlite3_step(st) != SQLITE_DONE) {
            sq_fail(c, err, "write");
            goto fail;
        }
    }
    sqlite3_finalize(st);
    return commit(c, err);
fail:
    sqlite3_finalize(st);
    rollback(c);
    return -1;
}

typedef struct checksum_rows {
    const char *vid;
    const char **uids;
    json_t **entries;
} checksum_rows;

static void bind_checksum(sqlite3_stmt *st, size_t i, void *arg)
{
    const checksum_rows *r = arg;
    const json_t *entry = r->entries[i];
    const char *sum = json_is_object(entry) ? json_string_value(json_object_get(entry, "checksum"))
                                            : json_string_value(entry);
    char *doc = dump_compact(entry);
    sqlite3_bind_text(st, 1, r->vid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r->uids[i], -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, sum ? sum : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, doc, -1, SQLITE_TRANSIENT);
    free(doc);
}

static int sq_checksums_put(kx_catalog *c, const char *vid, const json_t *users, kx_err *err)
{
    size_t n = json_object_size(users), k = 0;
    checksum_rows rows = {vid, kx_calloc(n ? n : 1, sizeof(char *)), kx_calloc(n ? n : 1, sizeof(json_t *))};
    const char *uid;
    json_t *entry;
    json_object_foreach((json_t *)users, uid, entry) {
        rows.uids[k] = uid;
        rows.entries[k++] = entry;
    }
    const char *a[] = {vid, NULL};
    int rc = replace_rows(c, "DELETE FROM user_checksums WHERE version_id = ?", a,
                          "INSERT INTO user_checksums(version_id, user_id, checksum, entry) VALUES (?, ?, ?, ?)", k,
                          bind_checksum, &rows, err);
    free(rows.uids);
    free(rows.entries);
    return rc;
}

static int add_checksum(kx_catalog *c, sqlite3_stmt *st, json_t *users, kx_err *err)
{
    json_t *entry;
    if (parse_record(c, (const char *)sqlite3_column_text(st, 1), &entry, err)) return -1;
    const char *uid = (const char *)sqlite3_column_text(st, 0);
    if (!uid) {
        json_decref(entry);
        return kx_fail(err, "catalog %s: a user checksum row has no user id", ((sq_catalog *)c)->path);
    }
    json_object_set_new(users, uid, entry);
    return 0;
}

static int sq_checksums_get(kx_catalog *c, const char *vid, json_t **users, kx_err *err)
{
    const char *a[] = {vid, NULL};
    return select_rows(c, "SELECT user_id, entry FROM user_checksums WHERE version_id = ? ORDER BY user_id", a,
                       json_object(), users, add_checksum, err);
}

/* ---- output files ------------------------------------------------------------------------ */

typedef struct output_rows {
    const char *vid, *stage;
    const kx_output_file *files;
} output_rows;

static void bind_output(sqlite3_stmt *st, size_t i, void *arg)
{
    const output_rows *r = arg;
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)r->files[i].checksum);
    sqlite3_bind_text(st, 1, r->vid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, r->stage, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, r->files[i].path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)r->files[i].size);
    sqlite3_bind_text(st, 5, hex, -1, SQLITE_TRANSIENT);
}

static int sq_outputs_put(kx_catalog *c, const char *vid, const char *stage, const kx_output_file *files, size_t n,
                          kx_err *err)
{
    const char *a[] = {vid, stage, NULL};
    output_rows rows = {vid, stage, files};
    return replace_rows(c, "DELETE FROM output_files WHERE version_id = ? AND stage = ?", a,
                        "INSERT OR REPLACE INTO output_files(version_id, stage, path, size, checksum)"
                        " VALUES (?, ?, ?, ?, ?)",
                        n, bind_output, &rows, err);
}

static int add_output(kx_catalog *c, sqlite3_stmt *st, json_t *files, kx_err *err)
{
    (void)c, (void)err;
    json_t *o = json_object();
    json_object_set_new(o, "stage", json_string((const char *)sqlite3_column_text(st, 0)));
    json_object_set_new(o, "path", kx_json_str((const char *)sqlite3_column_text(st, 1)));
    json_object_set_new(o, "size", json_integer(sqlite3_column_int64(st, 2)));
    json_object_set_new(o, "checksum", json_string((const char *)sqlite3_column_text(st, 3)));
    json_array_append_new(files, o);
    return 0;
}

static int sq_outputs_get(kx_catalog *c, const char *vid, json_t **files, kx_err *err)
{
    const char *a[] = {vid, NULL};
    return select_rows(c, "SELECT stage, path, size, checksum FROM output_files WHERE version_id = ? ORDER BY path",
                       a, json_array(), files, add_output, err);
}

/* ---- run lock ---------------------------------------------------------------------------- */

/* Reads the lock row; returns 1 if a row exists (owner filled), 0 if none, -1 on error. */
static int read_lock(kx_catalog *c, const char *vid, kx_lock_owner *o, kx_err *err)
{
    const char *a[] = {vid, NULL};
    sqlite3_stmt *st = prep(c, "SELECT pid, host, acquired_at FROM run_locks WHERE version_id = ?", err, a);
    if (!st) return -1;
    int r = sqlite3_step(st), rc = 0;
    if (r == SQLITE_ROW) {
        memset(o, 0, sizeof *o);
        o->pid = (long)sqlite3_column_int64(st, 0);
        snprintf(o->host, sizeof o->host, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(o->since, sizeof o->since, "%s", (const char *)sqlite3_column_text(st, 2));
        rc = 1;
    } else if (r != SQLITE_DONE) {
        rc = sq_fail(c, err, "read");
    }
    sqlite3_finalize(st);
    return rc;
}

/* A lock is live unless its owner ran on this host and is gone. Locks of other hosts are
 * always respected (their processes cannot be checked from here). */
static bool lock_live(const kx_lock_owner *o)
{
    char host[256];
    kx_host_name(host);
    if (strcmp(o->host, host) != 0) return true;
    return kx_process_alive(o->pid);
}

static int sq_lock_acquire(kx_catalog *c, const char *vid, kx_lock_owner *holder, kx_err *err)
{
    kx_lock_owner cur, dummy;
    if (!holder) holder = &dummy;
    if (begin(c, err)) return -1;
    int r = read_lock(c, vid, &cur, err);
    if (r < 0) goto fail;
    if (r == 1 && lock_live(&cur)) {
        *holder = cur;
        rollback(c);
        return KX_CAT_BUSY;
    }
    char pid[32], host[256], ts[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    kx_host_name(host);
    kx_timestamp_now(ts);
    const char *a[] = {vid, pid, host, ts, NULL};
    if (run(c, "INSERT OR REPLACE INTO run_locks(version_id, pid, host, acquired_at) VALUES (?, ?, ?, ?)", err, a))
        goto fail;
    return commit(c, err);
fail:
    rollback(c);
    return -1;
}

static int sq_lock_release(kx_catalog *c, const char *vid, kx_err *err)
{
    char pid[32], host[256];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    kx_host_name(host);
    const char *a[] = {vid, pid, host, NULL};
    if (begin(c, err)) return -1;
    if (run(c, "DELETE FROM run_locks WHERE version_id = ? AND pid = ? AND host = ?", err, a)) {
        rollback(c);
        return -1;
    }
    return commit(c, err);
}

static int sq_lock_get(kx_catalog *c, const char *vid, kx_lock_owner *holder, kx_err *err)
{
    kx_lock_owner cur;
    int r = read_lock(c, vid, &cur, err);
    if (r < 0) return -1;
    if (r == 1 && lock_live(&cur)) {
        if (holder) *holder = cur;
        return KX_CAT_BUSY;
    }
    return KX_CAT_OK;
}

/* ---- open / close ------------------------------------------------------------------------ */

static void sq_close(kx_catalog *c)
{
    sq_catalog *s = (sq_catalog *)c;
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

static const kx_catalog_ops sqlite_ops = {
    "sqlite",        sq_close,          sq_version_create, sq_version_get,   sq_version_put,
    sq_version_list, sq_version_delete, sq_version_archive, sq_current_get,  sq_current_set,
    sq_current_clear, sq_checksums_put, sq_checksums_get,  sq_outputs_put,   sq_outputs_get,
    sq_lock_acquire, sq_lock_release,   sq_lock_get,
};

/* Parent folder of path ("." when it has none). */
static char *parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return kx_strdup(".");
    if (slash == path) return kx_strdup("/");
    return kx_strndup(path, (size_t)(slash - path));
}

int kx_catalog_sqlite_open(const char *path, kx_catalog_mode mode, kx_catalog **out, kx_err *err)
{
    *out = NULL;
    sqlite3 *db = NULL;
    int rc;
    if (mode == KX_CATALOG_READ) {
        if (!kx_exists(path)) return 0;
        char *wal = kx_asprintf("%s-wal", path);
        bool side_files = kx_exists(wal);
        free(wal);
        if (side_files) {
            rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
        } else {
            char *uri = sqlite3_mprintf("file:%s?immutable=1", path);
            /* '?' and '#' in a path would break the URI: fall back to a plain read-only open */
            if (strpbrk(path, "?#%")) rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
            else rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
            sqlite3_free(uri);
        }
    } else {
        char *dir = parent_dir(path);
        int m = kx_mkdirs(dir, err);
        free(dir);
        if (m) return -1;
        rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    }
    if (rc != SQLITE_OK) {
        kx_fail(err, "cannot open catalog %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return -1;
    }
    sq_catalog *s = kx_calloc(1, sizeof *s);
    s->base.ops = &sqlite_ops;
    s->db = db;
    s->path = kx_strdup(path);
    sqlite3_busy_timeout(db, 30000);
    if (mode == KX_CATALOG_WRITE &&
        (exec_sql(&s->base, "PRAGMA journal_mode=WAL", err) || exec_sql(&s->base, "PRAGMA synchronous=NORMAL", err) ||
         exec_sql(&s->base, "BEGIN IMMEDIATE", err) || exec_sql(&s->base, schema_sql, err) ||
         commit(&s->base, err))) {
        sq_close(&s->base);
        return -1;
    }
    if (mode == KX_CATALOG_READ) {
        /* A database without our tables (an unrelated file) is reported, not crashed on. */
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, "SELECT 1 FROM versions LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
            kx_fail(err, "catalog %s: not a keyetl catalog: %s", path, sqlite3_errmsg(db));
            sqlite3_finalize(st);
            sq_close(&s->base);
            return -1;
        }
        sqlite3_finalize(st);
    }
    *out = &s->base;
    return 0;
}
