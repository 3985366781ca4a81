#!/usr/bin/env bash
# Benchmark: time from `git push` to every pod of a new 3-replica Deployment Ready,
# median of 5, on the all-in-one cluster from `bosun up` (release build).
# Reference measured in the same run: a static pod dropped into the node's manifest
# directory until it is Running — the node alone (image, netns + CNI, conmon + runc),
# with no Git, API, controller or scheduler in the path. The ratio is what the control
# plane adds on top of starting containers.
# Appends a row to docs/benchmarks.md.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BOSUN=$TOP/bin/bosun
[ -x "$BOSUN" ] || { echo "push_to_ready: build first (make)"; exit 1; }
. "$TOP/tests/lib.sh"

T=$(mktemp -d /tmp/bosun-bench.XXXXXX)
N=$((RANDOM % 200 + 20))
BRIDGE=bsb$N$RANDOM
BRIDGE=${BRIDGE:0:12}
mkdir -p "$T/ex/apps" "$T/ex/static"
cat >"$T/ex/apps/ns.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: bench}
EOF
"$BOSUN" up --data-dir "$T/bosun" --api-port "$(free_port)" --webhook-port "$(free_port)" \
    --agent-port "$(free_port)" --bridge "$BRIDGE" --cluster-cidr "10.244.$N.0/24" \
    --service-cidr "10.96.$N.0/24" --node-port-range 31000-31999 --examples "$T/ex" \
    >"$T/up.log" 2>&1 &
UP=$!
cleanup() {
    kill -INT "$UP" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$UP" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$UP" 2>/dev/null || true
    wait "$UP" 2>/dev/null || true
    ip link del "$BRIDGE" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT
export KUBECONFIG=$T/bosun/kubeconfig
wait_for 60 test -f "$KUBECONFIG"
wait_for 30 git clone -q "$T/bosun/repo.git" "$T/work"
git -C "$T/work" config user.email bench@bosun.test
git -C "$T/work" config user.name bench

now_ms() { date +%s%3N; }
ready_pods() { # label value -> count of Ready pods in namespace bench (or default)
    "$BOSUN" get pods -n "$1" -l "app=$2" -o json | python3 -c '
import json, sys
n = 0
for p in json.load(sys.stdin)["items"]:
    conds = p.get("status", {}).get("conditions", [])
    if any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
        n += 1
print(n)'
}
three_ready() { [ "$(ready_pods bench "$1")" = 3 ]; }
# The node's own record of a pod (state.json names it, status.json has its phase): read
# from disk so that the reference includes no API round trip.
static_running() {
    python3 - "$T/bosun/node/pods" "$1" <<'PY'
import json, os, sys
root, name = sys.argv[1], sys.argv[2]
for uid in os.listdir(root):
    try:
        state = open(os.path.join(root, uid, "state.json")).read()
        status = json.load(open(os.path.join(root, uid, "status.json")))
    except (OSError, ValueError):
        continue
    if '"%s"' % name in state and status.get("phase") == "Running":
        sys.exit(0)
sys.exit(1)
PY
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

push_times=()
static_times=()
for i in 1 2 3 4 5; do
    cat >"$T/work/bench.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: b$i, namespace: bench}
spec:
  replicas: 3
  selector: {matchLabels: {app: b$i}}
  template:
    metadata: {labels: {app: b$i}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - {name: c, image: "busybox:1.35", command: ["sleep", "3600"],
           resources: {requests: {cpu: 10m, memory: 8Mi}}}
EOF
    git -C "$T/work" add bench.yaml
    git -C "$T/work" commit -qm "bench $i"
    t0=$(now_ms)
    git -C "$T/work" push -q origin main
    wait_for 120 three_ready "b$i" ||
        { echo "push_to_ready: round $i: pods not Ready"; tail -20 "$T/up.log"; exit 1; }
    push_times+=($(($(now_ms) - t0)))

    cat >"$T/static.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: s$i, namespace: default, labels: {app: s$i}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - {name: c, image: "busybox:1.35", command: ["sleep", "3600"]}
EOF
    t0=$(now_ms)
    mv "$T/static.yaml" "$T/bosun/manifests/s$i.yaml"
    wait_for 60 static_running "s$i" ||
        { echo "push_to_ready: round $i: static pod not Running"; exit 1; }
    static_times+=($(($(now_ms) - t0)))
    rm -f "$T/bosun/manifests/s$i.yaml"
done

push_med=$(printf '%s\n' "${push_times[@]}" | median)
static_med=$(printf '%s\n' "${static_times[@]}" | median)
ratio=$(awk -v a="$push_med" -v b="$static_med" 'BEGIN {printf "%.1f", a / b}')
machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -r)"
echo "git push -> 3 pods Ready: median ${push_med} ms (runs: ${push_times[*]})"
echo "static pod -> Running (reference): median ${static_med} ms (runs: ${static_times[*]})"
echo "ratio: ${ratio}x"

doc=$TOP/docs/benchmarks.md
grep -q '^## git push to pods Ready' "$doc" 2>/dev/null || cat >>"$doc" <<'EOF'

## git push to pods Ready

Time from `git push` of a new 3-replica Deployment to all 3 pods Ready (median of 5), on
the all-in-one cluster of `bosun up` (release build). Reference, same run: a static pod
file dropped into the node's manifest directory until Running (the node alone: netns +
CNI + conmon + runc, no Git, API, controllers or scheduler).

| date | machine | push → 3 Ready (median) | static pod → Running (reference) | ratio | runs (ms) |
|---|---|---|---|---|---|
EOF
echo "| $(date -u +%Y-%m-%d) | $machine | ${push_med} ms | ${static_med} ms | ${ratio}x | ${push_times[*]} |" >>"$doc"
