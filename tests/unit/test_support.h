/* test_support.h — helpers shared by the unit tests that drive stages directly. */
#ifndef KX_TEST_SUPPORT_H
#define KX_TEST_SUPPORT_H

#include "pipeline/stage.h"

/* A stage context for version "v" in vdir (no base version, no progress line). */
kx_stage_ctx kx_test_stage_ctx(const kx_config *cfg, const char *vdir, kx_log *log);

/* Runs the download stage into version folder vdir from the local folder src on `workers`
 * threads and returns its exit code. The stage's statistics (*stats, caller json_decref's)
 * and handed-over tree summaries (*trees, caller kx_stage_trees_free's) are kept when the
 * pointers are not NULL, freed otherwise. */
int kx_test_download(const char *src, const char *vdir, int workers, json_t **stats, kx_stage_ctx *trees);

#endif
