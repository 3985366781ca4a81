/* events — a recorder of core/v1 Events, shared by the controllers and the scheduler.
 *
 * An Event names the object it is about (involvedObject: kind, apiVersion, namespace,
 * name, uid, resourceVersion), a reason ("SuccessfulCreate", "FailedScheduling"), a
 * message, a type ("Normal" | "Warning"), count, firstTimestamp/lastTimestamp and
 * source.component (the recorder's component: "controller-manager",
 * "default-scheduler", "kubelet") and, for a recorder on a node, source.host. An event
 * about a part of the object names it in involvedObject.fieldPath (the kubelet's
 * "spec.containers{web}"). It lives in the object's namespace ("default" for
 * cluster-scoped objects) and is named <object name>.<hex nanoseconds>, as Kubernetes
 * names them.
 *
 * A repeat of the same (object uid, fieldPath, reason, message) within ten minutes does not post a
 * new Event: it merge-patches count and lastTimestamp of the one already posted, as
 * client-go's correlator does, so a pod retried every few seconds does not flood the
 * store. The recorder remembers the last 256 distinct events.
 *
 * Events are best effort: failures are logged at debug and never returned. A recorder is
 * thread-safe; posting is synchronous (one HTTP request per call, each bounded by
 * events_set_timeout), so a caller that must not wait on the API (the nodeagent's pod
 * loop) posts from a thread of its own. */
#ifndef BOSUN_EVENTS_H
#define BOSUN_EVENTS_H

#include <jansson.h>
#include <time.h>

#include "lib/err.h"
#include "lib/httpc.h"

struct events;

/* A recorder posting through client (borrowed; must outlive the recorder) as component
 * (copied). *out is owned by the caller (events_free). -ENOMEM only. */
int events_new(struct httpc *client, const char *component, struct events **out,
               struct bosun_err *err);
/* NULL allowed. */
void events_free(struct events *ev);

/* Sets source.host and reportingInstance to host (copied): the node a recorder runs on,
 * as the kubelet reports it. Call before recording. -ENOMEM only. */
int events_set_host(struct events *ev, const char *host, struct bosun_err *err);
/* Bounds each request the recorder sends to timeout_ms (0: httpc's default, 30 s). Call
 * before recording. */
void events_set_timeout(struct events *ev, long timeout_ms);

/* Records an event about involved (borrowed; its metadata is read). kind/api_version
 * name it (list items carry neither). type "Normal" | "Warning". ev NULL does nothing. */
void events_record(struct events *ev, const json_t *involved, const char *kind,
                   const char *api_version, const char *type, const char *reason,
                   const char *message);
/* The same about a part of the object: field_path becomes involvedObject.fieldPath
 * ("spec.containers{web}"); NULL or "" is the whole object (events_record). */
void events_record_field(struct events *ev, const json_t *involved, const char *kind,
                         const char *api_version, const char *field_path, const char *type,
                         const char *reason, const char *message);
/* events_record with a printf-style message (truncated at 1 KiB). */
void events_recordf(struct events *ev, const json_t *involved, const char *kind,
                    const char *api_version, const char *type, const char *reason, const char *fmt,
                    ...) __attribute__((format(printf, 7, 8)));

/* The Event object events_record_field posts first for these arguments, with its
 * timestamps at now (pure but for the name's nanoseconds; for tests). field_path and
 * host may be NULL (left out). New reference, NULL on ENOMEM. */
json_t *events_build(const json_t *involved, const char *kind, const char *api_version,
                     const char *field_path, const char *component, const char *host,
                     const char *type, const char *reason, const char *message, time_t now);

#endif
