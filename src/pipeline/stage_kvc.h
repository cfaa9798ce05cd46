/* stage_kvc.h — the kvc stage's writer, separated from where its users come from.
 *
 * kx_kvc_build reads the keypairs twice through a kx_kvc_source (pass 1: key set and
 * counts; pass 2: keypairs_mapped, the six .npy splits and sequences, all streamed user by
 * user) and writes every file of kvc_features/ (spec 05 §8) into out_dir. The stage uses a
 * source over the keypairs table (kptable.h); tests use in-memory or CSV-loaded users.
 */
#ifndef KX_PIPELINE_STAGE_KVC_H
#define KX_PIPELINE_STAGE_KVC_H

#include <jansson.h>

#include "core/keypair.h"
#include "io/table.h"
#include "util/err.h"

/* The `pass` argument of kx_kvc_source.open: what the pass reads of each row. */
enum {
    KX_KVC_PASS_KEYS = 1, /* pass 1: user ids, row count, key1/key2 */
    KX_KVC_PASS_ALL = 2,  /* pass 2 formatting keypairs_mapped: every field */
    KX_KVC_PASS_SEQS = 3, /* pass 2 copying keypairs_mapped: user ids, platform/video/session
                           * ids, key1/key2, valid, key1 press/release */
};

struct kx_kvc_keys;
struct kx_kpscan;

typedef struct kx_kvc_source {
    void *ctx;
    /* (Re)starts at the first user; called once per pass (KX_KVC_PASS_*). A source may leave
     * the fields a pass does not read at their defaults (the stage reads only those
     * columns), or fill everything. */
    int (*open)(void *ctx, int pass, kx_err *err);
    /* Next user's rows in table order: 1 and *out filled (caller frees), 0 at end, -1. */
    int (*next_user)(void *ctx, kx_user_keypairs *out, kx_err *err);
    void (*close)(void *ctx);
    /* Optional (NULL: pass 1 goes through open/next_user): pass 1 in one call, without
     * building users. Adds every non-missing key1/key2 value of every row to keys
     * (kx_kvc_keys_add), sets *rows to the row count and *users to the number of distinct
     * user ids, and fails if the rows are not sorted by user_id. */
    int (*scan_keys)(void *ctx, struct kx_kvc_keys *keys, int64_t *rows, int64_t *users, kx_err *err);
    /* Optional (NULL: pass 2 goes through open/next_user): pass 2 over column runs when it
     * copies keypairs_mapped (KX_KVC_PASS_SEQS). Opens a scan of the keypairs table reading
     * the KX_KP_COL_* columns in mask (kptable.h); the caller closes it (kx_kpscan_close). */
    struct kx_kpscan *(*open_scan)(void *ctx, uint32_t mask, kx_err *err);
} kx_kvc_source;

typedef struct kx_kvc_opts {
    const char *out_dir;        /* written directly (the stage passes a staging folder) */
    const char *version_id;     /* metadata.json version_id */
    kx_table_opts mapped;       /* keypairs_mapped.{parquet,csv}: OUTPUT_FORMATS */
    kx_table_opts sequences;    /* sequences.{parquet,csv} */
    /* keypairs.csv of the same version, or NULL. When set and mapped.csv is on, the rows
     * of keypairs_mapped.csv are that file's lines with the two code columns appended: the
     * same text the CSV writer would produce (04 §5), without formatting 20 cells a row. */
    const char *keypairs_csv;
    /* keypairs.parquet of the same version, or NULL. When set, mapped.parquet is on and the
     * file has the keypairs schema, keypairs_mapped.parquet is that file's column chunks
     * copied byte for byte plus the two code columns (same row groups). The source must then
     * hand out exactly that file's rows, in order (the keypairs table reader does). */
    const char *keypairs_parquet;
} kx_kvc_opts;

/* Writes key_mapping.json, keypairs_mapped.*, test_platform_{1,2,3}/{train,test}.npy,
 * sequences.* and metadata.json. *stats_out receives (a new reference to) the `stats`
 * object of metadata.json. */
int kx_kvc_build(const kx_kvc_source *src, const kx_kvc_opts *o, json_t **stats_out, kx_err *err);

#endif
