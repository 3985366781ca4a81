#!/usr/bin/env bash
# End to end: the whole cluster from `bosun up`, driven as a user would — git push,
# bosun status, curl on the NodePort, a static pod dropped into the manifest dir,
# kill -9 of reconcilerd, Ctrl-C. Everything (ports, bridge, CIDRs, dirs) is named for
# this run so that it can run beside a developer's own cluster.
. "$(dirname "$0")/../lib.sh"

# python3 one-liners read the JSON the CLI prints.
pods_json() { "$BOSUN" get pods -n demo -o json; }
count_running() {
    pods_json | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
ok = [p for p in items if p.get("status", {}).get("phase") == "Running"
      and not p["metadata"].get("deletionTimestamp")
      and not p["status"].get("reason")
      and p["metadata"].get("labels", {}).get("app") == "web"]
ips = {p["status"].get("podIP") for p in ok}
print(len(ok) if len(ips) == len(ok) else -1)'
}
running_is() { [ "$(count_running)" = "$1" ]; }
page_ok() { curl -fsS --max-time 2 "http://127.0.0.1:$NODEPORT/" | grep -q "hello e2e"; }

push_replicas() { # n
    sed -i "s/replicas: .*/replicas: $1/" "$WORK/web.yaml"
    git -C "$WORK" commit -qam "web: $1 replicas"
    git -C "$WORK" push -q origin main
}

start_cluster() {
    BOSUN=$BOSUN_TOP/bin/bosun
    [ -x "$BOSUN" ] || fail "bin/bosun missing: run make"
    command -v runc >/dev/null || skip "runc is not installed"
    DIR=$TEST_TMP/bosun
    N=$((RANDOM % 200 + 20))
    BRIDGE=bse$N$RANDOM
    BRIDGE=${BRIDGE:0:12}
    API_PORT=$(free_port)
    HOOK_PORT=$(free_port)
    AGENT_PORT=$(free_port)
    NODEPORT=$((31000 + RANDOM % 700))
    EX=$TEST_TMP/examples
    mkdir -p "$EX/apps" "$EX/static"
    cat >"$EX/apps/ns.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: demo
EOF
    cat >"$EX/apps/web.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: httpd
          image: busybox:1.35
          command: ["sh", "-c", "mkdir -p /www && echo hello e2e > /www/index.html && exec httpd -f -p 8080 -h /www"]
          ports: [{containerPort: 8080}]
          resources: {requests: {cpu: 10m, memory: 16Mi}}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: $NODEPORT}]
EOF
    ip netns list 2>/dev/null | awk '{print $1}' | sort >"$TEST_TMP/netns.before"
    "$BOSUN" up --data-dir "$DIR" --api-port "$API_PORT" --webhook-port "$HOOK_PORT" \
        --agent-port "$AGENT_PORT" --bridge "$BRIDGE" --cluster-cidr "10.244.$N.0/24" \
        --service-cidr "10.96.$N.0/24" --node-port-range "31000-31999" \
        --examples "$EX" >"$TEST_TMP/up.log" 2>&1 &
    UP_PID=$!
    defer "stop_cluster; ip link del $BRIDGE"
    export KUBECONFIG=$DIR/kubeconfig
    wait_for 60 test -f "$KUBECONFIG" || { cat "$TEST_TMP/up.log"; fail "no kubeconfig"; }
    WORK=$TEST_TMP/work
    wait_for 30 git clone -q "$DIR/repo.git" "$WORK" || fail "cannot clone $DIR/repo.git"
    git -C "$WORK" config user.email e2e@bosun.test
    git -C "$WORK" config user.name e2e
}

# Ctrl-C on bosun up; then nothing of ours may remain.
# UP_STATUS gets bosun up's exit status (it must be 0 after Ctrl-C).
stop_cluster() {
    UP_STATUS=0
    if kill -0 "$UP_PID" 2>/dev/null; then
        kill -INT "$UP_PID"
        for _ in $(seq 1 600); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$UP_PID" 2>/dev/null || true
    fi
    wait "$UP_PID" 2>/dev/null || UP_STATUS=$?
}

# Links, namespaces and processes this run made and did not remove. Network namespaces
# are compared with the list taken before `bosun up` started.
leftovers() {
    ip -o link show 2>/dev/null | grep -w "$BRIDGE" || true
    ip netns list 2>/dev/null | awk '{print $1}' | sort | comm -13 "$TEST_TMP/netns.before" - |
        sed 's/^/netns /'
    pgrep -P "$UP_PID" 2>/dev/null || true
}

test_git_push_runs_real_containers_end_to_end() {
    start_cluster
    wait_for 120 running_is 3 || { "$BOSUN" get pods -n demo -o wide; tail -50 "$TEST_TMP/up.log"; fail "3 pods not Running with distinct IPs"; }
    wait_for 30 page_ok || fail "NodePort $NODEPORT does not serve the page"
    wait_for 30 grep -q "web: http://127.0.0.1:$NODEPORT/" "$TEST_TMP/up.log" || fail "bosun up did not print the web URL"

    # five replicas by git push
    push_replicas 5
    wait_for 90 running_is 5 || fail "5 pods not Running after push"

    # kubectl with the kubeconfig bosun up wrote (TLS + admin token)
    if command -v kubectl >/dev/null; then
        n=$(kubectl --cache-dir "$TEST_TMP/kcache" get pods -n demo -l app=web -o name | grep -c '^pod/')
        [ "$n" = 5 ] || fail "kubectl sees $n web pods, not 5"
    else
        echo "kubectl not installed: kubectl check skipped"
    fi

    # a broken manifest: rejected whole, reported with file:line, pods keep serving
    sed -i 's/replicas: 5/replicas: -1/' "$WORK/web.yaml"
    git -C "$WORK" commit -qam broken && git -C "$WORK" push -q origin main
    wait_for 30 sh -c "! '$BOSUN' status >/dev/null 2>&1" || fail "bosun status still succeeds after a broken push"
    "$BOSUN" status >"$TEST_TMP/status" 2>&1 || true
    grep -Eq 'web.yaml:[0-9]+:[0-9]+: spec.replicas' "$TEST_TMP/status" || { cat "$TEST_TMP/status"; fail "status does not name file:line:col"; }
    running_is 5 || fail "pods changed after a broken push"
    page_ok || fail "service stopped serving after a broken push"

    # a static pod runs and shows as a mirror pod
    cat >"$DIR/manifests/static-e2e.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: static-e2e, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - {name: c, image: "busybox:1.35", command: ["sleep", "3600"]}
EOF
    wait_for 60 sh -c "'$BOSUN' get pods -n default -o json | grep -q '\"static-e2e-'" || fail "no mirror pod for the static pod"

    # kill -9 reconcilerd: the supervisor restarts it and every object is still there
    rpid=$(pgrep -P "$UP_PID" -x reconcilerd | head -1)
    [ -n "$rpid" ] || fail "no reconcilerd child of bosun up"
    kill -KILL "$rpid"
    wait_for 30 sh -c "'$BOSUN' get deployments -n demo -o json | grep -q '\"web\"'" || fail "deployment lost after kill -9"
    wait_for 30 running_is 5 || fail "pods lost after kill -9 of reconcilerd"

    # Ctrl-C: nothing left behind
    stop_cluster
    [ "$UP_STATUS" = 0 ] || { tail -30 "$TEST_TMP/up.log"; fail "bosun up exited $UP_STATUS after Ctrl-C"; }
    [ -z "$(leftovers)" ] || { leftovers; fail "bosun up left things behind"; }
}

run_tests
