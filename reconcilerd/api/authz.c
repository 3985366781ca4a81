#include "reconcilerd/api/authz.h"

#include <stdio.h>
#include <string.h>

#include "lib/jsonx.h"
#include "schema/kinds.h"

#define NODE_PREFIX "system:node:"
#define MIRROR_ANNOTATION "kubernetes.io/config.mirror"

/* What a rule needs beyond verb and resource (the node rules). */
enum cond {
    COND_NONE,
    COND_OWN_NAME,    /* the request names the node itself (resourceNames: [node]) */
    COND_CREATE_SELF, /* a create whose body (q->obj) is named after the node */
    COND_BOUND,       /* the pod (q->obj) is bound to the node */
    COND_MIRROR,      /* the pod (q->obj) is a mirror pod bound to the node */
    COND_REFERENCED,  /* a pod bound to the node (q->node_pods) references the object */
};

/* One rule, shaped like an RBAC PolicyRule: it allows its verbs on the cross product of
 * its API groups and resources (or on its non-resource URLs), for the members of `who`
 * (NULL: every authenticated user; "system:nodes": node users only), when cond holds.
 *
 * resources are RBAC's: "pods", "pods/status", "*" (every resource and subresource,
 * served or not), plus forms expanded from schema_kinds(): "@kinds" (every served kind),
 * "@kinds/<sub>" (that subresource of every kind that has it), "@namespaced" and
 * "@namespaced/\*" (the namespaced kinds, and all their subresources). urls: exact,
 * "/x/\*" for a prefix, "*" for all. Lists are NULL-terminated. */
struct rule {
    const char *who;
    const char *verbs[8];
    const char *groups[3];
    const char *resources[8];
    const char *except; /* "group/resource" left out of the @ forms */
    const char *urls[12];
    enum cond cond;
};

#define READ "get", "list", "watch"
#define EVENTS                                                                                  \
    .verbs = {"create", "get", "list", "patch", "update", "watch"},                             \
    .groups = {"", "events.k8s.io"}, .resources = {"events"}

/* The one table: the decision and the rules listing both read it. */
static const struct rule rules[] = {
    /* every authenticated user: discovery and the self reviews (Kubernetes'
     * system:discovery and system:basic-user) */
    {.who = NULL,
     .verbs = {"get"},
     .urls = {"/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
              "/openapi/*", "/readyz", "/version", "/version/"}},
    {.who = NULL,
     .verbs = {"create"},
     .groups = {"authorization.k8s.io"},
     .resources = {"selfsubjectaccessreviews", "selfsubjectrulesreviews"}},

    {.who = "system:masters", .verbs = {"*"}, .groups = {"*"}, .resources = {"*"}},
    {.who = "system:masters", .verbs = {"*"}, .urls = {"*"}},

    {.who = "system:nodes",
     .verbs = {READ},
     .groups = {""},
     .resources = {"pods", "nodes", "services", "endpoints", "namespaces", "events"}},
    {.who = "system:nodes", .verbs = {READ}, .groups = {"coordination.k8s.io"},
     .resources = {"leases"}},
    {.who = "system:nodes", .verbs = {"get"}, .groups = {""}, .resources = {"pods/log"}},
    {.who = "system:nodes", EVENTS},
    {.who = "system:nodes", .verbs = {READ}, .groups = {""},
     .resources = {"secrets", "configmaps"}, .cond = COND_REFERENCED},
    {.who = "system:nodes",
     .verbs = {"create", "get", "list", "patch", "update", "watch"},
     .groups = {""},
     .resources = {"nodes"},
     .cond = COND_OWN_NAME},
    {.who = "system:nodes", .verbs = {"get", "patch", "update"}, .groups = {""},
     .resources = {"nodes/status"}, .cond = COND_OWN_NAME},
    {.who = "system:nodes", .verbs = {"create"}, .groups = {""}, .resources = {"nodes"},
     .cond = COND_CREATE_SELF},
    {.who = "system:nodes", .verbs = {"*"}, .groups = {"coordination.k8s.io"},
     .resources = {"leases"}, .cond = COND_OWN_NAME},
    {.who = "system:nodes", .verbs = {"create"}, .groups = {"coordination.k8s.io"},
     .resources = {"leases"}, .cond = COND_CREATE_SELF},
    {.who = "system:nodes", .verbs = {"get", "patch", "update"}, .groups = {""},
     .resources = {"pods/status"}, .cond = COND_BOUND},
    {.who = "system:nodes", .verbs = {"delete"}, .groups = {""}, .resources = {"pods"},
     .cond = COND_BOUND},
    {.who = "system:nodes", .verbs = {"create", "patch", "update"}, .groups = {""},
     .resources = {"pods"}, .cond = COND_MIRROR},

    {.who = "bosun:scheduler", .verbs = {READ}, .groups = {""},
     .resources = {"pods", "nodes", "namespaces", "services"}},
    {.who = "bosun:scheduler", .verbs = {"create"}, .groups = {""},
     .resources = {"pods/binding"}},
    {.who = "bosun:scheduler", .verbs = {"get", "patch", "update"}, .groups = {""},
     .resources = {"pods/status"}},
    {.who = "bosun:scheduler", EVENTS},
    {.who = "bosun:scheduler", .verbs = {"*"}, .groups = {"coordination.k8s.io"},
     .resources = {"leases"}},

    {.who = "bosun:proxy", .verbs = {READ}, .groups = {""},
     .resources = {"services", "endpoints", "nodes"}},
    {.who = "bosun:proxy", EVENTS},

    /* gitsync applies whatever manifests Git holds, but a Node in Git is refused */
    {.who = "bosun:gitsync", .verbs = {"*"}, .groups = {"*"},
     .resources = {"@namespaced", "@namespaced/*"}},
    {.who = "bosun:gitsync", .verbs = {"*"}, .groups = {""},
     .resources = {"namespaces", "namespaces/status"}},
    {.who = "bosun:gitsync", .verbs = {READ}, .groups = {""}, .resources = {"nodes"}},

    {.who = "bosun:viewer",
     .verbs = {READ},
     .groups = {"*"},
     .resources = {"@kinds", "@kinds/status", "@kinds/scale"},
     .except = "/secrets"},
    {.who = "bosun:viewer", .verbs = {"get"}, .groups = {""}, .resources = {"pods/log"}},
};

#define NRULES (sizeof(rules) / sizeof(rules[0]))

static bool eq(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

static bool has(const char *const *list, size_t max, const char *s)
{
    for (size_t i = 0; i < max && list[i]; i++)
        if (eq(list[i], s))
            return true;
    return false;
}

#define HAS(arr, s) has((arr), sizeof(arr) / sizeof((arr)[0]), (s))

static bool in_group(const struct api_user *u, const char *g)
{
    for (size_t i = 0; i < u->ngroups; i++)
        if (!strcmp(u->groups[i], g))
            return true;
    return false;
}

const char *api_authz_node_name(const struct api_user *u)
{
    if (!u || !in_group(u, "system:nodes") || strncmp(u->name, NODE_PREFIX, strlen(NODE_PREFIX)))
        return NULL;
    const char *n = u->name + strlen(NODE_PREFIX);
    return *n ? n : NULL;
}

/* Whether r is one of u's rules (u NULL: the anonymous admin, the masters' rules). */
static bool applies(const struct rule *r, const struct api_user *u, const char *node)
{
    if (!r->who)
        return true;
    if (!u)
        return !strcmp(r->who, "system:masters");
    if (!strcmp(r->who, "system:nodes"))
        return node != NULL;
    return in_group(u, r->who);
}

/* The served kind of group/resource (any version), or NULL. */
static const struct schema_kind *served(const char *group, const char *resource)
{
    size_t n;
    const struct schema_kind *ks = schema_kinds(&n);
    for (size_t i = 0; i < n; i++)
        if (eq(ks[i].group, group) && eq(ks[i].resource, resource))
            return &ks[i];
    return NULL;
}

static bool kind_has_sub(const struct schema_kind *k, const char *sub)
{
    return HAS(k->subresources, sub);
}

static bool excluded(const struct rule *r, const char *group, const char *resource)
{
    if (!r->except)
        return false;
    size_t gl = strlen(group);
    return !strncmp(r->except, group, gl) && r->except[gl] == '/' &&
           !strcmp(r->except + gl + 1, resource);
}

/* An @ form (at: "@kinds", "@kinds/status", "@namespaced/\*") against kind k and sub. */
static bool at_form_matches(const char *at, const struct schema_kind *k, const char *sub)
{
    const char *slash = strchr(at, '/');
    size_t base = slash ? (size_t)(slash - at) : strlen(at);
    if (base == strlen("@namespaced") && !strncmp(at, "@namespaced", base) && !k->namespaced)
        return false;
    if (!slash)
        return !*sub;
    if (!*sub || !kind_has_sub(k, sub))
        return false;
    return !strcmp(slash + 1, "*") || !strcmp(slash + 1, sub);
}

static bool resource_matches(const struct rule *r, const struct api_authz_req *q)
{
    const char *sub = q->sub ? q->sub : "";
    char combined[300];
    snprintf(combined, sizeof(combined), "%s%s%s", q->resource, *sub ? "/" : "", sub);
    for (size_t i = 0; i < sizeof(r->resources) / sizeof(r->resources[0]) && r->resources[i];
         i++) {
        const char *t = r->resources[i];
        if (!strcmp(t, "*") || !strcmp(t, combined))
            return true;
        if (t[0] == '*' && t[1] == '/' && *sub && !strcmp(t + 2, sub))
            return true; /* RBAC's "*\/status" */
        if (t[0] == '@') {
            const struct schema_kind *k = served(q->group ? q->group : "", q->resource);
            if (k && !excluded(r, k->group, k->resource) && at_form_matches(t, k, sub))
                return true;
        }
    }
    return false;
}

static bool url_matches(const struct rule *r, const char *path)
{
    for (size_t i = 0; i < sizeof(r->urls) / sizeof(r->urls[0]) && r->urls[i]; i++) {
        const char *u = r->urls[i];
        size_t n = strlen(u);
        if (!strcmp(u, "*") || eq(u, path))
            return true;
        if (n && u[n - 1] == '*' && path && !strncmp(path, u, n - 1))
            return true;
    }
    return false;
}

/* r's verbs and resources (or URLs) cover q; its condition aside. */
static bool matches(const struct rule *r, const struct api_authz_req *q)
{
    if (!HAS(r->verbs, q->verb) && !HAS(r->verbs, "*"))
        return false;
    if (!q->resource || !*q->resource)
        return r->urls[0] && url_matches(r, q->path);
    if (r->urls[0])
        return false;
    return (HAS(r->groups, "*") || HAS(r->groups, q->group)) && resource_matches(r, q);
}

static bool bound_to(const json_t *pod, const char *node)
{
    const char *b = jsonx_get_str(pod, "spec.nodeName");
    return b && node && !strcmp(b, node);
}

static bool is_mirror(const json_t *pod)
{
    return json_is_string(json_object_get(jsonx_get(pod, "metadata.annotations"),
                                          MIRROR_ANNOTATION));
}

static void why(char *reason, size_t len, const char *node, const char *msg)
{
    if (!reason || !len || *reason)
        return; /* the first reason stays */
    if (msg)
        snprintf(reason, len, "%s", msg);
    else
        snprintf(reason, len, "no relationship found between node '%s' and this object", node);
}

static bool cond_holds(const struct rule *r, const char *node, const struct api_authz_req *q,
                       char *reason, size_t len)
{
    switch (r->cond) {
    case COND_NONE:
        return true;
    case COND_OWN_NAME:
        return eq(q->name, node);
    case COND_CREATE_SELF:
        return eq(q->verb, "create") && !*q->name && q->obj &&
               eq(jsonx_get_str(q->obj, "metadata.name"), node);
    case COND_BOUND:
    case COND_MIRROR:
        if (!q->obj) {
            why(reason, len, node, "allowed only for objects bound to this node");
            return false;
        }
        if (!bound_to(q->obj, node)) {
            why(reason, len, node, NULL);
            return false;
        }
        return r->cond == COND_BOUND || is_mirror(q->obj);
    case COND_REFERENCED: {
        if (!q->ns || !*q->ns) {
            why(reason, len, node, "can only read namespaced object of this type");
            return false;
        }
        if (!q->name || !*q->name) {
            why(reason, len, node, "No Object name found");
            return false;
        }
        size_t i;
        json_t *pod;
        json_array_foreach(q->node_pods, i, pod) {
            if (bound_to(pod, node) && eq(jsonx_get_str(pod, "metadata.namespace"), q->ns) &&
                api_authz_pod_references(pod, q->resource, q->name))
                return true;
        }
        why(reason, len, node, NULL);
        return false;
    }
    }
    return false;
}

bool api_authz_decide(const struct api_user *u, const struct api_authz_req *q, char *reason,
                      size_t len)
{
    if (reason && len)
        reason[0] = '\0';
    if (!u)
        return true;
    const char *node = api_authz_node_name(u);
    for (size_t i = 0; i < NRULES; i++)
        if (applies(&rules[i], u, node) && matches(&rules[i], q) &&
            cond_holds(&rules[i], node, q, reason, len))
            return true;
    return false;
}

bool api_authz_allows(const struct api_user *u, const struct api_authz_req *q)
{
    return api_authz_decide(u, q, NULL, 0);
}

/* Whether some node rule with one of the conditions in conds covers q. */
static bool node_rule_with(const struct api_user *u, const struct api_authz_req *q,
                           const enum cond *conds, size_t nconds)
{
    const char *node = api_authz_node_name(u);
    if (!node || in_group(u, "system:masters"))
        return false;
    for (size_t i = 0; i < NRULES; i++) {
        bool want = false;
        for (size_t c = 0; c < nconds; c++)
            want = want || rules[i].cond == conds[c];
        if (want && applies(&rules[i], u, node) && matches(&rules[i], q))
            return true;
    }
    return false;
}

bool api_authz_needs_object(const struct api_user *u, const struct api_authz_req *q)
{
    static const enum cond conds[] = {COND_CREATE_SELF, COND_BOUND, COND_MIRROR};
    return node_rule_with(u, q, conds, 3);
}

bool api_authz_needs_node_pods(const struct api_user *u, const struct api_authz_req *q)
{
    static const enum cond conds[] = {COND_REFERENCED};
    return q->ns && *q->ns && q->name && *q->name && node_rule_with(u, q, conds, 1);
}

/* ------------------------------------------------------------ pod references */

/* Calls fn(name, ud) for each Secret (secrets) or ConfigMap name pod references; stops
 * and returns true when fn does. */
typedef bool (*ref_fn)(const char *name, void *ud);

static bool visit(const json_t *v, ref_fn fn, void *ud)
{
    const char *s = json_string_value(v);
    return s && *s && fn(s, ud);
}

static bool visit_refs(const json_t *pod, bool secrets, ref_fn fn, void *ud)
{
    /* volume sources that name a Secret besides `secret` (Kubernetes' VisitPodSecretNames) */
    static const char *const vol_secret_refs[] = {
        "secret.secretName",         "azureFile.secretName",         "cephfs.secretRef.name",
        "cinder.secretRef.name",     "flexVolume.secretRef.name",    "iscsi.secretRef.name",
        "rbd.secretRef.name",        "scaleIO.secretRef.name",       "storageos.secretRef.name",
        "csi.nodePublishSecretRef.name"};
    static const char *const containers[] = {"initContainers", "containers",
                                             "ephemeralContainers"};
    const json_t *spec = json_object_get(pod, "spec");
    size_t i, j;
    json_t *v, *s;
    if (secrets)
        json_array_foreach(json_object_get(spec, "imagePullSecrets"), i, v) {
            if (visit(json_object_get(v, "name"), fn, ud))
                return true;
        }
    json_array_foreach(json_object_get(spec, "volumes"), i, v) {
        if (secrets) {
            for (j = 0; j < sizeof(vol_secret_refs) / sizeof(vol_secret_refs[0]); j++)
                if (visit(jsonx_get(v, vol_secret_refs[j]), fn, ud))
                    return true;
        } else if (visit(jsonx_get(v, "configMap.name"), fn, ud)) {
            return true;
        }
        json_array_foreach(jsonx_get(v, "projected.sources"), j, s) {
            if (visit(jsonx_get(s, secrets ? "secret.name" : "configMap.name"), fn, ud))
                return true;
        }
    }
    for (size_t l = 0; l < 3; l++) {
        json_t *c;
        json_array_foreach(json_object_get(spec, containers[l]), i, c) {
            json_array_foreach(json_object_get(c, "envFrom"), j, s) {
                if (visit(jsonx_get(s, secrets ? "secretRef.name" : "configMapRef.name"), fn,
                          ud))
                    return true;
            }
            json_array_foreach(json_object_get(c, "env"), j, s) {
                if (visit(jsonx_get(s, secrets ? "valueFrom.secretKeyRef.name"
                                               : "valueFrom.configMapKeyRef.name"),
                          fn, ud))
                    return true;
            }
        }
    }
    return false;
}

static bool name_is(const char *name, void *ud)
{
    return !strcmp(name, ud);
}

bool api_authz_pod_references(const json_t *pod, const char *resource, const char *name)
{
    bool secrets = eq(resource, "secrets");
    if (!secrets && !eq(resource, "configmaps"))
        return false;
    return name && visit_refs(pod, secrets, name_is, (void *)name);
}

/* ------------------------------------------------------------ rules listing */

static bool add_unique(const char *name, void *ud)
{
    json_t *arr = ud;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (!strcmp(json_string_value(v), name))
            return false;
    }
    json_array_append_new(arr, json_string(name));
    return false;
}

static json_t *strings(const char *const *list, size_t max, const char *skip)
{
    json_t *a = json_array();
    for (size_t i = 0; i < max && list[i]; i++)
        if (!skip || strcmp(list[i], skip))
            json_array_append_new(a, json_string(list[i]));
    return a;
}

#define STRINGS(arr, skip) strings((arr), sizeof(arr) / sizeof((arr)[0]), (skip))

/* Appends r's resource rule(s) with verbs (owned) and names (owned, NULL = none) to out:
 * the @ forms expanded per API group of the served kinds. */
static void add_resource_rule(json_t *out, const struct rule *r, json_t *verbs, json_t *names)
{
    bool at = false;
    for (size_t i = 0; i < sizeof(r->resources) / sizeof(r->resources[0]) && r->resources[i];
         i++)
        at = at || r->resources[i][0] == '@';
    if (!at) {
        json_t *rr = json_pack("{s:O,s:o,s:o}", "verbs", verbs, "apiGroups",
                               STRINGS(r->groups, NULL), "resources",
                               STRINGS(r->resources, NULL));
        if (names)
            json_object_set(rr, "resourceNames", names);
        json_array_append_new(out, rr);
        json_decref(verbs);
        json_decref(names);
        return;
    }
    size_t n;
    const struct schema_kind *ks = schema_kinds(&n);
    for (size_t g = 0; g < n; g++) {
        bool first = true; /* each API group once, at its first kind */
        for (size_t h = 0; h < g; h++)
            first = first && strcmp(ks[h].group, ks[g].group);
        if (!first || !(HAS(r->groups, "*") || HAS(r->groups, ks[g].group)))
            continue;
        json_t *res = json_array();
        for (size_t k = g; k < n; k++) {
            if (strcmp(ks[k].group, ks[g].group) || excluded(r, ks[k].group, ks[k].resource))
                continue;
            for (size_t t = 0; t < sizeof(r->resources) / sizeof(r->resources[0]) &&
                               r->resources[t];
                 t++) {
                const char *form = r->resources[t];
                if (form[0] != '@')
                    continue;
                if (at_form_matches(form, &ks[k], ""))
                    add_unique(ks[k].resource, res);
                for (size_t s = 0; s < 4 && ks[k].subresources[s]; s++) {
                    if (!at_form_matches(form, &ks[k], ks[k].subresources[s]))
                        continue;
                    char rs[200];
                    snprintf(rs, sizeof(rs), "%s/%s", ks[k].resource, ks[k].subresources[s]);
                    add_unique(rs, res);
                }
            }
        }
        if (!json_array_size(res)) {
            json_decref(res);
            continue;
        }
        json_t *rr = json_pack("{s:O,s:[s],s:o}", "verbs", verbs, "apiGroups", ks[g].group,
                               "resources", res);
        if (names)
            json_object_set(rr, "resourceNames", names);
        json_array_append_new(out, rr);
    }
    json_decref(verbs);
    json_decref(names);
}

static void add_error(char *buf, size_t len, const char *msg)
{
    size_t l = strlen(buf);
    if (strstr(buf, msg))
        return;
    snprintf(buf + l, len - l, "%s%s", l ? "; " : "", msg);
}

/* The names of node_pods bound to node (mirror: only mirror pods). */
static json_t *bound_pod_names(const json_t *node_pods, const char *node, bool mirror)
{
    json_t *names = json_array();
    size_t i;
    json_t *pod;
    json_array_foreach(node_pods, i, pod) {
        const char *name = jsonx_get_str(pod, "metadata.name");
        if (name && bound_to(pod, node) && (!mirror || is_mirror(pod)))
            add_unique(name, names);
    }
    return names;
}

json_t *api_authz_rules(const struct api_user *u, const char *ns, const json_t *node_pods)
{
    json_t *rr = json_array(), *nr = json_array();
    char errors[1024] = "";
    const char *node = api_authz_node_name(u);
    bool have_ns = ns && *ns;
    for (size_t i = 0; i < NRULES; i++) {
        const struct rule *r = &rules[i];
        if (!applies(r, u, node))
            continue;
        if (r->urls[0]) {
            json_array_append_new(nr, json_pack("{s:o,s:o}", "verbs", STRINGS(r->verbs, NULL),
                                                "nonResourceURLs", STRINGS(r->urls, NULL)));
            continue;
        }
        json_t *names;
        switch (r->cond) {
        case COND_NONE:
            add_resource_rule(rr, r, STRINGS(r->verbs, NULL), NULL);
            break;
        case COND_OWN_NAME:
            add_resource_rule(rr, r, STRINGS(r->verbs, NULL), json_pack("[s]", node));
            break;
        case COND_CREATE_SELF:
            /* listed by the COND_OWN_NAME rule on the same resource, which allows create
             * with resourceNames [node] (what the body's name amounts to) */
            break;
        case COND_BOUND:
        case COND_MIRROR:
            if (r->cond == COND_MIRROR && HAS(r->verbs, "create"))
                add_error(errors, sizeof(errors),
                          "creating a mirror pod (annotation " MIRROR_ANNOTATION
                          ", bound to this node) depends on the pod sent, which no rule "
                          "expresses");
            if (!have_ns) {
                add_error(errors, sizeof(errors),
                          "rules on the pods bound to this node are listed per namespace");
                break;
            }
            names = bound_pod_names(node_pods, node, r->cond == COND_MIRROR);
            if (json_array_size(names))
                add_resource_rule(rr, r, STRINGS(r->verbs, "create"), names);
            else
                json_decref(names);
            break;
        case COND_REFERENCED:
            if (!have_ns) {
                add_error(errors, sizeof(errors),
                          "secrets and configmaps of the pods bound to this node are listed "
                          "per namespace");
                break;
            }
            for (int secrets = 1; secrets >= 0; secrets--) {
                names = json_array();
                size_t p;
                json_t *pod;
                json_array_foreach(node_pods, p, pod) {
                    if (bound_to(pod, node) && eq(jsonx_get_str(pod, "metadata.namespace"), ns))
                        visit_refs(pod, secrets, add_unique, names);
                }
                if (!json_array_size(names)) {
                    json_decref(names);
                    continue;
                }
                json_array_append_new(rr, json_pack("{s:o,s:[s],s:[s],s:o}", "verbs",
                                                    STRINGS(r->verbs, NULL), "apiGroups", "",
                                                    "resources",
                                                    secrets ? "secrets" : "configmaps",
                                                    "resourceNames", names));
            }
            break;
        }
    }
    json_t *st = json_pack("{s:o,s:o,s:b}", "resourceRules", rr, "nonResourceRules", nr,
                           "incomplete", *errors != '\0');
    if (*errors)
        json_object_set_new(st, "evaluationError", json_string(errors));
    return st;
}

/* ------------------------------------------------------------ messages */

void api_authz_message(const struct api_user *u, const struct api_authz_req *q,
                       const char *reason, char *buf, size_t len)
{
    const char *user = u ? u->name : "system:anonymous";
    const char *tail = reason && *reason ? ": " : "";
    if (!reason)
        reason = "";
    if (!q->resource || !*q->resource) {
        snprintf(buf, len, "forbidden: User \"%s\" cannot %s path \"%s\"%s%s", user, q->verb,
                 q->path ? q->path : "", tail, reason);
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
    snprintf(buf, len, "%s: User \"%s\" cannot %s resource \"%s\" in API group \"%s\" %s%s%s",
             head, user, q->verb, res, q->group ? q->group : "", scope, tail, reason);
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
