/* kptable.c — TEMPORARY PLACEHOLDER in the kvc branch (the keypairs branch owns the real
 * file; at merge take theirs). It provides the column schema and kx_kp_batch_fill so the
 * kvc stage links and its tests can write keypairs_mapped; opening the table fails. */
#include "pipeline/kptable.h"

#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

const kx_colspec kx_kp_columns[KX_KP_NCOLS] = {
    {"user_id", KX_COL_STRING},       {"platform_id", KX_COL_INT64},
    {"video_id", KX_COL_INT64},       {"session_id", KX_COL_INT64},
    {"sequence_id", KX_COL_INT64},    {"key1", KX_COL_STRING},
    {"key2", KX_COL_STRING},          {"key1_press", KX_COL_DOUBLE},
    {"key1_release", KX_COL_DOUBLE},  {"key2_press", KX_COL_DOUBLE},
    {"key2_release", KX_COL_DOUBLE},  {"HL", KX_COL_DOUBLE},
    {"IL", KX_COL_DOUBLE},            {"PL", KX_COL_DOUBLE},
    {"RL", KX_COL_DOUBLE},            {"valid", KX_COL_BOOL},
    {"error_description", KX_COL_STRING}, {"key1_timestamp", KX_COL_DOUBLE},
    {"outlier", KX_COL_BOOL},         {"device_type", KX_COL_STRING},
};

static size_t elem_size(kx_coltype t)
{
    switch (t) {
    case KX_COL_BOOL: return 1;
    case KX_COL_INT64: return sizeof(int64_t);
    case KX_COL_DOUBLE: return sizeof(double);
    case KX_COL_STRING: return sizeof(kx_strref);
    }
    return 1;
}

static kx_strref str(const char *s) { return (kx_strref){s, (uint32_t)strlen(s)}; }

static kx_strref key_ref(const kx_user_keypairs *u, int32_t id, uint8_t *valid)
{
    const kx_key *k = kx_keytab_get(&u->keys, id);
    *valid = k != NULL;
    return k ? (kx_strref){k->bytes, k->len} : (kx_strref){"", 0};
}

void kx_kp_batch_fill(kx_kp_batch *b, const kx_user_keypairs *u)
{
    memset(b, 0, sizeof *b);
    b->n = u->n;
    size_t n = u->n ? u->n : 1;
    for (int j = 0; j < KX_KP_NCOLS; j++) {
        b->mem[j] = kx_calloc(n, elem_size(kx_kp_columns[j].type));
        b->cols[j].values = b->mem[j];
        b->cols[j].nan_is_null = kx_kp_columns[j].type == KX_COL_DOUBLE;
    }
    b->valid[5] = kx_calloc(n, 1);
    b->valid[6] = kx_calloc(n, 1);
    b->cols[5].valid = b->valid[5];
    b->cols[6].valid = b->valid[6];
    for (size_t i = 0; i < u->n; i++) {
        const kx_keypair *r = &u->rows[i];
        ((kx_strref *)b->mem[0])[i] = str(u->user_id);
        ((int64_t *)b->mem[1])[i] = r->platform_id;
        ((int64_t *)b->mem[2])[i] = r->video_id;
        ((int64_t *)b->mem[3])[i] = r->session_id;
        ((int64_t *)b->mem[4])[i] = r->sequence_id;
        ((kx_strref *)b->mem[5])[i] = key_ref(u, r->key1, &b->valid[5][i]);
        ((kx_strref *)b->mem[6])[i] = key_ref(u, r->key2, &b->valid[6][i]);
        const double d[] = {r->key1_press, r->key1_release, r->key2_press, r->key2_release,
                            r->hl, r->il, r->pl, r->rl};
        for (int j = 0; j < 8; j++) ((double *)b->mem[7 + j])[i] = d[j];
        ((uint8_t *)b->mem[15])[i] = r->valid;
        ((kx_strref *)b->mem[16])[i] = str(kx_kp_error_text((kx_kp_error)r->error));
        ((double *)b->mem[17])[i] = r->key1_timestamp;
        ((uint8_t *)b->mem[18])[i] = r->outlier;
        ((kx_strref *)b->mem[19])[i] = str(u->device_type ? u->device_type : "");
    }
}

void kx_kp_batch_free(kx_kp_batch *b)
{
    for (int j = 0; j < KX_KP_NCOLS; j++) {
        free(b->mem[j]);
        free(b->valid[j]);
    }
    memset(b, 0, sizeof *b);
}

struct kx_kptable {
    int unused;
};

kx_kptable *kx_kptable_open(const char *version_dir, kx_err *err)
{
    kx_fail(err, "cannot read the keypairs table in %s/keypairs: the keypairs table reader is "
                 "not implemented yet", version_dir);
    return NULL;
}

int kx_kptable_next_user(kx_kptable *t, kx_user_keypairs *out, kx_err *err)
{
    (void)t; (void)out;
    return kx_fail(err, "the keypairs table reader is not implemented yet");
}

const char *kx_kptable_path(const kx_kptable *t) { (void)t; return ""; }

void kx_kptable_close(kx_kptable *t) { free(t); }
