/* keypair.h — the row model shared by every stage after `clean` (spec 02 §3, §5).
 *
 * A kx_user_keypairs holds the keypairs of one user (all their keystroke files, in
 * output order). Keys are interned per user in `keys`: key1/key2 are indexes into it,
 * KX_KEY_MISSING (-1) is the missing key. Absent times and uncomputed latencies are NaN
 * (written as null / empty cell).
 */
#ifndef KX_CORE_KEYPAIR_H
#define KX_CORE_KEYPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KX_KEY_MISSING (-1)
#define KX_UID_LEN 32

/* error_description values (02 §3), in a fixed order. */
typedef enum kx_kp_error {
    KX_KPE_NONE = 0,                 /* "No error" */
    KX_KPE_K1_RELEASE,               /* "Missing key1 release" */
    KX_KPE_K1_PRESS,                 /* "Missing key1 press (orphan release)" */
    KX_KPE_K2_RELEASE,               /* "Missing key2 release" */
    KX_KPE_K2_PRESS,                 /* "Missing key2 press (orphan release)" */
    KX_KPE_K1_RELEASE_K2_RELEASE,    /* "Missing key1 release; Missing key2 release" */
    KX_KPE_K1_RELEASE_K2_PRESS,      /* "Missing key1 release; Missing key2 press (orphan release)" */
    KX_KPE_K1_PRESS_K2_RELEASE,      /* "Missing key1 press (orphan release); Missing key2 release" */
    KX_KPE_K1_PRESS_K2_PRESS,        /* "Missing key1 press (orphan release); Missing key2 press (orphan release)" */
    KX_KPE_NEGATIVE_HL,              /* "Negative Hold Latency" */
    KX_KPE_COUNT
} kx_kp_error;

const char *kx_kp_error_text(kx_kp_error e);
/* Reverse lookup; returns -1 for an unknown text. */
int kx_kp_error_parse(const char *s, size_t n);

typedef struct kx_keypair {
    int32_t platform_id, video_id, session_id;
    int32_t sequence_id;
    int32_t key1, key2; /* index into the owner's key table, or KX_KEY_MISSING */
    double key1_press, key1_release, key2_press, key2_release;
    double hl, il, pl, rl;
    double key1_timestamp;
    uint8_t valid;
    uint8_t outlier;
    uint8_t error; /* kx_kp_error */
} kx_keypair;

typedef struct kx_key {
    char *bytes; /* NUL-terminated copy; may contain any bytes except NUL */
    uint32_t len;
} kx_key;

/* Per-user key table (interning). */
typedef struct kx_keytab {
    kx_key *keys;
    size_t n, cap;
    int32_t *slots; /* open-addressing hash: index+1, 0 = empty */
    size_t nslots;
} kx_keytab;

void kx_keytab_init(kx_keytab *t);
void kx_keytab_free(kx_keytab *t);
/* Index of the key with these bytes, adding it if new. */
int32_t kx_keytab_intern(kx_keytab *t, const void *bytes, size_t len);
/* Index of the key with these bytes, or -1 if it is not in the table. */
int32_t kx_keytab_find(const kx_keytab *t, const void *bytes, size_t len);
static inline const kx_key *kx_keytab_get(const kx_keytab *t, int32_t id)
{
    return id < 0 ? NULL : &t->keys[id];
}

typedef struct kx_user_keypairs {
    char user_id[KX_UID_LEN + 1];
    char *device_type;
    kx_keypair *rows;
    size_t n, cap;
    kx_keytab keys;
} kx_user_keypairs;

void kx_user_keypairs_init(kx_user_keypairs *u);
void kx_user_keypairs_free(kx_user_keypairs *u);
kx_keypair *kx_user_keypairs_push(kx_user_keypairs *u);

#endif
