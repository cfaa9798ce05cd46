#include "util/progress.h"

#include <stdio.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void kx_progress_format(char *out, size_t cap, const char *label, uint64_t done, uint64_t total, double elapsed)
{
    double rate = elapsed > 0 ? (double)done / elapsed : 0.0;
    if (done > 0 && done < total && rate > 0)
        snprintf(out, cap, "%s: %llu/%llu users (%.1f users/s, ETA %.0fs)", label, (unsigned long long)done,
                 (unsigned long long)total, rate, (double)(total - done) / rate);
    else
        snprintf(out, cap, "%s: %llu/%llu users (%.1f users/s)", label, (unsigned long long)done,
                 (unsigned long long)total, rate);
}

static void draw(kx_progress *p, double t)
{
    char line[256];
    kx_progress_format(line, sizeof line, p->label, p->done, p->total, t - p->t0);
    fprintf(stderr, "\r%-78s", line);
    fflush(stderr);
    p->last_draw = t;
}

void kx_progress_start(kx_progress *p, bool enabled, const char *label, uint64_t total)
{
    p->enabled = enabled;
    p->label = label;
    p->total = total;
    p->done = 0;
    p->t0 = now_seconds();
    p->last_draw = 0;
    pthread_mutex_init(&p->mu, NULL);
}

void kx_progress_add(kx_progress *p, uint64_t n)
{
    if (!p->enabled) return;
    pthread_mutex_lock(&p->mu);
    p->done += n;
    double t = now_seconds();
    if (t - p->last_draw >= 0.1) draw(p, t);
    pthread_mutex_unlock(&p->mu);
}

void kx_progress_finish(kx_progress *p)
{
    if (p->enabled) {
        draw(p, now_seconds());
        fputc('\n', stderr);
    }
    pthread_mutex_destroy(&p->mu);
}
