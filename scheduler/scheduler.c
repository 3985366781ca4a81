#include "scheduler/scheduler.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/events.h"
#include "lib/httpc.h"
#include "lib/informer.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "scheduler/cache.h"
#include "scheduler/filter.h"
#include "scheduler/queue.h"
#include "scheduler/score.h"

#define RESYNC_MS 30000
#define ASSUME_TTL_MS 30000

struct scheduler {
    struct httpc *client;
    struct informer *nodes;
    struct informer *pods;
    struct scheduler_cache *cache;
    struct scheduler_queue *queue;
    struct events *events; /* source "default-scheduler" */
    pthread_t thread;
    bool running;
    atomic_bool stopping;
    unsigned rr;
    atomic_ullong n_scheduled, n_unschedulable, n_errors;
};

/* ---- pure logic ---- */

bool scheduler_pod_is_pending(const json_t *pod)
{
    const char *node = jsonx_get_str(pod, "spec.nodeName");
    const char *sn = jsonx_get_str(pod, "spec.schedulerName");
    const char *phase = jsonx_get_str(pod, "status.phase");
    if (node && *node)
        return false;
    if (sn && *sn && strcmp(sn, SCHEDULER_NAME) != 0)
        return false;
    if (jsonx_get_str(pod, "metadata.deletionTimestamp"))
        return false;
    if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
        return false;
    return true;
}

int scheduler_decide(const struct scheduler_node *nodes, size_t n, const json_t *pod,
                     unsigned *rr, int *chosen, char **message, struct bosun_err *err)
{
    struct scheduler_res req, nonzero;
    int r = scheduler_res_pod_requests(pod, &req, err);
    if (r < 0 || (r = scheduler_res_pod_nonzero_requests(pod, &nonzero, err)) < 0)
        return r;
    struct scheduler_fit *fits = calloc(n ? n : 1, sizeof(*fits));
    const struct scheduler_node **feasible = calloc(n ? n : 1, sizeof(*feasible));
    int64_t *scores = calloc(n ? n : 1, sizeof(*scores));
    size_t nf = 0;
    if (!fits || !feasible || !scores) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (scheduler_filter_node(&nodes[i], pod, &req, &fits[i])) {
            feasible[nf] = &nodes[i];
            scores[nf] = scheduler_score_node(&nodes[i], &nonzero);
            nf++;
        }
    }
    *chosen = -1;
    *message = NULL;
    if (nf == 0) {
        *message = scheduler_filter_message(fits, n);
        if (!*message)
            r = err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    int k = scheduler_score_select(feasible, scores, nf, rr);
    *chosen = (int)(feasible[k] - nodes);
out:
    free(fits);
    free(feasible);
    free(scores);
    return r;
}

/* ---- API writes ---- */

static int bind_pod(struct scheduler *s, const json_t *pod, const char *node,
                    struct bosun_err *err)
{
    const char *ns = jsonx_get_str(pod, "metadata.namespace");
    const char *name = jsonx_get_str(pod, "metadata.name");
    char path[600];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/binding", ns, name);
    json_t *b = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s}}", "apiVersion", "v1",
                          "kind", "Binding", "metadata", "name", name, "namespace", ns,
                          "target", "apiVersion", "v1", "kind", "Node", "name", node);
    long status = 0;
    json_t *resp = NULL;
    int r = b ? httpc_json(s->client, "POST", path, "application/json", b, &status, &resp, err)
              : -ENOMEM;
    json_decref(b);
    if (r < 0) {
        json_decref(resp);
        return err_wrap(err, "bind %s/%s", ns, name);
    }
    const char *msg = resp ? json_string_value(json_object_get(resp, "message")) : NULL;
    if (status >= 200 && status < 300)
        r = 0;
    else if (status == 409)
        r = err_set(err, -EEXIST, "bind %s/%s: %s", ns, name, msg ? msg : "conflict");
    else if (status == 404)
        r = err_set(err, -ENOENT, "bind %s/%s: %s", ns, name, msg ? msg : "not found");
    else
        r = err_set(err, -EIO, "bind %s/%s: HTTP %ld %s", ns, name, status, msg ? msg : "");
    json_decref(resp);
    return r;
}

/* Sets PodScheduled=False/Unschedulable with message on pod (a copy), keeping the other
 * conditions; NULL when the pod already says exactly that. New reference. */
static json_t *with_unschedulable(const json_t *pod, const char *message)
{
    const json_t *conds = json_object_get(jsonx_get(pod, "status"), "conditions");
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (!t || strcmp(t, "PodScheduled") != 0)
            continue;
        const char *st = json_string_value(json_object_get(c, "status"));
        const char *rs = json_string_value(json_object_get(c, "reason"));
        const char *m = json_string_value(json_object_get(c, "message"));
        if (st && rs && m && strcmp(st, "False") == 0 && strcmp(rs, "Unschedulable") == 0 &&
            strcmp(m, message) == 0)
            return NULL;
    }
    char now[32];
    time_rfc3339(time(NULL), now, sizeof now);
    json_t *copy = json_deep_copy(pod);
    json_t *status = jsonx_ensure_obj(copy, "status");
    json_t *nconds = json_array();
    json_array_foreach(json_object_get(status, "conditions"), i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && strcmp(t, "PodScheduled") == 0)
            continue;
        json_array_append(nconds, c);
    }
    json_array_append_new(nconds,
                          json_pack("{s:s, s:s, s:n, s:s, s:s, s:s}", "type", "PodScheduled",
                                    "status", "False", "lastProbeTime", "lastTransitionTime",
                                    now, "reason", "Unschedulable", "message", message));
    json_object_set_new(status, "conditions", nconds);
    if (!json_object_get(status, "phase"))
        json_object_set_new(status, "phase", json_string("Pending"));
    return copy;
}

static int mark_unschedulable(struct scheduler *s, const json_t *cached, const char *message,
                              struct bosun_err *err)
{
    const char *ns = jsonx_get_str(cached, "metadata.namespace");
    const char *name = jsonx_get_str(cached, "metadata.name");
    char path[600], spath[620];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s", ns, name);
    snprintf(spath, sizeof spath, "%s/status", path);
    json_t *pod = json_incref((json_t *)cached);
    int r = 0;
    for (int attempt = 0; attempt < 3 && pod; attempt++) {
        json_t *upd = with_unschedulable(pod, message);
        if (!upd)
            break;
        long status = 0;
        json_t *resp = NULL;
        r = httpc_json(s->client, "PUT", spath, "application/json", upd, &status, &resp, err);
        json_decref(upd);
        json_decref(resp);
        if (r < 0)
            break;
        if (status != 409) {
            if (status >= 300 && status != 404)
                r = err_set(err, -EIO, "PUT %s: HTTP %ld", spath, status);
            break;
        }
        /* conflict: re-read and apply the condition to the fresh pod */
        json_decref(pod);
        pod = NULL;
        resp = NULL;
        r = httpc_json(s->client, "GET", path, NULL, NULL, &status, &pod, err);
        if (r < 0 || status != 200) {
            json_decref(pod);
            pod = NULL;
            break;
        }
        if (!scheduler_pod_is_pending(pod))
            break;
    }
    json_decref(pod);
    return r;
}

/* ---- the loop ---- */

static bool schedule_one(struct scheduler *s, const char *key)
{
    char ns[256], name[256];
    const char *slash = strchr(key, '/');
    if (!slash || (size_t)(slash - key) >= sizeof ns)
        return true;
    memcpy(ns, key, (size_t)(slash - key));
    ns[slash - key] = '\0';
    snprintf(name, sizeof name, "%s", slash + 1);

    json_t *pod = informer_get(s->pods, ns, name);
    struct scheduler_node *nodes = NULL;
    size_t n = 0;
    char *message = NULL;
    bool done = true;
    struct bosun_err err = {0};
    if (!pod || !scheduler_pod_is_pending(pod) || scheduler_cache_is_assumed(s->cache, key))
        goto out;
    if (scheduler_cache_snapshot(s->cache, &nodes, &n, &err) < 0) {
        done = false;
        goto out;
    }
    int chosen = -1;
    if (scheduler_decide(nodes, n, pod, &s->rr, &chosen, &message, &err) < 0) {
        free(message);
        message = strdup(err.msg);
    }
    if (chosen < 0) {
        atomic_fetch_add(&s->n_unschedulable, 1);
        log_info("scheduler: %s: %s", key, message ? message : "unschedulable");
        struct bosun_err merr = {0};
        if (message && mark_unschedulable(s, pod, message, &merr) < 0)
            log_warn("scheduler: %s: %s", key, merr.msg);
        events_record(s->events, pod, "Pod", "v1", "Warning", "FailedScheduling",
                      message ? message : "unschedulable");
        done = false;
        goto out;
    }
    const char *node = nodes[chosen].name;
    if (scheduler_cache_assume(s->cache, pod, node) < 0) {
        done = false;
        goto out;
    }
    int r = bind_pod(s, pod, node, &err);
    if (r < 0) {
        scheduler_cache_forget(s->cache, key);
        if (r == -EEXIST || r == -ENOENT) {
            log_info("scheduler: %s: %s", key, err.msg); /* bound elsewhere or gone */
        } else {
            atomic_fetch_add(&s->n_errors, 1);
            log_warn("scheduler: %s", err.msg);
            done = false;
        }
        goto out;
    }
    atomic_fetch_add(&s->n_scheduled, 1);
    log_info("scheduler: bound %s to %s", key, node);
    char msg[700];
    snprintf(msg, sizeof msg, "Successfully assigned %s to %s", key, node);
    events_record(s->events, pod, "Pod", "v1", "Normal", "Scheduled", msg);
out:
    scheduler_cache_snapshot_free(nodes, n);
    free(message);
    json_decref(pod);
    return done;
}

static void *loop(void *arg)
{
    struct scheduler *s = arg;
    /* decisions on a half-loaded cache would overcommit nodes */
    while (informer_wait_synced(s->nodes, 500) < 0 || informer_wait_synced(s->pods, 500) < 0) {
        if (atomic_load(&s->stopping))
            return NULL;
    }
    log_info("scheduler: caches synced, scheduling");
    int64_t last_expire = time_mono_ms();
    for (;;) {
        char *key = NULL;
        int r = scheduler_queue_pop(s->queue, 1000, &key);
        if (r == -ECANCELED)
            break;
        if (time_mono_ms() - last_expire > 5000) {
            scheduler_cache_expire(s->cache, ASSUME_TTL_MS);
            last_expire = time_mono_ms();
        }
        if (r < 0)
            continue;
        bool done = schedule_one(s, key);
        scheduler_queue_done(s->queue, key, done);
        free(key);
    }
    return NULL;
}

/* ---- informer handlers ---- */

static void pod_changed(struct scheduler *s, const json_t *pod)
{
    char key[520];
    const char *ns = jsonx_get_str(pod, "metadata.namespace");
    const char *name = jsonx_get_str(pod, "metadata.name");
    if (!ns || !name || (size_t)snprintf(key, sizeof key, "%s/%s", ns, name) >= sizeof key)
        return;
    scheduler_cache_pod_set(s->cache, pod);
    if (scheduler_pod_is_pending(pod))
        scheduler_queue_add(s->queue, key);
    else
        scheduler_queue_remove(s->queue, key);
}

static void pod_add(const json_t *obj, void *ud)
{
    pod_changed(ud, obj);
}

static void pod_update(const json_t *old_obj, const json_t *obj, void *ud)
{
    struct scheduler *s = ud;
    pod_changed(s, obj);
    /* a pod finishing frees its node's resources */
    const char *op = jsonx_get_str(old_obj, "status.phase");
    const char *np = jsonx_get_str(obj, "status.phase");
    if (old_obj != obj && np && (!op || strcmp(op, np) != 0) &&
        (strcmp(np, "Succeeded") == 0 || strcmp(np, "Failed") == 0))
        scheduler_queue_retry_all(s->queue);
}

static void pod_delete(const json_t *obj, void *ud)
{
    struct scheduler *s = ud;
    char key[520];
    const char *ns = jsonx_get_str(obj, "metadata.namespace");
    const char *name = jsonx_get_str(obj, "metadata.name");
    scheduler_cache_pod_remove(s->cache, obj);
    if (ns && name && (size_t)snprintf(key, sizeof key, "%s/%s", ns, name) < sizeof key)
        scheduler_queue_remove(s->queue, key);
    if (jsonx_get_str(obj, "spec.nodeName"))
        scheduler_queue_retry_all(s->queue);
}

/* What of a node matters to scheduling (not its heartbeat). New reference. */
static json_t *node_fingerprint(const json_t *node)
{
    json_t *fp = json_object();
    json_t *spec = jsonx_get(node, "spec");
    json_t *st = jsonx_get(node, "status");
    const json_t *ready = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(st, "conditions"), i, c)
    {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && strcmp(t, "Ready") == 0)
            ready = json_object_get(c, "status");
    }
    if (spec)
        json_object_set(fp, "spec", spec);
    if (json_object_get(st, "allocatable"))
        json_object_set(fp, "allocatable", json_object_get(st, "allocatable"));
    if (json_object_get(st, "capacity"))
        json_object_set(fp, "capacity", json_object_get(st, "capacity"));
    if (ready)
        json_object_set(fp, "ready", (json_t *)ready);
    if (jsonx_get(node, "metadata.labels"))
        json_object_set(fp, "labels", jsonx_get(node, "metadata.labels"));
    return fp;
}

static void node_add(const json_t *obj, void *ud)
{
    struct scheduler *s = ud;
    scheduler_cache_node_set(s->cache, obj);
    scheduler_queue_retry_all(s->queue);
}

static void node_update(const json_t *old_obj, const json_t *obj, void *ud)
{
    struct scheduler *s = ud;
    scheduler_cache_node_set(s->cache, obj);
    json_t *a = node_fingerprint(old_obj), *b = node_fingerprint(obj);
    if (!json_equal(a, b))
        scheduler_queue_retry_all(s->queue);
    json_decref(a);
    json_decref(b);
}

static void node_delete(const json_t *obj, void *ud)
{
    struct scheduler *s = ud;
    const char *name = jsonx_get_str(obj, "metadata.name");
    if (name)
        scheduler_cache_node_remove(s->cache, name);
}

/* ---- lifecycle ---- */

bool scheduler_synced(struct scheduler *s)
{
    return s && s->nodes && s->pods && informer_synced(s->nodes) && informer_synced(s->pods);
}

void scheduler_write_metrics(struct scheduler *s, FILE *out)
{
    fprintf(out,
            "# HELP scheduler_schedule_attempts_total Scheduling attempts by result.\n"
            "# TYPE scheduler_schedule_attempts_total counter\n"
            "scheduler_schedule_attempts_total{result=\"scheduled\"} %llu\n"
            "scheduler_schedule_attempts_total{result=\"unschedulable\"} %llu\n"
            "scheduler_schedule_attempts_total{result=\"error\"} %llu\n"
            "# HELP scheduler_pending_pods Pods waiting to be scheduled.\n"
            "# TYPE scheduler_pending_pods gauge\n"
            "scheduler_pending_pods %zu\n"
            "# HELP scheduler_nodes Nodes in the scheduler's cache.\n"
            "# TYPE scheduler_nodes gauge\n"
            "scheduler_nodes %zu\n",
            (unsigned long long)atomic_load(&s->n_scheduled),
            (unsigned long long)atomic_load(&s->n_unschedulable),
            (unsigned long long)atomic_load(&s->n_errors), scheduler_queue_len(s->queue),
            scheduler_cache_node_count(s->cache));
}

int scheduler_start(const struct scheduler_opts *opts, struct scheduler **out,
                    struct bosun_err *err)
{
    struct scheduler *s = calloc(1, sizeof(*s));
    int r;
    if (!s)
        return err_set(err, -ENOMEM, "scheduler: out of memory");
    if ((r = httpc_new(opts->server, opts->token_file, &s->client, err)) < 0 ||
        (opts->ca_file && (r = httpc_set_ca_file(s->client, opts->ca_file, err)) < 0) ||
        (r = scheduler_cache_new(&s->cache, err)) < 0 ||
        (r = scheduler_queue_new(&s->queue, err)) < 0 ||
        (r = events_new(s->client, SCHEDULER_NAME, &s->events, err)) < 0)
        goto fail;
    struct informer_opts no = {.client = s->client,
                               .path = "/api/v1/nodes",
                               .resync_ms = RESYNC_MS,
                               .handlers = {node_add, node_update, node_delete, s}};
    if ((r = informer_start(&no, &s->nodes, err)) < 0) {
        err_wrap(err, "scheduler: nodes informer");
        goto fail;
    }
    struct informer_opts po = {.client = s->client,
                               .path = "/api/v1/pods",
                               .resync_ms = RESYNC_MS,
                               .handlers = {pod_add, pod_update, pod_delete, s}};
    if ((r = informer_start(&po, &s->pods, err)) < 0) {
        err_wrap(err, "scheduler: pods informer");
        goto fail;
    }
    r = pthread_create(&s->thread, NULL, loop, s);
    if (r != 0) {
        r = err_errno(err, -r, "scheduler: pthread_create");
        goto fail;
    }
    s->running = true;
    *out = s;
    return 0;
fail:
    scheduler_stop(s);
    return r;
}

void scheduler_stop(struct scheduler *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, true);
    if (s->queue)
        scheduler_queue_close(s->queue);
    if (s->running)
        pthread_join(s->thread, NULL);
    informer_stop(s->pods);
    informer_stop(s->nodes);
    events_free(s->events);
    scheduler_queue_free(s->queue);
    scheduler_cache_free(s->cache);
    httpc_free(s->client);
    free(s);
}
