/* eda.h — the data-quality analyses of the `eda` stage (spec 05 §7.1), pure computation.
 *
 * Usage:
 *     kx_eda *e = kx_eda_new();
 *     for each user in table order:      kx_eda_add_user(e, &user_keypairs);
 *     for each keystroke file (users, then files, sorted):
 *                                        kx_eda_scan_file(e, uid, file_name, events, n);
 *     with INCLUDE_PII:                  kx_eda_set_consent(e, uid, timestamp);
 *     json_t *doc = kx_eda_results(e, &meta);   // analysis_results.json, keys in spec order
 *     ... kx_eda_distribution(e, KX_EDA_HL, ...) for charts (after results) ...
 *     kx_eda_free(e);
 *
 * Memory: per feature (HL/IL/PL/RL) an exact value -> count map (memory proportional to the
 * DISTINCT values, not the rows: timings are differences of integer ms timestamps, so a few
 * thousand distinct values even at 10^8 rows; exact for any input), one small record per
 * user, the distinct negative-IL/RL key pairs, and the rows with HL > 5000 ms. Per-user
 * pattern counts are kept only for the user being added (a user's rows are contiguous in
 * table order, 02 §5).
 */
#ifndef KX_CORE_EDA_H
#define KX_CORE_EDA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/keypair.h"
#include "core/keystroke.h"

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

/* The scan of one file split in two, so that the per-file result can be computed elsewhere
 * (in the keypairs stage's workers), stored (the eda sidecar, docs/keypairs.md) and replayed:
 * kx_eda_scan_file(e, u, f, ev, n) == kx_eda_check_file(ev, n, &c) then
 * kx_eda_add_file_check(e, u, f, &c). Replaying the checks of the same files in the same
 * order gives the same accumulator state (issue types in first-seen order, unreleased_keys
 * insertion order). */
typedef enum kx_eda_issue {
    KX_EDA_DOUBLE_PRESS = 0,
    KX_EDA_ORPHAN_RELEASE,
    KX_EDA_NEGATIVE_HOLD_TIME,
    KX_EDA_NISSUE
} kx_eda_issue;

extern const char *const kx_eda_issue_names[KX_EDA_NISSUE]; /* "double_press", ... */

typedef struct kx_eda_down_key {
    const char *key;  /* NULL (key_len 0) = the missing key */
    uint32_t key_len;
    double time;      /* press time */
} kx_eda_down_key;

typedef struct kx_eda_file_check {
    kx_eda_issue issue_order[KX_EDA_NISSUE]; /* issue types in first-seen order */
    int64_t issue_counts[KX_EDA_NISSUE];      /* by position in issue_order */
    size_t nissue;
    kx_eda_down_key *unreleased; /* keys still down at the end, in the order they went down;
                                    key bytes point into the events' keys */
    size_t nunreleased;
} kx_eda_file_check;

/* Pure and thread-safe (the events array is stably sorted by time, in place). */
void kx_eda_check_file(kx_eda_event *events, size_t n, kx_eda_file_check *c);
void kx_eda_file_check_free(kx_eda_file_check *c);
/* The same check over the events the keypairs parser kept (kx_ks_work.keep_events): event i
 * has the key keys->keys[ev[i].key] (KX_KEY_MISSING: the missing key). Gives exactly the
 * result of kx_eda_check_file over the events parsed from the same bytes (interned keys are
 * the normalised bytes, so bytes are equal iff ids are); unreleased keys point into keys.
 * ev is not modified. Pure and thread-safe. */
void kx_eda_check_keyed(const kx_ks_keyed_event *ev, size_t n, const kx_keytab *keys, kx_eda_file_check *c);
/* Adds one file's check (counts as one file read). */
void kx_eda_add_file_check(kx_eda *e, const char *user_id, const char *file_name, const kx_eda_file_check *c);
/* Counts n files read that had no issue and no unreleased key (the same as adding their
 * empty checks). */
void kx_eda_add_clean_files(kx_eda *e, size_t n);

/* The reordering kx_eda_scan_file applies (stable sort by time), pure and thread-safe: a
 * caller may run it in parallel beforehand; scan then finds the events already in order. */
void kx_eda_sort_events(kx_eda_event *events, size_t n);

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

/* Distribution of a feature over valid rows with a value (valid after kx_eda_results): the
 * n distinct values ascending, with counts[i] occurrences each and cum[i] = counts[0..i]
 * summed (cum[n-1] = number of values). */
const double *kx_eda_distribution(const kx_eda *e, kx_eda_feature f, const int64_t **counts, const int64_t **cum,
                                  size_t *n);

/* Value at 0-based rank k (0 <= k < cum[n-1]) of the multiset (v, cum) above. */
double kx_eda_value_at(const double *v, const int64_t *cum, size_t n, int64_t k);
/* kx_eda_quantile over the multiset (v, cum): the same interpolation on ranks. n > 0. */
double kx_eda_wquantile(const double *v, const int64_t *cum, size_t n, double p);

/* Quantile of sorted x (03 §5: linear interpolation, h = (n-1)p). n must be > 0. */
double kx_eda_quantile(const double *sorted, size_t n, double p);
/* printf("%.1f") rounding of a double, returned as a double. */
double kx_eda_round1(double v);

#endif
