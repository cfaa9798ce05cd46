/* clean_rules.h — the pure rules of the `clean` stage (spec 01 §1, §4, §5).
 *
 * Everything here is computation on names, bytes and JSON trees: no file-system access.
 * stage_clean.c feeds it listings and file contents; the unit tests feed it the worked
 * examples of the spec. Texts produced here (reasons, data issues) are the exact strings
 * of the contract.
 */
#ifndef KX_CORE_CLEAN_RULES_H
#define KX_CORE_CLEAN_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define KX_UID_LEN 32
#define KX_SEQ_COUNT 18

/* ---- names ------------------------------------------------------------------------------ */

/* True if the name contains ".gstmp" anywhere (partial download, belongs to no user). */
bool kx_clean_is_gstmp(const char *name);

/* uid extraction rules a–e of 01 §4.1 (first matching rule wins). On a match writes the
 * 32 hex characters + NUL into uid and returns the rule letter 'a'..'e'; 0 when no rule
 * matches. The caller applies the .gstmp rule first. */
int kx_clean_extract_uid(const char *name, char uid[KX_UID_LEN + 1]);

/* Timestamp file (01 §4.1): the name starts with YYYY-MM-DDTHH-MM-SS-mmmZ_ (digits in the
 * digit positions) or with <8 hex>_<32 hex>_. */
bool kx_clean_is_timestamp_file(const char *name);

typedef enum kx_task_kind { KX_TASK_NONE = 0, KX_TASK_CSV, KX_TASK_RAW_TXT } kx_task_kind;

/* An exact task name `<p>_<uid>_<seq>.csv` or `<p>_<uid>_<seq>_raw.txt`. */
typedef struct kx_task_name {
    kx_task_kind kind;
    char letter;                /* 'f', 'i' or 't' */
    char uid[KX_UID_LEN + 1];
    long seq;                   /* capped at 1e9 for absurdly long digit strings */
} kx_task_name;

/* Parses an exact task name; returns false (kind NONE) for anything else. The seq is `0`
 * or digits without a leading zero. */
bool kx_clean_parse_task_name(const char *name, kx_task_name *out);

/* Consistency rule: seq <= 17 and letter == "fit"[seq mod 3]. */
bool kx_clean_task_consistent(const kx_task_name *t);

/* Fixed sequence mapping (01 §1) for 0 <= seq <= 17. */
void kx_clean_seq_ids(long seq, int *platform_id, int *video_id, int *session_id);
char kx_clean_seq_letter(long seq);

/* Cleaned name `<pid>_<vid>_<sid>_<uid>.csv` (or `.txt` for _raw.txt) of a consistent task
 * name; out must hold at least 64 bytes. */
void kx_clean_target_name(const kx_task_name *t, char out[64]);

/* Expected keystroke file name `<p>_<uid>_<seq>.csv` (out >= 64 bytes). */
void kx_clean_expected_csv_name(const char *uid, int seq, char out[64]);

/* ---- line counting (01 §5.3) ------------------------------------------------------------ */

/* Streaming line counter: CRLF counts once, a lone LF or lone CR once each, plus one if
 * the data is non-empty and does not end with LF or CR. Feed chunks in order. */
typedef struct kx_linecount {
    int64_t terminators;
    uint64_t bytes;
    bool prev_cr;   /* last byte seen was CR (a following LF belongs to it) */
    int last;       /* last byte, -1 before any byte */
} kx_linecount;

void kx_linecount_init(kx_linecount *lc);
void kx_linecount_feed(kx_linecount *lc, const void *p, size_t n);
int64_t kx_linecount_lines(const kx_linecount *lc);
/* rows = lines - 1 (the header); an empty file gives -1. */
int64_t kx_clean_count_rows(const void *p, size_t n);

/* ---- JSON metadata ---------------------------------------------------------------------- */

/* Python truthiness of a JSON value (NULL = absent = false): true, non-zero number,
 * non-empty string (also "false"), non-empty array or object. */
bool kx_json_truthy(const json_t *v);

/* One metadata.csv cell from a JSON value (01 §5.2 value rules): true/false -> True/False,
 * integers decimal, reals per 04 §2, strings verbatim (CSV-quoted as needed), null ->
 * empty, arrays/objects -> compact JSON. v == NULL (absent) writes `dflt` verbatim. */
void kx_clean_put_json_cell(kx_buf *out, const json_t *v, const char *dflt);

/* metadata.csv header line (LF-terminated); 23 columns, 24 with email. */
void kx_clean_metadata_header(kx_buf *out, bool include_pii);

/* One metadata.csv row (LF-terminated). demographics / consent may be NULL (absent or
 * unreadable) and must otherwise be JSON objects. */
void kx_clean_metadata_row(kx_buf *out, const char *uid, bool complete, const json_t *demographics,
                           const json_t *consent, bool has_timestamp_files, bool include_pii);

/* ---- reason texts (01 §4.2) ------------------------------------------------------------- */

#define KX_REASON_TIMESTAMP "User has timestamp-prefixed files (broken data from web app error)"

/* `CSV files with insufficient data (< <min> rows): <name> (<n> rows), ...` */
void kx_clean_reason_min_rows(kx_buf *out, int64_t min_rows, const char *const *names,
                              const int64_t *rows, size_t n);
/* `Incomplete platform data (need all 18 files): facebook <n>/6 [<seqs>]; ...` from the
 * presence of the 18 expected keystroke files. */
void kx_clean_reason_incomplete(kx_buf *out, const bool present[KX_SEQ_COUNT]);
/* `Partial downloads present: <a>, <b>, <c>` (at most the first 3 names). */
void kx_clean_reason_partial(kx_buf *out, const char *const *names, size_t n);

/* ---- user checksum (01 §5.4) ------------------------------------------------------------ */

/* SHA-256 over, per attributed file in name order: name bytes, 0x00, decimal size, 0x00,
 * content. Usage: init; for each file: file_begin(name, size), content(...) *; final. */
typedef struct kx_user_hash kx_user_hash;
kx_user_hash *kx_user_hash_new(void);
void kx_user_hash_file_begin(kx_user_hash *h, const char *name, uint64_t size);
void kx_user_hash_content(kx_user_hash *h, const void *p, size_t n);
/* Writes 64 lower-case hex characters + NUL and frees h. */
void kx_user_hash_final(kx_user_hash *h, char hex[65]);

/* SHA-256 of a byte string as 64 lower-case hex characters (used for manifests too). */
typedef struct kx_sha256 kx_sha256;
kx_sha256 *kx_sha256_new(void);
void kx_sha256_update(kx_sha256 *s, const void *p, size_t n);
void kx_sha256_final(kx_sha256 *s, char hex[65]); /* frees s */

#endif
