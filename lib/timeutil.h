/* timeutil — clocks and Kubernetes timestamps. */
#ifndef BOSUN_TIMEUTIL_H
#define BOSUN_TIMEUTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock (for timeouts and back-off, never persisted). */
int64_t time_mono_ms(void);

/* Initialises c so that pthread_cond_timedwait deadlines are on CLOCK_MONOTONIC (the clock
 * time_mono_ms reads): a step of the wall clock neither cuts nor stretches a wait. */
void time_cond_init_mono(pthread_cond_t *c);

/* Writes "YYYY-MM-DDTHH:MM:SSZ" (RFC 3339, UTC, what Kubernetes stores) for t into buf
 * (at least 21 bytes). Returns buf. */
char *time_rfc3339(time_t t, char *buf, size_t len);

/* Parses an RFC 3339 timestamp ("...Z" or "+hh:mm", fractional seconds allowed).
 * Returns 0 and *out, or -EINVAL. */
int time_parse_rfc3339(const char *s, time_t *out);

/* Formats a duration the way kubectl prints ages: "45s", "5m", "3h", "2d". */
char *time_human_age(int64_t seconds, char *buf, size_t len);

#endif
