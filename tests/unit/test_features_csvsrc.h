/* test_features_csvsrc.h — TEST-ONLY loader: a kx_user_source over a keypairs.csv file.
 *
 * Stands in for the real keypairs-table reader (kptable.c) so the features stage can be
 * tested end to end on the shared expected keypairs before that reader is merged. It
 * reads the whole file into memory (fine for test data) and understands the CSV of
 * spec 04 §3 (RFC 4180 quoting; an empty unquoted key field is the missing key).
 */
#ifndef KX_TEST_FEATURES_CSVSRC_H
#define KX_TEST_FEATURES_CSVSRC_H

#include "pipeline/features_run.h"
#include "util/buf.h"

typedef struct kx_csvsrc {
    kx_buf text;
    size_t pos;          /* offset of the next data record */
    size_t body;         /* offset of the first data record */
    int col[10];         /* indexes of the used columns */
    /* one record read ahead (the first row of the next user) */
    int have_pending;
} kx_csvsrc;

int kx_csvsrc_open(kx_csvsrc *s, const char *path, kx_err *err);
void kx_csvsrc_close(kx_csvsrc *s);
/* A user source reading s. */
kx_user_source kx_csvsrc_source(kx_csvsrc *s);

/* A kx_ftable_loader over <dir>/features.csv (test-only stand-in for the table reader). */
int kx_test_csv_ftable_load(const char *dir, const kx_colspec *want, size_t nwant, kx_ftable *out, kx_err *err);

#endif
