/* util/pool: kx_pool runs every index exactly once per loop, on valid slots, never two
 * items at once on one slot, across many consecutive loops (the persistent threads are
 * reused); degenerate sizes; kx_parallel_for unchanged. */
#include <stdatomic.h>
#include <stdlib.h>

#include "test.h"
#include "util/mem.h"
#include "util/pool.h"

typedef struct pool_probe {
    int slots;
    atomic_int *count;   /* per index: times run */
    atomic_int *busy;    /* per slot: items running now */
    atomic_int overlap;  /* an item started on a busy slot */
    atomic_int bad_slot;
} pool_probe;

static void probe_item(void *arg, size_t index, int slot)
{
    pool_probe *p = arg;
    if (slot < 0 || slot >= p->slots) {
        atomic_fetch_add(&p->bad_slot, 1);
        return;
    }
    if (atomic_fetch_add(&p->busy[slot], 1) != 0) atomic_fetch_add(&p->overlap, 1);
    volatile unsigned spin = 0;
    for (unsigned k = 0; k < (index % 7) * 200; k++) spin += k; /* uneven item costs */
    atomic_fetch_add(&p->count[index], 1);
    atomic_fetch_sub(&p->busy[slot], 1);
}

TEST(pool_runs_each_index_once_per_loop)
{
    for (int workers = 0; workers <= 3; workers++) {
        kx_pool *pool = kx_pool_create(workers);
        int slots = kx_pool_slots(pool);
        CHECK_EQ_INT(slots, workers < 1 ? 1 : workers); /* thread creation does not fail here */
        enum { MAXN = 97 };
        pool_probe p = {.slots = slots};
        p.count = kx_calloc(MAXN, sizeof *p.count);
        p.busy = kx_calloc((size_t)slots, sizeof *p.busy);
        for (int loop = 0; loop < 300; loop++) {
            size_t n = (size_t)(loop % MAXN); /* includes 0 and 1 */
            for (size_t i = 0; i < MAXN; i++) atomic_store(&p.count[i], 0);
            kx_pool_run(pool, n, probe_item, &p);
            for (size_t i = 0; i < MAXN; i++) {
                if (atomic_load(&p.count[i]) != (i < n ? 1 : 0))
                    kx_test_fail(__FILE__, __LINE__, "workers %d loop %d: index %zu ran %d times", workers,
                                 loop, i, atomic_load(&p.count[i]));
            }
        }
        CHECK_EQ_INT(atomic_load(&p.overlap), 0);
        CHECK_EQ_INT(atomic_load(&p.bad_slot), 0);
        free(p.count);
        free(p.busy);
        kx_pool_destroy(pool);
        CHECK(!kx_test_failed());
    }
    kx_pool_destroy(NULL);
}

static void square_item(void *arg, size_t index)
{
    long *out = arg;
    out[index] = (long)(index * index);
}

TEST(pool_parallel_for_fills_every_slot)
{
    long out[1000];
    for (int workers = 1; workers <= 3; workers++) {
        memset(out, 0xff, sizeof out);
        kx_parallel_for(workers, 1000, square_item, out);
        for (size_t i = 0; i < 1000; i++) CHECK_EQ_INT(out[i], (long)(i * i));
    }
    kx_parallel_for(2, 0, square_item, out); /* no items: returns at once */
}
