/* config_load.c — .env parsing and the layering of spec 05 §2.1. */
#include "pipeline/config_load.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "io/fs.h"
#include "util/buf.h"
#include "util/mem.h"

void kx_config_overrides_add(kx_config_overrides *o, const char *key, const char *value)
{
    o->items = kx_grow(o->items, &o->cap, o->n + 1, sizeof *o->items);
    o->items[o->n].key = kx_strdup(key);
    o->items[o->n].value = kx_strdup(value);
    o->n++;
}

int kx_config_overrides_add_kv(kx_config_overrides *o, const char *kv, kx_err *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return kx_fail(err, "--set needs KEY=VALUE, got '%s'", kv);
    char *key = kx_strndup(kv, (size_t)(eq - kv));
    kx_config_overrides_add(o, key, eq + 1);
    free(key);
    return 0;
}

void kx_config_overrides_free(kx_config_overrides *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->items[i].key);
        free(o->items[i].value);
    }
    free(o->items);
    memset(o, 0, sizeof *o);
}

static void note(kx_config_notes *n, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(kx_config_notes *n, int level, const char *fmt, ...)
{
    if (!n) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    n->items = kx_grow(n->items, &n->cap, n->n + 1, sizeof *n->items);
    n->items[n->n].level = level;
    n->items[n->n].msg = kx_strdup(msg);
    n->n++;
}

void kx_config_notes_free(kx_config_notes *n)
{
    for (size_t i = 0; i < n->n; i++) free(n->items[i].msg);
    free(n->items);
    memset(n, 0, sizeof *n);
}

void kx_config_notes_emit(const kx_config_notes *n, kx_log *log)
{
    for (size_t i = 0; i < n->n; i++) kx_logf(log, n->items[i].level, "config", "%s", n->items[i].msg);
}

/* ---- .env syntax ------------------------------------------------------------------------- */

static char *trim(char *a, char *b) /* trims [a, b) in place, returns a NUL-terminated start */
{
    while (a < b && isspace((unsigned char)*a)) a++;
    while (b > a && isspace((unsigned char)b[-1])) b--;
    *b = '\0';
    return a;
}

/* Decodes the value part (already trimmed) into out. A quoted value runs to its matching
 * quote; after it only blanks or a " #" comment may follow. */
static int decode_value(const char *v, kx_buf *out, const char *path, int line, kx_err *err)
{
    size_t n = strlen(v);
    if (v[0] == '\'' || v[0] == '"') {
        char q = v[0];
        size_t i = 1;
        for (; i < n && v[i] != q; i++) {
            if (q == '"' && v[i] == '\\' && i + 1 < n && (v[i + 1] == '"' || v[i + 1] == '\\')) i++;
            kx_buf_putc(out, v[i]);
        }
        if (i >= n) return kx_fail(err, "%s:%d: syntax error: unterminated quoted value", path, line);
        const char *rest = v + i + 1;
        while (*rest == ' ' || *rest == '\t') rest++;
        if (*rest && !(*rest == '#' && rest > v + i + 1))
            return kx_fail(err, "%s:%d: syntax error: text after the closing quote", path, line);
        return 0;
    }
    /* Unquoted: ends before the first " #" (a space or tab followed by '#'). */
    size_t end = n;
    for (size_t i = 0; i + 1 < n; i++)
        if ((v[i] == ' ' || v[i] == '\t') && v[i + 1] == '#') {
            end = i;
            break;
        }
    while (end > 0 && isspace((unsigned char)v[end - 1])) end--;
    kx_buf_put(out, v, end);
    return 0;
}

int kx_env_parse(const char *path, const char *text, kx_env_entry_fn fn, void *arg, kx_err *err)
{
    char *copy = kx_strdup(text);
    char *p = copy;
    int line = 0, rc = 0;
    kx_buf val = KX_BUF_INIT;
    while (*p && rc == 0) {
        line++;
        char *eol = strchr(p, '\n');
        char *next = eol ? eol + 1 : p + strlen(p);
        char *end = eol ? eol : next;
        if (end > p && end[-1] == '\r') end--;
        char *s = trim(p, end);
        p = next;
        if (!*s || *s == '#') continue;
        if (!strncmp(s, "export", 6) && (s[6] == ' ' || s[6] == '\t')) s = trim(s + 7, s + strlen(s));
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = kx_fail(err, "%s:%d: syntax error: expected KEY=VALUE", path, line);
            break;
        }
        char *key = trim(s, eq);
        char *v = trim(eq + 1, eq + 1 + strlen(eq + 1));
        if (!*key) {
            rc = kx_fail(err, "%s:%d: syntax error: empty key", path, line);
            break;
        }
        kx_buf_reset(&val);
        kx_buf_putc(&val, '\0'); /* make sure data is allocated */
        kx_buf_reset(&val);
        if (decode_value(v, &val, path, line, err) != 0) {
            rc = -1;
            break;
        }
        rc = fn(arg, key, val.data, line, err);
    }
    kx_buf_free(&val);
    free(copy);
    return rc;
}

/* ---- layering ---------------------------------------------------------------------------- */

typedef struct file_layer {
    kx_config *c;
    const char *path;
    const char *source;
    kx_config_notes *notes;
} file_layer;

static int apply_file_entry(void *arg, const char *key, const char *value, int line, kx_err *err)
{
    file_layer *fl = arg;
    if (kx_setting_index(key) < 0) {
        note(fl->notes, KX_LOG_DEBUG, "%s:%d: ignoring unknown key %s", fl->path, line, key);
        return 0;
    }
    kx_err e = {{0}};
    if (kx_config_set(fl->c, key, value, fl->source, &e) != 0)
        return kx_fail(err, "%s:%d: %s", fl->path, line, e.msg);
    return 0;
}

static int load_file(kx_config *c, const char *path, kx_config_notes *notes, kx_err *err)
{
    kx_buf text = KX_BUF_INIT;
    if (kx_read_file(path, &text, err) != 0) {
        kx_buf_free(&text);
        return -1;
    }
    file_layer fl = {c, path, kx_config_own_source(c, path), notes};
    int rc = kx_env_parse(path, text.data ? text.data : "", apply_file_entry, &fl, err);
    kx_buf_free(&text);
    return rc;
}

int kx_config_load(kx_config *c, const char *config_dir, const kx_config_overrides *cli,
                   kx_config_notes *notes, kx_err *err)
{
    if (!config_dir || !*config_dir) config_dir = "config";
    char *env_path = kx_path_join(config_dir, ".env");
    char *local_path = kx_path_join(config_dir, ".env.local");
    int rc = -1;
    if (kx_exists(env_path)) {
        if (load_file(c, env_path, notes, err) != 0) goto out;
    } else if (kx_exists("./.env")) {
        note(notes, KX_LOG_WARNING, "%s not found; reading ./.env instead (move it to %s)", env_path, env_path);
        if (load_file(c, "./.env", notes, err) != 0) goto out;
    }
    if (kx_exists(local_path) && load_file(c, local_path, notes, err) != 0) goto out;
    for (size_t i = 0; i < kx_settings_count; i++) {
        const char *v = getenv(kx_settings[i].key);
        if (!v) continue;
        kx_err e = {{0}};
        if (kx_config_set(c, kx_settings[i].key, v, "environment", &e) != 0) {
            kx_fail(err, "environment: %s", e.msg);
            goto out;
        }
    }
    for (size_t i = 0; cli && i < cli->n; i++)
        if (kx_config_set(c, cli->items[i].key, cli->items[i].value, "command line", err) != 0) goto out;
    rc = kx_config_validate(c, err);
out:
    free(env_path);
    free(local_path);
    return rc;
}
