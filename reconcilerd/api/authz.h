/* authz — authorization: which user may do what (fixed roles per group, no RBAC objects).
 *
 * A request is described like Kubernetes' authorizer attributes (verb, API group,
 * resource, subresource, namespace, name). The roles live in one table of rules in
 * authz.c, shaped like RBAC PolicyRules (verbs × API groups × resources, or non-resource
 * URLs), each belonging to one group; both the decision (api_authz_decide) and the rules
 * listing of a SelfSubjectRulesReview (api_authz_rules) read that table. By group:
 *
 *   system:masters   everything.
 *   system:nodes     user system:node:<name> only: read pods, nodes, services, endpoints,
 *                    namespaces, leases, events; get pods/log; read a Secret or ConfigMap
 *                    only when a pod bound to it references it (Kubernetes' node authorizer:
 *                    get, or list/watch naming one object with fieldSelector metadata.name);
 *                    create, update and patch its own Node (and nodes/status); any verb on
 *                    Leases named after itself; update/patch pods/status of pods bound to it
 *                    and delete them (the final delete); create, update, patch the mirror
 *                    pods of its static pods (annotation kubernetes.io/config.mirror,
 *                    spec.nodeName = itself); create/update/patch Events. A node user outside
 *                    the group, or a group member not named system:node:<name>, gets nothing
 *                    from this role.
 *   bosun:scheduler  read pods, nodes, namespaces, services; create pods/binding;
 *                    get/update/patch pods/status; Events; Leases.
 *   bosun:proxy      read services, endpoints, nodes; Events.
 *   bosun:gitsync    every verb on every namespaced kind (and its subresources) and on
 *                    namespaces; read nodes.
 *   bosun:viewer     get, list, watch on every kind except secrets (Kubernetes' `view`
 *                    role leaves secrets out too), their status and scale; pods/log.
 *   every user       get on discovery, /version, /openapi, /healthz; create
 *                    selfsubjectaccessreviews and selfsubjectrulesreviews.
 *
 * "Every kind" is every kind schema_kinds() serves, expanded when the rules are listed.
 *
 * Rules that depend on an object look at q->obj (node rules on pods, a node creating
 * itself or its Lease: the stored object for get/update/patch/delete, the request body
 * for create) or at q->node_pods (secrets and configmaps). Without them such a rule does
 * not allow; api_authz_needs_object / api_authz_needs_node_pods say when to load them. */
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
    const char *name;     /* "" for collections; a list/watch's fieldSelector metadata.name
                             (Kubernetes' RequestInfo does the same) */
    const char *path;     /* non-resource requests: the URL path */
    const json_t *obj;    /* borrowed, may be NULL: see above */
    const json_t *node_pods; /* borrowed array, may be NULL: pods bound to the user's node
                                in q->ns (api_node_pods) */
};

/* true when u (NULL = the anonymous loopback admin) may do q. */
bool api_authz_allows(const struct api_user *u, const struct api_authz_req *q);

/* api_authz_allows, and when it says no because of a node rule's condition, the
 * node authorizer's reason in reason (e.g. "no relationship found between node 'n1' and
 * this object", "No Object name found"); "" otherwise. reason may be NULL. */
bool api_authz_decide(const struct api_user *u, const struct api_authz_req *q, char *reason,
                      size_t len);

/* true when the decision for u on q needs q->obj (a node's rules on pods, its own Node
 * or Lease at create): the caller should load the object and decide again. */
bool api_authz_needs_object(const struct api_user *u, const struct api_authz_req *q);

/* true when the decision for u on q needs q->node_pods: a node reading a Secret or
 * ConfigMap by name in a namespace. */
bool api_authz_needs_node_pods(const struct api_user *u, const struct api_authz_req *q);

/* The node name of u when u is a node user (system:node:<name> in system:nodes; borrowed
 * from u), or NULL. */
const char *api_authz_node_name(const struct api_user *u);

/* true when pod references the Secret (resource "secrets") or ConfigMap ("configmaps")
 * name: volumes (secret, configMap, projected sources), env valueFrom and envFrom of
 * containers, initContainers and ephemeralContainers, imagePullSecrets (secrets). */
bool api_authz_pod_references(const json_t *pod, const char *resource, const char *name);

/* The status of a SelfSubjectRulesReview for u in namespace ns (NULL u = every rule):
 * {"resourceRules":[{verbs, apiGroups, resources, resourceNames?}…],
 *  "nonResourceRules":[{verbs, nonResourceURLs}…], "incomplete":bool,
 *  "evaluationError"?:…}, from the same table api_authz_decide reads. For a node user,
 * node_pods (the pods bound to it in ns) give the resourceNames of the rules that depend on
 * objects; rules that cannot be written as RBAC rules (creating mirror pods) make the list
 * incomplete, with the reason in evaluationError. A new reference. */
json_t *api_authz_rules(const struct api_user *u, const char *ns, const json_t *node_pods);

/* The Kubernetes Forbidden message for q:
 *   pods "x" is forbidden: User "u" cannot delete resource "pods" in API group "" in the
 *   namespace "default"
 * (collections: `pods is forbidden: ...`; cluster scope: `at the cluster scope`;
 * subresources as "pods/status"; non-resource: `forbidden: User "u" cannot get path "/x"`),
 * followed by ": <reason>" when reason (from api_authz_decide; may be NULL) is not empty. */
void api_authz_message(const struct api_user *u, const struct api_authz_req *q,
                       const char *reason, char *buf, size_t len);

/* The verb of an HTTP request: GET → get/list/watch, POST → create, PUT → update,
 * PATCH → patch, DELETE → delete. */
const char *api_authz_verb(const char *method, bool named, bool watch);

#endif
