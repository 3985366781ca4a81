/* podevents — the nodeagent's Events about pods, posted as the kubelet posts them
 * (source.component "kubelet", source.host the node name), without ever making the pod
 * loop wait for the API.
 *
 * lib/events posts synchronously: one HTTP request per event, which takes up to the
 * recorder's timeout when the API is slow or its address black-holes packets. The pod
 * loop starts and stops containers on a single thread and must not stall on that, so
 * podevents_record only copies the event into a bounded queue (a mutex held for the
 * copy, no I/O) and a thread of its own posts it. When the queue is full the oldest
 * event is dropped: events are best effort, containers are not.
 *
 * An event names the pod as the pod loop has it. Just before posting, the resolve
 * callback says whether it can go: an API pod's can; a static pod's waits until its
 * mirror pod is in the API (the API is reachable, and kubectl describe of the mirror,
 * which looks for events by the static pod's uid, has a pod to show them on). An event
 * that cannot go yet waits (hold_ms at most, then it is dropped), so the first
 * Pulled/Created/Started of a static pod show on its mirror pod when the API comes up in
 * time, and nothing piles up when it does not. */
#ifndef BOSUN_NODEAGENT_PODEVENTS_H
#define BOSUN_NODEAGENT_PODEVENTS_H

#include <jansson.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/events.h"

#define PODEVENTS_CAPACITY 256
#define PODEVENTS_HOLD_MS 60000

struct podevents_config {
    struct events *recorder; /* borrowed; outlives the podevents */
    /* The object an event about pod (borrowed: its metadata name, namespace, uid,
     * resourceVersion) from source ("api" | "file") names: a new reference, or NULL
     * while the event cannot go yet. Called on the podevents thread. */
    json_t *(*resolve)(const json_t *pod, const char *source, void *userdata);
    void *userdata;
    size_t capacity; /* events queued or waiting at most, oldest dropped first; 0 = 256 */
    int64_t hold_ms; /* how long an event waits for its object; 0 = PODEVENTS_HOLD_MS */
};

struct podevents;

/* Starts the posting thread. *out is owned by the caller (podevents_stop). */
int podevents_start(const struct podevents_config *cfg, struct podevents **out,
                    struct bosun_err *err);

/* Posts what is queued for at most flush_ms more (plus the request in flight, which the
 * recorder's timeout bounds; events still waiting for their object are dropped), stops
 * the thread and frees. NULL allowed. */
void podevents_stop(struct podevents *pe, int64_t flush_ms);

/* Queues an event about pod (borrowed; only its metadata is copied). field_path: the
 * container's "spec.containers{name}", or NULL for the pod. Never waits for I/O. pe NULL
 * does nothing. */
void podevents_record(struct podevents *pe, const json_t *pod, const char *source,
                      const char *field_path, const char *type, const char *reason,
                      const char *message);

/* Events handed to the recorder so far, and events dropped (queue full, or their object
 * never became known). */
void podevents_counts(struct podevents *pe, uint64_t *posted, uint64_t *dropped);

#endif
