#!/usr/bin/env bash
# The store benchmark through the HTTP API (issue 3): durable writes as a user of the
# cluster makes them, measured in one run on this machine, three ways:
#   bosun      reconcilerd on its file store — POST of a ~230-byte ConfigMap
#              (generateName), each answered after its fdatasync;
#   bosun/etcd the same reconcilerd API on `--store etcd:` (the same etcd as below) —
#              what the same requests cost when etcd is the store;
#   etcd       etcd's own JSON gateway — PUT of a value of the same size under a new key
#              each time (/v3/kv/put), as each POST above makes a new object:
#              etcd with no API server in front of it at all, the floor for any
#              Kubernetes API on etcd.
# Each at 1, 16 and 256 concurrent keep-alive clients (tests/bench/loadgen.c, one epoll
# thread: a load generator that costs far less CPU than hey on a 2-core machine); then
# GETs of one object at 16 clients, lists of 10k and 100k objects (median of 3, curl
# end to end), and resident memory per object (reconcilerd vs etcd, while loading).
# Appends a table to docs/benchmarks.md. About 6 minutes. Needs etcd (etcd-server).
# The writes run in rounds and each figure is the median over the rounds: this machine's
# speed drifts by +-20% and more within minutes, and a drift between two steps would show
# as a ratio otherwise. Within a round, at each client count, bosun and the etcd gateway
# run back to back, bosun first in odd rounds and the gateway first in even ones (a drift
# in one direction then favours each side as often), and bosun on etcd after them; the
# rounds' own bosun / gateway ratios are reported too, with their median.
#   STORE_HTTP_SECS=5 (per step)   STORE_HTTP_ROUNDS=5   STORE_HTTP_OBJECTS=100000
set -u
cd "$(dirname "$0")/../.."
TOP=$PWD
SECS=${STORE_HTTP_SECS:-5}
ROUNDS=${STORE_HTTP_ROUNDS:-5}
NOBJ=${STORE_HTTP_OBJECTS:-100000}
OUT=${STORE_HTTP_OUT:-docs/benchmarks.md}
START=$(date +%s)

command -v etcd >/dev/null || { echo "SKIP  store_http: etcd not installed (apt-get install etcd-server)"; exit 0; }
[ -x bin/reconcilerd ] || make -s bin/reconcilerd || exit 1

# On the same disk as the repository (not tmpfs): fsync must cost what it costs.
WORK=$(mktemp -d "$TOP/build/store-http-XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 65536 2>/dev/null || ulimit -n 8192

cc -std=c11 -O2 -Wall -Wextra -Werror -o "$WORK/loadgen" tests/bench/loadgen.c || exit 1

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
up() { # URL: waits until it answers
    local i
    for i in $(seq 200); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "store_http: $1 did not come up"
    exit 1
}

EP=$(free_port)
PP=$(free_port)
etcd --name bench --data-dir "$WORK/etcd" \
    --listen-client-urls "http://127.0.0.1:$EP" --advertise-client-urls "http://127.0.0.1:$EP" \
    --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
    --initial-cluster "bench=http://127.0.0.1:$PP" --log-level warn >"$WORK/etcd.log" 2>&1 &
PIDS+=($!)
ETCD_PID=$!
up "http://127.0.0.1:$EP/health"
ETCD_VERSION=$(etcd --version 2>/dev/null | awk '/etcd Version/ {print $3}')

FP=$(free_port)
bin/reconcilerd --listen "127.0.0.1:$FP" --data-dir "$WORK/store" --log-level warn \
    >"$WORK/file.log" 2>&1 &
PIDS+=($!)
FILE_PID=$!
up "http://127.0.0.1:$FP/readyz"
XP=$(free_port)
bin/reconcilerd --listen "127.0.0.1:$XP" --store "etcd:http://127.0.0.1:$EP" --log-level warn \
    >"$WORK/etcdapi.log" 2>&1 &
PIDS+=($!)
up "http://127.0.0.1:$XP/readyz"

VALUE=$(printf 'v%.0s' $(seq 150))
printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"b-"},"data":{"k":"%s"}}' \
    "$VALUE" >"$WORK/cm.json"
printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"one"},"data":{"k":"%s"}}' \
    "$VALUE" >"$WORK/one.json"
# etcd: a value as large as the ConfigMap the API stores (~230 B with its metadata), under
# a new key each time (loadgen -k fills in the 16 '@' with the base64 of a request
# number; the 12-byte prefix keeps the base64 aligned), as each POST makes a new object.
# The GET below reads one of them.
printf '{"key":"%s@@@@@@@@@@@@@@@@","value":"%s"}' "$(printf /bench/keys/ | base64 -w0)" \
    "$(head -c 230 /dev/zero | tr '\0' v | base64 -w0)" >"$WORK/put.json"
printf '{"key":"%s"}' "$(printf /bench/keys/000010010001 | base64 -w0)" >"$WORK/get.json"

RES=$WORK/results
: >"$RES"
put() { echo "$1 $2" >>"$RES"; }
get() { awk -v k="$1" '$1 == k {v = $2} END {print v}' "$RES"; }
fmt() { local v; v=$(get "$1"); [ -n "$v" ] && printf "%.${2:-0}f" "$v" || printf '–'; }
ratio() {
    local a b
    a=$(get "$1")
    b=$(get "$2")
    [ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" 'BEGIN {if (b > 0) printf "%.1f×", a / b; else printf "–"}' || printf '–'
}

# load NAME PORT METHOD PATH BODY CONNS STATUS [LOADGEN-FLAGS]: one loadgen run of $SECS
# into results.
load() {
    local line
    line=$("$WORK/loadgen" -p "$2" -m "$3" -u "$4" -b "$5" -c "$6" -d "$SECS" -s "$7" ${8:-}) ||
        { echo "store_http: $1 failed: $line"; exit 1; }
    # NAME may end in _rN (a round): the figures go in as NAME_rps_rN etc.
    local base=${1%_r[0-9]*} round=
    [ "$base" != "$1" ] && round=${1#"$base"}
    put "${base}_rps$round" "$(echo "$line" | awk '{print $4}')"
    put "${base}_p50$round" "$(echo "$line" | awk '{print $6}')"
    put "${base}_p99$round" "$(echo "$line" | awk '{print $8}')"
    echo "  $1: $line"
}

CMS=/api/v1/namespaces/default/configmaps
# median NAME: the median of NAME_r1..NAME_rROUNDS into NAME.
median() {
    local i v=()
    for i in $(seq "$ROUNDS"); do v+=("$(get "${1}_r$i")"); done
    put "$1" "$(printf '%s\n' "${v[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')"
}
echo "store_http: durable writes, $ROUNDS rounds"
# file_step / etcd_step ROUND CLIENTS
file_step() { load "file_put_${2}_r$1" "$FP" POST "$CMS" "$WORK/cm.json" "$2" 201; }
# keys from a number no earlier step reached: every put makes a new key
etcd_step() { load "etcd_put_${2}_r$1" "$EP" POST /v3/kv/put "$WORK/put.json" "$2" 200 "-k $(($1 * 10000000 + $2 * 10000))"; }
for r in $(seq "$ROUNDS"); do
    for c in 1 16 256; do
        if [ $((r % 2)) = 1 ]; then file_step "$r" "$c"; etcd_step "$r" "$c"; else etcd_step "$r" "$c"; file_step "$r" "$c"; fi
        load "etcdapi_put_${c}_r$r" "$XP" POST "$CMS" "$WORK/cm.json" "$c" 201
    done
done
for w in file etcdapi etcd; do
    for c in 1 16 256; do
        for m in rps p50 p99; do median "${w}_put_${c}_$m"; done
    done
done

echo "store_http: gets of one object, 16 clients"
curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' -d @"$WORK/one.json" "http://127.0.0.1:$FP$CMS"
curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' -d @"$WORK/one.json" "http://127.0.0.1:$XP$CMS"
load file_get "$FP" GET "$CMS/one" /dev/null 16 200
load etcdapi_get "$XP" GET "$CMS/one" /dev/null 16 200
load etcd_get "$EP" POST /v3/kv/range "$WORK/get.json" 16 200

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# list_ms NAME CURL-ARGS...: median of 3, in ms; also the object count seen.
list_ms() {
    local name=$1 i t=()
    shift
    for i in 1 2 3; do
        t+=("$(curl -s -o "$WORK/list.out" -w '%{time_total}' "$@")")
    done
    put "$name" "$(printf '%s\n' "${t[@]}" | sort -n | sed -n 2p | awk '{printf "%.1f", $1 * 1000}')"
}

# Two namespaces, loaded through both APIs at 256 clients: s10k with 10,000 ConfigMaps,
# then big with $NOBJ. Memory per object = growth while big loads (after s10k warmed up
# every worker thread's malloc arena), measured before any list (a list's transient
# buffers would count otherwise). Then the lists, of each namespace.
count_items() { python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$1"; }
for ns in s10k big; do
    for p in "$FP" "$XP"; do
        curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' \
            -d "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$ns\"}}" \
            "http://127.0.0.1:$p/api/v1/namespaces" || { echo "store_http: namespace $ns"; exit 1; }
    done
done
fill() { # NS N
    echo "store_http: loading $2 ConfigMaps into namespace $1"
    "$WORK/loadgen" -p "$FP" -m POST -u "/api/v1/namespaces/$1/configmaps" -b "$WORK/cm.json" \
        -c 256 -n "$2" -d 900 -s 201 >/dev/null || { echo "store_http: loading the file store failed"; exit 1; }
    "$WORK/loadgen" -p "$XP" -m POST -u "/api/v1/namespaces/$1/configmaps" -b "$WORK/cm.json" \
        -c 256 -n "$2" -d 900 -s 201 >/dev/null || { echo "store_http: loading etcd failed"; exit 1; }
    put "file_rss_$1" "$(rss_kib $FILE_PID)"
    put "etcd_rss_$1" "$(rss_kib $ETCD_PID)"
}
fill s10k 10000
fill big "$NOBJ"
for w in file etcd; do
    put "${w}_rss_per_object" "$(awk -v a="$(get ${w}_rss_s10k)" -v b="$(get ${w}_rss_big)" -v n="$NOBJ" 'BEGIN {print (b - a) * 1024 / n}')"
done
for ns in s10k big; do
    n=$([ $ns = s10k ] && echo 10000 || echo "$NOBJ")
    list_ms "file_list_$n" "http://127.0.0.1:$FP/api/v1/namespaces/$ns/configmaps"
    put "file_count_$n" "$(count_items "$WORK/list.out")"
    put file_json_per_object "$(($(stat -c %s "$WORK/list.out") / n))"
    list_ms "etcdapi_list_$n" "http://127.0.0.1:$XP/api/v1/namespaces/$ns/configmaps"
    put "etcdapi_count_$n" "$(count_items "$WORK/list.out")"
    # etcd alone: the same objects, as raw keys under the API's prefix.
    range=$(python3 -c 'import base64,sys; p=("/bosun//configmaps/%s/" % sys.argv[1]).encode(); print("{\"key\":\"%s\",\"range_end\":\"%s\"}" % (base64.b64encode(p).decode(), base64.b64encode(p[:-1] + b"0").decode()))' "$ns")
    list_ms "etcd_list_$n" -X POST -d "$range" "http://127.0.0.1:$EP/v3/kv/range"
    put "etcd_count_$n" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("count", 0))' "$WORK/list.out")"
    echo "  list $n: file $(get file_list_$n) ms ($(get file_count_$n) items), API on etcd $(get etcdapi_list_$n) ms ($(get etcdapi_count_$n)), etcd range $(get etcd_list_$n) ms ($(get etcd_count_$n))"
done
elapsed=$(($(date +%s) - START))

# ---- docs/benchmarks.md ----------------------------------------------------------------
[ -f "$OUT" ] || printf '# Benchmarks\n\nRows are appended by `make bench` (tests/bench/run.sh).\n' >"$OUT"
{
    echo
    echo "## store through the HTTP API: bosun vs etcd — $(date -u +%Y-%m-%d\ %H:%M) UTC"
    echo
    echo "Machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)," \
        "kernel $(uname -r), $(git rev-parse --short HEAD 2>/dev/null || echo '?') (+ working tree);" \
        "etcd ${ETCD_VERSION:-?}; release build; ${SECS} s per step; writes: median of $ROUNDS rounds; whole run ${elapsed} s."
    echo "Clients: tests/bench/loadgen.c (keep-alive, one epoll thread, on the same 2 cores)."
    echo "**bosun**: reconcilerd on its file store, POST of a ~230-byte ConfigMap, answered after"
    echo "its fdatasync. **bosun on etcd**: the same reconcilerd API with \`--store etcd:\`."
    echo "**etcd**: etcd's own JSON gateway, PUT of a value of the same size under a new key each"
    echo "time (as each POST makes a new object) — no API server in front, so the floor for any"
    echo "Kubernetes API on etcd. Each write is durable in all three."
    echo
    echo "| measure | bosun | bosun on etcd | etcd gateway | bosun / bosun on etcd | bosun / etcd gateway |"
    echo "|---|---|---|---|---|---|"
    for c in 1 16 256; do
        echo "| durable writes/s, $c clients | $(fmt file_put_${c}_rps) | $(fmt etcdapi_put_${c}_rps) | $(fmt etcd_put_${c}_rps) | $(ratio file_put_${c}_rps etcdapi_put_${c}_rps) | $(ratio file_put_${c}_rps etcd_put_${c}_rps) |"
        echo "| p50 / p99 ms, $c clients | $(fmt file_put_${c}_p50 2) / $(fmt file_put_${c}_p99 2) | $(fmt etcdapi_put_${c}_p50 2) / $(fmt etcdapi_put_${c}_p99 2) | $(fmt etcd_put_${c}_p50 2) / $(fmt etcd_put_${c}_p99 2) | | |"
    done
    echo "| GETs/s of one object, 16 clients | $(fmt file_get_rps) | $(fmt etcdapi_get_rps) | $(fmt etcd_get_rps) | $(ratio file_get_rps etcdapi_get_rps) | $(ratio file_get_rps etcd_get_rps) |"
    for n in 10000 "$NOBJ"; do
        echo "| list of $n ConfigMaps, ms (etcd: range of the same keys) | $(fmt file_list_$n 1) | $(fmt etcdapi_list_$n 1) | $(fmt etcd_list_$n 1) | $(ratio etcdapi_list_$n file_list_$n) faster | $(ratio etcd_list_$n file_list_$n) faster |"
    done
    echo "| resident memory per object, B (growth while $NOBJ load; reconcilerd / etcd process) | $(fmt file_rss_per_object) (its JSON: $(fmt file_json_per_object)) | | $(fmt etcd_rss_per_object) | | |"
    # The spread behind the medians: this machine drifts, and the file store grows.
    echo
    for c in 16 256; do
        line="Rounds at $c clients, bosun / etcd gateway writes/s:"
        ratios=()
        for r in $(seq "$ROUNDS"); do
            line+=" $(fmt file_put_${c}_rps_r$r) / $(fmt etcd_put_${c}_rps_r$r) ($(ratio file_put_${c}_rps_r$r etcd_put_${c}_rps_r$r))"
            [ "$r" -lt "$ROUNDS" ] && line+=","
            ratios+=("$(awk -v a="$(get file_put_${c}_rps_r$r)" -v b="$(get etcd_put_${c}_rps_r$r)" 'BEGIN {if (b > 0) print a / b}')")
        done
        med=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR] = $1} END {if (NR) printf "%.1f", a[int((NR + 1) / 2)]}')
        echo "$line; median of the rounds' ratios ${med:-–}×."
    done
} >>"$OUT"
echo "appended to $OUT"
