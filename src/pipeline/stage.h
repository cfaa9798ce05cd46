/* stage.h — the stage interface (spec README §5).
 *
 * A stage is a function that reads the version folder, writes its outputs (through
 * staging + rename) and reports statistics. It knows nothing about versions, modes, the
 * catalog or the command line: the runner (runner.c) decides what runs and records it.
 */
#ifndef KX_PIPELINE_STAGE_H
#define KX_PIPELINE_STAGE_H

#include <jansson.h>
#include <stdbool.h>

#include "pipeline/config.h"
#include "pipeline/lineage.h"
#include "util/err.h"
#include "util/log.h"

typedef enum kx_stage_id {
    KX_STAGE_DOWNLOAD = 0,
    KX_STAGE_CLEAN,
    KX_STAGE_KEYPAIRS,
    KX_STAGE_KVC,
    KX_STAGE_FEATURES,
    KX_STAGE_TOP_IL,
    KX_STAGE_EDA,
    KX_STAGE_COUNT
} kx_stage_id;

typedef struct kx_stage_ctx {
    const kx_config *cfg;
    const char *version_id;
    const char *version_dir;      /* "<ARTIFACTS_DIR>/<vid>", as configured (not resolved) */
    /* Incremental reuse (05 §6.4): the base version, or NULL when reuse is not allowed for
     * this stage (no base, settings or engine version differ, force/incr run). */
    const char *base_version_id;
    const char *base_version_dir;
    bool local_only;              /* --local-only given */
    kx_log *log;
    bool show_progress;           /* a terminal and not --quiet */
    json_t *stats;                /* the stage stores its statistics object here (owned) */
    /* Lineage summaries of the bulk copy trees the stage wrote (pipeline/lineage.h), added
     * with kx_stage_add_tree; a tree without one is listed by the runner. Owned. */
    kx_tree_lineage *trees;
    size_t ntrees;
    kx_err err;                   /* failure message when the stage returns -1 */
} kx_stage_ctx;

typedef int (*kx_stage_fn)(kx_stage_ctx *ctx);

typedef struct kx_stage_def {
    kx_stage_id id;
    const char *cli_name;    /* "keypairs" */
    const char *record_name; /* "extract_keypairs" */
    kx_stage_fn run;
    unsigned deps;           /* bit mask of direct dependencies (1u << kx_stage_id) */
    const char *output_path; /* first folder it writes, relative to the version folder */
    bool reuses_base;        /* takes data from an incremental base (05 §6.4: download, clean,
                                keypairs); the others always recompute and get no base */
} kx_stage_def;

extern const kx_stage_def kx_stage_defs[KX_STAGE_COUNT];

/* Finishes sum (lineage.h) as the summary of copy tree `tree` (relative to the version
 * folder, e.g. "raw_data/web_app_data") and hands it to the runner. */
void kx_stage_add_tree(kx_stage_ctx *ctx, const char *tree, kx_treesum *sum);
/* Frees ctx->trees. */
void kx_stage_trees_free(kx_stage_ctx *ctx);

/* Lookup by CLI name; NULL if unknown. */
const kx_stage_def *kx_stage_by_name(const char *cli_name);

/* The seven stage entry points, one file each (stage_<name>.c). */
int kx_stage_download(kx_stage_ctx *ctx);
int kx_stage_clean(kx_stage_ctx *ctx);
int kx_stage_keypairs(kx_stage_ctx *ctx);
int kx_stage_kvc(kx_stage_ctx *ctx);
int kx_stage_features(kx_stage_ctx *ctx);
int kx_stage_top_il(kx_stage_ctx *ctx);
int kx_stage_eda(kx_stage_ctx *ctx);

#endif
