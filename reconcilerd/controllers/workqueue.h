/* workqueue — the level-triggered work queue under every controller loop.
 *
 * Keys ("namespace/name", or a node name) are queued at most once: adding a key that is
 * already waiting does nothing, adding the key that is being processed marks it to run
 * again afterwards (so one key never runs on two threads and no change is lost). A key
 * whose handler fails is retried with per-key exponential back-off; a success forgets
 * its failures. Delayed adds (ctrl_wq_add_after) let a handler ask to be called again
 * later (minReadySeconds, node heartbeat deadlines).
 *
 * One worker thread per queue, started by ctrl_wq_run (adds before that accumulate, so
 * informers can fill the queue while the caches sync). Sizes are modest (the set of
 * Deployments, ReplicaSets, Services, Nodes), lookups are linear. */
#ifndef BOSUN_CTRL_WORKQUEUE_H
#define BOSUN_CTRL_WORKQUEUE_H

#include <stdint.h>

#include "lib/err.h"

struct ctrl_wq;

/* Processes one key (borrowed). Returns 0 when done, a negative code to be retried
 * with back-off. */
typedef int (*ctrl_wq_fn)(const char *key, void *userdata);

struct ctrl_wq_opts {
    const char *name;       /* for logs: "deployment" */
    ctrl_wq_fn fn;
    void *userdata;
    int64_t base_delay_ms;  /* first retry delay [100] */
    int64_t max_delay_ms;   /* cap [30000] */
};

int ctrl_wq_new(const struct ctrl_wq_opts *opts, struct ctrl_wq **out, struct bosun_err *err);
/* Starts the worker thread. */
int ctrl_wq_run(struct ctrl_wq *q, struct bosun_err *err);
/* Thread-safe; the key is copied. */
void ctrl_wq_add(struct ctrl_wq *q, const char *key);
void ctrl_wq_add_after(struct ctrl_wq *q, const char *key, int64_t delay_ms);
/* Number of keys waiting (ready or delayed), for tests and metrics. */
size_t ctrl_wq_len(struct ctrl_wq *q);
/* Stops the worker (the key in progress finishes) and waits for it; later adds are
 * ignored, so informers may still call in until they are stopped. */
void ctrl_wq_shutdown(struct ctrl_wq *q);
/* Shuts down (if not yet) and frees everything. NULL allowed. */
void ctrl_wq_free(struct ctrl_wq *q);

#endif
