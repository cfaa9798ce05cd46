/* features_run.h — the features stage over any source of users (spec 03).
 *
 * kx_stage_features() feeds kx_features_run() from the keypairs table (kptable.h). Tests
 * feed it from other sources (an in-memory list, a test-only CSV loader), so the whole
 * stage — selection, aggregation, imputation, tables and JSON — is testable without the
 * table reader.
 */
#ifndef KX_PIPELINE_FEATURES_RUN_H
#define KX_PIPELINE_FEATURES_RUN_H

#include "core/features.h"
#include "core/keypair.h"
#include "io/table.h"
#include "pipeline/stage.h"

/* A restartable sequence of users in table order. */
typedef struct kx_user_source {
    void *arg;
    /* (Re)starts at the first user. 0 / -1. */
    int (*rewind)(void *arg, kx_err *err);
    /* Like kx_kptable_next_user: 1 and fills *out (caller frees), 0 at the end, -1 on error. */
    int (*next)(void *arg, kx_user_keypairs *out, kx_err *err);
    /* Human-readable name of the input, for messages. */
    const char *name;
    /* Optional (NULL: the selection pass goes through rewind/next): the selection pass in one
     * call, feeding every (user_id, device_type) group of the table, in order, to fs through
     * kx_fsel_group_rows / kx_fsel_group_end. A later rewind starts the aggregation pass. */
    int (*select)(void *arg, kx_fsel *fs, kx_err *err);
} kx_user_source;

int kx_features_run(kx_stage_ctx *ctx, const kx_user_source *src);

/* Writes <dir>/features.{parquet,csv} (per cfg): the ID columns of t's level, then nfeat
 * DOUBLE columns cols[c] (t->nrows values each) named feat_names[c]. Used by features and
 * top_il, so both write tables the same way. */
int kx_write_ftable(const char *dir, const char *table_name, const kx_ftable *t, const double *const *cols,
                    char *const *feat_names, size_t nfeat, const kx_config *cfg, kx_err *err);

/* Loads the wanted columns of the table <dir>/features.* into out (initialised by the
 * caller with the right level and nfeat = nwant - ID columns; want = ID columns first).
 * The stage uses the table reader (table_read.h); tests may pass another loader. */
typedef int (*kx_ftable_loader)(const char *dir, const kx_colspec *want, size_t nwant, kx_ftable *out, kx_err *err);

/* The top_il stage (03 §8, §9.6, §9.7) with a given table loader. */
int kx_top_il_run(kx_stage_ctx *ctx, kx_ftable_loader load);

/* Names shared with top_il: "statistical_platform" ..., "platform" ..., ID column names. */
extern const char *const kx_feature_type_names[3];
extern const char *const kx_feature_level_names[3];
extern const char *const kx_feature_id_cols[4];

#endif
