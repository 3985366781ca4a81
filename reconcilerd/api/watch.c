#include "reconcilerd/api/watch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "reconcilerd/api/status.h"

struct watcher {
    pthread_mutex_t mu;
    int refs;     /* the serving handler + the stream */
    bool closed;  /* on_closed ran: the stream must not be touched */
    bool ending;  /* we asked the stream to close */
    struct httpd_stream *s;
    struct store_watch *sw;
    struct api_watches *reg;
    struct watcher *next, *prev;
    bool registered;
    const struct schema_kind *kind;
    struct label_selector *ls;
    struct field_selector *fs;
    bool table;
    enum api_table_include inc;
    bool sent_columns;
    bool bookmarks;
    int64_t bookmark_every_ms;
    int64_t deadline_ms;
    int64_t last_bookmark_ms;
    uint64_t last_rev;
    bool raw;                  /* store_watch_raw: no selectors, no Table, nothing parsed */
    struct api_limits *limits; /* with limit_user: the watch slot to give back */
    char *limit_user;
};

struct api_watches {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    pthread_t thread;
    struct watcher *head;
    size_t n;
};

static void watcher_release(struct watcher *w)
{
    pthread_mutex_lock(&w->mu);
    int left = --w->refs;
    pthread_mutex_unlock(&w->mu);
    if (left)
        return;
    label_selector_free(w->ls);
    field_selector_free(w->fs);
    if (w->limit_user)
        api_limits_watch_done(w->limits, w->limit_user);
    free(w->limit_user);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* Serialises and queues one event; w->mu held. Returns the write's result. */
static int send_event_locked(struct watcher *w, const char *type, const json_t *obj)
{
    if (w->closed || w->ending)
        return -EPIPE;
    json_t *ev;
    if (w->table && strcmp(type, "ERROR") && strcmp(type, "BOOKMARK")) {
        json_t *t = api_table_new(w->kind, jsonx_get_str(obj, "metadata.resourceVersion"),
                                  !w->sent_columns);
        api_table_add_row(t, w->kind, obj, w->inc, time(NULL));
        w->sent_columns = true;
        ev = json_pack("{s:s,s:o}", "type", type, "object", t);
    } else {
        ev = json_pack("{s:s,s:O}", "type", type, "object", obj);
    }
    char *s = ev ? jsonx_dumps(ev) : NULL;
    json_decref(ev);
    if (!s)
        return -ENOMEM;
    size_t len = strlen(s);
    char *line = realloc(s, len + 2);
    if (!line) {
        free(s);
        return -ENOMEM;
    }
    line[len] = '\n';
    line[len + 1] = '\0';
    int rc = httpd_stream_write(w->s, line, len + 1);
    free(line);
    if (rc) {
        /* Too slow (-ENOBUFS) or gone (-EPIPE): end the stream; on_closed cancels the store
         * watch synchronously (cancelling here, on the fan-out thread, would race with the
         * free in on_closed). Later events are dropped by the `ending` check. */
        w->ending = true;
        httpd_stream_close(w->s);
    }
    return rc;
}

static bool matches(const struct watcher *w, const json_t *obj)
{
    if (!obj)
        return false;
    if (w->ls && !label_selector_matches(w->ls, jsonx_get(obj, "metadata.labels")))
        return false;
    if (w->fs && !field_selector_matches(w->fs, obj))
        return false;
    return true;
}

/* One ERROR event carrying a Status, then the end of the stream; w->mu held. */
static void end_with_error_locked(struct watcher *w, int code, const char *reason,
                                  const char *msg)
{
    json_t *st = api_status_new(code, reason, msg);
    send_event_locked(w, "ERROR", st);
    json_decref(st);
    if (!w->ending) {
        w->ending = true;
        httpd_stream_close(w->s);
    }
}

static void on_event(const struct store_event *ev, void *ud)
{
    struct watcher *w = ud;
    pthread_mutex_lock(&w->mu);
    if (w->closed || w->ending)
        goto out;
    const char *type = NULL;
    if (ev->type == STORE_EXPIRED) {
        /* the store cannot go on from w->last_rev: what a watch from there gets at its start */
        char msg[128];
        snprintf(msg, sizeof(msg), "too old resource version: %" PRIu64 " (%" PRIu64 ")",
                 w->last_rev, ev->rev);
        end_with_error_locked(w, 410, "Expired", msg);
        goto out;
    }
    if (w->raw) {
        type = ev->type == STORE_ADDED ? "ADDED" : ev->type == STORE_MODIFIED ? "MODIFIED"
                                                                               : "DELETED";
        w->last_rev = ev->rev;
        goto send;
    }
    bool now = matches(w, ev->value);
    switch (ev->type) {
    case STORE_ADDED:
        type = now ? "ADDED" : NULL;
        break;
    case STORE_MODIFIED: {
        bool before = matches(w, ev->prev);
        type = now && before ? "MODIFIED" : now ? "ADDED" : before ? "DELETED" : NULL;
        break;
    }
    case STORE_DELETED:
        type = now || matches(w, ev->prev) ? "DELETED" : NULL;
        break;
    case STORE_EXPIRED: /* answered above */
        break;
    }
    w->last_rev = ev->rev;
send:
    if (type && !w->table && ev->value_json && !w->closed && !w->ending) {
        /* The store hands over the object's JSON bytes: frame them without serialising
         * the object again for every watcher (this is what keeps fan-out cheap). */
        size_t tl = strlen(type), n = 32 + tl + ev->value_len;
        char *line = malloc(n);
        if (line) {
            int off = snprintf(line, n, "{\"type\":\"%s\",\"object\":", type);
            memcpy(line + off, ev->value_json, ev->value_len);
            off += (int)ev->value_len;
            line[off++] = '}';
            line[off++] = '\n';
            if (httpd_stream_write(w->s, line, (size_t)off)) {
                w->ending = true;
                httpd_stream_close(w->s);
            }
            free(line);
            goto out;
        }
    }
    if (type)
        send_event_locked(w, type, ev->value);
out:
    pthread_mutex_unlock(&w->mu);
}

static void on_closed(struct httpd_stream *s, void *ud)
{
    (void)s;
    struct watcher *w = ud;
    struct api_watches *reg = w->reg;
    pthread_mutex_lock(&reg->mu);
    if (w->registered) {
        if (w->prev)
            w->prev->next = w->next;
        else
            reg->head = w->next;
        if (w->next)
            w->next->prev = w->prev;
        w->registered = false;
        reg->n--;
    }
    pthread_mutex_unlock(&reg->mu);
    pthread_mutex_lock(&w->mu);
    w->closed = true;
    struct store_watch *sw = w->sw;
    w->sw = NULL;
    pthread_mutex_unlock(&w->mu);
    if (sw)
        store_watch_cancel(sw);
    watcher_release(w);
}

/* A BOOKMARK carrying the last delivered revision; w->mu held. initial_end: the one that
 * ends the initial events of sendInitialEvents=true (annotated as Kubernetes does). */
static void send_bookmark_locked(struct watcher *w, bool initial_end)
{
    char rv[32];
    char av[128];
    snprintf(rv, sizeof(rv), "%" PRIu64, w->last_rev);
    json_t *bm = json_pack("{s:s,s:s,s:{s:s}}", "kind", w->kind->kind, "apiVersion",
                           schema_kind_api_version(w->kind, av, sizeof(av)), "metadata",
                           "resourceVersion", rv);
    if (bm && initial_end)
        json_object_set_new(json_object_get(bm, "metadata"), "annotations",
                            json_pack("{s:s}", "k8s.io/initial-events-end", "true"));
    if (bm)
        send_event_locked(w, "BOOKMARK", bm);
    json_decref(bm);
}

static void *timer_main(void *arg)
{
    struct api_watches *reg = arg;
    pthread_mutex_lock(&reg->mu);
    while (!reg->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&reg->cond, &reg->mu, &ts);
        int64_t now = time_mono_ms();
        for (struct watcher *w = reg->head; w; w = w->next) {
            pthread_mutex_lock(&w->mu);
            if (!w->closed && !w->ending) {
                if (now >= w->deadline_ms) {
                    w->ending = true;
                    httpd_stream_close(w->s);
                } else if (w->bookmarks && w->last_rev &&
                           now - w->last_bookmark_ms >= w->bookmark_every_ms) {
                    send_bookmark_locked(w, false);
                    w->last_bookmark_ms = now;
                }
            }
            pthread_mutex_unlock(&w->mu);
        }
    }
    pthread_mutex_unlock(&reg->mu);
    return NULL;
}

int api_watches_new(struct api_watches **out, struct bosun_err *err)
{
    struct api_watches *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return err_set(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&reg->mu, NULL);
    pthread_cond_init(&reg->cond, NULL);
    int rc = pthread_create(&reg->thread, NULL, timer_main, reg);
    if (rc) {
        pthread_cond_destroy(&reg->cond);
        pthread_mutex_destroy(&reg->mu);
        free(reg);
        return err_errno(err, -rc, "watch timer thread");
    }
    *out = reg;
    return 0;
}

void api_watches_free(struct api_watches *reg)
{
    if (!reg)
        return;
    pthread_mutex_lock(&reg->mu);
    reg->stop = true;
    pthread_cond_signal(&reg->cond);
    pthread_mutex_unlock(&reg->mu);
    pthread_join(reg->thread, NULL);
    pthread_cond_destroy(&reg->cond);
    pthread_mutex_destroy(&reg->mu);
    free(reg);
}

size_t api_watches_count(struct api_watches *reg)
{
    pthread_mutex_lock(&reg->mu);
    size_t n = reg->n;
    pthread_mutex_unlock(&reg->mu);
    return n;
}

struct initial {
    struct watcher *w;
    int rc;
};

static int initial_fn(const char *key, const json_t *value, uint64_t mod_rev, void *ud)
{
    (void)key;
    (void)mod_rev;
    struct initial *in = ud;
    if (!matches(in->w, value))
        return 0;
    in->rc = send_event_locked(in->w, "ADDED", value);
    return in->rc != 0;
}

static bool parse_bool(const char *s)
{
    return s && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "1"));
}

static void send_error_and_end(struct watcher *w, int code, const char *reason, const char *msg)
{
    pthread_mutex_lock(&w->mu);
    end_with_error_locked(w, code, reason, msg);
    pthread_mutex_unlock(&w->mu);
}

void api_watch_serve(struct api_req *r, struct label_selector *ls, struct field_selector *fs,
                     bool table, enum api_table_include inc)
{
    struct api *api = r->api;
    const char *rv_s = httpd_query(r->req, "resourceVersion");
    const char *to_s = httpd_query(r->req, "timeoutSeconds");
    uint64_t from = 0;
    bool from_list = true;
    /* sendInitialEvents=true (client-go's WatchList): the current objects whatever
     * resourceVersion says (NotOlderThan it), then, with bookmarks, a BOOKMARK ending them */
    bool initial_events = parse_bool(httpd_query(r->req, "sendInitialEvents"));
    if (rv_s && *rv_s && strcmp(rv_s, "0") && !initial_events) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(rv_s, &end, 10);
        if (errno || *end || rv_s[0] == '-') {
            api_respond_status(r->req, 400, "BadRequest", "invalid resourceVersion \"%s\"", rv_s);
            goto fail;
        }
        from = v;
        from_list = false;
    }
    int64_t timeout_s = 0;
    if (to_s && *to_s) {
        char *end;
        long long v = strtoll(to_s, &end, 10);
        if (*end || v < 0) {
            api_respond_status(r->req, 400, "BadRequest", "invalid timeoutSeconds \"%s\"", to_s);
            goto fail;
        }
        timeout_s = v;
    }
    if (timeout_s == 0) {
        unsigned int rnd = 0;
        if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
            rnd = (unsigned int)time(NULL);
        timeout_s = api->watch_default_timeout_s + (int64_t)(rnd % (unsigned)(api->watch_default_timeout_s + 1));
    }

    const char *luser = r->user && r->user != api->internal ? r->user->name : NULL;
    if (luser && api_limits_watch_open(api->limits, luser)) {
        httpd_add_header(r->req, "Retry-After", "10");
        json_t *st = api_status_new(429, "TooManyRequests", NULL);
        char msg[600];
        snprintf(msg, sizeof(msg),
                 "too many open watches for user \"%s\" (limit %ld); close some and retry",
                 luser, api_limits_max_watches(api->limits));
        json_object_set_new(st, "message", json_string(msg));
        json_object_set_new(st, "details", json_pack("{s:i}", "retryAfterSeconds", 10));
        api_respond_status_obj(r->req, st);
        goto fail;
    }
    struct watcher *w = calloc(1, sizeof(*w));
    char *lu = luser ? strdup(luser) : NULL;
    if (!w || (luser && !lu)) {
        if (luser)
            api_limits_watch_done(api->limits, luser);
        free(w);
        free(lu);
        api_respond_status(r->req, 500, "InternalError", "out of memory");
        goto fail;
    }
    w->limits = api->limits;
    w->limit_user = lu;
    pthread_mutex_init(&w->mu, NULL);
    w->refs = 2;
    w->reg = api->watches;
    w->kind = r->kind;
    w->ls = ls;
    w->fs = fs;
    ls = NULL;
    fs = NULL;
    w->table = table;
    w->inc = inc;
    w->bookmarks = parse_bool(httpd_query(r->req, "allowWatchBookmarks"));
    w->bookmark_every_ms = api->bookmark_interval_ms;
    w->deadline_ms = time_mono_ms() + timeout_s * 1000;
    w->last_bookmark_ms = time_mono_ms();

    w->s = httpd_stream_start(r->req, 200, "application/json", on_closed, w);
    if (!w->s) {
        w->refs = 1;
        watcher_release(w);
        return;
    }
    /* on_closed cannot run before this handler returns (httpd guarantees it), but the
     * store's fan-out thread can call on_event as soon as store_watch returns. */
    struct bosun_err err = {0};
    if (from_list) {
        struct initial in = {w, 0};
        pthread_mutex_lock(&w->mu);
        int rc = store_list(api->store, r->prefix, initial_fn, &in, &from, &err);
        w->last_rev = from;
        if (!rc && !in.rc && initial_events && w->bookmarks)
            send_bookmark_locked(w, true);
        pthread_mutex_unlock(&w->mu);
        if (rc) {
            send_error_and_end(w, 500, "InternalError", err.msg);
            goto done;
        }
        if (in.rc)
            goto done; /* the stream already ended */
    }
    struct store_watch *sw = NULL;
    /* Without selectors or a Table nothing needs the parsed objects. */
    w->raw = !w->ls && !w->fs && !w->table;
    int rc = w->raw ? store_watch_raw(api->store, r->prefix, from, on_event, w, &sw, &err)
                    : store_watch(api->store, r->prefix, from, on_event, w, &sw, &err);
    if (rc == -ERANGE) {
        send_error_and_end(w, 410, "Expired", err.msg);
        goto done;
    } else if (rc) {
        send_error_and_end(w, 500, "InternalError", err.msg);
        goto done;
    }
    pthread_mutex_lock(&w->mu);
    w->sw = sw;
    if (!from_list && !w->last_rev)
        w->last_rev = from;
    pthread_mutex_unlock(&w->mu);
    struct api_watches *reg = api->watches;
    pthread_mutex_lock(&reg->mu);
    w->registered = true;
    w->next = reg->head;
    if (reg->head)
        reg->head->prev = w;
    reg->head = w;
    reg->n++;
    pthread_mutex_unlock(&reg->mu);
done:
    watcher_release(w);
    return;
fail:
    label_selector_free(ls);
    field_selector_free(fs);
}
