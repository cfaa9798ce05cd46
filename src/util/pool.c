#include "util/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/mem.h"

typedef struct {
    kx_work_fn fn;
    void *arg;
    size_t n;
    atomic_size_t next;
} job;

static void *worker(void *p)
{
    job *j = p;
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n) break;
        j->fn(j->arg, i);
    }
    return NULL;
}

void kx_parallel_for(int workers, size_t n, kx_work_fn fn, void *arg)
{
    if (n == 0) return;
    if (workers < 1) workers = 1;
    if ((size_t)workers > n) workers = (int)n;
    job j = {fn, arg, n, 0};
    pthread_t *t = kx_calloc((size_t)workers, sizeof *t);
    int started = 0;
    for (int w = 1; w < workers; w++) {
        if (pthread_create(&t[w], NULL, worker, &j) != 0) break; /* fewer threads is fine */
        started = w;
    }
    worker(&j);
    for (int w = 1; w <= started; w++) pthread_join(t[w], NULL);
    free(t);
}

int kx_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
