#include "reconcilerd/controllers/deployment.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"

#define HASH_LABEL "pod-template-hash"
#define REVISION_ANN "deployment.kubernetes.io/revision"

struct ctrl_deployment {
    struct ctrl_ctx *ctx;
    struct ctrl_wq *q;
};

/* ---- pure logic ---- */

void ctrl_deployment_template_hash(const json_t *tmpl, char out[CTRL_HASH_LEN])
{
    /* Kubernetes' rand.SafeEncodeString alphabet: no vowels, no confusable characters */
    static const char alphanums[] = "bcdfghjklmnpqrstvwxz2456789";
    char *s = tmpl ? json_dumps(tmpl, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)(s ? s : "null"); *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    free(s);
    char dec[16];
    snprintf(dec, sizeof dec, "%u", h);
    size_t i;
    for (i = 0; dec[i] && i < CTRL_HASH_LEN - 1; i++)
        out[i] = alphanums[(unsigned char)dec[i] % (sizeof alphanums - 1)];
    out[i] = '\0';
}

int ctrl_deployment_intstr(const json_t *v, int total, bool round_up, int def_percent)
{
    long long pct;
    if (!v || json_is_null(v)) {
        pct = def_percent;
    } else if (json_is_integer(v)) {
        long long x = json_integer_value(v);
        return x < 0 ? -1 : (int)x;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (end == s || errno || x < 0)
            return -1;
        if (*end == '\0')
            return (int)x;
        if (strcmp(end, "%") != 0)
            return -1;
        pct = x;
    } else {
        return -1;
    }
    long long num = pct * total;
    return (int)(round_up ? (num + 99) / 100 : num / 100);
}

static int rs_spec_replicas(const json_t *rs)
{
    return (int)jsonx_get_int(rs, "spec.replicas", 1);
}

void ctrl_deployment_view(const json_t *rs, struct ctrl_rs_view *view)
{
    memset(view, 0, sizeof(*view));
    view->rs = rs;
    view->spec_replicas = rs_spec_replicas(rs);
    view->status_replicas = (int)jsonx_get_int(rs, "status.replicas", 0);
    view->available = (int)jsonx_get_int(rs, "status.availableReplicas", 0);
    const char *ct = jsonx_get_str(rs, "metadata.creationTimestamp");
    time_t t = 0;
    if (ct)
        time_parse_rfc3339(ct, &t);
    view->created = t;
    view->target = view->spec_replicas;
}

static int max_i(int a, int b)
{
    return a > b ? a : b;
}

static int min_i(int a, int b)
{
    return a < b ? a : b;
}

static bool is_recreate(const json_t *deploy)
{
    const char *t = jsonx_get_str(deploy, "spec.strategy.type");
    return t && strcmp(t, "Recreate") == 0;
}

/* maxSurge and maxUnavailable as Kubernetes' ResolveFenceposts: surge rounds up,
 * unavailable down, never both zero; unavailable never above the replicas. */
static void fenceposts(const json_t *deploy, int replicas, int *surge, int *unav)
{
    const json_t *ru = jsonx_get(deploy, "spec.strategy.rollingUpdate");
    const json_t *ms = ru ? json_object_get(ru, "maxSurge") : NULL;
    const json_t *mu = ru ? json_object_get(ru, "maxUnavailable") : NULL;
    *surge = ctrl_deployment_intstr(ms, replicas, true, 25);
    *unav = ctrl_deployment_intstr(mu, replicas, false, 25);
    if (*surge < 0)
        *surge = 0;
    if (*unav < 0)
        *unav = 0;
    if (*surge == 0 && *unav == 0)
        *unav = 1;
    if (*unav > replicas)
        *unav = replicas;
}

static int cmp_created(const void *a, const void *b)
{
    const struct ctrl_rs_view *x = *(const struct ctrl_rs_view *const *)a;
    const struct ctrl_rs_view *y = *(const struct ctrl_rs_view *const *)b;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    const char *nx = x->rs ? jsonx_get_str(x->rs, "metadata.name") : "";
    const char *ny = y->rs ? jsonx_get_str(y->rs, "metadata.name") : "";
    return strcmp(nx ? nx : "", ny ? ny : "");
}

void ctrl_deployment_plan(const json_t *deploy, struct ctrl_rs_view *views, size_t n)
{
    int replicas = (int)jsonx_get_int(deploy, "spec.replicas", 1);
    struct ctrl_rs_view *nv = NULL;
    bool olds_active = false, olds_running = false;
    int total = 0, all_available = 0;
    for (size_t i = 0; i < n; i++) {
        views[i].target = views[i].spec_replicas;
        total += views[i].spec_replicas;
        all_available += views[i].available;
        if (views[i].is_new) {
            nv = &views[i];
        } else {
            olds_active |= views[i].spec_replicas > 0;
            olds_running |= views[i].spec_replicas > 0 || views[i].status_replicas > 0;
        }
    }

    if (is_recreate(deploy)) {
        for (size_t i = 0; i < n; i++)
            if (!views[i].is_new)
                views[i].target = 0;
        /* the new pods start only once every old pod is gone */
        if (nv && !olds_running)
            nv->target = replicas;
        return;
    }

    if (!olds_active) {
        if (nv)
            nv->target = replicas;
        return;
    }

    int surge, unav;
    fenceposts(deploy, replicas, &surge, &unav);
    if (nv) {
        if (nv->spec_replicas > replicas) {
            nv->target = replicas;
        } else if (nv->spec_replicas < replicas) {
            int up = min_i(replicas - nv->spec_replicas, replicas + surge - total);
            nv->target = nv->spec_replicas + max_i(up, 0);
        }
    }

    int all_pods = total - (nv ? nv->spec_replicas - nv->target : 0);
    int min_available = replicas - unav;
    int new_unavailable = nv ? max_i(nv->target - nv->available, 0) : 0;
    int max_scaled_down = all_pods - min_available - new_unavailable;
    if (max_scaled_down <= 0)
        return;

    struct ctrl_rs_view **olds = calloc(n ? n : 1, sizeof(*olds));
    size_t nolds = 0;
    if (!olds)
        return;
    for (size_t i = 0; i < n; i++)
        if (!views[i].is_new)
            olds[nolds++] = &views[i];
    qsort(olds, nolds, sizeof(*olds), cmp_created);

    /* first the old replicas that are not available anyway */
    for (size_t i = 0; i < nolds && max_scaled_down > 0; i++) {
        int unhealthy = olds[i]->target - olds[i]->available;
        if (olds[i]->target == 0 || unhealthy <= 0)
            continue;
        int d = min_i(unhealthy, max_scaled_down);
        olds[i]->target -= d;
        max_scaled_down -= d;
    }
    /* then available ones, oldest ReplicaSet first, keeping minAvailable */
    int scale_down = all_available - min_available;
    for (size_t i = 0; i < nolds && scale_down > 0; i++) {
        if (olds[i]->target == 0)
            continue;
        int d = min_i(olds[i]->target, scale_down);
        olds[i]->target -= d;
        scale_down -= d;
    }
    free(olds);
}

/* A condition keeping the timestamps of the old one when nothing changed. */
static json_t *condition(const json_t *deploy, const char *type, const char *status,
                         const char *reason, const char *message, const char *now)
{
    const json_t *old = ctrl_condition(deploy, type);
    const char *ltt = now, *lut = now;
    if (old) {
        const char *os = json_string_value(json_object_get(old, "status"));
        const char *orr = json_string_value(json_object_get(old, "reason"));
        const char *om = json_string_value(json_object_get(old, "message"));
        if (os && strcmp(os, status) == 0) {
            ltt = json_string_value(json_object_get(old, "lastTransitionTime")) ?: now;
            if (orr && om && strcmp(orr, reason) == 0 && strcmp(om, message) == 0)
                lut = json_string_value(json_object_get(old, "lastUpdateTime")) ?: now;
        }
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status", status,
                     "lastUpdateTime", lut, "lastTransitionTime", ltt, "reason", reason,
                     "message", message);
}

json_t *ctrl_deployment_status(const json_t *deploy, const json_t *const *rs, size_t n,
                               const char *new_rs_name, time_t now)
{
    int replicas = (int)jsonx_get_int(deploy, "spec.replicas", 1);
    long long generation = jsonx_get_int(deploy, "metadata.generation", 1);
    int actual = 0, updated = 0, ready = 0, available = 0, total_spec = 0;
    for (size_t i = 0; i < n; i++) {
        int sr = (int)jsonx_get_int(rs[i], "status.replicas", 0);
        actual += sr;
        ready += (int)jsonx_get_int(rs[i], "status.readyReplicas", 0);
        available += (int)jsonx_get_int(rs[i], "status.availableReplicas", 0);
        total_spec += rs_spec_replicas(rs[i]);
        const char *name = jsonx_get_str(rs[i], "metadata.name");
        if (new_rs_name && name && strcmp(name, new_rs_name) == 0)
            updated = sr;
    }
    int unav = 0, surge;
    if (!is_recreate(deploy))
        fenceposts(deploy, replicas, &surge, &unav);
    char ts[32], msg[400];
    time_rfc3339(now, ts, sizeof ts);

    json_t *conds = json_array();
    if (available >= replicas - unav)
        json_array_append_new(conds, condition(deploy, "Available", "True",
                                               "MinimumReplicasAvailable",
                                               "Deployment has minimum availability.", ts));
    else
        json_array_append_new(conds, condition(deploy, "Available", "False",
                                               "MinimumReplicasUnavailable",
                                               "Deployment does not have minimum availability.",
                                               ts));
    if (!new_rs_name) {
        snprintf(msg, sizeof msg, "Deployment \"%s\" has no replica set for its template.",
                 jsonx_get_str(deploy, "metadata.name") ?: "");
        json_array_append_new(conds, condition(deploy, "Progressing", "Unknown",
                                               "DeploymentPaused", msg, ts));
    } else if (updated == replicas && actual == replicas && available == replicas) {
        snprintf(msg, sizeof msg, "ReplicaSet \"%s\" has successfully progressed.",
                 new_rs_name);
        json_array_append_new(conds, condition(deploy, "Progressing", "True",
                                               "NewReplicaSetAvailable", msg, ts));
    } else {
        snprintf(msg, sizeof msg, "ReplicaSet \"%s\" is progressing.", new_rs_name);
        json_array_append_new(conds, condition(deploy, "Progressing", "True",
                                               "ReplicaSetUpdated", msg, ts));
    }
    return json_pack("{s:I, s:i, s:i, s:i, s:i, s:i, s:o}", "observedGeneration",
                     (json_int_t)generation, "replicas", actual, "updatedReplicas", updated,
                     "readyReplicas", ready, "availableReplicas", available,
                     "unavailableReplicas", max_i(total_spec - available, 0), "conditions",
                     conds);
}

/* ---- the controller ---- */

static json_t *build_replicaset(const json_t *deploy, const char *hash, int replicas,
                                long long revision)
{
    const char *dname = jsonx_get_str(deploy, "metadata.name");
    const char *ns = jsonx_get_str(deploy, "metadata.namespace");
    char name[300], rev[32];
    snprintf(name, sizeof name, "%s-%s", dname, hash);
    snprintf(rev, sizeof rev, "%lld", revision);

    json_t *tmpl = json_deep_copy(jsonx_get(deploy, "spec.template"));
    json_t *sel = json_deep_copy(jsonx_get(deploy, "spec.selector"));
    if (!tmpl)
        tmpl = json_object();
    if (!sel)
        sel = json_object();
    jsonx_set_new(tmpl, "metadata.labels." HASH_LABEL, json_string(hash));
    jsonx_set_new(sel, "matchLabels." HASH_LABEL, json_string(hash));
    json_t *labels = json_deep_copy(jsonx_get(tmpl, "metadata.labels"));
    json_t *refs = json_array();
    json_array_append_new(refs, ctrl_owner_ref(deploy, "apps/v1", "Deployment"));
    json_t *rs = json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:{s:s}, s:o}, s:{s:i, s:I, s:o, s:o}}",
                           "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name",
                           name, "namespace", ns ? ns : "default", "labels", labels,
                           "annotations", REVISION_ANN, rev, "ownerReferences", refs, "spec",
                           "replicas", replicas, "minReadySeconds",
                           (json_int_t)jsonx_get_int(deploy, "spec.minReadySeconds", 0),
                           "selector", sel, "template", tmpl);
    return rs;
}

static long long rs_revision(const json_t *rs)
{
    json_t *ann = jsonx_get(rs, "metadata.annotations");
    const char *v = ann ? json_string_value(json_object_get(ann, REVISION_ANN)) : NULL;
    return v ? atoll(v) : 0;
}

static int scale_rs(struct ctrl_deployment *dc, const json_t *deploy, struct ctrl_rs_view *v,
                    struct bosun_err *err)
{
    char path[CTRL_PATH_MAX];
    const char *ns = jsonx_get_str(v->rs, "metadata.namespace");
    const char *name = jsonx_get_str(v->rs, "metadata.name");
    int r = ctrl_path("ReplicaSet", ns, name, path, sizeof path);
    if (r < 0)
        return err_set(err, r, "replicaset %s/%s: bad name", ns, name);
    json_t *copy = json_deep_copy(v->rs);
    if (!copy)
        return err_set(err, -ENOMEM, "out of memory");
    jsonx_set_new(copy, "spec.replicas", json_integer(v->target));
    r = ctrl_put(dc->ctx->client, path, copy, NULL, err);
    json_decref(copy);
    if (r < 0)
        return r;
    if (v->target > v->spec_replicas)
        events_recordf(dc->ctx->events, deploy, "Deployment", "apps/v1", "Normal",
                       "ScalingReplicaSet", "Scaled up replica set %s to %d", name, v->target);
    else
        events_recordf(dc->ctx->events, deploy, "Deployment", "apps/v1", "Normal",
                       "ScalingReplicaSet", "Scaled down replica set %s to %d from %d", name,
                       v->target, v->spec_replicas);
    log_info("deployment %s/%s: scaled replicaset %s %d -> %d",
             jsonx_get_str(deploy, "metadata.namespace"),
             jsonx_get_str(deploy, "metadata.name"), name, v->spec_replicas, v->target);
    return 0;
}

static int sync_deployment(struct ctrl_deployment *dc, const json_t *deploy,
                           struct bosun_err *err)
{
    struct ctrl_ctx *ctx = dc->ctx;
    const char *ns = jsonx_get_str(deploy, "metadata.namespace");
    const char *dname = jsonx_get_str(deploy, "metadata.name");
    const char *uid = jsonx_get_str(deploy, "metadata.uid");
    json_t *all = informer_list(ctx->replicasets);
    json_t *created = NULL, *status = NULL;
    struct ctrl_rs_view *views = NULL;
    const json_t **rsobjs = NULL;
    size_t n = 0, i;
    json_t *rs;
    int r = 0;
    char hash[CTRL_HASH_LEN];

    if (!all)
        return err_set(err, -ENOMEM, "out of memory");
    views = calloc(json_array_size(all) + 1, sizeof(*views));
    rsobjs = calloc(json_array_size(all) + 1, sizeof(*rsobjs));
    if (!views || !rsobjs) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    ctrl_deployment_template_hash(jsonx_get(deploy, "spec.template"), hash);
    long long max_rev = 0;
    struct ctrl_rs_view *nv = NULL;
    json_array_foreach(all, i, rs)
    {
        const char *rns = jsonx_get_str(rs, "metadata.namespace");
        if (!rns || !ns || strcmp(rns, ns) != 0 || ctrl_is_deleting(rs) ||
            !ctrl_is_controlled_by(rs, "Deployment", uid))
            continue;
        ctrl_deployment_view(rs, &views[n]);
        json_t *labels = jsonx_get(rs, "metadata.labels");
        const char *h = labels ? json_string_value(json_object_get(labels, HASH_LABEL)) : NULL;
        if (!nv && h && strcmp(h, hash) == 0) {
            views[n].is_new = true;
            nv = &views[n];
        }
        if (rs_revision(rs) > max_rev)
            max_rev = rs_revision(rs);
        n++;
    }

    json_t *spec = jsonx_get(deploy, "spec");
    bool paused = spec && json_is_true(json_object_get(spec, "paused"));
    if (!paused) {
        if (!nv) {
            nv = &views[n++];
            memset(nv, 0, sizeof(*nv));
            nv->is_new = true;
        }
        ctrl_deployment_plan(deploy, views, n);
        if (!nv->rs) {
            char path[CTRL_PATH_MAX];
            json_t *obj = build_replicaset(deploy, hash, nv->target, max_rev + 1);
            if (!obj || ctrl_path("ReplicaSet", ns, NULL, path, sizeof path) < 0) {
                json_decref(obj);
                r = err_set(err, -ENOMEM, "out of memory");
                goto out;
            }
            r = ctrl_post(ctx->client, path, obj, &created, err);
            if (r == -EEXIST) {
                /* created by an earlier sync our cache has not seen yet: wait for it */
                json_decref(obj);
                err_clear(err);
                r = -EAGAIN;
                err_set(err, r, "replicaset %s-%s exists but is not in the cache yet", dname,
                        hash);
                goto out;
            }
            json_decref(obj);
            if (r < 0) {
                events_recordf(ctx->events, deploy, "Deployment", "apps/v1", "Warning",
                               "FailedCreate", "Failed to create new replica set %s-%s: %s", dname,
                               hash, err->msg);
                goto out;
            }
            nv->rs = created;
            events_recordf(ctx->events, deploy, "Deployment", "apps/v1", "Normal",
                           "ScalingReplicaSet", "Scaled up replica set %s to %d",
                           jsonx_get_str(created, "metadata.name"), nv->target);
            log_info("deployment %s/%s: created replicaset %s with %d replicas", ns, dname,
                     jsonx_get_str(created, "metadata.name"), nv->target);
            nv->spec_replicas = nv->target;
        }
        for (i = 0; i < n; i++) {
            if (views[i].rs && views[i].target != views[i].spec_replicas) {
                r = scale_rs(dc, deploy, &views[i], err);
                if (r < 0)
                    goto out;
            }
        }
    }

    for (i = 0; i < n; i++)
        rsobjs[i] = views[i].rs;
    status = ctrl_deployment_status(deploy, rsobjs, n,
                                    nv && nv->rs ? jsonx_get_str(nv->rs, "metadata.name") : NULL,
                                    time(NULL));
    if (!status) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    /* the conditions' timestamps are kept while unchanged, so equal means nothing to say */
    if (!json_equal(status, jsonx_get(deploy, "status"))) {
        char path[CTRL_PATH_MAX];
        ctrl_path("Deployment", ns, dname, path, sizeof path);
        r = ctrl_update_status(ctx->client, path, deploy, status, err);
    }
out:
    json_decref(status);
    json_decref(created);
    json_decref(all);
    free(views);
    free(rsobjs);
    return r;
}

static int sync_key(const char *key, void *userdata)
{
    struct ctrl_deployment *dc = userdata;
    char ns[256], name[256];
    struct bosun_err err = {0};
    if (ctrl_key_split(key, ns, sizeof ns, name, sizeof name) < 0)
        return 0;
    json_t *d = informer_get(dc->ctx->deployments, ns, name);
    if (!d || ctrl_is_deleting(d)) {
        json_decref(d);
        return 0;
    }
    int r = sync_deployment(dc, d, &err);
    json_decref(d);
    if (r < 0)
        log_warn("deployment %s: %s", key, err.msg);
    return r;
}

void ctrl_deployment_on_deployment(const json_t *obj, void *userdata)
{
    struct ctrl_deployment *dc = userdata;
    char key[CTRL_KEY_MAX];
    if (ctrl_obj_key(obj, key, sizeof key) == 0)
        ctrl_wq_add(dc->q, key);
}

void ctrl_deployment_on_replicaset(const json_t *obj, void *userdata)
{
    struct ctrl_deployment *dc = userdata;
    const json_t *ref = ctrl_controller_ref(obj);
    const char *kind = ref ? json_string_value(json_object_get(ref, "kind")) : NULL;
    const char *name = ref ? json_string_value(json_object_get(ref, "name")) : NULL;
    const char *ns = jsonx_get_str(obj, "metadata.namespace");
    char key[CTRL_KEY_MAX];
    if (!kind || strcmp(kind, "Deployment") != 0 || !name || !ns)
        return;
    if ((size_t)snprintf(key, sizeof key, "%s/%s", ns, name) < sizeof key)
        ctrl_wq_add(dc->q, key);
}

int ctrl_deployment_new(struct ctrl_ctx *ctx, struct ctrl_deployment **out, struct bosun_err *err)
{
    struct ctrl_deployment *dc = calloc(1, sizeof(*dc));
    if (!dc)
        return err_set(err, -ENOMEM, "deployment controller: out of memory");
    dc->ctx = ctx;
    struct ctrl_wq_opts qo = {.name = "deployment", .fn = sync_key, .userdata = dc};
    int r = ctrl_wq_new(&qo, &dc->q, err);
    if (r < 0) {
        free(dc);
        return r;
    }
    *out = dc;
    return 0;
}

struct ctrl_wq *ctrl_deployment_queue(struct ctrl_deployment *dc)
{
    return dc->q;
}

void ctrl_deployment_free(struct ctrl_deployment *dc)
{
    if (!dc)
        return;
    ctrl_wq_free(dc->q);
    free(dc);
}
