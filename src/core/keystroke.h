/* keystroke.h — keystroke log parsing and keypair extraction (spec 01 §2, 02 §2–§4).
 *
 * Pure computation over a file already in memory: no file I/O, no per-line allocation.
 * The pipeline is
 *
 *   buffer --kx_ks_lines_next--> physical lines (BOM, CR/LF, header and empty lines handled)
 *          --kx_ks_parse_line--> events (type, key, time) or a malformed reason
 *          --matching (LIFO per key)--> keystrokes, stably sorted by (sort time, position)
 *          --pairing--> kx_keypair rows appended to a kx_user_keypairs
 *
 * kx_ks_file_to_keypairs runs all of it for one file; the smaller functions are exposed so
 * that each rule can be tested on its own.
 */
#ifndef KX_CORE_KEYSTROKE_H
#define KX_CORE_KEYSTROKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/keypair.h"

/* ---- lines (01 §2 rules 1–3, 10) ---------------------------------------------------------- */

typedef struct kx_ks_lines {
    const char *p, *end; /* unread part of the buffer */
    long lineno;         /* physical number of the last line read (header counted) */
} kx_ks_lines;

/* Starts iterating buf[0..n) (a BOM at the start is skipped here). */
void kx_ks_lines_init(kx_ks_lines *it, const char *buf, size_t n);

/* Next line that is neither the header (line 1 containing "Press" or "Time") nor empty,
 * without its terminator (LF, or CR LF; a CR as the last byte of the buffer is dropped too).
 * Returns false at the end. *lineno is the 1-based physical line number. */
bool kx_ks_lines_next(kx_ks_lines *it, const char **line, size_t *len, long *lineno);

/* ---- one line (rules 4–9) ---------------------------------------------------------------- */

typedef enum kx_ks_reason {
    KX_KS_OK = 0,
    KX_KS_TOO_FEW_FIELDS,
    KX_KS_BAD_EVENT_TYPE,
    KX_KS_BAD_TIME,
} kx_ks_reason;

/* "too_few_fields", "bad_event_type", "bad_time" ("" for KX_KS_OK). */
const char *kx_ks_reason_code(kx_ks_reason r);

typedef struct kx_ks_event {
    const char *key; /* raw key bytes (between the first and the last comma), not normalised */
    size_t key_len;  /* 0 = the missing key */
    double time;
    bool press;      /* P (true) or R (false) */
} kx_ks_event;

/* Splits and validates one line (without terminator). On KX_KS_OK fills *ev. */
kx_ks_reason kx_ks_parse_line(const char *line, size_t len, kx_ks_event *ev);

/* Time field grammar of rule 5 after trimming spaces and tabs; the value must be finite.
 * Returns false if the text is not accepted. */
bool kx_ks_parse_time(const char *s, size_t n, double *out);

/* Rule 9: if key is valid UTF-8 of exactly one code point with the Uppercase property,
 * writes its simple lowercase mapping into buf and returns buf; otherwise returns key
 * unchanged. *out_len receives the resulting length. */
const char *kx_ks_normalize_key(const char *key, size_t len, char buf[4], size_t *out_len);

/* Simple lowercase mapping of an Uppercase code point; cp itself when there is none. */
uint32_t kx_unicode_upper_to_lower(uint32_t cp);

/* The generated table (lowercase_table.c): {code point, simple lowercase}, sorted. */
extern const uint32_t kx_lowercase_table[][2];
extern const size_t kx_lowercase_table_len;

/* ---- matching and pairing (02 §2–§4) ------------------------------------------------------ */

/* One keystroke after matching. An absent time is NaN: press NaN = orphan release,
 * release NaN = unmatched press. */
typedef struct kx_keystroke {
    double press, release;
    double sort_time; /* press, or release for an orphan release */
    int32_t key;      /* key table index or KX_KEY_MISSING */
    uint32_t pos;     /* append position (the sort tie-breaker) */
} kx_keystroke;

typedef struct kx_kp_thresholds {
    double hl_min_ms, hl_max_ms, il_abs_max_ms; /* OUTLIER_HL_MIN_MS, _HL_MAX_MS, _IL_ABS_MAX_MS */
} kx_kp_thresholds;

/* Called for each malformed line, in line order. */
typedef void (*kx_ks_malformed_fn)(void *arg, long lineno, kx_ks_reason reason, const char *line,
                                   size_t len);

/* One parsed event as kx_ks_file_to_keypairs saw it (kx_ks_work.keep_events): the key as its
 * id in the user's key table (normalised bytes; KX_KEY_MISSING = the missing key). Lets a
 * caller run another per-file check on the events without parsing the lines again. */
typedef struct kx_ks_keyed_event {
    double time;
    int32_t key;
    uint8_t press; /* 1 = P, 0 = R */
} kx_ks_keyed_event;

/* Raw key bytes (up to 16) -> key id, valid for one kx_ks_file_to_keypairs call: most lines
 * repeat a few dozen keys, so the cache skips normalisation, hashing and probing. */
#define KX_KS_KEY_CACHE 256
typedef struct kx_ks_key_cache_entry {
    uint64_t lo, hi; /* the raw key bytes, zero-padded */
    uint32_t gen;    /* == kx_ks_work.cache_gen: filled during this call */
    uint32_t len;
    int32_t id;
} kx_ks_key_cache_entry;

/* Scratch memory reused across files (stacks, keystrokes, sort buffer). */
typedef struct kx_ks_work {
    kx_keystroke *strokes, *tmp; /* after a file: its keystrokes in sorted order */
    size_t nstrokes, strokes_cap, tmp_cap;
    struct kx_ks_press *presses; /* pushed presses, linked per key into LIFO stacks */
    size_t npresses, presses_cap;
    int32_t *top;    /* per key slot (key + 1): index of the stack top in presses, -1 empty */
    uint8_t *seen;   /* per key slot: appeared in the current file */
    size_t slots_cap;
    int32_t *order;  /* key slots in first-appearance order */
    size_t norder, order_cap;
    /* set keep_events to get the file's valid events (file order) after each file */
    bool keep_events;
    kx_ks_keyed_event *events;
    size_t nevents, events_cap;
    kx_ks_key_cache_entry *cache; /* KX_KS_KEY_CACHE entries, allocated at first use */
    uint32_t cache_gen;
} kx_ks_work;

void kx_ks_work_init(kx_ks_work *w);
void kx_ks_work_free(kx_ks_work *w);

typedef struct kx_ks_file_ids {
    int32_t platform_id, video_id, session_id;
} kx_ks_file_ids;

/* Parses one keystroke file held in buf[0..n) and appends its N−1 keypairs to u (keys are
 * interned in u->keys; sequence_id restarts at 0). Malformed lines go to on_malformed
 * (may be NULL). Returns the number of rows appended. w->strokes holds the file's sorted
 * keystrokes afterwards, and with w->keep_events, w->events its valid events in line order
 * (keys as ids in u->keys). */
size_t kx_ks_file_to_keypairs(kx_ks_work *w, const char *buf, size_t n, const kx_ks_file_ids *ids,
                              const kx_kp_thresholds *th, kx_user_keypairs *u,
                              kx_ks_malformed_fn on_malformed, void *arg);

#endif
