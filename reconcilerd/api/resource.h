/* resource — the REST verbs on objects: get, list (selectors, paging, Table), create
 * (generateName), update (CAS), patch (merge, strategic, JSON, apply), delete (graceful
 * for bound pods, cascading to dependents, whole namespaces), and the status, scale and
 * binding subresources. Server-set metadata, Service ClusterIP/NodePort allocation,
 * defaulting and validation happen here. */
#ifndef BOSUN_API_RESOURCE_H
#define BOSUN_API_RESOURCE_H

#include <stdint.h>

#include "lib/err.h"
#include "reconcilerd/api/context.h"

/* Serves r (path resolved to a served kind; r->key/prefix set) and answers r->req. */
void api_resource_serve(struct api_req *r);

/* Creates namespace `name` unless it exists. */
int api_resource_ensure_namespace(struct api *api, const char *name, struct bosun_err *err);

/* Brings the Service allocator in line with the stored Services (api_alloc_sync): at start
 * in private mode; at start and then periodically with a shared store, where claims no
 * Service uses are freed once older than grace_s. */
int api_resource_rebuild_allocations(struct api *api, int64_t grace_s, struct bosun_err *err);

/* One pass of namespace termination: deletes (Background; bound pods gracefully) what is
 * left in namespace `name`, and removes the namespace once nothing is. 1 = the namespace
 * is gone (or was not terminating), 0 = objects remain. */
int api_resource_namespace_step(struct api *api, const char *name);

/* One pass of foreground deletion of the object at key: once no object names it as an
 * owner, drops its foregroundDeletion finalizer (removing it when that was the last one).
 * 1 = done (or nothing to do), 0 = dependents remain. */
int api_resource_foreground_step(struct api *api, const char *key);

/* Appends the names of Terminating namespaces to namespaces and the keys of objects
 * waiting for foreground deletion to owners (at start-up). */
int api_resource_list_pending(struct api *api, json_t *namespaces, json_t *owners);

#endif
