#include "nodeagent/podevents.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/timeutil.h"

/* How often events waiting for their object look again. */
#define PODEVENTS_RETRY_MS 500

struct podevents {
    struct podevents_config cfg;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    int64_t flush_until; /* mono ms; while stopping, post until then */
    /* [{pod, source, fieldPath, type, reason, message, at}], oldest first. The batch the
     * thread is posting is not in it; what is left of the batch (events waiting for their
     * object) goes back in front, and the oldest go when there are too many. */
    json_t *queue;
    uint64_t posted, dropped;
};

static void deadline_in(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Drops the oldest queued events until n more fit. Called with mu held. */
static void make_room_locked(struct podevents *pe, size_t n)
{
    while (json_array_size(pe->queue) > 0 && json_array_size(pe->queue) + n > pe->cfg.capacity) {
        const json_t *old = json_array_get(pe->queue, 0);
        log_debug("events: queue full, dropping %s about %s/%s", jsonx_get_str(old, "reason"),
                  jsonx_get_str(old, "pod.metadata.namespace") ?: "",
                  jsonx_get_str(old, "pod.metadata.name") ?: "");
        json_array_remove(pe->queue, 0);
        pe->dropped++;
    }
}

void podevents_record(struct podevents *pe, const json_t *pod, const char *source,
                      const char *field_path, const char *type, const char *reason,
                      const char *message)
{
    if (!pe)
        return;
    /* Only what names the pod: the pod loop's copy of the spec is not needed. */
    json_t *meta = json_object();
    static const char *const keys[] = {"name", "namespace", "uid", "resourceVersion"};
    for (size_t i = 0; meta && i < sizeof(keys) / sizeof(keys[0]); i++) {
        const json_t *v = json_object_get(jsonx_get(pod, "metadata"), keys[i]);
        if (json_is_string(v))
            json_object_set_new(meta, keys[i], json_string(json_string_value(v)));
    }
    json_t *item =
        json_pack("{s:{s:o},s:s,s:s,s:s,s:s,s:s,s:I}", "pod", "metadata", meta, "source", source,
                  "fieldPath", field_path ? field_path : "", "type", type, "reason", reason,
                  "message", message, "at", (json_int_t)time_mono_ms());
    if (!item)
        return;
    pthread_mutex_lock(&pe->mu);
    if (pe->stop) {
        pe->dropped++;
        json_decref(item);
    } else {
        make_room_locked(pe, 1);
        json_array_append_new(pe->queue, item);
        pthread_cond_signal(&pe->cond);
    }
    pthread_mutex_unlock(&pe->mu);
}

/* Posts one event, or says it must wait for its object (returns false). */
static bool post_one(struct podevents *pe, const json_t *item)
{
    const json_t *pod = json_object_get(item, "pod");
    json_t *obj = pe->cfg.resolve(pod, jsonx_get_str(item, "source"), pe->cfg.userdata);
    if (!obj)
        return false;
    const char *fp = jsonx_get_str(item, "fieldPath");
    events_record_field(pe->cfg.recorder, obj, "Pod", "v1", fp && *fp ? fp : NULL,
                        jsonx_get_str(item, "type"), jsonx_get_str(item, "reason"),
                        jsonx_get_str(item, "message"));
    json_decref(obj);
    return true;
}

static void *podevents_thread(void *arg)
{
    struct podevents *pe = arg;
    pthread_mutex_lock(&pe->mu);
    for (;;) {
        if (pe->stop && (json_array_size(pe->queue) == 0 || time_mono_ms() >= pe->flush_until))
            break;
        json_t *batch = pe->queue;
        pe->queue = json_array();
        pthread_mutex_unlock(&pe->mu);

        json_t *waiting = json_array();
        uint64_t posted = 0, dropped = 0;
        size_t i;
        json_t *item;
        json_array_foreach(batch, i, item)
        {
            pthread_mutex_lock(&pe->mu);
            bool stop = pe->stop, late = stop && time_mono_ms() >= pe->flush_until;
            pthread_mutex_unlock(&pe->mu);
            if (late) {
                dropped++;
                continue;
            }
            if (post_one(pe, item)) {
                posted++;
            } else if (!stop && time_mono_ms() - jsonx_get_int(item, "at", 0) < pe->cfg.hold_ms) {
                json_array_append(waiting, item);
            } else {
                log_debug("events: %s about %s/%s dropped: its pod is not in the API",
                          jsonx_get_str(item, "reason"),
                          jsonx_get_str(item, "pod.metadata.namespace") ?: "",
                          jsonx_get_str(item, "pod.metadata.name") ?: "");
                dropped++;
            }
        }
        json_decref(batch);

        pthread_mutex_lock(&pe->mu);
        pe->posted += posted;
        pe->dropped += dropped;
        /* Events still waiting are older than anything queued meanwhile: they go first. */
        size_t nwaiting = json_array_size(waiting);
        json_array_extend(waiting, pe->queue);
        json_decref(pe->queue);
        pe->queue = waiting;
        make_room_locked(pe, 0);
        if (pe->stop || json_array_size(pe->queue) > nwaiting)
            continue; /* new events (or the flush): post them now */
        /* Woken by new events; events waiting for their object look again soon. */
        struct timespec ts;
        deadline_in(&ts, nwaiting ? PODEVENTS_RETRY_MS : 60000);
        pthread_cond_timedwait(&pe->cond, &pe->mu, &ts);
    }
    pe->dropped += json_array_size(pe->queue);
    json_array_clear(pe->queue);
    pthread_mutex_unlock(&pe->mu);
    return NULL;
}

int podevents_start(const struct podevents_config *cfg, struct podevents **out,
                    struct bosun_err *err)
{
    struct podevents *pe = calloc(1, sizeof(*pe));
    if (!pe || !(pe->queue = json_array())) {
        free(pe);
        return err_set(err, -ENOMEM, "events: out of memory");
    }
    pe->cfg = *cfg;
    if (!pe->cfg.capacity)
        pe->cfg.capacity = PODEVENTS_CAPACITY;
    if (pe->cfg.hold_ms <= 0)
        pe->cfg.hold_ms = PODEVENTS_HOLD_MS;
    pthread_mutex_init(&pe->mu, NULL);
    time_cond_init_mono(&pe->cond);
    if (pthread_create(&pe->thread, NULL, podevents_thread, pe) != 0) {
        podevents_stop(pe, 0);
        return err_set(err, -EAGAIN, "events: cannot start a thread");
    }
    pe->thread_started = true;
    *out = pe;
    return 0;
}

void podevents_stop(struct podevents *pe, int64_t flush_ms)
{
    if (!pe)
        return;
    if (pe->thread_started) {
        pthread_mutex_lock(&pe->mu);
        pe->stop = true;
        pe->flush_until = time_mono_ms() + (flush_ms > 0 ? flush_ms : 0);
        pthread_cond_signal(&pe->cond);
        pthread_mutex_unlock(&pe->mu);
        pthread_join(pe->thread, NULL);
    }
    json_decref(pe->queue);
    pthread_mutex_destroy(&pe->mu);
    pthread_cond_destroy(&pe->cond);
    free(pe);
}

void podevents_counts(struct podevents *pe, uint64_t *posted, uint64_t *dropped)
{
    pthread_mutex_lock(&pe->mu);
    if (posted)
        *posted = pe->posted;
    if (dropped)
        *dropped = pe->dropped;
    pthread_mutex_unlock(&pe->mu);
}
