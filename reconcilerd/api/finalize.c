#include "reconcilerd/api/finalize.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "reconcilerd/api/resource.h"

#define PASS_EVERY_MS 500
/* a claim younger than this may belong to a Service write still in flight elsewhere */
#define CLAIM_GRACE_S 60

struct api_finalizer {
    struct api *api;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop, kicked;
    json_t *owners; /* keys waiting for foreground deletion (mu) */
    int64_t rescan_ms;
};

static int namespace_list_fn(const char *key, const json_t *value, uint64_t mod_rev, void *ud)
{
    (void)mod_rev;
    if (jsonx_get(value, "metadata.deletionTimestamp"))
        json_array_append_new((json_t *)ud, json_string(strrchr(key, '/') + 1));
    return 0;
}

/* One pass; returns true while work remains. */
static bool pass(struct api_finalizer *f)
{
    bool pending = false;
    json_t *names = json_array();
    store_list(f->api->store, "/namespaces/", namespace_list_fn, names, NULL, NULL);
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v) {
        if (!api_resource_namespace_step(f->api, json_string_value(v)))
            pending = true;
        else
            log_info("namespace %s: terminated", json_string_value(v));
    }
    json_decref(names);

    pthread_mutex_lock(&f->mu);
    json_t *owners = f->owners;
    f->owners = json_array();
    pthread_mutex_unlock(&f->mu);
    json_t *keep = json_array();
    json_array_foreach(owners, i, v) {
        if (!api_resource_foreground_step(f->api, json_string_value(v)))
            json_array_append(keep, v);
    }
    json_decref(owners);
    pthread_mutex_lock(&f->mu);
    json_array_extend(f->owners, keep);
    if (json_array_size(f->owners))
        pending = true;
    pthread_mutex_unlock(&f->mu);
    json_decref(keep);
    return pending;
}

/* Appends key to f->owners unless it is there; f->mu held. */
static void owners_add_locked(struct api_finalizer *f, json_t *key)
{
    size_t i;
    json_t *v;
    json_array_foreach(f->owners, i, v) {
        if (json_equal(v, key))
            return;
    }
    json_array_append(f->owners, key);
}

/* Work another replica may have left behind (see finalize.h). */
static void rescan(struct api_finalizer *f)
{
    json_t *names = json_array(), *owners = json_array();
    api_resource_list_pending(f->api, names, owners);
    pthread_mutex_lock(&f->mu);
    size_t i;
    json_t *v;
    json_array_foreach(owners, i, v)
        owners_add_locked(f, v);
    pthread_mutex_unlock(&f->mu);
    json_decref(names); /* every pass lists namespaces itself */
    json_decref(owners);
    struct bosun_err err = {0};
    if (api_resource_rebuild_allocations(f->api, CLAIM_GRACE_S, &err))
        log_warn("%s", err.msg);
}

/* Waits on f->cond for up to ms; f->mu held. */
static void wait_ms(struct api_finalizer *f, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&f->cond, &f->mu, &ts);
}

static void *finalizer_main(void *arg)
{
    struct api_finalizer *f = arg;
    bool pending = true; /* the first pass picks up work left before a restart */
    int64_t next_rescan = f->rescan_ms ? time_mono_ms() + f->rescan_ms : 0;
    pthread_mutex_lock(&f->mu);
    while (!f->stop) {
        int64_t now = time_mono_ms();
        bool due = next_rescan && now >= next_rescan;
        if (!pending && !f->kicked && !due) {
            if (next_rescan)
                wait_ms(f, next_rescan - now);
            else
                pthread_cond_wait(&f->cond, &f->mu);
            continue;
        }
        if (!f->kicked && !due) {
            wait_ms(f, PASS_EVERY_MS);
            if (f->stop)
                break;
        }
        f->kicked = false;
        pthread_mutex_unlock(&f->mu);
        if (due) {
            rescan(f);
            next_rescan = time_mono_ms() + f->rescan_ms;
        }
        pending = pass(f);
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

int api_finalizer_start(struct api *api, int64_t rescan_ms, struct api_finalizer **out,
                        struct bosun_err *err)
{
    struct api_finalizer *f = calloc(1, sizeof(*f));
    if (!f)
        return err_set(err, -ENOMEM, "out of memory");
    f->api = api;
    f->rescan_ms = rescan_ms > 0 ? rescan_ms : 0;
    f->owners = json_array();
    json_t *names = json_array();
    api_resource_list_pending(api, names, f->owners);
    json_decref(names); /* namespaces are found by every pass anyway */
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cond, NULL);
    int rc = pthread_create(&f->thread, NULL, finalizer_main, f);
    if (rc) {
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->mu);
        json_decref(f->owners);
        free(f);
        return err_errno(err, -rc, "finalizer thread");
    }
    *out = f;
    return 0;
}

void api_finalizer_stop(struct api_finalizer *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->mu);
    json_decref(f->owners);
    free(f);
}

void api_finalizer_kick(struct api_finalizer *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->kicked = true;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->mu);
}

void api_finalizer_add_owner(struct api_finalizer *f, const struct schema_kind *k,
                             const char *key)
{
    (void)k;
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    json_array_append_new(f->owners, json_string(key));
    f->kicked = true;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->mu);
}
