#include "proxy/fwd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/log.h"

#define FWD_MAX_ADDRS 8
#define FWD_ACCEPT_BURST 64

/* A backend set shared by a listener and the connections still trying it. */
struct backends {
    int refs;
    size_t n;
    struct proxy_backend *v;
};

struct listener {
    struct proxy_fwd *fwd;
    char *name;
    char addr[64];
    int port;
    int fd;
    struct loop_watch *w;
    struct backends *be;
    uint64_t rr;
    bool seen; /* mark for apply */
    struct listener *next;
};

struct buf {
    char *data;
    size_t start, end;
};

enum conn_state { CONN_CONNECTING, CONN_OPEN };

struct conn;
struct conn_end {
    struct conn *c;
    int side; /* 0 = client, 1 = backend */
};

struct conn {
    struct proxy_fwd *fwd;
    enum conn_state state;
    int fd[2];
    struct loop_watch *w[2];
    struct conn_end end[2];
    struct buf toward[2]; /* toward[s]: bytes waiting to be written to side s */
    bool eof[2];          /* side s sent EOF */
    bool shut[2];         /* we shut down writing to side s */
    bool dead;
    struct backends *be;
    size_t start, tries;
    int64_t timer;
    char listener_name[128];
    struct conn *next, *prev; /* live list */
    struct conn *reap_next;
};

struct proxy_fwd {
    struct loop *loop;
    char addrs[FWD_MAX_ADDRS][64];
    size_t n_addrs;
    size_t max_conns;
    size_t buf_size;
    int64_t connect_timeout_ms;
    struct listener *listeners;
    struct conn *conns;
    struct conn *reap;
    atomic_ullong accepted, active, connect_failures, no_backend, n_listeners;
};

/* ---- backend sets ---------------------------------------------------------------- */

static struct backends *backends_new(const struct proxy_backend *v, size_t n)
{
    struct backends *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->refs = 1;
    if (n) {
        b->v = calloc(n, sizeof(*b->v));
        if (!b->v) {
            free(b);
            return NULL;
        }
        memcpy(b->v, v, n * sizeof(*v));
    }
    b->n = n;
    return b;
}

static void backends_unref(struct backends *b)
{
    if (b && --b->refs == 0) {
        free(b->v);
        free(b);
    }
}

static bool backends_equal(const struct backends *b, const struct proxy_backend *v, size_t n)
{
    if (b->n != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (b->v[i].port != v[i].port || strcmp(b->v[i].ip, v[i].ip) != 0)
            return false;
    }
    return true;
}

static int make_sockaddr(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *len = sizeof(*s4);
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*s6);
        return 0;
    }
    return -EINVAL;
}

/* ---- connections ----------------------------------------------------------------- */

static void conn_kill(struct conn *c)
{
    if (c->dead)
        return;
    struct proxy_fwd *fwd = c->fwd;
    c->dead = true;
    for (int s = 0; s < 2; s++) {
        loop_unwatch(fwd->loop, c->w[s]);
        c->w[s] = NULL;
        if (c->fd[s] >= 0)
            close(c->fd[s]);
        c->fd[s] = -1;
    }
    if (c->timer > 0)
        loop_timer_cancel(fwd->loop, c->timer);
    c->timer = 0;
    if (c->prev)
        c->prev->next = c->next;
    else
        fwd->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    c->reap_next = fwd->reap;
    fwd->reap = c;
    atomic_fetch_sub(&fwd->active, 1);
}

static void conn_free(struct conn *c)
{
    backends_unref(c->be);
    free(c->toward[0].data);
    free(c->toward[1].data);
    free(c);
}

static void reap(struct loop *l, void *userdata)
{
    (void)l;
    struct proxy_fwd *fwd = userdata;
    while (fwd->reap) {
        struct conn *c = fwd->reap;
        fwd->reap = c->reap_next;
        conn_free(c);
    }
}

static void conn_update(struct conn *c);
static void conn_try_next(struct conn *c);

/* Reads side s into the buffer toward the other side. */
static int conn_read(struct conn *c, int s)
{
    struct buf *b = &c->toward[!s];
    size_t cap = c->fwd->buf_size;
    while (!c->eof[s]) {
        if (b->end == cap && b->start > 0) {
            memmove(b->data, b->data + b->start, b->end - b->start);
            b->end -= b->start;
            b->start = 0;
        }
        if (b->end == cap)
            return 0; /* full: back-pressure */
        ssize_t n = recv(c->fd[s], b->data + b->end, cap - b->end, 0);
        if (n > 0) {
            b->end += (size_t)n;
            continue;
        }
        if (n == 0) {
            c->eof[s] = true;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -errno;
    }
    return 0;
}

/* Writes what waits for side s. */
static int conn_write(struct conn *c, int s)
{
    struct buf *b = &c->toward[s];
    while (b->start < b->end) {
        ssize_t n = send(c->fd[s], b->data + b->start, b->end - b->start, MSG_NOSIGNAL);
        if (n > 0) {
            b->start += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return n < 0 ? -errno : -EIO;
    }
    b->start = b->end = 0;
    return 0;
}

/* Passes on half-closes, ends the connection when both directions are done, and
 * recomputes the events each side waits for. */
static void conn_update(struct conn *c)
{
    if (c->dead || c->state != CONN_OPEN)
        return;
    for (int s = 0; s < 2; s++) {
        /* side s sent EOF and everything it sent reached the other side */
        struct buf *b = &c->toward[!s];
        if (c->eof[s] && b->start == b->end && !c->shut[!s]) {
            if (shutdown(c->fd[!s], SHUT_WR) < 0 && errno != ENOTCONN) {
                conn_kill(c);
                return;
            }
            c->shut[!s] = true;
        }
    }
    if (c->shut[0] && c->shut[1]) {
        conn_kill(c);
        return;
    }
    size_t cap = c->fwd->buf_size;
    for (int s = 0; s < 2; s++) {
        uint32_t ev = 0;
        const struct buf *in = &c->toward[!s];
        if (!c->eof[s] && (in->end < cap || in->start > 0))
            ev |= EPOLLIN;
        if (c->toward[s].start < c->toward[s].end)
            ev |= EPOLLOUT;
        if (loop_watch_set(c->fwd->loop, c->w[s], ev) < 0) {
            conn_kill(c);
            return;
        }
    }
}

static void conn_io(struct loop *l, int fd, uint32_t events, void *userdata)
{
    (void)l;
    (void)fd;
    struct conn_end *e = userdata;
    struct conn *c = e->c;
    int s = e->side;
    if (c->dead)
        return;
    if (c->state == CONN_CONNECTING) {
        /* only the client side can fire while connecting (with events 0: hang-up) */
        if (s == 0) {
            conn_kill(c);
            return;
        }
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            soerr = errno;
        if (soerr != 0) {
            log_debug("%s: backend %s:%d: %s", c->listener_name,
                      c->be->v[(c->start + c->tries - 1) % c->be->n].ip,
                      c->be->v[(c->start + c->tries - 1) % c->be->n].port, strerror(soerr));
            atomic_fetch_add(&c->fwd->connect_failures, 1);
            conn_try_next(c);
            return;
        }
        if (c->timer > 0)
            loop_timer_cancel(c->fwd->loop, c->timer);
        c->timer = 0;
        c->state = CONN_OPEN;
        conn_update(c);
        return;
    }
    if (events & EPOLLERR) {
        conn_kill(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP)) {
        if (conn_read(c, s) < 0) {
            conn_kill(c);
            return;
        }
        /* forward at once rather than waiting for the next EPOLLOUT round trip */
        if (conn_write(c, !s) < 0) {
            conn_kill(c);
            return;
        }
    }
    if (events & EPOLLOUT) {
        if (conn_write(c, s) < 0) {
            conn_kill(c);
            return;
        }
    }
    conn_update(c);
}

static void conn_connect_timeout(struct loop *l, void *userdata)
{
    (void)l;
    struct conn *c = userdata;
    c->timer = 0;
    if (c->dead || c->state != CONN_CONNECTING)
        return;
    log_debug("%s: backend connect timed out", c->listener_name);
    atomic_fetch_add(&c->fwd->connect_failures, 1);
    conn_try_next(c);
}

/* Drops the current backend attempt (if any) and starts the next one; kills the
 * connection when every backend was tried. */
static void conn_try_next(struct conn *c)
{
    struct proxy_fwd *fwd = c->fwd;
    if (c->w[1]) {
        loop_unwatch(fwd->loop, c->w[1]);
        c->w[1] = NULL;
    }
    if (c->fd[1] >= 0) {
        close(c->fd[1]);
        c->fd[1] = -1;
    }
    if (c->timer > 0)
        loop_timer_cancel(fwd->loop, c->timer);
    c->timer = 0;
    while (c->tries < c->be->n) {
        const struct proxy_backend *b = &c->be->v[(c->start + c->tries) % c->be->n];
        c->tries++;
        struct sockaddr_storage ss;
        socklen_t len;
        if (make_sockaddr(b->ip, b->port, &ss, &len) < 0) {
            atomic_fetch_add(&fwd->connect_failures, 1);
            continue;
        }
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        int r = connect(fd, (struct sockaddr *)&ss, len);
        if (r < 0 && errno != EINPROGRESS) {
            log_debug("%s: backend %s:%d: %s", c->listener_name, b->ip, b->port,
                      strerror(errno));
            atomic_fetch_add(&fwd->connect_failures, 1);
            close(fd);
            continue;
        }
        c->fd[1] = fd;
        c->w[1] = loop_watch(fwd->loop, fd, r == 0 ? 0 : EPOLLOUT, conn_io, &c->end[1], NULL);
        if (!c->w[1])
            break;
        if (r == 0) {
            c->state = CONN_OPEN;
            conn_update(c);
            return;
        }
        c->state = CONN_CONNECTING;
        int64_t t = loop_timer(fwd->loop, fwd->connect_timeout_ms, conn_connect_timeout, c);
        c->timer = t > 0 ? t : 0;
        return;
    }
    atomic_fetch_add(&fwd->no_backend, 1);
    log_debug("%s: no backend accepted the connection", c->listener_name);
    conn_kill(c);
}

static void conn_start(struct listener *li, int cfd)
{
    struct proxy_fwd *fwd = li->fwd;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(cfd);
        return;
    }
    c->fwd = fwd;
    c->fd[0] = cfd;
    c->fd[1] = -1;
    c->end[0] = (struct conn_end){c, 0};
    c->end[1] = (struct conn_end){c, 1};
    c->toward[0].data = malloc(fwd->buf_size);
    c->toward[1].data = malloc(fwd->buf_size);
    snprintf(c->listener_name, sizeof(c->listener_name), "%s", li->name);
    if (!c->toward[0].data || !c->toward[1].data) {
        close(cfd);
        conn_free(c);
        return;
    }
    c->be = li->be;
    c->be->refs++;
    c->start = c->be->n ? (size_t)(li->rr++ % c->be->n) : 0;
    /* events 0 while connecting: only hang-ups and errors of the client are reported */
    c->w[0] = loop_watch(fwd->loop, cfd, 0, conn_io, &c->end[0], NULL);
    if (!c->w[0]) {
        close(cfd);
        conn_free(c);
        return;
    }
    c->state = CONN_CONNECTING;
    c->next = fwd->conns;
    if (fwd->conns)
        fwd->conns->prev = c;
    fwd->conns = c;
    atomic_fetch_add(&fwd->active, 1);
    atomic_fetch_add(&fwd->accepted, 1);
    conn_try_next(c);
}

/* ---- listeners ------------------------------------------------------------------- */

static void listener_accept(struct loop *l, int fd, uint32_t events, void *userdata)
{
    (void)l;
    (void)events;
    struct listener *li = userdata;
    for (int i = 0; i < FWD_ACCEPT_BURST; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return; /* EAGAIN, or EMFILE and friends: try again on the next event */
        }
        if (atomic_load(&li->fwd->active) >= li->fwd->max_conns) {
            log_debug("%s: connection limit reached, refusing", li->name);
            close(cfd);
            continue;
        }
        conn_start(li, cfd);
    }
}

static void listener_close(struct proxy_fwd *fwd, struct listener *li)
{
    loop_unwatch(fwd->loop, li->w);
    if (li->fd >= 0) {
        close(li->fd);
        atomic_fetch_sub(&fwd->n_listeners, 1);
    }
    backends_unref(li->be);
    free(li->name);
    free(li);
}

static int listener_open(struct proxy_fwd *fwd, const char *addr, const struct proxy_route *rt,
                         struct listener **out, struct bosun_err *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (make_sockaddr(addr, rt->port, &ss, &len) < 0)
        return err_set(err, -EINVAL, "%s: bad listen address %s", rt->name, addr);
    struct listener *li = calloc(1, sizeof(*li));
    if (!li)
        return err_set(err, -ENOMEM, "out of memory");
    li->fwd = fwd;
    li->fd = -1;
    li->port = rt->port;
    snprintf(li->addr, sizeof(li->addr), "%s", addr);
    li->name = strdup(rt->name ? rt->name : "");
    li->be = backends_new(rt->backends, rt->n);
    int r;
    if (!li->name || !li->be) {
        r = err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        r = err_errno(err, -errno, "%s: socket", rt->name);
        goto fail;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 511) < 0) {
        r = err_errno(err, -errno, "%s: listen on %s:%d", rt->name, addr, rt->port);
        close(fd);
        goto fail;
    }
    li->fd = fd;
    atomic_fetch_add(&fwd->n_listeners, 1);
    li->w = loop_watch(fwd->loop, fd, EPOLLIN, listener_accept, li, err);
    if (!li->w) {
        r = err_wrap(err, "%s", rt->name);
        goto fail;
    }
    *out = li;
    return 0;
fail:
    listener_close(fwd, li);
    return r;
}

int proxy_fwd_apply(struct proxy_fwd *fwd, const struct proxy_route *routes, size_t n,
                    struct bosun_err *err)
{
    int first = 0;
    for (struct listener *li = fwd->listeners; li; li = li->next)
        li->seen = false;
    for (size_t i = 0; i < n; i++) {
        const struct proxy_route *rt = &routes[i];
        for (size_t a = 0; a < fwd->n_addrs; a++) {
            struct listener *li = fwd->listeners;
            while (li && !(li->port == rt->port && strcmp(li->addr, fwd->addrs[a]) == 0))
                li = li->next;
            if (li) {
                if (li->seen)
                    continue; /* two routes on one port: the first wins */
                li->seen = true;
                if (!backends_equal(li->be, rt->backends, rt->n)) {
                    struct backends *nb = backends_new(rt->backends, rt->n);
                    if (nb) {
                        backends_unref(li->be);
                        li->be = nb;
                        log_info("%s: port %d now has %zu backend(s)", rt->name,
                                 rt->port, rt->n);
                    }
                }
                if (strcmp(li->name, rt->name ? rt->name : "") != 0) {
                    char *nn = strdup(rt->name ? rt->name : "");
                    if (nn) {
                        free(li->name);
                        li->name = nn;
                    }
                }
                continue;
            }
            struct bosun_err e = {0};
            int r = listener_open(fwd, fwd->addrs[a], rt, &li, &e);
            if (r < 0) {
                if (!first) {
                    first = r;
                    err_set(err, r, "%s", e.msg);
                }
                continue;
            }
            li->seen = true;
            li->next = fwd->listeners;
            fwd->listeners = li;
            log_info("%s: listening on %s:%d with %zu backend(s)", rt->name,
                     fwd->addrs[a], rt->port, rt->n);
        }
    }
    for (struct listener **pp = &fwd->listeners; *pp;) {
        struct listener *li = *pp;
        if (li->seen) {
            pp = &li->next;
            continue;
        }
        *pp = li->next;
        log_info("%s: closing %s:%d", li->name, li->addr, li->port);
        listener_close(fwd, li);
    }
    return first;
}

/* ---- lifecycle ------------------------------------------------------------------- */

int proxy_fwd_new(struct loop *loop, const struct proxy_fwd_opts *opts, struct proxy_fwd **out,
                  struct bosun_err *err)
{
    struct proxy_fwd *fwd = calloc(1, sizeof(*fwd));
    if (!fwd)
        return err_set(err, -ENOMEM, "proxy: out of memory");
    fwd->loop = loop;
    fwd->max_conns = opts && opts->max_conns ? opts->max_conns : 10000;
    fwd->buf_size = opts && opts->buf_size ? opts->buf_size : 64 * 1024;
    fwd->connect_timeout_ms =
        opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 3000;
    const char *addrs = opts && opts->listen_addrs && *opts->listen_addrs ? opts->listen_addrs
                                                                          : "0.0.0.0";
    const char *p = addrs;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len) {
            struct sockaddr_storage ss;
            socklen_t sl;
            char ip[64];
            if (len >= sizeof(ip) || fwd->n_addrs == FWD_MAX_ADDRS) {
                free(fwd);
                return err_set(err, -EINVAL, "proxy: bad --nodeport-addresses: %s", addrs);
            }
            memcpy(ip, p, len);
            ip[len] = '\0';
            if (make_sockaddr(ip, 0, &ss, &sl) < 0) {
                free(fwd);
                return err_set(err, -EINVAL, "proxy: not an IP address: %s", ip);
            }
            snprintf(fwd->addrs[fwd->n_addrs++], sizeof(fwd->addrs[0]), "%s", ip);
        }
        p += len;
        if (*p == ',')
            p++;
    }
    if (fwd->n_addrs == 0) {
        free(fwd);
        return err_set(err, -EINVAL, "proxy: no listen address in %s", addrs);
    }
    loop_set_before_sleep(loop, reap, fwd);
    *out = fwd;
    return 0;
}

void proxy_fwd_free(struct proxy_fwd *fwd)
{
    if (!fwd)
        return;
    while (fwd->conns)
        conn_kill(fwd->conns);
    reap(fwd->loop, fwd);
    while (fwd->listeners) {
        struct listener *li = fwd->listeners;
        fwd->listeners = li->next;
        listener_close(fwd, li);
    }
    loop_set_before_sleep(fwd->loop, NULL, NULL);
    free(fwd);
}

void proxy_fwd_stats(const struct proxy_fwd *fwd, struct proxy_fwd_stats *out)
{
    struct proxy_fwd *f = (struct proxy_fwd *)fwd;
    out->accepted = atomic_load(&f->accepted);
    out->active = atomic_load(&f->active);
    out->connect_failures = atomic_load(&f->connect_failures);
    out->no_backend = atomic_load(&f->no_backend);
    out->listeners = atomic_load(&f->n_listeners);
}

void proxy_routes_free(struct proxy_route *routes, size_t n)
{
    if (!routes)
        return;
    for (size_t i = 0; i < n; i++) {
        free(routes[i].name);
        free(routes[i].backends);
    }
    free(routes);
}
