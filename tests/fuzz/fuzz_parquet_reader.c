/* libFuzzer harness for the Parquet reader: parse the footer of arbitrary bytes and decode
 * every column chunk of row groups small enough to be plausible. Any crash, sanitizer report,
 * leak or allocation beyond the reader's limits is a bug. */
#include <stddef.h>
#include <stdint.h>

#include "parquet/parquet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kx_err err;
    kx_pqr *r = kx_pqr_open_mem(data, size, "fuzz", &err);
    if (!r) return 0;
    const kx_pq_meta *m = kx_pqr_meta(r);
    kx_pq_colbuf cb = {0};
    for (size_t g = 0; g < m->nrowgroups; g++) {
        if (m->rowgroups[g].num_rows > 100000) continue;
        for (size_t j = 0; j < m->ncolumns; j++) (void)kx_pqr_read_column(r, g, j, &cb, &err);
    }
    kx_pq_colbuf_free(&cb);
    kx_pqr_close(r);
    return 0;
}
