#include "reconcilerd/api/authz.h"

#include <stdio.h>
#include <string.h>

#include "lib/jsonx.h"

#define NODE_PREFIX "system:node:"

static bool in_group(const struct api_user *u, const char *g)
{
    for (size_t i = 0; i < u->ngroups; i++)
        if (!strcmp(u->groups[i], g))
            return true;
    return false;
}

static bool eq(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

static bool is_read(const char *verb)
{
    return eq(verb, "get") || eq(verb, "list") || eq(verb, "watch");
}

static bool is_write_event(const char *verb)
{
    return eq(verb, "create") || eq(verb, "update") || eq(verb, "patch");
}

/* resource in a NULL-terminated list of "group/resource" names ("" group: "/pods"). */
static bool res_in(const struct api_authz_req *q, const char *const *list)
{
    char gr[300];
    snprintf(gr, sizeof(gr), "%s/%s", q->group ? q->group : "", q->resource ? q->resource : "");
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(list[i], gr))
            return true;
    return false;
}

static bool is_res(const struct api_authz_req *q, const char *group, const char *res,
                   const char *sub)
{
    return eq(q->group, group) && eq(q->resource, res) && eq(q->sub, sub);
}

static bool events(const struct api_authz_req *q)
{
    return (is_res(q, "", "events", "") || is_res(q, "events.k8s.io", "events", "")) &&
           (is_write_event(q->verb) || is_read(q->verb));
}

/* The node name of a node user, or NULL. */
static const char *node_name(const struct api_user *u)
{
    if (!in_group(u, "system:nodes") || strncmp(u->name, NODE_PREFIX, strlen(NODE_PREFIX)))
        return NULL;
    const char *n = u->name + strlen(NODE_PREFIX);
    return *n ? n : NULL;
}

/* Pod rules of a node that depend on the pod: NULL obj = undecided (false). */
static bool node_pod_rule(const char *node, const struct api_authz_req *q)
{
    const char *bound = jsonx_get_str(q->obj, "spec.nodeName");
    bool mine = bound && !strcmp(bound, node);
    if (!q->obj || !mine)
        return false;
    if (eq(q->sub, "status"))
        return eq(q->verb, "update") || eq(q->verb, "patch") || eq(q->verb, "get");
    if (*q->sub)
        return false;
    if (eq(q->verb, "delete"))
        return true;
    if (eq(q->verb, "create") || eq(q->verb, "update") || eq(q->verb, "patch")) {
        json_t *ann = jsonx_get(q->obj, "metadata.annotations");
        return json_is_string(json_object_get(ann, "kubernetes.io/config.mirror"));
    }
    return false;
}

static bool node_allows(const char *node, const struct api_authz_req *q)
{
    static const char *const reads[] = {"/pods", "/nodes", "/services", "/endpoints",
                                        "/namespaces", "/configmaps", "/secrets",
                                        "coordination.k8s.io/leases", "/events", NULL};
    if (is_read(q->verb) && !*q->sub && res_in(q, reads))
        return true;
    if (is_res(q, "", "pods", "log") || events(q))
        return true;
    if (eq(q->group, "") && eq(q->resource, "nodes")) {
        if (!eq(q->name, node))
            return eq(q->verb, "create") && !*q->name && !*q->sub && q->obj &&
                   eq(jsonx_get_str(q->obj, "metadata.name"), node);
        return is_read(q->verb) || eq(q->verb, "update") || eq(q->verb, "patch") ||
               eq(q->verb, "create");
    }
    if (eq(q->group, "coordination.k8s.io") && eq(q->resource, "leases")) {
        if (eq(q->name, node))
            return true;
        return eq(q->verb, "create") && q->obj &&
               eq(jsonx_get_str(q->obj, "metadata.name"), node);
    }
    if (eq(q->group, "") && eq(q->resource, "pods"))
        return node_pod_rule(node, q);
    return false;
}

static bool needs_obj_node(const struct api_authz_req *q)
{
    return eq(q->group, "") && eq(q->resource, "pods") && !is_read(q->verb) &&
           !eq(q->sub, "log");
}

bool api_authz_needs_object(const struct api_user *u, const struct api_authz_req *q)
{
    if (!u || in_group(u, "system:masters") || !node_name(u))
        return false;
    return needs_obj_node(q) || (eq(q->verb, "create") && (eq(q->resource, "nodes") ||
                                                          eq(q->resource, "leases")));
}

static bool namespaced_resource(const struct api_authz_req *q)
{
    static const char *const cluster[] = {"/nodes", "/namespaces", NULL};
    return *q->resource && !res_in(q, cluster);
}

bool api_authz_allows(const struct api_user *u, const struct api_authz_req *q)
{
    if (!u || in_group(u, "system:masters"))
        return true;
    if (!q->resource || !*q->resource) {
        /* non-resource paths: discovery and OpenAPI for every authenticated user */
        return eq(q->verb, "get");
    }
    if (is_res(q, "authorization.k8s.io", "selfsubjectaccessreviews", "") &&
        eq(q->verb, "create"))
        return true;
    const char *node = node_name(u);
    if (node && node_allows(node, q))
        return true;
    if (in_group(u, "bosun:scheduler")) {
        static const char *const reads[] = {"/pods", "/nodes", "/namespaces", "/services",
                                            NULL};
        if (is_read(q->verb) && !*q->sub && res_in(q, reads))
            return true;
        if (is_res(q, "", "pods", "binding") && eq(q->verb, "create"))
            return true;
        if (is_res(q, "", "pods", "status") &&
            (eq(q->verb, "update") || eq(q->verb, "patch") || eq(q->verb, "get")))
            return true;
        if (events(q) || (eq(q->group, "coordination.k8s.io") && eq(q->resource, "leases")))
            return true;
    }
    if (in_group(u, "bosun:proxy")) {
        static const char *const reads[] = {"/services", "/endpoints", "/nodes", NULL};
        if (is_read(q->verb) && !*q->sub && res_in(q, reads))
            return true;
        if (events(q))
            return true;
    }
    if (in_group(u, "bosun:gitsync")) {
        if (namespaced_resource(q) || is_res(q, "", "namespaces", "") ||
            is_res(q, "", "namespaces", "status"))
            return true;
        if (is_res(q, "", "nodes", "") && is_read(q->verb))
            return true;
    }
    if (in_group(u, "bosun:viewer")) {
        if (is_read(q->verb) && !eq(q->resource, "secrets") &&
            (!*q->sub || eq(q->sub, "status") || eq(q->sub, "scale")))
            return true;
        if (is_res(q, "", "pods", "log") && eq(q->verb, "get"))
            return true;
    }
    return false;
}

void api_authz_message(const struct api_user *u, const struct api_authz_req *q, char *buf,
                       size_t len)
{
    const char *user = u ? u->name : "system:anonymous";
    if (!q->resource || !*q->resource) {
        snprintf(buf, len, "forbidden: User \"%s\" cannot %s path \"%s\"", user, q->verb,
                 q->path ? q->path : "");
        return;
    }
    char res[600], head[900], scope[400];
    if (q->sub && *q->sub)
        snprintf(res, sizeof(res), "%s/%s", q->resource, q->sub);
    else
        snprintf(res, sizeof(res), "%s", q->resource);
    char qualified[600];
    if (q->group && *q->group)
        snprintf(qualified, sizeof(qualified), "%s.%s", q->resource, q->group);
    else
        snprintf(qualified, sizeof(qualified), "%s", q->resource);
    if (q->name && *q->name)
        snprintf(head, sizeof(head), "%s \"%s\" is forbidden", qualified, q->name);
    else
        snprintf(head, sizeof(head), "%s is forbidden", qualified);
    if (q->ns && *q->ns)
        snprintf(scope, sizeof(scope), "in the namespace \"%s\"", q->ns);
    else
        snprintf(scope, sizeof(scope), "at the cluster scope");
    snprintf(buf, len, "%s: User \"%s\" cannot %s resource \"%s\" in API group \"%s\" %s", head,
             user, q->verb, res, q->group ? q->group : "", scope);
}

const char *api_authz_verb(const char *method, bool named, bool watch)
{
    if (!strcmp(method, "GET") || !strcmp(method, "HEAD"))
        return watch ? "watch" : named ? "get" : "list";
    if (!strcmp(method, "POST"))
        return "create";
    if (!strcmp(method, "PUT"))
        return "update";
    if (!strcmp(method, "PATCH"))
        return "patch";
    if (!strcmp(method, "DELETE"))
        return "delete";
    return "unknown";
}
