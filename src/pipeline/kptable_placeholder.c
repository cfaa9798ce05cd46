/* kptable_placeholder.c — weak stand-ins for the keypairs-table reader (kptable.c, keypairs
 * issue) so that the features stage links before that branch is merged. Any strong
 * definition replaces them; delete this file once kptable.c is in main. */
#include "pipeline/kptable.h"

__attribute__((weak)) kx_kptable *kx_kptable_open(const char *version_dir, kx_err *err)
{
    kx_fail(err, "cannot read the keypairs table of %s: the table reader is not in this build", version_dir);
    return NULL;
}

__attribute__((weak)) int kx_kptable_next_user(kx_kptable *t, kx_user_keypairs *out, kx_err *err)
{
    (void)t; (void)out;
    return kx_fail(err, "the keypairs table reader is not in this build");
}

__attribute__((weak)) const char *kx_kptable_path(const kx_kptable *t)
{
    (void)t;
    return "";
}

__attribute__((weak)) void kx_kptable_close(kx_kptable *t) { (void)t; }
