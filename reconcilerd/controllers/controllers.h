/* controllers — the reconcile loops that run inside reconcilerd: Deployment →
 * ReplicaSet → Pods, Endpoints, node IPAM (podCIDR) and node lifecycle (NotReady after
 * --node-monitor-grace without a heartbeat). ClusterIP and NodePort are allocated by the
 * API itself when a Service is created, as kube-apiserver does.
 *
 * They are API clients like every other component (informers over the HTTP API of the
 * reconcilerd they run in), so they behave the same whichever store backend is used. */
#ifndef BOSUN_CONTROLLERS_H
#define BOSUN_CONTROLLERS_H

#include <stdint.h>

#include "lib/err.h"

struct controllers;

struct controllers_opts {
    const char *server;           /* "http://127.0.0.1:6443" — this reconcilerd */
    const char *token;            /* bearer token for the controllers' identity, or NULL */
    const char *ca_file;          /* PEM file to verify an https server with, or NULL */
    const char *cluster_cidr;     /* "10.244.0.0/16" */
    int node_cidr_mask;           /* 24 */
    int64_t node_monitor_grace_ms;    /* 40000 */
};

int controllers_start(const struct controllers_opts *opts, struct controllers **out,
                      struct bosun_err *err);
/* Stops every loop; NULL allowed. */
void controllers_stop(struct controllers *c);

#endif
