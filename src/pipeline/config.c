#include "pipeline/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/fmt.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/pool.h"

const kx_setting_def kx_settings[] = {
    {"ARTIFACTS_DIR", "artifacts", false},
    {"METADATA_BACKEND", "sqlite", false},
    {"METADATA_DB", NULL, false},
    {"METADATA_DB_URL", "", true},
    {"RAW_SOURCE", "", false},
    {"BUCKET_NAME", "", false},
    {"S3_ENDPOINT_URL", "", false},
    {"S3_REGION", "us-east-1", false},
    {"S3_ADDRESSING", "path", false},
    {"AWS_ACCESS_KEY_ID", "", true},
    {"AWS_SECRET_ACCESS_KEY", "", true},
    {"AWS_SESSION_TOKEN", "", true},
    {"DEVICE_TYPES", "desktop", false},
    {"INCLUDE_PII", "false", false},
    {"KEEP_OUTLIERS", "false", false},
    {"TOP_K", "10", false},
    {"OUTLIER_HL_MIN_MS", "30", false},
    {"OUTLIER_HL_MAX_MS", "2000", false},
    {"OUTLIER_IL_ABS_MAX_MS", "1000", false},
    {"CLEAN_MIN_ROWS", "290", false},
    {"OUTPUT_FORMATS", "parquet,csv", false},
    {"BATCH_SIZE", "100", false},
    {"PARALLEL_WORKERS", NULL, false},
    {"PARTITIONED_STORAGE", "false", false},
    {"INCREMENTAL", "true", false},
    {"PARQUET_COMPRESSION", "zstd", false},
    {"PARQUET_ROW_GROUP_ROWS", "65536", false},
    {"LOG_LEVEL", "INFO", false},
};
const size_t kx_settings_count = sizeof kx_settings / sizeof kx_settings[0];

int kx_setting_index(const char *key)
{
    for (size_t i = 0; i < kx_settings_count; i++)
        if (!strcmp(kx_settings[i].key, key)) return (int)i;
    return -1;
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = kx_strdup(v);
}

static int parse_bool(const char *key, const char *v, bool *out, kx_err *err)
{
    static const char *t[] = {"true", "yes", "1", "on"}, *f[] = {"false", "no", "0", "off"};
    for (int i = 0; i < 4; i++) {
        if (!strcasecmp(v, t[i])) { *out = true; return 0; }
        if (!strcasecmp(v, f[i])) { *out = false; return 0; }
    }
    return kx_fail(err, "invalid value for %s: '%s' (expected true/false, yes/no, 1/0, on/off)", key, v);
}

static int parse_int(const char *key, const char *v, int64_t lo, int64_t hi, int64_t *out, kx_err *err)
{
    char *end;
    errno = 0;
    if (!*v || isspace((unsigned char)*v)) goto bad;
    long long x = strtoll(v, &end, 10);
    if (errno || *end) goto bad;
    if (x < lo || x > hi)
        return kx_fail(err, "invalid value for %s: %s (allowed %lld ... %lld)", key, v, (long long)lo, (long long)hi);
    *out = x;
    return 0;
bad:
    return kx_fail(err, "invalid value for %s: '%s' (expected a decimal integer)", key, v);
}

static int parse_num(const char *key, const char *v, double *out, kx_err *err)
{
    char *end;
    errno = 0;
    if (!*v || isspace((unsigned char)*v)) goto bad;
    double x = strtod(v, &end);
    if (errno || *end || !isfinite(x)) goto bad;
    *out = x;
    return 0;
bad:
    return kx_fail(err, "invalid value for %s: '%s' (expected a number)", key, v);
}

/* Comma-separated, trimmed, empty items dropped, lower-cased. */
static size_t split_list(const char *v, char items[][64], size_t max)
{
    size_t n = 0;
    const char *p = v;
    while (*p && n < max) {
        const char *e = strchr(p, ',');
        if (!e) e = p + strlen(p);
        const char *a = p, *b = e;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if (b > a) {
            size_t len = (size_t)(b - a) < 63 ? (size_t)(b - a) : 63;
            for (size_t i = 0; i < len; i++) items[n][i] = (char)tolower((unsigned char)a[i]);
            items[n][len] = '\0';
            n++;
        }
        p = *e ? e + 1 : e;
    }
    return n;
}

void kx_config_init(kx_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < kx_settings_count; i++) {
        const char *d = kx_settings[i].default_text;
        if (d) kx_config_set(c, kx_settings[i].key, d, "default", NULL);
        c->source[i] = "default";
    }
    set_str(&c->metadata_db, "");
    c->parallel_workers = kx_cpu_count();
    if (c->parallel_workers > 256) c->parallel_workers = 256;
}

void kx_config_free(kx_config *c)
{
    char **strs[] = {&c->artifacts_dir, &c->metadata_backend, &c->metadata_db, &c->metadata_db_url,
                     &c->raw_source, &c->bucket_name, &c->s3_endpoint_url, &c->s3_region,
                     &c->s3_addressing, &c->aws_access_key_id, &c->aws_secret_access_key,
                     &c->aws_session_token};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
    for (size_t i = 0; i < c->n_device_types; i++) free(c->device_types[i]);
    c->n_device_types = 0;
    for (size_t i = 0; i < sizeof c->owned_sources / sizeof c->owned_sources[0]; i++) {
        free(c->owned_sources[i]);
        c->owned_sources[i] = NULL;
    }
}

const char *kx_config_own_source(kx_config *c, const char *label)
{
    for (size_t i = 0; i < sizeof c->owned_sources / sizeof c->owned_sources[0]; i++) {
        if (c->owned_sources[i] && !strcmp(c->owned_sources[i], label)) return c->owned_sources[i];
        if (!c->owned_sources[i]) return c->owned_sources[i] = kx_strdup(label);
    }
    return "file"; /* more than 4 distinct files: never happens with the fixed layers */
}

#define KX_REDACTED "***REDACTED***"

char *kx_config_get_display(const kx_config *c, size_t i)
{
    char *v = kx_config_get_text(c, i);
    if (!kx_settings[i].secret || !*v) return v;
    if (!strcmp(kx_settings[i].key, "METADATA_DB_URL")) {
        /* scheme://user:password@host/... -> only the password is hidden */
        char *scheme = strstr(v, "://");
        char *at = scheme ? strrchr(scheme + 3, '@') : NULL;
        char *colon = scheme && at ? memchr(scheme + 3, ':', (size_t)(at - (scheme + 3))) : NULL;
        if (colon) {
            char *r = kx_asprintf("%.*s:%s%s", (int)(colon - v), v, KX_REDACTED, at);
            free(v);
            return r;
        }
        if (scheme && !at) return v; /* no credentials in the URL */
    }
    free(v);
    return kx_strdup(KX_REDACTED);
}

/* DEVICE_TYPES: a non-empty list of [a-z0-9_-]+ names, duplicates dropped (first kept). */
static int set_device_types(kx_config *c, const char *v, kx_err *err)
{
    char items[KX_MAX_DEVICE_TYPES][64];
    size_t n = split_list(v, items, KX_MAX_DEVICE_TYPES);
    if (n == 0) return kx_fail(err, "invalid value for DEVICE_TYPES: '%s' (empty list)", v);
    for (size_t i = 0; i < n; i++)
        for (const char *p = items[i]; *p; p++)
            if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_' || *p == '-'))
                return kx_fail(err, "invalid value for DEVICE_TYPES: '%s' (items must match [a-z0-9_-]+)", v);
    for (size_t i = 0; i < c->n_device_types; i++) free(c->device_types[i]);
    c->n_device_types = 0;
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t j = 0; j < c->n_device_types; j++) dup |= !strcmp(c->device_types[j], items[i]);
        if (!dup) c->device_types[c->n_device_types++] = kx_strdup(items[i]);
    }
    return 0;
}

/* OUTPUT_FORMATS: a non-empty list of parquet and/or csv. */
static int set_output_formats(kx_config *c, const char *v, kx_err *err)
{
    char items[8][64];
    size_t n = split_list(v, items, 8);
    bool pq = false, csv = false;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(items[i], "parquet")) pq = true;
        else if (!strcmp(items[i], "csv")) csv = true;
        else return kx_fail(err, "invalid value for OUTPUT_FORMATS: '%s' (allowed: parquet, csv)", v);
    }
    if (!pq && !csv) return kx_fail(err, "invalid value for OUTPUT_FORMATS: '%s' (empty list)", v);
    c->out_parquet = pq;
    c->out_csv = csv;
    return 0;
}

static int set_value(kx_config *c, const char *k, const char *v, kx_err *err)
{
    int64_t i64 = 0;
    double d = 0;
    bool b = false;
    if (!strcmp(k, "ARTIFACTS_DIR")) {
        if (!*v) return kx_fail(err, "invalid value for ARTIFACTS_DIR: empty path");
        set_str(&c->artifacts_dir, v);
    } else if (!strcmp(k, "METADATA_BACKEND")) {
        if (strcmp(v, "sqlite") && strcmp(v, "postgres"))
            return kx_fail(err, "invalid value for METADATA_BACKEND: '%s' (allowed: sqlite, postgres)", v);
        set_str(&c->metadata_backend, v);
    } else if (!strcmp(k, "METADATA_DB")) set_str(&c->metadata_db, v);
    else if (!strcmp(k, "METADATA_DB_URL")) set_str(&c->metadata_db_url, v);
    else if (!strcmp(k, "RAW_SOURCE")) set_str(&c->raw_source, v);
    else if (!strcmp(k, "BUCKET_NAME")) set_str(&c->bucket_name, v);
    else if (!strcmp(k, "S3_ENDPOINT_URL")) set_str(&c->s3_endpoint_url, v);
    else if (!strcmp(k, "S3_REGION")) set_str(&c->s3_region, v);
    else if (!strcmp(k, "S3_ADDRESSING")) {
        if (strcmp(v, "path") && strcmp(v, "virtual"))
            return kx_fail(err, "invalid value for S3_ADDRESSING: '%s' (allowed: path, virtual)", v);
        set_str(&c->s3_addressing, v);
    } else if (!strcmp(k, "AWS_ACCESS_KEY_ID")) set_str(&c->aws_access_key_id, v);
    else if (!strcmp(k, "AWS_SECRET_ACCESS_KEY")) set_str(&c->aws_secret_access_key, v);
    else if (!strcmp(k, "AWS_SESSION_TOKEN")) set_str(&c->aws_session_token, v);
    else if (!strcmp(k, "DEVICE_TYPES")) {
        if (set_device_types(c, v, err) != 0) return -1;
    } else if (!strcmp(k, "INCLUDE_PII")) {
        if (parse_bool(k, v, &b, err)) return -1;
        c->include_pii = b;
    } else if (!strcmp(k, "KEEP_OUTLIERS")) {
        if (parse_bool(k, v, &b, err)) return -1;
        c->keep_outliers = b;
    } else if (!strcmp(k, "TOP_K")) {
        if (parse_int(k, v, 1, 1000, &i64, err)) return -1;
        c->top_k = (int)i64;
    } else if (!strcmp(k, "OUTLIER_HL_MIN_MS") || !strcmp(k, "OUTLIER_HL_MAX_MS") ||
               !strcmp(k, "OUTLIER_IL_ABS_MAX_MS")) {
        if (parse_num(k, v, &d, err)) return -1;
        if (d < 0) return kx_fail(err, "invalid value for %s: %s (must be >= 0)", k, v);
        if (!strcmp(k, "OUTLIER_HL_MIN_MS")) c->outlier_hl_min_ms = d;
        else if (!strcmp(k, "OUTLIER_HL_MAX_MS")) c->outlier_hl_max_ms = d;
        else c->outlier_il_abs_max_ms = d;
    } else if (!strcmp(k, "CLEAN_MIN_ROWS")) {
        if (parse_int(k, v, 0, INT64_MAX, &i64, err)) return -1;
        c->clean_min_rows = i64;
    } else if (!strcmp(k, "OUTPUT_FORMATS")) {
        if (set_output_formats(c, v, err) != 0) return -1;
    } else if (!strcmp(k, "BATCH_SIZE")) {
        if (parse_int(k, v, 1, 100000000, &i64, err)) return -1;
        c->batch_size = i64;
    } else if (!strcmp(k, "PARALLEL_WORKERS")) {
        if (parse_int(k, v, 1, 256, &i64, err)) return -1;
        c->parallel_workers = (int)i64;
    } else if (!strcmp(k, "PARTITIONED_STORAGE")) {
        if (parse_bool(k, v, &b, err)) return -1;
        c->partitioned_storage = b;
    } else if (!strcmp(k, "INCREMENTAL")) {
        if (parse_bool(k, v, &b, err)) return -1;
        c->incremental = b;
    } else if (!strcmp(k, "PARQUET_COMPRESSION")) {
        if (!strcmp(v, "zstd")) c->parquet_compression = KX_CODEC_ZSTD;
        else if (!strcmp(v, "snappy")) c->parquet_compression = KX_CODEC_SNAPPY;
        else if (!strcmp(v, "none")) c->parquet_compression = KX_CODEC_NONE;
        else return kx_fail(err, "invalid value for PARQUET_COMPRESSION: '%s' (allowed: zstd, snappy, none)", v);
    } else if (!strcmp(k, "PARQUET_ROW_GROUP_ROWS")) {
        if (parse_int(k, v, 1024, INT64_MAX, &i64, err)) return -1;
        c->parquet_row_group_rows = i64;
    } else if (!strcmp(k, "LOG_LEVEL")) {
        int l = kx_log_level_parse(v);
        if (l < 0) return kx_fail(err, "invalid value for LOG_LEVEL: '%s' (allowed: DEBUG, INFO, WARNING, ERROR)", v);
        c->log_level = l;
    } else {
        return kx_fail(err, "unknown setting %s", k);
    }
    return 0;
}

int kx_config_set(kx_config *c, const char *key, const char *value, const char *source, kx_err *err)
{
    int idx = kx_setting_index(key);
    if (idx < 0) return kx_fail(err, "unknown setting %s", key);
    if (set_value(c, key, value, err) != 0) return -1;
    c->source[idx] = source;
    return 0;
}

int kx_config_validate(const kx_config *c, kx_err *err)
{
    if (!(c->outlier_hl_max_ms > c->outlier_hl_min_ms))
        return kx_fail(err, "invalid settings: OUTLIER_HL_MAX_MS must be greater than OUTLIER_HL_MIN_MS");
    return 0;
}

char *kx_config_get_text(const kx_config *c, size_t i)
{
    const char *k = kx_settings[i].key;
    char num[KX_FMT_DOUBLE_MAX];
    if (!strcmp(k, "ARTIFACTS_DIR")) return kx_strdup(c->artifacts_dir);
    if (!strcmp(k, "METADATA_BACKEND")) return kx_strdup(c->metadata_backend);
    if (!strcmp(k, "METADATA_DB")) return kx_config_metadata_db(c);
    if (!strcmp(k, "METADATA_DB_URL")) return kx_strdup(c->metadata_db_url);
    if (!strcmp(k, "RAW_SOURCE")) return kx_strdup(c->raw_source);
    if (!strcmp(k, "BUCKET_NAME")) return kx_strdup(c->bucket_name);
    if (!strcmp(k, "S3_ENDPOINT_URL")) return kx_strdup(c->s3_endpoint_url);
    if (!strcmp(k, "S3_REGION")) return kx_strdup(c->s3_region);
    if (!strcmp(k, "S3_ADDRESSING")) return kx_strdup(c->s3_addressing);
    if (!strcmp(k, "AWS_ACCESS_KEY_ID")) return kx_strdup(c->aws_access_key_id);
    if (!strcmp(k, "AWS_SECRET_ACCESS_KEY")) return kx_strdup(c->aws_secret_access_key);
    if (!strcmp(k, "AWS_SESSION_TOKEN")) return kx_strdup(c->aws_session_token);
    if (!strcmp(k, "DEVICE_TYPES")) {
        kx_buf b = KX_BUF_INIT;
        for (size_t j = 0; j < c->n_device_types; j++) {
            if (j) kx_buf_putc(&b, ',');
            kx_buf_puts(&b, c->device_types[j]);
        }
        return kx_buf_steal(&b);
    }
    if (!strcmp(k, "INCLUDE_PII")) return kx_strdup(c->include_pii ? "true" : "false");
    if (!strcmp(k, "KEEP_OUTLIERS")) return kx_strdup(c->keep_outliers ? "true" : "false");
    if (!strcmp(k, "TOP_K")) return kx_asprintf("%d", c->top_k);
    if (!strcmp(k, "OUTLIER_HL_MIN_MS")) { kx_fmt_double(c->outlier_hl_min_ms, num); return kx_strdup(num); }
    if (!strcmp(k, "OUTLIER_HL_MAX_MS")) { kx_fmt_double(c->outlier_hl_max_ms, num); return kx_strdup(num); }
    if (!strcmp(k, "OUTLIER_IL_ABS_MAX_MS")) { kx_fmt_double(c->outlier_il_abs_max_ms, num); return kx_strdup(num); }
    if (!strcmp(k, "CLEAN_MIN_ROWS")) return kx_asprintf("%lld", (long long)c->clean_min_rows);
    if (!strcmp(k, "OUTPUT_FORMATS"))
        return kx_strdup(c->out_parquet && c->out_csv ? "parquet,csv" : c->out_parquet ? "parquet" : "csv");
    if (!strcmp(k, "BATCH_SIZE")) return kx_asprintf("%lld", (long long)c->batch_size);
    if (!strcmp(k, "PARALLEL_WORKERS")) return kx_asprintf("%d", c->parallel_workers);
    if (!strcmp(k, "PARTITIONED_STORAGE")) return kx_strdup(c->partitioned_storage ? "true" : "false");
    if (!strcmp(k, "INCREMENTAL")) return kx_strdup(c->incremental ? "true" : "false");
    if (!strcmp(k, "PARQUET_COMPRESSION"))
        return kx_strdup(c->parquet_compression == KX_CODEC_ZSTD ? "zstd"
                         : c->parquet_compression == KX_CODEC_SNAPPY ? "snappy" : "none");
    if (!strcmp(k, "PARQUET_ROW_GROUP_ROWS")) return kx_asprintf("%lld", (long long)c->parquet_row_group_rows);
    if (!strcmp(k, "LOG_LEVEL")) return kx_strdup(kx_log_level_name(c->log_level));
    return kx_strdup("");
}

char *kx_config_metadata_db(const kx_config *c)
{
    if (c->metadata_db && *c->metadata_db) return kx_strdup(c->metadata_db);
    return kx_asprintf("%s/catalog.sqlite", c->artifacts_dir);
}
