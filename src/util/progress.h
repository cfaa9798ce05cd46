/* progress.h — a one-line progress display for long stages (spec 05 §4.7).
 *
 * Shown only when ctx->show_progress is true (stderr is a terminal and --quiet was not
 * given); otherwise every call is a no-op, so stages call it unconditionally:
 *
 *     kx_progress p;
 *     kx_progress_start(&p, ctx->show_progress, "keypairs", n_users);
 *     ... kx_progress_add(&p, 1);   (any thread)
 *     kx_progress_finish(&p);
 *
 * The line reads "keypairs: 120/1000 users (85.3 users/s, ETA 10s)" and is redrawn with
 * '\r' at most ten times a second. Nothing is written to the log file.
 */
#ifndef KX_UTIL_PROGRESS_H
#define KX_UTIL_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct kx_progress {
    bool enabled;
    const char *label;
    uint64_t total, done;
    double t0, last_draw;
    pthread_mutex_t mu;
} kx_progress;

void kx_progress_start(kx_progress *p, bool enabled, const char *label, uint64_t total);
/* Adds n finished users; thread-safe. */
void kx_progress_add(kx_progress *p, uint64_t n);
/* Draws the final state, ends the line, releases resources. */
void kx_progress_finish(kx_progress *p);
/* Formats the line for the given state (exposed for tests). */
void kx_progress_format(char *out, size_t cap, const char *label, uint64_t done, uint64_t total, double elapsed);

#endif
