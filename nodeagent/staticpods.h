/* staticpods — the static pod directory (--manifest-dir): Pod manifests on the node's
 * disk that the agent runs without any API server.
 *
 * The directory is watched with inotify (create, close_write/modify, delete, moved
 * from/to); any event marks it dirty and the next staticpods_rescan, a short quiet
 * period later, re-reads the files whose (inode, size, mtime) changed. Files taken:
 * regular *.yaml, *.yml, *.json that are not editor or temporary files (dotfiles,
 * `.#x`, `x~`, `*.swp`/`*.swx`, `#x#`, vim's `4913`). Every document must be a Pod; it is
 * defaulted and validated by schema/. An invalid file is reported
 * (`file:line:col: field: message`, once per change) and its last good version keeps
 * running.
 *
 * A static pod is renamed `<name>-<node>` (the kubelet's mirror pod name), placed in
 * namespace "default" unless it names one, bound to the node, and given a uid derived
 * from its content and the node name: an edit changes the uid, so the agent replaces
 * the pod, and an agent restart finds the same uids and adopts the running pods. */
#ifndef BOSUN_NODEAGENT_STATICPODS_H
#define BOSUN_NODEAGENT_STATICPODS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

struct staticpods;

/* Whether a file name in the manifest directory is taken as a manifest. Pure. */
bool staticpods_name_wanted(const char *name);

/* Turns a validated, defaulted Pod into the static pod the node runs (name, namespace,
 * uid, nodeName, annotations bosun.io/static-file and kubernetes.io/config.*). In place.
 * Returns 0 or -ENOMEM. */
int staticpods_finish(json_t *pod, const char *node_name, const char *file);

/* Creates dir if missing and starts watching it. *out is owned by the caller. */
int staticpods_open(const char *dir, const char *node_name, struct staticpods **out,
                    struct bosun_err *err);
void staticpods_free(struct staticpods *sp);

/* The inotify fd (O_CLOEXEC, non-blocking) to poll for POLLIN. */
int staticpods_fd(const struct staticpods *sp);
/* Drains pending inotify events (call on POLLIN). */
void staticpods_handle_events(struct staticpods *sp);
/* Milliseconds until a pending rescan is due (0: now), or -1 when none is pending. */
int64_t staticpods_rescan_in(const struct staticpods *sp);
/* Re-reads changed files if a rescan is due (or force). Returns 1 when the set of pods
 * changed, else 0. Problems are logged, never fatal. */
int staticpods_rescan(struct staticpods *sp, bool force);

/* The current pods: a JSON array of Pod objects (borrowed; valid until the next
 * rescan). */
const json_t *staticpods_pods(const struct staticpods *sp);

#endif
