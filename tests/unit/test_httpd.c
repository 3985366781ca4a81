/* Unit tests for lib/httpd and lib/httpc: a real server on 127.0.0.1:0, real clients. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/httpc.h"
#include "lib/httpd.h"
#include "lib/jsonx.h"
#include "lib/timeutil.h"

#define MAX_STREAMS 600

struct fixture {
    struct httpd *srv;
    struct httpc *cli;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct httpd_stream *streams[MAX_STREAMS];
    int nstreams;
    int closed;        /* on_closed calls */
    int closed_twice;  /* on_closed calls for a stream already closed */
    bool closed_flag[MAX_STREAMS];
    struct httpd_req *later[16]; /* requests parked with httpd_later */
    int nlater;
    int later_answered;
};

static void on_closed(struct httpd_stream *s, void *userdata)
{
    struct fixture *f = userdata;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->nstreams; i++) {
        if (f->streams[i] == s) {
            if (f->closed_flag[i])
                f->closed_twice++;
            f->closed_flag[i] = true;
            f->streams[i] = NULL; /* not to be used any more */
        }
    }
    f->closed++;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->mu);
}

/* A produced body: total bytes of a repeating pattern, in pieces of at most `piece`. */
struct gen {
    size_t total, piece, off;
    int *freed; /* incremented by gen_free */
    bool fail_at_half;
};

static ssize_t gen_fn(void *userdata, char *buf, size_t max)
{
    struct gen *g = userdata;
    if (g->off == g->total)
        return HTTPD_BODY_END;
    if (g->fail_at_half && g->off >= g->total / 2)
        return HTTPD_BODY_ERROR;
    size_t n = g->total - g->off;
    if (n > max)
        n = max;
    if (n > g->piece)
        n = g->piece;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + (g->off + i) % 26);
    g->off += n;
    return (ssize_t)n;
}

static int gen_freed;

static void gen_free(void *userdata)
{
    struct gen *g = userdata;
    __atomic_add_fetch(g->freed, 1, __ATOMIC_SEQ_CST);
    free(g);
}

static void later_answer(struct httpd_req *req, void *userdata)
{
    struct fixture *f = userdata;
    httpd_respond(req, 200, "text/plain", "later", 5);
    __atomic_add_fetch(&f->later_answered, 1, __ATOMIC_SEQ_CST);
}

static void handler(struct httpd_req *req, void *userdata)
{
    struct fixture *f = userdata;
    const char *path = httpd_path(req);
    if (strcmp(path, "/echo") == 0 || strcmp(path, "/echo/a b") == 0) {
        size_t blen;
        const char *body = httpd_body(req, &blen);
        const char *ls = httpd_query(req, "labelSelector");
        const char *q = httpd_query(req, "q");
        const char *hdr = httpd_header(req, "x-test");
        json_t *o = json_pack("{s:s?,s:s,s:s,s:s,s:s?,s:s?,s:s?,s:s%,s:b}", "auth",
                              httpd_header(req, "authorization"), "method",
                              httpd_method(req), "path", path, "raw", httpd_raw_query(req),
                              "ls", ls, "q", q, "hdr", hdr, "body", body, blen, "loopback",
                              httpd_peer_is_loopback(req));
        httpd_add_header(req, "X-Reply", "yes");
        httpd_respond_json(req, 200, o);
        json_decref(o);
    } else if (strcmp(path, "/stream") == 0) {
        struct httpd_stream *s =
            httpd_stream_start(req, 200, "application/json", on_closed, f);
        if (!s)
            return;
        pthread_mutex_lock(&f->mu);
        if (f->nstreams < MAX_STREAMS)
            f->streams[f->nstreams++] = s;
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->mu);
    } else if (strcmp(path, "/produce") == 0) {
        /* ?n=bytes&piece=max per call&chunked=1&fail=1 */
        struct gen *g = calloc(1, sizeof(*g));
        g->total = strtoull(httpd_query(req, "n"), NULL, 10);
        g->piece = strtoull(httpd_query(req, "piece"), NULL, 10);
        g->freed = &gen_freed;
        g->fail_at_half = httpd_query(req, "fail") != NULL;
        bool chunked = httpd_query(req, "chunked") != NULL;
        httpd_add_header(req, "X-Reply", "yes");
        if (httpd_respond_producer(req, 200, "text/plain",
                                   chunked ? HTTPD_SIZE_UNKNOWN : (uint64_t)g->total, gen_fn,
                                   gen_free, g) != 0)
            httpd_respond(req, 500, "text/plain", "x", 1);
    } else if (strcmp(path, "/take") == 0) {
        char *b = strdup("{\"taken\":true}");
        httpd_respond_take(req, 201, "application/json", b, strlen(b));
        /* a second answer is refused and frees what it was given */
        assert_int_equal(httpd_respond_take(req, 200, "text/plain", strdup("y"), 1), -EALREADY);
    } else if (strcmp(path, "/later") == 0) {
        pthread_mutex_lock(&f->mu);
        if (f->nlater < 16)
            f->later[f->nlater++] = req;
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->mu);
        httpd_later(req, later_answer, f);
    } else if (strcmp(path, "/later-now") == 0) {
        /* the result is in before the handler even says it will answer later */
        httpd_later_ready(req);
        httpd_later(req, later_answer, f);
    } else if (strcmp(path, "/silent") == 0) {
        /* does not answer: the server must */
    } else {
        const char *msg = "{\"kind\":\"Status\",\"code\":404}";
        httpd_respond(req, 404, "application/json", msg, strlen(msg));
    }
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cond, NULL);
    struct httpd_opts o = {.listen = "127.0.0.1:0", .max_body = 1024, .threads = 2};
    struct bosun_err err = {0};
    if (httpd_start(&o, handler, f, &f->srv, &err) != 0) {
        fprintf(stderr, "httpd_start: %s\n", err.msg);
        return -1;
    }
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", httpd_port(f->srv));
    if (httpc_new_token(url, "sekret", &f->cli, &err) != 0) {
        fprintf(stderr, "httpc_new: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    httpd_stop(f->srv);
    httpc_free(f->cli);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cond);
    free(f);
    return 0;
}

/* Waits until pred(f) holds (checked under f->mu) or timeout; returns pred's value. */
static bool wait_for(struct fixture *f, bool (*pred)(struct fixture *, int), int arg,
                     int64_t timeout_ms)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    pthread_mutex_lock(&f->mu);
    while (!pred(f, arg) && time_mono_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&f->cond, &f->mu, &ts);
    }
    bool ok = pred(f, arg);
    pthread_mutex_unlock(&f->mu);
    return ok;
}

static bool streams_at_least(struct fixture *f, int n)
{
    return f->nstreams >= n;
}

static bool closed_at_least(struct fixture *f, int n)
{
    return f->closed >= n;
}

/* ---- plain requests ------------------------------------------------------------------ */

static void test_httpd_round_trips_methods_headers_and_body(void **state)
{
    struct fixture *f = *state;
    const char *methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        struct httpc_resp resp;
        struct bosun_err err = {0};
        const char *body = strcmp(methods[i], "GET") == 0 ? NULL : "{\"x\":\"\\u00e9\"}";
        int r = httpc_request(f->cli, methods[i], "/echo", "application/json", body,
                              body ? strlen(body) : 0, 0, &resp, &err);
        assert_int_equal(r, 0);
        assert_int_equal(resp.status, 200);
        assert_non_null(resp.content_type);
        assert_string_equal(resp.content_type, "application/json");
        json_t *o = jsonx_loadb(resp.body, resp.len, &err);
        assert_non_null(o);
        assert_string_equal(jsonx_get_str(o, "method"), methods[i]);
        assert_string_equal(jsonx_get_str(o, "path"), "/echo");
        assert_string_equal(jsonx_get_str(o, "body"), body ? body : "");
        assert_true(json_is_true(json_object_get(o, "loopback")));
        json_decref(o);
        httpc_resp_free(&resp);
    }
}

static void test_httpd_passes_bearer_token_and_headers(void **state)
{
    struct fixture *f = *state;
    /* httpc sends the token; the handler sees it as a header. */
    struct httpc_resp resp;
    struct bosun_err err = {0};
    assert_int_equal(httpc_request(f->cli, "GET", "/echo", NULL, NULL, 0, 0, &resp, &err), 0);
    assert_non_null(strstr(resp.body, "\"auth\":\"Bearer sekret\""));
    httpc_resp_free(&resp);
    /* A raw request proves case-insensitive header lookup and the reply header. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(httpd_port(f->srv))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    const char *rq = "GET /echo HTTP/1.1\r\nHost: x\r\nX-TEST: hello\r\nConnection: close\r\n\r\n";
    assert_int_equal(write(fd, rq, strlen(rq)), (ssize_t)strlen(rq));
    char buf[4096];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof(buf) - 1 && (k = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)k;
    buf[n] = '\0';
    close(fd);
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_non_null(strstr(buf, "X-Reply: yes"));
    assert_non_null(strstr(buf, "\"hdr\":\"hello\""));
}

static void test_httpd_decodes_query_plus_and_percent(void **state)
{
    struct fixture *f = *state;
    const char *pq = "/echo?labelSelector=app+in+%28web%2Cnginx%29%2Ctier%21%3Dx&q=first&q=last";
    long status = 0;
    json_t *o = NULL;
    struct bosun_err err = {0};
    assert_int_equal(httpc_json(f->cli, "GET", pq, NULL, NULL, &status, &o, &err), 0);
    assert_int_equal(status, 200);
    assert_string_equal(jsonx_get_str(o, "ls"), "app in (web,nginx),tier!=x");
    assert_string_equal(jsonx_get_str(o, "q"), "last");
    assert_string_equal(jsonx_get_str(o, "raw"), strchr(pq, '?') + 1);
    json_decref(o);
    /* The path is percent-decoded ('+' stays: it is only a space in the query). */
    assert_int_equal(httpc_json(f->cli, "GET", "/echo/a%20b", NULL, NULL, &status, &o, &err), 0);
    assert_int_equal(status, 200);
    assert_string_equal(jsonx_get_str(o, "path"), "/echo/a b");
    assert_null(jsonx_get_str(o, "ls"));
    json_decref(o);
}

struct kv_log {
    char out[512];
};

static int kv_collect(const char *k, size_t klen, const char *v, size_t vlen, void *userdata)
{
    struct kv_log *l = userdata;
    size_t n = strlen(l->out);
    snprintf(l->out + n, sizeof(l->out) - n, "[%.*s=%.*s]", (int)klen, k, (int)vlen, v);
    return 0;
}

static void test_httpd_query_decode_handles_odd_input(void **state)
{
    (void)state;
    struct kv_log l = {{0}};
    const char *raw = "a=1&&b&c=%zz%4&d=x+y%2b&=e&f=%41%42";
    assert_int_equal(httpd_query_decode(raw, strlen(raw), kv_collect, &l), 0);
    assert_string_equal(l.out, "[a=1][b=][c=%zz%4][d=x y+][=e][f=AB]");
    memset(&l, 0, sizeof(l));
    assert_int_equal(httpd_query_decode("", 0, kv_collect, &l), 0);
    assert_string_equal(l.out, "");
}

static void test_httpd_refuses_body_over_limit(void **state)
{
    struct fixture *f = *state;
    /* Small enough that curl sends it without "Expect: 100-continue" (drained, then 413),
     * and big enough that curl waits for "100 Continue" (refused before the body). */
    size_t sizes[] = {4096, 2 * 1024 * 1024};
    for (size_t i = 0; i < 2; i++) {
        char *big = malloc(sizes[i]);
        memset(big, 'x', sizes[i]);
        struct httpc_resp resp;
        struct bosun_err err = {0};
        int r = httpc_request(f->cli, "POST", "/echo", "application/json", big, sizes[i], 0,
                              &resp, &err);
        free(big);
        assert_int_equal(r, 0);
        assert_int_equal(resp.status, 413);
        json_t *o = jsonx_loadb(resp.body, resp.len, &err);
        assert_non_null(o);
        assert_string_equal(jsonx_get_str(o, "kind"), "Status");
        assert_string_equal(jsonx_get_str(o, "reason"), "RequestEntityTooLarge");
        assert_int_equal(jsonx_get_int(o, "code", 0), 413);
        json_decref(o);
        httpc_resp_free(&resp);
    }
    /* The server still works, and a body exactly at the limit passes. */
    char ok[1024];
    memset(ok, 'y', sizeof(ok));
    struct httpc_resp resp;
    assert_int_equal(httpc_request(f->cli, "PUT", "/echo", "text/plain", ok, sizeof(ok), 0, &resp,
                                   NULL),
                     0);
    assert_int_equal(resp.status, 200);
    httpc_resp_free(&resp);
}

static void test_httpd_passes_handler_404_and_answers_500_for_silent_handler(void **state)
{
    struct fixture *f = *state;
    struct httpc_resp resp;
    assert_int_equal(httpc_request(f->cli, "GET", "/nope", NULL, NULL, 0, 0, &resp, NULL), 0);
    assert_int_equal(resp.status, 404);
    assert_string_equal(resp.body, "{\"kind\":\"Status\",\"code\":404}");
    httpc_resp_free(&resp);
    assert_int_equal(httpc_request(f->cli, "GET", "/silent", NULL, NULL, 0, 0, &resp, NULL), 0);
    assert_int_equal(resp.status, 500);
    httpc_resp_free(&resp);
}

static void *hammer(void *arg)
{
    struct fixture *f = arg;
    long ok = 0;
    for (int i = 0; i < 50; i++) {
        char pq[64];
        snprintf(pq, sizeof(pq), "/echo?q=%d", i);
        long status = 0;
        json_t *o = NULL;
        if (httpc_json(f->cli, "POST", pq, NULL, NULL, &status, &o, NULL) == 0 && status == 200 &&
            o && atoi(jsonx_get_str(o, "q")) == i)
            ok++;
        json_decref(o);
    }
    return (void *)ok;
}

/* ---- produced and handed-over replies --------------------------------------------- */

static void check_pattern(const char *body, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (body[i] != (char)('a' + i % 26))
            fail_msg("byte %zu is %c", i, body[i]);
}

static int freed_now(void)
{
    return __atomic_load_n(&gen_freed, __ATOMIC_SEQ_CST);
}

static void wait_freed(int want)
{
    for (int i = 0; i < 500 && freed_now() < want; i++)
        usleep(10000);
    assert_int_equal(freed_now(), want);
}

static void test_httpd_producer_sends_known_and_unknown_sizes(void **state)
{
    struct fixture *f = *state;
    /* sizes around the producer's block and odd piece sizes; 0 bytes too */
    const char *cases[] = {"/produce?n=0&piece=1",
                           "/produce?n=1&piece=1",
                           "/produce?n=262144&piece=262144",
                           "/produce?n=3000001&piece=7777",
                           "/produce?n=0&piece=1&chunked=1",
                           "/produce?n=100&piece=3&chunked=1",
                           "/produce?n=3000001&piece=100000&chunked=1"};
    int before = freed_now();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct httpc_resp resp;
        struct bosun_err err = {0};
        assert_int_equal(httpc_request(f->cli, "GET", cases[i], NULL, NULL, 0, 0, &resp, &err), 0);
        assert_int_equal(resp.status, 200);
        size_t want = strtoull(strstr(cases[i], "n=") + 2, NULL, 10);
        assert_int_equal(resp.len, want);
        check_pattern(resp.body, resp.len);
        httpc_resp_free(&resp);
    }
    wait_freed(before + (int)(sizeof(cases) / sizeof(cases[0])));
}

/* A producer that fails mid-body ends the connection (the client sees an error, not a
 * short body passed off as whole); the userdata is still freed once. */
static void test_httpd_producer_error_aborts_the_reply(void **state)
{
    struct fixture *f = *state;
    int before = freed_now();
    const char *cases[] = {"/produce?n=2000000&piece=5000&fail=1",
                           "/produce?n=2000000&piece=5000&fail=1&chunked=1"};
    for (size_t i = 0; i < 2; i++) {
        struct httpc_resp resp = {0};
        struct bosun_err err = {0};
        int r = httpc_request(f->cli, "GET", cases[i], NULL, NULL, 0, 0, &resp, &err);
        assert_int_not_equal(r, 0);
        httpc_resp_free(&resp);
    }
    wait_freed(before + 2);
}

/* A client that goes away mid-body: the producer stops being called and is freed. */
static void test_httpd_producer_freed_when_client_leaves(void **state)
{
    struct fixture *f = *state;
    int before = freed_now();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(httpd_port(f->srv))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    const char *rq = "GET /produce?n=500000000&piece=65536 HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(fd, rq, strlen(rq)), (ssize_t)strlen(rq));
    char buf[65536];
    assert_true(read(fd, buf, sizeof(buf)) > 0);
    close(fd);
    wait_freed(before + 1);
}

static void test_httpd_respond_take_sends_and_frees_the_body(void **state)
{
    struct fixture *f = *state;
    struct httpc_resp resp;
    struct bosun_err err = {0};
    assert_int_equal(httpc_request(f->cli, "GET", "/take", NULL, NULL, 0, 0, &resp, &err), 0);
    assert_int_equal(resp.status, 201);
    assert_string_equal(resp.body, "{\"taken\":true}");
    httpc_resp_free(&resp);
}

static void test_httpc_is_safe_from_many_threads(void **state)
{
    struct fixture *f = *state;
    pthread_t t[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, hammer, f);
    long total = 0;
    for (int i = 0; i < 8; i++) {
        void *ok;
        pthread_join(t[i], &ok);
        total += (long)ok;
    }
    assert_int_equal(total, 8 * 50);
}

static void test_httpc_reports_connection_refused(void **state)
{
    (void)state;
    /* A port we bound and closed: nothing listens there. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
    struct httpc *c = NULL;
    struct bosun_err err = {0};
    assert_int_equal(httpc_new(url, NULL, &c, &err), 0);
    struct httpc_resp resp;
    assert_int_equal(httpc_request(c, "GET", "/", NULL, NULL, 0, 0, &resp, &err), -ECONNREFUSED);
    assert_non_null(strstr(err.msg, "httpc: GET http://127.0.0.1:"));
    httpc_free(c);
}

static void test_httpc_reads_token_file_and_rejects_empty(void **state)
{
    (void)state;
    char path[] = "/tmp/bosun-test-token-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    struct httpc *c = NULL;
    struct bosun_err err = {0};
    assert_int_equal(httpc_new("http://127.0.0.1:1", path, &c, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "is empty"));
    assert_int_equal(write(fd, "tok123\n", 7), 7);
    close(fd);
    assert_int_equal(httpc_new("http://127.0.0.1:1", path, &c, &err), 0);
    httpc_free(c);
    unlink(path);
    assert_int_equal(httpc_new("http://127.0.0.1:1", "/nonexistent/token", &c, &err), -ENOENT);
}

static void test_httpd_rejects_bad_listen_address(void **state)
{
    (void)state;
    struct httpd *srv = NULL;
    struct bosun_err err = {0};
    struct httpd_opts o = {.listen = "127.0.0.1"};
    assert_int_equal(httpd_start(&o, handler, NULL, &srv, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "want host:port"));
    o.listen = "127.0.0.1:99999";
    assert_int_equal(httpd_start(&o, handler, NULL, &srv, &err), -EINVAL);
}

/* ---- streams ------------------------------------------------------------------------- */

struct lines {
    char got[8][64];
    int n;
    int stop_after; /* on_line returns 1 after this many lines (0 = never) */
};

static int collect_line(const char *line, size_t len, void *userdata)
{
    struct lines *l = userdata;
    if (l->n < 8)
        snprintf(l->got[l->n], sizeof(l->got[0]), "%.*s", (int)len, line);
    l->n++;
    return l->stop_after && l->n >= l->stop_after;
}

static void *produce_three(void *arg)
{
    struct fixture *f = arg;
    if (!wait_for(f, streams_at_least, 1, 5000))
        return NULL;
    pthread_mutex_lock(&f->mu);
    struct httpd_stream *s = f->streams[0];
    pthread_mutex_unlock(&f->mu);
    const char *lines[] = {"{\"n\":1}\n", "{\"n\":2}\n{\"n\":", "3}\n"};
    for (int i = 0; i < 3; i++) {
        usleep(50 * 1000); /* the connection parks between writes */
        httpd_stream_write(s, lines[i], strlen(lines[i]));
    }
    httpd_stream_close(s);
    return NULL;
}

static void test_httpd_stream_delivers_lines_written_from_another_thread(void **state)
{
    struct fixture *f = *state;
    pthread_t t;
    pthread_create(&t, NULL, produce_three, f);
    struct lines l = {0};
    struct bosun_err err = {0};
    int r = httpc_stream(f->cli, "/stream?watch=true", collect_line, &l, NULL, &err);
    pthread_join(t, NULL);
    assert_int_equal(r, 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.got[0], "{\"n\":1}");
    assert_string_equal(l.got[1], "{\"n\":2}");
    assert_string_equal(l.got[2], "{\"n\":3}");
    assert_true(wait_for(f, closed_at_least, 1, 2000));
    assert_int_equal(f->closed, 1);
    assert_int_equal(f->closed_twice, 0);
}

static void *write_one_then_wait(void *arg)
{
    struct fixture *f = arg;
    if (!wait_for(f, streams_at_least, 1, 5000))
        return NULL;
    pthread_mutex_lock(&f->mu);
    struct httpd_stream *s = f->streams[0];
    pthread_mutex_unlock(&f->mu);
    httpd_stream_write(s, "hello\n", 6);
    return NULL;
}

static void test_httpd_client_disconnect_calls_on_closed_once(void **state)
{
    struct fixture *f = *state;
    pthread_t t;
    pthread_create(&t, NULL, write_one_then_wait, f);
    struct lines l = {.stop_after = 1};
    int r = httpc_stream(f->cli, "/stream", collect_line, &l, NULL, NULL);
    pthread_join(t, NULL);
    assert_int_equal(r, 0);
    assert_int_equal(l.n, 1);
    /* The client hung up on an idle (parked) stream: the server notices by itself. */
    assert_true(wait_for(f, closed_at_least, 1, 3000));
    usleep(100 * 1000);
    assert_int_equal(f->closed, 1);
    assert_int_equal(f->closed_twice, 0);
}

struct stopper {
    volatile int *flag;
    int delay_ms;
};

static void *set_stop(void *arg)
{
    struct stopper *s = arg;
    usleep((useconds_t)s->delay_ms * 1000);
    __atomic_store_n(s->flag, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void test_httpc_stream_honours_stop_flag_on_idle_stream(void **state)
{
    struct fixture *f = *state;
    volatile int stop = 0;
    struct stopper st = {.flag = &stop, .delay_ms = 300};
    pthread_t t;
    pthread_create(&t, NULL, set_stop, &st);
    struct lines l = {0};
    int64_t t0 = time_mono_ms();
    int r = httpc_stream(f->cli, "/stream", collect_line, &l, &stop, NULL);
    int64_t elapsed = time_mono_ms() - t0;
    pthread_join(t, NULL);
    assert_int_equal(r, 0);
    assert_int_equal(l.n, 0);
    assert_true(elapsed >= 300);
    assert_true(elapsed < 300 + 250);
    assert_true(wait_for(f, closed_at_least, 1, 3000));
}

static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void test_httpd_holds_500_streams_without_a_thread_each(void **state)
{
    struct fixture *f = *state;
    enum { N = 500 };
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 4 * N) {
        rl.rlim_cur = rl.rlim_max < 4 * N ? rl.rlim_max : 4 * N;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < 2 * N + 64)
        skip();
    int threads_before = count_threads();
    static int fds[N];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(httpd_port(f->srv))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const char *rq = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(write(fds[i], rq, strlen(rq)), (ssize_t)strlen(rq));
    }
    assert_true(wait_for(f, streams_at_least, N, 10000));
    /* Idle streams are parked: no thread per stream, and no core spinning. */
    assert_true(count_threads() <= threads_before + 2);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    usleep(300 * 1000);
    getrusage(RUSAGE_SELF, &ru1);
    long cpu_us = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) * 1000000L +
                  (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) +
                  (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1000000L +
                  (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);
    assert_true(cpu_us < 100 * 1000);
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < N; i++)
        assert_int_equal(httpd_stream_write(f->streams[i], "ping\n", 5), 0);
    pthread_mutex_unlock(&f->mu);
    /* Every client gets the headers and its chunk ("5\r\nping\n\r\n"). */
    for (int i = 0; i < N; i++) {
        char buf[1024] = "";
        size_t n = 0;
        int64_t deadline = time_mono_ms() + 5000;
        while (!strstr(buf, "ping\n") && time_mono_ms() < deadline) {
            struct pollfd p = {.fd = fds[i], .events = POLLIN};
            if (poll(&p, 1, 100) <= 0)
                continue;
            ssize_t k = read(fds[i], buf + n, sizeof(buf) - 1 - n);
            if (k <= 0)
                break;
            n += (size_t)k;
            buf[n] = '\0';
        }
        assert_non_null(strstr(buf, "Transfer-Encoding: chunked"));
        assert_non_null(strstr(buf, "5\r\nping\n\r\n"));
        close(fds[i]);
    }
    assert_true(wait_for(f, closed_at_least, N, 10000));
    assert_int_equal(f->closed_twice, 0);
}

static void test_httpd_stream_write_refuses_past_queue_limit(void **state)
{
    struct fixture *f = *state;
    /* A client that never reads: the kernel buffers fill, then the 8 MiB queue. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(httpd_port(f->srv))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    const char *rq = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(fd, rq, strlen(rq)), (ssize_t)strlen(rq));
    assert_true(wait_for(f, streams_at_least, 1, 5000));
    pthread_mutex_lock(&f->mu);
    struct httpd_stream *s = f->streams[0];
    pthread_mutex_unlock(&f->mu);
    char *mb = malloc(1 << 20);
    memset(mb, 'z', 1 << 20);
    int r = 0;
    for (int i = 0; i < 64 && r == 0; i++) {
        r = httpd_stream_write(s, mb, 1 << 20);
        if (r == 0)
            usleep(5000);
    }
    free(mb);
    assert_int_equal(r, -ENOBUFS);
    httpd_stream_close(s);
    close(fd);
    assert_true(wait_for(f, closed_at_least, 1, 5000));
}

static void test_httpd_stop_closes_open_streams(void **state)
{
    struct fixture *f = *state;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(httpd_port(f->srv))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    const char *rq = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(fd, rq, strlen(rq)), (ssize_t)strlen(rq));
    assert_true(wait_for(f, streams_at_least, 1, 5000));
    usleep(50 * 1000); /* let the reader park it */
    httpd_stop(f->srv);
    f->srv = NULL;
    assert_int_equal(f->closed, 1);
    close(fd);
}

/* ---- answers that come later ---------------------------------------------------------- */

static bool later_at_least(struct fixture *f, int n)
{
    return f->nlater >= n;
}

static int connect_and_send(struct fixture *f, const char *rq)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(httpd_port(f->srv))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, rq, strlen(rq)), (ssize_t)strlen(rq));
    return fd;
}

/* Reads from fd until `want` shows up or 5 s pass; true when it did. */
static bool read_until(int fd, const char *want)
{
    char buf[4096];
    size_t len = 0;
    int64_t deadline = time_mono_ms() + 5000;
    while (time_mono_ms() < deadline && len < sizeof(buf) - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, want))
            return true;
    }
    return false;
}

static void test_httpd_later_frees_the_worker_until_the_result_is_ready(void **state)
{
    struct fixture *f = *state;
    /* Six parked requests on a two-worker server: the workers still serve others. */
    int fds[6];
    for (int i = 0; i < 6; i++)
        fds[i] = connect_and_send(f, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(wait_for(f, later_at_least, 6, 5000));
    struct httpc_resp resp;
    struct bosun_err err = {0};
    assert_int_equal(httpc_request(f->cli, "GET", "/echo", NULL, NULL, 0, 0, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    httpc_resp_free(&resp);
    struct pollfd p = {.fd = fds[0], .events = POLLIN};
    assert_int_equal(poll(&p, 1, 100), 0); /* nothing answered before it is ready */
    for (int i = 0; i < 6; i++)
        httpd_later_ready(f->later[i]);
    for (int i = 0; i < 6; i++) {
        assert_true(read_until(fds[i], "\r\n\r\nlater"));
        close(fds[i]);
    }
    assert_int_equal(__atomic_load_n(&f->later_answered, __ATOMIC_SEQ_CST), 6);
}

static void test_httpd_later_ready_before_the_handler_returns_answers_at_once(void **state)
{
    struct fixture *f = *state;
    struct httpc_resp resp;
    struct bosun_err err = {0};
    assert_int_equal(httpc_request(f->cli, "GET", "/later-now", NULL, NULL, 0, 0, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.len, 5);
    assert_memory_equal(resp.body, "later", 5);
    httpc_resp_free(&resp);
}

static void test_httpd_later_for_a_client_that_left_is_answered_into_the_void(void **state)
{
    struct fixture *f = *state;
    int fd = connect_and_send(f, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(wait_for(f, later_at_least, 1, 5000));
    usleep(20 * 1000); /* parked */
    close(fd);         /* the client gives up before the result is in */
    usleep(20 * 1000);
    httpd_later_ready(f->later[0]);
    for (int i = 0; i < 250 && __atomic_load_n(&f->later_answered, __ATOMIC_SEQ_CST) < 1; i++)
        usleep(20 * 1000);
    assert_int_equal(__atomic_load_n(&f->later_answered, __ATOMIC_SEQ_CST), 1);
    /* and the server goes on serving */
    struct httpc_resp resp;
    struct bosun_err err = {0};
    assert_int_equal(httpc_request(f->cli, "GET", "/later-now", NULL, NULL, 0, 0, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    httpc_resp_free(&resp);
}

static void *ready_after_100ms(void *arg)
{
    usleep(100 * 1000);
    httpd_later_ready(arg);
    return NULL;
}

static void test_httpd_stop_waits_for_requests_answered_later(void **state)
{
    struct fixture *f = *state;
    int fd = connect_and_send(f, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(wait_for(f, later_at_least, 1, 5000));
    usleep(20 * 1000); /* let the worker park it */
    pthread_t t;
    pthread_create(&t, NULL, ready_after_100ms, f->later[0]);
    httpd_stop(f->srv); /* returns once the parked request has been answered */
    f->srv = NULL;
    pthread_join(t, NULL);
    assert_int_equal(__atomic_load_n(&f->later_answered, __ATOMIC_SEQ_CST), 1);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_httpd_later_frees_the_worker_until_the_result_is_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_httpd_later_ready_before_the_handler_returns_answers_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_httpd_stop_waits_for_requests_answered_later, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_httpd_later_for_a_client_that_left_is_answered_into_the_void, setup, teardown),
        cmocka_unit_test_setup_teardown(test_httpd_round_trips_methods_headers_and_body, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_httpd_passes_bearer_token_and_headers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_httpd_decodes_query_plus_and_percent, setup,
                                        teardown),
        cmocka_unit_test(test_httpd_query_decode_handles_odd_input),
        cmocka_unit_test_setup_teardown(test_httpd_refuses_body_over_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_httpd_passes_handler_404_and_answers_500_for_silent_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(test_httpd_producer_sends_known_and_unknown_sizes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_httpd_producer_error_aborts_the_reply, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_httpd_producer_freed_when_client_leaves, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_httpd_respond_take_sends_and_frees_the_body, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_httpc_is_safe_from_many_threads, setup, teardown),
        cmocka_unit_test(test_httpc_reports_connection_refused),
        cmocka_unit_test(test_httpc_reads_token_file_and_rejects_empty),
        cmocka_unit_test(test_httpd_rejects_bad_listen_address),
        cmocka_unit_test_setup_teardown(
            test_httpd_stream_delivers_lines_written_from_another_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_httpd_client_disconnect_calls_on_closed_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_httpc_stream_honours_stop_flag_on_idle_stream,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_httpd_holds_500_streams_without_a_thread_each,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_httpd_stream_write_refuses_past_queue_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_httpd_stop_closes_open_streams, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
