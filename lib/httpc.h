/* httpc — the HTTP client every component uses to reach reconcilerd (libcurl).
 *
 * A struct httpc holds the server URL and bearer token; it is safe to use from several
 * threads at once (each call uses its own curl handle; connections are reused). */
#ifndef BOSUN_HTTPC_H
#define BOSUN_HTTPC_H

#include <jansson.h>
#include <stddef.h>

#include "lib/err.h"

struct httpc;

struct httpc_resp {
    long status;  /* HTTP status, 0 if no response */
    char *body;   /* NUL-terminated, owned by the resp; free with httpc_resp_free */
    size_t len;
    char *content_type;
};

/* server: "http://127.0.0.1:6443". token_file: a file holding the bearer token, or NULL
 * for none. Reads the token now. */
int httpc_new(const char *server, const char *token_file, struct httpc **out,
              struct bosun_err *err);
/* Same, with the token given inline (or NULL). */
int httpc_new_token(const char *server, const char *token, struct httpc **out,
                    struct bosun_err *err);
void httpc_free(struct httpc *c);

/* TLS: https:// servers are verified (peer certificate chain and host name, libcurl's
 * defaults) against the system's CA store unless one of these names the cluster's CA,
 * which then becomes the only trusted root. Either may be called at any time (requests
 * already running keep the trust they started with) and replaces what the other set;
 * call it before the first request so that no request runs with the system store.
 *
 * httpc_set_ca_file: a PEM file (kubectl's --certificate-authority). The file must be
 * readable now (-ENOENT/-EACCES otherwise); libcurl loads it when it connects (and may
 * cache what it loaded for a while).
 * httpc_set_ca_pem: PEM text (kubeconfig's certificate-authority-data, decoded); copied.
 * -EINVAL when it holds no PEM certificate, -ENOTSUP when libcurl cannot take it. */
int httpc_set_ca_file(struct httpc *c, const char *path, struct bosun_err *err);
int httpc_set_ca_pem(struct httpc *c, const char *pem, struct bosun_err *err);

/* Sends method to server+path_query (path_query begins with '/', already escaped)
 * with an optional body. Returns 0 when an HTTP response arrived (whatever its status),
 * -ECONNREFUSED / -ETIMEDOUT / -EIO on transport failures, with err set (a server
 * certificate that does not verify is -EIO, and the message says so).
 * timeout_ms 0 means the default (30 s). */
int httpc_request(struct httpc *c, const char *method, const char *path_query,
                  const char *content_type, const char *body, size_t len, long timeout_ms,
                  struct httpc_resp *resp, struct bosun_err *err);
void httpc_resp_free(struct httpc_resp *resp);

/* JSON convenience: body (borrowed, may be NULL) is serialised; on a response the body is
 * parsed into *out (new reference; NULL when the body is not JSON). Returns like
 * httpc_request; *status gets the HTTP status. */
int httpc_json(struct httpc *c, const char *method, const char *path_query,
               const char *content_type, const json_t *body, long *status, json_t **out,
               struct bosun_err *err);

/* Streams a GET (watch, follow logs): calls on_line for every '\n'-terminated line (the
 * newline stripped) until the server ends the stream, on_line returns nonzero, or *stop
 * becomes nonzero (checked at least every 200 ms). Returns 0 when the stream ended or was
 * stopped, a negative code on transport errors or a non-2xx status (err holds the
 * status and body). */
typedef int (*httpc_line_fn)(const char *line, size_t len, void *userdata);
int httpc_stream(struct httpc *c, const char *path_query, httpc_line_fn on_line, void *userdata,
                 const volatile int *stop, struct bosun_err *err);

/* Like httpc_stream, and also calls on_tick(userdata) on the calling thread at least every
 * 200 ms while the stream is open (idle or not); a nonzero return ends the stream like
 * *stop does (returns 0). Lets a caller run timers (the informer's resync) on the thread
 * that owns the stream. on_tick may be NULL. */
typedef int (*httpc_tick_fn)(void *userdata);
int httpc_stream_tick(struct httpc *c, const char *path_query, httpc_line_fn on_line,
                      httpc_tick_fn on_tick, void *userdata, const volatile int *stop,
                      struct bosun_err *err);

/* Percent-escapes s for a query value or path segment; caller frees. */
char *httpc_escape(const char *s);

#endif
