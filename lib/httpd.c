/* httpd — libmicrohttpd wrapper: whole-body requests, plain replies and chunked streams.
 *
 * Streams and suspension. A stream's content reader hands MHD one queued write per call
 * (so every write leaves as its own HTTP chunk). With nothing queued it suspends the
 * connection instead of returning 0, which MHD would call again at once (a busy loop);
 * httpd_stream_write/close resume it. A suspended connection is invisible to MHD, which
 * therefore cannot notice a client that went away, so while suspended the connection's
 * socket sits in a private epoll set watched for EPOLLRDHUP by one "hangup" thread per
 * server: on a hangup it resumes the connection and the reader ends it with an error.
 *
 * Lifetime. A stream is shared by the producer, MHD (the response's free callback) and
 * the hangup thread. MHD's share ends in the free callback, which runs on_closed exactly
 * once and unlinks the stream from the server; the producer promised not to touch the
 * stream after on_closed; the hangup thread never keeps a pointer across an unlock and
 * finds streams by id. A suspended connection is never freed by MHD, so whoever flips
 * `suspended` off under the stream lock may resume it after unlocking.
 *
 * TLS (GnuTLS inside MHD) changes nothing above: the fd is still the TCP socket, and the
 * hangup set asks for EPOLLRDHUP only (the kernel adds EPOLLHUP/EPOLLERR), which report
 * the peer's FIN or a reset, never data. That matters with TLS: a parked client may send
 * TLS records (a close_notify alert, a TLS 1.3 KeyUpdate) that are readable bytes but
 * not a hangup, and a recv(MSG_PEEK) could not tell them from HTTP data without
 * decrypting; watching EPOLLIN would also spin while such bytes sit unread. A client that
 * sends close_notify and then closes is seen by its FIN. */
#include "lib/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/hex.h"
#include "lib/jsonx.h"
#include "lib/log.h"

#define HTTPD_STREAM_QUEUE_MAX (8u * 1024 * 1024)
/* Past this many discarded bytes of an oversized body the connection is dropped rather
 * than drained: draining is what lets the client read the 413, dropping bounds the work. */
#define HTTPD_DRAIN_MAX (64u * 1024 * 1024)

struct hdr {
    char *name;
    char *value;
    struct hdr *next;
};

struct qparam {
    char *key;
    char *value;
};

struct httpd_req {
    struct httpd *srv;
    struct MHD_Connection *conn;
    char *method;
    char *raw_uri;   /* as received: path?query */
    char *path;      /* percent-decoded */
    const char *raw_query;
    struct qparam *params;
    size_t nparams;
    bool params_parsed;
    char *body;
    size_t body_len;
    size_t body_cap;
    size_t discarded;
    bool too_large;
    bool started;    /* the first access-handler call happened */
    bool answered;
    struct hdr *headers; /* response headers to add */
    /* httpd_later, under srv->later_mu: */
    httpd_handler_fn later_fn;
    void *later_ud;
    bool later_ready;  /* httpd_later_ready was called for the current wait */
    bool later_parked; /* suspended until httpd_later_ready */
    bool later_waited; /* counted in srv->nparked until its continuation runs */
};

struct chunk {
    struct chunk *next;
    size_t len;
    size_t off;
    char data[];
};

struct httpd_stream {
    pthread_mutex_t mu;
    struct httpd *srv;
    struct MHD_Connection *conn;
    int fd;
    uint64_t id;
    struct chunk *head, *tail;
    size_t queued;
    bool suspended;  /* parked by the reader; whoever clears it resumes the connection */
    bool in_epoll;   /* fd is in srv->hup_ep */
    bool closing;    /* producer asked to end after the queue drains */
    bool peer_gone;  /* hangup seen: end with an error */
    bool gone;       /* MHD released the stream: writes get -EPIPE */
    bool started;    /* queued as a response; on_closed is owed */
    httpd_stream_closed_fn on_closed;
    void *userdata;
    struct httpd_stream *prev, *next; /* srv->streams, under srv->mu */
};

struct httpd {
    struct MHD_Daemon *d;
    httpd_handler_fn handler;
    void *userdata;
    size_t max_body;
    int port;
    pthread_mutex_t mu; /* streams list, next_id, stopping */
    struct httpd_stream *streams;
    uint64_t next_id;
    bool stopping;
    int hup_ep;
    int hup_wake; /* eventfd that ends the hangup thread */
    pthread_t hup_thread;
    bool hup_started;
    /* Requests parked by httpd_later whose continuation has not run yet: a suspended
     * connection must be resumed before MHD_stop_daemon, so httpd_stop waits for nparked
     * to reach 0 (the answers are then queued; whether they leave before the connections
     * close is up to MHD, as for any request in flight at stop). */
    pthread_mutex_t later_mu;
    pthread_cond_t later_cv;
    size_t nparked;
    bool later_stopping; /* no new parking: waits happen on the worker instead */
    char *tls_cert; /* copies of the PEM given to httpd_start, or NULL for plain HTTP */
    char *tls_key;
};

/* ---- query and path decoding ------------------------------------------------------- */

/* Decodes n bytes of src into dst (room for n+1): %XX always, '+' only when plus_space.
 * A '%' not followed by two hex digits is kept literally, as browsers and Go do. */
static size_t pct_decode(char *dst, const char *src, size_t n, bool plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%' && i + 2 < n) {
            int hi = hex_digit((unsigned char)src[i + 1]);
            int lo = hex_digit((unsigned char)src[i + 2]);
            if (hi >= 0 && lo >= 0) {
                dst[o++] = (char)(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        dst[o++] = (plus_space && c == '+') ? ' ' : c;
    }
    dst[o] = '\0';
    return o;
}

int httpd_query_decode(const char *raw, size_t len, httpd_query_fn fn, void *userdata)
{
    size_t i = 0;
    while (i <= len) {
        size_t end = i;
        while (end < len && raw[end] != '&' && raw[end] != ';')
            end++;
        if (end > i) {
            size_t eq = i;
            while (eq < end && raw[eq] != '=')
                eq++;
            size_t klen = eq - i;
            size_t vlen = eq < end ? end - eq - 1 : 0;
            char *k = malloc(klen + 1);
            char *v = malloc(vlen + 1);
            if (!k || !v) {
                free(k);
                free(v);
                return -ENOMEM;
            }
            size_t kd = pct_decode(k, raw + i, klen, true);
            size_t vd = pct_decode(v, eq < end ? raw + eq + 1 : "", vlen, true);
            int r = fn(k, kd, v, vd, userdata);
            free(k);
            free(v);
            if (r != 0)
                return r;
        }
        i = end + 1;
    }
    return 0;
}

static int req_add_param(const char *k, size_t klen, const char *v, size_t vlen, void *userdata)
{
    struct httpd_req *req = userdata;
    /* Keys with an embedded NUL cannot be looked up by name: drop them. */
    if (strlen(k) != klen)
        return 0;
    for (size_t i = 0; i < req->nparams; i++) {
        if (strcmp(req->params[i].key, k) == 0) {
            char *nv = strndup(v, vlen);
            if (!nv)
                return -ENOMEM;
            free(req->params[i].value);
            req->params[i].value = nv; /* the last occurrence wins */
            return 0;
        }
    }
    struct qparam *np = realloc(req->params, (req->nparams + 1) * sizeof(*np));
    if (!np)
        return -ENOMEM;
    req->params = np;
    np[req->nparams].key = strdup(k);
    np[req->nparams].value = strndup(v, vlen);
    if (!np[req->nparams].key || !np[req->nparams].value) {
        free(np[req->nparams].key);
        free(np[req->nparams].value);
        return -ENOMEM;
    }
    req->nparams++;
    return 0;
}

/* ---- requests -------------------------------------------------------------------- */

static void req_free(struct httpd_req *req)
{
    if (!req)
        return;
    for (size_t i = 0; i < req->nparams; i++) {
        free(req->params[i].key);
        free(req->params[i].value);
    }
    free(req->params);
    struct hdr *h = req->headers;
    while (h) {
        struct hdr *n = h->next;
        free(h->name);
        free(h->value);
        free(h);
        h = n;
    }
    free(req->method);
    free(req->raw_uri);
    free(req->path);
    free(req->body);
    free(req);
}

/* MHD splits the query off and decodes it in place before the access handler sees the
 * URL; this callback gets the untouched URI, so the raw query survives. Its return value
 * becomes the connection's per-request context. */
static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct httpd_req *req = calloc(1, sizeof(*req));
    if (!req)
        return NULL;
    req->srv = cls;
    req->conn = conn;
    req->raw_uri = strdup(uri ? uri : "/");
    if (!req->raw_uri) {
        free(req);
        return NULL;
    }
    char *q = strchr(req->raw_uri, '?');
    size_t plen = q ? (size_t)(q - req->raw_uri) : strlen(req->raw_uri);
    req->path = malloc(plen + 1);
    if (!req->path) {
        req_free(req);
        return NULL;
    }
    pct_decode(req->path, req->raw_uri, plen, false);
    req->raw_query = q ? q + 1 : "";
    return req;
}

/* A request answered later whose connection MHD ends without serving it again: a client
 * that left while it was parked (MHD's poll loop closes such a connection as it resumes
 * it). Its continuation still runs, answering into the void (`answered` makes every
 * respond call a no-op that frees what it is given), so what it owns is released and
 * httpd_stop does not wait for it forever. */
static void later_settle(struct httpd *srv, struct httpd_req *req)
{
    pthread_mutex_lock(&srv->later_mu);
    httpd_handler_fn fn = req->later_waited ? req->later_fn : NULL;
    void *ud = req->later_ud;
    req->later_fn = NULL;
    req->later_ud = NULL;
    pthread_mutex_unlock(&srv->later_mu);
    if (!fn)
        return;
    req->answered = true;
    fn(req, ud);
    pthread_mutex_lock(&srv->later_mu);
    req->later_waited = false;
    if (--srv->nparked == 0)
        pthread_cond_broadcast(&srv->later_cv);
    pthread_mutex_unlock(&srv->later_mu);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    if (*con_cls)
        later_settle(cls, *con_cls);
    req_free(*con_cls);
    *con_cls = NULL;
}

const char *httpd_method(const struct httpd_req *req)
{
    return req->method ? req->method : "";
}

const char *httpd_path(const struct httpd_req *req)
{
    return req->path;
}

const char *httpd_raw_query(const struct httpd_req *req)
{
    return req->raw_query;
}

const char *httpd_query(const struct httpd_req *req, const char *key)
{
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->params[i].key, key) == 0)
            return req->params[i].value;
    return NULL;
}

const char *httpd_header(const struct httpd_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *httpd_body(const struct httpd_req *req, size_t *len)
{
    if (len)
        *len = req->body_len;
    return req->body ? req->body : "";
}

int httpd_peer_is_loopback(const struct httpd_req *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return 0;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return 1;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            return in6->sin6_addr.s6_addr[12] == 127;
    }
    return 0;
}

int httpd_add_header(struct httpd_req *req, const char *name, const char *value)
{
    struct hdr *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->name = strdup(name);
    h->value = strdup(value);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        free(h);
        return -ENOMEM;
    }
    struct hdr **pp = &req->headers;
    while (*pp)
        pp = &(*pp)->next;
    *pp = h;
    return 0;
}

static int queue(struct httpd_req *req, int status, const char *content_type,
                 struct MHD_Response *resp)
{
    int r = 0;
    if (content_type && MHD_add_response_header(resp, "Content-Type", content_type) != MHD_YES)
        r = -EINVAL;
    for (struct hdr *h = req->headers; h && r == 0; h = h->next)
        if (MHD_add_response_header(resp, h->name, h->value) != MHD_YES)
            r = -EINVAL;
    if (r == 0 && MHD_queue_response(req->conn, (unsigned)status, resp) != MHD_YES)
        r = -EIO;
    MHD_destroy_response(resp);
    if (r == 0)
        req->answered = true;
    return r;
}

int httpd_respond(struct httpd_req *req, int status, const char *content_type, const char *body,
                  size_t len)
{
    if (req->answered)
        return -EALREADY;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return -ENOMEM;
    return queue(req, status, content_type, resp);
}

int httpd_respond_take(struct httpd_req *req, int status, const char *content_type, char *body,
                       size_t len)
{
    if (req->answered) {
        free(body);
        return -EALREADY;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(
        len, body ? body : (char *)"", body ? free : NULL);
    if (!resp) {
        free(body);
        return -ENOMEM;
    }
    return queue(req, status, content_type, resp);
}

int httpd_respond_json(struct httpd_req *req, int status, const json_t *body)
{
    char *s = jsonx_dumps(body);
    if (!s)
        return -ENOMEM;
    return httpd_respond_take(req, status, "application/json", s, strlen(s));
}

/* ---- produced replies --------------------------------------------------------------- */

/* A known-size body is produced into MHD's own buffer of this size (one allocation per
 * reply; a chunked one uses the connection's buffer instead): big enough that a 100 MiB
 * list costs a few hundred producer calls and sends, small enough to stay in cache. */
#define HTTPD_PRODUCER_BLOCK (256u * 1024)

struct producer {
    httpd_body_fn fn;
    httpd_body_free_fn free_fn;
    void *userdata;
};

static ssize_t producer_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct producer *p = cls;
    (void)pos;
    ssize_t n = p->fn(p->userdata, buf, max);
    if (n == HTTPD_BODY_END)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n <= 0 || (size_t)n > max)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return n;
}

static void producer_release(void *cls)
{
    struct producer *p = cls;
    if (p->free_fn)
        p->free_fn(p->userdata);
    free(p);
}

int httpd_respond_producer(struct httpd_req *req, int status, const char *content_type,
                           uint64_t size, httpd_body_fn fn, httpd_body_free_fn free_fn,
                           void *userdata)
{
    struct producer *p = NULL;
    if (req->answered) {
        if (free_fn)
            free_fn(userdata);
        return -EALREADY;
    }
    p = malloc(sizeof(*p));
    if (!p) {
        if (free_fn)
            free_fn(userdata);
        return -ENOMEM;
    }
    p->fn = fn;
    p->free_fn = free_fn;
    p->userdata = userdata;
    size_t block = HTTPD_PRODUCER_BLOCK;
    if (size != HTTPD_SIZE_UNKNOWN && size < block)
        block = size ? (size_t)size : 1;
    struct MHD_Response *resp = MHD_create_response_from_callback(
        size == HTTPD_SIZE_UNKNOWN ? MHD_SIZE_UNKNOWN : size, block, producer_read, p,
        producer_release);
    if (!resp) {
        producer_release(p);
        return -ENOMEM;
    }
    /* From here on MHD owns p: destroying the response (queue does) releases it unless
     * the connection holds it. */
    return queue(req, status, content_type, resp);
}

static void respond_status(struct httpd_req *req, int code, const char *reason, const char *msg)
{
    json_t *st = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion",
                           "v1", "metadata", "status", "Failure", "message", msg, "reason",
                           reason, "code", code);
    if (st)
        httpd_respond_json(req, code, st);
    json_decref(st);
    if (!req->answered)
        httpd_respond(req, code, "text/plain", msg, strlen(msg));
}

/* ---- the access handler ------------------------------------------------------------ */

static int body_append(struct httpd_req *req, const char *data, size_t n)
{
    if (req->body_len + n + 1 > req->body_cap) {
        /* The first piece is most often the whole body: an exact fit keeps a small body in
         * glibc's small bins (a request of 1 KiB or more consolidates every thread's fast
         * bins first, which cost more than the rest of a small create). */
        size_t cap = req->body_cap ? req->body_cap * 2 : n + 1;
        while (cap < req->body_len + n + 1)
            cap *= 2;
        char *nb = realloc(req->body, cap);
        if (!nb)
            return -ENOMEM;
        req->body = nb;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, n);
    req->body_len += n;
    req->body[req->body_len] = '\0';
    return 0;
}

static void too_large(struct httpd_req *req)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "the request body is larger than the limit of %zu bytes",
             req->srv->max_body);
    respond_status(req, 413, "RequestEntityTooLarge", msg);
}

/* ---- answering: now or later ------------------------------------------------------- */

void httpd_later(struct httpd_req *req, httpd_handler_fn fn, void *userdata)
{
    struct httpd *srv = req->srv;
    pthread_mutex_lock(&srv->later_mu);
    req->later_fn = fn;
    req->later_ud = userdata;
    pthread_mutex_unlock(&srv->later_mu);
}

void httpd_later_ready(struct httpd_req *req)
{
    struct httpd *srv = req->srv;
    bool resume = false;
    pthread_mutex_lock(&srv->later_mu);
    req->later_ready = true;
    if (req->later_parked) {
        req->later_parked = false;
        resume = true;
    }
    pthread_mutex_unlock(&srv->later_mu);
    /* A suspended connection is never freed by MHD, and only this call un-parks it. */
    if (resume)
        MHD_resume_connection(req->conn);
}

/* Runs the handler (or, for a request resumed after httpd_later, its continuation), then
 * every continuation whose result is already in; parks the connection on one that is not.
 * The suspend happens under later_mu, so httpd_later_ready never resumes a connection
 * that is not suspended yet. */
static enum MHD_Result serve(struct httpd *srv, struct httpd_req *req)
{
    httpd_handler_fn fn = req->later_fn ? NULL : srv->handler;
    void *ud = srv->userdata;
    for (;;) {
        if (fn)
            fn(req, ud);
        if (req->answered)
            return MHD_YES;
        pthread_mutex_lock(&srv->later_mu);
        if (!req->later_fn) {
            pthread_mutex_unlock(&srv->later_mu);
            respond_status(req, 500, "InternalError", "the handler did not answer the request");
            return req->answered ? MHD_YES : MHD_NO;
        }
        while (!req->later_ready && srv->later_stopping)
            pthread_cond_wait(&srv->later_cv, &srv->later_mu);
        if (!req->later_ready) {
            MHD_suspend_connection(req->conn);
            req->later_parked = true;
            req->later_waited = true;
            srv->nparked++;
            pthread_mutex_unlock(&srv->later_mu);
            return MHD_YES;
        }
        fn = req->later_fn;
        ud = req->later_ud;
        req->later_fn = NULL;
        req->later_ud = NULL;
        req->later_ready = false;
        if (req->later_waited) {
            req->later_waited = false;
            if (--srv->nparked == 0)
                pthread_cond_broadcast(&srv->later_cv);
        }
        pthread_mutex_unlock(&srv->later_mu);
    }
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    struct httpd *srv = cls;
    struct httpd_req *req = *con_cls;
    (void)url;
    (void)version;
    if (!req)
        return MHD_NO; /* out of memory in uri_log_cb: drop the connection */
    if (!req->started) {
        req->started = true;
        req->method = strdup(method);
        if (!req->method)
            return MHD_NO;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno == 0 && end != cl && n > srv->max_body) {
                req->too_large = true;
                /* Answering now only works when the client waits for "100 Continue";
                 * otherwise the body is drained below so the 413 is not lost in a reset. */
                const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
                if (expect && strcasecmp(expect, "100-continue") == 0) {
                    too_large(req);
                    return req->answered ? MHD_YES : MHD_NO;
                }
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->answered)
            return MHD_YES;
        if (!req->too_large && req->body_len + n > srv->max_body)
            req->too_large = true;
        if (req->too_large) {
            req->discarded += n;
            return req->discarded > HTTPD_DRAIN_MAX ? MHD_NO : MHD_YES;
        }
        return body_append(req, upload_data, n) == 0 ? MHD_YES : MHD_NO;
    }
    if (req->answered)
        return MHD_YES;
    if (req->too_large) {
        too_large(req);
        return req->answered ? MHD_YES : MHD_NO;
    }
    if (!req->params_parsed) {
        req->params_parsed = true;
        if (httpd_query_decode(req->raw_query, strlen(req->raw_query), req_add_param, req) != 0)
            return MHD_NO;
    }
    return serve(srv, req);
}

/* ---- streams ------------------------------------------------------------------------ */

static void stream_free(struct httpd_stream *s)
{
    struct chunk *c = s->head;
    while (c) {
        struct chunk *n = c->next;
        free(c);
        c = n;
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Called with s->mu held when the connection is to be resumed: takes it out of the
 * hangup set while its fd is certainly still open (the connection is suspended). */
static void stream_unpark_locked(struct httpd_stream *s)
{
    if (s->in_epoll) {
        epoll_ctl(s->srv->hup_ep, EPOLL_CTL_DEL, s->fd, NULL);
        s->in_epoll = false;
    }
    s->suspended = false;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct httpd_stream *s = cls;
    (void)pos;
    ssize_t ret;
    pthread_mutex_lock(&s->mu);
    if (s->peer_gone) {
        ret = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (s->head) {
        struct chunk *c = s->head;
        size_t n = c->len - c->off;
        if (n > max)
            n = max;
        memcpy(buf, c->data + c->off, n);
        c->off += n;
        s->queued -= n;
        if (c->off == c->len) {
            s->head = c->next;
            if (!s->head)
                s->tail = NULL;
            free(c);
        }
        ret = (ssize_t)n;
    } else if (s->closing) {
        ret = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        /* Nothing to send: park the connection until a write, a close or a hangup. */
        MHD_suspend_connection(s->conn);
        s->suspended = true;
        struct epoll_event ev = {.events = EPOLLRDHUP, .data.u64 = s->id};
        if (s->fd >= 0 && epoll_ctl(s->srv->hup_ep, EPOLL_CTL_ADD, s->fd, &ev) == 0)
            s->in_epoll = true;
        ret = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return ret;
}

static void stream_release(void *cls)
{
    struct httpd_stream *s = cls;
    struct httpd *srv = s->srv;
    pthread_mutex_lock(&s->mu);
    s->gone = true;
    bool notify = s->started;
    pthread_mutex_unlock(&s->mu);
    if (notify && s->on_closed)
        s->on_closed(s, s->userdata);
    pthread_mutex_lock(&srv->mu);
    if (s->prev)
        s->prev->next = s->next;
    else if (srv->streams == s)
        srv->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    pthread_mutex_unlock(&srv->mu);
    stream_free(s);
}

struct httpd_stream *httpd_stream_start(struct httpd_req *req, int status,
                                        const char *content_type,
                                        httpd_stream_closed_fn on_closed, void *userdata)
{
    struct httpd *srv = req->srv;
    if (req->answered)
        return NULL;
    struct httpd_stream *s = calloc(1, sizeof(*s));
    if (!s)
        goto fail;
    pthread_mutex_init(&s->mu, NULL);
    s->srv = srv;
    s->conn = req->conn;
    s->on_closed = on_closed;
    s->userdata = userdata;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    s->fd = ci ? ci->connect_fd : -1;

    pthread_mutex_lock(&srv->mu);
    s->id = ++srv->next_id;
    s->closing = srv->stopping; /* a stream born during httpd_stop must not park */
    s->next = srv->streams;
    if (srv->streams)
        srv->streams->prev = s;
    srv->streams = s;
    pthread_mutex_unlock(&srv->mu);

    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_reader, s,
                                          stream_release);
    if (!resp) {
        stream_release(s);
        goto fail;
    }
    /* The reader and release callbacks only run after this handler returns (same
     * worker thread), so `started` needs no lock here. */
    s->started = true;
    bool ok = !content_type ||
              MHD_add_response_header(resp, "Content-Type", content_type) == MHD_YES;
    for (struct hdr *h = req->headers; h && ok; h = h->next)
        ok = MHD_add_response_header(resp, h->name, h->value) == MHD_YES;
    if (ok)
        ok = MHD_queue_response(req->conn, (unsigned)status, resp) == MHD_YES;
    if (!ok)
        s->started = false; /* never handed out: no on_closed from stream_release */
    MHD_destroy_response(resp); /* frees s through stream_release when not queued */
    if (!ok) {
        respond_status(req, 500, "InternalError", "cannot start the stream");
        return NULL;
    }
    req->answered = true;
    return s;
fail:
    respond_status(req, 500, "InternalError", "cannot start the stream: out of memory");
    return NULL;
}

int httpd_stream_write(struct httpd_stream *s, const char *data, size_t len)
{
    if (len == 0)
        return 0;
    struct chunk *c = malloc(sizeof(*c) + len);
    if (!c)
        return -ENOMEM;
    memcpy(c->data, data, len);
    c->len = len;
    c->off = 0;
    c->next = NULL;
    bool resume = false;
    pthread_mutex_lock(&s->mu);
    int r = 0;
    if (s->gone || s->peer_gone || s->closing) {
        r = -EPIPE;
    } else if (s->queued + len > HTTPD_STREAM_QUEUE_MAX) {
        r = -ENOBUFS;
    } else {
        if (s->tail)
            s->tail->next = c;
        else
            s->head = c;
        s->tail = c;
        s->queued += len;
        c = NULL;
        if (s->suspended) {
            stream_unpark_locked(s);
            resume = true;
        }
    }
    struct MHD_Connection *conn = s->conn;
    pthread_mutex_unlock(&s->mu);
    free(c);
    if (resume)
        MHD_resume_connection(conn);
    return r;
}

void httpd_stream_close(struct httpd_stream *s)
{
    bool resume = false;
    pthread_mutex_lock(&s->mu);
    s->closing = true;
    if (s->suspended) {
        stream_unpark_locked(s);
        resume = true;
    }
    struct MHD_Connection *conn = s->conn;
    pthread_mutex_unlock(&s->mu);
    if (resume)
        MHD_resume_connection(conn);
}

/* The hangup thread: resumes parked streams whose client hung up, so MHD closes them. */
static void *hup_main(void *arg)
{
    struct httpd *srv = arg;
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(srv->hup_ep, evs, 64, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == 0)
                return NULL; /* the wake eventfd: httpd_stop */
            struct MHD_Connection *conn = NULL;
            pthread_mutex_lock(&srv->mu);
            for (struct httpd_stream *s = srv->streams; s; s = s->next) {
                if (s->id != evs[i].data.u64)
                    continue;
                pthread_mutex_lock(&s->mu);
                if (s->suspended) {
                    stream_unpark_locked(s);
                    s->peer_gone = true;
                    conn = s->conn;
                }
                pthread_mutex_unlock(&s->mu);
                break;
            }
            pthread_mutex_unlock(&srv->mu);
            if (conn)
                MHD_resume_connection(conn);
        }
    }
    return NULL;
}

/* ---- start / stop ------------------------------------------------------------------- */

static int listen_socket(const char *listen_addr, struct bosun_err *err)
{
    char host[256];
    const char *colon = strrchr(listen_addr, ':');
    if (!colon || colon[1] == '\0')
        return err_set(err, -EINVAL, "httpd: listen address %s: want host:port", listen_addr);
    size_t hlen = (size_t)(colon - listen_addr);
    const char *h = listen_addr;
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen >= sizeof(host))
        return err_set(err, -EINVAL, "httpd: listen address %s: host too long", listen_addr);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535)
        return err_set(err, -EINVAL, "httpd: listen address %s: bad port", listen_addr);

    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(hlen ? host : NULL, colon + 1, &hints, &ai);
    if (g != 0)
        return err_set(err, -EINVAL, "httpd: listen address %s: %s", listen_addr,
                       gai_strerror(g));
    int fd = -1;
    int r = -EADDRNOTAVAIL;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            r = -errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 1024) == 0) {
            r = 0;
            break;
        }
        r = -errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return err_errno(err, r, "httpd: listen on %s", listen_addr);
    return fd;
}

__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (!log_enabled(LOG_DEBUG))
        return;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    log_debug("httpd: %s", buf);
}

int httpd_start(const struct httpd_opts *opts, httpd_handler_fn handler, void *userdata,
                struct httpd **out, struct bosun_err *err)
{
    int r = 0;
    int lfd = -1;
    struct httpd *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return err_set(err, -ENOMEM, "httpd: out of memory");
    pthread_mutex_init(&srv->mu, NULL);
    pthread_mutex_init(&srv->later_mu, NULL);
    pthread_cond_init(&srv->later_cv, NULL);
    srv->hup_ep = -1;
    srv->hup_wake = -1;
    srv->handler = handler;
    srv->userdata = userdata;
    srv->max_body = opts->max_body ? opts->max_body : 3u * 1024 * 1024;
    unsigned threads = opts->threads ? opts->threads : 4;
    unsigned max_conns = opts->max_conns ? opts->max_conns : 10000;
    unsigned timeout = opts->conn_timeout_s ? opts->conn_timeout_s : 300;

    if (!opts->tls_cert_pem != !opts->tls_key_pem) {
        r = err_set(err, -EINVAL, "httpd: TLS needs both a certificate and a private key");
        goto out;
    }
    if (opts->tls_cert_pem) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            r = err_set(err, -ENOTSUP, "httpd: libmicrohttpd was built without TLS support");
            goto out;
        }
        /* Copies: MHD keeps the pointers it is given. */
        srv->tls_cert = strdup(opts->tls_cert_pem);
        srv->tls_key = strdup(opts->tls_key_pem);
        if (!srv->tls_cert || !srv->tls_key) {
            r = err_set(err, -ENOMEM, "httpd: out of memory");
            goto out;
        }
    }

    lfd = listen_socket(opts->listen ? opts->listen : "127.0.0.1:6443", err);
    if (lfd < 0) {
        r = lfd;
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(lfd, (struct sockaddr *)&ss, &sl) != 0) {
        r = err_errno(err, -errno, "httpd: getsockname");
        goto out;
    }
    srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);

    srv->hup_ep = epoll_create1(EPOLL_CLOEXEC);
    srv->hup_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (srv->hup_ep < 0 || srv->hup_wake < 0) {
        r = err_errno(err, -errno, "httpd: epoll/eventfd");
        goto out;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    if (epoll_ctl(srv->hup_ep, EPOLL_CTL_ADD, srv->hup_wake, &ev) != 0) {
        r = err_errno(err, -errno, "httpd: epoll_ctl");
        goto out;
    }
    if (pthread_create(&srv->hup_thread, NULL, hup_main, srv) != 0) {
        r = err_set(err, -EAGAIN, "httpd: cannot start the hangup thread");
        goto out;
    }
    srv->hup_started = true;

    /* poll(), not epoll: every request that is answered later (httpd_later) is suspended
     * and resumed, which with epoll costs an epoll_ctl each way plus a second recv to see
     * EAGAIN (edge-triggered). Each pool thread polls only its own share of the
     * connections, so a poll stays short even with a thousand watches open; measured,
     * durable writes through the API took ~4 system calls each instead of ~8. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    /* TLS 1.2 and 1.3 only: every client bosun supports (curl, client-go) speaks both. */
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0,
         (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"},
        {MHD_OPTION_END, 0, NULL},
    };
    if (srv->tls_cert)
        flags |= MHD_USE_TLS;
    else
        tls_opts[0].option = MHD_OPTION_END;
    srv->d = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, srv, MHD_OPTION_LISTEN_SOCKET, lfd,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, max_conns,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, srv,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger,
        NULL, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!srv->d) {
        r = err_set(err, -EIO, "httpd: cannot start the server on %s (libmicrohttpd refused%s)",
                    opts->listen ? opts->listen : "127.0.0.1:6443",
                    srv->tls_cert ? "; check the TLS certificate and key" : "");
        goto out;
    }
    lfd = -1; /* MHD owns and closes it */
    *out = srv;
    srv = NULL;
out:
    if (lfd >= 0)
        close(lfd);
    if (srv)
        httpd_stop(srv);
    return r;
}

int httpd_port(const struct httpd *srv)
{
    return srv->port;
}

void httpd_stop(struct httpd *srv)
{
    if (!srv)
        return;
    if (srv->hup_started) {
        uint64_t one = 1;
        if (write(srv->hup_wake, &one, sizeof(one)) < 0)
            log_debug("httpd: waking the hangup thread: %s", strerror(errno));
        pthread_join(srv->hup_thread, NULL);
    }
    if (srv->d) {
        /* MHD aborts when stopped with suspended connections: end every stream and
         * resume the parked ones first; `stopping` keeps new ones from parking. */
        MHD_socket lfd = MHD_quiesce_daemon(srv->d);
        if (lfd != MHD_INVALID_SOCKET)
            close(lfd);
        /* Requests waiting for httpd_later_ready are resumed by whoever owes their result
         * (the store still runs) and answered; from now on a worker that would park a
         * request waits for its result in place instead. */
        pthread_mutex_lock(&srv->later_mu);
        srv->later_stopping = true;
        while (srv->nparked)
            pthread_cond_wait(&srv->later_cv, &srv->later_mu);
        pthread_mutex_unlock(&srv->later_mu);
        struct MHD_Connection **parked = NULL;
        size_t nparked = 0, cap = 0;
        pthread_mutex_lock(&srv->mu);
        srv->stopping = true;
        for (struct httpd_stream *s = srv->streams; s; s = s->next) {
            pthread_mutex_lock(&s->mu);
            s->closing = true;
            s->peer_gone = true; /* drop what is queued: the server is going away */
            if (s->suspended) {
                if (nparked == cap) {
                    size_t ncap = cap ? cap * 2 : 64;
                    struct MHD_Connection **np = realloc(parked, ncap * sizeof(*np));
                    if (np) {
                        parked = np;
                        cap = ncap;
                    }
                }
                if (nparked < cap) {
                    stream_unpark_locked(s);
                    parked[nparked++] = s->conn;
                }
            }
            pthread_mutex_unlock(&s->mu);
        }
        pthread_mutex_unlock(&srv->mu);
        /* Resumed outside srv->mu: the release callback that follows takes srv->mu.
         * These connections are still suspended until resumed, so MHD cannot free them
         * meanwhile. */
        for (size_t i = 0; i < nparked; i++)
            MHD_resume_connection(parked[i]);
        free(parked);
        MHD_stop_daemon(srv->d);
    }
    if (srv->hup_ep >= 0)
        close(srv->hup_ep);
    if (srv->hup_wake >= 0)
        close(srv->hup_wake);
    if (srv->tls_key) {
        explicit_bzero(srv->tls_key, strlen(srv->tls_key));
        free(srv->tls_key);
    }
    free(srv->tls_cert);
    pthread_mutex_destroy(&srv->mu);
    pthread_mutex_destroy(&srv->later_mu);
    pthread_cond_destroy(&srv->later_cv);
    free(srv);
}
