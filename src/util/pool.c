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

/* ---- persistent pool ------------------------------------------------------------------------ */
/* One loop at a time: fn/arg/n describe it, next is the next index to hand out and finished
 * counts completed items, all under mu. Between loops next == n, so threads sleep on wake;
 * kx_pool_run publishes a loop (next = 0 < n) and broadcasts. The caller's thread takes items
 * too, then waits on done until every handed-out item has finished. */
typedef struct pool_thread {
    kx_pool *pool;
    int slot;
    pthread_t id;
} pool_thread;

struct kx_pool {
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    kx_pool_fn fn;
    void *arg;
    size_t n, next, finished;
    int stop;
    int nthreads;
    pool_thread *threads;
};

static void *pool_main(void *p)
{
    pool_thread *t = p;
    kx_pool *pool = t->pool;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->stop && pool->next >= pool->n) pthread_cond_wait(&pool->wake, &pool->mu);
        if (pool->stop) break;
        size_t i = pool->next++;
        kx_pool_fn fn = pool->fn;
        void *arg = pool->arg;
        pthread_mutex_unlock(&pool->mu);
        fn(arg, i, t->slot);
        pthread_mutex_lock(&pool->mu);
        if (++pool->finished == pool->n) pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

kx_pool *kx_pool_create(int workers)
{
    kx_pool *p = kx_calloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (workers < 1) workers = 1;
    p->threads = kx_calloc((size_t)workers, sizeof *p->threads);
    for (int k = 1; k < workers; k++) {
        pool_thread *t = &p->threads[p->nthreads];
        t->pool = p;
        t->slot = p->nthreads + 1;
        if (pthread_create(&t->id, NULL, pool_main, t) != 0) break; /* fewer threads is fine */
        p->nthreads++;
    }
    return p;
}

int kx_pool_slots(const kx_pool *p)
{
    return p->nthreads + 1;
}

void kx_pool_run(kx_pool *p, size_t n, kx_pool_fn fn, void *arg)
{
    if (n == 0) return;
    if (p->nthreads == 0 || n == 1) { /* nothing to share: no locking, no wake-ups */
        for (size_t i = 0; i < n; i++) fn(arg, i, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    p->next = 0;
    p->finished = 0;
    pthread_cond_broadcast(&p->wake);
    while (p->next < p->n) {
        size_t i = p->next++;
        pthread_mutex_unlock(&p->mu);
        fn(arg, i, 0);
        pthread_mutex_lock(&p->mu);
        p->finished++;
    }
    while (p->finished < p->n) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void kx_pool_destroy(kx_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int k = 0; k < p->nthreads; k++) pthread_join(p->threads[k].id, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}
