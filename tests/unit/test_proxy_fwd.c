/* Unit tests for proxy/loop, proxy/fwd and proxy/svc, with real loopback sockets: the
 * loop runs on its own thread with a static route table pointing at echo servers the
 * test starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/jsonx.h"
#include "lib/loop.h"
#include "proxy/fwd.h"
#include "proxy/svc.h"

/* ---- echo servers ------------------------------------------------------------------ */

struct echo {
    int lfd;
    int port;
    atomic_int conns;
    pthread_t thr;
};

static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16384];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w <= 0)
                goto out;
            off += w;
        }
    }
out:
    close(fd);
    return NULL;
}

static void *echo_accept(void *arg)
{
    struct echo *e = arg;
    for (;;) {
        int fd = accept4(e->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            return NULL; /* listener shut down */
        atomic_fetch_add(&e->conns, 1);
        pthread_t t;
        pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
}

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 128), 0);
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A loopback port nobody listens on. */
static int dead_port(void)
{
    int port;
    int fd = listen_any(&port);
    close(fd);
    return port;
}

static void echo_start(struct echo *e)
{
    e->lfd = listen_any(&e->port);
    atomic_store(&e->conns, 0);
    pthread_create(&e->thr, NULL, echo_accept, e);
}

static void echo_stop(struct echo *e)
{
    shutdown(e->lfd, SHUT_RDWR);
    pthread_join(e->thr, NULL);
    close(e->lfd);
}

/* ---- the loop on a thread ---------------------------------------------------------- */

struct fixture {
    struct loop *loop;
    struct proxy_fwd *fwd;
    pthread_t thr;
    struct echo a, b;
    int port; /* the proxy's listening port */
};

static void *loop_thread(void *arg)
{
    struct fixture *f = arg;
    struct bosun_err err = {0};
    loop_run(f->loop, &err);
    return NULL;
}

struct apply_req {
    struct fixture *f;
    struct proxy_route *routes;
    size_t n;
    int rc;
    int done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void do_apply(struct loop *l, void *userdata)
{
    (void)l;
    struct apply_req *r = userdata;
    struct bosun_err err = {0};
    int rc = proxy_fwd_apply(r->f->fwd, r->routes, r->n, &err);
    pthread_mutex_lock(&r->mu);
    r->rc = rc;
    r->done = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Applies one route on the proxy's port with the given backends (on the loop thread). */
static int apply(struct fixture *f, const int *ports, size_t n)
{
    struct proxy_backend be[8];
    for (size_t i = 0; i < n; i++) {
        snprintf(be[i].ip, sizeof(be[i].ip), "127.0.0.1");
        be[i].port = ports[i];
    }
    struct proxy_route rt = {.name = "test/echo:tcp", .port = f->port, .backends = be, .n = n};
    struct apply_req r = {.f = f, .routes = &rt, .n = 1};
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    assert_int_equal(loop_post(f->loop, do_apply, &r), 0);
    pthread_mutex_lock(&r.mu);
    while (!r.done)
        pthread_cond_wait(&r.cv, &r.mu);
    pthread_mutex_unlock(&r.mu);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    return r.rc;
}

static int apply_none(struct fixture *f)
{
    struct apply_req r = {.f = f, .routes = NULL, .n = 0};
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    assert_int_equal(loop_post(f->loop, do_apply, &r), 0);
    pthread_mutex_lock(&r.mu);
    while (!r.done)
        pthread_cond_wait(&r.cv, &r.mu);
    pthread_mutex_unlock(&r.mu);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    return r.rc;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct bosun_err err = {0};
    assert_int_equal(loop_new(&f->loop, &err), 0);
    struct proxy_fwd_opts o = {.listen_addrs = "127.0.0.1", .buf_size = 16384};
    assert_int_equal(proxy_fwd_new(f->loop, &o, &f->fwd, &err), 0);
    echo_start(&f->a);
    echo_start(&f->b);
    f->port = dead_port();
    pthread_create(&f->thr, NULL, loop_thread, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    loop_stop(f->loop);
    pthread_join(f->thr, NULL);
    proxy_fwd_free(f->fwd);
    loop_free(f->loop);
    echo_stop(&f->a);
    echo_stop(&f->b);
    free(f);
    return 0;
}

/* ---- clients ----------------------------------------------------------------------- */

static int client_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)port)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Sends len bytes and reads len bytes back (both at once, so the echo never stalls). */
static void roundtrip(int fd, const char *out, size_t len, char *in)
{
    size_t sent = 0, got = 0;
    while (got < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < len ? POLLOUT : 0)};
        assert_true(poll(&p, 1, 10000) > 0);
        if ((p.revents & POLLOUT) && sent < len) {
            size_t chunk = len - sent > 65536 ? 65536 : len - sent;
            ssize_t n = send(fd, out + sent, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                sent += (size_t)n;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, in + got, len - got, MSG_DONTWAIT);
            if (n == 0)
                fail_msg("connection closed after %zu of %zu bytes", got, len);
            if (n > 0)
                got += (size_t)n;
        }
    }
}

static void ping(int fd, const char *msg)
{
    char buf[256] = {0};
    roundtrip(fd, msg, strlen(msg), buf);
    assert_memory_equal(buf, msg, strlen(msg));
}

static void wait_active(struct fixture *f, uint64_t want)
{
    struct proxy_fwd_stats st;
    for (int i = 0; i < 200; i++) {
        proxy_fwd_stats(f->fwd, &st);
        if (st.active == want)
            return;
        usleep(10000);
    }
    fail_msg("active connections: %llu, want %llu", (unsigned long long)st.active,
             (unsigned long long)want);
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_proxy_fwd_round_robin_distributes_evenly(void **state)
{
    struct fixture *f = *state;
    int ports[] = {f->a.port, f->b.port};
    assert_int_equal(apply(f, ports, 2), 0);
    enum { N = 10 };
    for (int i = 0; i < N; i++) {
        int fd = client_connect(f->port);
        assert_true(fd >= 0);
        ping(fd, "hello");
        close(fd);
    }
    assert_int_equal(atomic_load(&f->a.conns), N / 2);
    assert_int_equal(atomic_load(&f->b.conns), N / 2);
    wait_active(f, 0);
}

static void test_proxy_fwd_echoes_one_mebibyte_intact(void **state)
{
    struct fixture *f = *state;
    int ports[] = {f->a.port};
    assert_int_equal(apply(f, ports, 1), 0);
    size_t len = 1 << 20;
    char *out = malloc(len), *in = malloc(len);
    unsigned s = 12345;
    for (size_t i = 0; i < len; i++) {
        s = s * 1103515245u + 12345u;
        out[i] = (char)(s >> 16);
    }
    int fd = client_connect(f->port);
    assert_true(fd >= 0);
    roundtrip(fd, out, len, in);
    assert_memory_equal(in, out, len);
    close(fd);
    free(out);
    free(in);
    wait_active(f, 0);
}

static void test_proxy_fwd_passes_half_close(void **state)
{
    struct fixture *f = *state;
    int ports[] = {f->b.port};
    assert_int_equal(apply(f, ports, 1), 0);
    int fd = client_connect(f->port);
    assert_true(fd >= 0);
    const char *msg = "last words";
    assert_int_equal(send(fd, msg, strlen(msg), MSG_NOSIGNAL), (ssize_t)strlen(msg));
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    /* the echo server sees EOF only if the proxy passed our half-close on; it answers,
     * then closes, and that EOF must reach us too */
    char buf[64];
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - got, 0);
        assert_true(n >= 0);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    assert_int_equal(got, strlen(msg));
    assert_memory_equal(buf, msg, got);
    close(fd);
    wait_active(f, 0);
}

static void test_proxy_fwd_skips_dead_backend(void **state)
{
    struct fixture *f = *state;
    int ports[] = {dead_port(), f->a.port};
    assert_int_equal(apply(f, ports, 2), 0);
    for (int i = 0; i < 4; i++) {
        int fd = client_connect(f->port);
        assert_true(fd >= 0);
        ping(fd, "anyone?");
        close(fd);
    }
    assert_int_equal(atomic_load(&f->a.conns), 4);
    struct proxy_fwd_stats st;
    proxy_fwd_stats(f->fwd, &st);
    assert_true(st.connect_failures >= 2);
    assert_int_equal(st.no_backend, 0);
}

static void test_proxy_fwd_all_backends_dead_closes_client(void **state)
{
    struct fixture *f = *state;
    int ports[] = {dead_port()};
    assert_int_equal(apply(f, ports, 1), 0);
    int fd = client_connect(f->port);
    assert_true(fd >= 0);
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    assert_true(n <= 0);
    close(fd);
    struct proxy_fwd_stats st;
    proxy_fwd_stats(f->fwd, &st);
    assert_int_equal(st.no_backend, 1);
}

static void test_proxy_fwd_backend_change_keeps_live_connection(void **state)
{
    struct fixture *f = *state;
    int pa[] = {f->a.port};
    assert_int_equal(apply(f, pa, 1), 0);
    int live = client_connect(f->port);
    assert_true(live >= 0);
    ping(live, "before");
    int pb[] = {f->b.port};
    assert_int_equal(apply(f, pb, 1), 0);
    ping(live, "after the change");
    int fresh = client_connect(f->port);
    assert_true(fresh >= 0);
    ping(fresh, "new");
    assert_int_equal(atomic_load(&f->a.conns), 1);
    assert_int_equal(atomic_load(&f->b.conns), 1);
    /* removing the route closes the listener but not the live connections */
    assert_int_equal(apply_none(f), 0);
    ping(live, "still here");
    ping(fresh, "me too");
    assert_true(client_connect(f->port) < 0);
    close(live);
    close(fresh);
    wait_active(f, 0);
}

static void test_proxy_fwd_many_concurrent_clients(void **state)
{
    struct fixture *f = *state;
    int ports[] = {f->a.port, f->b.port};
    assert_int_equal(apply(f, ports, 2), 0);
    enum { N = 50 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = client_connect(f->port);
        assert_true(fds[i] >= 0);
    }
    for (int i = 0; i < N; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "client %d", i);
        ping(fds[i], msg);
    }
    wait_active(f, N);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    wait_active(f, 0);
    assert_int_equal(atomic_load(&f->a.conns) + atomic_load(&f->b.conns), N);
    assert_int_equal(atomic_load(&f->a.conns), N / 2);
}

/* ---- svc ----------------------------------------------------------------------------- */

static void test_proxy_routes_from_services_and_endpoints(void **state)
{
    (void)state;
    const char *svcs =
        "[{\"metadata\":{\"namespace\":\"demo\",\"name\":\"web\"},"
        "  \"spec\":{\"type\":\"NodePort\",\"ports\":["
        "    {\"name\":\"http\",\"port\":80,\"targetPort\":8080,\"nodePort\":30080},"
        "    {\"name\":\"admin\",\"port\":81,\"nodePort\":30081},"
        "    {\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\",\"nodePort\":30053}]}},"
        " {\"metadata\":{\"namespace\":\"demo\",\"name\":\"internal\"},"
        "  \"spec\":{\"ports\":[{\"port\":80}]}},"
        " {\"metadata\":{\"namespace\":\"default\",\"name\":\"lone\"},"
        "  \"spec\":{\"ports\":[{\"port\":80,\"nodePort\":30090}]}}]";
    const char *eps =
        "[{\"metadata\":{\"namespace\":\"demo\",\"name\":\"web\"},"
        "  \"subsets\":[{\"addresses\":[{\"ip\":\"10.244.0.3\"},{\"ip\":\"10.244.0.2\"}],"
        "    \"notReadyAddresses\":[{\"ip\":\"10.244.0.9\"}],"
        "    \"ports\":[{\"name\":\"http\",\"port\":8080},{\"name\":\"admin\",\"port\":9000}]}]},"
        " {\"metadata\":{\"namespace\":\"default\",\"name\":\"lone\"},"
        "  \"subsets\":[{\"addresses\":[{\"ip\":\"127.0.0.1\"}],\"ports\":[{\"port\":8000}]}]}]";
    json_t *s = json_loads(svcs, 0, NULL), *e = json_loads(eps, 0, NULL);
    assert_non_null(s);
    assert_non_null(e);
    struct proxy_route *r = NULL;
    size_t n = 0;
    struct bosun_err err = {0};
    assert_int_equal(proxy_routes_build(s, e, &r, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(r[0].name, "demo/web:http");
    assert_int_equal(r[0].port, 30080);
    assert_int_equal(r[0].n, 2);
    assert_string_equal(r[0].backends[0].ip, "10.244.0.2");
    assert_int_equal(r[0].backends[0].port, 8080);
    assert_string_equal(r[0].backends[1].ip, "10.244.0.3");
    assert_string_equal(r[1].name, "demo/web:admin");
    assert_int_equal(r[1].backends[0].port, 9000);
    assert_string_equal(r[2].name, "default/lone:80");
    assert_int_equal(r[2].port, 30090);
    assert_int_equal(r[2].n, 1);
    assert_int_equal(r[2].backends[0].port, 8000);
    proxy_routes_free(r, n);
    json_decref(s);
    json_decref(e);
}

static void test_proxy_routes_service_without_endpoints_has_no_backends(void **state)
{
    (void)state;
    json_t *s = json_loads("[{\"metadata\":{\"namespace\":\"a\",\"name\":\"b\"},"
                           "\"spec\":{\"ports\":[{\"port\":1,\"nodePort\":30001}]}}]",
                           0, NULL);
    json_t *e = json_array();
    struct proxy_route *r = NULL;
    size_t n = 0;
    assert_int_equal(proxy_routes_build(s, e, &r, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].n, 0);
    proxy_routes_free(r, n);
    json_decref(s);
    json_decref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_proxy_fwd_round_robin_distributes_evenly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proxy_fwd_echoes_one_mebibyte_intact, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proxy_fwd_passes_half_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_fwd_skips_dead_backend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_fwd_all_backends_dead_closes_client, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_proxy_fwd_backend_change_keeps_live_connection,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_fwd_many_concurrent_clients, setup,
                                        teardown),
        cmocka_unit_test(test_proxy_routes_from_services_and_endpoints),
        cmocka_unit_test(test_proxy_routes_service_without_endpoints_has_no_backends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
