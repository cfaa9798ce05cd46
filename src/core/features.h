/* features.h — statistical feature extraction (spec 03 §1–§7), pure computation.
 *
 * The keypairs table is consumed twice, one user at a time, so memory never holds every
 * keypair at once:
 *
 *   pass 1 (selection)    kx_fsel_add_user() for every user, then kx_fsel_finish():
 *                         the unigram set (keys of V), the digram row counts over V and
 *                         the number of users whose V contains each digram. A digram is
 *                         in the intersection I iff every user with a V row typed it, so
 *                         the per-user sets never need to be kept, only counted.
 *   pass 2 (aggregation)  kx_features_user() turns one user's rows into that user's
 *                         platform/session/video rows (thread-safe, no shared state);
 *                         kx_ftable_append() adds them, in user order, to the tables.
 *   imputation            kx_ftable_impute() per table, after the last user (03 §6).
 *
 * Feature cells are NaN while missing; after imputation none is.
 */
#ifndef KX_CORE_FEATURES_H
#define KX_CORE_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/keypair.h"
#include "core/stats.h"

/* ---- selection (03 §1, §3, §4) ----------------------------------------------------------- */
typedef struct kx_feat_selection {
    kx_key *unigrams;       /* sorted bytewise */
    size_t n_unigrams;
    kx_key *digrams;        /* selected, in ranking order */
    int64_t *digram_counts; /* rows in V of each selected digram */
    size_t n_digrams;
    size_t intersection_size; /* |I| */
    size_t users_with_v;      /* users with at least one V row */
    int64_t rows_v, rows_f;   /* over the whole table */
} kx_feat_selection;

typedef struct kx_fsel kx_fsel;

kx_fsel *kx_fsel_new(bool keep_outliers);
void kx_fsel_add_user(kx_fsel *s, const kx_user_keypairs *u);
/* Column-level input, for readers whose key ids are table-wide (kptable.h's kx_kpscan): the
 * rows of one (user_id, device_type) group — the unit kx_fsel_add_user takes — arrive in one
 * or more kx_fsel_group_rows calls, then kx_fsel_group_end. Key ids index `keys`, which must
 * be the same (possibly growing) table for the whole pass; each distinct key and key pair is
 * then looked up by bytes once per pass instead of once per user. Same result as
 * kx_fsel_add_user on the same groups. valid/outlier: nonzero = true. */
void kx_fsel_group_rows(kx_fsel *s, size_t n, const int32_t *key1, const int32_t *key2, const uint8_t *valid,
                        const uint8_t *outlier);
void kx_fsel_group_end(kx_fsel *s, const kx_keytab *keys);
/* Computes the selection (top_k >= 0) and frees s. */
void kx_fsel_finish(kx_fsel *s, int top_k, kx_feat_selection *out);
void kx_feat_selection_free(kx_feat_selection *sel);

/* Is this row in F (valid, and not an outlier unless outliers are kept)? */
static inline bool kx_row_in_f(const kx_keypair *r, bool keep_outliers)
{
    return r->valid && (keep_outliers || !r->outlier);
}

/* ---- feature tables (03 §2, §7) ---------------------------------------------------------- */
typedef enum kx_flevel { KX_FL_PLATFORM = 0, KX_FL_SESSION, KX_FL_VIDEO, KX_FL_COUNT } kx_flevel;

/* Column-major table: ID columns plus nfeat DOUBLE columns. */
typedef struct kx_ftable {
    kx_flevel level;
    size_t nfeat;
    size_t nrows, cap;
    char (*uids)[KX_UID_LEN + 1]; /* per row */
    int64_t *platform, *session, *video; /* per row (session/video unused below their level) */
    double **cols;                       /* nfeat arrays of nrows */
} kx_ftable;

/* Number of ID columns of a level (2, 3, 4). */
static inline size_t kx_flevel_nid(kx_flevel l) { return (size_t)l + 2; }

void kx_ftable_init(kx_ftable *t, kx_flevel level, size_t nfeat);
void kx_ftable_free(kx_ftable *t);
/* Appends one row with every feature missing (NaN); returns its index. uid must have at
 * most KX_UID_LEN bytes. */
size_t kx_ftable_add_row(kx_ftable *t, const char *uid, int64_t p, int64_t s, int64_t v);
/* Sorts rows by (user_id bytewise, platform, session, video) if they are not already. */
void kx_ftable_sort(kx_ftable *t);

/* Feature column index of unigram i / digram j, statistic s (column order of 03 §7). */
static inline size_t kx_fcol_unigram(size_t i, int s) { return i * KX_ST_COUNT + (size_t)s; }
static inline size_t kx_fcol_digram(const kx_feat_selection *sel, size_t j, int s)
{
    return (sel->n_unigrams + j) * KX_ST_COUNT + (size_t)s;
}
static inline size_t kx_feat_ncols(const kx_feat_selection *sel)
{
    return (sel->n_unigrams + sel->n_digrams) * KX_ST_COUNT;
}

/* One user's rows of the three tables (pass 2 output). */
typedef struct kx_fuser {
    kx_ftable t[KX_FL_COUNT];
} kx_fuser;

/* Aggregates the F rows of u into out (initialised here; free with kx_fuser_free). */
void kx_features_user(const kx_feat_selection *sel, bool keep_outliers, const kx_user_keypairs *u,
                      kx_fuser *out);
void kx_fuser_free(kx_fuser *f);
/* Appends every row of src to dst (same level and width). */
void kx_ftable_append(kx_ftable *dst, const kx_ftable *src);

/* ---- imputation (03 §6, §9.5) ------------------------------------------------------------ */
typedef enum kx_istrategy { KX_IS_USER_MEAN = 0, KX_IS_GLOBAL_MEAN, KX_IS_ZERO, KX_IS_COUNT } kx_istrategy;
extern const char *const kx_istrategy_names[KX_IS_COUNT]; /* user_mean, global_mean, zero */
extern const char *const kx_istrategy_reasons[KX_IS_COUNT];

#define KX_IMPUTE_DETAILS 100

typedef struct kx_irecord {
    size_t row, col;
    kx_istrategy strategy;
    double value;
} kx_irecord;

typedef struct kx_impute_summary {
    int64_t total;
    int64_t by_strategy[KX_IS_COUNT];
    kx_istrategy strategy_order[KX_IS_COUNT]; /* first appearance */
    size_t n_strategies;
    int64_t *by_feature; /* nfeat counts */
    /* by_user in first-appearance order: user ids and counts */
    char (*users)[KX_UID_LEN + 1];
    int64_t *user_counts;
    size_t n_users, users_cap;
    kx_irecord details[KX_IMPUTE_DETAILS]; /* the first records, in record order */
    size_t n_details;
} kx_impute_summary;

/* Fills every missing cell of t (user mean -> global mean -> zero) and summarises the
 * records. Rows must be sorted (kx_ftable_sort). */
void kx_ftable_impute(kx_ftable *t, kx_impute_summary *sum);
void kx_impute_summary_free(kx_impute_summary *sum);
/* "p<platform>_s<session>_v<video>" with the numbers the table's level lacks left empty. */
void kx_ftable_level_text(const kx_ftable *t, size_t row, char out[80]);

#endif
