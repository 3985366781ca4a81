#!/usr/bin/env bash
# The store benchmark (issue 3): bosun's file store and etcd measured in one run on this
# machine, through the same in-process store API (reconcilerd/store/store.h; for etcd
# that API speaks etcd's JSON gateway with libcurl, one HTTP request per call):
#   durable puts/s and p50/p99 at 1, 16, 256 concurrent clients; gets and lists among 10k
#   and 100k objects; disk use under an update storm; start-up with 1M objects; memory
#   per object. Prints the figures and bosun/etcd ratios and appends a table to
#   docs/benchmarks.md. Takes about 3 minutes. Needs etcd (Debian etcd-server).
#   STORE_BENCH_SECS=3 (seconds per put step)   STORE_BENCH_STARTUP=1000000
set -u
cd "$(dirname "$0")/../.."
TOP=$PWD
SECS=${STORE_BENCH_SECS:-3}
NSTART=${STORE_BENCH_STARTUP:-1000000}
OUT=docs/benchmarks.md

make -s build/release/libbosun.a build/release/reconcilerd-body.a || exit 1
BENCH=build/release/store_bench
cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -I. -o $BENCH tests/bench/store_bench.c \
    build/release/reconcilerd-body.a build/release/libbosun.a \
    $(pkg-config --libs jansson libcurl) -lpthread || exit 1

# On the same disk as the repository (not tmpfs): fsync must cost what it costs.
WORK=$(mktemp -d "$TOP/build/store-bench-XXXXXX")
ETCD_PID=
cleanup() {
    if [ -n "$ETCD_PID" ]; then
        kill "$ETCD_PID" 2>/dev/null
        wait "$ETCD_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ETCD=$(command -v etcd || true)
if [ -z "$ETCD" ]; then
    echo "SKIP  etcd not installed (apt-get install etcd-server): no etcd comparison"
else
    CP=$(free_port)
    PP=$(free_port)
    "$ETCD" --name bench --data-dir "$WORK/etcd" \
        --listen-client-urls "http://127.0.0.1:$CP" --advertise-client-urls "http://127.0.0.1:$CP" \
        --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
        --initial-cluster "bench=http://127.0.0.1:$PP" --log-level warn >"$WORK/etcd.log" 2>&1 &
    ETCD_PID=$!
    ETCD_URL="http://127.0.0.1:$CP"
    for _ in $(seq 100); do
        curl -s -X POST "$ETCD_URL/v3/maintenance/status" -d '{}' >/dev/null 2>&1 && break
        sleep 0.1
    done
    ETCD_VERSION=$("$ETCD" --version 2>/dev/null | awk '/etcd Version/ {print $3}')
fi

RES=$WORK/results
: >"$RES"
run() { # label, then store_bench arguments
    local label=$1
    shift
    echo "-- $label"
    "$BENCH" "$@" | tee -a "$RES" | grep -v '^RESULT' || echo "FAIL  $label"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

t0=$(date +%s)
run "file store: durable puts" puts --dir "$WORK/file" --secs "$SECS"
run "file store: gets and lists" reads --dir "$WORK/file" --objects 10000,100000
run "file store: update storm (disk use)" storm --dir "$WORK/file" --secs 2
if [ -n "$ETCD_PID" ]; then
    run "etcd: durable puts" puts --etcd "$ETCD_URL" --secs "$SECS"
    before=$(rss_kib "$ETCD_PID")
    run "etcd: gets and lists" reads --etcd "$ETCD_URL" --objects 10000,100000
    after=$(rss_kib "$ETCD_PID")
    # 110k small objects were added by the reads step
    echo "RESULT etcd_mem_per_object_b $(( (after - before) * 1024 / 110000 ))" | tee -a "$RES"
fi
"$BENCH" gen --dir "$WORK/big" --objects "$NSTART,200000" >/dev/null || echo "FAIL  gen"
sync
run "file store: start-up with $NSTART objects (snapshot + 200k-record log)" open --dir "$WORK/big"
elapsed=$(( $(date +%s) - t0 ))

r() { awk -v k="$1" '$1 == "RESULT" && $2 == k {v=$3} END {print v}' "$RES"; }
ratio() { awk -v a="$(r "$1")" -v b="$(r "$2")" 'BEGIN { if (a != "" && b != "" && b > 0) printf "%.1f×", a / b; else print "–" }'; }
fmt() { awk -v v="$(r "$1")" -v d="${2:-0}" 'BEGIN { if (v == "") print "–"; else printf "%.*f", d, v }'; }

echo
echo "== summary (bosun file store / etcd ${ETCD_VERSION:-absent}), ${elapsed}s"
for c in 1 16 256; do
    printf 'puts %3s clients: %8s/s vs %8s/s (%s)  p50 %s vs %s ms  p99 %s vs %s ms\n' "$c" \
        "$(fmt file_puts_$c)" "$(fmt etcd_puts_$c)" "$(ratio file_puts_$c etcd_puts_$c)" \
        "$(fmt file_p50_$c 2)" "$(fmt etcd_p50_$c 2)" "$(fmt file_p99_$c 2)" "$(fmt etcd_p99_$c 2)"
done
for n in 10000 100000; do
    printf 'among %6s: gets %s/s vs %s/s (%s); list %s ms vs %s ms\n' "$n" \
        "$(fmt file_gets_$n)" "$(fmt etcd_gets_$n)" "$(ratio file_gets_$n etcd_gets_$n)" \
        "$(fmt file_list_${n}_ms 1)" "$(fmt etcd_list_${n}_ms 1)"
done
printf 'start-up with %s objects: %s s; memory per object %s B (JSON %s B, overhead %s B); etcd %s B\n' \
    "$NSTART" "$(fmt file_startup_s 2)" "$(fmt file_mem_per_object_b)" \
    "$(fmt file_json_per_object_b)" "$(fmt file_overhead_per_object_b)" "$(fmt etcd_mem_per_object_b)"

# ---- docs/benchmarks.md ----------------------------------------------------------------
[ -f "$OUT" ] || printf '# Benchmarks\n\nRows are appended by `make bench` (tests/bench/run.sh).\n' >"$OUT"
{
    echo
    echo "## store: bosun file store vs etcd — $(date -u +%Y-%m-%d\ %H:%M) UTC"
    echo
    echo "Machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)," \
        "kernel $(uname -r), $(git rev-parse --short HEAD 2>/dev/null || echo '?') (+ working tree);" \
        "etcd ${ETCD_VERSION:-absent}; ${SECS} s per put step; whole run ${elapsed} s."
    echo "Both measured through reconcilerd's in-process store API (store.h) — for the file store"
    echo "that is a function call, for etcd one HTTP request to its JSON gateway per call (libcurl)."
    echo "Through reconcilerd's HTTP API: the \"store through the HTTP API\" table (store_http.sh)."
    echo "Creates of ~230-byte Pods; etcd writes are txns (create_revision == 0), as the store does."
    echo
    echo "| measure | bosun file store | etcd | bosun/etcd |"
    echo "|---|---|---|---|"
    for c in 1 16 256; do
        echo "| durable puts/s, $c clients | $(fmt file_puts_$c) | $(fmt etcd_puts_$c) | $(ratio file_puts_$c etcd_puts_$c) |"
        echo "| p50 / p99 ms, $c clients | $(fmt file_p50_$c 2) / $(fmt file_p99_$c 2) | $(fmt etcd_p50_$c 2) / $(fmt etcd_p99_$c 2) | |"
    done
    for n in 10000 100000; do
        echo "| gets/s among $n objects, 16 clients | $(fmt file_gets_$n) | $(fmt etcd_gets_$n) | $(ratio file_gets_$n etcd_gets_$n) |"
        echo "| list of $n objects, ms (raw bytes) | $(fmt file_list_${n}_ms 1) | $(fmt etcd_list_${n}_ms 1) | $(ratio etcd_list_${n}_ms file_list_${n}_ms) faster |"
    done
    echo "| start-up with $NSTART objects (snapshot + 200k-record log), s | $(fmt file_startup_s 2) | – | |"
    echo "| resident memory per object, B (JSON in it) | $(fmt file_mem_per_object_b) ($(fmt file_json_per_object_b)) | $(fmt etcd_mem_per_object_b) | |"
    echo "| memory overhead per object beyond its JSON, B | $(fmt file_overhead_per_object_b) | | |"
    echo "| store directory under an update storm on 1,000 keys, max MiB | $(fmt file_storm_disk_mib 1) | | |"
} >>"$OUT"
echo "appended to $OUT"
