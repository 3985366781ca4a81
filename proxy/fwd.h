/* fwd — the userspace TCP datapath: NodePort listeners that forward connections round
 * robin to backends, on a lib/loop event loop.
 *
 * A route is "listen on port P (on every configured address) and forward to these
 * backends". proxy_fwd_apply() makes the listeners match a full table of routes
 * (level-triggered: call it with the whole desired state whenever anything changed):
 * new ports are opened, vanished ones closed, and backend sets replaced. A connection
 * keeps the backend it was connected to for its whole life, so changing or removing a
 * route never drops a live connection; only new connections see the new set.
 *
 * Per connection: a non-blocking connect to the next backend in round-robin order (a
 * backend that refuses or does not answer within the connect timeout is skipped, the
 * next one tried, each at most once); then a buffered copy both ways with back-pressure
 * (a side is not read while the buffer towards the other side is full); a half-close
 * (EOF from one side) is passed on with shutdown(SHUT_WR) once its buffer drained; the
 * connection ends when both directions ended or on any error (reset, EPIPE).
 *
 * All functions except proxy_fwd_stats run on the loop's thread (or while it is not
 * running). */
#ifndef BOSUN_PROXY_FWD_H
#define BOSUN_PROXY_FWD_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/loop.h"

struct proxy_backend {
    char ip[64]; /* IPv4 or IPv6 literal */
    int port;
};

struct proxy_route {
    char *name;                     /* "demo/web:http" for logs (owned) */
    int port;                       /* the nodePort to listen on */
    struct proxy_backend *backends; /* owned, n entries, in a stable order */
    size_t n;
};

struct proxy_fwd_opts {
    const char *listen_addrs;    /* comma-separated IP literals ["0.0.0.0"] */
    size_t max_conns;            /* concurrent proxied connections [10000] */
    size_t buf_size;             /* bytes buffered per direction per connection [64 KiB] */
    int64_t connect_timeout_ms;  /* per backend attempt [3000] */
};

struct proxy_fwd_stats {
    uint64_t accepted;         /* connections accepted */
    uint64_t active;           /* connections open now */
    uint64_t connect_failures; /* backend attempts that failed (refused, timeout) */
    uint64_t no_backend;       /* connections closed because no backend answered */
    uint64_t listeners;        /* listening sockets open now */
};

struct proxy_fwd;

/* loop is borrowed and must outlive the forwarder. opts may be NULL (defaults). The
 * forwarder installs the loop's before-sleep hook (to reap closed connections). */
int proxy_fwd_new(struct loop *loop, const struct proxy_fwd_opts *opts, struct proxy_fwd **out,
                  struct bosun_err *err);

/* Closes every listener and connection and frees. The loop must not be running or this
 * must run on the loop thread outside any forwarder callback. NULL allowed. */
void proxy_fwd_free(struct proxy_fwd *fwd);

/* Makes the listeners match routes (borrowed; copied). Ports that cannot be bound (in
 * use, permission) are skipped and retried on the next apply. Returns 0, or the first
 * bind failure (negative) with err naming the route and address; the other routes are
 * applied all the same. */
int proxy_fwd_apply(struct proxy_fwd *fwd, const struct proxy_route *routes, size_t n,
                    struct bosun_err *err);

/* Thread-safe snapshot of the counters. */
void proxy_fwd_stats(const struct proxy_fwd *fwd, struct proxy_fwd_stats *out);

/* Frees the contents of routes[0..n-1] and the array. NULL allowed. */
void proxy_routes_free(struct proxy_route *routes, size_t n);

#endif
