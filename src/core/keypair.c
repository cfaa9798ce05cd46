#include "core/keypair.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/mem.h"

static const char *const error_texts[KX_KPE_COUNT] = {
    "No error",
    "Missing key1 release",
    "Missing key1 press (orphan release)",
    "Missing key2 release",
    "Missing key2 press (orphan release)",
    "Missing key1 release; Missing key2 release",
    "Missing key1 release; Missing key2 press (orphan release)",
    "Missing key1 press (orphan release); Missing key2 release",
    "Missing key1 press (orphan release); Missing key2 press (orphan release)",
    "Negative Hold Latency",
};

const char *kx_kp_error_text(kx_kp_error e)
{
    return (unsigned)e < KX_KPE_COUNT ? error_texts[e] : "";
}

int kx_kp_error_parse(const char *s, size_t n)
{
    for (int i = 0; i < KX_KPE_COUNT; i++)
        if (strlen(error_texts[i]) == n && !memcmp(error_texts[i], s, n)) return i;
    return -1;
}

void kx_keytab_init(kx_keytab *t) { memset(t, 0, sizeof *t); }

void kx_keytab_free(kx_keytab *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->keys[i].bytes);
    free(t->keys);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static void rehash(kx_keytab *t, size_t nslots)
{
    free(t->slots);
    t->slots = kx_calloc(nslots, sizeof *t->slots);
    t->nslots = nslots;
    for (size_t i = 0; i < t->n; i++) {
        size_t h = (size_t)XXH3_64bits(t->keys[i].bytes, t->keys[i].len) & (nslots - 1);
        while (t->slots[h]) h = (h + 1) & (nslots - 1);
        t->slots[h] = (int32_t)i + 1;
    }
}

/* Slot of the key with these bytes, or of the empty slot where it would go. */
static size_t keytab_probe(const kx_keytab *t, const void *bytes, size_t len)
{
    size_t h = (size_t)XXH3_64bits(bytes, len) & (t->nslots - 1);
    while (t->slots[h]) {
        const kx_key *k = &t->keys[t->slots[h] - 1];
        if (k->len == len && !memcmp(k->bytes, bytes, len)) break;
        h = (h + 1) & (t->nslots - 1);
    }
    return h;
}

int32_t kx_keytab_find(const kx_keytab *t, const void *bytes, size_t len)
{
    if (t->nslots == 0) return -1;
    return t->slots[keytab_probe(t, bytes, len)] - 1;
}

int32_t kx_keytab_intern(kx_keytab *t, const void *bytes, size_t len)
{
    if (t->nslots == 0) rehash(t, 64);
    size_t h = keytab_probe(t, bytes, len);
    if (t->slots[h]) return t->slots[h] - 1;
    t->keys = kx_grow(t->keys, &t->cap, t->n + 1, sizeof *t->keys);
    kx_key *k = &t->keys[t->n];
    k->bytes = kx_strndup(bytes, len);
    k->len = (uint32_t)len;
    t->slots[h] = (int32_t)t->n + 1;
    int32_t id = (int32_t)t->n++;
    if (t->n * 2 > t->nslots) rehash(t, t->nslots * 2);
    return id;
}

void kx_user_keypairs_init(kx_user_keypairs *u)
{
    memset(u, 0, sizeof *u);
    kx_keytab_init(&u->keys);
}

void kx_user_keypairs_free(kx_user_keypairs *u)
{
    free(u->rows);
    free(u->device_type);
    kx_keytab_free(&u->keys);
    memset(u, 0, sizeof *u);
}

kx_keypair *kx_user_keypairs_push(kx_user_keypairs *u)
{
    u->rows = kx_grow(u->rows, &u->cap, u->n + 1, sizeof *u->rows);
    kx_keypair *r = &u->rows[u->n++];
    memset(r, 0, sizeof *r);
    return r;
}
