#!/usr/bin/env bash
# `bosun up` on a temporary data dir with free ports: the data-dir layout, a kubeconfig
# that works, the seeded repository and its hook, restart of a killed daemon, a clean stop
# on SIGTERM (exit 0), and reuse of everything on a second start.
# (Pods running and the example's URL need a working node: the e2e test covers them.)
source "$(dirname "$0")/../lib.sh"

start_up() {
    OUT=$TEST_TMP/up.out
    "$BOSUN_BIN/bosun" up --data-dir "$TEST_TMP/data" --api-port "$API_PORT" \
        --webhook-port "$HOOK_PORT" --agent-port "$AGENT_PORT" --bridge "$BRIDGE" \
        --cluster-cidr 10.253.0.0/16 --service-cidr 10.254.0.0/16 >"$OUT" 2>&1 &
    UP_PID=$!
    defer "kill -TERM $UP_PID; wait $UP_PID"
    wait_for 30 grep -q "started proxy" "$OUT" || { cat "$OUT"; fail "bosun up did not start"; }
    export KUBECONFIG=$TEST_TMP/data/kubeconfig
    wait_for 30 "$BOSUN_BIN/bosun" get ns || { cat "$OUT"; fail "the API did not answer"; }
}

stop_up() {
    kill -TERM "$UP_PID"
    local rc=0
    wait "$UP_PID" || rc=$?
    [ $rc -eq 0 ] || { cat "$OUT"; fail "bosun up exited $rc on SIGTERM"; }
    grep -q "stopping reconcilerd" "$OUT" || fail "no orderly stop: $(cat "$OUT")"
    # reverse order: the proxy stops first, reconcilerd last
    [ "$(grep -o 'stopping [a-z]*' "$OUT" | awk '{print $2}' | tr '\n' ' ')" = \
        "proxy nodeagent scheduler gitsync reconcilerd " ] || fail "stop order: $(cat "$OUT")"
}

test_up_layout_restart_stop_and_reuse() {
    API_PORT=$(free_port)
    HOOK_PORT=$(free_port)
    AGENT_PORT=$(free_port)
    BRIDGE=bu$$
    BRIDGE=${BRIDGE:0:15}
    defer "ip link del $BRIDGE"
    start_up
    local d=$TEST_TMP/data f
    for f in store repo.git manifests node logs auth/tokens.csv kubeconfig \
        auth/admin.token auth/gitsync.token auth/scheduler.token auth/proxy.token auth/node.token \
        manifests/hello.yaml logs/reconcilerd.log logs/proxy.log; do
        [ -e "$d/$f" ] || fail "missing $d/$f"
    done
    [ "$(wc -l <"$d/auth/tokens.csv")" = 5 ] || fail "tokens.csv: $(cat "$d/auth/tokens.csv")"
    grep -q ',"system:masters"$' "$d/auth/tokens.csv" || fail "no admin in tokens.csv"
    grep -q ",system:node:.*,\"system:nodes\"$" "$d/auth/tokens.csv" || fail "no node user"
    # the API is HTTPS with bosun's own CA, which the kubeconfig carries
    for f in pki/ca.crt pki/ca.key pki/server.crt pki/server.key; do
        [ -e "$d/$f" ] || fail "missing $d/$f"
    done
    [ "$(stat -c %a "$d/pki/ca.key")" = 600 ] || fail "ca.key mode"
    grep -q "server: https://127.0.0.1:$API_PORT" "$d/kubeconfig" || fail "kubeconfig server"
    grep -q "certificate-authority-data: $(base64 -w0 <"$d/pki/ca.crt")" "$d/kubeconfig" ||
        fail "kubeconfig certificate-authority-data"
    grep -q "export KUBECONFIG=$d/kubeconfig" "$OUT" || fail "no KUBECONFIG line: $(cat "$OUT")"
    grep -q "API: *https://127.0.0.1:$API_PORT" "$OUT" || fail "no API line"
    [ "$(git --git-dir="$d/repo.git" ls-tree --name-only main | tr '\n' ' ')" = \
        "00-namespace.yaml 10-config.yaml 20-web.yaml " ] || fail "repo not seeded"
    grep -q "127.0.0.1:$HOOK_PORT/hook" "$d/repo.git/hooks/post-receive" || fail "hook"
    # the admin token is enforced: a wrong one is refused
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope' \
        --cacert "$d/pki/ca.crt" "https://127.0.0.1:$API_PORT/api/v1/namespaces")" = 401 ] ||
        fail "auth not enforced"
    # the admin token over verified TLS, as kubectl sends it
    [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$d/pki/ca.crt" \
        -H "Authorization: Bearer $(cat "$d/auth/admin.token")" \
        "https://127.0.0.1:$API_PORT/api/v1/namespaces")" = 200 ] || fail "admin over TLS"
    # plain HTTP is not served any more
    curl -s -o /dev/null "http://127.0.0.1:$API_PORT/api/v1/namespaces" && fail "plain HTTP"
    # gitsync applies the seeded repository
    wait_for 30 "$BOSUN_BIN/bosun" get deploy web -n demo || fail "example not applied"
    # a killed daemon comes back
    local pid
    pid=$(grep "started scheduler" "$OUT" | sed 's/.*pid \([0-9]*\).*/\1/')
    kill -9 "$pid"
    wait_for 10 grep -q "restarted scheduler" "$OUT" || fail "no restart: $(cat "$OUT")"
    grep -q "scheduler killed by signal 9" "$OUT" || fail "exit status not logged"
    stop_up

    # second start: same tokens, same repository, same objects
    local sum head
    sum=$(md5sum <"$d/auth/tokens.csv")
    local ca_sum
    ca_sum=$(md5sum <"$d/pki/ca.crt")
    head=$(git --git-dir="$d/repo.git" rev-parse main)
    start_up
    [ "$(md5sum <"$d/auth/tokens.csv")" = "$sum" ] || fail "tokens changed on restart"
    [ "$(md5sum <"$d/pki/ca.crt")" = "$ca_sum" ] || fail "CA changed on restart"
    [ "$(git --git-dir="$d/repo.git" rev-parse main)" = "$head" ] || fail "repo re-seeded"
    grep -q "created .*repo.git" "$OUT" && fail "repo created again"
    "$BOSUN_BIN/bosun" get deploy web -n demo >/dev/null || fail "store not reused"
    stop_up
}

run_tests
