/* Unit tests for TLS in lib/httpd and lib/httpc: a server with a lib/pki certificate on
 * 127.0.0.1:0, and real clients (httpc, a raw OpenSSL client, the curl tool). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/fileutil.h"
#include "lib/httpc.h"
#include "lib/httpd.h"
#include "lib/jsonx.h"
#include "lib/pki.h"
#include "lib/timeutil.h"

#define MAX_STREAMS 8

static const char *const IPS[] = {"127.0.0.1", NULL};
static const char *const DNS[] = {"localhost", NULL};

struct fixture {
    char root[64];
    char pki[128];
    char ca[160];
    struct httpd *srv;
    struct httpc *cli; /* trusts the CA */
    char url[64];
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct httpd_stream *streams[MAX_STREAMS];
    int nstreams;
    int closed;
    int closed_twice;
    bool closed_flag[MAX_STREAMS];
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
            f->streams[i] = NULL;
        }
    }
    f->closed++;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->mu);
}

static void handler(struct httpd_req *req, void *userdata)
{
    struct fixture *f = userdata;
    const char *path = httpd_path(req);
    if (strcmp(path, "/echo") == 0) {
        size_t blen;
        const char *body = httpd_body(req, &blen);
        json_t *o = json_pack("{s:s?,s:s,s:s%,s:b}", "auth", httpd_header(req, "authorization"),
                              "method", httpd_method(req), "body", body, blen, "loopback",
                              httpd_peer_is_loopback(req));
        httpd_respond_json(req, 200, o);
        json_decref(o);
    } else if (strcmp(path, "/stream") == 0) {
        struct httpd_stream *s = httpd_stream_start(req, 200, "application/json", on_closed, f);
        if (!s)
            return;
        pthread_mutex_lock(&f->mu);
        if (f->nstreams < MAX_STREAMS)
            f->streams[f->nstreams++] = s;
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->mu);
    } else {
        httpd_respond(req, 404, "text/plain", "no", 2);
    }
}

static int start_server(struct fixture *f)
{
    char crt[160], key[160];
    snprintf(crt, sizeof(crt), "%s/%s", f->pki, PKI_SERVER_CERT);
    snprintf(key, sizeof(key), "%s/%s", f->pki, PKI_SERVER_KEY);
    char *crt_pem = NULL, *key_pem = NULL;
    struct bosun_err err = {0};
    int r = fileutil_read_all(crt, 0, &crt_pem, NULL, &err);
    if (r == 0)
        r = fileutil_read_all(key, 0, &key_pem, NULL, &err);
    if (r == 0) {
        struct httpd_opts o = {.listen = "127.0.0.1:0",
                               .max_body = 1024,
                               .threads = 2,
                               .tls_cert_pem = crt_pem,
                               .tls_key_pem = key_pem};
        r = httpd_start(&o, handler, f, &f->srv, &err);
    }
    /* Borrowed for the call only: freeing them now must be safe. */
    free(crt_pem);
    free(key_pem);
    if (r != 0)
        fprintf(stderr, "start_server: %s\n", err.msg);
    return r;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cond, NULL);
    snprintf(f->root, sizeof(f->root), "/tmp/bosun-tls-XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->pki, sizeof(f->pki), "%s/pki", f->root);
    snprintf(f->ca, sizeof(f->ca), "%s/%s", f->pki, PKI_CA_CERT);
    struct bosun_err err = {0};
    if (pki_ensure(f->pki, IPS, DNS, &err) != 0) {
        fprintf(stderr, "pki_ensure: %s\n", err.msg);
        return -1;
    }
    if (start_server(f) != 0)
        return -1;
    snprintf(f->url, sizeof(f->url), "https://127.0.0.1:%d", httpd_port(f->srv));
    if (httpc_new_token(f->url, "sekret", &f->cli, &err) != 0 ||
        httpc_set_ca_file(f->cli, f->ca, &err) != 0) {
        fprintf(stderr, "httpc: %s\n", err.msg);
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
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->root);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cond);
    free(f);
    return 0;
}

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

static struct httpd_stream *first_stream(struct fixture *f)
{
    pthread_mutex_lock(&f->mu);
    struct httpd_stream *s = f->streams[0];
    pthread_mutex_unlock(&f->mu);
    return s;
}

/* ---- plain requests ------------------------------------------------------------------ */

static void test_tls_request_with_ca_file_round_trips(void **state)
{
    struct fixture *f = *state;
    struct httpc_resp resp;
    struct bosun_err err = {0};
    int r =
        httpc_request(f->cli, "PUT", "/echo", "application/json", "{\"a\":1}", 7, 0, &resp, &err);
    assert_int_equal(r, 0);
    assert_int_equal(resp.status, 200);
    json_t *o = json_loadb(resp.body, resp.len, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "auth")), "Bearer sekret");
    assert_string_equal(json_string_value(json_object_get(o, "method")), "PUT");
    assert_string_equal(json_string_value(json_object_get(o, "body")), "{\"a\":1}");
    assert_true(json_is_true(json_object_get(o, "loopback")));
    json_decref(o);
    httpc_resp_free(&resp);
}

static void test_tls_request_by_dns_name_and_with_ca_pem(void **state)
{
    struct fixture *f = *state;
    char url[64];
    snprintf(url, sizeof(url), "https://localhost:%d", httpd_port(f->srv));
    struct httpc *c = NULL;
    struct bosun_err err = {0};
    assert_int_equal(httpc_new_token(url, NULL, &c, &err), 0);
    char *pem = NULL;
    assert_int_equal(fileutil_read_all(f->ca, 0, &pem, NULL, NULL), 0);
    assert_int_equal(httpc_set_ca_pem(c, pem, &err), 0);
    free(pem);
    long status = 0;
    json_t *out = NULL;
    int r = httpc_json(c, "GET", "/echo", NULL, NULL, &status, &out, &err);
    if (r != 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(r, 0);
    assert_int_equal(status, 200);
    json_decref(out);
    assert_int_equal(httpc_set_ca_pem(c, "not a certificate", &err), -EINVAL);
    httpc_free(c);
}

static void test_tls_client_without_the_ca_fails_clearly(void **state)
{
    struct fixture *f = *state;
    struct httpc *c = NULL;
    struct bosun_err err = {0};
    assert_int_equal(httpc_new_token(f->url, NULL, &c, &err), 0);
    struct httpc_resp resp;
    int r = httpc_request(c, "GET", "/echo", NULL, NULL, 0, 0, &resp, &err);
    assert_int_equal(r, -EIO);
    assert_non_null(strstr(err.msg, "certificate"));
    assert_non_null(strstr(err.msg, "--certificate-authority"));
    /* The same for a stream. */
    err = (struct bosun_err){0};
    r = httpc_stream(c, "/stream", NULL, NULL, NULL, &err);
    assert_int_equal(r, -EIO);
    assert_non_null(strstr(err.msg, "not trusted"));
    httpc_free(c);
}

static void test_tls_client_with_another_ca_fails(void **state)
{
    struct fixture *f = *state;
    char other[192];
    snprintf(other, sizeof(other), "%s/other", f->root);
    assert_int_equal(pki_ensure(other, IPS, DNS, NULL), 0);
    char ca[224];
    snprintf(ca, sizeof(ca), "%s/%s", other, PKI_CA_CERT);
    struct httpc *c = NULL;
    struct bosun_err err = {0};
    assert_int_equal(httpc_new_token(f->url, NULL, &c, &err), 0);
    assert_int_equal(httpc_set_ca_file(c, ca, &err), 0);
    struct httpc_resp resp;
    assert_int_equal(httpc_request(c, "GET", "/echo", NULL, NULL, 0, 0, &resp, &err), -EIO);
    assert_non_null(strstr(err.msg, "not trusted"));
    /* Switching to the right CA works for the next request. */
    assert_int_equal(httpc_set_ca_file(c, f->ca, &err), 0);
    assert_int_equal(httpc_request(c, "GET", "/echo", NULL, NULL, 0, 0, &resp, &err), 0);
    assert_int_equal(resp.status, 200);
    httpc_resp_free(&resp);
    assert_int_equal(httpc_set_ca_file(c, "/nonexistent/ca.crt", &err), -ENOENT);
    httpc_free(c);
}

static void test_tls_plain_http_client_gets_a_hint(void **state)
{
    struct fixture *f = *state;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", httpd_port(f->srv));
    struct httpc *c = NULL;
    struct bosun_err err = {0};
    assert_int_equal(httpc_new_token(url, NULL, &c, &err), 0);
    struct httpc_resp resp;
    int r = httpc_request(c, "GET", "/echo", NULL, NULL, 0, 5000, &resp, &err);
    assert_int_not_equal(r, 0);
    assert_non_null(strstr(err.msg, "https://"));
    httpc_free(c);
}

static void test_tls_server_refuses_body_over_limit(void **state)
{
    struct fixture *f = *state;
    char body[4096];
    memset(body, 'x', sizeof(body));
    struct httpc_resp resp;
    struct bosun_err err = {0};
    int r =
        httpc_request(f->cli, "POST", "/echo", "text/plain", body, sizeof(body), 0, &resp, &err);
    assert_int_equal(r, 0);
    assert_int_equal(resp.status, 413);
    httpc_resp_free(&resp);
}

static void test_tls_server_needs_both_cert_and_key(void **state)
{
    (void)state;
    struct httpd *srv = NULL;
    struct bosun_err err = {0};
    struct httpd_opts o = {.listen = "127.0.0.1:0", .tls_cert_pem = "x"};
    assert_int_equal(httpd_start(&o, handler, NULL, &srv, &err), -EINVAL);
    o.tls_key_pem = "not a key";
    o.tls_cert_pem = "not a cert";
    assert_int_equal(httpd_start(&o, handler, NULL, &srv, &err), -EIO);
    assert_non_null(strstr(err.msg, "TLS"));
}

static void test_tls_curl_tool_with_cacert_works(void **state)
{
    struct fixture *f = *state;
    if (system("command -v curl >/dev/null 2>&1") != 0)
        skip();
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "curl -sS --cacert '%s' -H 'Authorization: Bearer t' %s/echo", f->ca,
             f->url);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[1024] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_non_null(strstr(out, "\"auth\":\"Bearer t\""));
    /* Without the CA curl refuses, as kubectl does. */
    snprintf(cmd, sizeof(cmd), "curl -sS -o /dev/null %s/echo 2>/dev/null", f->url);
    assert_int_not_equal(system(cmd), 0);
}

/* ---- streams ------------------------------------------------------------------------- */

struct lines {
    int n;
    char got[8][64];
    int stop_after;
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
    struct httpd_stream *s = first_stream(f);
    const char *lines[] = {"{\"n\":1}\n", "{\"n\":2}\n{\"n\":", "3}\n"};
    for (int i = 0; i < 3; i++) {
        usleep(100 * 1000); /* the connection parks between writes */
        httpd_stream_write(s, lines[i], strlen(lines[i]));
    }
    httpd_stream_close(s);
    return NULL;
}

static void test_tls_stream_delivers_lines_across_parking(void **state)
{
    struct fixture *f = *state;
    pthread_t t;
    pthread_create(&t, NULL, produce_three, f);
    struct lines l = {0};
    struct bosun_err err = {0};
    int r = httpc_stream(f->cli, "/stream?watch=true", collect_line, &l, NULL, &err);
    pthread_join(t, NULL);
    if (r != 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(r, 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.got[0], "{\"n\":1}");
    assert_string_equal(l.got[1], "{\"n\":2}");
    assert_string_equal(l.got[2], "{\"n\":3}");
    assert_true(wait_for(f, closed_at_least, 1, 2000));
    assert_int_equal(f->closed_twice, 0);
}

static void *write_one(void *arg)
{
    struct fixture *f = arg;
    if (!wait_for(f, streams_at_least, 1, 5000))
        return NULL;
    httpd_stream_write(first_stream(f), "hello\n", 6);
    return NULL;
}

static void test_tls_client_disconnect_calls_on_closed_once(void **state)
{
    struct fixture *f = *state;
    pthread_t t;
    pthread_create(&t, NULL, write_one, f);
    struct lines l = {.stop_after = 1};
    int r = httpc_stream(f->cli, "/stream", collect_line, &l, NULL, NULL);
    pthread_join(t, NULL);
    assert_int_equal(r, 0);
    assert_int_equal(l.n, 1);
    /* The client hung up on a parked TLS stream: the hangup thread notices. */
    assert_true(wait_for(f, closed_at_least, 1, 3000));
    usleep(100 * 1000);
    assert_int_equal(f->closed, 1);
    assert_int_equal(f->closed_twice, 0);
}

/* A raw OpenSSL client, so the test controls what TLS records go over the wire. */
struct tls_client {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
};

static void tls_connect(struct fixture *f, struct tls_client *tc)
{
    tc->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(tc->ctx);
    SSL_CTX_set_min_proto_version(tc->ctx, TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_load_verify_locations(tc->ctx, f->ca, NULL), 1);
    SSL_CTX_set_verify(tc->ctx, SSL_VERIFY_PEER, NULL);
    tc->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(httpd_port(f->srv))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(tc->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    tc->ssl = SSL_new(tc->ctx);
    SSL_set_fd(tc->ssl, tc->fd);
    SSL_set1_host(tc->ssl, "127.0.0.1");
    assert_int_equal(SSL_connect(tc->ssl), 1);
    const char *rq = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(SSL_write(tc->ssl, rq, (int)strlen(rq)), (int)strlen(rq));
}

/* Reads until `want` shows up in what was received (or 5 s pass). */
static bool tls_read_until(struct tls_client *tc, const char *want)
{
    char buf[4096] = "";
    size_t n = 0;
    int64_t deadline = time_mono_ms() + 5000;
    while (!strstr(buf, want) && time_mono_ms() < deadline && n < sizeof(buf) - 1) {
        if (SSL_pending(tc->ssl) == 0) {
            struct pollfd p = {.fd = tc->fd, .events = POLLIN};
            if (poll(&p, 1, 100) <= 0)
                continue;
        }
        int k = SSL_read(tc->ssl, buf + n, (int)(sizeof(buf) - 1 - n));
        if (k <= 0) {
            int e = SSL_get_error(tc->ssl, k);
            if (e == SSL_ERROR_WANT_READ)
                continue;
            break;
        }
        n += (size_t)k;
        buf[n] = '\0';
    }
    return strstr(buf, want) != NULL;
}

static void tls_close(struct tls_client *tc, bool notify)
{
    if (notify)
        SSL_shutdown(tc->ssl); /* close_notify */
    SSL_free(tc->ssl);
    SSL_CTX_free(tc->ctx);
    close(tc->fd);
}

static long cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1000000L +
           ru.ru_stime.tv_usec;
}

static void test_tls_records_from_a_parked_client_are_not_a_hangup(void **state)
{
    struct fixture *f = *state;
    struct tls_client tc;
    tls_connect(f, &tc);
    assert_true(wait_for(f, streams_at_least, 1, 5000));
    struct httpd_stream *s = first_stream(f);
    assert_int_equal(httpd_stream_write(s, "one\n", 4), 0);
    assert_true(tls_read_until(&tc, "one\n"));
    usleep(100 * 1000); /* parked again */
    /* The client sends a TLS record that carries no HTTP data: a TLS 1.3 KeyUpdate. The
     * socket becomes readable, which is not a hangup, and nothing may spin on it. */
    assert_int_equal(SSL_key_update(tc.ssl, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
    assert_int_equal(SSL_do_handshake(tc.ssl), 1);
    long c0 = cpu_us();
    usleep(300 * 1000);
    long used = cpu_us() - c0;
    assert_true(used < 100 * 1000);
    assert_int_equal(f->closed, 0);
    /* The stream still works after the record. */
    assert_int_equal(httpd_stream_write(s, "two\n", 4), 0);
    assert_true(tls_read_until(&tc, "two\n"));
    assert_int_equal(f->closed, 0);
    /* close_notify + FIN: a real hangup, seen on the parked stream. */
    usleep(100 * 1000);
    tls_close(&tc, true);
    assert_true(wait_for(f, closed_at_least, 1, 3000));
    assert_int_equal(f->closed_twice, 0);
}

static void test_tls_abrupt_close_of_parked_stream_calls_on_closed(void **state)
{
    struct fixture *f = *state;
    struct tls_client tc;
    tls_connect(f, &tc);
    assert_true(wait_for(f, streams_at_least, 1, 5000));
    usleep(100 * 1000);
    tls_close(&tc, false); /* no close_notify: just the FIN */
    assert_true(wait_for(f, closed_at_least, 1, 3000));
    assert_int_equal(f->closed_twice, 0);
}

static void test_tls_stop_closes_open_streams(void **state)
{
    struct fixture *f = *state;
    struct tls_client tc;
    tls_connect(f, &tc);
    assert_true(wait_for(f, streams_at_least, 1, 5000));
    usleep(100 * 1000);
    httpd_stop(f->srv);
    f->srv = NULL;
    assert_int_equal(f->closed, 1);
    tls_close(&tc, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tls_request_with_ca_file_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_request_by_dns_name_and_with_ca_pem, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tls_client_without_the_ca_fails_clearly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tls_client_with_another_ca_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_plain_http_client_gets_a_hint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_server_refuses_body_over_limit, setup, teardown),
        cmocka_unit_test(test_tls_server_needs_both_cert_and_key),
        cmocka_unit_test_setup_teardown(test_tls_curl_tool_with_cacert_works, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_stream_delivers_lines_across_parking, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tls_client_disconnect_calls_on_closed_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tls_records_from_a_parked_client_are_not_a_hangup,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_abrupt_close_of_parked_stream_calls_on_closed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_stop_closes_open_streams, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
