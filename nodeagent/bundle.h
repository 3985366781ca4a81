/* bundle — OCI runtime bundles for one container of a pod: the config.json (runtime-spec
 * 1.0) built from the pod spec and the image config, and the container's writable root
 * filesystem (an overlay whose lower layer is the image's shared rootfs).
 *
 * Bundle directory layout: <dir>/config.json, <dir>/rootfs (overlay mount point),
 * <dir>/upper, <dir>/work (the overlay's writable layer). */
#ifndef BOSUN_NODEAGENT_BUNDLE_H
#define BOSUN_NODEAGENT_BUNDLE_H

#include <jansson.h>

#include "lib/err.h"

struct bundle_spec {
    const json_t *pod;          /* the Pod (borrowed) */
    const json_t *container;    /* one element of pod.spec.containers (borrowed) */
    const json_t *image_config; /* the image config's "config" object; may be NULL */
    const char *rootfs;         /* root.path */
    const char *netns_path;     /* the pod's network namespace; NULL = host network */
    const char *cgroups_path;   /* "/bosun/<pod-uid>/<container>" */
    const char *hostname;       /* the pod's hostname (its name) */
    const char *etc_dir;        /* holds resolv.conf, hosts, hostname to bind over /etc;
                                 * NULL for none */
    unsigned uid, gid;          /* from bundle_resolve_user */
};

/* The process's user: container securityContext.runAsUser/runAsGroup, else the pod's,
 * else the image's User ("uid[:gid]" or names looked up in rootfs's /etc/passwd and
 * /etc/group), else root. -EINVAL with err when the image names an unknown user. */
int bundle_resolve_user(const json_t *pod, const json_t *container, const json_t *image_config,
                        const char *rootfs, unsigned *uid, unsigned *gid, struct bosun_err *err);

/* The process argv, Kubernetes rules: command (else the image Entrypoint) followed by
 * args (else, when command was not given, the image Cmd). A new JSON array of strings;
 * -EINVAL with err when it comes out empty. */
json_t *bundle_process_args(const json_t *container, const json_t *image_config,
                            struct bosun_err *err);

/* The whole config.json as a new reference, or NULL with err (an unparsable resource
 * quantity, an empty command). Pure: touches no files. */
json_t *bundle_config(const struct bundle_spec *b, struct bosun_err *err);

/* Writes config to <dir>/config.json. */
int bundle_write_config(const char *dir, const json_t *config, struct bosun_err *err);

/* Creates <dir>/{upper,work,rootfs} and mounts an overlay of lower + upper on rootfs.
 * Undoes what it made on failure. */
int bundle_rootfs_mount(const char *dir, const char *lower, struct bosun_err *err);

/* Unmounts <dir>/rootfs (if mounted) and removes the whole bundle directory. Missing
 * directory is 0. */
int bundle_remove(const char *dir, struct bosun_err *err);

#endif
