/* reuse.c — loading what a base version left for incremental reuse (see reuse.h). */
#include "pipeline/reuse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/fs.h"
#include "io/json.h"
#include "io/table.h"
#include "io/table_read.h"
#include "io/text.h"
#include "util/buf.h"
#include "util/mem.h"
#include "util/sort.h"

/* ---- user_checksums.json ------------------------------------------------------------------ */

static int cmp_sum(const void *a, const void *b)
{
    return strcmp(((const kx_user_sum *)a)->uid, ((const kx_user_sum *)b)->uid);
}

static json_t *load_json(const char *path, kx_err *err)
{
    json_error_t je;
    json_t *v = json_load_file(path, 0, &je);
    if (!v) kx_fail(err, "cannot read %s: %s", path, je.text);
    return v;
}

/* One "users" entry; false if a field is missing or malformed. */
static bool parse_sum(const char *uid, json_t *e, kx_user_sum *s)
{
    const char *ck = json_string_value(json_object_get(e, "checksum"));
    const char *st = json_string_value(json_object_get(e, "status"));
    const char *dev = json_string_value(json_object_get(e, "device"));
    json_t *files = json_object_get(e, "files"), *bytes = json_object_get(e, "bytes");
    if (strlen(uid) > KX_UID_LEN || !ck || strlen(ck) != 64 || !st || !dev || strlen(dev) >= sizeof s->device ||
        !json_is_integer(files) || !json_is_integer(bytes))
        return false;
    memset(s, 0, sizeof *s);
    strcpy(s->uid, uid);
    strcpy(s->checksum, ck);
    strcpy(s->device, dev);
    s->complete = strcmp(st, "complete") == 0;
    s->files = json_integer_value(files);
    s->bytes = json_integer_value(bytes);
    return true;
}

int kx_user_sums_load(const char *version_dir, kx_user_sums *out, kx_err *err)
{
    memset(out, 0, sizeof *out);
    char *path = kx_asprintf("%s/etl_metadata/cleaning/user_checksums.json", version_dir);
    json_t *root = load_json(path, err);
    int rc = -1;
    json_t *users = root ? json_object_get(root, "users") : NULL;
    if (root && !json_is_object(users)) kx_fail(err, "%s: no \"users\" object", path);
    if (json_is_object(users)) {
        out->v = kx_calloc(json_object_size(users) + 1, sizeof *out->v);
        const char *uid;
        json_t *e;
        rc = 0;
        json_object_foreach(users, uid, e) {
            if (!parse_sum(uid, e, &out->v[out->n])) {
                rc = kx_fail(err, "%s: malformed entry for user %s", path, uid);
                break;
            }
            out->n++;
        }
        kx_qsort(out->v, out->n, sizeof *out->v, cmp_sum);
    }
    json_decref(root);
    free(path);
    if (rc != 0) kx_user_sums_free(out);
    return rc;
}

const kx_user_sum *kx_user_sums_find(const kx_user_sums *s, const char *uid)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->v[mid].uid, uid);
        if (c == 0) return &s->v[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

void kx_user_sums_free(kx_user_sums *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

bool kx_user_sum_same(const kx_user_sum *a, const kx_user_sum *b)
{
    return a && b && !strcmp(a->checksum, b->checksum) && a->complete == b->complete && !strcmp(a->device, b->device);
}

json_t *kx_reuse_stats(const char *base_version_id, int64_t reused, int64_t processed)
{
    json_t *o = json_object();
    json_object_set_new(o, "base_version", kx_json_str(base_version_id ? base_version_id : ""));
    json_object_set_new(o, "reused_users", json_integer(reused));
    json_object_set_new(o, "processed_users", json_integer(processed));
    return o;
}

/* ---- clean ------------------------------------------------------------------------------------ */

int kx_clean_base_load(const char *base_dir, kx_clean_base *b, kx_err *err)
{
    memset(b, 0, sizeof *b);
    char *cleaned = kx_path_join(base_dir, "cleaned_data");
    struct stat st;
    if (stat(cleaned, &st) != 0) {
        kx_fail_errno(err, "cannot stat %s", cleaned);
        free(cleaned);
        return -1;
    }
    free(cleaned);
    b->t0 = st.st_mtim;
    if (kx_user_sums_load(base_dir, &b->sums, err) != 0) return -1;
    char *path = kx_asprintf("%s/etl_metadata/cleaning/broken_reasons.json", base_dir);
    b->reasons = load_json(path, err);
    free(path);
    if (!b->reasons) {
        kx_clean_base_free(b);
        return -1;
    }
    b->raw_dir = kx_asprintf("%s/raw_data/web_app_data", base_dir);
    return 0;
}

void kx_clean_base_free(kx_clean_base *b)
{
    free(b->raw_dir);
    kx_user_sums_free(&b->sums);
    json_decref(b->reasons);
    memset(b, 0, sizeof *b);
}

static bool before(struct timespec a, struct timespec b)
{
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

bool kx_clean_base_same_stat(const kx_clean_base *b, const struct stat *cur, const struct stat *old, uint64_t size)
{
    return S_ISREG(cur->st_mode) && cur->st_dev == old->st_dev && cur->st_ino == old->st_ino &&
           (uint64_t)cur->st_size == size && before(cur->st_mtim, b->t0);
}

bool kx_clean_base_same_file(const kx_clean_base *b, const char *in_dir, const char *name, uint64_t size)
{
    char *cur = kx_path_join(in_dir, name), *old = kx_path_join(b->raw_dir, name);
    struct stat s1, s2;
    bool same = stat(cur, &s1) == 0 && stat(old, &s2) == 0 && kx_clean_base_same_stat(b, &s1, &s2, size);
    free(cur);
    free(old);
    return same;
}

const char *kx_clean_base_min_rows_reason(const kx_clean_base *b, const char *uid)
{
    static const char prefix[] = "CSV files with insufficient data (";
    json_t *list = json_object_get(b->reasons, uid);
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *r = json_string_value(json_array_get(list, i));
        if (r && !strncmp(r, prefix, sizeof prefix - 1)) return r;
    }
    return NULL;
}

/* ---- keypairs sidecar --------------------------------------------------------------------------- */

enum {
    U_DEVICE, U_FOLDER, U_FILES, U_ROWS, U_MALFORMED, U_READ_ERRORS, U_SINGLE, U_MAL_OFF, U_MAL_BYTES,
    U_KP_OFF, U_KP_BYTES, U_INV_OFF, U_INV_BYTES, U_VALID, U_INVALID, U_OUTLIERS, U_ERRORS, U_NCOLS
};

static const kx_colspec ustat_cols[U_NCOLS] = {
    {"device_type", KX_COL_STRING},   {"folder", KX_COL_STRING},      {"keystroke_files", KX_COL_INT64},
    {"keypairs", KX_COL_INT64},       {"malformed_rows", KX_COL_INT64}, {"read_errors", KX_COL_INT64},
    {"single_user", KX_COL_BOOL},     {"malformed_offset", KX_COL_INT64}, {"malformed_bytes", KX_COL_INT64},
    {"keypairs_offset", KX_COL_INT64}, {"keypairs_bytes", KX_COL_INT64}, {"invalid_offset", KX_COL_INT64},
    {"invalid_bytes", KX_COL_INT64},  {"valid", KX_COL_INT64},          {"invalid", KX_COL_INT64},
    {"outliers", KX_COL_INT64},       {"errors", KX_COL_STRING},
};

void kx_kp_ustats_push(kx_kp_ustats *s, const kx_kp_ustat *u)
{
    s->v = kx_grow(s->v, &s->cap, s->n + 1, sizeof *s->v);
    kx_kp_ustat *d = &s->v[s->n++];
    *d = *u;
    d->device = kx_strdup(u->device);
    d->folder = kx_strdup(u->folder);
    d->errors = kx_strdup(u->errors ? u->errors : "");
}

void kx_kp_ustats_free(kx_kp_ustats *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].device);
        free(s->v[i].folder);
        free(s->v[i].errors);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

int kx_kp_ustats_write(const kx_kp_ustats *s, const char *dir, kx_err *err)
{
    kx_buf b = KX_BUF_INIT;
    kx_csv_put_header(&b, ustat_cols, U_NCOLS);
    for (size_t i = 0; i < s->n; i++) {
        const kx_kp_ustat *u = &s->v[i];
        kx_csv_put_str(&b, u->device, strlen(u->device));
        kx_buf_putc(&b, ',');
        kx_csv_put_str(&b, u->folder, strlen(u->folder));
        const int64_t nums[4] = {u->files, u->rows, u->malformed, u->read_errors};
        for (int k = 0; k < 4; k++) {
            kx_buf_putc(&b, ',');
            kx_csv_put_i64(&b, nums[k]);
        }
        kx_buf_putc(&b, ',');
        kx_csv_put_bool(&b, u->single_user);
        const int64_t more[10] = {u->mal_offset, u->mal_bytes, u->kp_offset, u->kp_bytes, u->inv_offset,
                                  u->inv_bytes, u->valid, u->invalid, u->outliers};
        for (int k = 0; k < 9; k++) {
            kx_buf_putc(&b, ',');
            kx_csv_put_i64(&b, more[k]);
        }
        kx_buf_putc(&b, ',');
        /* never empty: an empty cell would read back as null */
        const char *e = u->errors && *u->errors ? u->errors : "-";
        kx_csv_put_str(&b, e, strlen(e));
        kx_buf_putc(&b, '\n');
    }
    char *path = kx_path_join(dir, KX_KP_USTATS_FILE);
    int rc = kx_write_file_atomic(path, b.data, b.len, err);
    free(path);
    kx_buf_free(&b);
    return rc;
}

static char *dup_ref(kx_strref r) { return kx_strndup(r.ptr, r.len); }

int kx_kp_ustats_load(const char *version_dir, kx_kp_ustats *s, kx_err *err)
{
    memset(s, 0, sizeof *s);
    char *dir = kx_asprintf("%s/etl_metadata/keypairs", version_dir);
    kx_table_reader *tr = kx_tr_open(dir, "user_stats", ustat_cols, U_NCOLS, err);
    free(dir);
    if (!tr) return -1;
    kx_column c[U_NCOLS];
    long n;
    int rc = 0;
    while (rc == 0 && (n = kx_tr_next(tr, c, err)) > 0) {
        for (long i = 0; i < n; i++) {
            for (int k = 0; k < U_NCOLS; k++)
                if (!c[k].valid[i]) rc = kx_fail(err, "%s: empty %s cell", kx_tr_path(tr), ustat_cols[k].name);
            if (rc) break;
            const int64_t *I[U_NCOLS];
            for (int k = U_FILES; k < U_ERRORS; k++) I[k] = c[k].values;
            kx_kp_ustat u = {NULL, NULL, I[U_FILES][i], I[U_ROWS][i], I[U_MALFORMED][i], I[U_READ_ERRORS][i],
                             ((const uint8_t *)c[U_SINGLE].values)[i] != 0, I[U_MAL_OFF][i], I[U_MAL_BYTES][i],
                             I[U_KP_OFF][i], I[U_KP_BYTES][i], I[U_INV_OFF][i], I[U_INV_BYTES][i], I[U_VALID][i],
                             I[U_INVALID][i], I[U_OUTLIERS][i], NULL};
            s->v = kx_grow(s->v, &s->cap, s->n + 1, sizeof *s->v);
            u.device = dup_ref(((const kx_strref *)c[U_DEVICE].values)[i]);
            u.folder = dup_ref(((const kx_strref *)c[U_FOLDER].values)[i]);
            kx_strref er = ((const kx_strref *)c[U_ERRORS].values)[i];
            u.errors = er.len == 1 && er.ptr[0] == '-' ? kx_strdup("") : dup_ref(er);
            s->v[s->n++] = u;
        }
    }
    if (rc == 0 && n < 0) rc = -1;
    kx_tr_close(tr);
    if (rc != 0) kx_kp_ustats_free(s);
    return rc;
}
