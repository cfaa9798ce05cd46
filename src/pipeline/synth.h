/* synth.h — synthetic raw snapshots in the exact input format of spec 01 §1.
 *
 * `keyetl synth` writes one flat folder with, per user, 18 keystroke logs
 * `<p>_<uid>_<seq>.csv`, 18 typed texts `_raw.txt`, 18 task metadata files, and the
 * consent / demographics / start-time / completion / start-study / survey-code JSON files,
 * with fake personal values. Output is a pure function of the parameters: every user draws
 * from its own PRNG stream (splitmix64 seeding xoshiro256**), derived from (seed, user
 * index), so users are generated in parallel (output identical for any worker count) and a
 * larger --users run starts with the same users as a smaller one.
 *
 * Typing model (calibrated against the real fpd-dev snapshot; docs/synth.md): each user gets
 * a profile — hold-time median and spread (log-normal), typing speed (press-to-press median
 * and spread), pause and typo rates, Shift or Caps-Lock capitals, Shift release order — or is
 * an "instant" typist (hold 0–3 ms, very regular rhythm) as seen in real data. Press-to-press
 * intervals are scaled by a per-digram factor derived from the digram bytes, so keys overlap
 * (negative IL) for fast typists. Rare anomalies: `P,F3` first rows, unreleased presses,
 * orphan releases, held-key auto-repeat. Texts are comments about the three study videos
 * from a built-in corpus. Some users are broken on purpose (too few rows, missing keystroke
 * files, missing metadata) and some are mobile.
 *
 * Files are written straight into `<out_dir>.partial` (one open/write/close each) and the
 * folder is renamed to out_dir at the end, so out_dir appears complete or not at all.
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
    double instant_fraction;   /* share of desktop users with ~0 ms holds and a regular rhythm */
    double caps_lock_fraction; /* share of users typing capitals with Caps Lock instead of Shift */
    int text_median_chars;     /* typed characters per task: log-normal around this median */
    double long_text_prob;     /* chance of a 3–5.5x longer text */
    int min_rows;              /* data rows of a complete user's keystroke file are >= this */
    double hold_median_ms, hold_user_sigma, hold_sigma; /* hold: population median, user spread, keystroke spread */
    double hold_tail_prob;                              /* chance of a 2–6x longer hold */
    double pp_median_ms, pp_user_sigma, pp_sigma;       /* press-to-press interval, same scheme */
    double digram_spread;                               /* per-digram factor exp(±spread) */
    double pause_prob;                                  /* mean chance per keystroke of a thinking pause */
    double pause_median_ms, pause_sigma;                /* pause length: log-normal */
    double typo_prob;                                   /* mean chance per letter of a typo + Backspace */
    double shift_lead_ms, shift_lag_ms;                 /* Shift pressed before / released after a capital */
    double shift_early_release;                         /* chance Shift is released before the letter */
    double f3_prob, unreleased_prob, orphan_prob, repeat_prob; /* per-file anomaly chances */
    int64_t epoch_ms;                                   /* time origin (13-digit epoch ms) */
    int broken_rows;                                    /* max data rows of a short file (< CLEAN_MIN_ROWS) */
} kx_synth_params;

/* Why a user is broken on purpose (KX_SYNTH_OK = complete). */
typedef enum kx_synth_kind {
    KX_SYNTH_OK = 0,
    KX_SYNTH_FEW_ROWS,          /* 1–18 keystroke files have too few rows */
    KX_SYNTH_MISSING_FILES,     /* 1–4 keystroke files are absent */
    KX_SYNTH_MISSING_METADATA,  /* start_time or consent JSON absent */
    KX_SYNTH_KIND_COUNT
} kx_synth_kind;

typedef struct kx_synth_summary {
    int64_t users, complete, broken, mobile, mobile_complete, files, bytes;
    int64_t by_kind[KX_SYNTH_KIND_COUNT];
} kx_synth_summary;

void kx_synth_defaults(kx_synth_params *p);

/* Writes the snapshot into out_dir, which must not exist or be an empty folder (it is
 * generated as out_dir.partial, a leftover of which is removed, then renamed). */
int kx_synth_write(const kx_synth_params *p, const char *out_dir, kx_synth_summary *sum, kx_err *err);

/* The uid of user `index` for `seed` (32 lower-case hex + NUL). */
void kx_synth_uid(uint64_t seed, int64_t index, char uid[33]);

#endif
