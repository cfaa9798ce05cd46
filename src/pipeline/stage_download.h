/* stage_download.h — the retry loop of the `download` stage (spec 01 §3.2), exposed so it
 * can be tested with an injected fetch function and a sleep function that does not wait.
 *
 * kx_download_objects fetches objects 0..n-1 with `fetch` (in parallel, per-index
 * results), then performs up to KX_DOWNLOAD_RETRY_ROUNDS retry rounds for the objects that
 * failed; before round r it calls sleep_fn(2^(r-1)). Every failed attempt appends its
 * message to `errors` (a JSON array).
 */
#ifndef KX_PIPELINE_STAGE_DOWNLOAD_H
#define KX_PIPELINE_STAGE_DOWNLOAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define KX_DOWNLOAD_RETRY_ROUNDS 3

/* Fetch object i; 0 on success, -1 with err set. Must be safe to call from several threads
 * for different i. */
typedef int (*kx_fetch_fn)(void *arg, size_t i, kx_err *err);
typedef void (*kx_sleep_fn)(unsigned seconds);

typedef struct kx_retry_stats {
    size_t initial_failed; /* objects that failed in the first pass */
    size_t rounds;         /* retry rounds performed */
    size_t recovered;      /* failed at first, then succeeded */
    size_t final_failed;   /* still failed after the last round */
} kx_retry_stats;

/* failed[i] is set for objects still failed at the end (array of n, caller-owned). */
void kx_download_objects(size_t n, int workers, kx_fetch_fn fetch, void *arg, kx_sleep_fn sleep_fn,
                         json_t *errors, bool *failed, kx_retry_stats *stats);

/* Optional first pass of kx_download_objects_with: attempts every object 0..n-1 in its own
 * way (e.g. with the work split across threads differently than one object per item) and
 * sets rc[i] (0 or -1) and, for failures, errs[i]. The retry rounds then use `fetch`. */
typedef void (*kx_first_pass_fn)(void *arg, size_t n, int workers, int *rc, kx_err *errs);

/* kx_download_objects with the first pass done by `first` (NULL: by `fetch`, per object). */
void kx_download_objects_with(size_t n, int workers, kx_first_pass_fn first, kx_fetch_fn fetch, void *arg,
                              kx_sleep_fn sleep_fn, json_t *errors, bool *failed, kx_retry_stats *stats);

#endif
