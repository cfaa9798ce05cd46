/* kptable.h — the keypairs table (spec 02 §5): its schema, writing and reading it user by
 * user. Later stages (features, top_il, kvc, eda) consume it through kx_kptable_next_user
 * so that only one user's rows are in memory at a time.
 */
#ifndef KX_PIPELINE_KPTABLE_H
#define KX_PIPELINE_KPTABLE_H

#include "core/keypair.h"
#include "io/table.h"

#define KX_KP_NCOLS 20
extern const kx_colspec kx_kp_columns[KX_KP_NCOLS];

/* Column arrays for one user's rows, in kx_kp_columns order; owns its memory. */
typedef struct kx_kp_batch {
    kx_column cols[KX_KP_NCOLS];
    void *mem[KX_KP_NCOLS];
    uint8_t *valid[KX_KP_NCOLS];
    size_t n;
} kx_kp_batch;

void kx_kp_batch_fill(kx_kp_batch *b, const kx_user_keypairs *u);
void kx_kp_batch_free(kx_kp_batch *b);
/* The rows of b where keep[i] is 0 (e.g. keep = the valid column: the invalid rows), as a
 * new batch in dst (same strings and flags; the caller frees it). */
void kx_kp_batch_select_zero(const kx_kp_batch *b, const uint8_t *keep, kx_kp_batch *dst);

typedef struct kx_kptable kx_kptable;

/* Column indexes in kx_kp_columns order (kx_kp_run.col). */
enum {
    KX_KPI_USER, KX_KPI_PLATFORM, KX_KPI_VIDEO, KX_KPI_SESSION, KX_KPI_SEQUENCE, KX_KPI_KEY1,
    KX_KPI_KEY2, KX_KPI_K1_PRESS, KX_KPI_K1_RELEASE, KX_KPI_K2_PRESS, KX_KPI_K2_RELEASE, KX_KPI_HL,
    KX_KPI_IL, KX_KPI_PL, KX_KPI_RL, KX_KPI_VALID, KX_KPI_ERROR, KX_KPI_K1_TIMESTAMP,
    KX_KPI_OUTLIER, KX_KPI_DEVICE
};

/* Column bits for kx_kptable_open_cols, in kx_kp_columns order (bit i = column i). */
enum {
    KX_KP_COL_USER = 1u << 0, KX_KP_COL_PLATFORM = 1u << 1, KX_KP_COL_VIDEO = 1u << 2,
    KX_KP_COL_SESSION = 1u << 3, KX_KP_COL_SEQUENCE = 1u << 4, KX_KP_COL_KEY1 = 1u << 5,
    KX_KP_COL_KEY2 = 1u << 6, KX_KP_COL_K1_PRESS = 1u << 7, KX_KP_COL_K1_RELEASE = 1u << 8,
    KX_KP_COL_K2_PRESS = 1u << 9, KX_KP_COL_K2_RELEASE = 1u << 10, KX_KP_COL_HL = 1u << 11,
    KX_KP_COL_IL = 1u << 12, KX_KP_COL_PL = 1u << 13, KX_KP_COL_RL = 1u << 14,
    KX_KP_COL_VALID = 1u << 15, KX_KP_COL_ERROR = 1u << 16, KX_KP_COL_K1_TIMESTAMP = 1u << 17,
    KX_KP_COL_OUTLIER = 1u << 18, KX_KP_COL_DEVICE = 1u << 19,
};
#define KX_KP_COLS_ALL ((1u << KX_KP_NCOLS) - 1)

/* Opens <version_dir>/keypairs/keypairs.parquet, else keypairs.csv. */
kx_kptable *kx_kptable_open(const char *version_dir, kx_err *err);
/* Same, reading only the columns in mask (KX_KP_COL_* bits; user_id and device_type are
 * always read, they delimit users). Parquet then decodes only those columns. Fields of
 * columns not read come back as: ids 0, keys KX_KEY_MISSING, doubles NaN, valid/outlier
 * false, error 0. */
kx_kptable *kx_kptable_open_cols(const char *version_dir, uint32_t mask, kx_err *err);
/* Same, decoding the columns of each Parquet row group on up to `workers` threads
 * (PARALLEL_WORKERS; rows and order are the same for any count). The two above use 1. */
kx_kptable *kx_kptable_open_workers(const char *version_dir, uint32_t mask, int workers, kx_err *err);
/* Next user's rows in table order (built from a kx_kpscan's runs). Returns 1 and fills *out (caller frees it with
 * kx_user_keypairs_free), 0 at the end, -1 on error. Keys are the strings as written
 * (interned in out->keys). */
int kx_kptable_next_user(kx_kptable *t, kx_user_keypairs *out, kx_err *err);
/* One user's rows as writer-ready columns, without per-row kx_keypair structs. */
typedef struct kx_kp_group {
    char user_id[KX_UID_LEN + 1];
    char *device_type;
    uint8_t *error_code; /* per row, kx_kp_error (b's error_description holds the texts) */
    kx_kp_batch b;       /* user_id / device_type point into this struct: do not copy it */
    size_t cap;          /* rows allocated */
} kx_kp_group;

void kx_kp_group_init(kx_kp_group *g);
void kx_kp_group_free(kx_kp_group *g);
/* Like kx_kptable_next_user, but the next user's rows go straight from the scan's runs into
 * column arrays (what kx_kp_batch_fill would make of kx_kptable_next_user's rows: the same
 * values, key strings and null flags). The key strings point into the table's scan: valid
 * until kx_kptable_close. Returns 1 (g filled; reused across calls), 0 at the end, -1 on
 * error. Columns not read in the mask get the defaults kx_kptable_next_user gives them. */
int kx_kptable_next_group(kx_kptable *t, kx_kp_group *g, kx_err *err);
const char *kx_kptable_path(const kx_kptable *t);
void kx_kptable_close(kx_kptable *t);

/* ---- column-level reading --------------------------------------------------------------------
 * kx_kpscan hands the table out as runs: consecutive rows of one batch (row group / CSV
 * batch) sharing user_id and device_type, as column arrays, without building per-row
 * kx_keypair structs. A (user_id, device_type) group — what kx_kptable_next_user returns as
 * one user — is one or more runs in a row (a group spans batches); new_group marks its first
 * run. Key strings are interned once per scan into one table-wide key table (ids are stable
 * for the whole scan, in first-seen order); a dictionary-decoded key column repeats one
 * pointer per dictionary entry, so a row costs a pointer lookup, not a hash of the bytes.
 * The same checks as kx_kptable_next_user apply (null / out-of-range ids, invalid user_id).
 * Works on Parquet and CSV alike (through table_read.h). */
typedef struct kx_kp_run {
    const char *user_id;     /* NUL-terminated; valid until the next call */
    const char *device_type; /* NUL-terminated ("" when null); valid until the next call */
    bool new_group;          /* first run of a (user_id, device_type) group */
    size_t n;                /* rows (>= 1) */
    /* Per column (kx_kp_columns index), the run's first row; NULL for columns not read.
     * INT64 columns: int64_t (checked to fit int32); DOUBLE: double, NaN for null; BOOL:
     * uint8_t 0/1; key1/key2: int32_t key ids (kx_kpscan_keys) or KX_KEY_MISSING;
     * error_description: uint8_t kx_kp_error codes; user_id, device_type: NULL (above). */
    const void *col[KX_KP_NCOLS];
} kx_kp_run;

typedef struct kx_kpscan kx_kpscan;

/* Opens the table like kx_kptable_open_workers (mask: KX_KP_COL_* bits). */
kx_kpscan *kx_kpscan_open(const char *version_dir, uint32_t mask, int workers, kx_err *err);
/* Next run: 1 and *run filled, 0 at the end, -1 on error. */
int kx_kpscan_next(kx_kpscan *s, kx_kp_run *run, kx_err *err);
/* The key strings behind the ids handed out so far (grows during the scan). */
const kx_keytab *kx_kpscan_keys(const kx_kpscan *s);
const char *kx_kpscan_path(const kx_kpscan *s);
void kx_kpscan_close(kx_kpscan *s);

#endif
