/* runner.h — executes a list of stages on one version folder.
 *
 * This is the bare execution loop: it runs stages in canonical order with a fresh
 * kx_stage_ctx each, times them and reports. Version choice, modes, the catalog and the
 * lock live above it (run modes, issue 5).
 */
#ifndef KX_PIPELINE_RUNNER_H
#define KX_PIPELINE_RUNNER_H

#include <stdbool.h>

#include "pipeline/stage.h"

typedef struct kx_stage_outcome {
    bool ran;
    bool ok;
    double seconds;
    json_t *stats; /* owned */
    char error[1024];
} kx_stage_outcome;

/* Runs the stages whose bit is set in `mask`, in canonical order, stopping at the first
 * failure. Returns 0 when all succeeded, 1 when one failed. */
int kx_run_stages(const kx_config *cfg, const char *version_id, unsigned mask, kx_log *log,
                  bool show_progress, kx_stage_outcome out[KX_STAGE_COUNT]);

/* Builds "YYYY-MM-DD_HH-MM-SS_<host>" for the current local time (05 §3.1). */
void kx_make_version_id(char out[256], const char *suffix);

double kx_monotonic_seconds(void);

#endif
