/* alloc — ClusterIP and NodePort allocation for Services, as kube-apiserver does it.
 *
 * The network and broadcast addresses of --service-cidr are never handed out. Two modes:
 *
 *  - Private (store NULL; the file store, which one reconcilerd owns): in-memory sets,
 *    rebuilt from the Services when reconcilerd starts, nothing extra persisted.
 *  - Shared (a store several reconcilerd replicas write, i.e. etcd): every IP and port
 *    handed out is also a *claim* in the store, made with create-only semantics, so the
 *    store decides who gets it and two replicas can never hand out the same one — the
 *    per-address objects of Kubernetes' newer allocator (networking.k8s.io IPAddress)
 *    rather than its older single bitmap object. Keys: "/ranges/serviceips/<ip>" and
 *    "/ranges/servicenodeports/<port>"; the value names the owning Service by uid
 *    ({"kind":"ServiceIPClaim"|"ServiceNodePortClaim","metadata":{"name":…,
 *    "creationTimestamp":…},"uid":…,"service":"<ns>/<name>"}; the uid is what counts:
 *    it survives a generateName retry and tells a recreated Service from the old one).
 *    The in-memory set is then only a
 *    hint of what is taken (where to look for a free one); api_alloc_sync refreshes it
 *    and repairs claims left behind by a replica that died between its claim and its
 *    Service write.
 *
 * Thread-safe. In shared mode each call
 * is one or a few store round trips; store failures come back as their code with err
 * set. */
#ifndef BOSUN_API_ALLOC_H
#define BOSUN_API_ALLOC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "reconcilerd/store/store.h"

struct api_alloc;

/* The Service an allocation is for (both borrowed for the call). */
struct api_alloc_owner {
    const char *uid;     /* metadata.uid: the claim's owner */
    const char *service; /* "<ns>/<name>", for people reading the claims and logs */
};

/* cidr: "10.96.0.0/16" (prefix 8..30); ports: "30000-32767". shared: the store the
 * claims live in (borrowed, must outlive the allocator), or NULL for private mode. */
int api_alloc_new(const char *cidr, const char *ports, struct store *shared,
                  struct api_alloc **out, struct bosun_err *err);
void api_alloc_free(struct api_alloc *a);

/* Claims a specific IP for owner. -EEXIST when it is taken, -ERANGE when outside the
 * range (or the network/broadcast address), -EINVAL when not an IPv4 address, or a store
 * error. */
int api_alloc_ip_claim(struct api_alloc *a, const char *ip,
                       const struct api_alloc_owner *owner, struct bosun_err *err);
/* Allocates the next free IP for owner into buf (>= 16 bytes). -ENOSPC when full, or a
 * store error. */
int api_alloc_ip_next(struct api_alloc *a, const struct api_alloc_owner *owner, char *buf,
                      size_t len, struct bosun_err *err);
/* Gives ip back (shared: only if the claim is owner's, by uid). A store failure is logged
 * and left to api_alloc_sync. */
void api_alloc_ip_release(struct api_alloc *a, const char *ip,
                          const struct api_alloc_owner *owner);

/* The same for node ports. */
int api_alloc_port_claim(struct api_alloc *a, int port, const struct api_alloc_owner *owner,
                         struct bosun_err *err);
int api_alloc_port_next(struct api_alloc *a, const struct api_alloc_owner *owner, int *port,
                        struct bosun_err *err);
void api_alloc_port_release(struct api_alloc *a, int port, const struct api_alloc_owner *owner);

/* Brings the allocator in line with what the Services use: used_ips maps "<ip>" and
 * used_ports maps "<port>" (decimal) to {"uid": …, "service": "<ns>/<name>"} of the
 * Service using it (both borrowed).
 * Private mode: marks them taken (call once, at start, before serving: allocations in
 * flight are not in the maps).
 * Shared mode (safe at any time, on any replica): creates the claims that are missing
 * (Services written before claims existed), logs a value whose claim names another
 * Service than the one using it, deletes claims
 * no Service uses that are older than grace_s (a younger one may belong to a create still
 * in flight), and rebuilds the hint from the claims. */
int api_alloc_sync(struct api_alloc *a, const json_t *used_ips, const json_t *used_ports,
                   int64_t grace_s, struct bosun_err *err);

/* Human-readable ranges for messages: "10.96.0.0/16", "30000-32767". */
const char *api_alloc_cidr(const struct api_alloc *a);
const char *api_alloc_ports(const struct api_alloc *a);

#endif
