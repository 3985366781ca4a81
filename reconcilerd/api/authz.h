/* authz — authorization: which user may do what (fixed roles per group, no RBAC objects).
 *
 * A request is described like Kubernetes' authorizer attributes (verb, API group,
 * resource, subresource, namespace, name). The roles, by group:
 *
 *   system:masters   everything.
 *   system:nodes     user system:node:<name> only: read pods, nodes, services, endpoints,
 *                    namespaces, configmaps, secrets, leases, events; create, update and
 *                    patch its own Node (and nodes/status); any verb on Leases named after
 *                    itself; update/patch pods/status of pods bound to it and delete them
 *                    (the final delete); create, update, patch the mirror pods of its static
 *                    pods (annotation kubernetes.io/config.mirror, spec.nodeName = itself);
 *                    create/update/patch Events. A node user outside the group, or a group
 *                    member not named system:node:<name>, gets nothing from this role.
 *   bosun:scheduler  read pods, nodes, namespaces, services; create pods/binding;
 *                    update/patch pods/status; create/update/patch Events; Leases.
 *   bosun:proxy      read services, endpoints, nodes; create/update/patch Events.
 *   bosun:gitsync    every verb on every namespaced kind (gitrepositories and their status
 *                    included) and on namespaces; read nodes.
 *   bosun:viewer     get, list, watch on everything except secrets (Kubernetes' `view`
 *                    role leaves secrets out too); pods/log.
 *   every user       discovery, /version, /openapi, and selfsubjectaccessreviews.
 *
 * Rules that depend on an object (the node rules for pods) look at q->obj: the stored
 * object for update/patch/delete, the request body for create. Without one (an access
 * review naming no object), such a rule does not allow. */
#ifndef BOSUN_API_AUTHZ_H
#define BOSUN_API_AUTHZ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "reconcilerd/api/auth.h"

struct api_authz_req {
    const char *verb;     /* get list watch create update patch delete (or "*") */
    const char *group;    /* "" for core */
    const char *resource; /* plural, "" for a non-resource request */
    const char *sub;      /* "" or the subresource */
    const char *ns;       /* "" for cluster scope or all namespaces */
    const char *name;     /* "" for collections */
    const char *path;     /* non-resource requests: the URL path */
    const json_t *obj;    /* borrowed, may be NULL: see above */
};

/* true when u (NULL = the anonymous loopback admin) may do q. */
bool api_authz_allows(const struct api_user *u, const struct api_authz_req *q);

/* true when the decision for u on q's resource needs q->obj (node rules on pods): the
 * caller should load the object and ask again. */
bool api_authz_needs_object(const struct api_user *u, const struct api_authz_req *q);

/* The Kubernetes Forbidden message for q:
 *   pods "x" is forbidden: User "u" cannot delete resource "pods" in API group "" in the
 *   namespace "default"
 * (collections: `pods is forbidden: ...`; cluster scope: `at the cluster scope`;
 * subresources as "pods/status"; non-resource: `forbidden: User "u" cannot get path "/x"`). */
void api_authz_message(const struct api_user *u, const struct api_authz_req *q, char *buf,
                       size_t len);

/* The verb of an HTTP request: GET → get/list/watch, POST → create, PUT → update,
 * PATCH → patch, DELETE → delete. */
const char *api_authz_verb(const char *method, bool named, bool watch);

#endif
