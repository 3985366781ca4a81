/* informer — list + watch into a cache keyed "namespace/name", one thread per informer.
 *
 * The thread: list (diffing against the cache after the first time), then watch from the
 * list's resourceVersion until the stream ends. A watch that ends cleanly is resumed
 * from the last seen resourceVersion (the server answers 410 if that is too old, which
 * leads to a relist at once); transport errors and other failures relist after back-off.
 * The resync timer runs from the stream's tick, so it fires on an idle watch too and on
 * the informer's own thread, like every other handler call. */
#include "lib/informer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/backoff.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"

#define INFORMER_BACKOFF_INITIAL_MS 500
#define INFORMER_BACKOFF_MAX_MS 30000
/* A watch that ends sooner than this without events is treated like a failure, so that
 * a server that closes watches at once is not hammered. */
#define INFORMER_MIN_WATCH_MS 1000

struct informer {
    struct httpc *client;
    char *path;
    char *label_selector; /* escaped, or NULL */
    char *field_selector; /* escaped, or NULL */
    int64_t resync_ms;
    struct informer_handlers h;

    pthread_t thread;
    volatile int stop; /* written with __atomic_store_n; read by httpc_stream */

    pthread_mutex_t mu; /* cache, synced; cond signals synced and stop */
    pthread_cond_t cond;
    json_t *cache; /* "ns/name" -> object */
    bool synced;

    /* informer thread only */
    char *rv;
    int64_t next_resync;
    enum { W_OK, W_EXPIRED, W_FAILED } watch_result;
    unsigned watch_events;
};

static bool stopping(const struct informer *inf)
{
    return __atomic_load_n(&inf->stop, __ATOMIC_ACQUIRE) != 0;
}

/* Sleeps up to ms, waking early on informer_stop. */
static void nap(struct informer *inf, int64_t ms)
{
    int64_t deadline = time_mono_ms() + ms;
    pthread_mutex_lock(&inf->mu);
    while (!stopping(inf)) {
        int64_t left = deadline - time_mono_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&inf->cond, &inf->mu, &ts);
    }
    pthread_mutex_unlock(&inf->mu);
}

/* "namespace/name" of obj into buf; -EINVAL when it has no name. */
static int obj_key(const json_t *obj, char *buf, size_t len)
{
    const char *name = jsonx_get_str(obj, "metadata.name");
    const char *ns = jsonx_get_str(obj, "metadata.namespace");
    if (!name)
        return -EINVAL;
    if ((size_t)snprintf(buf, len, "%s/%s", ns ? ns : "", name) >= len)
        return -EINVAL;
    return 0;
}

static void set_rv(struct informer *inf, const char *rv)
{
    if (!rv || !*rv)
        return;
    char *n = strdup(rv);
    if (!n)
        return; /* keeps the older rv: at worst a few events are replayed */
    free(inf->rv);
    inf->rv = n;
}

/* Appends "&name=value" (value already escaped) when value is set. */
static int build_url(const struct informer *inf, bool watch, char **out)
{
    char *url = NULL;
    const char *sep = strchr(inf->path, '?') ? "&" : "?";
    int n;
    if (watch)
        n = asprintf(&url, "%s%swatch=true&resourceVersion=%s&allowWatchBookmarks=true%s%s%s%s",
                     inf->path, sep, inf->rv ? inf->rv : "0",
                     inf->label_selector ? "&labelSelector=" : "",
                     inf->label_selector ? inf->label_selector : "",
                     inf->field_selector ? "&fieldSelector=" : "",
                     inf->field_selector ? inf->field_selector : "");
    else
        n = asprintf(&url, "%s%s%s%s%s%s", inf->path,
                     (inf->label_selector || inf->field_selector) ? sep : "",
                     inf->label_selector ? "labelSelector=" : "",
                     inf->label_selector ? inf->label_selector : "",
                     inf->field_selector ? (inf->label_selector ? "&fieldSelector="
                                                                : "fieldSelector=")
                                         : "",
                     inf->field_selector ? inf->field_selector : "");
    if (n < 0)
        return -ENOMEM;
    *out = url;
    return 0;
}

/* The cached objects themselves (shared, for handlers that only read them). */
static json_t *cache_snapshot(struct informer *inf)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    pthread_mutex_lock(&inf->mu);
    const char *key;
    json_t *v;
    json_object_foreach(inf->cache, key, v)
    {
        json_array_append(arr, v);
    }
    pthread_mutex_unlock(&inf->mu);
    return arr;
}

static void resync_if_due(struct informer *inf)
{
    if (inf->resync_ms <= 0 || !inf->h.on_update || time_mono_ms() < inf->next_resync)
        return;
    inf->next_resync = time_mono_ms() + inf->resync_ms;
    json_t *snap = cache_snapshot(inf);
    size_t i;
    json_t *o;
    json_array_foreach(snap, i, o)
    {
        if (stopping(inf))
            break;
        inf->h.on_update(o, o, inf->h.userdata);
    }
    json_decref(snap);
}

/* ---- list ---------------------------------------------------------------------------- */

static int do_list(struct informer *inf, struct bosun_err *err)
{
    char *url = NULL;
    json_t *body = NULL;
    json_t *fresh = NULL;
    json_t *old = NULL;
    long status = 0;
    int r = build_url(inf, false, &url);
    if (r != 0)
        return err_set(err, r, "informer: out of memory");
    r = httpc_json(inf->client, "GET", url, NULL, NULL, &status, &body, err);
    if (r != 0)
        goto out;
    if (status != 200) {
        const char *msg = jsonx_get_str(body, "message");
        r = err_set(err, -EIO, "informer: list %s: HTTP %ld%s%s", url, status, msg ? ": " : "",
                    msg ? msg : "");
        goto out;
    }
    json_t *items = json_object_get(body, "items");
    if (!json_is_array(items) && !json_is_null(items) && items) {
        r = err_set(err, -EINVAL, "informer: list %s: items is not an array", url);
        goto out;
    }
    fresh = json_object();
    if (!fresh) {
        r = err_set(err, -ENOMEM, "informer: out of memory");
        goto out;
    }
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        char key[512];
        if (obj_key(it, key, sizeof(key)) != 0)
            continue; /* nameless items cannot be cached */
        json_object_set(fresh, key, it);
    }
    set_rv(inf, jsonx_get_str(body, "metadata.resourceVersion"));

    pthread_mutex_lock(&inf->mu);
    old = inf->cache;
    inf->cache = json_incref(fresh);
    bool first = !inf->synced;
    inf->synced = true;
    pthread_cond_broadcast(&inf->cond);
    pthread_mutex_unlock(&inf->mu);

    /* Handlers see the differences, after the cache holds the new state. */
    const char *key;
    json_t *nv;
    json_object_foreach(fresh, key, nv)
    {
        json_t *ov = first ? NULL : json_object_get(old, key);
        if (!ov) {
            if (inf->h.on_add)
                inf->h.on_add(nv, inf->h.userdata);
        } else if (!json_equal(ov, nv)) {
            if (inf->h.on_update)
                inf->h.on_update(ov, nv, inf->h.userdata);
        }
    }
    json_t *ov;
    json_object_foreach(old, key, ov)
    {
        if (!json_object_get(fresh, key) && inf->h.on_delete)
            inf->h.on_delete(ov, inf->h.userdata);
    }
out:
    json_decref(old);
    json_decref(fresh);
    json_decref(body);
    free(url);
    return r;
}

/* ---- watch --------------------------------------------------------------------------- */

static int on_event(const char *line, size_t len, void *userdata)
{
    struct informer *inf = userdata;
    if (len == 0)
        return 0;
    json_t *ev = json_loadb(line, len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    int stop = 0;
    char key[512];
    if (!type || !json_is_object(obj)) {
        log_debug("informer: %s: malformed watch event, relisting", inf->path);
        inf->watch_result = W_FAILED;
        stop = 1;
        goto out;
    }
    inf->watch_events++;
    if (strcmp(type, "ERROR") == 0) {
        long long code = jsonx_get_int(obj, "code", 0);
        log_debug("informer: %s: watch error %lld: %s", inf->path, code,
                  jsonx_get_str(obj, "message") ? jsonx_get_str(obj, "message") : "");
        inf->watch_result = code == 410 ? W_EXPIRED : W_FAILED;
        stop = 1;
        goto out;
    }
    set_rv(inf, jsonx_get_str(obj, "metadata.resourceVersion"));
    if (strcmp(type, "BOOKMARK") == 0)
        goto out;
    if (obj_key(obj, key, sizeof(key)) != 0)
        goto out;
    bool del = strcmp(type, "DELETED") == 0;
    if (!del && strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0)
        goto out; /* an event type from the future: ignore it */
    pthread_mutex_lock(&inf->mu);
    json_t *old = json_incref(json_object_get(inf->cache, key));
    if (del)
        json_object_del(inf->cache, key);
    else
        json_object_set(inf->cache, key, obj);
    pthread_mutex_unlock(&inf->mu);
    if (del) {
        if (old && inf->h.on_delete)
            inf->h.on_delete(obj, inf->h.userdata);
    } else if (old) {
        if (inf->h.on_update)
            inf->h.on_update(old, obj, inf->h.userdata);
    } else if (inf->h.on_add) {
        inf->h.on_add(obj, inf->h.userdata);
    }
    json_decref(old);
out:
    json_decref(ev);
    return stop;
}

static int on_tick(void *userdata)
{
    resync_if_due(userdata);
    return 0;
}

static int do_watch(struct informer *inf, struct bosun_err *err)
{
    char *url = NULL;
    if (build_url(inf, true, &url) != 0)
        return err_set(err, -ENOMEM, "informer: out of memory");
    inf->watch_result = W_OK;
    inf->watch_events = 0;
    int r = httpc_stream_tick(inf->client, url, on_event, on_tick, inf, &inf->stop, err);
    free(url);
    return r;
}

static void *informer_main(void *arg)
{
    struct informer *inf = arg;
    struct backoff bo;
    backoff_init(&bo, INFORMER_BACKOFF_INITIAL_MS, INFORMER_BACKOFF_MAX_MS);
    bool need_list = true;
    while (!stopping(inf)) {
        struct bosun_err err = {0};
        if (need_list) {
            if (do_list(inf, &err) != 0) {
                if (stopping(inf))
                    break;
                log_debug("informer: %s (retrying)", err.msg);
                nap(inf, backoff_next(&bo));
                continue;
            }
            need_list = false;
        }
        resync_if_due(inf);
        int64_t t0 = time_mono_ms();
        int r = do_watch(inf, &err);
        if (stopping(inf))
            break;
        if (r != 0 || inf->watch_result == W_FAILED) {
            if (r != 0)
                log_debug("informer: watch %s: %s (relisting)", inf->path, err.msg);
            need_list = true;
            nap(inf, backoff_next(&bo));
        } else if (inf->watch_result == W_EXPIRED) {
            need_list = true; /* our resourceVersion is gone from history: relist now */
        } else if (inf->watch_events == 0 && time_mono_ms() - t0 < INFORMER_MIN_WATCH_MS) {
            nap(inf, backoff_next(&bo));
        } else {
            backoff_reset(&bo);
        }
    }
    return NULL;
}

/* ---- public API ---------------------------------------------------------------------- */

static void informer_free(struct informer *inf)
{
    if (!inf)
        return;
    json_decref(inf->cache);
    pthread_mutex_destroy(&inf->mu);
    pthread_cond_destroy(&inf->cond);
    free(inf->path);
    free(inf->label_selector);
    free(inf->field_selector);
    free(inf->rv);
    free(inf);
}

int informer_start(const struct informer_opts *opts, struct informer **out,
                   struct bosun_err *err)
{
    if (!opts->client || !opts->path || opts->path[0] != '/')
        return err_set(err, -EINVAL, "informer: a client and a path beginning with '/' are "
                                     "required");
    struct informer *inf = calloc(1, sizeof(*inf));
    if (!inf)
        return err_set(err, -ENOMEM, "informer: out of memory");
    pthread_mutex_init(&inf->mu, NULL);
    time_cond_init_mono(&inf->cond);
    inf->client = opts->client;
    inf->h = opts->handlers;
    inf->resync_ms = opts->resync_ms;
    inf->next_resync = time_mono_ms() + opts->resync_ms;
    inf->path = strdup(opts->path);
    inf->cache = json_object();
    if (opts->label_selector && *opts->label_selector)
        inf->label_selector = httpc_escape(opts->label_selector);
    if (opts->field_selector && *opts->field_selector)
        inf->field_selector = httpc_escape(opts->field_selector);
    if (!inf->path || !inf->cache || (opts->label_selector && *opts->label_selector &&
                                      !inf->label_selector) ||
        (opts->field_selector && *opts->field_selector && !inf->field_selector)) {
        informer_free(inf);
        return err_set(err, -ENOMEM, "informer: out of memory");
    }
    int r = pthread_create(&inf->thread, NULL, informer_main, inf);
    if (r != 0) {
        informer_free(inf);
        return err_errno(err, -r, "informer: %s: starting the thread", opts->path);
    }
    *out = inf;
    return 0;
}

void informer_stop(struct informer *inf)
{
    if (!inf)
        return;
    pthread_mutex_lock(&inf->mu);
    __atomic_store_n(&inf->stop, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&inf->cond);
    pthread_mutex_unlock(&inf->mu);
    pthread_join(inf->thread, NULL);
    informer_free(inf);
}

bool informer_synced(struct informer *inf)
{
    pthread_mutex_lock(&inf->mu);
    bool s = inf->synced;
    pthread_mutex_unlock(&inf->mu);
    return s;
}

int informer_wait_synced(struct informer *inf, int64_t timeout_ms)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    pthread_mutex_lock(&inf->mu);
    while (!inf->synced) {
        int64_t left = deadline - time_mono_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&inf->cond, &inf->mu, &ts);
    }
    bool s = inf->synced;
    pthread_mutex_unlock(&inf->mu);
    return s ? 0 : -ETIMEDOUT;
}

json_t *informer_get(struct informer *inf, const char *ns, const char *name)
{
    char key[512];
    if ((size_t)snprintf(key, sizeof(key), "%s/%s", ns ? ns : "", name) >= sizeof(key))
        return NULL;
    pthread_mutex_lock(&inf->mu);
    /* A copy: callers edit what they get (to send an update), and the cache and the
     * handlers share the original. */
    json_t *o = json_deep_copy(json_object_get(inf->cache, key));
    pthread_mutex_unlock(&inf->mu);
    return o;
}

json_t *informer_list(struct informer *inf)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    pthread_mutex_lock(&inf->mu);
    const char *key;
    json_t *v;
    json_object_foreach(inf->cache, key, v)
    {
        json_array_append_new(arr, json_deep_copy(v));
    }
    pthread_mutex_unlock(&inf->mu);
    return arr;
}
