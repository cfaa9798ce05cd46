/* config_load.h — building the effective configuration from its layers (spec 05 §2).
 *
 * Precedence, lowest first:
 *   built-in defaults < <config dir>/.env (or ./.env, with a warning, when that file is
 *   missing) < <config dir>/.env.local < process environment (known keys only) <
 *   command line (dedicated flags and --set, applied left to right).
 *
 * The command line is collected first into a kx_config_overrides list (because
 * --config-dir may follow a --set), then kx_config_load applies every layer. Messages
 * produced before a log exists (unknown keys at DEBUG, the ./.env fallback warning) are
 * collected in kx_config_notes so the caller can log them once LOG_LEVEL is known.
 */
#ifndef KX_PIPELINE_CONFIG_LOAD_H
#define KX_PIPELINE_CONFIG_LOAD_H

#include <stddef.h>

#include "pipeline/config.h"
#include "util/err.h"
#include "util/log.h"

typedef struct kx_config_override {
    char *key;
    char *value;
} kx_config_override;

/* Ordered command-line settings (owned strings). */
typedef struct kx_config_overrides {
    kx_config_override *items;
    size_t n, cap;
} kx_config_overrides;

typedef struct kx_config_note {
    int level; /* KX_LOG_* */
    char *msg;
} kx_config_note;

typedef struct kx_config_notes {
    kx_config_note *items;
    size_t n, cap;
} kx_config_notes;

void kx_config_overrides_add(kx_config_overrides *o, const char *key, const char *value);
/* Parses "KEY=VALUE" (as given to --set) and appends it; -1 if there is no '='. The key
 * is checked later, by kx_config_load (an unknown key is an error there). */
int kx_config_overrides_add_kv(kx_config_overrides *o, const char *kv, kx_err *err);
void kx_config_overrides_free(kx_config_overrides *o);

void kx_config_notes_free(kx_config_notes *n);
/* Writes every note to log (at its level, component "config"). */
void kx_config_notes_emit(const kx_config_notes *n, kx_log *log);

/* Called by kx_env_parse for each KEY=VALUE line, with the 1-based line number. */
typedef int (*kx_env_entry_fn)(void *arg, const char *key, const char *value, int line, kx_err *err);

/* Parses .env text (§2.2): optional "export " prefix, blank and '#' lines ignored, key and
 * value trimmed, '...' literal, "..." literal except \" and \\, unquoted values end before
 * the first " #". A line without '=' is an error naming `path` and the line. */
int kx_env_parse(const char *path, const char *text, kx_env_entry_fn fn, void *arg, kx_err *err);

/* Builds the effective configuration into c (which must be kx_config_init'ed).
 * config_dir NULL means "config". Validation errors (bad value, unknown --set key,
 * .env syntax, cross-setting checks) return -1 with the message in err: exit code 2. */
int kx_config_load(kx_config *c, const char *config_dir, const kx_config_overrides *cli,
                   kx_config_notes *notes, kx_err *err);

#endif
