/* test_support.h — helpers shared by the unit tests that drive stages directly. */
#ifndef KX_TEST_SUPPORT_H
#define KX_TEST_SUPPORT_H

#include "pipeline/stage.h"

/* A stage context for version "v" in vdir (no base version, no progress line). */
kx_stage_ctx kx_test_stage_ctx(const kx_config *cfg, const char *vdir, kx_log *log);

#endif
