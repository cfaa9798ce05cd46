/* kptable_placeholder_eda.c — PLACEHOLDER so that the eda branch links before the keypairs
 * table reader (src/pipeline/kptable.c, keypairs issue) is merged. DELETE THIS FILE when
 * kptable.c lands: it defines the same symbols. */
#include "pipeline/kptable.h"

kx_kptable *kx_kptable_open(const char *version_dir, kx_err *err)
{
    kx_fail(err, "cannot read the keypairs table of %s: the table reader is not implemented yet", version_dir);
    return NULL;
}

int kx_kptable_next_user(kx_kptable *t, kx_user_keypairs *out, kx_err *err)
{
    (void)t; (void)out;
    return kx_fail(err, "the keypairs table reader is not implemented yet");
}

const char *kx_kptable_path(const kx_kptable *t) { (void)t; return ""; }

void kx_kptable_close(kx_kptable *t) { (void)t; }
