/* apisync — the nodeagent's side of the API: the Node object (registration, capacity,
 * addresses, nodeInfo, a heartbeat every 10 s, spec.podCIDR), the pods bound to this
 * node (an informer on /api/v1/pods?fieldSelector=spec.nodeName=<node>), pod status
 * write-back (PATCH .../status), the final delete of stopped pods that carry a
 * deletionTimestamp, mirror pods for static pods, and the Events the pod loop records
 * (podevents.h: queued, posted by a thread of their own as "kubelet" from this node).
 *
 * All API traffic runs on a thread of its own, so an unreachable reconcilerd never
 * stalls the pod sync loop: static pods keep running and are reported once the API is
 * back. The pod loop hands work over through the functions below (thread-safe) and is
 * woken through wake_fd (an eventfd written when the pods or the podCIDR changed). */
#ifndef BOSUN_NODEAGENT_APISYNC_H
#define BOSUN_NODEAGENT_APISYNC_H

#include <jansson.h>

#include "lib/err.h"

struct apisync_config {
    const char *server;     /* "http://127.0.0.1:6443" */
    const char *token_file; /* may be NULL or "" */
    const char *ca_file;    /* PEM CA for an https server; NULL or "" = the system's CAs */
    const char *node_name;
    const char *node_ip;
    int kubelet_port;            /* status.daemonEndpoints.kubeletEndpoint.Port */
    const char *runtime_version; /* "runc://1.1.5" */
    int wake_fd;                 /* eventfd the pod loop polls (borrowed) */
};

struct apisync;

/* Starts the API thread and the pod informer. Does not wait for the API. */
int apisync_start(const struct apisync_config *cfg, struct apisync **out, struct bosun_err *err);
/* Stops the thread and the informer; frees. NULL allowed. */
void apisync_stop(struct apisync *as);

/* The pods bound to this node as the API has them (a new array of copies; mirror pods
 * left out), or NULL until the informer has loaded its first list. */
json_t *apisync_pods(struct apisync *as);

/* The Node's spec.podCIDR once known, else "" (written into buf). */
void apisync_pod_cidr(struct apisync *as, char *buf, size_t len);

/* The pod loop's view (podsync_statuses: [{source, pod, status}], borrowed): statuses
 * that changed are written back (API pods to themselves, static pods to their mirror
 * pods), and mirror pods follow the static pods in it. */
void apisync_report(struct apisync *as, const json_t *statuses);

/* Queues an Event about pod (borrowed; from source "api" or "file") for the posting
 * thread: never waits for the API. A static pod's events go to its mirror pod once it
 * exists (podevents.h). field_path: "spec.containers{name}" or NULL. */
void apisync_event(struct apisync *as, const json_t *pod, const char *source,
                   const char *field_path, const char *type, const char *reason,
                   const char *message);

/* The pod (ns, name, uid) was stopped on this node after its deletion was requested:
 * delete it for good (gracePeriodSeconds 0, uid precondition). */
void apisync_delete_final(struct apisync *as, const char *ns, const char *name, const char *uid);

#endif
