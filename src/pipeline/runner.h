/* runner.h — versioned runs (spec 05 §3, §4, §6.4).
 *
 * kx_run is the whole of `keyetl run` after option parsing:
 *   1. plan (no side effects): stage names, version choice by mode (§4.1), stage list
 *      (§4.2), dependency check (§4.3), download source, lock state, incremental base
 *      (§6.4). Any problem → exit 2 (busy → 3) with nothing created, not even the catalog.
 *   2. --dry-run: print the plan and stop (§4.6).
 *   3. execute (§4.4): take the version's lock, create the version (unique id, §3.1),
 *      open the run log (§4.7), run each stage recording in_progress / completed / failed
 *      and marking dependents stale, then completed + current pointer, and a summary.
 *
 * The stage table is injectable (kx_run_opts.defs) so tests can run fake stages; the
 * product passes NULL, meaning kx_stage_defs.
 */
#ifndef KX_PIPELINE_RUNNER_H
#define KX_PIPELINE_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "pipeline/stage.h"

typedef enum kx_run_mode {
    KX_MODE_DEFAULT = 0, /* no --mode: resume an interrupted/failed run, else full */
    KX_MODE_FULL,
    KX_MODE_INCR,
    KX_MODE_FORCE
} kx_run_mode;

/* Exit codes of spec 05 §1.3. */
enum { KX_EXIT_OK = 0, KX_EXIT_STAGE_FAILED = 1, KX_EXIT_INVALID = 2, KX_EXIT_BUSY = 3 };

typedef struct kx_run_opts {
    kx_run_mode mode;
    const char *const *stage_names; /* -s values as given (NULL/0: automatic list) */
    size_t n_stage_names;
    const char *version_id;         /* --version-id, or NULL */
    bool dry_run;
    bool no_eda;
    bool local_only;
    bool quiet;                     /* no progress line */
    int argc;                       /* the command line, for the log header */
    char **argv;
    const kx_stage_def *defs;       /* NULL = kx_stage_defs; tests pass fakes */
    FILE *out;                      /* plan, chosen mode, summary; NULL = stdout */
    FILE *err;                      /* error messages; NULL = stderr */
} kx_run_opts;

typedef struct kx_run_result {
    int exit_code;
    char version_id[256];           /* the target version ("" if none was chosen) */
    char message[1024];             /* why the run stopped (exit 1, 2 or 3), or "" */
} kx_run_result;

/* Plans and (unless dry_run) executes one run; returns the exit code (also in res). Errors
 * are printed to stderr as "keyetl run: <message>". `log` is the console log (its level is
 * LOG_LEVEL); the runner attaches the run's log file to it. */
int kx_run(const kx_config *cfg, const kx_run_opts *opts, kx_log *log, kx_run_result *res);

/* Parses "full", "incr", "force"; -1 if unknown. */
int kx_run_mode_parse(const char *s);
const char *kx_run_mode_name(kx_run_mode m);

/* true if s is a valid user-supplied version id: [A-Za-z0-9][A-Za-z0-9._-]*, <= 200 chars. */
bool kx_version_id_valid(const char *s);

/* Builds "YYYY-MM-DD_HH-MM-SS_<host>[_<suffix>]" for the current local time (05 §3.1). */
void kx_make_version_id(char out[256], const char *suffix);
/* The host part of version ids: node name lower-cased, other than [a-z0-9_-] → '-'. */
void kx_version_host(char out[128]);

/* The setting keys recorded for a stage (§3.2), NULL-terminated. */
const char *const *kx_stage_setting_keys(kx_stage_id id);
/* {KEY: value} of those settings for this configuration (typed JSON values). */
json_t *kx_stage_settings_json(const kx_config *cfg, kx_stage_id id);

/* The effective download source: RAW_SOURCE, else s3://<BUCKET_NAME>/uploads/, else "". */
char *kx_effective_source(const kx_config *cfg);

double kx_monotonic_seconds(void);

#endif
