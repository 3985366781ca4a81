#include "gitsync/sync.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gitsync/apply.h"
#include "gitsync/collect.h"
#include "gitsync/fetch.h"
#include "gitsync/status.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"

int gitsync_init(struct gitsync *g, const struct gitsync_opts *opts, struct httpc *client,
                 struct bosun_err *err)
{
    memset(g, 0, sizeof(*g));
    g->opts = *opts;
    g->client = client;
    if (!g->opts.path || !*g->opts.path)
        g->opts.path = ".";
    int r = gitsync_fetch_normalize_url(opts->repo, g->repo_url, sizeof(g->repo_url));
    if (r < 0)
        return err_errno(err, r, "--repo %s", opts->repo);
    pthread_mutex_init(&g->mu, NULL);
    time_cond_init_mono(&g->cond);
    return 0;
}

void gitsync_destroy(struct gitsync *g)
{
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cond);
}

int gitsync_publish_spec(struct gitsync *g, const char *resolved_branch, struct bosun_err *err)
{
    char iv[64];
    const char *branch = g->opts.branch && *g->opts.branch ? g->opts.branch : resolved_branch;
    int r = gitsync_ensure_namespace(g->client, GITSYNC_SYSTEM_NS, err);
    if (r < 0)
        return err_wrap(err, "namespace %s", GITSYNC_SYSTEM_NS);
    json_t *spec = json_pack("{s:s, s:s, s:s, s:b}", "url", g->repo_url, "path", g->opts.path,
                             "interval",
                             gitsync_format_duration(g->opts.interval_ms, iv, sizeof(iv)),
                             "prune", g->opts.prune);
    if (!spec)
        return err_errno(err, -ENOMEM, "spec");
    if (branch)
        json_object_set_new(spec, "branch", json_string(branch));
    r = gitsync_status_ensure(g->client, g->opts.name, spec, NULL, err);
    json_decref(spec);
    return r;
}

static json_t *issue_json(const struct gitsync_issue *is)
{
    return json_pack("{s:s, s:i, s:i, s:s, s:s}", "file", is->file ? is->file : "", "line",
                     is->line, "column", is->col, "field", is->field ? is->field : "", "message",
                     is->message ? is->message : "");
}

static json_t *errors_json(const struct gitsync_manifests *m)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < m->nissues; i++) {
        if (m->issues[i].error)
            json_array_append_new(a, issue_json(&m->issues[i]));
    }
    return a;
}

static json_t *message_error(const char *msg)
{
    return json_pack("[{s:s, s:i, s:i, s:s, s:s}]", "file", "", "line", 0, "column", 0, "field",
                     "", "message", msg);
}

/* Writes the status fields (stolen) and logs a failure to do so. */
static void put_status(struct gitsync *g, json_t *fields)
{
    struct bosun_err e = {0};
    int wrote = 0;
    if (!fields)
        return;
    if (gitsync_status_update(g->client, g->opts.name, fields, &wrote, &e) < 0)
        log_error("status: %s", e.msg);
    else if (!wrote)
        g->stats.writes_skipped++;
    json_decref(fields);
}

/* Base status fields every attempt writes. */
static json_t *attempt_fields(const char *requested_at, const char *cond_status,
                              const char *reason, const char *message)
{
    json_t *f = json_object();
    json_object_set_new(f, "conditions", json_pack("[o]", gitsync_ready_condition(cond_status,
                                                                                  reason, message)));
    if (requested_at)
        json_object_set_new(f, "lastHandledReconcileAt", json_string(requested_at));
    return f;
}

/* Union of a and b by identity (a's order, then b's new entries). New reference. */
static json_t *inventory_union(const json_t *a, const json_t *b)
{
    json_t *u = json_is_array(a) ? json_deep_copy(a) : json_array();
    size_t i, j;
    json_t *e;
    json_array_foreach(b, i, e)
    {
        int found = 0;
        for (j = 0; !found && j < json_array_size(u); j++)
            found = gitsync_inventory_same(json_array_get(u, j), e);
        if (!found)
            json_array_append(u, e);
    }
    return u;
}

int gitsync_sync_once(struct gitsync *g, struct bosun_err *err)
{
    struct gitsync_fetch_result fr = {0};
    struct gitsync_manifests m = {0};
    json_t *repo = NULL, *old_inv = NULL, *new_inv = NULL, *errors = NULL;
    char rev[512], msg[2048], source[4200];
    char *requested = NULL;
    int r;

    g->stats.syncs++;
    r = gitsync_status_get(g->client, g->opts.name, &repo, err);
    if (r == 0 && (!repo || !g->spec_published)) {
        /* At start (and whenever the object was deleted) the spec comes from the flags. */
        json_decref(repo);
        repo = NULL;
        r = gitsync_publish_spec(g, NULL, err);
        if (r == 0) {
            g->spec_published = 1;
            r = gitsync_status_get(g->client, g->opts.name, &repo, err);
        }
        if (r == 0 && !repo)
            r = err_set(err, -ENOENT, "GitRepository vanished");
    }
    if (r < 0) {
        err_wrap(err, "read GitRepository %s/%s", GITSYNC_SYSTEM_NS, g->opts.name);
        goto out;
    }
    /* Not jsonx_get: the annotation's name has dots in it. */
    const char *req = json_string_value(
        json_object_get(jsonx_get(repo, "metadata.annotations"), GITSYNC_REQUESTED_AT_ANNOTATION));
    if (req) {
        requested = strdup(req);
        pthread_mutex_lock(&g->mu);
        snprintf(g->seen_request, sizeof(g->seen_request), "%s", req);
        pthread_mutex_unlock(&g->mu);
    }
    if (json_is_true(jsonx_get(repo, "spec.suspend"))) {
        log_info("sync: GitRepository %s/%s is suspended; not syncing", GITSYNC_SYSTEM_NS,
                 g->opts.name);
        if (requested) {
            json_t *f = json_pack("{s:s}", "lastHandledReconcileAt", requested);
            put_status(g, f);
        }
        r = 0;
        goto out;
    }
    old_inv = json_incref(jsonx_get(repo, "status.inventory"));

    /* 1. fetch */
    r = gitsync_fetch(g->repo_url, g->opts.branch, g->opts.cache_dir, &fr, err);
    if (r < 0) {
        json_t *f = attempt_fields(requested, "False", "FetchFailed", err->msg);
        json_object_set_new(f, "errors", message_error(err->msg));
        put_status(g, f);
        goto out;
    }
    snprintf(rev, sizeof(rev), "%s@sha1:%s", fr.branch, fr.commit_hex);
    snprintf(source, sizeof(source), "%s@%s", g->repo_url, fr.commit_hex);
    if (!jsonx_get_str(repo, "spec.branch") ||
        strcmp(jsonx_get_str(repo, "spec.branch"), fr.branch) != 0) {
        struct bosun_err e = {0};
        if (gitsync_publish_spec(g, fr.branch, &e) < 0)
            log_warn("spec: %s", e.msg);
    }

    /* 2. collect and validate the whole commit */
    struct gitsync_collect_opts co = {
        .path = g->opts.path, .self_ns = GITSYNC_SYSTEM_NS, .self_name = g->opts.name};
    r = gitsync_collect(fr.repo, &fr.commit, &co, &m, err);
    if (r < 0) {
        err_wrap(err, "revision %s", rev);
        json_t *f = attempt_fields(requested, "False", "FetchFailed", err->msg);
        json_object_set_new(f, "lastAttemptedRevision", json_string(rev));
        json_object_set_new(f, "errors", message_error(err->msg));
        put_status(g, f);
        goto out;
    }
    size_t warnings = m.nissues - m.nerrors;
    for (size_t i = 0; i < m.nissues; i++) {
        char line[2048];
        gitsync_issue_format(&m.issues[i], line, sizeof(line));
        if (m.issues[i].error)
            log_debug("sync: %s: %s", rev, line);
        else
            log_warn("sync: %s: warning: %s", rev, line);
    }
    if (m.nerrors > 0) {
        char first[1024];
        gitsync_issue_format(&m.issues[0], first, sizeof(first));
        for (size_t i = 0; i < m.nissues; i++) {
            if (m.issues[i].error) {
                gitsync_issue_format(&m.issues[i], first, sizeof(first));
                break;
            }
        }
        snprintf(msg, sizeof(msg), "revision %s rejected: %zu error%s; first: %s", rev, m.nerrors,
                 m.nerrors == 1 ? "" : "s", first);
        r = err_set(err, -EINVAL, "%s", msg);
        json_t *f = attempt_fields(requested, "False", "ValidationFailed", msg);
        json_object_set_new(f, "lastAttemptedRevision", json_string(rev));
        json_object_set_new(f, "errors", errors_json(&m));
        put_status(g, f);
        goto out;
    }

    /* 3. apply */
    gitsync_order_objects(m.objs, m.nobjs);
    new_inv = gitsync_inventory(m.objs, m.nobjs);
    const char *applied_rev = jsonx_get_str(repo, "status.lastAppliedRevision");
    if (!applied_rev || strcmp(applied_rev, rev) != 0) {
        snprintf(msg, sizeof(msg), "applying revision %s", rev);
        put_status(g, attempt_fields(NULL, "Unknown", "Progressing", msg));
    }
    struct gitsync_manifests failures = {0};
    size_t created = 0, updated = 0;
    r = gitsync_ensure_namespace(g->client, GITSYNC_SYSTEM_NS, err);
    if (r < 0)
        gitsync_manifests_add_issue(&failures, 1, NULL, 0, 0, "", "namespace %s: %s",
                                    GITSYNC_SYSTEM_NS, err->msg);
    for (size_t i = 0; i < m.nobjs; i++) {
        struct gitsync_obj *o = &m.objs[i];
        struct bosun_err e = {0};
        enum gitsync_apply_result res = GITSYNC_UNCHANGED;
        char *field = NULL;
        json_t *applied = gitsync_applied_config(o, source);
        int ar = applied ? gitsync_apply_object(g->client, o->kind, applied, &res, &field, &e)
                         : err_errno(&e, -ENOMEM, "apply");
        json_decref(applied);
        if (ar < 0) {
            log_warn("apply %s:%d: %s", o->file, o->line, e.msg);
            gitsync_manifests_add_issue(&failures, 1, o->file, o->line, o->col, field ? field : "",
                                        "%s", e.msg);
        } else if (res == GITSYNC_CREATED) {
            created++;
        } else if (res == GITSYNC_UPDATED) {
            updated++;
        }
        free(field);
    }
    g->stats.created += created;
    g->stats.updated += updated;

    size_t pruned = 0;
    if (failures.nerrors == 0 && g->opts.prune) {
        struct bosun_err e = {0};
        if (gitsync_prune(g->client, old_inv, new_inv, GITSYNC_SYSTEM_NS, g->opts.name, &pruned,
                          &e) < 0)
            gitsync_manifests_add_issue(&failures, 1, NULL, 0, 0, "", "prune: %s", e.msg);
        g->stats.pruned += pruned;
    }
    if (failures.nerrors > 0) {
        char first[1024];
        gitsync_issue_format(&failures.issues[0], first, sizeof(first));
        snprintf(msg, sizeof(msg), "revision %s: %zu object%s failed to apply; first: %s", rev,
                 failures.nerrors, failures.nerrors == 1 ? "" : "s", first);
        r = err_set(err, -EIO, "%s", msg);
        json_t *f = attempt_fields(requested, "False", "ApplyFailed", msg);
        json_object_set_new(f, "lastAttemptedRevision", json_string(rev));
        json_object_set_new(f, "errors", errors_json(&failures));
        json_object_set_new(f, "inventory", inventory_union(old_inv, new_inv));
        put_status(g, f);
        gitsync_manifests_free(&failures);
        goto out;
    }
    gitsync_manifests_free(&failures);

    if (created || updated || pruned)
        log_info("sync: %s: %zu created, %zu updated, %zu pruned", rev, created, updated, pruned);
    else
        log_debug("sync: %s: nothing to do", rev);
    if (warnings)
        snprintf(msg, sizeof(msg), "applied revision %s (%zu warning%s, see the log)", rev,
                 warnings, warnings == 1 ? "" : "s");
    else
        snprintf(msg, sizeof(msg), "applied revision %s", rev);
    json_t *f = attempt_fields(requested, "True", "Synced", msg);
    json_object_set_new(f, "lastAttemptedRevision", json_string(rev));
    json_object_set_new(f, "lastAppliedRevision", json_string(rev));
    json_object_set_new(f, "errors", json_array());
    json_object_set(f, "inventory", new_inv);
    put_status(g, f);
    g->stats.last_success_unix = (int64_t)time(NULL);
    r = 0;
out:
    if (r < 0)
        g->stats.failures++;
    free(requested);
    json_decref(errors);
    json_decref(new_inv);
    json_decref(old_inv);
    json_decref(repo);
    gitsync_manifests_free(&m);
    gitsync_fetch_result_free(&fr);
    return r;
}

void gitsync_trigger(struct gitsync *g)
{
    pthread_mutex_lock(&g->mu);
    g->pending = 1;
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->mu);
}

void gitsync_stop(struct gitsync *g)
{
    pthread_mutex_lock(&g->mu);
    g->stop = 1;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->mu);
}

/* ---- the request annotation watch ---------------------------------------------------- */

/* Triggers a sync when obj's request annotation differs from the last one seen. */
static void check_request(struct gitsync *g, const json_t *obj)
{
    const char *name = jsonx_get_str(obj, "metadata.name");
    const char *req = json_string_value(
        json_object_get(jsonx_get(obj, "metadata.annotations"), GITSYNC_REQUESTED_AT_ANNOTATION));
    const char *handled = jsonx_get_str(obj, "status.lastHandledReconcileAt");
    if (!name || strcmp(name, g->opts.name) != 0 || !req)
        return;
    pthread_mutex_lock(&g->mu);
    int fresh = strcmp(g->seen_request, req) != 0 && !(handled && strcmp(handled, req) == 0);
    if (fresh) {
        snprintf(g->seen_request, sizeof(g->seen_request), "%s", req);
        g->pending = 1;
        pthread_cond_signal(&g->cond);
    }
    pthread_mutex_unlock(&g->mu);
    if (fresh)
        log_info("sync requested through %s=%s", GITSYNC_REQUESTED_AT_ANNOTATION, req);
}

struct watch_state {
    struct gitsync *g;
    char rv[64];
};

static int on_watch_line(const char *line, size_t len, void *userdata)
{
    struct watch_state *ws = userdata;
    json_t *ev = jsonx_loadb(line, len, NULL);
    const char *type = jsonx_get_str(ev, "type");
    json_t *obj = json_object_get(ev, "object");
    if (type && strcmp(type, "ERROR") == 0) {
        json_decref(ev);
        return 1; /* expired: relist */
    }
    const char *rv = jsonx_get_str(obj, "metadata.resourceVersion");
    if (rv)
        snprintf(ws->rv, sizeof(ws->rv), "%s", rv);
    if (type && (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0))
        check_request(ws->g, obj);
    json_decref(ev);
    return 0;
}

static void sleep_unless_stopped(struct gitsync *g, int64_t ms)
{
    int64_t end = time_mono_ms() + ms;
    while (!g->stop && time_mono_ms() < end) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void *watch_main(void *arg)
{
    struct gitsync *g = arg;
    int64_t backoff = 500;
    char coll[512], path[1024];
    gitsync_status_path(NULL, coll, sizeof(coll));
    while (!g->stop) {
        struct watch_state ws = {.g = g};
        struct bosun_err err = {0};
        long status = 0;
        json_t *list = NULL;
        /* List to learn the current state and a resourceVersion to watch from. */
        if (httpc_json(g->client, "GET", coll, NULL, NULL, &status, &list, &err) < 0 ||
            status != 200) {
            log_debug("watch %s: list: %s (status %ld)", coll, err.msg, status);
            json_decref(list);
            sleep_unless_stopped(g, backoff);
            backoff = backoff < 8000 ? backoff * 2 : 8000;
            continue;
        }
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(list, "items"), i, item) check_request(g, item);
        const char *rv = jsonx_get_str(list, "metadata.resourceVersion");
        snprintf(ws.rv, sizeof(ws.rv), "%s", rv ? rv : "0");
        json_decref(list);
        int64_t started = time_mono_ms();
        snprintf(path, sizeof(path), "%s?watch=true&allowWatchBookmarks=true&resourceVersion=%s",
                 coll, ws.rv);
        if (httpc_stream(g->client, path, on_watch_line, &ws, &g->stop, &err) < 0)
            log_debug("watch %s: %s", coll, err.msg);
        if (time_mono_ms() - started > 5000)
            backoff = 500;
        sleep_unless_stopped(g, backoff);
        backoff = backoff < 8000 ? backoff * 2 : 8000;
    }
    return NULL;
}

void gitsync_run(struct gitsync *g)
{
    if (pthread_create(&g->watch_thread, NULL, watch_main, g) == 0)
        g->watch_started = 1;
    else
        log_warn("sync: cannot start the annotation watch; relying on the interval");
    /* After a failure the next attempt comes sooner (1 s, doubling up to the interval), so
     * that gitsync started before reconcilerd, or a fixed repository, does not wait a
     * whole interval. */
    int64_t wait_ms = g->opts.interval_ms, backoff = 1000;
    pthread_mutex_lock(&g->mu);
    g->pending = 1;
    while (!g->stop) {
        if (!g->pending) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t ns = (int64_t)ts.tv_nsec + (wait_ms % 1000) * 1000000;
            ts.tv_sec += (time_t)(wait_ms / 1000 + ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            int w = 0;
            while (!g->pending && !g->stop && w != ETIMEDOUT)
                w = pthread_cond_timedwait(&g->cond, &g->mu, &ts);
            if (g->stop)
                break;
        }
        g->pending = 0;
        pthread_mutex_unlock(&g->mu);
        struct bosun_err err = {0};
        int64_t t0 = time_mono_ms();
        if (gitsync_sync_once(g, &err) < 0) {
            log_error("sync: %s", err.msg);
            wait_ms = backoff < g->opts.interval_ms ? backoff : g->opts.interval_ms;
            backoff = backoff < g->opts.interval_ms ? backoff * 2 : backoff;
        } else {
            log_debug("sync: done in %lld ms", (long long)(time_mono_ms() - t0));
            wait_ms = g->opts.interval_ms;
            backoff = 1000;
        }
        pthread_mutex_lock(&g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    if (g->watch_started) {
        pthread_join(g->watch_thread, NULL);
        g->watch_started = 0;
    }
}

char *gitsync_metrics(struct gitsync *g)
{
    char *s = NULL;
    struct gitsync_stats st = g->stats; /* racy snapshot of counters: fine for metrics */
    if (asprintf(&s,
                 "# TYPE gitsync_syncs_total counter\ngitsync_syncs_total %llu\n"
                 "# TYPE gitsync_sync_failures_total counter\ngitsync_sync_failures_total %llu\n"
                 "# TYPE gitsync_objects_created_total counter\n"
                 "gitsync_objects_created_total %llu\n"
                 "# TYPE gitsync_objects_updated_total counter\n"
                 "gitsync_objects_updated_total %llu\n"
                 "# TYPE gitsync_objects_pruned_total counter\ngitsync_objects_pruned_total %llu\n"
                 "# TYPE gitsync_last_success_timestamp_seconds gauge\n"
                 "gitsync_last_success_timestamp_seconds %lld\n",
                 (unsigned long long)st.syncs, (unsigned long long)st.failures,
                 (unsigned long long)st.created, (unsigned long long)st.updated,
                 (unsigned long long)st.pruned, (long long)st.last_success_unix) < 0)
        return NULL;
    return s;
}
