/* pool.h — parallel loops over independent work items.
 *
 * kx_parallel_for runs fn(arg, i) for i in [0, n) on up to `workers` threads (the caller's
 * thread included), handing out indices dynamically. Items must be independent; results
 * go into per-index slots so the caller can consume them in index order, which keeps
 * outputs byte-identical for every worker count. Threads are created per call: fine for
 * a few large loops (a batch of user folders).
 *
 * kx_pool is the same loop on persistent threads, for callers that run many small loops
 * (a table writer runs one per batch of rows, i.e. per user): the threads are created once
 * by kx_pool_create and sleep on a condition variable between loops, so a loop costs one
 * wake-up instead of thread creation. fn also receives the slot of the thread running
 * the item (0 = the caller's thread, 1..workers-1 = pool threads), so items can use
 * per-slot scratch memory (compression contexts, buffers) without locking: two items never
 * run concurrently with the same slot.
 *
 * A pool belongs to one thread at a time (kx_pool_run is not reentrant and must not be
 * called concurrently on the same pool). If a pool thread is slow to wake (the machine is
 * busy), the caller's thread simply takes more items: a loop never waits for a thread that
 * has not started an item.
 */
#ifndef KX_UTIL_POOL_H
#define KX_UTIL_POOL_H

#include <stddef.h>

typedef void (*kx_work_fn)(void *arg, size_t index);

void kx_parallel_for(int workers, size_t n, kx_work_fn fn, void *arg);
/* Number of online CPUs (>= 1). */
int kx_cpu_count(void);

typedef struct kx_pool kx_pool;
typedef void (*kx_pool_fn)(void *arg, size_t index, int slot);

/* A pool of `workers` slots (workers - 1 threads; workers < 1 counts as 1, which runs
 * every loop on the caller's thread). If threads cannot be created the pool has fewer
 * slots (kx_pool_slots), never fails. */
kx_pool *kx_pool_create(int workers);
/* Number of slots: every slot passed to fn is < this. */
int kx_pool_slots(const kx_pool *p);
/* Runs fn(arg, i, slot) for every i in [0, n) and returns when all have finished. */
void kx_pool_run(kx_pool *p, size_t n, kx_pool_fn fn, void *arg);
/* Stops and joins the threads. NULL is a no-op. */
void kx_pool_destroy(kx_pool *p);

#endif
