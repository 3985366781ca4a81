#include "scheduler/events.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"

#define CACHE 256
#define WINDOW_S 600

struct seen {
    char *key;
    char *ns, *name;
    long long count;
    time_t last;
};

struct scheduler_events {
    struct httpc *client;
    char *component;
    pthread_mutex_t mu;
    struct seen cache[CACHE];
    size_t next;
};

int scheduler_events_new(struct httpc *client, const char *component,
                         struct scheduler_events **out, struct bosun_err *err)
{
    struct scheduler_events *ev = calloc(1, sizeof(*ev));
    if (!ev || !(ev->component = strdup(component))) {
        free(ev);
        return err_set(err, -ENOMEM, "events: out of memory");
    }
    ev->client = client;
    pthread_mutex_init(&ev->mu, NULL);
    *out = ev;
    return 0;
}

void scheduler_events_free(struct scheduler_events *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < CACHE; i++) {
        free(ev->cache[i].key);
        free(ev->cache[i].ns);
        free(ev->cache[i].name);
    }
    pthread_mutex_destroy(&ev->mu);
    free(ev->component);
    free(ev);
}

static void post(struct scheduler_events *ev, const json_t *pod, const char *type,
                 const char *reason, const char *message, char *key, time_t now)
{
    const char *ns = jsonx_get_str(pod, "metadata.namespace");
    const char *name = jsonx_get_str(pod, "metadata.name");
    const char *uid = jsonx_get_str(pod, "metadata.uid");
    const char *rv = jsonx_get_str(pod, "metadata.resourceVersion");
    char ts[32], ename[320], path[600];
    struct timespec tsp;
    clock_gettime(CLOCK_REALTIME, &tsp);
    snprintf(ename, sizeof ename, "%.250s.%llx", name ? name : "pod",
             (unsigned long long)tsp.tv_sec * 1000000000ULL + (unsigned long long)tsp.tv_nsec);
    time_rfc3339(now, ts, sizeof ts);
    if (!ns)
        ns = "default";
    json_t *inv = json_pack("{s:s, s:s, s:s, s:s}", "kind", "Pod", "apiVersion", "v1",
                            "namespace", ns, "name", name ? name : "");
    if (inv && uid)
        json_object_set_new(inv, "uid", json_string(uid));
    if (inv && rv)
        json_object_set_new(inv, "resourceVersion", json_string(rv));
    json_t *obj = json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:{s:s}, s:s, s:s}",
        "apiVersion", "v1", "kind", "Event", "metadata", "name", ename, "namespace", ns,
        "involvedObject", inv, "reason", reason, "message", message, "type", type, "count", 1,
        "firstTimestamp", ts, "lastTimestamp", ts, "eventTime", ts, "source", "component",
        ev->component, "reportingComponent", ev->component, "reportingInstance",
        ev->component);
    long status = 0;
    json_t *resp = NULL;
    struct bosun_err err = {0};
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/events", ns);
    if (!obj || httpc_json(ev->client, "POST", path, "application/json", obj, &status, &resp,
                           &err) < 0 ||
        status >= 300) {
        log_debug("events: post %s: %ld %s", path, status, err.msg);
        json_decref(obj);
        json_decref(resp);
        free(key);
        return;
    }
    struct seen *s = &ev->cache[ev->next];
    ev->next = (ev->next + 1) % CACHE;
    free(s->key);
    free(s->ns);
    free(s->name);
    s->key = key;
    s->ns = strdup(ns);
    s->name = strdup(ename);
    s->count = 1;
    s->last = now;
    if (!s->ns || !s->name) {
        free(s->key);
        s->key = NULL;
    }
    json_decref(obj);
    json_decref(resp);
}

void scheduler_events_pod(struct scheduler_events *ev, const json_t *pod, const char *type,
                          const char *reason, const char *message)
{
    if (!ev)
        return;
    const char *uid = jsonx_get_str(pod, "metadata.uid");
    char *key = NULL;
    if (asprintf(&key, "%s\x1f%s\x1f%s", uid ? uid : "", reason, message) < 0)
        return;
    time_t now = time(NULL);
    pthread_mutex_lock(&ev->mu);
    for (size_t i = 0; i < CACHE; i++) {
        struct seen *s = &ev->cache[i];
        if (!s->key || strcmp(s->key, key) != 0 || now - s->last >= WINDOW_S)
            continue;
        char ts[32], path[600];
        long status = 0;
        json_t *resp = NULL;
        struct bosun_err err = {0};
        s->count++;
        s->last = now;
        time_rfc3339(now, ts, sizeof ts);
        json_t *patch = json_pack("{s:I, s:s}", "count", (json_int_t)s->count, "lastTimestamp",
                                  ts);
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/events/%s", s->ns, s->name);
        if (!patch || httpc_json(ev->client, "PATCH", path, "application/merge-patch+json",
                                 patch, &status, &resp, &err) < 0 ||
            status >= 300)
            log_debug("events: patch %s: %ld %s", path, status, err.msg);
        json_decref(patch);
        json_decref(resp);
        free(key);
        pthread_mutex_unlock(&ev->mu);
        return;
    }
    post(ev, pod, type, reason, message, key, now);
    pthread_mutex_unlock(&ev->mu);
}
