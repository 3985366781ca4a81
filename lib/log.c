#include "lib/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Process-wide because they come from flags (see log.h). */
static struct {
    char component[32];
    enum log_level level;
    int json;
} log_cfg = {"bosun", LOG_INFO, 0};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_setup(const char *component, const char *level, const char *format)
{
    snprintf(log_cfg.component, sizeof(log_cfg.component), "%s", component);
    if (level) {
        int found = 0;
        for (int i = 0; i < 4; i++) {
            if (strcmp(level, level_names[i]) == 0) {
                log_cfg.level = (enum log_level)i;
                found = 1;
            }
        }
        if (!found)
            return -EINVAL;
    }
    if (format) {
        if (strcmp(format, "json") == 0)
            log_cfg.json = 1;
        else if (strcmp(format, "text") == 0)
            log_cfg.json = 0;
        else
            return -EINVAL;
    }
    return 0;
}

int log_enabled(enum log_level level)
{
    return level >= log_cfg.level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

    char line[4400];
    int len;
    if (log_cfg.json) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "ts", ts, "level", level_names[level],
                              "component", log_cfg.component, "msg", msg);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        len = snprintf(line, sizeof(line), "%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    } else {
        len = snprintf(line, sizeof(line), "%s %-5s %s: %s\n", ts, level_names[level],
                       log_cfg.component, msg);
    }
    if (len > (int)sizeof(line) - 1)
        len = (int)sizeof(line) - 1;
    ssize_t w = write(STDERR_FILENO, line, (size_t)len);
    (void)w;
}
