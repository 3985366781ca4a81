/* events — core/v1 Events about pods from the scheduler (Scheduled, FailedScheduling),
 * source.component "default-scheduler". A repeat of the same (pod, reason, message)
 * within ten minutes bumps count and lastTimestamp of the event already posted, as
 * client-go's correlator does, so a pod retried every few seconds does not flood the
 * store. Best effort (failures logged at debug). Thread-safe. */
#ifndef BOSUN_SCHEDULER_EVENTS_H
#define BOSUN_SCHEDULER_EVENTS_H

#include <jansson.h>

#include "lib/err.h"
#include "lib/httpc.h"

struct scheduler_events;

int scheduler_events_new(struct httpc *client, const char *component,
                         struct scheduler_events **out, struct bosun_err *err);
void scheduler_events_free(struct scheduler_events *ev);
/* pod borrowed; type "Normal"|"Warning". */
void scheduler_events_pod(struct scheduler_events *ev, const json_t *pod, const char *type,
                          const char *reason, const char *message);

#endif
