/* Tests for reconcilerd/store's etcd backend against a real etcd (Debian etcd-server),
 * started on free loopback ports with a temporary data dir and killed by PID at the end.
 * The behavioural checks are the file store's own (check_* in test_store.c, included
 * here); each test works under its own key prefix. Skips loudly when etcd is missing. */
#define STORE_TEST_NO_MAIN
/* the file-store-only cases come along unused */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test_store.c"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

static struct {
    pid_t pid;
    char dir[256];
    char url[64];
    int ready;
    char why[512];
} g_etcd;

static int g_seq;

static const char *etcd_binary(void)
{
    static const char *cands[] = {"/usr/bin/etcd", "/usr/local/bin/etcd", "/usr/sbin/etcd"};
    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
        if (access(cands[i], X_OK) == 0)
            return cands[i];
    return NULL;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static struct store *etcd_open_prefix(const char *endpoints, const char *prefix, int *rc)
{
    struct store_opts o = {.etcd_endpoints = endpoints, .etcd_prefix = prefix};
    struct store *st = NULL;
    struct bosun_err err = {0};
    *rc = store_open(&o, &st, &err);
    if (*rc && g_etcd.ready)
        print_message("store_open etcd: %s\n", err.msg);
    return st;
}

static int etcd_group_setup(void **state)
{
    (void)state;
    const char *bin = etcd_binary();
    if (!bin) {
        snprintf(g_etcd.why, sizeof(g_etcd.why),
                 "etcd not installed (apt-get install etcd-server): SKIPPING the etcd backend");
        fprintf(stderr, "%s\n", g_etcd.why);
        return 0;
    }
    snprintf(g_etcd.dir, sizeof(g_etcd.dir), "/tmp/bosun-test-etcd-XXXXXX");
    if (!mkdtemp(g_etcd.dir))
        return -1;
    int cport = free_port(), pport = free_port();
    char client[64], peer[64], data[300], logp[300], cluster[128];
    snprintf(client, sizeof(client), "http://127.0.0.1:%d", cport);
    snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", pport);
    snprintf(cluster, sizeof(cluster), "t=%s", peer);
    snprintf(data, sizeof(data), "%s/data", g_etcd.dir);
    snprintf(logp, sizeof(logp), "%s/etcd.log", g_etcd.dir);
    snprintf(g_etcd.url, sizeof(g_etcd.url), "%s", client);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(bin, "etcd", "--name", "t", "--data-dir", data, "--listen-client-urls", client,
              "--advertise-client-urls", client, "--listen-peer-urls", peer,
              "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster, "--log-level",
              "warn", (char *)NULL);
        _exit(127);
    }
    g_etcd.pid = pid;
    for (int i = 0; i < 200; i++) {
        int rc;
        struct store *st = etcd_open_prefix(g_etcd.url, "/bosun-probe/", &rc);
        if (rc == 0) {
            store_close(st);
            g_etcd.ready = 1;
            return 0;
        }
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            g_etcd.pid = 0;
            snprintf(g_etcd.why, sizeof(g_etcd.why), "etcd exited at start (see %s)", logp);
            return -1;
        }
        usleep(50000);
    }
    snprintf(g_etcd.why, sizeof(g_etcd.why), "etcd did not answer on %s within 10 s", client);
    return -1;
}

static int etcd_group_teardown(void **state)
{
    (void)state;
    if (g_etcd.pid > 0) {
        kill(g_etcd.pid, SIGTERM);
        int status;
        for (int i = 0; i < 100 && waitpid(g_etcd.pid, &status, WNOHANG) == 0; i++)
            usleep(50000);
        if (waitpid(g_etcd.pid, &status, WNOHANG) == 0) {
            kill(g_etcd.pid, SIGKILL);
            waitpid(g_etcd.pid, &status, 0);
        }
    }
    if (g_etcd.dir[0])
        rm_rf(g_etcd.dir);
    return 0;
}

/* Each test: its own prefix in etcd; f->st is the store. */
static int etcd_setup(void **state)
{
    if (!g_etcd.ready) {
        *state = NULL;
        return 0;
    }
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->sdir, sizeof(f->sdir), "/bosun-test-%d-%d/", (int)getpid(), ++g_seq);
    int rc;
    f->st = etcd_open_prefix(g_etcd.url, f->sdir, &rc);
    if (rc) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int etcd_teardown(void **state)
{
    struct fx *f = *state;
    if (f) {
        store_close(f->st);
        free(f);
    }
    return 0;
}

#define NEED_ETCD(f)                                                                               \
    do {                                                                                           \
        if (!(f)) {                                                                                \
            fprintf(stderr, "SKIP: %s\n", g_etcd.why);                                             \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static void test_store_etcd_semantics(void **state)
{
    struct fx *f = *state;
    NEED_ETCD(f);
    check_semantics(f->st, "/sem/");
}

static void test_store_etcd_async_writes_complete_in_order_once(void **state)
{
    struct fx *f = *state;
    NEED_ETCD(f);
    check_async(f->st, "/async/");
}

static void test_store_etcd_list_by_prefix_in_key_order(void **state)
{
    struct fx *f = *state;
    NEED_ETCD(f);
    check_list(f->st, "/lst/");
}

static void test_store_etcd_watch_history_then_live_in_order_once(void **state)
{
    struct fx *f = *state;
    NEED_ETCD(f);
    check_watch(f->st, "/w/");
}

static void test_store_etcd_raw_list_get_and_watch(void **state)
{
    struct fx *f = *state;
    NEED_ETCD(f);
    check_raw_list_get_watch(f->st, "/raw/");
}

static size_t discard(char *p, size_t sz, size_t nm, void *ud)
{
    (void)p;
    (void)ud;
    return sz * nm;
}

static void etcd_compact(uint64_t rev)
{
    char url[128], body[64];
    snprintf(url, sizeof(url), "%s/v3/kv/compaction", g_etcd.url);
    snprintf(body, sizeof(body), "{\"revision\":\"%" PRIu64 "\",\"physical\":true}", rev);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
}

static void test_store_etcd_watch_too_old_gives_erange(void **state)
{
    struct fx *f = *state;
    NEED_ETCD(f);
    struct bosun_err err = {0};
    uint64_t r1 = put(f->st, "/old/a", 1);
    put(f->st, "/old/b", 2);
    uint64_t r3 = put(f->st, "/old/c", 3);
    etcd_compact(r3);
    struct seen s;
    seen_init(&s);
    struct store_watch *w = NULL;
    assert_int_equal(store_watch(f->st, "/old/", r1, watch_cb, &s, &w, &err), -ERANGE);
    char want[128];
    snprintf(want, sizeof(want), "too old resource version: %" PRIu64 " (%" PRIu64 ")", r1, r3 - 1);
    assert_string_equal(err.msg, want);
    /* from the oldest still available it works */
    assert_int_equal(store_watch(f->st, "/old/", r3 - 1, watch_cb, &s, &w, &err), 0);
    assert_int_equal(wait_for(&s, 1, 5000), 1);
    assert_int_equal(s.revs[0], r3);
    store_watch_cancel(w);
}

/* A TCP relay to etcd that the test can cut: every connection it carries is closed by
 * relay_cut, and while `refuse` is set new ones are closed as soon as they are accepted. */
struct relay {
    int lfd;
    int port;
    int etcd_port;
    pthread_t thread;
    pthread_mutex_t mu;
    bool refuse, stop;
    int fds[64]; /* open relayed sockets, both sides */
    int nfds;
};

struct relay_pair {
    struct relay *r;
    int a, b;
};

static void *relay_pump(void *arg)
{
    struct relay_pair *p = arg;
    char buf[16384];
    struct pollfd pf[2] = {{.fd = p->a, .events = POLLIN}, {.fd = p->b, .events = POLLIN}};
    for (;;) {
        if (poll(pf, 2, 100) < 0)
            break;
        pthread_mutex_lock(&p->r->mu);
        bool stop = p->r->stop;
        pthread_mutex_unlock(&p->r->mu);
        if (stop || (pf[0].revents | pf[1].revents) & (POLLERR | POLLNVAL))
            break;
        int from = (pf[0].revents & (POLLIN | POLLHUP)) ? 0 : (pf[1].revents & (POLLIN | POLLHUP)) ? 1 : -1;
        if (from < 0)
            continue;
        ssize_t n = read(pf[from].fd, buf, sizeof(buf));
        if (n <= 0 || write(pf[1 - from].fd, buf, (size_t)n) != n)
            break;
    }
    shutdown(p->a, SHUT_RDWR);
    shutdown(p->b, SHUT_RDWR);
    free(p);
    return NULL;
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    for (;;) {
        int c = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
        pthread_mutex_lock(&r->mu);
        bool stop = r->stop, refuse = r->refuse;
        pthread_mutex_unlock(&r->mu);
        if (stop) {
            if (c >= 0)
                close(c);
            return NULL;
        }
        if (c < 0)
            continue;
        if (refuse) {
            close(c);
            continue;
        }
        int e = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r->etcd_port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(e, (struct sockaddr *)&a, sizeof(a)) < 0) {
            close(c);
            close(e);
            continue;
        }
        struct relay_pair *p = malloc(sizeof(*p));
        *p = (struct relay_pair){r, c, e};
        pthread_mutex_lock(&r->mu);
        if (r->nfds + 2 <= 64) {
            r->fds[r->nfds++] = c;
            r->fds[r->nfds++] = e;
        }
        pthread_mutex_unlock(&r->mu);
        pthread_t t;
        pthread_create(&t, NULL, relay_pump, p);
        pthread_detach(t);
    }
}

static void relay_start(struct relay *r, int etcd_port)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    r->etcd_port = etcd_port;
    r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(r->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(r->lfd, 16), 0);
    assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&a, &len), 0);
    r->port = ntohs(a.sin_port);
    pthread_create(&r->thread, NULL, relay_main, r);
}

/* Closes every relayed connection (their pumps then end). */
static void relay_cut(struct relay *r)
{
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->nfds; i++)
        shutdown(r->fds[i], SHUT_RDWR);
    r->nfds = 0;
    pthread_mutex_unlock(&r->mu);
}

static void relay_stop(struct relay *r)
{
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_mutex_unlock(&r->mu);
    relay_cut(r);
    shutdown(r->lfd, SHUT_RDWR);
    pthread_join(r->thread, NULL);
    close(r->lfd);
    usleep(200000); /* the pumps see `stop` within one poll */
}

/* A watch whose stream breaks is resumed without loss; when etcd compacted past the next
 * revision meanwhile, the watch is told (STORE_EXPIRED) instead of going silent. */
static void test_store_etcd_watch_told_when_compacted_while_broken(void **state)
{
    struct fx *f = *state;
    NEED_ETCD(f);
    struct bosun_err err = {0};
    struct relay r;
    relay_start(&r, atoi(strrchr(g_etcd.url, ':') + 1));
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", r.port);
    int rc;
    struct store *via = etcd_open_prefix(url, f->sdir, &rc);
    assert_int_equal(rc, 0);
    struct seen s;
    seen_init(&s);
    struct store_watch *w = NULL;
    assert_int_equal(store_watch(via, "/ex/", store_revision(f->st), watch_cb, &s, &w, &err), 0);
    uint64_t r1 = put(f->st, "/ex/a", 1);
    assert_int_equal(wait_for(&s, 1, 5000), 1);
    assert_int_equal(s.revs[0], r1);

    /* broken once: resumed, nothing lost */
    relay_cut(&r);
    uint64_t r2 = put(f->st, "/ex/b", 2);
    assert_int_equal(wait_for(&s, 2, 10000), 2);
    assert_int_equal(s.revs[1], r2);

    /* broken while etcd compacts past the next revision */
    pthread_mutex_lock(&r.mu);
    r.refuse = true;
    pthread_mutex_unlock(&r.mu);
    relay_cut(&r);
    put(f->st, "/ex/c", 3);
    uint64_t r4 = put(f->st, "/ex/d", 4);
    etcd_compact(r4);
    pthread_mutex_lock(&r.mu);
    r.refuse = false;
    pthread_mutex_unlock(&r.mu);
    assert_int_equal(wait_for(&s, 3, 15000), 3);
    assert_int_equal(s.types[2], STORE_EXPIRED);
    assert_int_equal(s.revs[2], r4);
    usleep(300000);
    assert_int_equal(s.n, 3); /* nothing after it */
    store_watch_cancel(w);
    store_close(via);
    relay_stop(&r);
}

static void test_store_etcd_watch_cancel_from_inside_callback(void **state)
{
    struct fx *f = *state;
    NEED_ETCD(f);
    struct bosun_err err = {0};
    struct seen s;
    seen_init(&s);
    s.cancel_at = 2;
    struct store_watch *w = NULL;
    assert_int_equal(store_watch(f->st, "/c/", 0, watch_cb, &s, &w, &err), 0);
    s.w = w;
    for (int i = 0; i < 5; i++) {
        char k[32];
        snprintf(k, sizeof(k), "/c/%d", i);
        put(f->st, k, i);
    }
    usleep(300000);
    assert_int_equal(s.n, 2);
    /* the store closes cleanly with the detached watch gone or going (teardown) */
}

static void test_store_etcd_persists_across_reopen_and_uses_next_endpoint(void **state)
{
    struct fx *f = *state;
    NEED_ETCD(f);
    struct bosun_err err = {0};
    uint64_t r = put(f->st, "/p/a", 42);
    store_close(f->st);
    f->st = NULL;
    /* the first endpoint refuses connections; the second one answers */
    char eps[160];
    snprintf(eps, sizeof(eps), "http://127.0.0.1:%d,%s", free_port(), g_etcd.url);
    int rc;
    f->st = etcd_open_prefix(eps, f->sdir, &rc);
    assert_int_equal(rc, 0);
    json_t *got = NULL;
    uint64_t rev = 0;
    assert_int_equal(store_get(f->st, "/p/a", &got, &rev, &err), 0);
    assert_int_equal(rev, r);
    assert_rv(got, r);
    assert_int_equal(jsonx_get_int(got, "spec.v", 0), 42);
    json_decref(got);
    assert_int_equal(store_snapshot(f->st, &err), 0); /* a no-op on etcd */
    /* nothing answers: open fails with the cause */
    store_close(etcd_open_prefix("http://127.0.0.1:1", "/x/", &rc));
    assert_true(rc < 0);
}

static void test_store_etcd_concurrent_writers_all_acknowledged(void **state)
{
    struct fx *f = *state;
    NEED_ETCD(f);
    struct bosun_err err = {0};
    uint64_t *revs = NULL;
    run_writers(f->st, 16, 20, "/cc", &revs);
    size_t n = 0;
    assert_int_equal(store_list(f->st, "/cc/", count_cb, &n, NULL, &err), 0);
    assert_int_equal(n, 320);
    qsort(revs, 320, sizeof(uint64_t), cmp_u64);
    for (int i = 1; i < 320; i++)
        assert_true(revs[i] > revs[i - 1]); /* every acknowledged write its own revision */
    free(revs);
}

#define E(fn) cmocka_unit_test_setup_teardown(fn, etcd_setup, etcd_teardown)

int main(void)
{
    if (getenv("STORE_TEST_FILTER"))
        cmocka_set_test_filter(getenv("STORE_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        E(test_store_etcd_semantics),
        E(test_store_etcd_async_writes_complete_in_order_once),
        E(test_store_etcd_list_by_prefix_in_key_order),
        E(test_store_etcd_watch_history_then_live_in_order_once),
        E(test_store_etcd_raw_list_get_and_watch),
        E(test_store_etcd_watch_too_old_gives_erange),
        E(test_store_etcd_watch_told_when_compacted_while_broken),
        E(test_store_etcd_watch_cancel_from_inside_callback),
        E(test_store_etcd_persists_across_reopen_and_uses_next_endpoint),
        E(test_store_etcd_concurrent_writers_all_acknowledged),
    };
    return cmocka_run_group_tests(tests, etcd_group_setup, etcd_group_teardown);
}
