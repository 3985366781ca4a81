#include "reconcilerd/controllers/gc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"
#include "lib/log.h"

/* Queue keys are "<Kind>:<ns>/<name>" for the dependent to check. */

struct ctrl_gc {
    struct ctrl_ctx *ctx;
    struct ctrl_wq *q;
};

static struct informer *informer_of(struct ctrl_gc *gc, const char *kind)
{
    if (strcmp(kind, "Deployment") == 0)
        return gc->ctx->deployments;
    if (strcmp(kind, "ReplicaSet") == 0)
        return gc->ctx->replicasets;
    if (strcmp(kind, "Pod") == 0)
        return gc->ctx->pods;
    return NULL;
}

/* 1 present, 0 gone, negative: could not tell. */
static int owner_present(struct ctrl_gc *gc, const char *ns, const json_t *ref,
                         struct bosun_err *err)
{
    const char *kind = json_string_value(json_object_get(ref, "kind"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *uid = json_string_value(json_object_get(ref, "uid"));
    struct informer *inf = kind ? informer_of(gc, kind) : NULL;
    if (!inf || !name || !uid)
        return 1; /* an owner we do not track keeps its dependents */
    json_t *o = informer_get(inf, ns, name);
    const char *ouid = o ? jsonx_get_str(o, "metadata.uid") : NULL;
    bool same = ouid && strcmp(ouid, uid) == 0;
    json_decref(o);
    if (same)
        return 1;
    /* the cache may lag behind: ask the API before deleting anything */
    char path[CTRL_PATH_MAX];
    if (ctrl_path(kind, ns, name, path, sizeof path) < 0)
        return 1;
    json_t *live = NULL;
    int r = ctrl_get(gc->ctx->client, path, &live, err);
    if (r == -ENOENT) {
        err_clear(err);
        return 0;
    }
    if (r < 0)
        return r;
    const char *luid = jsonx_get_str(live, "metadata.uid");
    r = (luid && strcmp(luid, uid) == 0) ? 1 : 0;
    json_decref(live);
    return r;
}

static int sync_key(const char *key, void *userdata)
{
    struct ctrl_gc *gc = userdata;
    struct bosun_err err = {0};
    char kind[32], ns[256], name[256];
    const char *colon = strchr(key, ':');
    if (!colon || (size_t)(colon - key) >= sizeof kind)
        return 0;
    memcpy(kind, key, (size_t)(colon - key));
    kind[colon - key] = '\0';
    if (ctrl_key_split(colon + 1, ns, sizeof ns, name, sizeof name) < 0)
        return 0;
    struct informer *inf = informer_of(gc, kind);
    json_t *obj = inf ? informer_get(inf, ns, name) : NULL;
    if (!obj)
        return 0;
    int r = 0;
    json_t *refs = json_object_get(jsonx_get(obj, "metadata"), "ownerReferences");
    size_t i;
    json_t *ref;
    bool any_present = false;
    if (json_array_size(refs) == 0 || ctrl_is_deleting(obj))
        goto out;
    json_array_foreach(refs, i, ref)
    {
        int p = owner_present(gc, ns, ref, &err);
        if (p < 0) {
            r = p;
            goto out;
        }
        if (p) {
            any_present = true;
            break;
        }
    }
    if (!any_present) {
        char path[CTRL_PATH_MAX];
        ctrl_path(kind, ns, name, path, sizeof path);
        r = ctrl_delete(gc->ctx->client, path, jsonx_get_str(obj, "metadata.uid"), &err);
        if (r == 0)
            log_info("gc: deleted %s %s/%s: its owner is gone", kind, ns, name);
    }
out:
    if (r < 0)
        log_warn("gc %s: %s", key, err.msg);
    json_decref(obj);
    return r;
}

static void queue_obj(struct ctrl_gc *gc, const char *kind, const json_t *obj)
{
    json_t *refs = json_object_get(jsonx_get(obj, "metadata"), "ownerReferences");
    char key[CTRL_KEY_MAX + 32];
    if (json_array_size(refs) == 0)
        return;
    if ((size_t)snprintf(key, sizeof key, "%s:%s/%s", kind,
                         jsonx_get_str(obj, "metadata.namespace") ?: "",
                         jsonx_get_str(obj, "metadata.name") ?: "") < sizeof key)
        ctrl_wq_add(gc->q, key);
}

void ctrl_gc_on_replicaset(const json_t *obj, void *userdata)
{
    queue_obj(userdata, "ReplicaSet", obj);
}

void ctrl_gc_on_pod(const json_t *obj, void *userdata)
{
    queue_obj(userdata, "Pod", obj);
}

static void queue_dependents(struct ctrl_gc *gc, struct informer *deps, const char *dep_kind,
                             const json_t *owner)
{
    const char *uid = jsonx_get_str(owner, "metadata.uid");
    const char *ns = jsonx_get_str(owner, "metadata.namespace");
    if (!deps || !uid || !ns)
        return;
    json_t *all = informer_list(deps);
    size_t i, j;
    json_t *o, *ref;
    json_array_foreach(all, i, o)
    {
        const char *ons = jsonx_get_str(o, "metadata.namespace");
        if (!ons || strcmp(ons, ns) != 0)
            continue;
        json_array_foreach(json_object_get(jsonx_get(o, "metadata"), "ownerReferences"), j, ref)
        {
            const char *ruid = json_string_value(json_object_get(ref, "uid"));
            if (ruid && strcmp(ruid, uid) == 0) {
                queue_obj(gc, dep_kind, o);
                break;
            }
        }
    }
    json_decref(all);
}

void ctrl_gc_on_deployment_delete(const json_t *obj, void *userdata)
{
    struct ctrl_gc *gc = userdata;
    queue_dependents(gc, gc->ctx->replicasets, "ReplicaSet", obj);
}

void ctrl_gc_on_replicaset_delete(const json_t *obj, void *userdata)
{
    struct ctrl_gc *gc = userdata;
    queue_dependents(gc, gc->ctx->pods, "Pod", obj);
}

int ctrl_gc_new(struct ctrl_ctx *ctx, struct ctrl_gc **out, struct bosun_err *err)
{
    struct ctrl_gc *gc = calloc(1, sizeof(*gc));
    if (!gc)
        return err_set(err, -ENOMEM, "gc: out of memory");
    gc->ctx = ctx;
    struct ctrl_wq_opts qo = {.name = "gc", .fn = sync_key, .userdata = gc};
    int r = ctrl_wq_new(&qo, &gc->q, err);
    if (r < 0) {
        free(gc);
        return r;
    }
    *out = gc;
    return 0;
}

struct ctrl_wq *ctrl_gc_queue(struct ctrl_gc *gc)
{
    return gc->q;
}

void ctrl_gc_free(struct ctrl_gc *gc)
{
    if (!gc)
        return;
    ctrl_wq_free(gc->q);
    free(gc);
}
