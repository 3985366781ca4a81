/* resource — the REST verbs on objects: get, list (selectors, paging, Table), create
 * (generateName), update (CAS), patch (merge, strategic, JSON, apply), delete (graceful
 * for bound pods, cascading to dependents, whole namespaces), and the status, scale and
 * binding subresources. Server-set metadata, Service ClusterIP/NodePort allocation,
 * defaulting and validation happen here. */
#ifndef BOSUN_API_RESOURCE_H
#define BOSUN_API_RESOURCE_H

#include "lib/err.h"
#include "reconcilerd/api/context.h"

/* Serves r (path resolved to a served kind; r->key/prefix set) and answers r->req. */
void api_resource_serve(struct api_req *r);

/* Creates namespace `name` unless it exists. */
int api_resource_ensure_namespace(struct api *api, const char *name, struct bosun_err *err);

/* Claims the ClusterIPs and NodePorts of every stored Service (at start). */
int api_resource_rebuild_allocations(struct api *api, struct bosun_err *err);

#endif
