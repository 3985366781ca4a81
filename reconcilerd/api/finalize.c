#include "reconcilerd/api/finalize.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/jsonx.h"
#include "lib/log.h"
#include "reconcilerd/api/resource.h"

#define PASS_EVERY_MS 500

struct api_finalizer {
    struct api *api;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop, kicked;
    json_t *owners; /* keys waiting for foreground deletion (mu) */
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

static void *finalizer_main(void *arg)
{
    struct api_finalizer *f = arg;
    bool pending = true; /* the first pass picks up work left before a restart */
    pthread_mutex_lock(&f->mu);
    while (!f->stop) {
        if (!pending && !f->kicked) {
            pthread_cond_wait(&f->cond, &f->mu);
            continue;
        }
        if (!f->kicked) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += PASS_EVERY_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&f->cond, &f->mu, &ts);
            if (f->stop)
                break;
        }
        f->kicked = false;
        pthread_mutex_unlock(&f->mu);
        pending = pass(f);
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

int api_finalizer_start(struct api *api, struct api_finalizer **out, struct bosun_err *err)
{
    struct api_finalizer *f = calloc(1, sizeof(*f));
    if (!f)
        return err_set(err, -ENOMEM, "out of memory");
    f->api = api;
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
