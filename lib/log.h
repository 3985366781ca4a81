/* log — leveled logging to stderr, as text or one JSON object per line.
 *
 * A daemon calls log_setup() once from main() with its parsed flags; the settings
 * are process-wide because they are flags. Library code logs at debug only; the
 * daemon's top level reports errors once. Thread-safe: one write(2) per line. */
#ifndef BOSUN_LOG_H
#define BOSUN_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* component: the daemon name shown on every line. level/format: the flag values
 * ("debug|info|warn|error", "text|json"). Returns 0, or -EINVAL for an unknown value. */
int log_setup(const char *component, const char *level, const char *format);

int log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
