/* sync — one gitsync instance: the sync of one commit and the loop that triggers it.
 *
 * A sync: read the GitRepository (suspend, previous inventory, request annotation) ->
 * fetch -> collect and validate the whole commit -> apply in order -> prune -> status.
 * Any fetch failure (FetchFailed) or manifest error (ValidationFailed) leaves the cluster
 * as the last applied commit left it. An apply failure (ApplyFailed) keeps going with the
 * other objects but does not prune; the inventory then keeps the old entries too, so a
 * later prune still finds them.
 *
 * Triggers (gitsync_run): every interval, gitsync_trigger() (the webhook), and a change
 * of the bosun.io/requested-at annotation seen by a watch on the GitRepository. Triggers
 * that arrive during a sync coalesce into one more sync. */
#ifndef BOSUN_GITSYNC_SYNC_H
#define BOSUN_GITSYNC_SYNC_H

#include <pthread.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/httpc.h"

struct gitsync_opts {
    const char *repo;      /* --repo as given */
    const char *branch;    /* --branch, NULL or "" = the remote's default */
    const char *path;      /* --path ["."] */
    const char *cache_dir; /* --cache-dir */
    const char *name;      /* --name: bosun-system/<name> */
    int64_t interval_ms;   /* --interval */
    int prune;             /* --prune */
};

struct gitsync_stats {
    uint64_t syncs, failures, created, updated, pruned, writes_skipped;
    int64_t last_success_unix;
};

struct gitsync {
    struct gitsync_opts opts;
    struct httpc *client; /* borrowed */
    char repo_url[4096];  /* --repo normalised (absolute path or URL) */

    pthread_mutex_t mu;
    pthread_cond_t cond;
    int pending;          /* a trigger arrived */
    volatile int stop;
    char seen_request[256]; /* the requested-at value the watch last triggered for */
    struct gitsync_stats stats;
    pthread_t watch_thread;
    int watch_started;
    int spec_published;   /* the flags' spec has been written since start */
};

/* Initialises g (borrows client and the strings in opts). */
int gitsync_init(struct gitsync *g, const struct gitsync_opts *opts, struct httpc *client,
                 struct bosun_err *err);
void gitsync_destroy(struct gitsync *g);

/* Writes the GitRepository's spec from the flags (creating it, and bosun-system, when
 * missing). */
int gitsync_publish_spec(struct gitsync *g, const char *resolved_branch, struct bosun_err *err);

/* Runs one sync. Returns 0 when the commit was applied (or nothing was to do), a
 * negative code when the attempt failed (status already written when the API could be
 * reached). */
int gitsync_sync_once(struct gitsync *g, struct bosun_err *err);

/* Asks for a sync soon (thread-safe, never blocks for long). */
void gitsync_trigger(struct gitsync *g);

/* The trigger loop: a sync at once, then on every trigger or interval, until
 * gitsync_stop. Starts the annotation watch thread. */
void gitsync_run(struct gitsync *g);
void gitsync_stop(struct gitsync *g);

/* Prometheus text for /metrics into a malloc'd string. */
char *gitsync_metrics(struct gitsync *g);

#endif
