/* kvc.h — pure logic of the `kvc` stage (spec 05 §8): the key mapping, the per-user
 * key-coded sequences and the hold-one-platform-out split rules. No I/O: the stage
 * (pipeline/stage_kvc.c) feeds users in table order and writes what this module builds.
 *
 * Usage (two passes over the keypairs table, one user in memory at a time):
 *   pass 1: kx_kvc_keys_add_user for every user, then kx_kvc_keys_finalize;
 *   pass 2: per user kx_kvc_user_codes (local key id -> code), kx_kvc_map_rows for
 *           keypairs_mapped, kx_kvc_seqs_add for the valid rows; the caller emits the
 *           sequences (kx_kvc_is_test decides train/test per held-out platform).
 */
#ifndef KX_CORE_KVC_H
#define KX_CORE_KVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/keypair.h"
#include "util/err.h"

/* ---- key mapping (§8 step 2) ------------------------------------------------------------ */
typedef struct kx_kvc_keys {
    kx_keytab tab;     /* distinct keys (UTF-8, fallback rule applied), first-seen order */
    int64_t *code_of;  /* tab id -> code, after finalize */
    int32_t *id_of;    /* code -> tab id, after finalize */
    size_t count;      /* N, fixed at finalize (pass-2 lookups may intern strays after it) */
    bool final;
} kx_kvc_keys;

void kx_kvc_keys_init(kx_kvc_keys *k);
void kx_kvc_keys_free(kx_kvc_keys *k);
/* Adds the non-missing key1/key2 values of every row of u (all rows, valid or not). */
void kx_kvc_keys_add_user(kx_kvc_keys *k, const kx_user_keypairs *u);
/* Adds one non-missing key value (bytes as stored; the 04 §1 fallback is applied to
 * invalid UTF-8), for callers that scan key columns without building users. */
void kx_kvc_keys_add(kx_kvc_keys *k, const char *bytes, size_t len);
/* Numbers the keys 0 … N−1 in bytewise (unsigned memcmp, shorter prefix first) order. */
void kx_kvc_keys_finalize(kx_kvc_keys *k);
size_t kx_kvc_keys_count(const kx_kvc_keys *k);
/* The key with this code (0 <= code < count). */
const kx_key *kx_kvc_key_at(const kx_kvc_keys *k, size_t code);
/* codes[i] = code of u->keys.keys[i] (codes has u->keys.n slots). -1 if a key is not in
 * the mapping (the table changed between the passes). */
int kx_kvc_user_codes(kx_kvc_keys *k, const kx_user_keypairs *u, int64_t *codes, kx_err *err);

/* Code of one key (bytes as stored; the 04 §1 fallback applied like kx_kvc_keys_add) after
 * finalize, or -1 if it is not in the mapping. For callers holding key ids of their own. */
int64_t kx_kvc_code_of(kx_kvc_keys *k, const char *bytes, size_t len);

/* key1_mapped / key2_mapped of every row of u (−1 for the missing key), table order. */
void kx_kvc_map_rows(const kx_user_keypairs *u, const int64_t *codes, int64_t *key1_mapped,
                     int64_t *key2_mapped);

/* ---- sequences (§8 steps 4–5) ------------------------------------------------------------ */
#define KX_KVC_INPUT_ID_MAX 40

typedef struct kx_kvc_input {
    int32_t platform_id, video_id, session_id;
    char id[KX_KVC_INPUT_ID_MAX]; /* "<platform_id>_<video_id>_<session_id>" */
    size_t id_len;
    int64_t *rows;                /* n x 3: press, release, key1 code (row-major) */
    size_t n, cap;
} kx_kvc_input;

/* One user's working set grouped by input_id in first-appearance order. */
typedef struct kx_kvc_seqs {
    char user_id[KX_UID_LEN + 1];
    kx_kvc_input *inputs;
    size_t n, cap;
    size_t rows;                  /* valid rows added */
    size_t last;                  /* index of the input hit last (rows come in runs) */
} kx_kvc_seqs;

void kx_kvc_seqs_init(kx_kvc_seqs *s);
/* Empties s (keeps memory) and sets the user id. */
void kx_kvc_seqs_reset(kx_kvc_seqs *s, const char *user_id);
void kx_kvc_seqs_free(kx_kvc_seqs *s);
/* Appends the valid rows of u in table order as [trunc(key1_press), trunc(key1_release),
 * code of key1] (−1 when key1 is missing). A second call for the same user (the same uid
 * under two devices) continues the same groups. Fails if a valid row lacks a finite time. */
int kx_kvc_seqs_add(kx_kvc_seqs *s, const kx_user_keypairs *u, const int64_t *codes, kx_err *err);

/* Column form of kx_kvc_seqs_add, for callers that read columns (stage_kvc.c): n rows of
 * one user in table order; the same rules and result as kx_kvc_seqs_add on those rows. */
typedef struct kx_kvc_rows {
    size_t n;
    const int64_t *platform_id, *video_id, *session_id; /* fit int32 */
    const uint8_t *valid;                               /* nonzero = valid */
    const double *key1_press, *key1_release;            /* NaN = null */
    const int64_t *key1_code;                           /* −1 = missing key */
    size_t first_row; /* index of rows[0] within the user's rows (error messages) */
} kx_kvc_rows;
int kx_kvc_seqs_add_rows(kx_kvc_seqs *s, const kx_kvc_rows *r, kx_err *err);

/* True if the input belongs to test for held-out platform p (1–3); platforms outside 1–3
 * are never test, so they always go to train. */
bool kx_kvc_is_test(const kx_kvc_input *in, int held_out);

/* ---- split statistics (§8 step 6) -------------------------------------------------------- */
typedef struct kx_kvc_split_stats {
    int64_t train_users, test_users, train_samples, test_samples;
} kx_kvc_split_stats;

/* Counts one user of the working set (s->n > 0) for held-out platform p: the user is in
 * both dicts (possibly with an empty inner dict), each input is one sample. */
void kx_kvc_split_count(kx_kvc_split_stats *st, const kx_kvc_seqs *s, int held_out);

#endif
