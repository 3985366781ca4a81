/* httpc — libcurl client usable from many threads at once: each call borrows an easy
 * handle from a small pool (an easy handle keeps its own idle connections, so reuse is
 * what gives keep-alive), and the DNS cache is shared through a CURLSH with mutexes.
 * Connections themselves are not shared: libcurl documents sharing its connection cache
 * between concurrent threads as unsupported.
 *
 * Streams run on their own curl multi handle and poll it in 100 ms slices: curl's easy
 * interface only calls its progress callback about once a second on an idle transfer,
 * too slow for the 200 ms stop promise. */
#include "lib/httpc.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/jsonx.h"

#define HTTPC_DEFAULT_TIMEOUT_MS 30000L
#define HTTPC_CONNECT_TIMEOUT_MS 10000L
#define HTTPC_STREAM_POLL_MS 100
/* A watch line carries one object; Kubernetes caps objects near 1.5 MiB, 3 MiB here. */
#define HTTPC_MAX_LINE (64u * 1024 * 1024)
#define HTTPC_ERR_BODY_MAX 2048
/* Idle easy handles kept for reuse; more concurrent calls than this just make new ones. */
#define HTTPC_POOL_MAX 16

struct httpc {
    char *server;     /* without a trailing '/' */
    char *auth;       /* "Authorization: Bearer ..." or NULL */
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_mu;
    CURL *pool[HTTPC_POOL_MAX];
    size_t npool;
    pthread_mutex_t ca_mu; /* ca_file, ca_pem: set at any time, read by every request */
    char *ca_file;         /* the trusted root as a file, or NULL */
    char *ca_pem;          /* ... or as PEM text, or NULL; at most one is set */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userptr)
{
    (void)h;
    (void)access;
    struct httpc *c = userptr;
    pthread_mutex_lock(&c->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userptr)
{
    (void)h;
    struct httpc *c = userptr;
    pthread_mutex_unlock(&c->locks[data]);
}

int httpc_new_token(const char *server, const char *token, struct httpc **out,
                    struct bosun_err *err)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return err_set(err, -EIO, "httpc: curl_global_init: %s", curl_easy_strerror(global_rc));
    if (!server || strncmp(server, "http", 4) != 0)
        return err_set(err, -EINVAL, "httpc: server %s: want http://host:port or https://...",
                       server ? server : "(null)");
    struct httpc *c = calloc(1, sizeof(*c));
    if (!c)
        return err_set(err, -ENOMEM, "httpc: out of memory");
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    pthread_mutex_init(&c->pool_mu, NULL);
    pthread_mutex_init(&c->ca_mu, NULL);
    int r = 0;
    c->server = strdup(server);
    if (!c->server) {
        r = err_set(err, -ENOMEM, "httpc: out of memory");
        goto out;
    }
    size_t n = strlen(c->server);
    while (n > 0 && c->server[n - 1] == '/')
        c->server[--n] = '\0';
    if (token && *token) {
        if (asprintf(&c->auth, "Authorization: Bearer %s", token) < 0) {
            c->auth = NULL;
            r = err_set(err, -ENOMEM, "httpc: out of memory");
            goto out;
        }
    }
    c->share = curl_share_init();
    if (!c->share) {
        r = err_set(err, -ENOMEM, "httpc: curl_share_init failed");
        goto out;
    }
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    *out = c;
    c = NULL;
out:
    httpc_free(c);
    return r;
}

int httpc_new(const char *server, const char *token_file, struct httpc **out,
              struct bosun_err *err)
{
    if (!token_file)
        return httpc_new_token(server, NULL, out, err);
    char buf[8192];
    FILE *f = fopen(token_file, "re");
    if (!f)
        return err_errno(err, -errno, "httpc: token file %s", token_file);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr)
        return err_set(err, -EIO, "httpc: token file %s: read error", token_file);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
                     buf[n - 1] == '\t'))
        buf[--n] = '\0';
    if (n == 0)
        return err_set(err, -EINVAL, "httpc: token file %s is empty", token_file);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] < 0x21 || buf[i] == 0x7f)
            return err_set(err, -EINVAL,
                           "httpc: token file %s: the token contains whitespace or control "
                           "characters",
                           token_file);
    int r = httpc_new_token(server, buf, out, err);
    memset(buf, 0, sizeof(buf));
    return r;
}

void httpc_free(struct httpc *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->npool; i++)
        curl_easy_cleanup(c->pool[i]);
    pthread_mutex_destroy(&c->pool_mu);
    pthread_mutex_destroy(&c->ca_mu);
    free(c->ca_file);
    free(c->ca_pem);
    if (c->share)
        curl_share_cleanup(c->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&c->locks[i]);
    free(c->server);
    free(c->auth);
    free(c);
}

int httpc_set_ca_file(struct httpc *c, const char *path, struct bosun_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_errno(err, -errno, "httpc: CA file %s", path);
    close(fd);
    char *copy = strdup(path);
    if (!copy)
        return err_set(err, -ENOMEM, "httpc: out of memory");
    pthread_mutex_lock(&c->ca_mu);
    free(c->ca_file);
    free(c->ca_pem);
    c->ca_file = copy;
    c->ca_pem = NULL;
    pthread_mutex_unlock(&c->ca_mu);
    return 0;
}

int httpc_set_ca_pem(struct httpc *c, const char *pem, struct bosun_err *err)
{
    if (!pem || !strstr(pem, "-----BEGIN CERTIFICATE-----"))
        return err_set(err, -EINVAL, "httpc: the CA data holds no PEM certificate");
    /* Ask libcurl now rather than failing every request later. */
    CURL *h = curl_easy_init();
    if (!h)
        return err_set(err, -ENOMEM, "httpc: curl_easy_init failed");
    struct curl_blob blob = {.data = (void *)pem, .len = strlen(pem), .flags = CURL_BLOB_COPY};
    CURLcode rc = curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK)
        return err_set(err, -ENOTSUP, "httpc: libcurl cannot take CA data in memory: %s",
                       curl_easy_strerror(rc));
    char *copy = strdup(pem);
    if (!copy)
        return err_set(err, -ENOMEM, "httpc: out of memory");
    pthread_mutex_lock(&c->ca_mu);
    free(c->ca_file);
    free(c->ca_pem);
    c->ca_file = NULL;
    c->ca_pem = copy;
    pthread_mutex_unlock(&c->ca_mu);
    return 0;
}

/* Applies the trusted root to a (fresh or reset) easy handle. With a cluster CA the
 * system store is left out entirely (CAPATH too), as kubectl does. */
static int easy_set_ca(struct httpc *c, CURL *h)
{
    CURLcode rc = CURLE_OK;
    pthread_mutex_lock(&c->ca_mu);
    if (c->ca_pem) {
        struct curl_blob blob = {
            .data = c->ca_pem, .len = strlen(c->ca_pem), .flags = CURL_BLOB_COPY};
        rc = curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    } else if (c->ca_file) {
        rc = curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    }
    bool custom = c->ca_pem || c->ca_file;
    pthread_mutex_unlock(&c->ca_mu);
    if (rc == CURLE_OK && custom)
        rc = curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
    return rc == CURLE_OK ? 0 : -1;
}

/* A hint appended to transport errors that are about TLS, so the message says what to
 * do: trust the cluster's CA, or use the scheme the server speaks. */
static const char *tls_hint(const struct httpc *c, CURLcode rc)
{
    bool https = strncmp(c->server, "https:", 6) == 0;
    switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
        return " (the server's certificate is not trusted: give the cluster's CA, e.g. "
               "--certificate-authority FILE or the kubeconfig's certificate-authority-data)";
    case CURLE_SSL_CONNECT_ERROR:
        return https ? " (is the server speaking plain HTTP? then use http://)" : "";
    case CURLE_GOT_NOTHING:
        return https ? "" : " (is the server speaking HTTPS? then use https://)";
    default:
        return "";
    }
}

void httpc_resp_free(struct httpc_resp *resp)
{
    if (!resp)
        return;
    free(resp->body);
    free(resp->content_type);
    resp->body = NULL;
    resp->content_type = NULL;
    resp->len = 0;
    resp->status = 0;
}

/* ---- plain requests ------------------------------------------------------------------ */

struct buf {
    char *p;
    size_t len, cap;
};

static int buf_add(struct buf *b, const char *data, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return -ENOMEM;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static size_t collect_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    return buf_add(userdata, data, size * nmemb) == 0 ? size * nmemb : 0;
}

static int curl_code_errno(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    case CURLE_URL_MALFORMAT:
        return -EINVAL;
    default:
        return -EIO;
    }
}

/* Prepares an easy handle for server+path_query. *hdrs receives the header list the
 * caller frees after the transfer. */
/* A pooled handle (its idle connections come with it) or a new one. */
static CURL *easy_get(struct httpc *c, bool pooled)
{
    CURL *h = NULL;
    if (pooled) {
        pthread_mutex_lock(&c->pool_mu);
        if (c->npool > 0)
            h = c->pool[--c->npool];
        pthread_mutex_unlock(&c->pool_mu);
    }
    if (h) {
        curl_easy_reset(h); /* options only: live connections and caches stay */
        return h;
    }
    return curl_easy_init();
}

static void easy_put(struct httpc *c, CURL *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&c->pool_mu);
    if (c->npool < HTTPC_POOL_MAX) {
        c->pool[c->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->pool_mu);
    if (h)
        curl_easy_cleanup(h);
}

static CURL *easy_new(struct httpc *c, bool pooled, const char *path_query,
                      const char *content_type, struct curl_slist **hdrs, char *errbuf,
                      struct bosun_err *err)
{
    CURL *h = easy_get(c, pooled);
    if (!h) {
        err_set(err, -ENOMEM, "httpc: curl_easy_init failed");
        return NULL;
    }
    char *url = NULL;
    if (asprintf(&url, "%s%s", c->server, path_query) < 0) {
        easy_put(c, h);
        err_set(err, -ENOMEM, "httpc: out of memory");
        return NULL;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    free(url); /* curl copies option strings */
    curl_easy_setopt(h, CURLOPT_SHARE, c->share);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, HTTPC_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "bosun/0.1");
    if (easy_set_ca(c, h) != 0) {
        easy_put(c, h);
        err_set(err, -ENOMEM, "httpc: cannot set the CA certificate on a curl handle");
        return NULL;
    }
    struct curl_slist *l = NULL;
    if (c->auth)
        l = curl_slist_append(l, c->auth);
    if (content_type) {
        char line[256];
        snprintf(line, sizeof(line), "Content-Type: %s", content_type);
        l = curl_slist_append(l, line);
    }
    l = curl_slist_append(l, "Accept: application/json, */*");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l);
    *hdrs = l;
    errbuf[0] = '\0';
    return h;
}

int httpc_request(struct httpc *c, const char *method, const char *path_query,
                  const char *content_type, const char *body, size_t len, long timeout_ms,
                  struct httpc_resp *resp, struct bosun_err *err)
{
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *hdrs = NULL;
    struct buf b = {0};
    memset(resp, 0, sizeof(*resp));
    CURL *h = easy_new(c, true, path_query, content_type, &hdrs, errbuf, err);
    if (!h)
        return err ? err->code : -ENOMEM;
    int r = 0;
    /* A body-carrying method without a body still sends Content-Length: 0. */
    if (!body && (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                  strcmp(method, "PATCH") == 0)) {
        body = "";
        len = 0;
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0 || body)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : HTTPC_DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        r = err_set(err, curl_code_errno(rc), "httpc: %s %s%s: %s%s", method, c->server,
                    path_query, errbuf[0] ? errbuf : curl_easy_strerror(rc), tls_hint(c, rc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    char *ct = NULL;
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    if (ct && !(resp->content_type = strdup(ct))) {
        r = err_set(err, -ENOMEM, "httpc: out of memory");
        goto out;
    }
    if (!b.p && !(b.p = strdup(""))) {
        r = err_set(err, -ENOMEM, "httpc: out of memory");
        goto out;
    }
    resp->body = b.p;
    resp->len = b.len;
    b.p = NULL;
out:
    if (r != 0)
        httpc_resp_free(resp);
    free(b.p);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL); /* errbuf dies with this frame */
    easy_put(c, h);
    curl_slist_free_all(hdrs);
    return r;
}

int httpc_json(struct httpc *c, const char *method, const char *path_query,
               const char *content_type, const json_t *body, long *status, json_t **out,
               struct bosun_err *err)
{
    char *s = NULL;
    if (body && !(s = jsonx_dumps(body)))
        return err_set(err, -ENOMEM, "httpc: out of memory");
    struct httpc_resp resp;
    int r = httpc_request(c, method, path_query,
                          content_type ? content_type : (body ? "application/json" : NULL), s,
                          s ? strlen(s) : 0, 0, &resp, err);
    free(s);
    if (r != 0)
        return r;
    if (status)
        *status = resp.status;
    if (out)
        *out = resp.len ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
    httpc_resp_free(&resp);
    return 0;
}

/* ---- streams ------------------------------------------------------------------------- */

struct stream_ctx {
    CURL *h;
    struct buf line;
    struct buf errbody;
    httpc_line_fn on_line;
    void *userdata;
    long status;
    bool stopped_by_callback;
    bool too_long;
};

static size_t stream_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct stream_ctx *sc = userdata;
    size_t n = size * nmemb;
    if (sc->status == 0)
        curl_easy_getinfo(sc->h, CURLINFO_RESPONSE_CODE, &sc->status);
    if (sc->status < 200 || sc->status > 299) {
        /* An error reply is kept (briefly) for the error message, not split into lines. */
        size_t room = HTTPC_ERR_BODY_MAX - sc->errbody.len;
        if (buf_add(&sc->errbody, data, n < room ? n : room) != 0)
            return 0;
        return n;
    }
    /* Lines are assembled in sc->line (so on_line gets a NUL-terminated copy, and a
     * line split across curl's buffers is joined). */
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        bool eol = i < n && data[i] == '\n';
        if (!eol && i < n)
            continue;
        size_t seg = i - start;
        if (sc->line.len + seg > HTTPC_MAX_LINE) {
            sc->too_long = true;
            return 0;
        }
        if (buf_add(&sc->line, data + start, seg) != 0)
            return 0;
        start = i + 1;
        if (!eol)
            break;
        int stop = sc->on_line(sc->line.p, sc->line.len, sc->userdata);
        sc->line.len = 0;
        sc->line.p[0] = '\0';
        if (stop) {
            sc->stopped_by_callback = true;
            return 0;
        }
    }
    return n;
}

static int status_errno(long status)
{
    switch (status) {
    case 400:
        return -EINVAL;
    case 401:
    case 403:
        return -EACCES;
    case 404:
        return -ENOENT;
    case 410:
        return -ESTALE;
    default:
        return -EIO;
    }
}

int httpc_stream(struct httpc *c, const char *path_query, httpc_line_fn on_line, void *userdata,
                 const volatile int *stop, struct bosun_err *err)
{
    return httpc_stream_tick(c, path_query, on_line, NULL, userdata, stop, err);
}

int httpc_stream_tick(struct httpc *c, const char *path_query, httpc_line_fn on_line,
                      httpc_tick_fn on_tick, void *userdata, const volatile int *stop,
                      struct bosun_err *err)
{
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *hdrs = NULL;
    struct stream_ctx sc = {.on_line = on_line, .userdata = userdata};
    CURLM *m = NULL;
    bool added = false;
    int r = 0;
    /* Not pooled: the stream's connection belongs to its own multi handle. */
    CURL *h = easy_new(c, false, path_query, NULL, &hdrs, errbuf, err);
    if (!h)
        return err ? err->code : -ENOMEM;
    sc.h = h;
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, stream_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sc);
    m = curl_multi_init();
    if (!m) {
        r = err_set(err, -ENOMEM, "httpc: curl_multi_init failed");
        goto out;
    }
    if (curl_multi_add_handle(m, h) != CURLM_OK) {
        r = err_set(err, -ENOMEM, "httpc: curl_multi_add_handle failed");
        goto out;
    }
    added = true;
    CURLcode rc = CURLE_OK;
    bool done = false;
    while (!done) {
        /* Atomic: *stop is set by another thread. */
        if ((stop && __atomic_load_n(stop, __ATOMIC_ACQUIRE)) || (on_tick && on_tick(userdata)))
            goto out; /* stopped: not an error */
        int running = 0;
        CURLMcode mc = curl_multi_perform(m, &running);
        if (mc != CURLM_OK) {
            r = err_set(err, -EIO, "httpc: GET %s%s: %s", c->server, path_query,
                        curl_multi_strerror(mc));
            goto out;
        }
        int left = 0;
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(m, &left)))
            if (msg->msg == CURLMSG_DONE) {
                rc = msg->data.result;
                done = true;
            }
        if (done || running == 0)
            break;
        mc = curl_multi_poll(m, NULL, 0, HTTPC_STREAM_POLL_MS, NULL);
        if (mc != CURLM_OK) {
            r = err_set(err, -EIO, "httpc: GET %s%s: %s", c->server, path_query,
                        curl_multi_strerror(mc));
            goto out;
        }
    }
    if (sc.stopped_by_callback)
        goto out;
    if (sc.too_long) {
        r = err_set(err, -E2BIG, "httpc: GET %s%s: a streamed line is longer than %u bytes",
                    c->server, path_query, HTTPC_MAX_LINE);
        goto out;
    }
    if (sc.status == 0)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &sc.status);
    if (sc.status != 0 && (sc.status < 200 || sc.status > 299)) {
        r = err_set(err, status_errno(sc.status), "httpc: GET %s%s: HTTP %ld: %.*s", c->server,
                    path_query, sc.status, (int)sc.errbody.len,
                    sc.errbody.p ? sc.errbody.p : "");
        goto out;
    }
    if (rc != CURLE_OK) {
        r = err_set(err, curl_code_errno(rc), "httpc: GET %s%s: %s%s", c->server, path_query,
                    errbuf[0] ? errbuf : curl_easy_strerror(rc), tls_hint(c, rc));
        goto out;
    }
    /* A last line without '\n' still counts: the server ended the stream after it. */
    if (sc.line.len)
        on_line(sc.line.p, sc.line.len, userdata);
out:
    if (added)
        curl_multi_remove_handle(m, h);
    if (m)
        curl_multi_cleanup(m);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(sc.line.p);
    free(sc.errbody.p);
    return r;
}

char *httpc_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
    return out;
}
