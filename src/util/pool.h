/* pool.h — parallel loop over independent work items.
 *
 * kx_parallel_for runs fn(arg, i) for i in [0, n) on up to `workers` threads (the caller's
 * thread included), handing out indices dynamically. Items must be independent; results
 * go into per-index slots so the caller can consume them in index order, which keeps
 * outputs byte-identical for every worker count.
 */
#ifndef KX_UTIL_POOL_H
#define KX_UTIL_POOL_H

#include <stddef.h>

typedef void (*kx_work_fn)(void *arg, size_t index);

void kx_parallel_for(int workers, size_t n, kx_work_fn fn, void *arg);
/* Number of online CPUs (>= 1). */
int kx_cpu_count(void);

#endif
