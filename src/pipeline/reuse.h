/* reuse.h — incremental reuse of a base version's per-user work (spec 05 §6.4, 02 §7).
 *
 * The runner passes a base version to `clean` and `keypairs` only when reuse is allowed
 * (same settings and engine version, base stages completed). This module reads what the
 * base left behind and answers "may this user's work be taken over?":
 *
 *   - kx_user_sums: etl_metadata/cleaning/user_checksums.json of a version (01 §5.4),
 *     sorted by uid for binary search. A user is *unchanged* when base and current entries
 *     have the same checksum.
 *   - kx_clean_base: what `clean` needs to skip reading an unchanged user's files (see
 *     docs/incremental.md for the rule and why it is safe).
 *   - kx_kp_ustats: the per-folder sidecar etl_metadata/keypairs/user_stats.csv that every
 *     keypairs run writes, so a later run knows each user's file count, read errors and the
 *     byte range of its malformed_rows.csv entries without re-parsing.
 *
 * Every loader returns 0 / -1 (kx_err); callers treat -1 as "no reuse" (log and recompute),
 * never as a stage failure, because a from-scratch computation is always correct.
 */
#ifndef KX_PIPELINE_REUSE_H
#define KX_PIPELINE_REUSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/keypair.h"
#include "util/err.h"

/* ---- user_checksums.json ------------------------------------------------------------------ */

typedef struct kx_user_sum {
    char uid[KX_UID_LEN + 1];
    char checksum[65];
    int64_t files, bytes;
    bool complete;
    char device[16];
} kx_user_sum;

typedef struct kx_user_sums {
    kx_user_sum *v; /* sorted by uid */
    size_t n;
} kx_user_sums;

int kx_user_sums_load(const char *version_dir, kx_user_sums *out, kx_err *err);
const kx_user_sum *kx_user_sums_find(const kx_user_sums *s, const char *uid);
void kx_user_sums_free(kx_user_sums *s);

/* True when both entries exist and checksum, status and device are equal. */
bool kx_user_sum_same(const kx_user_sum *a, const kx_user_sum *b);

/* {"base_version", "reused_users", "processed_users"} for stats.incremental. */
json_t *kx_reuse_stats(const char *base_version_id, int64_t reused, int64_t processed);

/* ---- clean ------------------------------------------------------------------------------------ */

typedef struct kx_clean_base {
    char *raw_dir;       /* <base>/raw_data/web_app_data */
    kx_user_sums sums;   /* the base's user_checksums.json */
    json_t *reasons;     /* the base's broken_reasons.json */
    struct timespec t0;  /* mtime of <base>/cleaned_data: before the base read any input */
} kx_clean_base;

int kx_clean_base_load(const char *base_dir, kx_clean_base *b, kx_err *err);
void kx_clean_base_free(kx_clean_base *b);

/* True if <in_dir>/<name> is the very file object the base read (same device and inode as
 * <base raw_dir>/<name>), of the given size, and last modified before the base's clean
 * started — so its content is what the base hashed. */
bool kx_clean_base_same_file(const kx_clean_base *b, const char *in_dir, const char *name, uint64_t size);
/* The same test on stat data the caller already has (fstatat relative to open folders):
 * cur of <in_dir>/<name>, old of <base raw_dir>/<name>. */
struct stat;
bool kx_clean_base_same_stat(const kx_clean_base *b, const struct stat *cur, const struct stat *old, uint64_t size);

/* The base's minimum-rows reason of uid (01 §4.2 rule 2), or NULL if it had none. */
const char *kx_clean_base_min_rows_reason(const kx_clean_base *b, const char *uid);

/* ---- keypairs sidecar (etl_metadata/keypairs/user_stats.csv) ------------------------------- */

#define KX_KP_USTATS_FILE "user_stats.csv"

typedef struct kx_kp_ustat {
    char *device;           /* device folder name */
    char *folder;           /* user folder name */
    int64_t files;          /* keystroke files (02 §1) */
    int64_t rows;           /* keypairs rows */
    int64_t malformed;      /* malformed lines */
    int64_t read_errors;    /* files that could not be read */
    bool single_user;       /* every keystroke file's user id equals the folder name */
    int64_t mal_offset;     /* byte range of its entries in malformed_rows.csv */
    int64_t mal_bytes;
    int64_t kp_offset;      /* byte range of its rows in keypairs.csv (-1: no CSV) */
    int64_t kp_bytes;
    int64_t inv_offset;     /* byte range of its rows in invalid_sequences.csv */
    int64_t inv_bytes;
    int64_t valid, invalid, outliers;
    char *errors;           /* error_distribution contributions in first-encounter order:
                               "<slot>:<count>;..." (slot = kx_kp_error, 10 = file_read_error) */
} kx_kp_ustat;

typedef struct kx_kp_ustats {
    kx_kp_ustat *v; /* output order */
    size_t n, cap;
} kx_kp_ustats;

void kx_kp_ustats_push(kx_kp_ustats *s, const kx_kp_ustat *u); /* copies the strings */
void kx_kp_ustats_free(kx_kp_ustats *s);
/* Writes <dir>/user_stats.csv (atomically). */
int kx_kp_ustats_write(const kx_kp_ustats *s, const char *dir, kx_err *err);
/* Reads <version_dir>/etl_metadata/keypairs/user_stats.csv. */
int kx_kp_ustats_load(const char *version_dir, kx_kp_ustats *s, kx_err *err);

#endif
