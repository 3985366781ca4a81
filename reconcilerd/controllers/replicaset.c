#include "reconcilerd/controllers/replicaset.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"

#define BURST_REPLICAS 500
/* an expectation never seen fulfilled stops blocking after this long (client-go: 5 min) */
#define EXPECTATIONS_TTL_MS 60000

struct expectation {
    char *key;
    int adds;
    char **del_uids;
    size_t ndel;
    int64_t set_ms;
};

struct ctrl_replicaset {
    struct ctrl_ctx *ctx;
    struct ctrl_wq *q;
    pthread_mutex_t mu; /* expectations */
    struct expectation *exp;
    size_t nexp, capexp;
    unsigned rnd;
};

/* ---- pure logic ---- */

json_t *ctrl_replicaset_active_pods(const json_t *rs, const json_t *all_pods)
{
    const char *ns = jsonx_get_str(rs, "metadata.namespace");
    const char *uid = jsonx_get_str(rs, "metadata.uid");
    json_t *out = json_array();
    size_t i;
    json_t *p;
    if (!out)
        return NULL;
    json_array_foreach(all_pods, i, p)
    {
        const char *pns = jsonx_get_str(p, "metadata.namespace");
        if (!pns || !ns || strcmp(pns, ns) != 0 || !ctrl_is_controlled_by(p, "ReplicaSet", uid) ||
            ctrl_is_deleting(p) || ctrl_pod_is_terminal(p))
            continue;
        json_array_append(out, p);
    }
    return out;
}

static int phase_rank(const json_t *pod)
{
    const char *ph = jsonx_get_str(pod, "status.phase");
    if (!ph || strcmp(ph, "Pending") == 0)
        return 0;
    if (strcmp(ph, "Unknown") == 0)
        return 1;
    if (strcmp(ph, "Running") == 0)
        return 2;
    return 3;
}

static time_t ts_of(const char *s)
{
    time_t t = 0;
    if (s)
        time_parse_rfc3339(s, &t);
    return t;
}

static long long restarts(const json_t *pod)
{
    json_t *cs = jsonx_get(pod, "status") ? json_object_get(jsonx_get(pod, "status"),
                                                             "containerStatuses")
                                           : NULL;
    long long max = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cs, i, c)
    {
        long long rc = json_integer_value(json_object_get(c, "restartCount"));
        if (rc > max)
            max = rc;
    }
    return max;
}

/* < 0 when a should be deleted before b. */
static int cmp_deletion(const void *pa, const void *pb)
{
    const json_t *a = *(const json_t *const *)pa;
    const json_t *b = *(const json_t *const *)pb;
    const char *na = jsonx_get_str(a, "spec.nodeName");
    const char *nb = jsonx_get_str(b, "spec.nodeName");
    bool aa = na && *na, ab = nb && *nb;
    if (aa != ab)
        return aa ? 1 : -1;
    int ra = phase_rank(a), rb = phase_rank(b);
    if (ra != rb)
        return ra - rb;
    bool ya = ctrl_pod_is_ready(a), yb = ctrl_pod_is_ready(b);
    if (ya != yb)
        return ya ? 1 : -1;
    if (ya && yb) {
        time_t ta = ts_of(json_string_value(
            json_object_get(ctrl_condition(a, "Ready"), "lastTransitionTime")));
        time_t tb = ts_of(json_string_value(
            json_object_get(ctrl_condition(b, "Ready"), "lastTransitionTime")));
        if (ta != tb)
            return ta > tb ? -1 : 1;
    }
    long long xa = restarts(a), xb = restarts(b);
    if (xa != xb)
        return xa > xb ? -1 : 1;
    time_t ca = ts_of(jsonx_get_str(a, "metadata.creationTimestamp"));
    time_t cb = ts_of(jsonx_get_str(b, "metadata.creationTimestamp"));
    if (ca != cb)
        return ca > cb ? -1 : 1;
    /* a stable order for equal pods: the later name first */
    const char *ma = jsonx_get_str(a, "metadata.name"), *mb = jsonx_get_str(b, "metadata.name");
    return -strcmp(ma ? ma : "", mb ? mb : "");
}

json_t *ctrl_replicaset_pick_deletions(const json_t *active, size_t n)
{
    size_t total = json_array_size(active);
    const json_t **v = calloc(total ? total : 1, sizeof(*v));
    json_t *out = json_array();
    if (!v || !out) {
        free(v);
        json_decref(out);
        return NULL;
    }
    for (size_t i = 0; i < total; i++)
        v[i] = json_array_get(active, i);
    qsort(v, total, sizeof(*v), cmp_deletion);
    for (size_t i = 0; i < n && i < total; i++)
        json_array_append(out, (json_t *)v[i]);
    free(v);
    return out;
}

static bool labels_superset(const json_t *have, const json_t *want)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v)
    {
        json_t *h = have ? json_object_get(have, k) : NULL;
        if (!h || !json_equal(h, v))
            return false;
    }
    return true;
}

json_t *ctrl_replicaset_status(const json_t *rs, const json_t *active, time_t now)
{
    long long min_ready = jsonx_get_int(rs, "spec.minReadySeconds", 0);
    json_t *tlabels = jsonx_get(rs, "spec.template.metadata.labels");
    int replicas = 0, labeled = 0, ready = 0, available = 0;
    size_t i;
    json_t *p;
    json_array_foreach(active, i, p)
    {
        replicas++;
        if (!tlabels || labels_superset(jsonx_get(p, "metadata.labels"), tlabels))
            labeled++;
        if (ctrl_pod_is_ready(p))
            ready++;
        if (ctrl_pod_is_available(p, min_ready, now))
            available++;
    }
    json_t *st = json_pack("{s:i, s:i, s:i, s:i, s:I}", "replicas", replicas,
                           "fullyLabeledReplicas", labeled, "readyReplicas", ready,
                           "availableReplicas", available, "observedGeneration",
                           (json_int_t)jsonx_get_int(rs, "metadata.generation", 1));
    /* keep conditions others (or we, later) set */
    json_t *conds = jsonx_get(rs, "status") ? json_object_get(jsonx_get(rs, "status"),
                                                               "conditions")
                                             : NULL;
    if (st && conds)
        json_object_set(st, "conditions", conds);
    return st;
}

json_t *ctrl_replicaset_pod(const json_t *rs, const char *suffix)
{
    const char *name = jsonx_get_str(rs, "metadata.name");
    const char *ns = jsonx_get_str(rs, "metadata.namespace");
    char gen[300], pname[320];
    snprintf(gen, sizeof gen, "%s-", name ? name : "");
    snprintf(pname, sizeof pname, "%s%s", gen, suffix);
    json_t *labels = json_deep_copy(jsonx_get(rs, "spec.template.metadata.labels"));
    json_t *ann = json_deep_copy(jsonx_get(rs, "spec.template.metadata.annotations"));
    json_t *spec = json_deep_copy(jsonx_get(rs, "spec.template.spec"));
    json_t *refs = json_array();
    json_array_append_new(refs, ctrl_owner_ref(rs, "apps/v1", "ReplicaSet"));
    json_t *meta = json_pack("{s:s, s:s, s:s, s:o}", "name", pname, "generateName", gen,
                             "namespace", ns ? ns : "default", "ownerReferences", refs);
    if (!meta) {
        json_decref(labels);
        json_decref(ann);
        json_decref(spec);
        return NULL;
    }
    if (labels)
        json_object_set_new(meta, "labels", labels);
    if (ann)
        json_object_set_new(meta, "annotations", ann);
    return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "v1", "kind", "Pod", "metadata",
                     meta, "spec", spec ? spec : json_object());
}

/* ---- expectations ---- */

static struct expectation *exp_find(struct ctrl_replicaset *rc, const char *key)
{
    for (size_t i = 0; i < rc->nexp; i++)
        if (strcmp(rc->exp[i].key, key) == 0)
            return &rc->exp[i];
    return NULL;
}

static void exp_clear(struct expectation *e)
{
    for (size_t i = 0; i < e->ndel; i++)
        free(e->del_uids[i]);
    free(e->del_uids);
    e->del_uids = NULL;
    e->ndel = 0;
    e->adds = 0;
}

static void exp_remove(struct ctrl_replicaset *rc, const char *key)
{
    pthread_mutex_lock(&rc->mu);
    struct expectation *e = exp_find(rc, key);
    if (e) {
        exp_clear(e);
        free(e->key);
        *e = rc->exp[--rc->nexp];
    }
    pthread_mutex_unlock(&rc->mu);
}

static struct expectation *exp_get_locked(struct ctrl_replicaset *rc, const char *key)
{
    struct expectation *e = exp_find(rc, key);
    if (e)
        return e;
    if (rc->nexp == rc->capexp) {
        size_t ncap = rc->capexp ? rc->capexp * 2 : 16;
        struct expectation *p = realloc(rc->exp, ncap * sizeof(*p));
        if (!p)
            return NULL;
        rc->exp = p;
        rc->capexp = ncap;
    }
    e = &rc->exp[rc->nexp];
    memset(e, 0, sizeof(*e));
    if (!(e->key = strdup(key)))
        return NULL;
    rc->nexp++;
    return e;
}

static bool exp_satisfied(struct ctrl_replicaset *rc, const char *key)
{
    bool ok = true;
    pthread_mutex_lock(&rc->mu);
    struct expectation *e = exp_find(rc, key);
    if (e && (e->adds > 0 || e->ndel > 0)) {
        ok = time_mono_ms() - e->set_ms > EXPECTATIONS_TTL_MS;
        if (ok) {
            log_debug("replicaset %s: expectations expired", key);
            exp_clear(e);
        }
    }
    pthread_mutex_unlock(&rc->mu);
    return ok;
}

static void exp_observe(struct ctrl_replicaset *rc, const char *key, bool add, const char *uid)
{
    pthread_mutex_lock(&rc->mu);
    struct expectation *e = exp_find(rc, key);
    if (e) {
        if (add && e->adds > 0) {
            e->adds--;
        } else if (!add && uid) {
            for (size_t i = 0; i < e->ndel; i++) {
                if (strcmp(e->del_uids[i], uid) == 0) {
                    free(e->del_uids[i]);
                    e->del_uids[i] = e->del_uids[--e->ndel];
                    break;
                }
            }
        }
    }
    pthread_mutex_unlock(&rc->mu);
}

/* ---- the controller ---- */

static void rand_suffix(struct ctrl_replicaset *rc, char out[6])
{
    static const char alphanums[] = "bcdfghjklmnpqrstvwxz2456789";
    for (int i = 0; i < 5; i++)
        out[i] = alphanums[rand_r(&rc->rnd) % (sizeof alphanums - 1)];
    out[5] = '\0';
}

static int create_pods(struct ctrl_replicaset *rc, const json_t *rs, const char *key, int count,
                       struct bosun_err *err)
{
    char path[CTRL_PATH_MAX];
    const char *ns = jsonx_get_str(rs, "metadata.namespace");
    int r = ctrl_path("Pod", ns, NULL, path, sizeof path);
    if (r < 0)
        return err_set(err, r, "bad namespace");
    pthread_mutex_lock(&rc->mu);
    struct expectation *e = exp_get_locked(rc, key);
    if (e) {
        e->adds += count;
        e->set_ms = time_mono_ms();
    }
    pthread_mutex_unlock(&rc->mu);

    int failed = 0;
    r = 0;
    for (int i = 0; i < count; i++) {
        json_t *created = NULL;
        int rr = -EEXIST;
        for (int attempt = 0; attempt < 3 && rr == -EEXIST; attempt++) {
            char sfx[6];
            rand_suffix(rc, sfx);
            json_t *pod = ctrl_replicaset_pod(rs, sfx);
            err_clear(err);
            rr = pod ? ctrl_post(rc->ctx->client, path, pod, &created, err) : -ENOMEM;
            json_decref(pod);
        }
        if (rr < 0) {
            failed++;
            r = rr;
            events_recordf(rc->ctx->events, rs, "ReplicaSet", "apps/v1", "Warning", "FailedCreate",
                           "Error creating: %s", err->msg);
            continue;
        }
        events_recordf(rc->ctx->events, rs, "ReplicaSet", "apps/v1", "Normal", "SuccessfulCreate",
                       "Created pod: %s", jsonx_get_str(created, "metadata.name") ?: "?");
        json_decref(created);
    }
    if (failed) {
        /* these will never be observed */
        pthread_mutex_lock(&rc->mu);
        struct expectation *fe = exp_find(rc, key);
        if (fe)
            fe->adds = fe->adds > failed ? fe->adds - failed : 0;
        pthread_mutex_unlock(&rc->mu);
    }
    return r;
}

static int delete_pods(struct ctrl_replicaset *rc, const json_t *rs, const char *key,
                       const json_t *victims, struct bosun_err *err)
{
    size_t i;
    json_t *p;
    pthread_mutex_lock(&rc->mu);
    struct expectation *e = exp_get_locked(rc, key);
    if (e) {
        json_array_foreach(victims, i, p)
        {
            char **nu = realloc(e->del_uids, (e->ndel + 1) * sizeof(char *));
            const char *uid = jsonx_get_str(p, "metadata.uid");
            if (!nu || !uid)
                break;
            e->del_uids = nu;
            if (!(e->del_uids[e->ndel] = strdup(uid)))
                break;
            e->ndel++;
        }
        e->set_ms = time_mono_ms();
    }
    pthread_mutex_unlock(&rc->mu);

    int r = 0;
    json_array_foreach(victims, i, p)
    {
        char path[CTRL_PATH_MAX];
        const char *name = jsonx_get_str(p, "metadata.name");
        const char *uid = jsonx_get_str(p, "metadata.uid");
        if (ctrl_path("Pod", jsonx_get_str(p, "metadata.namespace"), name, path,
                      sizeof path) < 0)
            continue;
        int rr = ctrl_delete(rc->ctx->client, path, uid, err);
        if (rr < 0) {
            r = rr;
            exp_observe(rc, key, false, uid);
            events_recordf(rc->ctx->events, rs, "ReplicaSet", "apps/v1", "Warning", "FailedDelete",
                           "Error deleting: %s", err->msg);
            continue;
        }
        events_recordf(rc->ctx->events, rs, "ReplicaSet", "apps/v1", "Normal", "SuccessfulDelete",
                       "Deleted pod: %s", name);
    }
    return r;
}

static int sync_rs(struct ctrl_replicaset *rc, const char *key, const json_t *rs,
                   struct bosun_err *err)
{
    json_t *all = informer_list(rc->ctx->pods);
    json_t *active = all ? ctrl_replicaset_active_pods(rs, all) : NULL;
    json_t *victims = NULL, *status = NULL;
    int r = 0;
    if (!active) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    int want = (int)jsonx_get_int(rs, "spec.replicas", 1);
    int diff = (int)json_array_size(active) - want;
    if (diff != 0 && exp_satisfied(rc, key)) {
        if (diff < 0) {
            int n = -diff > BURST_REPLICAS ? BURST_REPLICAS : -diff;
            log_info("replicaset %s: creating %d pod(s) (%zu of %d)", key, n,
                     json_array_size(active), want);
            r = create_pods(rc, rs, key, n, err);
        } else {
            int n = diff > BURST_REPLICAS ? BURST_REPLICAS : diff;
            victims = ctrl_replicaset_pick_deletions(active, (size_t)n);
            log_info("replicaset %s: deleting %d pod(s) (%zu of %d)", key, n,
                     json_array_size(active), want);
            r = victims ? delete_pods(rc, rs, key, victims, err) : -ENOMEM;
        }
    }
    time_t now = time(NULL);
    status = ctrl_replicaset_status(rs, active, now);
    if (status && !json_equal(status, jsonx_get(rs, "status"))) {
        char path[CTRL_PATH_MAX];
        struct bosun_err serr = {0};
        ctrl_path("ReplicaSet", jsonx_get_str(rs, "metadata.namespace"),
                  jsonx_get_str(rs, "metadata.name"), path, sizeof path);
        int sr = ctrl_update_status(rc->ctx->client, path, rs, status, &serr);
        if (sr < 0 && r == 0) {
            r = sr;
            *err = serr;
        }
    }
    /* pods ready but not yet available: look again when they will be */
    long long min_ready = jsonx_get_int(rs, "spec.minReadySeconds", 0);
    if (min_ready > 0 && jsonx_get_int(status, "readyReplicas", 0) >
                             jsonx_get_int(status, "availableReplicas", 0))
        ctrl_wq_add_after(rc->q, key, 1000);
out:
    json_decref(status);
    json_decref(victims);
    json_decref(active);
    json_decref(all);
    return r;
}

static int sync_key(const char *key, void *userdata)
{
    struct ctrl_replicaset *rc = userdata;
    char ns[256], name[256];
    struct bosun_err err = {0};
    if (ctrl_key_split(key, ns, sizeof ns, name, sizeof name) < 0)
        return 0;
    json_t *rs = informer_get(rc->ctx->replicasets, ns, name);
    if (!rs) {
        exp_remove(rc, key);
        return 0;
    }
    int r = 0;
    if (!ctrl_is_deleting(rs))
        r = sync_rs(rc, key, rs, &err);
    json_decref(rs);
    if (r < 0)
        log_warn("replicaset %s: %s", key, err.msg);
    return r;
}

void ctrl_replicaset_on_replicaset(const json_t *obj, void *userdata)
{
    struct ctrl_replicaset *rc = userdata;
    char key[CTRL_KEY_MAX];
    if (ctrl_obj_key(obj, key, sizeof key) == 0)
        ctrl_wq_add(rc->q, key);
}

/* The key of the ReplicaSet controlling pod into key; false if none. */
static bool owner_key(const json_t *pod, char *key, size_t len)
{
    const json_t *ref = ctrl_controller_ref(pod);
    const char *kind = ref ? json_string_value(json_object_get(ref, "kind")) : NULL;
    const char *name = ref ? json_string_value(json_object_get(ref, "name")) : NULL;
    const char *ns = jsonx_get_str(pod, "metadata.namespace");
    if (!kind || strcmp(kind, "ReplicaSet") != 0 || !name || !ns)
        return false;
    return (size_t)snprintf(key, len, "%s/%s", ns, name) < len;
}

void ctrl_replicaset_on_pod_add(const json_t *obj, void *userdata)
{
    struct ctrl_replicaset *rc = userdata;
    char key[CTRL_KEY_MAX];
    if (!owner_key(obj, key, sizeof key))
        return;
    if (ctrl_is_deleting(obj))
        exp_observe(rc, key, false, jsonx_get_str(obj, "metadata.uid"));
    else
        exp_observe(rc, key, true, NULL);
    ctrl_wq_add(rc->q, key);
}

void ctrl_replicaset_on_pod_update(const json_t *old_obj, const json_t *new_obj, void *userdata)
{
    struct ctrl_replicaset *rc = userdata;
    char key[CTRL_KEY_MAX], okey[CTRL_KEY_MAX];
    if (owner_key(new_obj, key, sizeof key)) {
        if (ctrl_is_deleting(new_obj))
            exp_observe(rc, key, false, jsonx_get_str(new_obj, "metadata.uid"));
        ctrl_wq_add(rc->q, key);
    }
    /* a pod released by (or moved from) another ReplicaSet */
    if (old_obj != new_obj && owner_key(old_obj, okey, sizeof okey) &&
        (!owner_key(new_obj, key, sizeof key) || strcmp(key, okey) != 0))
        ctrl_wq_add(rc->q, okey);
}

void ctrl_replicaset_on_pod_delete(const json_t *obj, void *userdata)
{
    struct ctrl_replicaset *rc = userdata;
    char key[CTRL_KEY_MAX];
    if (!owner_key(obj, key, sizeof key))
        return;
    exp_observe(rc, key, false, jsonx_get_str(obj, "metadata.uid"));
    ctrl_wq_add(rc->q, key);
}

int ctrl_replicaset_new(struct ctrl_ctx *ctx, struct ctrl_replicaset **out,
                        struct bosun_err *err)
{
    struct ctrl_replicaset *rc = calloc(1, sizeof(*rc));
    if (!rc)
        return err_set(err, -ENOMEM, "replicaset controller: out of memory");
    rc->ctx = ctx;
    rc->rnd = (unsigned)time_mono_ms() ^ (unsigned)time(NULL);
    pthread_mutex_init(&rc->mu, NULL);
    struct ctrl_wq_opts qo = {.name = "replicaset", .fn = sync_key, .userdata = rc};
    int r = ctrl_wq_new(&qo, &rc->q, err);
    if (r < 0) {
        pthread_mutex_destroy(&rc->mu);
        free(rc);
        return r;
    }
    *out = rc;
    return 0;
}

struct ctrl_wq *ctrl_replicaset_queue(struct ctrl_replicaset *rc)
{
    return rc->q;
}

void ctrl_replicaset_free(struct ctrl_replicaset *rc)
{
    if (!rc)
        return;
    ctrl_wq_free(rc->q);
    for (size_t i = 0; i < rc->nexp; i++) {
        exp_clear(&rc->exp[i]);
        free(rc->exp[i].key);
    }
    free(rc->exp);
    pthread_mutex_destroy(&rc->mu);
    free(rc);
}
