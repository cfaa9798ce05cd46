/* eda.h — the data-quality analyses of the `eda` stage (spec 05 §7.1), pure computation.
 *
 * Usage:
 *     kx_eda *e = kx_eda_new();
 *     for each user in table order:      kx_eda_add_user(e, &user_keypairs);
 *     for each keystroke file (users, then files, sorted):
 *                                        kx_eda_scan_file(e, uid, file_name, events, n);
 *     with INCLUDE_PII:                  kx_eda_set_consent(e, uid, timestamp);
 *     json_t *doc = kx_eda_results(e, &meta);   // analysis_results.json, keys in spec order
 *     ... kx_eda_values(e, KX_EDA_HL, &n) for charts (sorted ascending after results) ...
 *     kx_eda_free(e);
 *
 * Memory: the accumulator keeps, per valid row, its HL/IL/PL/RL values (at most 4 doubles =
 * 32 bytes per row; exact quantiles need them), one small record per user, the distinct
 * negative-IL/RL key pairs, and the rows with HL > 5000 ms. Per-user pattern counts are kept
 * only for the user being added (a user's rows are contiguous in table order, 02 §5).
 * Up to ~10^7 valid rows this is ~320 MB at most; beyond that a sketch would be needed.
 */
#ifndef KX_CORE_EDA_H
#define KX_CORE_EDA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/keypair.h"

typedef enum kx_eda_feature { KX_EDA_HL = 0, KX_EDA_IL, KX_EDA_PL, KX_EDA_RL, KX_EDA_NFEAT } kx_eda_feature;

extern const char *const kx_eda_feature_names[KX_EDA_NFEAT]; /* "HL", "IL", "PL", "RL" */

/* The fixed sorted modifier list of negative_analysis (21 names). */
extern const char *const kx_eda_modifier_keys[];
extern const size_t kx_eda_modifier_count;
bool kx_eda_is_modifier(const char *key, size_t len);

#define KX_EDA_EXTREME_HL_MS 5000.0

typedef struct kx_eda kx_eda;

kx_eda *kx_eda_new(void);
void kx_eda_free(kx_eda *e);

/* Feed one user's rows (table order). Rows of one user id must be contiguous; a user id
 * fed twice in a row (two devices) is merged. */
void kx_eda_add_user(kx_eda *e, const kx_user_keypairs *u);

/* One parsed line of a keystroke file (01 §2), in file order. key == NULL or key_len 0 is
 * the missing key. */
typedef struct kx_eda_event {
    const char *key;
    uint32_t key_len;
    bool press;
    double time;
} kx_eda_event;

/* Quality scan of one keystroke file (the events array is reordered: stable sort by time).
 * Files must come users-sorted, then files-sorted. */
void kx_eda_scan_file(kx_eda *e, const char *user_id, const char *file_name, kx_eda_event *events,
                      size_t n);

/* Consent timestamp for a user (INCLUDE_PII only); the first one given for an id wins. */
void kx_eda_set_consent(kx_eda *e, const char *user_id, const char *timestamp);

typedef struct kx_eda_meta {
    const char *version_id;
    const char *timestamp;          /* YYYY-MM-DD HH:MM:SS */
    const char *path_keypairs;      /* data_paths */
    const char *path_metadata;
    const char *path_raw_data;
    const char *path_analysis_results;
} kx_eda_meta;

/* Builds analysis_results.json (new reference). Finalises the accumulator: afterwards
 * kx_eda_values returns sorted arrays and no more data may be added. */
json_t *kx_eda_results(kx_eda *e, const kx_eda_meta *meta);

/* Values of a feature over valid rows with a value (sorted after kx_eda_results). */
const double *kx_eda_values(const kx_eda *e, kx_eda_feature f, size_t *n);

/* Quantile of sorted x (03 §5: linear interpolation, h = (n-1)p). n must be > 0. */
double kx_eda_quantile(const double *sorted, size_t n, double p);
/* printf("%.1f") rounding of a double, returned as a double. */
double kx_eda_round1(double v);

#endif
