/* api — reconcilerd's Kubernetes-compatible HTTP API (the router and its state).
 *
 * api_handle is the httpd handler: it authenticates (bearer tokens; anonymous admin on
 * loopback when no token table is given), applies the per-user limits (429 with
 * Retry-After), authorizes (authz.h; 403 Forbidden), routes discovery, OpenAPI, health and resource
 * paths (see docs/api.md), and answers every failure with a Status. */
#ifndef BOSUN_API_H
#define BOSUN_API_H

#include <stdbool.h>

#include "lib/err.h"
#include "lib/httpd.h"
#include "reconcilerd/api/auth.h"
#include "reconcilerd/store/store.h"

struct api;

struct api_opts {
    struct store *store;          /* borrowed; must outlive the api */
    struct api_auth *auth;        /* borrowed; NULL = anonymous admin, loopback peers only */
    const char *service_cidr;     /* "10.96.0.0/16" */
    const char *node_port_range;  /* "30000-32767" */
    long long watch_timeout_s;    /* minimum default watch length [1800] (0 = default) */
    long long bookmark_interval_ms; /* BOOKMARK period of allowWatchBookmarks watches [60000] */
    double user_qps;              /* requests per second per user (<= 0: unlimited) */
    double user_burst;            /* bucket size (<= 0: 2 x user_qps) */
    long max_watches_per_user;    /* open watches per user (<= 0: unlimited) */
    const struct api_user *internal_user; /* borrowed, may be NULL: exempt from the limits */
    /* Other reconcilerd replicas write the same store (etcd): Service allocations become
     * claims in the store (alloc.h) and the finalizer looks for work other replicas left
     * behind every shared_rescan_ms [60000] (finalize.h). */
    bool shared_store;
    long long shared_rescan_ms;
};

/* Builds the API: rebuilds (shared: repairs) Service allocations from the store, makes
 * sure the namespaces `default` and `bosun-system` exist, and starts the finalizer thread
 * (namespace termination, foreground deletion; see finalize.h). */
int api_new(const struct api_opts *opts, struct api **out, struct bosun_err *err);
/* Frees the API. Stop the httpd serving it first (that closes its watch streams). */
void api_free(struct api *api);

/* The httpd handler; userdata is the struct api. */
void api_handle(struct httpd_req *req, void *userdata);

#endif
