/* leader — one election thread: read the Lease, decide, write it back conditionally,
 * sleep; see leader.h for the rules. */
#include "reconcilerd/controllers/leader.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/httpc.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"

#define LEASE_API "/apis/coordination.k8s.io/v1"

struct ctrl_leader {
    struct httpc *client;
    char *ns, *name, *identity;
    char coll[384], path[640]; /* the Leases of ns; the Lease */
    int64_t lease_ms, deadline_ms, retry_ms;
    long request_timeout_ms;
    ctrl_leader_started_fn on_started;
    ctrl_leader_stopped_fn on_stopped;
    void *userdata;

    pthread_t thread;
    bool thread_running;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    bool stop;           /* mu */
    bool leading;        /* mu; written by the thread only */

    /* the election thread's own state */
    char observed_rv[32];
    int64_t observed_mono; /* when observed_rv was first seen */
    char observed_holder[256];
    int64_t last_ok_mono; /* start of the last successful acquire/renew */
};

/* ---- pure logic ---- */

char *ctrl_leader_microtime(int64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%06dZ", base, (int)(ms % 1000) * 1000);
    return buf;
}

int ctrl_leader_parse_time(const char *s, int64_t *out_ms)
{
    time_t t;
    if (!s || time_parse_rfc3339(s, &t))
        return -EINVAL;
    int64_t frac_ms = 0;
    const char *dot = strchr(s, '.');
    if (dot && dot - s == 19) {
        /* the first three digits of the fraction; time_parse_rfc3339 checked the rest */
        int scale = 100;
        for (const char *p = dot + 1; *p >= '0' && *p <= '9' && scale > 0; p++, scale /= 10)
            frac_ms += (*p - '0') * scale;
    }
    *out_ms = (int64_t)t * 1000 + frac_ms;
    return 0;
}

int ctrl_leader_record_parse(const json_t *lease, struct ctrl_leader_record *out)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(lease))
        return -EINVAL;
    const char *kind = jsonx_get_str(lease, "kind");
    if (kind && strcmp(kind, "Lease"))
        return -EINVAL;
    const char *h = jsonx_get_str(lease, "spec.holderIdentity");
    snprintf(out->holder, sizeof(out->holder), "%s", h ? h : "");
    out->duration_s = jsonx_get_int(lease, "spec.leaseDurationSeconds", 0);
    if (out->duration_s < 0)
        out->duration_s = 0;
    out->transitions = jsonx_get_int(lease, "spec.leaseTransitions", 0);
    if (ctrl_leader_parse_time(jsonx_get_str(lease, "spec.renewTime"), &out->renew_ms))
        out->renew_ms = 0;
    if (ctrl_leader_parse_time(jsonx_get_str(lease, "spec.acquireTime"), &out->acquire_ms))
        out->acquire_ms = 0;
    const char *rv = jsonx_get_str(lease, "metadata.resourceVersion");
    snprintf(out->rv, sizeof(out->rv), "%s", rv ? rv : "");
    return 0;
}

int64_t ctrl_leader_expires_in(const struct ctrl_leader_record *rec, int64_t now_ms,
                               int64_t observed_mono_ms, int64_t now_mono_ms,
                               int64_t renew_deadline_ms, int64_t default_duration_ms)
{
    if (!*rec->holder)
        return 0;
    int64_t seen_for = now_mono_ms - observed_mono_ms;
    int64_t by_mono = renew_deadline_ms - seen_for;
    int64_t by_wall;
    if (rec->renew_ms > 0 && rec->duration_s > 0)
        by_wall = rec->renew_ms + rec->duration_s * 1000 - now_ms;
    else
        by_wall = default_duration_ms - seen_for; /* nothing to go by: as if renewed when seen */
    return by_wall > by_mono ? by_wall : by_mono;
}

bool ctrl_leader_deadline_passed(int64_t last_ok_mono_ms, int64_t now_mono_ms,
                                 int64_t renew_deadline_ms)
{
    return now_mono_ms - last_ok_mono_ms >= renew_deadline_ms;
}

json_t *ctrl_leader_lease_take(const json_t *cur, const char *ns, const char *name,
                               const char *identity, int64_t duration_s, int64_t now_ms)
{
    char now[48];
    ctrl_leader_microtime(now_ms, now, sizeof(now));
    json_t *l = cur ? json_deep_copy(cur) : NULL;
    if (!l) {
        l = json_pack("{s:s,s:s,s:{s:s,s:s}}", "apiVersion", "coordination.k8s.io/v1", "kind",
                      "Lease", "metadata", "name", name, "namespace", ns);
        if (!l)
            return NULL;
    }
    json_t *spec = jsonx_ensure_obj(l, "spec");
    if (!spec) {
        json_decref(l);
        return NULL;
    }
    const char *old = json_string_value(json_object_get(spec, "holderIdentity"));
    if (!cur) {
        json_object_set_new(spec, "acquireTime", json_string(now));
        json_object_set_new(spec, "leaseTransitions", json_integer(0));
    } else if (!old || strcmp(old, identity)) {
        json_object_set_new(spec, "acquireTime", json_string(now));
        json_object_set_new(spec, "leaseTransitions",
                            json_integer(jsonx_get_int(cur, "spec.leaseTransitions", 0) + 1));
    }
    json_object_set_new(spec, "holderIdentity", json_string(identity));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(duration_s));
    json_object_set_new(spec, "renewTime", json_string(now));
    return l;
}

json_t *ctrl_leader_lease_release(const json_t *cur, int64_t now_ms)
{
    char now[48];
    ctrl_leader_microtime(now_ms, now, sizeof(now));
    json_t *l = json_deep_copy(cur);
    json_t *spec = l ? jsonx_ensure_obj(l, "spec") : NULL;
    if (!spec) {
        json_decref(l);
        return NULL;
    }
    json_object_set_new(spec, "holderIdentity", json_string(""));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
    json_object_set_new(spec, "acquireTime", json_string(now));
    json_object_set_new(spec, "renewTime", json_string(now));
    return l;
}

/* ---- the API calls ---- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One request; *out (may be NULL) gets a parsed 2xx body. Returns 0, -ENOENT (404),
 * -EAGAIN (409), or -EIO. */
static int call(struct ctrl_leader *l, const char *method, const char *path, const json_t *body,
                json_t **out, struct bosun_err *err)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct httpc_resp resp = {0};
    int rc = httpc_request(l->client, method, path, body ? "application/json" : NULL, text,
                           text ? strlen(text) : 0, l->request_timeout_ms, &resp, err);
    free(text);
    if (rc < 0) {
        err_wrap(err, "%s %s", method, path);
        rc = -EIO;
        goto out;
    }
    if (resp.status == 404) {
        rc = err_set(err, -ENOENT, "%s %s: not found", method, path);
    } else if (resp.status == 409) {
        rc = err_set(err, -EAGAIN, "%s %s: conflict", method, path);
    } else if (resp.status < 200 || resp.status >= 300) {
        rc = err_set(err, -EIO, "%s %s: HTTP %ld %.200s", method, path, resp.status,
                     resp.body ? resp.body : "");
    } else if (out) {
        *out = json_loadb(resp.body ? resp.body : "", resp.len, 0, NULL);
        if (!*out)
            rc = err_set(err, -EIO, "%s %s: the answer is not JSON", method, path);
    }
out:
    httpc_resp_free(&resp);
    return rc;
}

/* Notes the version of the Lease seen now (the clock for expiry starts at a change). */
static void observe(struct ctrl_leader *l, const struct ctrl_leader_record *rec, int64_t mono)
{
    if (strcmp(rec->rv, l->observed_rv)) {
        snprintf(l->observed_rv, sizeof(l->observed_rv), "%s", rec->rv);
        l->observed_mono = mono;
    }
    if (strcmp(rec->holder, l->observed_holder)) {
        snprintf(l->observed_holder, sizeof(l->observed_holder), "%s", rec->holder);
        if (*rec->holder && strcmp(rec->holder, l->identity))
            log_info("leader election: %s is the leader", rec->holder);
    }
}

/* One try to acquire or renew. 0 = we hold the Lease now; -EBUSY = someone else does
 * (*wait_ms: until it may expire, 0 when leading: we lost it); -EAGAIN = a concurrent
 * write won; -EIO = the API did not answer as it should. */
static int try_once(struct ctrl_leader *l, bool leading, int64_t *wait_ms, struct bosun_err *err)
{
    const char *path = l->path, *coll = l->coll;
    json_t *cur = NULL, *want = NULL, *stored = NULL;
    int64_t mono = time_mono_ms(), now = wall_ms();
    struct ctrl_leader_record rec;
    int rc = call(l, "GET", path, NULL, &cur, err);
    if (rc == -ENOENT) {
        err_clear(err);
        want = ctrl_leader_lease_take(NULL, l->ns, l->name, l->identity, l->lease_ms / 1000, now);
        rc = want ? call(l, "POST", coll, want, &stored, err)
                  : err_set(err, -ENOMEM, "out of memory");
        goto done;
    }
    if (rc)
        goto out;
    if (ctrl_leader_record_parse(cur, &rec)) {
        rc = err_set(err, -EIO, "GET %s: not a Lease", path);
        goto out;
    }
    observe(l, &rec, mono);
    if (*rec.holder && strcmp(rec.holder, l->identity)) {
        int64_t in = leading ? 0
                             : ctrl_leader_expires_in(&rec, now, l->observed_mono, mono,
                                                      l->deadline_ms, l->lease_ms);
        if (leading || in > 0) {
            *wait_ms = in;
            rc = err_set(err, -EBUSY, "the Lease is held by %s", rec.holder);
            goto out;
        }
    }
    want = ctrl_leader_lease_take(cur, l->ns, l->name, l->identity, l->lease_ms / 1000, now);
    rc = want ? call(l, "PUT", path, want, &stored, err) : err_set(err, -ENOMEM, "out of memory");
done:
    if (!rc) {
        if (!ctrl_leader_record_parse(stored, &rec))
            observe(l, &rec, mono);
        l->last_ok_mono = mono;
    }
out:
    json_decref(cur);
    json_decref(want);
    json_decref(stored);
    return rc;
}

/* Gives the Lease back if we still hold it (best effort: it expires anyway). */
static void release(struct ctrl_leader *l)
{
    const char *path = l->path;
    struct bosun_err err = {0};
    json_t *cur = NULL, *want = NULL;
    int rc = call(l, "GET", path, NULL, &cur, &err);
    if (rc)
        goto out;
    const char *h = jsonx_get_str(cur, "spec.holderIdentity");
    if (!h || strcmp(h, l->identity))
        goto out;
    want = ctrl_leader_lease_release(cur, wall_ms());
    rc = want ? call(l, "PUT", path, want, NULL, &err) : err_set(&err, -ENOMEM, "out of memory");
    if (!rc)
        log_info("leader election: %s released the Lease", l->identity);
out:
    if (rc)
        log_warn("leader election: release the Lease: %s", err.msg);
    json_decref(cur);
    json_decref(want);
}

static void set_leading(struct ctrl_leader *l, bool v)
{
    pthread_mutex_lock(&l->mu);
    l->leading = v;
    pthread_mutex_unlock(&l->mu);
}

static void lose(struct ctrl_leader *l, const char *why)
{
    log_info("leader election: %s lost leadership (%s)", l->identity, why);
    set_leading(l, false);
    if (l->on_stopped)
        l->on_stopped(l->userdata);
}

static void become(struct ctrl_leader *l)
{
    log_info("leader election: %s became leader", l->identity);
    set_leading(l, true);
    if (l->on_started && l->on_started(l->userdata)) {
        log_error("leader election: %s could not start its work; giving the Lease back",
                  l->identity);
        set_leading(l, false);
        release(l);
    }
}

static void *run(void *arg)
{
    struct ctrl_leader *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        bool leading = l->leading;
        pthread_mutex_unlock(&l->mu);

        int64_t start = time_mono_ms(), until_expiry = 0, wait = l->retry_ms;
        struct bosun_err err = {0};
        int rc = try_once(l, leading, &until_expiry, &err);
        if (leading) {
            if (rc == -EBUSY) {
                lose(l, err.msg);
            } else if (rc && ctrl_leader_deadline_passed(l->last_ok_mono, time_mono_ms(),
                                                         l->deadline_ms)) {
                char why[sizeof(err.msg) + 64];
                snprintf(why, sizeof(why), "no renewal for %lld ms: %s",
                         (long long)(time_mono_ms() - l->last_ok_mono), err.msg);
                lose(l, why);
            } else if (rc) {
                log_warn("leader election: renew: %s", err.msg);
            }
        } else if (rc == 0) {
            become(l);
        } else if (rc == -EBUSY) {
            /* sleep exactly until the Lease may expire, so a dead leader is replaced
             * within the lease duration */
            if (until_expiry < wait)
                wait = until_expiry > 0 ? until_expiry : 1;
            log_debug("leader election: %s; it may be taken in %lld ms", err.msg,
                      (long long)until_expiry);
        } else if (rc != -EAGAIN) {
            log_debug("leader election: acquire: %s", err.msg);
        }
        if (wait == l->retry_ms)
            wait -= time_mono_ms() - start; /* a period from the try's start */

        pthread_mutex_lock(&l->mu);
        if (l->stop || wait <= 0)
            continue;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!l->stop && pthread_cond_timedwait(&l->cond, &l->mu, &ts) != ETIMEDOUT)
            ;
    }
    bool leading = l->leading;
    pthread_mutex_unlock(&l->mu);
    if (leading) {
        lose(l, "shutting down");
        release(l);
    }
    return NULL;
}

/* ---- lifecycle ---- */

static void leader_free(struct ctrl_leader *l)
{
    httpc_free(l->client);
    free(l->ns);
    free(l->name);
    free(l->identity);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

int ctrl_leader_start(const struct ctrl_leader_opts *o, struct ctrl_leader **out,
                      struct bosun_err *err)
{
    int64_t lease = o->lease_duration_ms > 0 ? o->lease_duration_ms : 15000;
    int64_t deadline = o->renew_deadline_ms > 0 ? o->renew_deadline_ms : 10000;
    int64_t retry = o->retry_period_ms > 0 ? o->retry_period_ms : 2000;
    if (!o->identity || !*o->identity)
        return err_set(err, -EINVAL, "leader election: no identity");
    if (lease < 1000 || deadline >= lease || retry >= deadline)
        return err_set(err, -EINVAL,
                       "leader election: want retry period < renew deadline < lease duration "
                       "and a lease of at least 1s (got %lldms, %lldms, %lldms)",
                       (long long)retry, (long long)deadline, (long long)lease);
    struct ctrl_leader *l = calloc(1, sizeof(*l));
    if (!l)
        return err_set(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&l->mu, NULL);
    time_cond_init_mono(&l->cond);
    l->lease_ms = lease;
    l->deadline_ms = deadline;
    l->retry_ms = retry;
    /* a request that hangs must not eat the whole renew deadline */
    l->request_timeout_ms = (long)(deadline / 2 > 1000 ? deadline / 2 : 1000);
    l->on_started = o->on_started;
    l->on_stopped = o->on_stopped;
    l->userdata = o->userdata;
    l->ns = strdup(o->lease_ns ? o->lease_ns : "bosun-system");
    l->name = strdup(o->lease_name ? o->lease_name : "bosun-controllers");
    l->identity = strdup(o->identity);
    int rc;
    if (!l->ns || !l->name || !l->identity) {
        rc = err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    if ((size_t)snprintf(l->coll, sizeof(l->coll), LEASE_API "/namespaces/%s/leases", l->ns) >=
            sizeof(l->coll) ||
        (size_t)snprintf(l->path, sizeof(l->path), "%s/%s", l->coll, l->name) >=
            sizeof(l->path)) {
        rc = err_set(err, -ENAMETOOLONG, "leader election: Lease name too long");
        goto fail;
    }
    if ((rc = httpc_new_token(o->server ? o->server : "http://127.0.0.1:6443", o->token,
                              &l->client, err)) < 0 ||
        (o->ca_file && (rc = httpc_set_ca_file(l->client, o->ca_file, err)) < 0)) {
        err_wrap(err, "leader election");
        goto fail;
    }
    if ((rc = pthread_create(&l->thread, NULL, run, l))) {
        rc = err_errno(err, -rc, "leader election: pthread_create");
        goto fail;
    }
    l->thread_running = true;
    log_info("leader election: %s is a candidate for Lease %s/%s", l->identity, l->ns, l->name);
    *out = l;
    return 0;
fail:
    leader_free(l);
    return rc;
}

void ctrl_leader_stop(struct ctrl_leader *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->cond);
    pthread_mutex_unlock(&l->mu);
    if (l->thread_running)
        pthread_join(l->thread, NULL);
    leader_free(l);
}

bool ctrl_leader_is_leader(struct ctrl_leader *l)
{
    if (!l)
        return false;
    pthread_mutex_lock(&l->mu);
    bool v = l->leading;
    pthread_mutex_unlock(&l->mu);
    return v;
}
