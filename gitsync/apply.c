#include "gitsync/apply.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonmerge.h"
#include "lib/jsonx.h"
#include "lib/log.h"

int gitsync_order_rank(const char *group, const char *kind)
{
    if (!group || *group)
        return 3;
    if (strcmp(kind, "Namespace") == 0)
        return 0;
    if (strcmp(kind, "ConfigMap") == 0 || strcmp(kind, "Secret") == 0)
        return 1;
    if (strcmp(kind, "Service") == 0)
        return 2;
    return 3;
}

static int cmp_objs(const void *a, const void *b)
{
    const struct gitsync_obj *x = a, *y = b;
    int rx = gitsync_order_rank(x->kind->group, x->kind->kind);
    int ry = gitsync_order_rank(y->kind->group, y->kind->kind);
    if (rx != ry)
        return rx < ry ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void gitsync_order_objects(struct gitsync_obj *objs, size_t n)
{
    if (n > 1)
        qsort(objs, n, sizeof(*objs), cmp_objs);
}

int gitsync_resource_path(const struct schema_kind *k, const char *ns, const char *name,
                          char *buf, size_t len)
{
    char base[256];
    int n;
    if (*k->group)
        snprintf(base, sizeof(base), "/apis/%s/%s", k->group, k->version);
    else
        snprintf(base, sizeof(base), "/api/%s", k->version);
    if (k->namespaced)
        n = snprintf(buf, len, "%s/namespaces/%s/%s%s%s", base, ns ? ns : "default", k->resource,
                     name ? "/" : "", name ? name : "");
    else
        n = snprintf(buf, len, "%s/%s%s%s", base, k->resource, name ? "/" : "",
                     name ? name : "");
    return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

json_t *gitsync_applied_config(const struct gitsync_obj *o, const char *source)
{
    json_t *a = json_deep_copy(o->obj);
    char *src = NULL;
    if (!a || asprintf(&src, "%s:%s", source, o->file) < 0)
        goto fail;
    json_t *labels = jsonx_ensure_obj(a, "metadata.labels");
    json_t *ann = jsonx_ensure_obj(a, "metadata.annotations");
    if (!labels || !ann)
        goto fail;
    /* Git must not smuggle in an old last-applied that would make us drop fields. */
    json_object_del(ann, JSONMERGE_LAST_APPLIED_ANNOTATION);
    if (json_object_set_new(labels, GITSYNC_MANAGED_BY_LABEL, json_string(GITSYNC_MANAGER)) ||
        json_object_set_new(ann, GITSYNC_SOURCE_ANNOTATION, json_string(src)))
        goto fail;
    free(src);
    return a;
fail:
    free(src);
    json_decref(a);
    return NULL;
}

json_t *gitsync_inventory(const struct gitsync_obj *objs, size_t n)
{
    json_t *inv = json_array();
    char api[128];
    for (size_t i = 0; inv && i < n; i++) {
        const struct gitsync_obj *o = &objs[i];
        json_t *e = json_pack("{s:s, s:s}", "apiVersion",
                              schema_kind_api_version(o->kind, api, sizeof(api)), "kind",
                              o->kind->kind);
        const char *ns = jsonx_get_str(o->obj, "metadata.namespace");
        const char *name = jsonx_get_str(o->obj, "metadata.name");
        if (!e)
            break;
        if (o->kind->namespaced && ns)
            json_object_set_new(e, "namespace", json_string(ns));
        json_object_set_new(e, "name", json_string(name ? name : ""));
        json_array_append_new(inv, e);
    }
    return inv;
}

static const char *group_of(const char *api_version, char *buf, size_t len)
{
    const char *slash = api_version ? strchr(api_version, '/') : NULL;
    if (!slash)
        return "";
    snprintf(buf, len, "%.*s", (int)(slash - api_version), api_version);
    return buf;
}

static int str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static const char *inventory_key(const json_t *e, char *buf, size_t len)
{
    char g[128];
    const char *kind = jsonx_get_str(e, "kind"), *ns = jsonx_get_str(e, "namespace"),
               *name = jsonx_get_str(e, "name");
    snprintf(buf, len, "%s/%s/%s/%s", group_of(jsonx_get_str(e, "apiVersion"), g, sizeof(g)),
             kind ? kind : "", ns ? ns : "", name ? name : "");
    return buf;
}

int gitsync_inventory_same(const json_t *a, const json_t *b)
{
    char ga[128], gb[128];
    return str_eq(group_of(jsonx_get_str(a, "apiVersion"), ga, sizeof(ga)),
                  group_of(jsonx_get_str(b, "apiVersion"), gb, sizeof(gb))) &&
           str_eq(jsonx_get_str(a, "kind"), jsonx_get_str(b, "kind")) &&
           str_eq(jsonx_get_str(a, "namespace"), jsonx_get_str(b, "namespace")) &&
           str_eq(jsonx_get_str(a, "name"), jsonx_get_str(b, "name"));
}

int gitsync_api_error(struct bosun_err *err, const char *method, const char *path, long status,
                      const json_t *body, char **field)
{
    const char *reason = jsonx_get_str(body, "reason");
    const char *msg = jsonx_get_str(body, "message");
    json_t *causes = jsonx_get(body, "details.causes");
    int code = status == 404 ? -ENOENT
               : status == 409 ? -EEXIST
               : status == 401 || status == 403 ? -EACCES
               : status == 422 || status == 400 ? -EINVAL
                                                : -EIO;
    if (field) {
        const char *f = json_string_value(json_object_get(json_array_get(causes, 0), "field"));
        *field = f ? strdup(f) : NULL;
    }
    return err_set(err, code, "%s %s: %ld %s%s%s", method, path, status, reason ? reason : "",
                   reason ? ": " : "", msg ? msg : "(no message)");
}

int gitsync_apply_object(struct httpc *c, const struct schema_kind *k, const json_t *applied,
                         enum gitsync_apply_result *res, char **field, struct bosun_err *err)
{
    const char *ns = jsonx_get_str(applied, "metadata.namespace");
    const char *name = jsonx_get_str(applied, "metadata.name");
    char path[1024], coll[1024];
    int r = -EIO;
    if (field)
        *field = NULL;
    if (!name)
        return err_set(err, -EINVAL, "%s without metadata.name", k->kind);
    if (gitsync_resource_path(k, ns, name, path, sizeof(path)) ||
        gitsync_resource_path(k, ns, NULL, coll, sizeof(coll)))
        return err_set(err, -ENAMETOOLONG, "%s %s: path too long", k->kind, name);

    for (int attempt = 0; attempt < GITSYNC_CONFLICT_RETRIES; attempt++) {
        long status = 0;
        json_t *live = NULL, *resp = NULL, *body = NULL;
        r = httpc_json(c, "GET", path, NULL, NULL, &status, &live, err);
        if (r < 0)
            return r;
        if (status == 404) {
            json_decref(live);
            body = jsonmerge_apply(NULL, applied);
            if (!body)
                return err_errno(err, -ENOMEM, "apply %s", path);
            r = httpc_json(c, "POST", coll, "application/json", body, &status, &resp, err);
            json_decref(body);
            if (r < 0) {
                json_decref(resp);
                return r;
            }
            if (status == 200 || status == 201) {
                json_decref(resp);
                *res = GITSYNC_CREATED;
                return 0;
            }
            if (status == 409) { /* created meanwhile: apply over it */
                json_decref(resp);
                continue;
            }
            r = gitsync_api_error(err, "POST", coll, status, resp, field);
            json_decref(resp);
            return r;
        }
        if (status != 200 || !json_is_object(live)) {
            r = gitsync_api_error(err, "GET", path, status, live, field);
            json_decref(live);
            return r;
        }
        body = jsonmerge_apply(live, applied);
        if (!body) {
            json_decref(live);
            return err_errno(err, -ENOMEM, "apply %s", path);
        }
        if (json_equal(body, live)) {
            json_decref(body);
            json_decref(live);
            *res = GITSYNC_UNCHANGED;
            return 0;
        }
        json_decref(live);
        r = httpc_json(c, "PUT", path, "application/json", body, &status, &resp, err);
        json_decref(body);
        if (r < 0) {
            json_decref(resp);
            return r;
        }
        if (status == 200 || status == 201) {
            json_decref(resp);
            *res = GITSYNC_UPDATED;
            return 0;
        }
        if (status == 409) {
            log_debug("apply %s: conflict, retrying", path);
            json_decref(resp);
            continue;
        }
        r = gitsync_api_error(err, "PUT", path, status, resp, field);
        json_decref(resp);
        return r;
    }
    return err_set(err, -EAGAIN, "apply %s: still conflicting after %d attempts", path,
                   GITSYNC_CONFLICT_RETRIES);
}

int gitsync_ensure_namespace(struct httpc *c, const char *name, struct bosun_err *err)
{
    char path[512];
    long status = 0;
    json_t *resp = NULL;
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s", name);
    int r = httpc_json(c, "GET", path, NULL, NULL, &status, &resp, err);
    json_decref(resp);
    resp = NULL;
    if (r < 0)
        return r;
    if (status == 200)
        return 0;
    if (status != 404)
        return gitsync_api_error(err, "GET", path, status, NULL, NULL);
    json_t *ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
                           "metadata", "name", name);
    r = httpc_json(c, "POST", "/api/v1/namespaces", "application/json", ns, &status, &resp, err);
    json_decref(ns);
    if (r == 0 && status != 200 && status != 201 && status != 409)
        r = gitsync_api_error(err, "POST", "/api/v1/namespaces", status, resp, NULL);
    json_decref(resp);
    return r;
}

static int protected_entry(const json_t *e, const char *self_ns, const char *self_name)
{
    const char *api = jsonx_get_str(e, "apiVersion");
    const char *kind = jsonx_get_str(e, "kind");
    const char *ns = jsonx_get_str(e, "namespace");
    const char *name = jsonx_get_str(e, "name");
    if (str_eq(api, "v1") && str_eq(kind, "Namespace") &&
        (str_eq(name, GITSYNC_SYSTEM_NS) || str_eq(name, "default") ||
         str_eq(name, "kube-system")))
        return 1;
    return str_eq(api, "bosun.io/v1") && str_eq(kind, "GitRepository") && str_eq(ns, self_ns) &&
           str_eq(name, self_name);
}

static int cmp_prune(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    char gx[128], gy[128];
    int rx = gitsync_order_rank(group_of(jsonx_get_str(x, "apiVersion"), gx, sizeof(gx)),
                                jsonx_get_str(x, "kind") ? jsonx_get_str(x, "kind") : "");
    int ry = gitsync_order_rank(group_of(jsonx_get_str(y, "apiVersion"), gy, sizeof(gy)),
                                jsonx_get_str(y, "kind") ? jsonx_get_str(y, "kind") : "");
    return ry - rx; /* reverse apply order */
}

static int prune_one(struct httpc *c, const json_t *e, size_t *deleted, struct bosun_err *err)
{
    const char *api = jsonx_get_str(e, "apiVersion");
    const char *kind = jsonx_get_str(e, "kind");
    const char *name = jsonx_get_str(e, "name");
    const struct schema_kind *k = api && kind ? schema_kind_by_gvk(api, kind) : NULL;
    char path[1024];
    long status = 0;
    json_t *live = NULL;
    int r;
    if (!k || !name) {
        log_warn("prune: skipping inventory entry %s %s: kind not served", kind ? kind : "?",
                 name ? name : "?");
        return 0;
    }
    if (gitsync_resource_path(k, jsonx_get_str(e, "namespace"), name, path, sizeof(path)))
        return 0;
    r = httpc_json(c, "GET", path, NULL, NULL, &status, &live, err);
    if (r < 0)
        return r;
    if (status == 404) {
        json_decref(live);
        return 0;
    }
    if (status != 200) {
        r = gitsync_api_error(err, "GET", path, status, live, NULL);
        json_decref(live);
        return r;
    }
    json_t *labels = jsonx_get(live, "metadata.labels");
    int managed =
        str_eq(json_string_value(json_object_get(labels, GITSYNC_MANAGED_BY_LABEL)),
               GITSYNC_MANAGER);
    json_decref(live);
    if (!managed) {
        log_info("prune: %s no longer carries %s=%s; left alone", path, GITSYNC_MANAGED_BY_LABEL,
                 GITSYNC_MANAGER);
        return 0;
    }
    json_t *resp = NULL;
    r = httpc_json(c, "DELETE", path, NULL, NULL, &status, &resp, err);
    if (r == 0 && status != 200 && status != 202 && status != 404)
        r = gitsync_api_error(err, "DELETE", path, status, resp, NULL);
    json_decref(resp);
    if (r == 0 && status != 404) {
        log_info("prune: deleted %s", path);
        (*deleted)++;
    }
    return r;
}

int gitsync_prune(struct httpc *c, const json_t *old_inv, const json_t *new_inv,
                  const char *self_ns, const char *self_name, size_t *deleted,
                  struct bosun_err *err)
{
    size_t n = json_array_size(old_inv), m = 0, i, j;
    const json_t **gone = NULL;
    int r = 0;
    *deleted = 0;
    if (n == 0)
        return 0;
    gone = calloc(n, sizeof(*gone));
    if (!gone)
        return err_errno(err, -ENOMEM, "prune");
    json_t *want = json_object();
    char key[1024];
    if (!want) {
        free(gone);
        return err_errno(err, -ENOMEM, "prune");
    }
    for (j = 0; j < json_array_size(new_inv); j++)
        json_object_set_new(want, inventory_key(json_array_get(new_inv, j), key, sizeof(key)),
                            json_true());
    for (i = 0; i < n; i++) {
        const json_t *e = json_array_get(old_inv, i);
        int keep = !json_is_object(e) || protected_entry(e, self_ns, self_name) ||
                   json_object_get(want, inventory_key(e, key, sizeof(key)));
        if (!keep)
            gone[m++] = e;
    }
    json_decref(want);
    /* Stable enough: qsort of at most a few thousand entries by rank only. */
    qsort(gone, m, sizeof(*gone), cmp_prune);
    for (i = 0; i < m && r == 0; i++)
        r = prune_one(c, gone[i], deleted, err);
    free(gone);
    return r;
}
