#!/usr/bin/env bash
# The API benchmark (issue 4), against a release reconcilerd on loopback (file store on
# the repository's disk, no token file, so no per-user limits):
#   - cluster-wide list of 10k and 100k pods (GET /api/v1/pods) as JSON and as Table:
#     median of 3, once the server is idle after the creates; goal 100k < 1 s; the
#     published reference is Kubernetes' list SLO (30 s for cluster-wide lists), and in
#     the same run the time `python3 -m http.server` needs to serve the same JSON bytes
#     as a static file (the cost of moving the bytes);
#   - fan-out delay from a write to its event at each of 1,000 open watches (p50/p99 over
#     every watcher x event; goal p99 < 50 ms), measured by a small C client built from this script (one
#     epoll thread reading every watch, one thread writing 40 patches 100 ms apart), so
#     the client's own reading is included;
#   - GET and PATCH requests/s at 64 clients (hey), with the same server's /healthz at 64
#     clients as the reference (the HTTP layer's own ceiling on this machine);
#   - creates/s while loading the pods (hey POST with generateName, 64 clients).
# Prints the figures and appends a table to docs/benchmarks.md. About 3 minutes.
#   API_BENCH_PODS=100000  API_BENCH_WATCHERS=1000  API_BENCH_SECS=5
set -u
cd "$(dirname "$0")/../.."
TOP=$PWD
PODS=${API_BENCH_PODS:-100000}
WATCHERS=${API_BENCH_WATCHERS:-1000}
SECS=${API_BENCH_SECS:-5}
OUT=${API_BENCH_OUT:-docs/benchmarks.md}
PY=/usr/bin/python3
START=$(date +%s)

command -v hey >/dev/null || { echo "api bench: hey missing (apt-get install -y hey)"; exit 1; }
[ -x bin/reconcilerd ] || make -s bin/reconcilerd || exit 1

WORK=$(mktemp -d "$TOP/build/api-bench-XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
API=http://127.0.0.1:$PORT
ulimit -n 65536 2>/dev/null || ulimit -n 8192
bin/reconcilerd --listen 127.0.0.1:$PORT --data-dir "$WORK/store" --log-level warn \
    --watch-history 300000 >"$WORK/reconcilerd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "$API/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$API/healthz" >/dev/null || { cat "$WORK/reconcilerd.log"; exit 1; }

POD='{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"bench-","labels":{"app":"bench"}},"spec":{"nodeName":"n1","containers":[{"name":"c","image":"busybox:1.35","ports":[{"containerPort":80}]}]},"status":{"phase":"Running","podIP":"10.244.0.9"}}'

# create N: N pods in namespace default; prints creates/s.
create() {
    hey -n "$1" -c 64 -m POST -T application/json -d "$POD" \
        "$API/api/v1/namespaces/default/pods" >"$WORK/hey.create" 2>&1
    grep -q '\[201\]' "$WORK/hey.create" || { cat "$WORK/hey.create"; exit 1; }
    awk '/Requests\/sec/ {printf "%d", $2}' "$WORK/hey.create"
}

# settle: waits (up to 60 s) until reconcilerd's CPU time stops growing for a second, so
# a list is timed without the in-process controllers still digesting the creates.
settle() {
    local prev=-1 cur _
    for _ in $(seq 60); do
        cur=$(awk '{print $14 + $15}' "/proc/${PIDS[0]}/stat" 2>/dev/null) || return 0
        [ "$cur" = "$prev" ] && return 0
        prev=$cur
        sleep 1
    done
}

# list_ms ACCEPT: median of 3 cluster-wide lists, in ms; bytes in $WORK/list.out
list_ms() {
    local i t=()
    settle
    for i in 1 2 3; do
        t+=("$(curl -s -o "$WORK/list.out" -w '%{time_total}' -H "Accept: $1" "$API/api/v1/pods")")
    done
    printf '%s\n' "${t[@]}" | sort -n | sed -n 2p | awk '{printf "%.0f", $1*1000}'
}
TABLE='application/json;as=Table;v=v1;g=meta.k8s.io,application/json'

echo "api bench: loading pods"
C1=$(create 10000)
L10J=$(list_ms application/json)
B10=$(stat -c %s "$WORK/list.out")
L10T=$(list_ms "$TABLE")
C2=$C1
if [ "$PODS" -gt 10000 ]; then
    C2=$(create $((PODS - 10000)))
fi
L100J=$(list_ms application/json)
B100=$(stat -c %s "$WORK/list.out")
N100=$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$WORK/list.out")
L100T=$(list_ms "$TABLE")
# reference: the same bytes as a static file
mkdir -p "$WORK/static"
curl -s -o "$WORK/static/pods.json" "$API/api/v1/pods"
SPORT=$(free_port)
(cd "$WORK/static" && exec $PY -m http.server "$SPORT" --bind 127.0.0.1) >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$SPORT/pods.json" && break; sleep 0.1; done
REFS=()
for i in 1 2 3; do REFS+=("$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$SPORT/pods.json")"); done
LREF=$(printf '%s\n' "${REFS[@]}" | sort -n | sed -n 2p | awk '{printf "%.0f", $1*1000}')
echo "api bench: list $N100 pods: JSON ${L100J} ms, Table ${L100T} ms (static file ${LREF} ms)"

echo "api bench: GET / PATCH at 64 clients"
NAME=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["items"][0]["metadata"]["name"])' "$WORK/static/pods.json")
[ -n "$NAME" ] || exit 1
rps() { awk '/Requests\/sec/ {printf "%d", $2}' "$1"; }
hey -z "${SECS}s" -c 64 "$API/healthz" >"$WORK/hey.health" 2>&1
HEALTH=$(rps "$WORK/hey.health")
hey -z "${SECS}s" -c 64 "$API/api/v1/namespaces/default/pods/$NAME" >"$WORK/hey.get" 2>&1
GET=$(rps "$WORK/hey.get")
grep -q '\[200\]' "$WORK/hey.get" || { cat "$WORK/hey.get"; exit 1; }
curl -s -X POST -H 'Content-Type: application/json' "$API/api/v1/namespaces/default/configmaps" \
    -d '{"metadata":{"name":"patched"},"data":{"n":"0"}}' >/dev/null
hey -z "${SECS}s" -c 64 -m PATCH -T application/merge-patch+json -d '{"metadata":{"labels":{"x":"y"}}}' \
    "$API/api/v1/namespaces/default/pods/$NAME" >"$WORK/hey.patch" 2>&1
PATCH=$(rps "$WORK/hey.patch")
grep -q '\[200\]' "$WORK/hey.patch" || { cat "$WORK/hey.patch"; exit 1; }
# PATCH that changes the object every time (a durable write each): hey sends one body,
# so alternate two bodies with two hey runs at 32 clients each on one ConfigMap.
hey -z "${SECS}s" -c 32 -m PATCH -T application/merge-patch+json -d '{"data":{"n":"1"}}' \
    "$API/api/v1/namespaces/default/configmaps/patched" >"$WORK/hey.w1" 2>&1 &
H1=$!
hey -z "${SECS}s" -c 32 -m PATCH -T application/merge-patch+json -d '{"data":{"n":"2"}}' \
    "$API/api/v1/namespaces/default/configmaps/patched" >"$WORK/hey.w2" 2>&1
wait $H1
WRITE=$(($(rps "$WORK/hey.w1") + $(rps "$WORK/hey.w2")))
echo "api bench: healthz $HEALTH/s, GET $GET/s, PATCH (no-op) $PATCH/s, PATCH (changing) $WRITE/s"

echo "api bench: fan-out to $WATCHERS watches"
settle # as for the lists: the delivery delay, not the controllers' leftover work after the loads
curl -s -X POST -H 'Content-Type: application/json' "$API/api/v1/namespaces" \
    -d '{"metadata":{"name":"fanout"}}' >/dev/null
curl -s -X POST -H 'Content-Type: application/json' "$API/api/v1/namespaces/fanout/configmaps" \
    -d '{"metadata":{"name":"tick"},"data":{"seq":"0"}}' >/dev/null
cat >"$WORK/api_fanout.c" <<'CEOF'
/* api_fanout — the watch fan-out probe of tests/bench/api.sh: opens N watches on
 * /api/v1/namespaces/fanout/configmaps from resourceVersion RV (plain HTTP/1.1, epoll, one
 * thread), then writes E merge patches to configmap "tick" (data.seq = "s<k>") E apart by
 * GAP ms from a second thread, and records when each watcher sees each "seq":"s<k>".
 * Prints "<deliveries> <p50 ms> <p99 ms> <max ms>".
 *   api_fanout PORT N RV [E=40] [GAP_MS=100] */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port, nev = 40, gap_ms = 100;
static double sent[1024];

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
        perror("connect");
        exit(1);
    }
    return fd;
}

static void *writer(void *arg)
{
    (void)arg;
    int fd = dial();
    char req[512], buf[65536];
    for (int k = 0; k < nev; k++) {
        char body[64];
        int bl = snprintf(body, sizeof(body), "{\"data\":{\"seq\":\"s%d\"}}", k);
        int n = snprintf(req, sizeof(req),
                         "PATCH /api/v1/namespaces/fanout/configmaps/tick HTTP/1.1\r\nHost: x\r\n"
                         "Content-Type: application/merge-patch+json\r\nContent-Length: %d\r\n\r\n%s",
                         bl, body);
        sent[k] = now_ms();
        if (write(fd, req, (size_t)n) != n)
            exit(1);
        ssize_t r = read(fd, buf, sizeof(buf)); /* small reply: one read is enough */
        if (r <= 0)
            exit(1);
        usleep((useconds_t)gap_ms * 1000);
    }
    close(fd);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct conn {
    int fd, seen;
    char tail[16]; /* the end of the previous read, for a marker split across reads */
};

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    port = atoi(argv[1]);
    int n = atoi(argv[2]);
    const char *rv = argv[3];
    if (argc > 4)
        nev = atoi(argv[4]);
    if (argc > 5)
        gap_ms = atoi(argv[5]);
    if (nev > 1024)
        nev = 1024;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn *c = calloc((size_t)n, sizeof(*c));
    double *d = calloc((size_t)n * (size_t)nev, sizeof(*d));
    size_t nd = 0;
    char req[512];
    int rl = snprintf(req, sizeof(req),
                      "GET /api/v1/namespaces/fanout/configmaps?watch=true&resourceVersion=%s "
                      "HTTP/1.1\r\nHost: x\r\n\r\n", rv);
    for (int i = 0; i < n; i++) {
        c[i].fd = dial();
        if (write(c[i].fd, req, (size_t)rl) != rl)
            return 1;
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &c[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &e);
    }
    usleep(1000 * 1000); /* every watch registered */
    pthread_t t;
    pthread_create(&t, NULL, writer, NULL);
    static char buf[1 << 20];
    int done = 0;
    double deadline = now_ms() + nev * gap_ms + 60000;
    struct epoll_event evs[256];
    while (done < n && now_ms() < deadline) {
        int k = epoll_wait(ep, evs, 256, 1000);
        double at = now_ms();
        for (int i = 0; i < k; i++) {
            struct conn *x = evs[i].data.ptr;
            size_t tl = strlen(x->tail);
            memcpy(buf, x->tail, tl);
            ssize_t r = read(x->fd, buf + tl, sizeof(buf) - tl - 1);
            if (r <= 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
                done++;
                continue;
            }
            size_t len = tl + (size_t)r;
            buf[len] = '\0';
            for (char *p = buf; (p = strstr(p, "\"seq\":\"s"));) {
                p += 8;
                int seq = atoi(p);
                if (seq >= 0 && seq < nev && strchr(p, '"')) {
                    d[nd++] = at - sent[seq];
                    if (++x->seen == nev) {
                        epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
                        done++;
                    }
                }
            }
            size_t keep = len < 15 ? len : 15;
            memcpy(x->tail, buf + len - keep, keep);
            x->tail[keep] = '\0';
            /* a marker fully inside the kept tail was counted already: drop its start */
            char *m = strstr(x->tail, "\"seq\":\"s");
            if (m && strchr(m + 8, '"'))
                x->tail[0] = '\0';
        }
    }
    pthread_join(t, NULL);
    qsort(d, nd, sizeof(*d), cmp);
    if (!nd) {
        printf("0 0 0 0\n");
        return 1;
    }
    printf("%zu %.1f %.1f %.1f\n", nd, d[nd / 2], d[(size_t)(nd * 0.99)], d[nd - 1]);
    return 0;
}
CEOF
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$WORK/api_fanout" "$WORK/api_fanout.c" \
    -lpthread || exit 1
FRV=$(curl -s "$API/api/v1/namespaces/fanout/configmaps" | $PY -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])')
"$WORK/api_fanout" "$PORT" "$WATCHERS" "$FRV" 40 100 >"$WORK/fanout.out"
read -r FN FP50 FP99 FMAX <"$WORK/fanout.out" || { cat "$WORK/fanout.out"; exit 1; }
echo "api bench: fan-out $FN deliveries: p50 $FP50 ms, p99 $FP99 ms, max $FMAX ms"

ELAPSED=$(($(date +%s) - START))
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v < g) ? "met" : "**missed**" }'; }
CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
{
    echo
    echo "## api: reconcilerd HTTP API — $(date -u '+%Y-%m-%d %H:%M') UTC"
    echo
    echo "Machine: $(nproc) CPUs, $CPU, kernel $(uname -r), $(git rev-parse --short HEAD 2>/dev/null) (+ working tree); release build, file store, loopback, no token file; whole run ${ELAPSED} s."
    echo "Pods are ~$((B100 / (N100 > 0 ? N100 : 1))) bytes of JSON each (managedFields included). Lists are GET /api/v1/pods (cluster-wide), median of 3, curl end to end."
    echo
    echo "| measure | bosun | reference | ratio | goal |"
    echo "|---|---|---|---|---|"
    echo "| list 10k pods, JSON ($((B10 / 1048576)) MiB) | ${L10J} ms | | | |"
    echo "| list 10k pods, Table | ${L10T} ms | | | |"
    echo "| list ${N100} pods, JSON ($((B100 / 1048576)) MiB) | ${L100J} ms | same bytes from \`python3 -m http.server\`: ${LREF} ms; Kubernetes SLO: 30000 ms | $(ratio "$L100J" "$LREF")× static; $(ratio "$L100J" 30000)× SLO | < 1000 ms: $(verdict "$L100J" 1000) |"
    echo "| list ${N100} pods, Table | ${L100T} ms | Kubernetes SLO: 30000 ms | $(ratio "$L100T" 30000)× SLO | < 1000 ms: $(verdict "$L100T" 1000) |"
    echo "| write → event at each of $WATCHERS watches ($FN deliveries) | p50 ${FP50} ms, p99 ${FP99} ms, max ${FMAX} ms | | | p99 < 50 ms: $(verdict "$FP99" 50) |"
    echo "| GET pod, 64 clients | ${GET}/s | /healthz on the same server: ${HEALTH}/s | $(ratio "$GET" "$HEALTH")× | |"
    echo "| PATCH pod (merge, no change after the first), 64 clients | ${PATCH}/s | /healthz: ${HEALTH}/s | $(ratio "$PATCH" "$HEALTH")× | |"
    echo "| PATCH ConfigMap (every one a durable write, one object), 64 clients | ${WRITE}/s | /healthz: ${HEALTH}/s | $(ratio "$WRITE" "$HEALTH")× | |"
    echo "| create pod (POST, generateName), 64 clients | ${C2}/s (first 10k: ${C1}/s) | | | |"
} | tee -a "$OUT"
