/* loadgen — a small closed-loop HTTP/1.1 load generator for the benchmarks: C keep-alive
 * connections on one epoll thread, each sending the same request again as soon as the
 * previous answer is in, for a fixed time. It costs far less CPU per request than a Go
 * tool such as hey, which matters on a 2-core machine where client and server share the
 * cores. Prints one line:
 *   requests N rps R p50_ms A p99_ms B max_ms C bad N
 * where bad counts answers whose status is not the expected one.
 *
 *   loadgen -p PORT -m METHOD -u PATH [-b BODYFILE] [-t CONTENT-TYPE] [-a TOKEN]
 *           [-c CONNS] [-d SECONDS] [-n REQUESTS] [-s STATUS] [-k FIRST]
 * -n stops after that many answers (then -d is only a limit).
 * -k FIRST makes each request unique: every run of 16 '@' in the body becomes the base64
 *    of a 12-digit request number counting from FIRST (for etcd's /v3/kv/put: a new key
 *    per request, as the API's POST makes a new object per request).
 * A request is sent as soon as the previous answer is in; EPOLLOUT is asked for only when
 * the socket cannot take the whole request at once.
 * Loopback (127.0.0.1) only; answers must carry Content-Length (no chunked bodies). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    size_t sent;
    char *req; /* this connection's copy of the request, when keys vary (-k) */
    char in[65536];
    size_t have;
    uint64_t t0;
    uint32_t events; /* what epoll watches for on fd */
};

static const char *req;
static size_t rlen;
static bool vary;
static unsigned long long next_key;
static size_t key_at[8], nkeys;

static void b64_12(const char *in, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 12; i += 3, out += 4) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16 | (uint32_t)(unsigned char)in[i + 1] << 8 |
                     (unsigned char)in[i + 2];
        out[0] = tab[v >> 18];
        out[1] = tab[(v >> 12) & 63];
        out[2] = tab[(v >> 6) & 63];
        out[3] = tab[v & 63];
    }
}

/* A new request number into c's copy of the request. */
static void new_key(struct conn *c)
{
    char digits[13];
    snprintf(digits, sizeof(digits), "%012llu", next_key++);
    for (size_t i = 0; i < nkeys; i++)
        b64_12(digits, c->req + key_at[i]);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what)
{
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path);
    static char buf[1 << 20];
    *len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return buf;
}

/* Returns the length of a complete answer at the start of c->in (0 = not yet), its status
 * in *status. */
static size_t answer_len(const struct conn *c, int *status)
{
    const char *end = memmem(c->in, c->have, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - c->in) + 4;
    *status = atoi(c->in + 9);
    const char *cl = NULL;
    for (const char *p = c->in; p < end; p++) {
        if ((p == c->in || p[-1] == '\n') && !strncasecmp(p, "content-length:", 15)) {
            cl = p + 15;
            break;
        }
    }
    if (!cl) {
        fprintf(stderr, "loadgen: an answer without Content-Length:\n%.*s\n", (int)head, c->in);
        exit(1);
    }
    size_t body = strtoull(cl, NULL, 10);
    if (head + body > sizeof(c->in)) {
        fprintf(stderr, "loadgen: an answer larger than %zu bytes\n", sizeof(c->in));
        exit(1);
    }
    return c->have >= head + body ? head + body : 0;
}

/* Sends what the socket takes of c's request; asks for EPOLLOUT only while some is left. */
static void send_more(int ep, struct conn *c)
{
    ssize_t w = send(c->fd, c->req + c->sent, rlen - c->sent, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN)
        die("send");
    if (w > 0)
        c->sent += (size_t)w;
    uint32_t want_events = c->sent < rlen ? EPOLLOUT | EPOLLIN : EPOLLIN;
    if (want_events != c->events) {
        c->events = want_events;
        struct epoll_event ev = {.events = want_events, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
}

int main(int argc, char **argv)
{
    int port = 0, conns = 1, secs = 5, want = 200, opt;
    unsigned long limit = 0;
    const char *method = "GET", *path = "/", *bodyfile = NULL, *ctype = "application/json";
    const char *token = NULL;
    while ((opt = getopt(argc, argv, "p:m:u:b:t:a:c:d:n:s:k:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'm': method = optarg; break;
        case 'u': path = optarg; break;
        case 'b': bodyfile = optarg; break;
        case 't': ctype = optarg; break;
        case 'a': token = optarg; break;
        case 'c': conns = atoi(optarg); break;
        case 'd': secs = atoi(optarg); break;
        case 's': want = atoi(optarg); break;
        case 'n': limit = strtoul(optarg, NULL, 10); break;
        case 'k':
            vary = true;
            next_key = strtoull(optarg, NULL, 10);
            break;
        default: fprintf(stderr, "usage: see the top of loadgen.c\n"); return 2;
        }
    }
    if (port <= 0 || conns <= 0 || secs <= 0)
        return 2;
    size_t blen = 0;
    const char *body = bodyfile ? read_file(bodyfile, &blen) : "";
    char auth[600] = "";
    if (token)
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
    size_t cap = 4096 + blen;
    char *r = malloc(cap);
    int hl = snprintf(r, cap,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%sContent-Type: %s\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      method, path, port, auth, ctype, blen);
    memcpy(r + hl, body, blen);
    req = r;
    rlen = (size_t)hl + blen;
    for (const char *p = r; vary && (p = memmem(p, rlen - (size_t)(p - r), "@@@@@@@@@@@@@@@@", 16));
         p += 16) {
        if (nkeys == sizeof(key_at) / sizeof(key_at[0]))
            break;
        key_at[nkeys++] = (size_t)(p - r);
    }
    if (vary && !nkeys) {
        fprintf(stderr, "loadgen: -k, but the body has no run of 16 '@'\n");
        return 2;
    }

    int ep = epoll_create1(0);
    struct conn *cs = calloc((size_t)conns, sizeof(*cs));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    for (int i = 0; i < conns; i++) {
        struct conn *c = &cs[i];
        c->req = (char *)req;
        if (vary) {
            c->req = malloc(rlen);
            if (!c->req)
                die("malloc");
            memcpy(c->req, req, rlen);
            new_key(c);
        }
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
            die("connect");
        c->events = EPOLLOUT | EPOLLIN;
        struct epoll_event ev = {.events = c->events, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        c->t0 = now_us();
    }

    size_t nlat = 0, latcap = 1 << 20;
    uint32_t *lat = malloc(latcap * sizeof(*lat));
    unsigned long bad = 0;
    uint64_t start = now_us(), stop = start + (uint64_t)secs * 1000000;
    struct epoll_event evs[256];
    int open_conns = conns;
    while (open_conns > 0) {
        int n = epoll_wait(ep, evs, 256, 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (c->sent < rlen && (evs[i].events & EPOLLOUT))
                send_more(ep, c);
            if (!(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            ssize_t got = recv(c->fd, c->in + c->have, sizeof(c->in) - c->have, 0);
            if (got == 0 || (got < 0 && errno != EAGAIN)) {
                fprintf(stderr, "loadgen: the server closed a connection\n");
                return 1;
            }
            if (got > 0)
                c->have += (size_t)got;
            int status = 0;
            size_t len = answer_len(c, &status);
            if (!len)
                continue;
            uint64_t t = now_us();
            if (nlat == latcap) {
                latcap *= 2;
                lat = realloc(lat, latcap * sizeof(*lat));
            }
            lat[nlat++] = (uint32_t)(t - c->t0);
            if (status != want && bad++ == 0)
                fprintf(stderr, "loadgen: status %d (want %d): %.*s\n", status, want,
                        (int)(len > 600 ? 600 : len), c->in);
            memmove(c->in, c->in + len, c->have - len);
            c->have -= len;
            if (t >= stop || (limit && nlat + (unsigned long)open_conns > limit)) {
                close(c->fd);
                c->fd = -1;
                open_conns--;
                continue;
            }
            c->sent = 0;
            c->t0 = t;
            if (vary)
                new_key(c);
            send_more(ep, c);
        }
    }
    double elapsed = (double)(now_us() - start) / 1e6;
    if (!nlat) {
        fprintf(stderr, "loadgen: no answers\n");
        return 1;
    }
    qsort(lat, nlat, sizeof(*lat), cmp_u32);
    printf("requests %zu rps %.0f p50_ms %.2f p99_ms %.2f max_ms %.2f bad %lu\n", nlat,
           (double)nlat / elapsed, lat[nlat / 2] / 1000.0, lat[nlat * 99 / 100] / 1000.0,
           lat[nlat - 1] / 1000.0, bad);
    return bad ? 3 : 0;
}
