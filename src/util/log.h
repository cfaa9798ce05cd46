/* log.h — run log (spec 05 §4.7).
 *
 * Line format: "YYYY-MM-DD HH:MM:SS | <component, width 25> | <LEVEL, width 8> | message".
 * The console gets messages at or above the console level (stderr); the optional log
 * file gets everything (DEBUG). Thread-safe. A NULL kx_log* is accepted and logs to
 * stderr at INFO, so library code can always log.
 */
#ifndef KX_UTIL_LOG_H
#define KX_UTIL_LOG_H

#include <stdio.h>

enum { KX_LOG_DEBUG = 10, KX_LOG_INFO = 20, KX_LOG_WARNING = 30, KX_LOG_ERROR = 40, KX_LOG_OFF = 100 };

typedef struct kx_log kx_log;

kx_log *kx_log_new(int console_level);
/* Also write every message (DEBUG and up) to this file; the log takes ownership. */
void kx_log_set_file(kx_log *log, FILE *fp);
void kx_log_set_console_level(kx_log *log, int level);
void kx_log_free(kx_log *log);
void kx_logf(kx_log *log, int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Parse DEBUG/INFO/WARNING/ERROR (any case); -1 if unknown. */
int kx_log_level_parse(const char *s);
const char *kx_log_level_name(int level);

#endif
