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

/* Sets err->msg (err may be NULL) and returns -1, so callers can `return kx_fail(...)`. */
int kx_fail(kx_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like kx_fail, appending ": strerror(errno)". */
int kx_fail_errno(kx_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
