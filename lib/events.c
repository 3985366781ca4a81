#include "lib/events.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"

#define EVENTS_CACHE 256
#define EVENTS_REPEAT_WINDOW_S 600
#define EVENTS_PATH_MAX 768

/* An event already posted, to aggregate repeats into. */
struct seen {
    char *key; /* uid \x1f fieldPath \x1f reason \x1f message */
    char *ns;
    char *name;
    long long count;
    time_t last;
};

struct events {
    struct httpc *client;
    char *component;
    char *host;      /* source.host, or NULL */
    long timeout_ms; /* per request; 0 = httpc's default */
    pthread_mutex_t mu;
    struct seen cache[EVENTS_CACHE];
    size_t next; /* ring position for replacement */
};

int events_new(struct httpc *client, const char *component, struct events **out,
               struct bosun_err *err)
{
    struct events *ev = calloc(1, sizeof(*ev));
    if (!ev || !(ev->component = strdup(component))) {
        free(ev);
        return err_set(err, -ENOMEM, "events: out of memory");
    }
    ev->client = client;
    pthread_mutex_init(&ev->mu, NULL);
    *out = ev;
    return 0;
}

void events_free(struct events *ev)
{
    if (!ev)
        return;
    for (size_t i = 0; i < EVENTS_CACHE; i++) {
        free(ev->cache[i].key);
        free(ev->cache[i].ns);
        free(ev->cache[i].name);
    }
    pthread_mutex_destroy(&ev->mu);
    free(ev->component);
    free(ev->host);
    free(ev);
}

int events_set_host(struct events *ev, const char *host, struct bosun_err *err)
{
    char *h = strdup(host);
    if (!h)
        return err_set(err, -ENOMEM, "events: out of memory");
    free(ev->host);
    ev->host = h;
    return 0;
}

void events_set_timeout(struct events *ev, long timeout_ms)
{
    ev->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
}

json_t *events_build(const json_t *involved, const char *kind, const char *api_version,
                     const char *field_path, const char *component, const char *host,
                     const char *type, const char *reason, const char *message, time_t now)
{
    const char *ns = jsonx_get_str(involved, "metadata.namespace");
    const char *name = jsonx_get_str(involved, "metadata.name");
    const char *uid = jsonx_get_str(involved, "metadata.uid");
    const char *rv = jsonx_get_str(involved, "metadata.resourceVersion");
    char ts[32], micro[40], ename[320];
    struct timespec tsp;
    clock_gettime(CLOCK_REALTIME, &tsp);
    /* Kubernetes names events <object>.<hex nanoseconds> */
    snprintf(ename, sizeof ename, "%.250s.%llx", name && *name ? name : "unknown",
             (unsigned long long)tsp.tv_sec * 1000000000ULL + (unsigned long long)tsp.tv_nsec);
    time_rfc3339(now, ts, sizeof ts);
    /* eventTime is a MicroTime: clients (kubectl describe) refuse the whole list when
     * one lacks the six fractional digits. */
    snprintf(micro, sizeof micro, "%.*s.000000Z", (int)strcspn(ts, "Z"), ts);
    const char *evns = (ns && *ns) ? ns : "default";
    json_t *inv = json_pack("{s:s, s:s, s:s}", "kind", kind, "apiVersion", api_version, "name",
                            name ? name : "");
    if (!inv)
        return NULL;
    if (ns && *ns)
        json_object_set_new(inv, "namespace", json_string(ns));
    if (uid)
        json_object_set_new(inv, "uid", json_string(uid));
    if (rv)
        json_object_set_new(inv, "resourceVersion", json_string(rv));
    if (field_path && *field_path)
        json_object_set_new(inv, "fieldPath", json_string(field_path));
    json_t *ev =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:{s:s}, "
                  "s:s, s:s}",
                  "apiVersion", "v1", "kind", "Event", "metadata", "name", ename, "namespace", evns,
                  "involvedObject", inv, "reason", reason, "message", message, "type", type,
                  "count", 1, "firstTimestamp", ts, "lastTimestamp", ts, "eventTime", micro,
                  "source", "component", component, "reportingComponent", component,
                  "reportingInstance", host && *host ? host : component);
    if (ev && host && *host)
        json_object_set_new(json_object_get(ev, "source"), "host", json_string(host));
    return ev;
}

/* One request with the recorder's timeout; *status 0 on a transport failure. */
static void send_json(struct events *ev, const char *method, const char *path,
                      const char *content_type, const json_t *body, long *status,
                      struct bosun_err *err)
{
    struct httpc_resp resp = {0};
    char *s = json_dumps(body, JSON_COMPACT);
    *status = 0;
    if (!s) {
        err_set(err, -ENOMEM, "out of memory");
        return;
    }
    if (httpc_request(ev->client, method, path, content_type, s, strlen(s), ev->timeout_ms, &resp,
                      err) == 0)
        *status = resp.status;
    httpc_resp_free(&resp);
    free(s);
}

static int event_path(const char *ns, const char *name, char *buf, size_t len)
{
    int n = snprintf(buf, len, "/api/v1/namespaces/%s/events%s%s", ns, name ? "/" : "",
                     name ? name : "");
    return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

/* Bumps count and lastTimestamp of an event already posted. Called with mu held. */
static void bump_locked(struct events *ev, struct seen *s, time_t now)
{
    char ts[32], path[EVENTS_PATH_MAX];
    long status = 0;
    struct bosun_err err = {0};
    s->count++;
    s->last = now;
    time_rfc3339(now, ts, sizeof ts);
    json_t *patch = json_pack("{s:I, s:s}", "count", (json_int_t)s->count, "lastTimestamp", ts);
    if (!patch || event_path(s->ns, s->name, path, sizeof path) < 0)
        goto out;
    send_json(ev, "PATCH", path, "application/merge-patch+json", patch, &status, &err);
    if (status < 200 || status >= 300)
        log_debug("events: patch %s: %ld %s", path, status, err.msg);
out:
    json_decref(patch);
}

/* Posts a new event and remembers it under key (taken). Called with mu held. */
static void post_locked(struct events *ev, const json_t *involved, const char *kind,
                        const char *api_version, const char *field_path, const char *type,
                        const char *reason, const char *message, char *key, time_t now)
{
    char path[EVENTS_PATH_MAX];
    long status = 0;
    struct bosun_err err = {0};
    json_t *obj = events_build(involved, kind, api_version, field_path, ev->component, ev->host,
                               type, reason, message, now);
    const char *ns = obj ? jsonx_get_str(obj, "metadata.namespace") : NULL;
    if (!obj || event_path(ns, NULL, path, sizeof path) < 0)
        goto out;
    send_json(ev, "POST", path, "application/json", obj, &status, &err);
    if (status < 200 || status >= 300) {
        log_debug("events: post %s: %ld %s", path, status, err.msg);
        goto out;
    }
    struct seen *s = &ev->cache[ev->next];
    ev->next = (ev->next + 1) % EVENTS_CACHE;
    free(s->key);
    free(s->ns);
    free(s->name);
    s->key = key;
    key = NULL;
    s->ns = strdup(ns);
    s->name = strdup(jsonx_get_str(obj, "metadata.name"));
    s->count = 1;
    s->last = now;
    if (!s->ns || !s->name) { /* cannot aggregate into it: forget it */
        free(s->key);
        s->key = NULL;
    }
out:
    json_decref(obj);
    free(key);
}

void events_record_field(struct events *ev, const json_t *involved, const char *kind,
                         const char *api_version, const char *field_path, const char *type,
                         const char *reason, const char *message)
{
    if (!ev)
        return;
    const char *uid = jsonx_get_str(involved, "metadata.uid");
    char *key = NULL;
    if (asprintf(&key, "%s\x1f%s\x1f%s\x1f%s", uid ? uid : "", field_path ? field_path : "", reason,
                 message) < 0)
        return;
    time_t now = time(NULL);
    pthread_mutex_lock(&ev->mu);
    for (size_t i = 0; i < EVENTS_CACHE; i++) {
        struct seen *s = &ev->cache[i];
        if (s->key && strcmp(s->key, key) == 0 && now - s->last < EVENTS_REPEAT_WINDOW_S) {
            bump_locked(ev, s, now);
            free(key);
            pthread_mutex_unlock(&ev->mu);
            return;
        }
    }
    post_locked(ev, involved, kind, api_version, field_path, type, reason, message, key, now);
    pthread_mutex_unlock(&ev->mu);
}

void events_record(struct events *ev, const json_t *involved, const char *kind,
                   const char *api_version, const char *type, const char *reason,
                   const char *message)
{
    events_record_field(ev, involved, kind, api_version, NULL, type, reason, message);
}

void events_recordf(struct events *ev, const json_t *involved, const char *kind,
                    const char *api_version, const char *type, const char *reason, const char *fmt,
                    ...)
{
    if (!ev)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    events_record(ev, involved, kind, api_version, type, reason, msg);
}
