/* context — the API server's shared state and the per-request context, used by the
 * api/ modules (router, resource handlers, watch, logs). Not for other daemons. */
#ifndef BOSUN_API_CONTEXT_H
#define BOSUN_API_CONTEXT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/httpd.h"
#include "reconcilerd/api/alloc.h"
#include "reconcilerd/api/auth.h"
#include "reconcilerd/api/limits.h"
#include "reconcilerd/api/paths.h"
#include "reconcilerd/store/store.h"
#include "schema/kinds.h"

struct api_watches;
struct api_finalizer;

struct api {
    struct store *store;        /* borrowed */
    struct api_auth *auth;      /* borrowed; NULL = anonymous admin on loopback */
    struct api_alloc *alloc;    /* owned */
    struct api_watches *watches;/* owned */
    pthread_mutex_t svc_mu;     /* serialises Service allocations against each other */
    int64_t watch_default_timeout_s;
    int64_t bookmark_interval_ms;
    struct api_limits *limits;  /* owned: per-user request rate and open watches */
    const struct api_user *internal; /* borrowed: the controllers' identity (no limits) */
    struct api_finalizer *fin;  /* owned: namespace termination, foreground deletion */
};

#define API_KEY_MAX 1024

/* One request being served (lives on the handler's stack). */
struct api_req {
    struct api *api;
    struct httpd_req *req;
    const struct api_user *user;          /* NULL for anonymous */
    struct api_path path;
    const struct schema_kind *kind;
    char qualified[160];                  /* "pods", "deployments.apps" (for messages) */
    char key[API_KEY_MAX];                /* store key of the named object ("" for lists) */
    char prefix[API_KEY_MAX];             /* store prefix of the collection */
    bool applying;                        /* server-side apply: managedFields recorded by it */
};

#endif
