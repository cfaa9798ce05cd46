/* eda_inputs.h — the file inputs of the eda stage besides the keypairs table (spec 05 §7):
 * the cleaned keystroke files (quality scan) and, with INCLUDE_PII, consent timestamps.
 * Split from stage_eda.c so that tests can drive them on fixture folders.
 */
#ifndef KX_PIPELINE_EDA_INPUTS_H
#define KX_PIPELINE_EDA_INPUTS_H

#include <stddef.h>

#include "core/eda.h"
#include "util/err.h"
#include "util/log.h"

/* Parses one keystroke file's bytes into events (01 §2). Keys point into data (not
 * NUL-terminated; use key_len; normalised keys point into the same allocation). Returns the
 * number of events; *events is one heap block for the caller to free. Malformed lines are
 * skipped (the keypairs stage reports them). */
size_t kx_eda_parse_events(const char *data, size_t len, kx_eda_event **events);

/* Scans the keystroke files of <cleaned_dir>/<dev>/raw_data for each device (02 §1 discovery,
 * partition folders batch_<digits> included), users then files in bytewise order, feeding
 * kx_eda_scan_file. An unreadable file is logged and skipped. Returns files read. Reading,
 * parsing and time-sorting run in `workers` threads, 64 user folders at a time (per-index
 * slots); the scan itself stays in order, so results do not depend on `workers`. */
size_t kx_eda_scan_raw_files(kx_eda *e, const char *cleaned_dir, char *const *devices, size_t ndevices, int workers,
                             kx_log *log);

/* Reads user_id and consent_timestamp from <cleaned_dir>/<dev>/metadata/metadata.csv of each
 * device (missing file: skipped). Returns 0, or -1 on a malformed file. */
int kx_eda_load_consent(kx_eda *e, const char *cleaned_dir, char *const *devices, size_t ndevices, kx_log *log,
                        kx_err *err);

#endif
