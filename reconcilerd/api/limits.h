/* limits — per-user limits so that one client cannot starve the rest: a request rate
 * (token bucket: `qps` per second, bursts up to `burst`) and a number of open watches.
 * Users are keyed by name; the table only grows with distinct authenticated users (the
 * token file bounds it). Thread-safe. */
#ifndef BOSUN_API_LIMITS_H
#define BOSUN_API_LIMITS_H

#include <stdint.h>

#include "lib/err.h"

struct api_limits;

/* qps <= 0: no rate limit; max_watches <= 0: no watch limit. */
int api_limits_new(double qps, double burst, long max_watches, struct api_limits **out,
                   struct bosun_err *err);
void api_limits_free(struct api_limits *l);

/* Takes one request from user's bucket: 0 = go ahead, otherwise the whole seconds to wait
 * before retrying (>= 1; what Retry-After says). */
int api_limits_take(struct api_limits *l, const char *user);

/* Claims one open watch for user: 0, or -EBUSY at the limit. Release it with
 * api_limits_watch_done exactly once. */
int api_limits_watch_open(struct api_limits *l, const char *user);
void api_limits_watch_done(struct api_limits *l, const char *user);
/* The configured watch limit (0 = none). */
long api_limits_max_watches(const struct api_limits *l);

#endif
