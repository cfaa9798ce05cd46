/* config.h — the settings of spec 05 §2.3.
 *
 * kx_config holds parsed, validated values. Every setting is also described in a
 * registry (kx_settings[]) with its key, default text and where its current value came
 * from, so `keyetl config show` and the version records can list them generically.
 * Precedence (lowest first): defaults < <config dir>/.env < .env.local < environment <
 * command line; each layer calls kx_config_set with its source name.
 */
#ifndef KX_PIPELINE_CONFIG_H
#define KX_PIPELINE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum { KX_CODEC_ZSTD = 0, KX_CODEC_SNAPPY = 1, KX_CODEC_NONE = 2 };

#define KX_MAX_DEVICE_TYPES 16

typedef struct kx_config {
    char *artifacts_dir;
    char *metadata_backend;
    char *metadata_db;      /* empty = <ARTIFACTS_DIR>/catalog.sqlite */
    char *metadata_db_url;  /* secret */
    char *raw_source;
    char *bucket_name;
    char *s3_endpoint_url;
    char *s3_region;
    char *s3_addressing;
    char *aws_access_key_id;     /* secret */
    char *aws_secret_access_key; /* secret */
    char *aws_session_token;     /* secret */
    char *device_types[KX_MAX_DEVICE_TYPES];
    size_t n_device_types;
    bool include_pii;
    bool keep_outliers;
    int top_k;
    double outlier_hl_min_ms;
    double outlier_hl_max_ms;
    double outlier_il_abs_max_ms;
    int64_t clean_min_rows;
    bool out_parquet;
    bool out_csv;
    int64_t batch_size;
    int parallel_workers;
    bool partitioned_storage;
    bool incremental;
    int parquet_compression; /* KX_CODEC_* */
    int64_t parquet_row_group_rows;
    int log_level;           /* KX_LOG_* */

    /* Provenance: source name per registry entry ("default", "config/.env", "environment",
     * "command line", ...). Points at static text or at owned_sources. */
    const char *source[40];
    char *owned_sources[4]; /* file-name labels owned by the config (freed by kx_config_free) */
} kx_config;

typedef struct kx_setting_def {
    const char *key;
    const char *default_text; /* NULL = computed (METADATA_DB, PARALLEL_WORKERS) */
    bool secret;
} kx_setting_def;

extern const kx_setting_def kx_settings[];
extern const size_t kx_settings_count;

/* Fills every setting with its default. */
void kx_config_init(kx_config *c);
void kx_config_free(kx_config *c);
/* Parse and validate one setting. Unknown key or bad value: -1 with a message naming the
 * key, the value and what is allowed. `source` is kept (must outlive c). */
int kx_config_set(kx_config *c, const char *key, const char *value, const char *source, kx_err *err);
/* Cross-setting checks (e.g. OUTLIER_HL_MAX_MS > OUTLIER_HL_MIN_MS). */
int kx_config_validate(const kx_config *c, kx_err *err);
/* Index of key in kx_settings, or -1. */
int kx_setting_index(const char *key);
/* Current value of setting i as text (secrets not redacted); caller frees. */
char *kx_config_get_text(const kx_config *c, size_t i);
/* Value of setting i as shown to people and written to logs and records: secrets that are
 * set become "***REDACTED***" (for METADATA_DB_URL only the password part); caller frees. */
char *kx_config_get_display(const kx_config *c, size_t i);
/* Keeps a copy of a source label for the lifetime of c and returns it (at most 4). */
const char *kx_config_own_source(kx_config *c, const char *label);
/* Effective METADATA_DB path (default derived from ARTIFACTS_DIR); caller frees. */
char *kx_config_metadata_db(const kx_config *c);

#endif
