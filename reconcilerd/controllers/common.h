/* common — what every controller shares: the context (API client, informers, the event
 * recorder of lib/events.h), object helpers (keys, owner references, conditions) and API calls that
 * follow the optimistic-concurrency rules (a 409 is re-read and retried, never
 * overwritten blindly).
 *
 * Objects passed in are borrowed; functions returning json_t * return new references. */
#ifndef BOSUN_CTRL_COMMON_H
#define BOSUN_CTRL_COMMON_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "lib/err.h"
#include "lib/httpc.h"
#include "lib/events.h"
#include "lib/informer.h"

/* The shared context of the controllers (one per reconcilerd). Informer pointers are
 * set once before the informers that depend on them start, and never change after. */
struct ctrl_ctx {
    struct httpc *client;
    struct events *events; /* the recorder (lib/events.h), source "controller-manager" */
    struct informer *deployments;
    struct informer *replicasets;
    struct informer *pods;
    struct informer *services;
    struct informer *endpoints;
    struct informer *nodes;
    struct informer *leases;
    const char *cluster_cidr;
    int node_cidr_mask;
    int64_t node_monitor_grace_ms;
};

#define CTRL_KEY_MAX 512
#define CTRL_PATH_MAX 768

/* "ns/name" (or "name" for cluster-scoped objects) into buf. Returns 0 or -ENAMETOOLONG. */
int ctrl_obj_key(const json_t *obj, char *buf, size_t len);
/* Splits "ns/name"; a key without '/' gives ns "". Returns 0 or -EINVAL. */
int ctrl_key_split(const char *key, char *ns, size_t nslen, char *name, size_t namelen);

/* The ownerReference with controller: true (borrowed), or NULL. */
const json_t *ctrl_controller_ref(const json_t *obj);
/* True when obj's controller reference names kind and uid. */
bool ctrl_is_controlled_by(const json_t *obj, const char *kind, const char *uid);
/* A new ownerReferences entry {apiVersion, kind, name, uid, controller, blockOwnerDeletion}. */
json_t *ctrl_owner_ref(const json_t *owner, const char *api_version, const char *kind);

bool ctrl_is_deleting(const json_t *obj);
/* A pod in phase Succeeded or Failed. */
bool ctrl_pod_is_terminal(const json_t *pod);
/* The condition of type in status.conditions (borrowed), or NULL. */
const json_t *ctrl_condition(const json_t *obj, const char *type);
/* Pod Ready condition True. */
bool ctrl_pod_is_ready(const json_t *pod);
/* Ready for at least min_ready_s seconds at now (availability, as Kubernetes counts it). */
bool ctrl_pod_is_available(const json_t *pod, int64_t min_ready_s, time_t now);

/* RFC 3339 "now" into buf (>= 21 bytes). */
char *ctrl_now(char *buf, size_t len);

/* API path of an object: kind one of "Deployment", "ReplicaSet", "Pod", "Endpoints",
 * "Node", "Service", "Event"; name may be NULL for the collection. Returns 0 or -EINVAL. */
int ctrl_path(const char *kind, const char *ns, const char *name, char *buf, size_t len);

/* Replaces obj's status through `path`/status, carrying obj's resourceVersion. On a 409
 * the object is read again and the status applied to the fresh copy (the status is this
 * controller's to write; spec and metadata are never taken from the stale copy), up to
 * three times. A 404 is success (the object is gone). */
int ctrl_update_status(struct httpc *c, const char *path, const json_t *obj,
                       const json_t *status, struct bosun_err *err);

/* PUT obj to path (carrying its resourceVersion). Returns 0, -EAGAIN on 409 (caller
 * re-reads: the cache will bring the new version), -ENOENT on 404, or -EIO. *out (may be
 * NULL) gets the server's copy. */
int ctrl_put(struct httpc *c, const char *path, const json_t *obj, json_t **out,
             struct bosun_err *err);
/* POST obj to a collection path. Returns 0, -EEXIST on 409, -EIO otherwise. */
int ctrl_post(struct httpc *c, const char *path, const json_t *obj, json_t **out,
              struct bosun_err *err);
/* GET path. Returns 0, -ENOENT on 404, -EIO otherwise. */
int ctrl_get(struct httpc *c, const char *path, json_t **out, struct bosun_err *err);
/* DELETE path with propagationPolicy Background and, when uid is not NULL, a uid
 * precondition. A 404 is success. */
int ctrl_delete(struct httpc *c, const char *path, const char *uid, struct bosun_err *err);

#endif
