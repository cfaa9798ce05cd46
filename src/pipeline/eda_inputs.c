/* eda_inputs.c — the quality-scan sidecar written by keypairs and replayed by eda (format in
 * docs/keypairs.md, "eda sidecar"). The file scan itself and consent loading are in
 * stage_eda.c.
 *
 * Text, one record per line, fields separated by TAB:
 *
 *   keyetl-eda-quality-scan  1
 *   devices   <n>  <device>...                 DEVICE_TYPES of the keypairs run, in order
 *   cleaning  <id>                             kx_eda_cleaning_id at keypairs time
 *   F  <device index>  <partition>  <folder>  <files>  <entries>
 *   R  <file name>  <issues>  <n keys>         a file with issues or unreleased keys
 *   K  <key>  <press time: 16 hex digits, the IEEE-754 bits>
 *   end  <folders>  <files>
 *
 * Strings are escaped: "" is written "-", "-" is "%2D", and '%', bytes <= 0x20 and 0x7f are
 * %XX (upper-case hex). <issues> is "-" or "type:count,..." in first-seen order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <xxhash.h>

#include "io/fs.h"
#include "pipeline/eda_inputs.h"
#include "util/mem.h"
#include "util/sort.h"

#define SIDECAR_MAGIC "keyetl-eda-quality-scan"
#define SIDECAR_FORMAT 1

/* ---- writing ------------------------------------------------------------------------------ */

static void put_esc(kx_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    if (n == 0) {
        kx_buf_putc(b, '-');
        return;
    }
    if (n == 1 && s[0] == '-') {
        kx_buf_puts(b, "%2D");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '%') {
            kx_buf_putc(b, '%');
            kx_buf_putc(b, hex[c >> 4]);
            kx_buf_putc(b, hex[c & 15]);
        } else {
            kx_buf_putc(b, (char)c);
        }
    }
}

static void put_time(kx_buf *b, double t)
{
    uint64_t bits;
    memcpy(&bits, &t, sizeof bits);
    kx_buf_printf(b, "%016llx", (unsigned long long)bits);
}

int kx_eda_sidecar_scan(kx_buf *body, const char *file_name, const char *data, size_t len)
{
    kx_eda_event *ev;
    size_t n = kx_eda_parse_events(data, len, &ev);
    kx_eda_file_check c;
    kx_eda_check_file(ev, n, &c);
    int wrote = kx_eda_sidecar_put_check(body, file_name, &c);
    kx_eda_file_check_free(&c);
    free(ev);
    return wrote;
}

int kx_eda_sidecar_put_check(kx_buf *body, const char *file_name, const kx_eda_file_check *c0)
{
    const kx_eda_file_check c = *c0;
    int wrote = c.nissue > 0 || c.nunreleased > 0;
    if (wrote) {
        kx_buf_puts(body, "R\t");
        put_esc(body, file_name, strlen(file_name));
        kx_buf_putc(body, '\t');
        if (!c.nissue) kx_buf_putc(body, '-');
        for (size_t i = 0; i < c.nissue; i++)
            kx_buf_printf(body, "%s%s:%lld", i ? "," : "", kx_eda_issue_names[c.issue_order[i]],
                          (long long)c.issue_counts[i]);
        kx_buf_printf(body, "\t%zu\n", c.nunreleased);
        for (size_t i = 0; i < c.nunreleased; i++) {
            kx_buf_puts(body, "K\t");
            put_esc(body, c.unreleased[i].key, c.unreleased[i].key_len);
            kx_buf_putc(body, '\t');
            put_time(body, c.unreleased[i].time);
            kx_buf_putc(body, '\n');
        }
    }
    return wrote;
}

char *kx_eda_cleaning_id(const char *version_dir)
{
    char *path = kx_path_join3(version_dir, "etl_metadata", "cleaning/user_checksums.json");
    kx_buf b = KX_BUF_INIT;
    kx_err err;
    char *id;
    if (kx_is_file(path) && kx_read_file(path, &b, &err) == 0) {
        /* the "users" member only: the file also holds a timestamp, which would make the
         * sidecar of an incremental run differ from a full run's */
        json_t *doc = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
        char *users = doc ? json_dumps(json_object_get(doc, "users"), JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (users) id = kx_asprintf("users-xxh3:%016llx", (unsigned long long)XXH3_64bits(users, strlen(users)));
        else id = kx_asprintf("file-xxh3:%016llx", (unsigned long long)XXH3_64bits(b.data ? b.data : "", b.len));
        free(users);
        json_decref(doc);
    } else {
        id = kx_strdup("none");
    }
    kx_buf_free(&b);
    free(path);
    return id;
}

void kx_eda_sidecar_header(kx_buf *out, char *const *devices, size_t ndevices, const char *cleaning_id)
{
    kx_buf_printf(out, "%s\t%d\ndevices\t%zu", SIDECAR_MAGIC, SIDECAR_FORMAT, ndevices);
    for (size_t i = 0; i < ndevices; i++) {
        kx_buf_putc(out, '\t');
        put_esc(out, devices[i], strlen(devices[i]));
    }
    kx_buf_puts(out, "\ncleaning\t");
    put_esc(out, cleaning_id, strlen(cleaning_id));
    kx_buf_putc(out, '\n');
}

void kx_eda_sidecar_folder(kx_buf *out, size_t device, const char *partition, const char *folder, size_t files,
                           size_t entries, const char *body, size_t body_len)
{
    kx_buf_printf(out, "F\t%zu\t", device);
    put_esc(out, partition, strlen(partition));
    kx_buf_putc(out, '\t');
    put_esc(out, folder, strlen(folder));
    kx_buf_printf(out, "\t%zu\t%zu\n", files, entries);
    if (body_len) kx_buf_put(out, body, body_len);
}

void kx_eda_sidecar_trailer(kx_buf *out, size_t folders, size_t files)
{
    kx_buf_printf(out, "end\t%zu\t%zu\n", folders, files);
}

/* ---- reading ------------------------------------------------------------------------------ */

#define MAX_FIELDS 8

typedef struct line_in {
    char *f[MAX_FIELDS]; /* NUL-terminated in place */
    size_t nf;
} line_in;

/* Splits the next line at *pos (modifying data); false at the end. */
static bool next_line(kx_buf *d, size_t *pos, line_in *l, size_t *line_start)
{
    if (*pos >= d->len) return false;
    char *s = d->data + *pos, *end = memchr(s, '\n', d->len - *pos);
    *line_start = *pos;
    if (!end) end = d->data + d->len; /* checked by the caller: the file must end with LF */
    *pos = (size_t)(end - d->data) + 1;
    *end = 0;
    l->nf = 0;
    for (;;) {
        if (l->nf == MAX_FIELDS) break;
        l->f[l->nf++] = s;
        char *t = strchr(s, '\t');
        if (!t) break;
        *t = 0;
        s = t + 1;
    }
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes an escaped field into a heap string (*len bytes, NUL-terminated); NULL if bad. */
static char *unesc(const char *s, size_t *len)
{
    if (!strcmp(s, "-")) {
        *len = 0;
        return kx_strdup("");
    }
    size_t n = strlen(s), o = 0;
    char *r = kx_malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            r[o++] = s[i];
            continue;
        }
        if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
            free(r);
            return NULL;
        }
        r[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
        i += 2;
    }
    r[o] = 0;
    *len = o;
    return r;
}

static bool parse_size(const char *s, size_t *out)
{
    if (!*s) return false;
    size_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (SIZE_MAX - 9) / 10) return false;
        v = v * 10 + (size_t)(*s - '0');
    }
    *out = v;
    return true;
}

static bool parse_time_bits(const char *s, double *t)
{
    if (strlen(s) != 16) return false;
    uint64_t bits = 0;
    for (int i = 0; i < 16; i++) {
        int v = s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10 : s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1;
        if (v < 0) return false;
        bits = bits << 4 | (uint64_t)v;
    }
    memcpy(t, &bits, sizeof *t);
    return true;
}

static bool parse_issues(const char *s, kx_eda_file_check *c)
{
    if (!strcmp(s, "-")) return true;
    while (*s) {
        const char *colon = strchr(s, ':');
        if (!colon) return false;
        size_t tl = (size_t)(colon - s), t = 0;
        while (t < KX_EDA_NISSUE && (strlen(kx_eda_issue_names[t]) != tl || memcmp(kx_eda_issue_names[t], s, tl))) t++;
        if (t == KX_EDA_NISSUE) return false;
        for (size_t i = 0; i < c->nissue; i++)
            if (c->issue_order[i] == (kx_eda_issue)t) return false;
        char *end;
        long long v = strtoll(colon + 1, &end, 10);
        if (v <= 0 || end == colon + 1 || (*end && *end != ',')) return false;
        c->issue_order[c->nissue] = (kx_eda_issue)t;
        c->issue_counts[c->nissue++] = v;
        s = *end ? end + 1 : end;
        if (*end && !*s) return false;
    }
    return c->nissue > 0;
}

static void free_entry(kx_eda_sc_entry *en)
{
    for (size_t k = 0; k < en->check.nunreleased; k++) free(en->keys[k]);
    free(en->keys);
    free(en->check.unreleased);
    free(en->file_name);
}

/* Parses the R line l and its K lines into en. */
static int parse_entry(kx_eda_sidecar *sc, size_t *pos, const line_in *l, kx_eda_sc_entry *en, kx_err *err)
{
    size_t len, nkeys, ls;
    memset(en, 0, sizeof *en);
    if (l->nf != 4 || strcmp(l->f[0], "R") || !(en->file_name = unesc(l->f[1], &len)) ||
        !kx_eda_is_scan_file_name(en->file_name) || strlen(en->file_name) != len || !parse_issues(l->f[2], &en->check) ||
        !parse_size(l->f[3], &nkeys) || nkeys > sc->data.len)
        return kx_fail(err, "bad file entry");
    if (!en->check.nissue && !nkeys) return kx_fail(err, "empty file entry");
    en->keys = kx_calloc(nkeys ? nkeys : 1, sizeof *en->keys);
    en->check.unreleased = kx_calloc(nkeys ? nkeys : 1, sizeof *en->check.unreleased);
    for (size_t k = 0; k < nkeys; k++) {
        line_in kl;
        double t;
        if (!next_line(&sc->data, pos, &kl, &ls) || kl.nf != 3 || strcmp(kl.f[0], "K") ||
            !parse_time_bits(kl.f[2], &t) || !(en->keys[k] = unesc(kl.f[1], &len)))
            return kx_fail(err, "bad unreleased-key line");
        en->check.unreleased[k] = (kx_eda_down_key){len ? en->keys[k] : NULL, (uint32_t)len, t};
        en->check.nunreleased++;
    }
    return 0;
}

static int parse_folder(kx_eda_sidecar *sc, size_t *pos, const line_in *l, kx_eda_sc_folder *f, kx_err *err)
{
    size_t len;
    if (l->nf != 6 || strcmp(l->f[0], "F") || !parse_size(l->f[1], &f->device) || f->device >= sc->ndevices ||
        !(f->partition = unesc(l->f[2], &len)) || !(f->folder = unesc(l->f[3], &len)) || !len ||
        !parse_size(l->f[4], &f->files) || !parse_size(l->f[5], &f->entries) || f->entries > f->files)
        return kx_fail(err, "bad folder record");
    f->body_off = *pos;
    f->e = kx_calloc(f->entries ? f->entries : 1, sizeof *f->e);
    for (size_t i = 0; i < f->entries; i++) {
        line_in rl;
        size_t ls;
        if (!next_line(&sc->data, pos, &rl, &ls)) return kx_fail(err, "truncated folder record");
        if (parse_entry(sc, pos, &rl, &f->e[i], err) < 0) {
            free_entry(&f->e[i]);
            for (size_t k = 0; k < i; k++) free_entry(&f->e[k]);
            free(f->e);
            f->e = NULL;
            return -1;
        }
    }
    f->body_len = *pos - f->body_off;
    return 0;
}

static int parse_header(kx_eda_sidecar *sc, size_t *pos, kx_err *err)
{
    line_in l;
    size_t ls, n, len;
    if (!next_line(&sc->data, pos, &l, &ls) || l.nf != 2 || strcmp(l.f[0], SIDECAR_MAGIC))
        return kx_fail(err, "not an eda sidecar");
    if (strcmp(l.f[1], "1")) return kx_fail(err, "sidecar format %s, expected %d", l.f[1], SIDECAR_FORMAT);
    if (!next_line(&sc->data, pos, &l, &ls) || l.nf < 2 || strcmp(l.f[0], "devices") || !parse_size(l.f[1], &n) ||
        n > MAX_FIELDS - 2 || l.nf != n + 2)
        return kx_fail(err, "bad devices line");
    sc->devices = kx_calloc(n ? n : 1, sizeof *sc->devices);
    for (size_t i = 0; i < n; i++) {
        if (!(sc->devices[i] = unesc(l.f[i + 2], &len))) return kx_fail(err, "bad devices line");
        sc->ndevices++;
    }
    if (!next_line(&sc->data, pos, &l, &ls) || l.nf != 2 || strcmp(l.f[0], "cleaning") ||
        !(sc->cleaning_id = unesc(l.f[1], &len)))
        return kx_fail(err, "bad cleaning line");
    return 0;
}

/* Parses sc->data (modified in place: fields NUL-terminated). */
static int parse_sidecar(kx_eda_sidecar *sc, kx_err *err)
{
    size_t pos = 0, cap = 0, ls;
    if (!sc->data.len || sc->data.data[sc->data.len - 1] != '\n') return kx_fail(err, "truncated");
    if (parse_header(sc, &pos, err) < 0) return -1;
    line_in l;
    while (next_line(&sc->data, &pos, &l, &ls)) {
        if (!strcmp(l.f[0], "end")) {
            size_t nf, nfiles;
            if (l.nf != 3 || !parse_size(l.f[1], &nf) || !parse_size(l.f[2], &nfiles) || nf != sc->n ||
                nfiles != sc->files || pos != sc->data.len)
                return kx_fail(err, "bad trailer");
            return 0;
        }
        sc->f = kx_grow(sc->f, &cap, sc->n + 1, sizeof *sc->f);
        kx_eda_sc_folder *f = &sc->f[sc->n++];
        memset(f, 0, sizeof *f);
        if (parse_folder(sc, &pos, &l, f, err) < 0) return -1;
        sc->files += f->files;
    }
    return kx_fail(err, "no trailer");
}

int kx_eda_sidecar_load(const char *path, kx_eda_sidecar *sc, kx_err *err)
{
    memset(sc, 0, sizeof *sc);
    if (kx_read_file(path, &sc->data, err) < 0) return -1;
    /* parsing splits a copy in place; data keeps the original bytes (body_off/body_len, for
     * records carried into a new sidecar); everything parsed is decoded into heap strings */
    kx_buf raw = KX_BUF_INIT;
    kx_buf_put(&raw, sc->data.data ? sc->data.data : "", sc->data.len);
    kx_buf tmp = sc->data;
    sc->data = raw;
    raw = tmp;
    int rc = parse_sidecar(sc, err);
    tmp = sc->data;
    sc->data = raw;
    kx_buf_free(&tmp);
    if (rc == 0) return 0;
    kx_err inner = *err;
    kx_fail(err, "%s: %s", path, inner.msg);
    kx_eda_sidecar_free(sc);
    return -1;
}

void kx_eda_sidecar_free(kx_eda_sidecar *sc)
{
    for (size_t i = 0; i < sc->n; i++) {
        kx_eda_sc_folder *f = &sc->f[i];
        if (f->e)
            for (size_t k = 0; k < f->entries; k++) free_entry(&f->e[k]);
        free(f->e);
        free(f->folder);
        free(f->partition);
    }
    free(sc->f);
    for (size_t i = 0; i < sc->ndevices; i++) free(sc->devices[i]);
    free(sc->devices);
    free(sc->cleaning_id);
    kx_buf_free(&sc->data);
    memset(sc, 0, sizeof *sc);
}

int kx_eda_sidecar_open(const char *version_dir, char *const *devices, size_t ndevices, kx_eda_sidecar *sc,
                        kx_err *err)
{
    char *path = kx_path_join3(version_dir, "etl_metadata", "keypairs/" KX_EDA_SIDECAR_FILE);
    int rc = -1;
    memset(sc, 0, sizeof *sc);
    if (!kx_is_file(path)) {
        kx_fail(err, "%s does not exist", path);
    } else if (kx_eda_sidecar_load(path, sc, err) == 0) {
        char *id = kx_eda_cleaning_id(version_dir);
        bool same = sc->ndevices == ndevices;
        for (size_t i = 0; same && i < ndevices; i++) same = !strcmp(sc->devices[i], devices[i]);
        if (!same) kx_fail(err, "%s was written for other DEVICE_TYPES", path);
        else if (strcmp(id, sc->cleaning_id)) kx_fail(err, "%s describes other cleaned data", path);
        else rc = 0;
        free(id);
        if (rc < 0) kx_eda_sidecar_free(sc);
    }
    free(path);
    return rc;
}

/* ---- replay -------------------------------------------------------------------------------- */

/* eda's folder order (stage_eda.c user_dir_cmp): folder name, then discovery order = device
 * index, then the top-level entry of raw_data/ holding it (the folder itself, or its
 * batch_<digits> partition) in bytewise order. keypairs sorts by (name, device, partition)
 * instead, which differs when a plain folder's name sorts after a partition's name. */
static int eda_order_cmp(const void *pa, const void *pb)
{
    const kx_eda_sc_folder *a = *(kx_eda_sc_folder *const *)pa, *b = *(kx_eda_sc_folder *const *)pb;
    int c = strcmp(a->folder, b->folder);
    if (c) return c;
    if (a->device != b->device) return a->device < b->device ? -1 : 1;
    return strcmp(a->partition[0] ? a->partition : a->folder, b->partition[0] ? b->partition : b->folder);
}

size_t kx_eda_sidecar_replay(kx_eda *e, const kx_eda_sidecar *sc)
{
    const kx_eda_sc_folder **order = kx_malloc((sc->n ? sc->n : 1) * sizeof *order);
    for (size_t i = 0; i < sc->n; i++) order[i] = &sc->f[i];
    kx_qsort(order, sc->n, sizeof *order, eda_order_cmp);
    size_t files = 0;
    for (size_t i = 0; i < sc->n; i++) {
        const kx_eda_sc_folder *f = order[i];
        /* files without an entry only count as read; order matters only among entries */
        kx_eda_add_clean_files(e, f->files - f->entries);
        for (size_t k = 0; k < f->entries; k++) {
            const kx_eda_sc_entry *en = &f->e[k];
            char uid[KX_UID_LEN + 1];
            size_t n = strlen(en->file_name);
            memcpy(uid, en->file_name + n - 4 - KX_UID_LEN, KX_UID_LEN);
            uid[KX_UID_LEN] = 0;
            kx_eda_add_file_check(e, uid, en->file_name, &en->check);
        }
        files += f->files;
    }
    free(order);
    return files;
}
