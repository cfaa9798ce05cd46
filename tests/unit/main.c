/* Unit test runner: runs every registered TEST (optionally only names containing argv[1]). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/fs.h"
#include "test.h"

static kx_test *head;
static int cur_failed, cur_skipped;
static char cur_msg[2048];
static char tmproot[256];
static int tmpn;
static char tmpcur[300];

void kx_test_register(kx_test *t)
{
    t->next = head;
    head = t;
}

void kx_test_fail(const char *file, int line, const char *fmt, ...)
{
    if (cur_failed) return;
    cur_failed = 1;
    int n = snprintf(cur_msg, sizeof cur_msg, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cur_msg + n, sizeof cur_msg - (size_t)n, fmt, ap);
    va_end(ap);
}

int kx_test_failed(void) { return cur_failed; }

void kx_test_skip(const char *why)
{
    cur_skipped = 1;
    snprintf(cur_msg, sizeof cur_msg, "%s", why);
}

int kx_test_skipped(void) { return cur_skipped; }

const char *kx_test_shared_dir(void)
{
    const char *env = getenv("KEYETL_SHARED");
    static const char *cands[] = {"../shared", "../../shared"};
    if (env && kx_is_dir(env)) return env;
    for (size_t i = 0; i < 2; i++)
        if (kx_is_dir(cands[i])) return cands[i];
    return NULL;
}

const char *kx_test_tmpdir(void)
{
    snprintf(tmpcur, sizeof tmpcur, "%s/t%d", tmproot, ++tmpn);
    kx_mkdirs(tmpcur, NULL);
    return tmpcur;
}

static int by_name(const void *a, const void *b)
{
    const kx_test *x = *(kx_test *const *)a, *y = *(kx_test *const *)b;
    return strcmp(x->name, y->name);
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    const char *suite = getenv("KEYETL_TEST_SUITE");
    snprintf(tmproot, sizeof tmproot, "/tmp/keyetl-unit-%ld", (long)getpid());
    kx_mkdirs(tmproot, NULL);
    size_t n = 0;
    for (kx_test *t = head; t; t = t->next) n++;
    kx_test **all = calloc(n ? n : 1, sizeof *all);
    if (!all) return 2;
    n = 0;
    for (kx_test *t = head; t; t = t->next) all[n++] = t;
    qsort(all, n, sizeof *all, by_name);
    int passed = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        if (filter && !strstr(all[i]->name, filter)) continue;
        cur_failed = cur_skipped = 0;
        cur_msg[0] = 0;
        all[i]->fn();
        const char *pfx = suite ? suite : "unit";
        if (cur_failed) {
            printf("FAIL %s/%s: %s\n", pfx, all[i]->name, cur_msg);
            failed++;
        } else if (cur_skipped) {
            printf("SKIP %s/%s: %s\n", pfx, all[i]->name, cur_msg);
            skipped++;
        } else {
            printf("PASS %s/%s\n", pfx, all[i]->name);
            passed++;
        }
        fflush(stdout);
    }
    free(all);
    kx_rmtree(tmproot, NULL);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
