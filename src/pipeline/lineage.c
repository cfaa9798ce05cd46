/* lineage.c — tree summaries for the lineage records (see lineage.h). */
#include "pipeline/lineage.h"

#include <dirent.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t as a complete type */
#include <xxhash.h>

#include "util/buf.h"
#include "util/mem.h"
#include "util/pool.h"
#include "util/sort.h"

void kx_treesum_add(kx_treesum *t, const char *rel, uint64_t size)
{
    if (t->n == t->cap) {
        size_t cap = t->cap;
        t->rel = kx_grow(t->rel, &cap, t->n + 1, sizeof *t->rel);
        t->size = kx_realloc(t->size, cap * sizeof *t->size);
        t->cap = cap;
    }
    t->rel[t->n] = kx_strdup(rel);
    t->size[t->n++] = size;
}

void kx_treesum_free(kx_treesum *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->rel[i]);
    free(t->rel);
    free(t->size);
    *t = (kx_treesum)KX_TREESUM_INIT;
}

typedef struct sum_item {
    const char *rel;
    uint64_t size;
} sum_item;

static int cmp_sum_item(const void *a, const void *b)
{
    return strcmp(((const sum_item *)a)->rel, ((const sum_item *)b)->rel);
}

void kx_treesum_finish(kx_treesum *t, uint64_t *size, uint64_t *hash)
{
    sum_item *it = kx_calloc(t->n ? t->n : 1, sizeof *it);
    for (size_t i = 0; i < t->n; i++) it[i] = (sum_item){t->rel[i], t->size[i]};
    kx_qsort(it, t->n, sizeof *it, cmp_sum_item);
    XXH3_state_t st; /* on the stack: a state is plain data (no allocation to check) */
    XXH3_64bits_reset(&st);
    uint64_t total = 0;
    char num[24];
    for (size_t i = 0; i < t->n; i++) {
        XXH3_64bits_update(&st, it[i].rel, strlen(it[i].rel) + 1);
        size_t k = kx_i64_to_chars((int64_t)it[i].size, num); /* sizes < 2^63 */
        num[k++] = '\n';
        XXH3_64bits_update(&st, num, k);
        total += it[i].size;
    }
    *hash = XXH3_64bits_digest(&st);
    *size = total;
    free(it);
    kx_treesum_free(t);
}

/* ---- summarizing a tree on disk ----------------------------------------------------------- */

/* Phase 1 walks the folders (readdir only: types from d_type) and collects file paths
 * relative to the root; phase 2 stats them in parallel relative to the root's fd (short
 * paths: one to three components). Entries whose type readdir does not give (symbolic
 * links, unknown) are stat'ed while walking, following links as a listing would. */
typedef struct walk {
    int root_fd;
    kx_treesum files; /* sizes filled in phase 2 */
} walk;

static void walk_dir(walk *w, const char *rel)
{
    int fd = *rel ? openat(w->root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : dup(w->root_fd);
    if (fd < 0) return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    kx_buf sub = KX_BUF_INIT;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        kx_buf_reset(&sub);
        if (*rel) kx_buf_printf(&sub, "%s/", rel);
        kx_buf_puts(&sub, e->d_name);
        kx_buf_putc(&sub, '\0');
        bool is_dir = e->d_type == DT_DIR, is_file = e->d_type == DT_REG;
        if (e->d_type != DT_DIR && e->d_type != DT_REG) {
            struct stat st;
            if (fstatat(dirfd(d), e->d_name, &st, 0) != 0) continue;
            is_dir = S_ISDIR(st.st_mode);
            is_file = S_ISREG(st.st_mode);
        }
        if (is_dir) walk_dir(w, sub.data);
        else if (is_file) kx_treesum_add(&w->files, sub.data, UINT64_MAX);
    }
    closedir(d);
    kx_buf_free(&sub);
}

#define STAT_CHUNK 1024

static void stat_chunk(void *arg, size_t c)
{
    walk *w = arg;
    size_t end = (c + 1) * STAT_CHUNK < w->files.n ? (c + 1) * STAT_CHUNK : w->files.n;
    for (size_t i = c * STAT_CHUNK; i < end; i++) {
        struct stat st;
        if (fstatat(w->root_fd, w->files.rel[i], &st, 0) == 0 && S_ISREG(st.st_mode))
            w->files.size[i] = (uint64_t)st.st_size;
    }
}

int kx_tree_summarize(const char *root, int workers, uint64_t *size, uint64_t *hash)
{
    walk w = {open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC), KX_TREESUM_INIT};
    if (w.root_fd < 0) return -1;
    walk_dir(&w, "");
    kx_parallel_for(workers, (w.files.n + STAT_CHUNK - 1) / STAT_CHUNK, stat_chunk, &w);
    close(w.root_fd);
    /* files gone or changed type between the walk and the stat are left out, as a listing
     * taken after them would */
    size_t k = 0;
    for (size_t i = 0; i < w.files.n; i++) {
        if (w.files.size[i] == UINT64_MAX) {
            free(w.files.rel[i]);
            continue;
        }
        w.files.rel[k] = w.files.rel[i];
        w.files.size[k++] = w.files.size[i];
    }
    w.files.n = k;
    kx_treesum_finish(&w.files, size, hash);
    return 0;
}
