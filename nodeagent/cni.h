/* cni — pod networking: a network namespace per pod and the CNI `bridge` plugin with
 * `host-local` IPAM on the node's podCIDR (plus the `loopback` plugin for lo).
 *
 * Namespaces are made the way `ip netns add` makes them (a bind mount of the namespace
 * on /var/run/netns/<name>), by running ip(8). IP allocations live under
 * <root-dir>/cni/ipam (host-local's dataDir), keyed by the container id given to
 * cni_add; cni_del with the same id frees the address. The bridge plugin creates the
 * bridge on first use; cni_bridge_exists/cni_bridge_delete let the agent remove it again
 * when it was the one that created it. */
#ifndef BOSUN_NODEAGENT_CNI_H
#define BOSUN_NODEAGENT_CNI_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>

#include "lib/err.h"

#define CNI_NETNS_DIR "/var/run/netns"

struct cni {
    char bin_dir[PATH_MAX];  /* /usr/lib/cni */
    char bridge[16];         /* bosun0 */
    char subnet[64];         /* the podCIDR, "10.244.3.0/24"; "" when not known yet */
    char data_dir[PATH_MAX]; /* <root>/cni/ipam */
};

/* Fills c; subnet may be NULL or "" (then cni_add fails with -EAGAIN until set).
 * -EINVAL when the bridge name is not a valid interface name. */
int cni_init(struct cni *c, const char *bin_dir, const char *bridge, const char *subnet,
             const char *root_dir, struct bosun_err *err);

/* The bridge plugin's network configuration (new reference). Pure. */
json_t *cni_bridge_config(const struct cni *c);

/* Creates /var/run/netns/<name> (-EEXIST if it is there). */
int cni_netns_add(const char *name, struct bosun_err *err);
/* Removes it; a missing namespace is 0. */
int cni_netns_del(const char *name, struct bosun_err *err);
/* 1 if /var/run/netns/<name> exists. */
int cni_netns_exists(const char *name);

/* ADD: lo up, then eth0 on the bridge with an address from the podCIDR. Writes the
 * address (without prefix length) into ip. On failure nothing stays allocated. */
int cni_add(const struct cni *c, const char *id, const char *netns_name, char *ip, size_t iplen,
            struct bosun_err *err);
/* DEL: removes eth0's veth and frees the address. Idempotent. */
int cni_del(const struct cni *c, const char *id, const char *netns_name, struct bosun_err *err);

int cni_bridge_exists(const char *bridge);
int cni_bridge_delete(const char *bridge, struct bosun_err *err);

#endif
