/* eda_inputs.h — the file inputs of the eda stage besides the keypairs table (spec 05 §7):
 * the cleaned keystroke files (quality scan) and, with INCLUDE_PII, consent timestamps.
 * Split from stage_eda.c so that tests can drive them on fixture folders.
 */
#ifndef KX_PIPELINE_EDA_INPUTS_H
#define KX_PIPELINE_EDA_INPUTS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/eda.h"
#include "util/buf.h"
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

/* ---- the quality-scan sidecar (etl_metadata/keypairs/eda_quality_scan.tsv) -------------------
 *
 * The keypairs stage reads every cleaned keystroke file anyway; it also runs the per-file
 * quality check (kx_eda_check_file) on the bytes it has in memory and stores the results, so
 * that eda does not re-open and re-parse ~180k files. Format: docs/keypairs.md ("eda
 * sidecar"). The sidecar covers exactly the files kx_eda_scan_raw_files would read (eda's
 * file-name rule, which accepts ids > 2^31-1, and regular files only); keypairs does not
 * write it when that cannot be guaranteed (a read error, a reused folder without a base
 * entry). eda uses it only when the format, DEVICE_TYPES and the cleaning identity match,
 * and scans otherwise. Results are identical either way. */

#define KX_EDA_SIDECAR_FILE "eda_quality_scan.tsv"

/* eda's keystroke-file name rule: <digits>_<digits>_<digits>_<32 bytes>.csv (02 §1; ids of
 * any length). */
bool kx_eda_is_scan_file_name(const char *name);

/* Parses and checks one keystroke file's bytes; when it has an issue or an unreleased key,
 * appends its entry (R line + K lines) to body and returns 1, else returns 0. */
int kx_eda_sidecar_scan(kx_buf *body, const char *file_name, const char *data, size_t len);
/* The writing half of kx_eda_sidecar_scan, for a check computed elsewhere (the keypairs
 * stage checks the events its parser kept, kx_eda_check_keyed). Same return value. */
int kx_eda_sidecar_put_check(kx_buf *body, const char *file_name, const kx_eda_file_check *c);

/* The identity of the cleaned data the sidecar describes: "users-xxh3:<16 hex>" of the
 * "users" object of <version_dir>/etl_metadata/cleaning/user_checksums.json (per-user
 * SHA-256 of the inputs, status, device; dumped compact with sorted keys), or "none" when
 * the file is absent. Heap string. */
char *kx_eda_cleaning_id(const char *version_dir);

/* Writer, in this order: header, one folder record per user folder (keypairs order),
 * trailer. body = the folder's R/K lines (entries of them). */
void kx_eda_sidecar_header(kx_buf *out, char *const *devices, size_t ndevices, const char *cleaning_id);
void kx_eda_sidecar_folder(kx_buf *out, size_t device, const char *partition, const char *folder, size_t files,
                           size_t entries, const char *body, size_t body_len);
void kx_eda_sidecar_trailer(kx_buf *out, size_t folders, size_t files);

typedef struct kx_eda_sc_entry {
    char *file_name;
    kx_eda_file_check check; /* unreleased keys point into keys */
    char **keys;
} kx_eda_sc_entry;

typedef struct kx_eda_sc_folder {
    char *folder, *partition; /* partition: "" or batch_<digits> */
    size_t device;            /* index into the sidecar's devices */
    size_t files, entries;
    size_t body_off, body_len; /* its R/K lines in kx_eda_sidecar.data */
    kx_eda_sc_entry *e;
} kx_eda_sc_folder;

typedef struct kx_eda_sidecar {
    kx_buf data;
    char **devices;
    size_t ndevices;
    char *cleaning_id;
    kx_eda_sc_folder *f;
    size_t n, files;
} kx_eda_sidecar;

/* Reads and fully validates a sidecar file (syntax, counts, trailer). 0 or -1 (kx_err). */
int kx_eda_sidecar_load(const char *path, kx_eda_sidecar *sc, kx_err *err);
void kx_eda_sidecar_free(kx_eda_sidecar *sc);

/* The eda stage's check: loads <version_dir>/etl_metadata/keypairs/<KX_EDA_SIDECAR_FILE>
 * and accepts it only for these DEVICE_TYPES (same list, same order) and the version's
 * current cleaning identity. -1 (kx_err: the reason) means "scan the files". */
int kx_eda_sidecar_open(const char *version_dir, char *const *devices, size_t ndevices, kx_eda_sidecar *sc,
                        kx_err *err);

/* Feeds the recorded checks to e in the scan's order (users sorted, then discovery order:
 * device, then top-level folder name; files in name order). Returns the files read. */
size_t kx_eda_sidecar_replay(kx_eda *e, const kx_eda_sidecar *sc);

#endif
