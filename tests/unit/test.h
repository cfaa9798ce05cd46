/* test.h — a minimal unit-test harness.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_EQ_INT(a, b); CHECK_EQ_DBL(a, b); CHECK_EQ_STR(a, b); }
 *
 * Tests register themselves (constructor attribute); tests/unit/main.c runs them and
 * prints one "PASS name" / "FAIL name: reason" line each, which tests/run_all.sh counts.
 * A failed CHECK records the first failure and returns from the test.
 */
#ifndef KX_TEST_H
#define KX_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct kx_test {
    const char *name;
    void (*fn)(void);
    struct kx_test *next;
} kx_test;

void kx_test_register(kx_test *t);
void kx_test_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kx_test_failed(void);
/* Path of ../shared (or $KEYETL_SHARED), NULL when absent; tests that need it call SKIP. */
const char *kx_test_shared_dir(void);
void kx_test_skip(const char *why);
int kx_test_skipped(void);
/* A fresh empty temporary folder for this test (removed at exit). */
const char *kx_test_tmpdir(void);

#define TEST(name)                                                   \
    static void test_##name(void);                                   \
    static kx_test test_reg_##name = {#name, test_##name, NULL};     \
    __attribute__((constructor)) static void test_ctor_##name(void) \
    {                                                                \
        kx_test_register(&test_reg_##name);                          \
    }                                                                \
    static void test_##name(void)

#define CHECK(cond)                                                   \
    do {                                                              \
        if (!(cond)) {                                                \
            kx_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);     \
            return;                                                   \
        }                                                             \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                  \
    do {                                                                                    \
        long long a_ = (long long)(a), b_ = (long long)(b);                                \
        if (a_ != b_) {                                                                     \
            kx_test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);   \
            return;                                                                         \
        }                                                                                   \
    } while (0)

/* Exact for NaN==NaN and equal values; use CHECK_NEAR for tolerances. */
#define CHECK_EQ_DBL(a, b)                                                                  \
    do {                                                                                    \
        double a_ = (a), b_ = (b);                                                          \
        if (!((isnan(a_) && isnan(b_)) || a_ == b_)) {                                      \
            kx_test_fail(__FILE__, __LINE__, "%s == %s: %.17g != %.17g", #a, #b, a_, b_);  \
            return;                                                                         \
        }                                                                                   \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                               \
    do {                                                                                    \
        double a_ = (a), b_ = (b);                                                          \
        if (!(fabs(a_ - b_) <= (tol) * fmax(1.0, fabs(b_)))) {                              \
            kx_test_fail(__FILE__, __LINE__, "%s ~= %s: %.17g vs %.17g", #a, #b, a_, b_);  \
            return;                                                                         \
        }                                                                                   \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                  \
    do {                                                                                    \
        const char *a_ = (a), *b_ = (b);                                                    \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                            \
            kx_test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,        \
                         a_ ? a_ : "(null)", b_ ? b_ : "(null)");                           \
            return;                                                                         \
        }                                                                                   \
    } while (0)

#define SKIP(why)            \
    do {                     \
        kx_test_skip(why);   \
        return;              \
    } while (0)

#endif
