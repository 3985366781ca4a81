/* alloc — ClusterIP and NodePort allocation for Services, as kube-apiserver does it.
 *
 * In-memory sets rebuilt from the store when reconcilerd starts (every Service's
 * spec.clusterIP(s) and ports[].nodePort are claimed again), so nothing extra is
 * persisted. The network and broadcast addresses of --service-cidr are never handed
 * out. Thread-safe. */
#ifndef BOSUN_API_ALLOC_H
#define BOSUN_API_ALLOC_H

#include <stddef.h>

#include "lib/err.h"

struct api_alloc;

/* cidr: "10.96.0.0/16" (prefix 8..30); ports: "30000-32767". */
int api_alloc_new(const char *cidr, const char *ports, struct api_alloc **out,
                  struct bosun_err *err);
void api_alloc_free(struct api_alloc *a);

/* Claims a specific IP. -EEXIST when taken, -ERANGE when outside the range (or the
 * network/broadcast address), -EINVAL when not an IPv4 address. */
int api_alloc_ip_claim(struct api_alloc *a, const char *ip);
/* Allocates the next free IP into buf (>= 16 bytes). -ENOSPC when full. */
int api_alloc_ip_next(struct api_alloc *a, char *buf, size_t len);
void api_alloc_ip_release(struct api_alloc *a, const char *ip);

int api_alloc_port_claim(struct api_alloc *a, int port);
int api_alloc_port_next(struct api_alloc *a, int *port);
void api_alloc_port_release(struct api_alloc *a, int port);

/* Human-readable ranges for messages: "10.96.0.0/16", "30000-32767". */
const char *api_alloc_cidr(const struct api_alloc *a);
const char *api_alloc_ports(const struct api_alloc *a);

#endif
