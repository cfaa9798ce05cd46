/* lineage.h — one-entry summaries of the bulk copy trees (docs/runs.md, "Lineage").
 *
 * The runner records every output file of a stage in the catalog. The bulk per-user copy
 * trees (raw_data/web_app_data, cleaned_data/<dev>/{raw_data,text,broken_data}) hold
 * hundreds of thousands of hard links whose content is already covered by the download
 * manifest's sha256 and clean's user checksums, so each tree gets one entry: its total size
 * and the XXH3-64 of the bytewise-sorted list of "relative path\0size\n" lines.
 *
 * A stage that has just written such a tree knows every name and size in it; it may hand
 * the runner the summary (kx_treesum_* below, kx_stage_ctx.trees) so that the tree is not
 * listed and stat'ed again. Both ways give the same bytes (tested).
 */
#ifndef KX_PIPELINE_LINEAGE_H
#define KX_PIPELINE_LINEAGE_H

#include <stddef.h>
#include <stdint.h>

/* A summary under construction: (relative path, size) items in any order. */
typedef struct kx_treesum {
    char **rel;
    uint64_t *size;
    size_t n, cap;
} kx_treesum;

#define KX_TREESUM_INIT {NULL, NULL, 0, 0}

/* Adds one file; rel (relative to the tree root, '/'-separated) is copied. */
void kx_treesum_add(kx_treesum *t, const char *rel, uint64_t size);
/* Sorts the items bytewise, computes the total size and the hash, and frees t. */
void kx_treesum_finish(kx_treesum *t, uint64_t *size, uint64_t *hash);
/* Frees t without a result. */
void kx_treesum_free(kx_treesum *t);

/* The summary of the tree on disk at `root` (regular files only; subfolders recursed;
 * sizes by fstatat on up to `workers` threads). Unreadable folders are skipped, as a
 * listing would. Returns 0, or -1 if root cannot be opened. */
int kx_tree_summarize(const char *root, int workers, uint64_t *size, uint64_t *hash);

/* A summary a stage hands to the runner: tree = path relative to the version folder. */
typedef struct kx_tree_lineage {
    char *tree;
    uint64_t size, hash;
} kx_tree_lineage;

#endif
