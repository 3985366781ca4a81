/* podsync — the pod sync loop: desired pods (static files now, the API later) against
 * what runs on the node, level-triggered.
 *
 * Each pass looks at every pod it knows: a desired pod gets its network namespace
 * (CNI ADD) and its containers (image → overlay rootfs → OCI bundle → conmon/runc);
 * exited containers are restarted per restartPolicy with back-off (crashloop.h); a pod no
 * longer desired is stopped (SIGTERM, SIGKILL after its grace period) and everything it
 * made is removed (containers, bundles and their mounts, cgroups, CNI DEL which frees
 * the IP, the netns). Nothing depends on seeing every change: a pass converges from
 * whatever state it finds.
 *
 * Per pod, <root-dir>/pods/<uid>/ holds state.json (the pod, its netns and IP, its
 * containers' runtime ids and restart counts: what an agent restart needs to adopt the
 * running containers) and status.json (the Kubernetes PodStatus, rewritten when it
 * changes). Logs: <root-dir>/logs/<ns>_<pod>_<uid>/<container>/<restart>.log (CRI
 * format, written by conmon).
 *
 * Events, with the kubelet's reasons and words (through cfg.on_event): Pulled (the image
 * is in the node's store), Failed + ErrImagePull / ErrImageNeverPull (it is not), Created,
 * Started, Failed "Error: ..." (the container could not be made or started), BackOff
 * (a restart or an image retry waits), Killing (a running container is stopped),
 * FailedCreatePodSandBox / NetworkNotReady (the pod's network could not be set up; again
 * when the cause changes, else at most every 30 s). A hollow node (--runtime fake)
 * records none: it pulls, creates and starts nothing. */
#ifndef BOSUN_NODEAGENT_PODSYNC_H
#define BOSUN_NODEAGENT_PODSYNC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "nodeagent/cni.h"
#include "nodeagent/image.h"
#include "nodeagent/runtime.h"

struct podsync_config {
    const char *root_dir;
    const char *node_name;
    const char *node_ip;        /* status.hostIP, and podIP of hostNetwork pods */
    struct runtime *runtime;    /* borrowed, outlives the podsync */
    struct cni *cni;            /* borrowed; cni->subnet "" = no podCIDR yet */
    struct image_store *images; /* borrowed */
    /* Called (on the podsync's thread) when a pod has been stopped and everything it made
     * removed; pod is borrowed. May be NULL. */
    void (*on_removed)(const json_t *pod, const char *source, void *userdata);
    /* Called (on the podsync's thread) with an Event about pod (borrowed) in the kubelet's
     * words: field_path "spec.containers{name}" for a container, NULL for the pod; type
     * "Normal" | "Warning". Must not block (apisync_event queues). May be NULL. */
    void (*on_event)(const json_t *pod, const char *source, const char *field_path,
                     const char *type, const char *reason, const char *message, void *userdata);
    void *userdata;
};

struct podsync;

/* Loads the pods a previous run left in <root-dir>/pods. They keep running untouched
 * until their source first calls podsync_set_desired; then they are adopted if still
 * desired, stopped otherwise. */
int podsync_new(const struct podsync_config *cfg, struct podsync **out, struct bosun_err *err);
void podsync_free(struct podsync *ps);

/* Replaces the desired pods of one source ("file" for static pods, "api" for bound
 * pods) with pods (a JSON array of Pod objects with metadata.uid; borrowed, copied).
 * A pod that leaves the set is stopped on the next pass. */
void podsync_set_desired(struct podsync *ps, const char *source, const json_t *pods);

/* One pass. Returns the milliseconds until the next pass is wanted. */
int64_t podsync_sync(struct podsync *ps);

/* Marks every pod for stopping (agent shutdown); run podsync_sync until podsync_count
 * is 0. */
void podsync_stop_all(struct podsync *ps);
size_t podsync_count(const struct podsync *ps);

/* 1 when the podsync knows pod uid (running, starting or stopping). */
int podsync_has(const struct podsync *ps, const char *uid);

/* Every known pod with its status: a new JSON array of {"source", "pod" (the desired
 * object), "status"} (caller owns). */
json_t *podsync_statuses(const struct podsync *ps);

/* The status of pod uid as a new reference (NULL when unknown). */
json_t *podsync_status(const struct podsync *ps, const char *uid);

#endif
