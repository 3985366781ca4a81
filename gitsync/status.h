/* status — the GitRepository object gitsync reports to (bosun.io/v1, bosun-system/<name>).
 *
 * spec (url, branch, path, interval, prune, suspend) is written from the flags at start;
 * suspend is left as the API has it (a person suspends syncing through the API).
 * status is written through the /status subresource, and only when it differs from what
 * the API already holds, so a sync that changes nothing writes nothing. A condition's
 * lastTransitionTime moves only when its status or reason changes. */
#ifndef BOSUN_GITSYNC_STATUS_H
#define BOSUN_GITSYNC_STATUS_H

#include <jansson.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/httpc.h"

#define GITSYNC_REQUESTED_AT_ANNOTATION "bosun.io/requested-at"

/* The GitRepository's path ("/apis/bosun.io/v1/namespaces/bosun-system/gitrepositories/N"),
 * or the collection when name is NULL. */
int gitsync_status_path(const char *name, char *buf, size_t len);

/* Go-style duration for ms: "30s", "1m30s", "250ms", "1h0m0s" -> "1h". */
char *gitsync_format_duration(int64_t ms, char *buf, size_t len);

/* GETs the GitRepository. *out: the object (new reference) or NULL when it does not
 * exist. */
int gitsync_status_get(struct httpc *c, const char *name, json_t **out, struct bosun_err *err);

/* Creates the GitRepository with spec, or updates the spec fields given in spec (other
 * spec fields, e.g. suspend, are left alone) when they differ. *out (may be NULL): the
 * object afterwards (new reference). */
int gitsync_status_ensure(struct httpc *c, const char *name, const json_t *spec, json_t **out,
                          struct bosun_err *err);

/* A Ready condition {type, status, reason, message, lastTransitionTime=now}. New ref. */
json_t *gitsync_ready_condition(const char *status, const char *reason, const char *message);

/* Merges fields into status (a key with JSON null removes it; conditions keep their
 * lastTransitionTime when status and reason are unchanged) and writes it through /status
 * when it changed (retrying on 409). *wrote (may be NULL) tells whether a write
 * happened. fields is borrowed. */
int gitsync_status_update(struct httpc *c, const char *name, const json_t *fields, int *wrote,
                          struct bosun_err *err);

/* The status that results from merging fields into old_status (pure; for tests). New
 * reference. */
json_t *gitsync_status_merge(const json_t *old_status, const json_t *fields);

#endif
