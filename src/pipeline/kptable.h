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

typedef struct kx_kptable kx_kptable;

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
/* Next user's rows in table order. Returns 1 and fills *out (caller frees it with
 * kx_user_keypairs_free), 0 at the end, -1 on error. Keys are the strings as written
 * (interned in out->keys). */
int kx_kptable_next_user(kx_kptable *t, kx_user_keypairs *out, kx_err *err);
const char *kx_kptable_path(const kx_kptable *t);
void kx_kptable_close(kx_kptable *t);

#endif
