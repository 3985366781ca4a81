/* backoff — exponential back-off delays: initial, doubling, capped at max, reset on
 * success. Used by the informer (relists), the nodeagent (container restarts: 10 s
 * doubling to 5 min) and the supervisor in `bosun up` (daemon restarts).
 *
 * A plain value type: no allocation, not thread-safe (one owner). */
#ifndef BOSUN_BACKOFF_H
#define BOSUN_BACKOFF_H

#include <stdint.h>

struct backoff {
    int64_t initial_ms;
    int64_t max_ms;
    int64_t next_ms;  /* the delay backoff_next returns next */
    unsigned failures; /* backoff_next calls since the last reset */
};

/* Sets up b: the first delay is initial_ms, each later one doubles, never above max_ms.
 * initial_ms <= 0 is taken as 1; max_ms < initial_ms is raised to initial_ms. */
void backoff_init(struct backoff *b, int64_t initial_ms, int64_t max_ms);

/* Returns the delay to wait before the next attempt and doubles the one after. */
int64_t backoff_next(struct backoff *b);

/* Returns the delay backoff_next would return, without advancing. */
int64_t backoff_peek(const struct backoff *b);

/* After a success: the next delay is initial_ms again. */
void backoff_reset(struct backoff *b);

#endif
