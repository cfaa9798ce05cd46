#include "pipeline/stage.h"

#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

#define DEP(s) (1u << (s))

const kx_stage_def kx_stage_defs[KX_STAGE_COUNT] = {
    {KX_STAGE_DOWNLOAD, "download", "download_data", kx_stage_download, 0, "raw_data/web_app_data", true},
    {KX_STAGE_CLEAN, "clean", "clean_data", kx_stage_clean, DEP(KX_STAGE_DOWNLOAD), "cleaned_data", true},
    {KX_STAGE_KEYPAIRS, "keypairs", "extract_keypairs", kx_stage_keypairs, DEP(KX_STAGE_CLEAN), "keypairs", true},
    {KX_STAGE_KVC, "kvc", "extract_kvc_features", kx_stage_kvc, DEP(KX_STAGE_KEYPAIRS), "kvc_features", false},
    {KX_STAGE_FEATURES, "features", "extract_features", kx_stage_features, DEP(KX_STAGE_KEYPAIRS),
     "statistical_features", false},
    {KX_STAGE_TOP_IL, "top_il", "extract_top_il_features", kx_stage_top_il, DEP(KX_STAGE_FEATURES),
     "statistical_IL_top_<k>_features", false},
    {KX_STAGE_EDA, "eda", "run_eda", kx_stage_eda, DEP(KX_STAGE_KEYPAIRS), "eda_reports/data_quality", false},
};

const kx_stage_def *kx_stage_by_name(const char *cli_name)
{
    for (int i = 0; i < KX_STAGE_COUNT; i++)
        if (!strcmp(kx_stage_defs[i].cli_name, cli_name)) return &kx_stage_defs[i];
    return NULL;
}

void kx_stage_add_tree(kx_stage_ctx *ctx, const char *tree, kx_treesum *sum)
{
    ctx->trees = kx_realloc(ctx->trees, (ctx->ntrees + 1) * sizeof *ctx->trees);
    kx_tree_lineage *t = &ctx->trees[ctx->ntrees++];
    t->tree = kx_strdup(tree);
    kx_treesum_finish(sum, &t->size, &t->hash);
}

void kx_stage_trees_free(kx_stage_ctx *ctx)
{
    for (size_t i = 0; i < ctx->ntrees; i++) free(ctx->trees[i].tree);
    free(ctx->trees);
    ctx->trees = NULL;
    ctx->ntrees = 0;
}
