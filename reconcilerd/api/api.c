#include "reconcilerd/api/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/selector.h"
#include "reconcilerd/api/authz.h"
#include "reconcilerd/api/body.h"
#include "reconcilerd/api/context.h"
#include "reconcilerd/api/discovery.h"
#include "reconcilerd/api/finalize.h"
#include "reconcilerd/api/nodepods.h"
#include "reconcilerd/api/paths.h"
#include "reconcilerd/api/resource.h"
#include "reconcilerd/api/status.h"
#include "reconcilerd/api/watch.h"
#include "schema/kinds.h"

int api_new(const struct api_opts *opts, struct api **out, struct bosun_err *err)
{
    struct api *api = calloc(1, sizeof(*api));
    int rc;
    if (!api)
        return err_set(err, -ENOMEM, "out of memory");
    api->store = opts->store;
    api->auth = opts->auth;
    api->watch_default_timeout_s = opts->watch_timeout_s > 0 ? opts->watch_timeout_s : 1800;
    api->bookmark_interval_ms = opts->bookmark_interval_ms > 0 ? opts->bookmark_interval_ms : 60000;
    pthread_mutex_init(&api->svc_mu, NULL);
    if ((rc = api_alloc_new(opts->service_cidr ? opts->service_cidr : "10.96.0.0/16",
                            opts->node_port_range ? opts->node_port_range : "30000-32767",
                            opts->shared_store ? opts->store : NULL, &api->alloc, err)))
        goto fail;
    if ((rc = api_watches_new(&api->watches, err)))
        goto fail;
    api->internal = opts->internal_user;
    if ((rc = api_limits_new(opts->user_qps,
                             opts->user_burst > 0 ? opts->user_burst : 2 * opts->user_qps,
                             opts->max_watches_per_user, &api->limits, err)))
        goto fail;
    /* a claim younger than a minute may be another replica's create in flight */
    if ((rc = api_resource_rebuild_allocations(api, 60, err)))
        goto fail;
    if ((rc = api_resource_ensure_namespace(api, "default", err)) ||
        (rc = api_resource_ensure_namespace(api, "bosun-system", err)))
        goto fail;
    long long rescan = opts->shared_rescan_ms > 0 ? opts->shared_rescan_ms : 60000;
    if ((rc = api_finalizer_start(api, opts->shared_store ? rescan : 0, &api->fin, err)))
        goto fail;
    *out = api;
    return 0;
fail:
    api_free(api);
    return rc;
}

void api_free(struct api *api)
{
    if (!api)
        return;
    api_finalizer_stop(api->fin);
    api_watches_free(api->watches);
    api_limits_free(api->limits);
    api_alloc_free(api->alloc);
    pthread_mutex_destroy(&api->svc_mu);
    free(api);
}

static bool is_public(const char *path)
{
    return !strcmp(path, "/healthz") || !strcmp(path, "/readyz") || !strcmp(path, "/livez") ||
           !strcmp(path, "/version") || !strcmp(path, "/version/");
}

/* Resolves the path's kind and store keys; answers and returns false when it cannot. */
static bool resolve(struct api_req *r)
{
    struct api_path *p = &r->path;
    const struct schema_kind *k = schema_kind_by_resource(p->group, p->version, p->resource);
    if (!k) {
        api_respond_not_found_path(r->req);
        return false;
    }
    r->kind = k;
    if (*k->group)
        snprintf(r->qualified, sizeof(r->qualified), "%s.%s", k->resource, k->group);
    else
        snprintf(r->qualified, sizeof(r->qualified), "%s", k->resource);
    if (*p->ns && !k->namespaced) {
        api_respond_not_found_path(r->req);
        return false;
    }
    if (*p->sub) {
        bool ok = false;
        for (int i = 0; i < 4 && k->subresources[i]; i++)
            if (!strcmp(k->subresources[i], p->sub))
                ok = true;
        if (!ok) {
            api_respond_not_found_path(r->req);
            return false;
        }
    }
    if (k->namespaced && !*p->ns && *p->name) {
        /* /api/v1/pods/x: a namespaced object needs its namespace */
        api_respond_not_found_path(r->req);
        return false;
    }
    if (*p->name)
        snprintf(r->key, sizeof(r->key), "%s/%s/%s/%s", k->group, k->resource, p->ns, p->name);
    if (k->namespaced && *p->ns)
        snprintf(r->prefix, sizeof(r->prefix), "%s/%s/%s/", k->group, k->resource, p->ns);
    else
        snprintf(r->prefix, sizeof(r->prefix), "%s/%s/", k->group, k->resource);
    return true;
}

/* POST /api/v1/namespaces/{ns}/bindings {"metadata":{"name":pod},"target":...}: rewritten
 * to pods/{pod}/binding. */
static bool rewrite_bindings(struct api_req *r)
{
    struct api_path *p = &r->path;
    if (strcmp(p->group, "") || strcmp(p->resource, "bindings") || !*p->ns || *p->name)
        return false;
    size_t len;
    const char *b = httpd_body(r->req, &len);
    json_t *o = json_loadb(b, len, 0, NULL);
    const char *name = json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
    if (!name || !api_path_segment_ok(name)) {
        json_decref(o);
        api_respond_status(r->req, 400, "BadRequest", "a Binding needs metadata.name (the pod)");
        return true;
    }
    snprintf(p->resource, sizeof(p->resource), "pods");
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->sub, sizeof(p->sub), "binding");
    json_decref(o);
    if (strcmp(httpd_method(r->req), "POST")) {
        api_respond_status(r->req, 405, "MethodNotAllowed", "only POST is allowed on bindings");
        return true;
    }
    return false; /* rewritten: resolved, authorized and served like pods/{name}/binding */
}

static bool qbool(struct httpd_req *req, const char *key)
{
    const char *s = httpd_query(req, key);
    return s && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "1"));
}

static void respond_forbidden(struct api_req *r, const struct api_authz_req *q,
                              const char *reason)
{
    char msg[2600];
    api_authz_message(r->user, q, reason, msg, sizeof(msg));
    json_t *st = api_status_new(403, "Forbidden", msg);
    if (q->resource && *q->resource)
        api_status_details(st, q->name && *q->name ? q->name : NULL,
                           q->group && *q->group ? q->group : NULL, q->resource);
    api_respond_status_obj(r->req, st);
}

/* Decides q for r's user. When the answer is no and a node rule depends on what q names,
 * loads it and decides again: the object (the request body of a create when body is set,
 * else the stored object at key) and the pods bound to the node. reason as in
 * api_authz_decide. */
static bool decide(struct api_req *r, struct api_authz_req *q, const char *key, bool body,
                   char *reason, size_t len)
{
    if (api_authz_decide(r->user, q, reason, len))
        return true;
    json_t *obj = NULL, *pods = NULL;
    bool again = false, ok = false;
    if (api_authz_needs_object(r->user, q)) {
        if (body && !strcmp(q->verb, "create") && !*q->name) {
            size_t blen;
            const char *b = httpd_body(r->req, &blen);
            json_t *st = NULL;
            obj = api_body_decode(b, blen, api_media_of(httpd_header(r->req, "Content-Type")),
                                  &st);
            json_decref(st);
        } else if (key && *key) {
            store_get(r->api->store, key, &obj, NULL, NULL);
        }
        q->obj = obj;
        again = obj != NULL;
    }
    if (api_authz_needs_node_pods(r->user, q)) {
        struct bosun_err err = {0};
        /* a store failure leaves node_pods empty: no relationship found, as Kubernetes'
         * node authorizer answers when its graph fails */
        if (api_node_pods(r->api->store, api_authz_node_name(r->user), q->ns, q->name, &pods,
                          &err))
            log_warn("authorization: the pods of node %s in %s: %s",
                     api_authz_node_name(r->user), q->ns, err.msg);
        q->node_pods = pods;
        again = true;
    }
    if (again)
        ok = api_authz_decide(r->user, q, reason, len);
    q->obj = NULL;
    q->node_pods = NULL;
    json_decref(obj);
    json_decref(pods);
    return ok;
}

/* metadata.name=X of a list or watch's fieldSelector (Kubernetes authorizes such a request
 * as one on the object X), copied into buf; "" when there is none. */
static const char *selector_name(struct httpd_req *req, char *buf, size_t len)
{
    const char *f = httpd_query(req, "fieldSelector");
    struct field_selector *fs = NULL;
    struct bosun_err err = {0};
    buf[0] = '\0';
    if (f && *f && !field_selector_parse(f, &fs, &err)) {
        const char *name = field_selector_equals(fs, "metadata.name");
        if (name && strlen(name) < len && api_path_segment_ok(name))
            snprintf(buf, len, "%s", name);
    }
    field_selector_free(fs);
    return buf;
}

/* Authorizes a resource request; answers 403 and returns false when it may not go on. */
static bool authorize(struct api_req *r)
{
    if (!r->user || r->user == r->api->internal)
        return true;
    const struct api_path *p = &r->path;
    bool named = *p->name != '\0';
    char selname[256] = "";
    struct api_authz_req q = {
        .verb = api_authz_verb(httpd_method(r->req), named, !named && qbool(r->req, "watch")),
        .group = r->kind->group,
        .resource = r->kind->resource,
        .sub = p->sub,
        .ns = p->ns,
        .name = named ? p->name : selector_name(r->req, selname, sizeof(selname)),
    };
    /* Kubernetes gives a namespace its own name as the request's namespace. */
    if (!strcmp(r->kind->resource, "namespaces") && !*r->kind->group && named)
        q.ns = p->name;
    char reason[512];
    bool ok = decide(r, &q, r->key, true, reason, sizeof(reason));
    if (!ok)
        respond_forbidden(r, &q, reason);
    return ok;
}

/* Authorizes a non-resource request (discovery, /openapi): get on its path. */
static bool authorize_path(struct api_req *r, const char *path)
{
    if (!r->user || r->user == r->api->internal)
        return true;
    struct api_authz_req q = {.verb = "get", .group = "", .resource = "", .sub = "", .ns = "",
                              .name = "", .path = path};
    if (api_authz_allows(r->user, &q))
        return true;
    respond_forbidden(r, &q, NULL);
    return false;
}

/* The body of a review (POST only); NULL when answered already. */
static json_t *review_body(struct api_req *r)
{
    if (strcmp(httpd_method(r->req), "POST")) {
        api_respond_status(r->req, 405, "MethodNotAllowed",
                           "the server does not allow this method on the requested resource");
        return NULL;
    }
    size_t len;
    const char *b = httpd_body(r->req, &len);
    json_t *st = NULL;
    json_t *rev = api_body_decode(b, len, api_media_of(httpd_header(r->req, "Content-Type")),
                                  &st);
    if (!rev)
        api_respond_status_obj(r->req, st);
    return rev;
}

/* Answers rev (owned) as kind with status (owned): 201, like a create. */
static void respond_review(struct api_req *r, json_t *rev, const char *kind, json_t *status)
{
    json_object_set_new(rev, "status", status);
    json_object_set_new(rev, "apiVersion", json_string("authorization.k8s.io/v1"));
    json_object_set_new(rev, "kind", json_string(kind));
    if (!json_is_object(json_object_get(rev, "metadata")))
        json_object_set_new(rev, "metadata", json_object());
    json_object_set_new(json_object_get(rev, "metadata"), "creationTimestamp", json_null());
    httpd_respond_json(r->req, 201, rev);
    json_decref(rev);
}

static const char *attr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews: what the requesting user
 * may do (`kubectl auth can-i`). */
static void serve_access_review(struct api_req *r)
{
    json_t *rev = review_body(r);
    if (!rev)
        return;
    json_t *ra = jsonx_get(rev, "spec.resourceAttributes");
    json_t *nra = jsonx_get(rev, "spec.nonResourceAttributes");
    if (!json_is_object(ra) && !json_is_object(nra)) {
        json_decref(rev);
        api_respond_status(r->req, 422, "Invalid",
                           "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: "
                           "spec.resourceAttributes: Invalid value: \"null\": exactly one of "
                           "nonResourceAttributes or resourceAttributes must be specified");
        return;
    }
    struct api_authz_req q;
    memset(&q, 0, sizeof(q));
    char key[API_KEY_MAX] = "";
    if (json_is_object(ra)) {
        q.verb = attr(ra, "verb");
        q.group = attr(ra, "group");
        q.resource = attr(ra, "resource");
        q.sub = attr(ra, "subresource");
        q.ns = attr(ra, "namespace");
        q.name = attr(ra, "name");
        if (*q.name && *q.resource)
            snprintf(key, sizeof(key), "%s/%s/%s/%s", q.group, q.resource, q.ns, q.name);
    } else {
        q.verb = attr(nra, "verb");
        q.group = q.resource = q.sub = q.ns = q.name = "";
        q.path = attr(nra, "path");
    }
    char reason[512];
    bool allowed = decide(r, &q, key, false, reason, sizeof(reason));
    json_t *status = json_pack("{s:b}", "allowed", allowed);
    if (!allowed && *reason)
        json_object_set_new(status, "reason", json_string(reason));
    respond_review(r, rev, "SelfSubjectAccessReview", status);
}

/* POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews: the rules of the requesting
 * user in spec.namespace (`kubectl auth can-i --list`), from authz's table. */
static void serve_rules_review(struct api_req *r)
{
    json_t *rev = review_body(r);
    if (!rev)
        return;
    const char *ns = jsonx_get_str(rev, "spec.namespace");
    const char *node = api_authz_node_name(r->user);
    json_t *pods = NULL;
    if (node && ns && *ns) {
        struct bosun_err err = {0};
        if (api_node_pods(r->api->store, node, ns, NULL, &pods, &err))
            log_warn("rules review: the pods of node %s in %s: %s", node, ns, err.msg);
    }
    json_t *status = api_authz_rules(r->user, ns, pods);
    json_decref(pods);
    respond_review(r, rev, "SelfSubjectRulesReview", status);
}

void api_handle(struct httpd_req *req, void *userdata)
{
    struct api *api = userdata;
    const char *path = httpd_path(req);
    const char *method = httpd_method(req);
    struct api_req r;
    memset(&r, 0, sizeof(r));
    r.api = api;
    r.req = req;

    if (!strcmp(path, "/healthz") || !strcmp(path, "/readyz") || !strcmp(path, "/livez")) {
        httpd_respond(req, 200, "text/plain", "ok", 2);
        return;
    }
    if (!is_public(path)) {
        if (api->auth) {
            const char *tok = api_auth_bearer(httpd_header(req, "Authorization"));
            r.user = tok ? api_auth_lookup(api->auth, tok) : NULL;
            if (!r.user) {
                api_respond_status(req, 401, "Unauthorized", "Unauthorized");
                return;
            }
        } else if (!httpd_peer_is_loopback(req)) {
            api_respond_status(req, 401, "Unauthorized",
                               "anonymous access is only allowed from loopback");
            return;
        }
    }
    if (r.user && r.user != api->internal) {
        int wait = api_limits_take(api->limits, r.user->name);
        if (wait > 0) {
            char ra[32];
            snprintf(ra, sizeof(ra), "%d", wait);
            httpd_add_header(req, "Retry-After", ra);
            json_t *st = api_status_new(429, "TooManyRequests",
                                        "Too many requests, please try again later.");
            json_object_set_new(st, "details", json_pack("{s:i}", "retryAfterSeconds", wait));
            api_respond_status_obj(req, st);
            return;
        }
    }
    if (!strcmp(path, "/version") || !strcmp(path, "/version/")) {
        api_discovery_version(req);
        return;
    }
    if (!strncmp(path, "/openapi/v3", 11) && (path[11] == '\0' || path[11] == '/')) {
        if (authorize_path(&r, path))
            api_discovery_openapi_v3(req, path + 11);
        return;
    }
    struct bosun_err err = {0};
    int rc = api_path_parse(path, &r.path, &err);
    if (rc == -EINVAL) {
        api_respond_status(req, 400, "BadRequest", "%s", err.msg);
        return;
    }
    if (rc) {
        api_respond_not_found_path(req);
        return;
    }
    if (r.path.type != API_PATH_RESOURCE && strcmp(method, "GET")) {
        api_respond_status(req, 405, "MethodNotAllowed",
                           "the server does not allow this method on the requested resource");
        return;
    }
    if (r.path.type != API_PATH_RESOURCE && !authorize_path(&r, path))
        return;
    switch (r.path.type) {
    case API_PATH_CORE_ROOT:
        api_discovery_root(req, true);
        return;
    case API_PATH_APIS_ROOT:
        api_discovery_root(req, false);
        return;
    case API_PATH_GROUP:
        api_discovery_group(req, r.path.group);
        return;
    case API_PATH_GROUP_VERSION:
        api_discovery_group_version(req, r.path.group, r.path.version);
        return;
    case API_PATH_RESOURCE:
        break;
    }
    if (!strcmp(r.path.group, "authorization.k8s.io") && !strcmp(r.path.version, "v1") &&
        !*r.path.ns && !*r.path.name && !*r.path.sub &&
        (!strcmp(r.path.resource, "selfsubjectaccessreviews") ||
         !strcmp(r.path.resource, "selfsubjectrulesreviews"))) {
        if (r.user && r.user != api->internal) {
            struct api_authz_req q = {.verb = api_authz_verb(method, false, false),
                                      .group = r.path.group, .resource = r.path.resource,
                                      .sub = "", .ns = "", .name = ""};
            if (!api_authz_allows(r.user, &q)) {
                respond_forbidden(&r, &q, NULL);
                return;
            }
        }
        if (!strcmp(r.path.resource, "selfsubjectaccessreviews"))
            serve_access_review(&r);
        else
            serve_rules_review(&r);
        return;
    }
    if (rewrite_bindings(&r))
        return;
    if (!resolve(&r))
        return;
    if (!authorize(&r))
        return;
    if (log_enabled(LOG_DEBUG))
        log_debug("%s %s (%s)", method, path, r.user ? r.user->name : "anonymous");
    api_resource_serve(&r);
}
