#include "reconcilerd/api/discovery.h"

#include <stdio.h>
#include <string.h>

#include "reconcilerd/api/status.h"
#include "schema/kinds.h"

static json_t *verbs_main(void)
{
    return json_pack("[s,s,s,s,s,s,s]", "create", "delete", "get", "list", "patch", "update",
                     "watch");
}

static json_t *sub_verbs(const char *sub)
{
    if (!strcmp(sub, "log"))
        return json_pack("[s]", "get");
    if (!strcmp(sub, "binding"))
        return json_pack("[s]", "create");
    return json_pack("[s,s,s]", "get", "patch", "update");
}

static json_t *response_kind(const char *group, const char *version, const char *kind)
{
    return json_pack("{s:s,s:s,s:s}", "group", group, "version", version, "kind", kind);
}

static json_t *sub_response_kind(const struct schema_kind *k, const char *sub)
{
    if (!strcmp(sub, "scale"))
        return response_kind("autoscaling", "v1", "Scale");
    if (!strcmp(sub, "binding"))
        return response_kind("", "v1", "Binding");
    return response_kind(k->group, k->version, k->kind);
}

static json_t *short_names(const struct schema_kind *k)
{
    json_t *a = json_array();
    for (int i = 0; i < 4 && k->short_names[i]; i++)
        json_array_append_new(a, json_string(k->short_names[i]));
    return a;
}

/* The aggregated (apidiscovery.k8s.io/v2) resource entry of k. */
static json_t *agg_resource(const struct schema_kind *k)
{
    json_t *r = json_pack("{s:s,s:o,s:s,s:s,s:o,s:o}", "resource", k->resource, "responseKind",
                          response_kind(k->group, k->version, k->kind), "scope",
                          k->namespaced ? "Namespaced" : "Cluster", "singularResource",
                          k->singular, "verbs", verbs_main(), "shortNames", short_names(k));
    if (k->in_all_category)
        json_object_set_new(r, "categories", json_pack("[s]", "all"));
    json_t *subs = json_array();
    for (int i = 0; i < 4 && k->subresources[i]; i++) {
        json_array_append_new(subs, json_pack("{s:s,s:o,s:o}", "subresource", k->subresources[i],
                                              "responseKind",
                                              sub_response_kind(k, k->subresources[i]), "verbs",
                                              sub_verbs(k->subresources[i])));
    }
    json_object_set_new(r, "subresources", subs);
    return r;
}

/* The legacy (APIResourceList) entries of k, subresources as "pods/log" rows. */
static void legacy_resources(const struct schema_kind *k, json_t *list)
{
    json_t *r = json_pack("{s:s,s:s,s:b,s:s,s:o,s:o}", "name", k->resource, "singularName",
                          k->singular, "namespaced", k->namespaced, "kind", k->kind, "verbs",
                          verbs_main(), "shortNames", short_names(k));
    if (k->in_all_category)
        json_object_set_new(r, "categories", json_pack("[s]", "all"));
    json_array_append_new(list, r);
    for (int i = 0; i < 4 && k->subresources[i]; i++) {
        char name[128];
        snprintf(name, sizeof(name), "%s/%s", k->resource, k->subresources[i]);
        json_t *rk = sub_response_kind(k, k->subresources[i]);
        json_t *s = json_pack("{s:s,s:s,s:b,s:O,s:o}", "name", name, "singularName", "",
                              "namespaced", k->namespaced, "kind", json_object_get(rk, "kind"),
                              "verbs", sub_verbs(k->subresources[i]));
        if (*json_string_value(json_object_get(rk, "group")))
            json_object_set(s, "group", json_object_get(rk, "group"));
        json_object_set(s, "version", json_object_get(rk, "version"));
        json_decref(rk);
        json_array_append_new(list, s);
    }
}

void api_discovery_version(struct httpd_req *req)
{
    json_t *v = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "major", "1", "minor", "32",
                          "gitVersion", "v1.32.0", "gitCommit", "bosun", "gitTreeState", "clean",
                          "buildDate", "2024-12-11T00:00:00Z", "goVersion", "go1.23.3",
                          "compiler", "gc", "platform", "linux/amd64");
    httpd_respond_json(req, 200, v);
    json_decref(v);
}

static bool wants_aggregated(struct httpd_req *req)
{
    const char *acc = httpd_header(req, "Accept");
    return acc && strstr(acc, "as=APIGroupDiscoveryList") && strstr(acc, "v=v2");
}

/* authorization.k8s.io/v1 is served by the API itself (not stored kinds): the two self
 * reviews, create only. */
#define AUTHZ_GROUP "authorization.k8s.io"

static const struct {
    const char *resource, *singular, *kind;
} reviews[] = {
    {"selfsubjectaccessreviews", "selfsubjectaccessreview", "SelfSubjectAccessReview"},
    {"selfsubjectrulesreviews", "selfsubjectrulesreview", "SelfSubjectRulesReview"},
};

static void reviews_agg(json_t *list)
{
    for (size_t i = 0; i < sizeof(reviews) / sizeof(reviews[0]); i++)
        json_array_append_new(
            list, json_pack("{s:s,s:o,s:s,s:s,s:[s],s:[]}", "resource", reviews[i].resource,
                            "responseKind", response_kind(AUTHZ_GROUP, "v1", reviews[i].kind),
                            "scope", "Cluster", "singularResource", reviews[i].singular,
                            "verbs", "create", "subresources"));
}

static void reviews_legacy(json_t *list)
{
    for (size_t i = 0; i < sizeof(reviews) / sizeof(reviews[0]); i++)
        json_array_append_new(list, json_pack("{s:s,s:s,s:b,s:s,s:[s]}", "name",
                                              reviews[i].resource, "singularName",
                                              reviews[i].singular, "namespaced", 0, "kind",
                                              reviews[i].kind, "verbs", "create"));
}

/* Distinct group/version pairs in registry order; returns count. */
struct gv {
    const char *group, *version;
};
static size_t group_versions(struct gv *out, size_t max, bool core)
{
    size_t n, m = 0;
    const struct schema_kind *ks = schema_kinds(&n);
    for (size_t i = 0; i < n; i++) {
        if ((*ks[i].group == '\0') != core)
            continue;
        bool seen = false;
        for (size_t j = 0; j < m; j++)
            if (!strcmp(out[j].group, ks[i].group) && !strcmp(out[j].version, ks[i].version))
                seen = true;
        if (!seen && m < max)
            out[m++] = (struct gv){ks[i].group, ks[i].version};
    }
    return m;
}

/* group_versions plus the API's own groups (discovery, not OpenAPI). */
static size_t served_group_versions(struct gv *out, size_t max, bool core)
{
    size_t m = group_versions(out, max, core);
    if (!core && m < max)
        out[m++] = (struct gv){AUTHZ_GROUP, "v1"};
    return m;
}

static void respond_with_type(struct httpd_req *req, const char *type, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!s) {
        httpd_respond(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    httpd_respond(req, 200, type, s, strlen(s));
    free(s);
}

void api_discovery_root(struct httpd_req *req, bool core)
{
    struct gv gvs[32];
    size_t ngv = served_group_versions(gvs, 32, core);
    size_t n;
    const struct schema_kind *ks = schema_kinds(&n);
    if (wants_aggregated(req)) {
        json_t *items = json_array();
        /* one item per group, its versions inside */
        for (size_t g = 0; g < ngv; g++) {
            bool first = true;
            for (size_t h = 0; h < g; h++)
                if (!strcmp(gvs[h].group, gvs[g].group))
                    first = false;
            if (!first)
                continue;
            json_t *versions = json_array();
            for (size_t h = g; h < ngv; h++) {
                if (strcmp(gvs[h].group, gvs[g].group))
                    continue;
                json_t *res = json_array();
                for (size_t i = 0; i < n; i++)
                    if (!strcmp(ks[i].group, gvs[h].group) && !strcmp(ks[i].version, gvs[h].version))
                        json_array_append_new(res, agg_resource(&ks[i]));
                if (!strcmp(gvs[h].group, AUTHZ_GROUP))
                    reviews_agg(res);
                json_array_append_new(versions,
                                      json_pack("{s:s,s:o,s:s}", "version", gvs[h].version,
                                                "resources", res, "freshness", "Current"));
            }
            json_t *item = json_pack("{s:{},s:o}", "metadata", "versions", versions);
            if (!core)
                json_object_set_new(json_object_get(item, "metadata"), "name",
                                    json_string(gvs[g].group));
            json_array_append_new(items, item);
        }
        json_t *body = json_pack("{s:s,s:s,s:{},s:o}", "kind", "APIGroupDiscoveryList",
                                 "apiVersion", "apidiscovery.k8s.io/v2", "metadata", "items",
                                 items);
        respond_with_type(req, API_DISCOVERY_V2_TYPE, body);
        return;
    }
    if (core) {
        json_t *body = json_pack("{s:s,s:[s],s:[{s:s,s:s}]}", "kind", "APIVersions", "versions",
                                 "v1", "serverAddressByClientCIDRs", "clientCIDR", "0.0.0.0/0",
                                 "serverAddress", "127.0.0.1");
        respond_with_type(req, "application/json", body);
        return;
    }
    json_t *groups = json_array();
    for (size_t g = 0; g < ngv; g++) {
        json_t *grp = NULL;
        size_t gi;
        json_t *e;
        json_array_foreach(groups, gi, e) {
            if (!strcmp(json_string_value(json_object_get(e, "name")), gvs[g].group))
                grp = e;
        }
        char gvname[256];
        snprintf(gvname, sizeof(gvname), "%s/%s", gvs[g].group, gvs[g].version);
        json_t *ver = json_pack("{s:s,s:s}", "groupVersion", gvname, "version", gvs[g].version);
        if (!grp) {
            grp = json_pack("{s:s,s:[],s:O}", "name", gvs[g].group, "versions",
                            "preferredVersion", ver);
            json_array_append_new(groups, grp);
        }
        json_array_append_new(json_object_get(grp, "versions"), ver);
    }
    json_t *body = json_pack("{s:s,s:s,s:o}", "kind", "APIGroupList", "apiVersion", "v1",
                             "groups", groups);
    respond_with_type(req, "application/json", body);
}

void api_discovery_group(struct httpd_req *req, const char *group)
{
    struct gv gvs[32];
    size_t ngv = served_group_versions(gvs, 32, false);
    json_t *versions = json_array();
    for (size_t g = 0; g < ngv; g++) {
        if (strcmp(gvs[g].group, group))
            continue;
        char gvname[256];
        snprintf(gvname, sizeof(gvname), "%s/%s", group, gvs[g].version);
        json_array_append_new(versions, json_pack("{s:s,s:s}", "groupVersion", gvname, "version",
                                                  gvs[g].version));
    }
    if (!json_array_size(versions)) {
        json_decref(versions);
        api_respond_not_found_path(req);
        return;
    }
    json_t *body = json_pack("{s:s,s:s,s:s,s:o,s:O}", "kind", "APIGroup", "apiVersion", "v1",
                             "name", group, "versions", versions, "preferredVersion",
                             json_array_get(versions, 0));
    httpd_respond_json(req, 200, body);
    json_decref(body);
}

void api_discovery_group_version(struct httpd_req *req, const char *group, const char *version)
{
    size_t n;
    const struct schema_kind *ks = schema_kinds(&n);
    json_t *res = json_array();
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ks[i].group, group) && !strcmp(ks[i].version, version))
            legacy_resources(&ks[i], res);
    if (!strcmp(group, AUTHZ_GROUP) && !strcmp(version, "v1"))
        reviews_legacy(res);
    if (!json_array_size(res)) {
        json_decref(res);
        api_respond_not_found_path(req);
        return;
    }
    char gvname[256];
    if (*group)
        snprintf(gvname, sizeof(gvname), "%s/%s", group, version);
    else
        snprintf(gvname, sizeof(gvname), "%s", version);
    json_t *body = json_pack("{s:s,s:s,s:s,s:o}", "kind", "APIResourceList", "apiVersion", "v1",
                             "groupVersion", gvname, "resources", res);
    httpd_respond_json(req, 200, body);
    json_decref(body);
}

/* One OpenAPI v3 document per group-version: a patch operation per kind declaring the
 * fieldValidation query parameter — all kubectl checks before leaving validation to us. */
static json_t *openapi_gv_doc(const char *group, const char *version)
{
    size_t n;
    const struct schema_kind *ks = schema_kinds(&n);
    json_t *paths = json_object();
    for (size_t i = 0; i < n; i++) {
        const struct schema_kind *k = &ks[i];
        if (strcmp(k->group, group) || strcmp(k->version, version))
            continue;
        char p[512];
        snprintf(p, sizeof(p), "/%s%s/%s%s/%s/{name}", *group ? "apis/" : "api", group,
                 version, k->namespaced ? "/namespaces/{namespace}" : "", k->resource);
        json_t *params = json_pack("[{s:s,s:s,s:b,s:{s:s}},{s:s,s:s,s:b,s:{s:s}},"
                                   "{s:s,s:s,s:b,s:{s:s}},{s:s,s:s,s:b,s:{s:s}}]",
                                   "name", "fieldValidation", "in", "query", "required", 0,
                                   "schema", "type", "string",
                                   "name", "fieldManager", "in", "query", "required", 0,
                                   "schema", "type", "string",
                                   "name", "dryRun", "in", "query", "required", 0, "schema",
                                   "type", "string",
                                   "name", "force", "in", "query", "required", 0, "schema",
                                   "type", "boolean");
        json_t *gvk = json_pack("{s:s,s:s,s:s}", "group", group, "version", version, "kind",
                                k->kind);
        json_t *op = json_pack("{s:s,s:o,s:o,s:{s:{s:s}}}", "operationId", k->kind,
                               "x-kubernetes-group-version-kind", gvk, "parameters", params,
                               "responses", "200", "description", "OK");
        json_object_set_new(paths, p, json_pack("{s:o}", "patch", op));
    }
    return json_pack("{s:s,s:{s:s,s:s},s:o,s:{}}", "openapi", "3.0.0", "info", "title",
                     "Kubernetes", "version", "v1.32.0", "paths", paths, "components");
}

void api_discovery_openapi_v3(struct httpd_req *req, const char *rest)
{
    if (!*rest || !strcmp(rest, "/")) {
        json_t *paths = json_object();
        struct gv gvs[32];
        for (int core = 1; core >= 0; core--) {
            size_t ngv = group_versions(gvs, 32, core);
            for (size_t g = 0; g < ngv; g++) {
                char key[256], url[300];
                if (core)
                    snprintf(key, sizeof(key), "api/%s", gvs[g].version);
                else
                    snprintf(key, sizeof(key), "apis/%s/%s", gvs[g].group, gvs[g].version);
                snprintf(url, sizeof(url), "/openapi/v3/%s", key);
                json_object_set_new(paths, key, json_pack("{s:s}", "serverRelativeURL", url));
            }
        }
        json_t *body = json_pack("{s:o}", "paths", paths);
        httpd_respond_json(req, 200, body);
        json_decref(body);
        return;
    }
    char group[128] = "", version[64] = "";
    if (sscanf(rest, "/api/%63[^/]", version) == 1 && !strchr(rest + 5, '/')) {
        /* core */
    } else if (sscanf(rest, "/apis/%127[^/]/%63[^/]", group, version) == 2) {
        size_t expect = strlen("/apis/") + strlen(group) + 1 + strlen(version);
        if (strlen(rest) != expect) {
            api_respond_not_found_path(req);
            return;
        }
    } else {
        api_respond_not_found_path(req);
        return;
    }
    json_t *doc = openapi_gv_doc(group, version);
    if (!json_object_size(json_object_get(doc, "paths"))) {
        json_decref(doc);
        api_respond_not_found_path(req);
        return;
    }
    httpd_respond_json(req, 200, doc);
    json_decref(doc);
}
