/* httpd — the HTTP/1.1 server every bosun daemon uses (a libmicrohttpd wrapper).
 *
 * One handler callback gets each request once its whole body has arrived (bodies over
 * opts.max_body are refused with 413 before the handler runs). The handler answers
 * exactly once: httpd_respond*() for a plain reply, or httpd_stream_start() for a
 * chunked stream (watches, `logs -f`) that other threads feed later. Streams do not
 * hold a thread: the connection is suspended while no data is queued and resumed on
 * httpd_stream_write(), so thousands of watches cost memory, not threads or CPU.
 *
 * Thread-safety: handlers run on the server's worker threads; httpd_stream_write and
 * httpd_stream_close may be called from any thread. */
#ifndef BOSUN_HTTPD_H
#define BOSUN_HTTPD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

struct httpd;
struct httpd_req;
struct httpd_stream;

/* Called once per complete request. Must answer the request before returning (with
 * httpd_respond* or httpd_stream_start). If it does not, the server answers 500. */
typedef void (*httpd_handler_fn)(struct httpd_req *req, void *userdata);

struct httpd_opts {
    const char *listen;     /* "127.0.0.1:6443", "0.0.0.0:0" (0 = kernel picks a port) */
    size_t max_body;        /* bytes; larger request bodies get 413 [3 MiB] */
    unsigned threads;       /* worker threads [4] */
    unsigned max_conns;     /* concurrent connections [10000] */
    unsigned conn_timeout_s;/* idle keep-alive connections are closed after this [300] */
    /* TLS: both set = serve HTTPS with this PEM certificate (chain) and PEM private key
     * (unencrypted); both NULL = plain HTTP. Borrowed for the httpd_start call (copied).
     * Load them with fileutil_read_all; lib/pki makes a CA-signed pair. */
    const char *tls_cert_pem;
    const char *tls_key_pem;
};

/* Starts listening and serving. *out owns the server; stop it with httpd_stop.
 * -EINVAL when only one of tls_cert_pem / tls_key_pem is set, -ENOTSUP when
 * libmicrohttpd lacks TLS, -EIO when it refuses the certificate or key. */
int httpd_start(const struct httpd_opts *opts, httpd_handler_fn handler, void *userdata,
                struct httpd **out, struct bosun_err *err);

/* Stops accepting, closes every stream (their on_close callbacks run), joins the
 * worker threads and frees the server. NULL is allowed. */
void httpd_stop(struct httpd *srv);

/* The port actually bound (useful with port 0). */
int httpd_port(const struct httpd *srv);

/* ---- the request (borrowed; valid until the handler returns) ---- */
const char *httpd_method(const struct httpd_req *req);  /* "GET", "PATCH", ... */
const char *httpd_path(const struct httpd_req *req);    /* percent-decoded path, no query */
const char *httpd_raw_query(const struct httpd_req *req); /* raw query string after '?', or "" */
/* A query parameter, form-decoded ('+' = space, %XX), or NULL when absent. The last
 * occurrence wins. */
const char *httpd_query(const struct httpd_req *req, const char *key);
/* A request header (case-insensitive name), or NULL. */
const char *httpd_header(const struct httpd_req *req, const char *name);
const char *httpd_body(const struct httpd_req *req, size_t *len); /* never NULL; "" if none */
/* 1 when the peer address is 127.0.0.0/8 or ::1. */
int httpd_peer_is_loopback(const struct httpd_req *req);

/* Form-decodes a raw query string ("a=1&b=x+y%2Cz"): splits on '&' (and ';'), decodes
 * '+' as space and %XX as a byte in keys and values (a '%' without two hex digits stays
 * as is), and calls fn for every non-empty pair in order. key/value are NUL-terminated
 * copies valid during the call; klen/vlen count bytes (a decoded %00 makes them differ
 * from strlen). A nonzero return from fn stops and is returned; -ENOMEM on allocation
 * failure. Pure: this is what httpd_query uses (the last occurrence wins there). */
typedef int (*httpd_query_fn)(const char *key, size_t klen, const char *value, size_t vlen,
                              void *userdata);
int httpd_query_decode(const char *raw, size_t len, httpd_query_fn fn, void *userdata);

/* ---- plain replies (the body is copied) ---- */
int httpd_respond(struct httpd_req *req, int status, const char *content_type, const char *body,
                  size_t len);
/* httpd_respond without the copy: takes ownership of body (malloc'd, len bytes), which is
 * freed once sent, and also when this call fails. For large bodies built whole. */
int httpd_respond_take(struct httpd_req *req, int status, const char *content_type, char *body,
                       size_t len);
/* Serialises body compactly with Content-Type application/json. Borrows body. */
int httpd_respond_json(struct httpd_req *req, int status, const json_t *body);
/* Adds a response header to the reply that follows (e.g. "Warning"). Call before
 * httpd_respond* / httpd_stream_start. */
int httpd_add_header(struct httpd_req *req, const char *name, const char *value);

/* ---- replies produced while they are sent ----
 * For bodies too large to build whole (a list of 100k objects): the server asks for the
 * next bytes whenever the client has taken the previous ones, so neither the body nor a
 * copy of it is ever held, and producing overlaps sending. */
#define HTTPD_SIZE_UNKNOWN UINT64_MAX
#define HTTPD_BODY_END ((ssize_t)-1)   /* the body is complete */
#define HTTPD_BODY_ERROR ((ssize_t)-2) /* abort: the connection is closed mid-body */

/* Writes the next bytes of the body into buf (at most max, max > 0) and returns how many
 * (> 0), or HTTPD_BODY_END / HTTPD_BODY_ERROR. Never 0. Runs on a server worker thread,
 * one call at a time per reply. */
typedef ssize_t (*httpd_body_fn)(void *userdata, char *buf, size_t max);
/* Frees the producer's userdata; runs exactly once per httpd_respond_producer call. */
typedef void (*httpd_body_free_fn)(void *userdata);

/* Answers req with a body that fn produces as it goes. size is the exact body length
 * (sent as Content-Length; fn must produce exactly that many bytes, an early
 * HTTPD_BODY_END closes the connection) or HTTPD_SIZE_UNKNOWN (chunked encoding).
 * free_fn(userdata) runs once the reply is finished or abandoned (client gone, server
 * stopped), and also when this call fails (-ENOMEM, -EALREADY, -EIO); after a failure the
 * request still needs an answer. */
int httpd_respond_producer(struct httpd_req *req, int status, const char *content_type,
                           uint64_t size, httpd_body_fn fn, httpd_body_free_fn free_fn,
                           void *userdata);

/* ---- answers that come later ----
 * A handler whose answer waits on something that is not CPU work (a durable write waiting
 * for the store's group commit) need not hold its worker thread meanwhile: it calls
 * httpd_later and returns without answering; the worker goes on serving its other
 * connections. Once the result is in, any thread calls httpd_later_ready, and fn(req,
 * userdata) then runs on a worker thread with req valid again; it must answer as a handler
 * does (or call httpd_later once more). httpd_later_ready may also come first, even from
 * inside the handler (a backend that finished at once): fn then runs as soon as the
 * handler returns. Both calls are made exactly once per wait. The connection is not read
 * while it waits, so a client that leaves meanwhile is noticed only when fn answers.
 * httpd_stop waits for every request still waiting (their results must come). */
void httpd_later(struct httpd_req *req, httpd_handler_fn fn, void *userdata);
/* Any thread. req stays valid until fn has run. */
void httpd_later_ready(struct httpd_req *req);

/* ---- streams ---- */
/* Called once when the stream is finished for the server's side: the client went away,
 * the server stopped, or httpd_stream_close() was called and the tail was sent. After it
 * returns, the producer must not use the stream any more. Runs on a server thread. */
typedef void (*httpd_stream_closed_fn)(struct httpd_stream *s, void *userdata);

/* Answers req with `status`, content_type and chunked encoding; data follows through
 * httpd_stream_write. Returns a stream the producer feeds, or NULL (the request is then
 * already answered with 500). */
struct httpd_stream *httpd_stream_start(struct httpd_req *req, int status,
                                        const char *content_type,
                                        httpd_stream_closed_fn on_closed, void *userdata);

/* Queues len bytes (copied) to be sent as one chunk, and wakes the connection.
 * Returns 0, -EPIPE once the client has gone, or -ENOBUFS when more than the stream's
 * queue limit (8 MiB) is waiting (a client too slow to keep up: the caller closes it). */
int httpd_stream_write(struct httpd_stream *s, const char *data, size_t len);

/* Ends the stream after whatever is queued has been sent. on_closed still runs once. */
void httpd_stream_close(struct httpd_stream *s);

#endif
