/* stage_clean.c — the `clean` stage (spec 01 §4–§5, 05 §6.2–§6.3).
 *
 * Flow:
 *   1. list raw_data/web_app_data (sorted; types from readdir, no stat per name), attribute
 *      every regular non-.gstmp file to a uid (core/clean_rules), group files per user
 *      (users in uid order);
 *   2. classify users batch by batch (BATCH_SIZE users at a time, PARALLEL_WORKERS threads):
 *      each user's files are read once (one openat by short name, fstat, one read) for the
 *      checksum, the row count and — demographics and consent — the metadata row, and a
 *      small result (status, device, reasons, metadata.csv row, copy plan) is stored in the
 *      user's slot; without partitioned storage the user's files are then linked (hard link,
 *      else byte copy) into cleaned_data.partial/ right away;
 *   3. with partitioned storage, number the batch folders (a user's global rank in its
 *      device/status group) and link every planned file, again batch by batch in parallel;
 *   4. write lists, metadata.csv and the JSON reports into staging folders and swap them in.
 * Slots are consumed in uid order, so every output is the same for any worker count or
 * batch size. Hard links are safe because no stage ever writes a file in place: every
 * output is created under a temporary name and renamed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clean_rules.h"
#include "io/fs.h"
#include "io/json.h"
#include "pipeline/reuse.h"
#include "pipeline/stage.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/sort.h"
#include "util/progress.h"
#include "util/pool.h"

#define COMP "clean"

enum { DEV_DESKTOP = 0, DEV_MOBILE = 1 };
static const char *const dev_names[2] = {"desktop", "mobile"};

/* A file to copy: listing index, destination area (0 = CSV folder, 1 = text folder) and
 * destination name. */
typedef struct copy_item {
    size_t idx;
    int to_text;
    char *dst_name;
} copy_item;

typedef struct str_list {
    char **items;
    size_t n, cap;
} str_list;

static void sl_push(str_list *l, char *s) /* takes ownership */
{
    l->items = kx_grow(l->items, &l->cap, l->n + 1, sizeof *l->items);
    l->items[l->n++] = s;
}

static void sl_free(str_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* Everything the later steps need to know about one user. */
typedef struct user_slot {
    char uid[KX_UID_LEN + 1];
    const size_t *files; /* listing indices of the user's files, name order */
    size_t nfiles;
    bool complete, has_ts, insufficient, demo_ok;
    int device;
    str_list reasons, issues;
    char *proc_error;
    char *meta_row;
    char checksum[65];
    uint64_t bytes;
    copy_item *copies;
    size_t ncopies;
    unsigned batch_no; /* 1-based, within its device/status group */
    bool reused;       /* checksum and row checks taken from the base (05 §6.4) */
    bool failed;
    kx_err err;
} user_slot;

typedef struct clean_job {
    kx_stage_ctx *ctx;
    const char *in_dir;
    const char *out_dir;   /* cleaned_data.partial */
    int in_fd;             /* in_dir, open: inputs are opened and linked by their short names */
    int base_fd;           /* the base's raw folder, open (incremental runs), else -1 */
    int area_fd[2][2][2];  /* [device][complete][text] output area folders  */
    kx_dirlist list;       /* input names in byte order; sizes filled in when a file is opened */
    size_t *demo_candidates; /* listing indices of non-gstmp files containing "_demographics.json" */
    size_t n_demo_candidates;
    user_slot *users;
    size_t first; /* first user of the current batch */
    const kx_clean_base *base; /* incremental base, or NULL */
    int64_t broken_meta_size[2]; /* bytes of <dev>/broken_data/metadata/metadata.csv, -1 = none */
} clean_job;

/* ---- listing helpers ---------------------------------------------------------------------- */

static const kx_dirent *find_entry(const kx_dirlist *l, const char *name)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(l->items[mid].name, name);
        if (c == 0) return &l->items[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static bool has_regular_file(const kx_dirlist *l, const char *name)
{
    const kx_dirent *e = find_entry(l, name);
    return e && e->is_file;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !memcmp(s + n - m, suffix, m);
}

/* ---- per-user classification ---------------------------------------------------------------- */

/* Reads input file e whole into data (reset first): openat by its short name, fstat for the
 * size (recorded in the listing), one read. */
static int read_input(const clean_job *job, kx_dirent *e, kx_buf *data, kx_err *err)
{
    kx_buf_reset(data);
    int fd = kx_openat_read(job->in_fd, e->name);
    struct stat st;
    int rc = 0;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int saved = errno;
        char *path = kx_path_join(job->in_dir, e->name);
        errno = saved;
        rc = kx_fail_errno(err, fd < 0 ? "cannot open input file %s" : "cannot stat input file %s", path);
        free(path);
    } else {
        e->size = (uint64_t)st.st_size;
        char *path = NULL; /* only for messages */
        kx_err rerr;
        if (kx_read_fd(fd, e->name, e->size, data, &rerr) != 0) {
            path = kx_path_join(job->in_dir, e->name);
            rc = kx_fail(err, "cannot read input file %s: %s", path, rerr.msg);
        }
        free(path);
    }
    if (fd >= 0) close(fd);
    return rc;
}

/* Reads and parses a JSON object from bytes; NULL with *msg set (heap) on failure. */
static json_t *parse_object(const kx_buf *b, char **msg)
{
    json_error_t je;
    json_t *v = json_loadb(b->data ? b->data : "", b->len, 0, &je);
    if (!v) {
        *msg = kx_asprintf("%s (line %d, column %d)", je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        *msg = kx_strdup("not a JSON object");
        return NULL;
    }
    return v;
}

/* Reads and parses a JSON object; NULL with *msg set (heap) on failure. */
static json_t *load_object(const char *path, char **msg)
{
    kx_buf b = KX_BUF_INIT;
    kx_err e;
    if (kx_read_file(path, &b, &e) != 0) {
        *msg = kx_strdup(e.msg);
        kx_buf_free(&b);
        return NULL;
    }
    json_t *v = parse_object(&b, msg);
    kx_buf_free(&b);
    return v;
}

/* The bytes of a user's demographics / consent file kept from the checksum pass, so the
 * file is not opened and read a second time. */
typedef struct kept_file {
    bool have;
    kx_buf data;
} kept_file;

/* JSON object of input `name`: parsed from `kept` when the checksum pass kept its bytes. */
static json_t *user_object(const clean_job *job, const char *name, const kept_file *kept, char **msg)
{
    if (kept->have) return parse_object(&kept->data, msg);
    char *path = kx_path_join(job->in_dir, name);
    json_t *v = load_object(path, msg);
    free(path);
    return v;
}

/* The demographics file of 01 §4.3: the exact name, else the first name containing it. */
static const char *demographics_name(const clean_job *job, const char *uid, char exact[80])
{
    snprintf(exact, 80, "%s_demographics.json", uid);
    if (has_regular_file(&job->list, exact)) return exact;
    for (size_t i = 0; i < job->n_demo_candidates; i++) {
        const char *n = job->list.items[job->demo_candidates[i]].name;
        if (strstr(n, exact)) return n;
    }
    return NULL;
}

/* Device routing and the JSON inputs of the metadata.csv row. kept[0] / kept[1]: the
 * bytes of <uid>_demographics.json / <uid>_consent.json if the checksum pass read them. */
static void read_user_json(const clean_job *job, user_slot *u, const kept_file kept[2], json_t **demo,
                           json_t **consent)
{
    char exact[80];
    const char *dname = demographics_name(job, u->uid, exact);
    static const kept_file none = {false, KX_BUF_INIT};
    *demo = NULL;
    *consent = NULL;
    u->device = DEV_DESKTOP;
    if (dname) {
        char *msg = NULL;
        *demo = user_object(job, dname, dname == exact ? &kept[0] : &none, &msg);
        if (*demo) {
            u->demo_ok = true;
            if (kx_json_truthy(json_object_get(*demo, "is_mobile"))) u->device = DEV_MOBILE;
        } else {
            u->proc_error = kx_asprintf("Demographics read error for %s: %s", u->uid, msg);
        }
        free(msg);
    }
    char cname[80];
    snprintf(cname, sizeof cname, "%s_consent.json", u->uid);
    if (has_regular_file(&job->list, cname)) {
        char *msg = NULL;
        *consent = user_object(job, cname, &kept[1], &msg);
        if (!*consent)
            kx_logf(job->ctx->log, KX_LOG_WARNING, COMP, "Consent of %s not usable, defaults used: %s", u->uid, msg);
        free(msg);
    }
}

/* Rules 3–5 of 01 §4.2 (the caller has handled rules 1 and 2). */
static void completeness_reasons(const clean_job *job, user_slot *u)
{
    static const char *const required[3] = {"consent", "demographics", "start_time"};
    str_list missing = {0};
    for (int i = 0; i < 3; i++) {
        char *name = kx_asprintf("%s_%s.json", u->uid, required[i]);
        if (!has_regular_file(&job->list, name)) {
            sl_push(&u->reasons, kx_asprintf("Missing required file: %s", name));
            sl_push(&missing, name);
        } else {
            free(name);
        }
    }
    bool present[KX_SEQ_COUNT];
    bool all = true;
    for (int s = 0; s < KX_SEQ_COUNT; s++) {
        char name[64];
        kx_clean_expected_csv_name(u->uid, s, name);
        present[s] = has_regular_file(&job->list, name);
        if (!present[s]) {
            all = false;
            sl_push(&missing, kx_strdup(name));
        }
    }
    if (!all) {
        kx_buf b = KX_BUF_INIT;
        kx_clean_reason_incomplete(&b, present);
        sl_push(&u->reasons, kx_buf_steal(&b));
    }
    /* Partial downloads: the .gstmp twins of the missing files, in name order. */
    str_list partial = {0};
    for (size_t i = 0; i < missing.n; i++) {
        for (int k = 0; k < 2; k++) {
            char *g = kx_asprintf("%s%s", missing.items[i], k ? ".gstmp" : "_.gstmp");
            if (find_entry(&job->list, g)) sl_push(&partial, g);
            else free(g);
        }
    }
    kx_qsort(partial.items, partial.n, sizeof *partial.items, cmp_str_ptr);
    sl_free(&missing);
    if (partial.n) {
        kx_buf b = KX_BUF_INIT;
        kx_clean_reason_partial(&b, (const char *const *)partial.items, partial.n);
        sl_push(&u->reasons, kx_buf_steal(&b));
    }
    sl_free(&partial);
}

/* Which folder and name a used file goes to (01 §5.1); false = not copied. `renamed` is
 * the set of renamed CSV targets of this user (for the collision rule). */
static bool plan_copy(const char *name, const kx_task_name *t, copy_item *c)
{
    char target[64];
    if (ends_with(name, ".json")) return false;
    if (t->kind == KX_TASK_RAW_TXT) {
        kx_clean_target_name(t, target);
        c->to_text = 1;
        c->dst_name = kx_strdup(target);
        return true;
    }
    if (ends_with(name, "_raw.txt")) return false;
    if (t->kind == KX_TASK_CSV) {
        kx_clean_target_name(t, target);
        c->to_text = 0;
        c->dst_name = kx_strdup(target);
        return true;
    }
    if (ends_with(name, ".csv")) {
        c->to_text = 0;
        c->dst_name = kx_strdup(name);
        return true;
    }
    return false;
}

/* Drops original-name CSV copies whose name equals a renamed target (the renamed file
 * wins) and records the data issue. Copies are in name order of their sources. */
static void resolve_collisions(const clean_job *job, user_slot *u, const bool *renamed)
{
    size_t w = 0;
    for (size_t i = 0; i < u->ncopies; i++) {
        copy_item *c = &u->copies[i];
        bool lose = false;
        if (!c->to_text && !renamed[i]) {
            for (size_t j = 0; j < u->ncopies && !lose; j++)
                lose = j != i && renamed[j] && !u->copies[j].to_text && !strcmp(u->copies[j].dst_name, c->dst_name);
        }
        if (lose) {
            sl_push(&u->issues, kx_asprintf("Name collision, not copied: %s", job->list.items[c->idx].name));
            free(c->dst_name);
            continue;
        }
        u->copies[w++] = *c;
    }
    u->ncopies = w;
}

/* Incremental reuse: true if every file of the user is the object the base hashed (same
 * names, count and total size as the base's user_checksums entry; see reuse.h), so the
 * base's checksum and minimum-rows verdict hold without reading the contents. */
static bool files_unchanged(const clean_job *job, const user_slot *u)
{
    const kx_user_sum *b = job->base && job->base_fd >= 0 ? kx_user_sums_find(&job->base->sums, u->uid) : NULL;
    if (!b || b->files != (int64_t)u->nfiles) return false;
    /* Short names relative to the open folders, not full paths: one fstatat per file here,
     * one in the base's raw folder. */
    struct stat *cur = kx_calloc(u->nfiles ? u->nfiles : 1, sizeof *cur);
    uint64_t total = 0;
    bool same = true;
    for (size_t i = 0; i < u->nfiles && same; i++) {
        kx_dirent *e = &job->list.items[u->files[i]]; /* this user's entry: no other thread writes it */
        same = fstatat(job->in_fd, e->name, &cur[i], 0) == 0; /* if not, the read reports it */
        if (same) total += e->size = (uint64_t)cur[i].st_size;
    }
    same = same && total == (uint64_t)b->bytes;
    for (size_t i = 0; i < u->nfiles && same; i++) {
        const kx_dirent *e = &job->list.items[u->files[i]];
        struct stat old;
        same = fstatat(job->base_fd, e->name, &old, 0) == 0 && kx_clean_base_same_stat(job->base, &cur[i], &old, e->size);
    }
    free(cur);
    return same;
}

/* What classify_user gathers while it goes through one user's files. */
typedef struct user_scan {
    kx_user_hash *h;      /* the user checksum (01 §5.4) */
    str_list short_names; /* CSV files with fewer than CLEAN_MIN_ROWS rows ... */
    int64_t *short_rows;  /* ... and their row counts */
    bool *renamed;        /* per planned copy: its name matched the task pattern exactly */
    kx_buf data;          /* one file's bytes; reused across the user's files */
    kept_file kept[2];    /* demographics, consent */
    char kept_names[2][80];
} user_scan;

static void user_scan_init(user_scan *sc, const user_slot *u)
{
    size_t n = u->nfiles ? u->nfiles : 1;
    *sc = (user_scan){kx_user_hash_new(), {0}, kx_calloc(n, sizeof *sc->short_rows), kx_calloc(n, sizeof *sc->renamed),
                      KX_BUF_INIT, {{false, KX_BUF_INIT}, {false, KX_BUF_INIT}}, {{0}}};
    snprintf(sc->kept_names[0], sizeof sc->kept_names[0], "%s_demographics.json", u->uid);
    snprintf(sc->kept_names[1], sizeof sc->kept_names[1], "%s_consent.json", u->uid);
}

static void user_scan_free(user_scan *sc)
{
    sl_free(&sc->short_names);
    free(sc->short_rows);
    free(sc->renamed);
    kx_buf_free(&sc->data);
    kx_buf_free(&sc->kept[0].data);
    kx_buf_free(&sc->kept[1].data);
}

/* One file of the user: name checks, content (checksum, row count, kept JSON) unless the
 * user is reused, and its copy plan. */
static int scan_file(clean_job *job, user_slot *u, user_scan *sc, size_t i)
{
    kx_dirent *e = &job->list.items[u->files[i]];
    if (kx_clean_is_timestamp_file(e->name)) u->has_ts = true;
    kx_task_name t;
    bool exact = kx_clean_parse_task_name(e->name, &t);
    bool used = !exact || kx_clean_task_consistent(&t);
    if (!used) sl_push(&u->issues, kx_asprintf("Inconsistent platform letter or sequence: %s", e->name));
    bool count = used && ends_with(e->name, ".csv") && !u->reused;
    kx_linecount lc;
    kx_linecount_init(&lc);
    if (u->reused) {
        u->bytes += e->size;
    } else {
        if (read_input(job, e, &sc->data, &u->err) != 0) return -1;
        kx_user_hash_file_begin(sc->h, e->name, e->size);
        kx_user_hash_content(sc->h, sc->data.data, sc->data.len);
        if (count) kx_linecount_feed(&lc, sc->data.data, sc->data.len);
        u->bytes += sc->data.len;
        for (int k = 0; k < 2; k++) {
            if (strcmp(e->name, sc->kept_names[k])) continue;
            kx_buf_put(&sc->kept[k].data, sc->data.data, sc->data.len);
            sc->kept[k].have = true;
        }
    }
    if (count) {
        int64_t rows = kx_linecount_lines(&lc) - 1;
        if (rows < job->ctx->cfg->clean_min_rows) {
            sc->short_rows[sc->short_names.n] = rows;
            sl_push(&sc->short_names, kx_strdup(e->name));
        }
    }
    if (!used) return 0;
    copy_item c = {u->files[i], 0, NULL};
    if (plan_copy(e->name, &t, &c)) {
        sc->renamed[u->ncopies] = exact;
        u->copies[u->ncopies++] = c;
    } else if (ends_with(e->name, "_raw.txt")) {
        kx_logf(job->ctx->log, KX_LOG_DEBUG, COMP, "Text file with a non-standard name skipped: %s", e->name);
    }
    return 0;
}

/* The verdict (01 §4.3, first reason wins) and the metadata row; base_min_rows: the base's
 * minimum-rows reason of a reused user, or NULL. */
static void judge_user(clean_job *job, user_slot *u, user_scan *sc, const char *base_min_rows)
{
    const kx_config *cfg = job->ctx->cfg;
    resolve_collisions(job, u, sc->renamed);
    if (u->has_ts) {
        sl_push(&u->reasons, kx_strdup(KX_REASON_TIMESTAMP));
    } else if (base_min_rows) { /* the same files and CLEAN_MIN_ROWS give the same text */
        sl_push(&u->reasons, kx_strdup(base_min_rows));
        u->insufficient = true;
    } else if (sc->short_names.n) {
        kx_buf b = KX_BUF_INIT;
        kx_clean_reason_min_rows(&b, cfg->clean_min_rows, (const char *const *)sc->short_names.items, sc->short_rows,
                                 sc->short_names.n);
        sl_push(&u->reasons, kx_buf_steal(&b));
        u->insufficient = true;
    } else {
        completeness_reasons(job, u);
    }
    u->complete = u->reasons.n == 0;
    json_t *demo, *consent;
    read_user_json(job, u, sc->kept, &demo, &consent);
    kx_buf row = KX_BUF_INIT;
    kx_clean_metadata_row(&row, u->uid, u->complete, demo, consent, u->has_ts, cfg->include_pii);
    u->meta_row = kx_buf_steal(&row);
    json_decref(demo);
    json_decref(consent);
}

/* Classification of one user (01 §4.2–§4.3); fills the slot. */
static int classify_user(clean_job *job, user_slot *u)
{
    user_scan sc;
    user_scan_init(&sc, u);
    u->copies = kx_calloc(u->nfiles ? u->nfiles : 1, sizeof *u->copies);
    u->reused = files_unchanged(job, u);
    int rc = 0;
    for (size_t i = 0; i < u->nfiles && rc == 0; i++) rc = scan_file(job, u, &sc, i);
    kx_user_hash_final(sc.h, u->checksum);
    const char *base_min_rows = NULL;
    if (u->reused) {
        memcpy(u->checksum, kx_user_sums_find(&job->base->sums, u->uid)->checksum, sizeof u->checksum);
        base_min_rows = kx_clean_base_min_rows_reason(job->base, u->uid);
    }
    if (rc == 0) judge_user(job, u, &sc, base_min_rows);
    user_scan_free(&sc);
    return rc;
}

/* ---- copying --------------------------------------------------------------------------------- */

/* The user's CSV (text = 0) or text (text = 1) folder inside the staging output. */
static char *user_folder(const clean_job *job, const user_slot *u, int text)
{
    static const char *const areas[2][2] = {{"broken_data", "broken_data/text"}, {"raw_data", "text"}};
    const char *area = areas[u->complete][text];
    const char *dev = dev_names[u->device];
    if (job->ctx->cfg->partitioned_storage)
        return kx_asprintf("%s/%s/%s/batch_%03u/%s", job->out_dir, dev, area, u->batch_no, u->uid);
    return kx_asprintf("%s/%s/%s/%s", job->out_dir, dev, area, u->uid);
}

/* Creates the user's CSV (text = 0) or text (text = 1) folder relative to its open area
 * folder and returns it opened (for linkat), or -1. The area's parents exist (the
 * skeleton); a partitioned batch folder is shared by BATCH_SIZE users, so EEXIST is fine. */
static int open_user_folder(const clean_job *job, const user_slot *u, int text, kx_err *err)
{
    int afd = job->area_fd[u->device][u->complete][text];
    char rel[64 + KX_UID_LEN];
    size_t off = 0;
    if (job->ctx->cfg->partitioned_storage) {
        off = (size_t)snprintf(rel, sizeof rel, "batch_%03u", u->batch_no);
        if (mkdirat(afd, rel, 0777) != 0 && errno != EEXIST) goto fail;
        rel[off++] = '/';
    }
    memcpy(rel + off, u->uid, KX_UID_LEN + 1);
    if (mkdirat(afd, rel, 0777) != 0 && errno != EEXIST) goto fail;
    int fd = openat(afd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) return fd;
fail:;
    int saved = errno;
    char *path = user_folder(job, u, text);
    errno = saved;
    kx_fail_errno(err, "cannot create folder %s", path);
    free(path);
    return -1;
}

static int copy_user(const clean_job *job, user_slot *u)
{
    int dfd[2] = {-1, -1};
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        dfd[k] = open_user_folder(job, u, k, &u->err);
        if (dfd[k] < 0) rc = -1;
    }
    for (size_t i = 0; i < u->ncopies && rc == 0; i++) {
        const copy_item *c = &u->copies[i];
        if (linkat(job->in_fd, job->list.items[c->idx].name, dfd[c->to_text], c->dst_name, 0) == 0) continue;
        char *dir = user_folder(job, u, c->to_text); /* slow path: existing name or no hard links */
        rc = kx_link_or_copy_at(job->in_fd, job->in_dir, job->list.items[c->idx].name, dfd[c->to_text], dir,
                                c->dst_name, &u->err);
        free(dir);
    }
    for (int k = 0; k < 2; k++)
        if (dfd[k] >= 0) close(dfd[k]);
    return rc;
}

static void copy_worker(void *arg, size_t i)
{
    clean_job *job = arg;
    user_slot *u = &job->users[job->first + i];
    if (copy_user(job, u) != 0) u->failed = true;
}

/* Classifies one user and, unless storage is partitioned (a batch folder needs the user's
 * rank in its device/status group, known once every user is classified), links its files
 * at once, while their directory entries and inodes are still in the CPU caches. */
static void classify_worker(void *arg, size_t i)
{
    clean_job *job = arg;
    user_slot *u = &job->users[job->first + i];
    if (classify_user(job, u) != 0) u->failed = true;
    else if (!job->ctx->cfg->partitioned_storage && copy_user(job, u) != 0) u->failed = true;
}

/* Runs fn over all users, BATCH_SIZE at a time; fails with the first failed user's error. */
static int for_each_batch(clean_job *job, size_t nusers, kx_work_fn fn, const char *label, kx_err *err)
{
    size_t bs = (size_t)job->ctx->cfg->batch_size;
    kx_progress p;
    kx_progress_start(&p, job->ctx->show_progress, label, nusers);
    int rc = 0;
    for (job->first = 0; job->first < nusers && rc == 0; job->first += bs) {
        size_t n = nusers - job->first < bs ? nusers - job->first : bs;
        kx_parallel_for(job->ctx->cfg->parallel_workers, n, fn, job);
        for (size_t i = 0; i < n && rc == 0; i++) {
            user_slot *u = &job->users[job->first + i];
            if (u->failed) rc = kx_fail(err, "%s", u->err.msg);
        }
        kx_progress_add(&p, n);
    }
    kx_progress_finish(&p);
    return rc;
}

/* ---- listing and grouping --------------------------------------------------------------------- */

typedef struct attributed {
    char uid[KX_UID_LEN + 1];
    size_t idx;
} attributed;

static int cmp_attributed(const void *a, const void *b)
{
    const attributed *x = a, *y = b;
    int c = strcmp(x->uid, y->uid);
    if (c) return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

typedef struct clean_totals {
    int64_t total_files, total_users, complete, broken, insufficient, desktop, mobile;
    str_list data_issues, processing_errors;
} clean_totals;

/* Attributes files to users; fills job->users (uid order) and the unknown-file issues.
 * `file_idx` receives the per-user index arrays (one allocation, owned by the caller). */
static size_t group_users(clean_job *job, clean_totals *t, size_t **file_idx)
{
    attributed *att = kx_calloc(job->list.n ? job->list.n : 1, sizeof *att);
    size_t natt = 0, cap_demo = 0;
    for (size_t i = 0; i < job->list.n; i++) {
        const kx_dirent *e = &job->list.items[i];
        if (e->name[0] == '.') continue;
        t->total_files++;
        if (!e->is_file || kx_clean_is_gstmp(e->name)) continue;
        if (strstr(e->name, "_demographics.json")) {
            job->demo_candidates = kx_grow(job->demo_candidates, &cap_demo, job->n_demo_candidates + 1, sizeof(size_t));
            job->demo_candidates[job->n_demo_candidates++] = i;
        }
        if (!kx_clean_extract_uid(e->name, att[natt].uid)) {
            sl_push(&t->data_issues, kx_asprintf("Unknown file: %s", e->name));
            continue;
        }
        att[natt++].idx = i;
    }
    kx_qsort(att, natt, sizeof *att, cmp_attributed);
    *file_idx = kx_calloc(natt ? natt : 1, sizeof **file_idx);
    size_t nusers = 0;
    for (size_t i = 0; i < natt; i++)
        if (i == 0 || strcmp(att[i].uid, att[i - 1].uid)) nusers++;
    job->users = kx_calloc(nusers ? nusers : 1, sizeof *job->users);
    size_t u = 0;
    for (size_t i = 0; i < natt; i++) {
        if (i > 0 && strcmp(att[i].uid, att[i - 1].uid)) u++;
        user_slot *s = &job->users[u];
        if (s->nfiles == 0) {
            memcpy(s->uid, att[i].uid, sizeof s->uid);
            s->files = *file_idx + i;
        }
        (*file_idx)[i] = att[i].idx;
        s->nfiles++;
    }
    free(att);
    return nusers;
}

static void free_users(clean_job *job, size_t nusers)
{
    for (size_t i = 0; i < nusers; i++) {
        user_slot *u = &job->users[i];
        sl_free(&u->reasons);
        sl_free(&u->issues);
        free(u->proc_error);
        free(u->meta_row);
        for (size_t k = 0; k < u->ncopies; k++) free(u->copies[k].dst_name);
        free(u->copies);
    }
    free(job->users);
}

/* Batch numbers of partitioned storage: rank within (device, status), users in uid order. */
static void number_batches(clean_job *job, size_t nusers)
{
    size_t rank[2][2] = {{0, 0}, {0, 0}};
    size_t bs = (size_t)job->ctx->cfg->batch_size;
    for (size_t i = 0; i < nusers; i++) {
        user_slot *u = &job->users[i];
        u->batch_no = (unsigned)(rank[u->device][u->complete]++ / bs + 1);
    }
}

/* ---- lineage summaries ---------------------------------------------------------------------- */

/* True if two of the user's copies go to the same folder under the same name (the later
 * one replaced the earlier: kx_link_or_copy_at). Never seen in practice; such a run leaves
 * the trees to the runner's listing rather than summarizing names that are not on disk. */
static bool has_duplicate_target(const user_slot *u)
{
    for (size_t i = 0; i < u->ncopies; i++)
        for (size_t j = 0; j < i; j++)
            if (u->copies[i].to_text == u->copies[j].to_text && !strcmp(u->copies[i].dst_name, u->copies[j].dst_name))
                return true;
    return false;
}

/* Hands the runner the lineage summaries (lineage.h) of the six copy trees
 * cleaned_data/<dev>/{raw_data,text,broken_data}: every linked file's path and size are
 * known here (sizes from the fstat of the read, or of the incremental check), so the runner
 * does not list and stat the ~40k files again. broken_data also holds text/ (broken users'
 * text files) and metadata/metadata.csv. */
static void hand_over_trees(kx_stage_ctx *ctx, const clean_job *job, size_t nusers)
{
    for (size_t i = 0; i < nusers; i++)
        if (has_duplicate_target(&job->users[i])) return;
    static const char *const trees[3] = {"broken_data", "raw_data", "text"};
    kx_treesum sums[2][3]; /* [device][tree] */
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < 3; k++) sums[d][k] = (kx_treesum)KX_TREESUM_INIT;
    for (size_t i = 0; i < nusers; i++) {
        const user_slot *u = &job->users[i];
        char batch[32] = "";
        if (ctx->cfg->partitioned_storage) snprintf(batch, sizeof batch, "batch_%03u/", u->batch_no);
        for (size_t k = 0; k < u->ncopies; k++) {
            const copy_item *c = &u->copies[k];
            int tree = u->complete ? 1 + c->to_text : 0;
            const char *sub = !u->complete && c->to_text ? "text/" : "";
            char *path = kx_asprintf("%s%s%s/%s", sub, batch, u->uid, c->dst_name);
            kx_treesum_add(&sums[u->device][tree], path, job->list.items[c->idx].size);
            free(path);
        }
    }
    for (int d = 0; d < 2; d++) {
        if (job->broken_meta_size[d] >= 0)
            kx_treesum_add(&sums[d][0], "metadata/metadata.csv", (uint64_t)job->broken_meta_size[d]);
        for (int k = 0; k < 3; k++) {
            char *tree = kx_asprintf("cleaned_data/%s/%s", dev_names[d], trees[k]);
            kx_stage_add_tree(ctx, tree, &sums[d][k]);
            free(tree);
        }
    }
}

/* ---- outputs --------------------------------------------------------------------------------- */

static int make_skeleton(const char *out_dir, kx_err *err)
{
    static const char *const sub[] = {"raw_data", "text", "metadata", "broken_data", "broken_data/text",
                                       "broken_data/metadata"};
    for (int d = 0; d < 2; d++) {
        for (size_t k = 0; k < sizeof sub / sizeof *sub; k++) {
            char *p = kx_asprintf("%s/%s/%s", out_dir, dev_names[d], sub[k]);
            int rc = kx_mkdirs(p, err);
            free(p);
            if (rc) return -1;
        }
    }
    return 0;
}

/* Opens the four per-user areas of both devices, for the *at calls of copy_user. */
static int open_areas(clean_job *job, kx_err *err)
{
    static const char *const areas[2][2] = {{"broken_data", "broken_data/text"}, {"raw_data", "text"}};
    for (int d = 0; d < 2; d++) {
        for (int c = 0; c < 2; c++) {
            for (int t = 0; t < 2; t++) {
                char *p = kx_asprintf("%s/%s/%s", job->out_dir, dev_names[d], areas[c][t]);
                job->area_fd[d][c][t] = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                int rc = job->area_fd[d][c][t] < 0 ? kx_fail_errno(err, "cannot open folder %s", p) : 0;
                free(p);
                if (rc) return -1;
            }
        }
    }
    return 0;
}

static void close_fds(clean_job *job)
{
    int *fds = &job->area_fd[0][0][0];
    for (size_t i = 0; i < sizeof job->area_fd / sizeof *fds; i++) {
        if (fds[i] >= 0) close(fds[i]);
        fds[i] = -1;
    }
    if (job->in_fd >= 0) close(job->in_fd);
    if (job->base_fd >= 0) close(job->base_fd);
    job->in_fd = job->base_fd = -1;
}

static int write_buf(const char *dir, const char *name, const kx_buf *b, kx_err *err)
{
    char *p = kx_path_join(dir, name);
    int rc = kx_write_file_atomic(p, b->data ? b->data : "", b->len, err);
    free(p);
    return rc;
}

/* Lists and metadata.csv files of one device (01 §5.2). */
static int write_device_tables(clean_job *job, size_t nusers, int dev, kx_err *err)
{
    bool pii = job->ctx->cfg->include_pii;
    kx_buf complete = KX_BUF_INIT, broken = KX_BUF_INIT, meta = KX_BUF_INIT, bmeta = KX_BUF_INIT;
    kx_clean_metadata_header(&meta, pii);
    kx_clean_metadata_header(&bmeta, pii);
    size_t nbroken = 0;
    for (int pass = 1; pass >= 0; pass--) { /* complete users first, then broken */
        for (size_t i = 0; i < nusers; i++) {
            const user_slot *u = &job->users[i];
            if (u->device != dev || (int)u->complete != pass) continue;
            kx_buf_puts(pass ? &complete : &broken, u->uid);
            kx_buf_putc(pass ? &complete : &broken, '\n');
            kx_buf_puts(&meta, u->meta_row);
            if (!pass) {
                kx_buf_puts(&bmeta, u->meta_row);
                nbroken++;
            }
        }
    }
    char *mdir = kx_asprintf("%s/%s/metadata", job->out_dir, dev_names[dev]);
    char *bdir = kx_asprintf("%s/%s/broken_data/metadata", job->out_dir, dev_names[dev]);
    int rc = write_buf(mdir, "complete_users.txt", &complete, err);
    if (!rc) rc = write_buf(mdir, "broken_users.txt", &broken, err);
    if (!rc) rc = write_buf(mdir, "metadata.csv", &meta, err);
    if (!rc && nbroken) rc = write_buf(bdir, "metadata.csv", &bmeta, err);
    if (!rc && nbroken) job->broken_meta_size[dev] = (int64_t)bmeta.len;
    free(mdir);
    free(bdir);
    kx_buf_free(&complete);
    kx_buf_free(&broken);
    kx_buf_free(&meta);
    kx_buf_free(&bmeta);
    return rc;
}

static json_t *str_array(const str_list *l) { return kx_json_str_array((const char *const *)l->items, l->n); }

static void put_counters(json_t *o, const clean_totals *t)
{
    json_object_set_new(o, "total_files", json_integer(t->total_files));
    json_object_set_new(o, "total_users", json_integer(t->total_users));
    json_object_set_new(o, "complete_users", json_integer(t->complete));
    json_object_set_new(o, "broken_users", json_integer(t->broken));
    json_object_set_new(o, "broken_insufficient_data", json_integer(t->insufficient));
    json_object_set_new(o, "desktop_users", json_integer(t->desktop));
    json_object_set_new(o, "mobile_users", json_integer(t->mobile));
}

static int write_json(const char *dir, const char *name, json_t *v, kx_err *err)
{
    char *p = kx_path_join(dir, name);
    int rc = kx_json_write_file(p, v, err);
    free(p);
    json_decref(v);
    return rc;
}

/* The JSON reports of 01 §5.4 into `dir`. */
static int write_reports(const clean_job *job, size_t nusers, const clean_totals *t, const char *dir, kx_err *err)
{
    const kx_stage_ctx *ctx = job->ctx;
    json_t *rep = json_object();
    json_object_set_new(rep, "version_id", kx_json_str(ctx->version_id));
    json_object_set_new(rep, "timestamp", kx_json_timestamp_now());
    json_object_set_new(rep, "input_dir", json_sprintf("%s/raw_data/web_app_data", ctx->version_dir));
    json_object_set_new(rep, "output_dir", json_sprintf("%s/cleaned_data", ctx->version_dir));
    json_t *summary = json_object();
    put_counters(summary, t);
    json_object_set_new(rep, "summary", summary);
    if (write_json(dir, "cleaning_report.json", rep, err)) return -1;

    json_t *stats = json_object();
    put_counters(stats, t);
    json_object_set_new(stats, "processing_errors", str_array(&t->processing_errors));
    json_object_set_new(stats, "data_issues", str_array(&t->data_issues));
    if (write_json(dir, "cleaning_stats.json", stats, err)) return -1;

    json_t *reasons = json_object(), *users = json_object();
    for (size_t i = 0; i < nusers; i++) {
        const user_slot *u = &job->users[i];
        if (!u->complete) json_object_set_new(reasons, u->uid, str_array(&u->reasons));
        json_t *c = json_object();
        json_object_set_new(c, "checksum", json_string(u->checksum));
        json_object_set_new(c, "files", json_integer((json_int_t)u->nfiles));
        json_object_set_new(c, "bytes", json_integer((json_int_t)u->bytes));
        json_object_set_new(c, "status", json_string(u->complete ? "complete" : "broken"));
        json_object_set_new(c, "device", json_string(dev_names[u->device]));
        json_object_set_new(users, u->uid, c);
    }
    if (write_json(dir, "broken_reasons.json", reasons, err)) {
        json_decref(users);
        return -1;
    }
    json_t *sums = json_object();
    json_object_set_new(sums, "algorithm", json_string("sha256"));
    json_object_set_new(sums, "users", users);
    if (write_json(dir, "user_checksums.json", sums, err)) return -1;

    if (t->data_issues.n || t->processing_errors.n) {
        json_t *v = json_object();
        json_object_set_new(v, "data_issues", str_array(&t->data_issues));
        json_object_set_new(v, "processing_errors", str_array(&t->processing_errors));
        json_object_set_new(v, "timestamp", kx_json_timestamp_now());
        if (write_json(dir, "validation_errors.json", v, err)) return -1;
    }
    return 0;
}

/* Replaces `final` by `staging` (old contents removed first). */
static int swap_in(const char *staging, const char *final, kx_err *err)
{
    if (kx_rmtree(final, err) != 0) return -1;
    if (rename(staging, final) != 0) return kx_fail_errno(err, "cannot rename %s to %s", staging, final);
    return 0;
}

static void sum_up(const clean_job *job, size_t nusers, clean_totals *t)
{
    t->total_users = (int64_t)nusers;
    for (size_t i = 0; i < nusers; i++) {
        user_slot *u = &job->users[i];
        if (u->complete) t->complete++;
        else t->broken++;
        t->insufficient += u->insufficient;
        if (u->demo_ok) {
            if (u->device == DEV_MOBILE) t->mobile++;
            else t->desktop++;
        }
        for (size_t k = 0; k < u->issues.n; k++) {
            sl_push(&t->data_issues, u->issues.items[k]);
            u->issues.items[k] = NULL;
        }
        if (u->proc_error) {
            sl_push(&t->processing_errors, u->proc_error);
            u->proc_error = NULL;
        }
    }
}

static json_t *stats_object(const clean_totals *t)
{
    json_t *o = json_object();
    put_counters(o, t);
    return o;
}

/* Loads the incremental base (05 §6.4). A base that cannot be read only costs the reuse:
 * the stage then reads every file, which gives the same output. */
static bool load_base(kx_stage_ctx *ctx, kx_clean_base *base)
{
    if (!ctx->base_version_dir) return false;
    kx_err e;
    if (kx_clean_base_load(ctx->base_version_dir, base, &e) == 0) return true;
    kx_logf(ctx->log, KX_LOG_WARNING, COMP, "Base version %s not usable for reuse, reading all files: %s",
            ctx->base_version_id ? ctx->base_version_id : ctx->base_version_dir, e.msg);
    return false;
}

static void add_incremental_stats(const kx_stage_ctx *ctx, const clean_job *job, size_t nusers)
{
    if (!ctx->base_version_dir) return;
    /* "Reused" = unchanged in the sense of 05 §6.4 (same checksum as in the base), whose
     * classification is therefore the base's; of those, `skipped` were not even read
     * (same files as the base read, see files_unchanged). */
    int64_t reused = 0, skipped = 0;
    for (size_t i = 0; i < nusers; i++) {
        const user_slot *u = &job->users[i];
        const kx_user_sum *b = job->base ? kx_user_sums_find(&job->base->sums, u->uid) : NULL;
        reused += u->reused || (b && !strcmp(b->checksum, u->checksum));
        skipped += u->reused;
    }
    json_object_set_new(ctx->stats, "incremental", kx_reuse_stats(ctx->base_version_id, reused, (int64_t)nusers - reused));
    kx_logf(ctx->log, KX_LOG_INFO, COMP, "Incremental: %lld users unchanged since %s (%lld not re-read), %lld new or changed",
            (long long)reused, ctx->base_version_id ? ctx->base_version_id : ctx->base_version_dir,
            (long long)skipped, (long long)nusers - (long long)reused);
}

int kx_stage_clean(kx_stage_ctx *ctx)
{
    clean_job job;
    memset(&job, 0, sizeof job);
    job.ctx = ctx;
    char *in_dir = kx_asprintf("%s/raw_data/web_app_data", ctx->version_dir);
    char *out_final = kx_asprintf("%s/cleaned_data", ctx->version_dir);
    char *out_stage = kx_asprintf("%s/cleaned_data.partial", ctx->version_dir);
    char *rep_final = kx_asprintf("%s/etl_metadata/cleaning", ctx->version_dir);
    char *rep_stage = kx_asprintf("%s/etl_metadata/.cleaning.partial", ctx->version_dir);
    job.in_dir = in_dir;
    job.in_fd = job.base_fd = -1;
    for (int *fd = &job.area_fd[0][0][0]; fd < &job.area_fd[0][0][0] + 8; fd++) *fd = -1;
    job.out_dir = out_stage;
    job.broken_meta_size[0] = job.broken_meta_size[1] = -1;
    clean_totals t;
    memset(&t, 0, sizeof t);
    kx_clean_base base;
    if (load_base(ctx, &base)) job.base = &base;
    size_t *file_idx = NULL, nusers = 0;
    int rc = -1;
    if (!kx_is_dir(in_dir)) {
        kx_fail(&ctx->err, "input folder %s does not exist (run the download stage first)", in_dir);
        goto out;
    }
    /* Types from readdir, sizes when each file is opened: no stat per listed name. */
    if (kx_list_dir_ex(in_dir, &job.list, KX_LIST_NO_SIZE, &ctx->err) != 0) goto out;
    job.in_fd = open(in_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (job.base) job.base_fd = open(job.base->raw_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* -1: no reuse */
    if (job.in_fd < 0) {
        kx_fail_errno(&ctx->err, "cannot open folder %s", in_dir);
        goto out;
    }
    nusers = group_users(&job, &t, &file_idx);
    kx_logf(ctx->log, KX_LOG_INFO, COMP, "Classifying %zu users from %lld files", nusers, (long long)t.total_files);
    if (kx_rmtree(out_stage, &ctx->err) || kx_rmtree(rep_stage, &ctx->err)) goto out;
    if (make_skeleton(out_stage, &ctx->err) || open_areas(&job, &ctx->err) || kx_mkdirs(rep_stage, &ctx->err))
        goto out;
    if (for_each_batch(&job, nusers, classify_worker, "clean (classify)", &ctx->err)) goto out;
    if (ctx->cfg->partitioned_storage) {
        number_batches(&job, nusers);
        if (for_each_batch(&job, nusers, copy_worker, "clean (copy)", &ctx->err)) goto out;
    }
    close_fds(&job);
    sum_up(&job, nusers, &t);
    for (int d = 0; d < 2; d++)
        if (write_device_tables(&job, nusers, d, &ctx->err)) goto out;
    if (write_reports(&job, nusers, &t, rep_stage, &ctx->err)) goto out;
    if (swap_in(out_stage, out_final, &ctx->err) || swap_in(rep_stage, rep_final, &ctx->err)) goto out;
    hand_over_trees(ctx, &job, nusers);
    ctx->stats = stats_object(&t);
    add_incremental_stats(ctx, &job, nusers);
    kx_logf(ctx->log, KX_LOG_INFO, COMP, "%lld users: %lld complete, %lld broken (%lld with too few rows)",
            (long long)t.total_users, (long long)t.complete, (long long)t.broken, (long long)t.insufficient);
    rc = 0;
out:
    if (rc != 0) {
        kx_rmtree(out_stage, NULL);
        kx_rmtree(rep_stage, NULL);
    }
    close_fds(&job);
    free_users(&job, nusers);
    if (job.base) kx_clean_base_free(&base);
    free(file_idx);
    free(job.demo_candidates);
    kx_dirlist_free(&job.list);
    sl_free(&t.data_issues);
    sl_free(&t.processing_errors);
    free(in_dir);
    free(out_final);
    free(out_stage);
    free(rep_final);
    free(rep_stage);
    return rc;
}
