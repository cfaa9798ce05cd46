#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "util/mem.h"

struct kx_log {
    int console_level;
    FILE *file;
    pthread_mutex_t mu;
};

kx_log *kx_log_new(int console_level)
{
    kx_log *l = kx_calloc(1, sizeof *l);
    l->console_level = console_level;
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

void kx_log_set_file(kx_log *log, FILE *fp)
{
    pthread_mutex_lock(&log->mu);
    if (log->file) fclose(log->file);
    log->file = fp;
    pthread_mutex_unlock(&log->mu);
}

void kx_log_set_console_level(kx_log *log, int level) { log->console_level = level; }

void kx_log_free(kx_log *log)
{
    if (!log) return;
    if (log->file) fclose(log->file);
    pthread_mutex_destroy(&log->mu);
    free(log);
}

const char *kx_log_level_name(int level)
{
    if (level >= KX_LOG_ERROR) return "ERROR";
    if (level >= KX_LOG_WARNING) return "WARNING";
    if (level >= KX_LOG_INFO) return "INFO";
    return "DEBUG";
}

int kx_log_level_parse(const char *s)
{
    if (!strcasecmp(s, "DEBUG")) return KX_LOG_DEBUG;
    if (!strcasecmp(s, "INFO")) return KX_LOG_INFO;
    if (!strcasecmp(s, "WARNING")) return KX_LOG_WARNING;
    if (!strcasecmp(s, "ERROR")) return KX_LOG_ERROR;
    return -1;
}

void kx_logf(kx_log *log, int level, const char *component, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
    int console = log ? log->console_level : KX_LOG_INFO;
    if (log) pthread_mutex_lock(&log->mu);
    if (level >= console)
        fprintf(stderr, "%s | %-25s | %-8s | %s\n", ts, component, kx_log_level_name(level), msg);
    if (log && log->file) {
        fprintf(log->file, "%s | %-25s | %-8s | %s\n", ts, component, kx_log_level_name(level), msg);
        fflush(log->file);
    }
    if (log) pthread_mutex_unlock(&log->mu);
}
