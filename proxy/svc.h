/* svc — turns the cached Services and Endpoints into the forwarder's route table.
 *
 * Pure: no I/O, so it is unit-tested on JSON fixtures. */
#ifndef BOSUN_PROXY_SVC_H
#define BOSUN_PROXY_SVC_H

#include <jansson.h>
#include <stddef.h>

#include "lib/err.h"
#include "proxy/fwd.h"

/* For every TCP port with a nodePort of every Service in services (a JSON array, borrowed)
 * one route named "<ns>/<name>:<port name or number>", listening on the nodePort, whose
 * backends are the ready addresses (subsets[].addresses[].ip) of the Endpoints object of
 * the same namespace and name, at the endpoint port whose name matches the service port's
 * name (a single unnamed port matches an unnamed service port). Backends are sorted (ip,
 * port) so that an unchanged set compares equal. Routes are sorted by port; a nodePort
 * claimed twice goes to the first service by namespace/name.
 * *out (caller frees with proxy_routes_free) and *n are written on success. */
int proxy_routes_build(const json_t *services, const json_t *endpoints, struct proxy_route **out,
                       size_t *n, struct bosun_err *err);

#endif
