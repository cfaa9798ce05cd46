/* err.h — error reporting convention.
 *
 * Fallible functions return 0 on success and -1 on failure, writing a human-readable
 * message (naming the file and the reason) into a caller-provided kx_err. The message
 * is meant to be shown to the user as is.
 */
#ifndef KX_UTIL_ERR_H
#define KX_UTIL_ERR_H

typedef struct kx_err {
    char msg[1024];
} kx_err;

/* Sets err->msg (err may be NULL). */
void kx_err_set(kx_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like kx_err_set, appending ": strerror(errno)" (errno as it was at the call). */
void kx_err_set_errno(kx_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* kx_fail(err, fmt, ...) sets the message and yields -1, so callers can `return kx_fail(...)`.
 * Macros rather than functions returning -1: the -1 is then visible to the compiler and to
 * static analysers, which otherwise assume an error path may continue. */
static inline int kx_failed(void) { return -1; }
#define kx_fail(...) (kx_err_set(__VA_ARGS__), kx_failed())
#define kx_fail_errno(...) (kx_err_set_errno(__VA_ARGS__), kx_failed())

#endif
