/* synth.h — synthetic raw snapshots in the exact input format of spec 01 §1.
 *
 * `keyetl synth` writes one flat folder with, per user, 18 keystroke logs
 * `<p>_<uid>_<seq>.csv`, 18 typed texts `_raw.txt`, 18 task metadata files, and the
 * consent / demographics / start-time JSON files, with fake personal values. Output is a
 * pure function of the parameters: every user draws from its own PRNG stream (splitmix64
 * seeding xoshiro256**), derived from (seed, user index), so users can be generated in
 * parallel and a larger --users run starts with the same users as a smaller one.
 *
 * Typing model (simple, to be refined): per character a press-to-press interval and a
 * hold drawn from log-normal distributions, Shift around capitals, rare long pauses at
 * word boundaries and occasional typos corrected with Backspace. Some users are broken on
 * purpose (too few rows, missing keystroke files, missing metadata) and some are mobile.
 */
#ifndef KX_PIPELINE_SYNTH_H
#define KX_PIPELINE_SYNTH_H

#include <stdint.h>

#include "util/err.h"

typedef struct kx_synth_params {
    uint64_t seed;
    int64_t users;
    int workers;               /* threads (output does not depend on it) */
    double broken_fraction;    /* share of users made broken on purpose */
    double mobile_fraction;    /* share of users with is_mobile = true */
    int min_chars, max_chars;  /* typed characters per task */
    double hold_median_ms, hold_sigma;   /* hold time: log-normal (median, sigma of ln) */
    double pp_median_ms, pp_sigma;       /* press-to-press interval: log-normal */
    double pause_prob;                   /* chance of a long pause before a word */
    double pause_min_ms, pause_max_ms;
    double typo_prob;                    /* chance per letter of a typo + Backspace */
    double shift_lead_ms, shift_lag_ms;  /* Shift pressed before / released after a capital */
    int64_t epoch_ms;                    /* time origin of user 0 (13-digit epoch ms) */
    int broken_rows;                     /* data rows of the short file of a "too few rows" user */
} kx_synth_params;

/* Why a user is broken on purpose (KX_SYNTH_OK = complete). */
typedef enum kx_synth_kind {
    KX_SYNTH_OK = 0,
    KX_SYNTH_FEW_ROWS,          /* one keystroke file has too few rows */
    KX_SYNTH_MISSING_FILES,     /* 1–4 keystroke files are absent */
    KX_SYNTH_MISSING_METADATA,  /* start_time or consent JSON absent */
    KX_SYNTH_KIND_COUNT
} kx_synth_kind;

typedef struct kx_synth_summary {
    int64_t users, complete, broken, mobile, mobile_complete, files, bytes;
    int64_t by_kind[KX_SYNTH_KIND_COUNT];
} kx_synth_summary;

void kx_synth_defaults(kx_synth_params *p);

/* Writes the snapshot into out_dir (created if needed; existing files with the same names
 * are replaced). */
int kx_synth_write(const kx_synth_params *p, const char *out_dir, kx_synth_summary *sum, kx_err *err);

/* The uid of user `index` for `seed` (32 lower-case hex + NUL). */
void kx_synth_uid(uint64_t seed, int64_t index, char uid[33]);

#endif
