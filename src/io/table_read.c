/* table_read.c — placeholder until the table reader lands (keypairs issue). */
#include "io/table_read.h"

#include <stdlib.h>

kx_table_reader *kx_tr_open(const char *dir, const char *base, const kx_colspec *want, size_t nwant,
                            kx_err *err)
{
    (void)want; (void)nwant;
    kx_fail(err, "cannot read table %s/%s: table reading is not implemented yet", dir, base);
    return NULL;
}

long kx_tr_next(kx_table_reader *r, kx_column *out, kx_err *err)
{
    (void)r; (void)out;
    return kx_fail(err, "table reading is not implemented yet");
}

const char *kx_tr_path(const kx_table_reader *r) { (void)r; return ""; }

void kx_tr_close(kx_table_reader *r) { (void)r; }
