/* table_read_parquet.c — TEMPORARY stand-in (keypairs branch): the real Parquet reader is
 * written on the Parquet branch and replaces this file at merge. */
#include "io/table_read_parquet.h"

kx_pq_source *kx_pq_source_open(const char *path, const kx_colspec *want, size_t nwant, kx_err *err)
{
    (void)want;
    (void)nwant;
    kx_fail(err, "cannot read %s: Parquet reading is not available in this build", path);
    return NULL;
}

long kx_pq_source_next(kx_pq_source *s, kx_column *out, kx_err *err)
{
    (void)s;
    (void)out;
    return kx_fail(err, "Parquet reading is not available in this build");
}

void kx_pq_source_close(kx_pq_source *s) { (void)s; }
