/* queue — the scheduling queue: pending pods keyed "namespace/name", each at most once.
 * A pod that did not fit waits with exponential back-off (1 s doubling to 10 s, as
 * kube-scheduler's podInitialBackoff/podMaxBackoff); a cluster change (a node added or
 * changed, a pod gone) makes every waiting pod ready at once. Thread-safe. */
#ifndef BOSUN_SCHEDULER_QUEUE_H
#define BOSUN_SCHEDULER_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct scheduler_queue;

#define SCHEDULER_BACKOFF_INITIAL_MS 1000
#define SCHEDULER_BACKOFF_MAX_MS 10000

int scheduler_queue_new(struct scheduler_queue **out, struct bosun_err *err);
void scheduler_queue_free(struct scheduler_queue *q);
/* A pod that needs scheduling: ready now unless it is waiting out a back-off. */
void scheduler_queue_add(struct scheduler_queue *q, const char *key);
/* A pod that no longer needs scheduling (bound, deleted). */
void scheduler_queue_remove(struct scheduler_queue *q, const char *key);
/* Every waiting pod is ready now (the cluster changed). */
void scheduler_queue_retry_all(struct scheduler_queue *q);
/* The next ready key (caller frees), waiting up to timeout_ms. Returns 0, -ETIMEDOUT, or
 * -ECANCELED once closed. */
int scheduler_queue_pop(struct scheduler_queue *q, int64_t timeout_ms, char **key);
/* After a pop: scheduled (forgotten) or not (back-off). */
void scheduler_queue_done(struct scheduler_queue *q, const char *key, bool scheduled);
/* Wakes and refuses every pop. */
void scheduler_queue_close(struct scheduler_queue *q);
size_t scheduler_queue_len(struct scheduler_queue *q);

#endif
