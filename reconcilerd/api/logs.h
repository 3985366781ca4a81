/* logs — the pods/log subresource, proxied to the nodeagent that runs the pod:
 *   GET http://<node InternalIP>:<daemonEndpoints.kubeletEndpoint.Port>/containerLogs/
 *       {ns}/{pod}/{container}?follow=&tailLines=&previous=
 * A plain request is answered with the node's bytes (text/plain); `follow=true` streams
 * them through line by line on a thread of its own until either side ends. A node that
 * cannot be reached is a 503 Status naming the address. */
#ifndef BOSUN_API_LOGS_H
#define BOSUN_API_LOGS_H

#include "reconcilerd/api/context.h"

void api_logs_serve(struct api_req *r);

#endif
