#!/usr/bin/env bash
# proxy against a real reconcilerd: a NodePort Service + Endpoints pointing at loopback
# HTTP servers; curl on the nodePort reaches them, endpoint changes apply, a deleted
# Service closes its port.
source "$(dirname "$0")/../lib.sh"

start_api() {
    local port
    port=$(free_port)
    NODE_PORT=$(free_port)
    API=http://127.0.0.1:$port
    # a one-port NodePort range: the Service gets exactly this free port
    "$BOSUN_BIN/reconcilerd" --listen "127.0.0.1:$port" --data-dir "$TEST_TMP/store" \
        --service-node-port-range "$NODE_PORT-$NODE_PORT" >"$TEST_TMP/reconcilerd.log" 2>&1 &
    local pid=$!
    defer "kill $pid; wait $pid"
    wait_for 30 curl -sf "$API/api/v1/namespaces/default" || {
        tail -20 "$TEST_TMP/reconcilerd.log"
        fail "reconcilerd did not come up"
    }
}

start_proxy() {
    HEALTH_PORT=$(free_port)
    "$BOSUN_BIN/proxy" --server "$API" --node-name test --nodeport-addresses 127.0.0.1 \
        --healthz-listen "127.0.0.1:$HEALTH_PORT" --log-level debug >"$TEST_TMP/proxy.log" 2>&1 &
    PROXY_PID=$!
    defer "kill $PROXY_PID; wait $PROXY_PID"
    wait_for 20 curl -sf "http://127.0.0.1:$HEALTH_PORT/healthz" || {
        cat "$TEST_TMP/proxy.log"
        fail "proxy did not become healthy"
    }
}

# start_backend NAME: a python http.server on a free loopback port serving "NAME\n".
start_backend() {
    local dir=$TEST_TMP/www-$1 port
    mkdir -p "$dir"
    echo "$1" >"$dir/index.html"
    port=$(free_port)
    python3 -m http.server "$port" --bind 127.0.0.1 --directory "$dir" >/dev/null 2>&1 &
    local pid=$!
    defer "kill $pid; wait $pid"
    wait_for 10 curl -sf "http://127.0.0.1:$port/" || fail "backend $1 did not start"
    eval "PORT_$1=$port"
}

api() { # METHOD PATH [BODY]
    curl -s -X "$1" -H 'Content-Type: application/json' "$API$2" ${3:+-d "$3"}
}

create_service() {
    api POST /api/v1/namespaces/default/services \
        '{"apiVersion":"v1","kind":"Service","metadata":{"name":"px"},
          "spec":{"type":"NodePort","ports":[{"name":"http","port":80,"targetPort":8080}]}}' \
        >"$TEST_TMP/svc.json"
    [ "$(jq -r '.spec.ports[0].nodePort' "$TEST_TMP/svc.json")" = "$NODE_PORT" ] ||
        fail "nodePort not allocated: $(cat "$TEST_TMP/svc.json")"
}

put_endpoints() { # port...
    local addrs='' p subsets='' rv
    for p in "$@"; do
        subsets="$subsets${subsets:+,}{\"addresses\":[{\"ip\":\"127.0.0.1\"}],\"ports\":[{\"name\":\"http\",\"port\":$p}]}"
    done
    rv=$(api GET /api/v1/namespaces/default/endpoints/px | jq -r '.metadata.resourceVersion // empty')
    if [ -z "$rv" ]; then
        api POST /api/v1/namespaces/default/endpoints \
            "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"px\"},\"subsets\":[$subsets]}" >/dev/null
    else
        api PUT /api/v1/namespaces/default/endpoints/px \
            "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":\"px\",\"resourceVersion\":\"$rv\"},\"subsets\":[$subsets]}" >/dev/null
    fi
}

page() { curl -s -m 3 "http://127.0.0.1:$NODE_PORT/"; }
page_is() { [ "$(page)" = "$1" ]; }

test_nodeport_reaches_endpoints_round_robin() {
    start_api
    start_backend one
    start_backend two
    create_service
    put_endpoints "$PORT_one" "$PORT_two"
    start_proxy
    wait_for 10 page || fail "nothing answers on the nodePort $NODE_PORT"
    local seen
    seen=$(for _ in 1 2 3 4; do page; done | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')
    [ "$seen" = "one=2 two=2 " ] || fail "round robin: got $seen"
}

test_endpoint_change_and_service_removal() {
    start_api
    start_backend one
    start_backend two
    create_service
    put_endpoints "$PORT_one"
    start_proxy
    wait_for 10 page_is one || fail "first backend not reached"
    put_endpoints "$PORT_two"
    wait_for 10 page_is two || fail "endpoint change not applied: $(page)"
    # a dead endpoint first in the list is skipped
    put_endpoints "$(free_port)" "$PORT_two"
    wait_for 10 page_is two || fail "dead endpoint not skipped"
    for _ in 1 2 3 4; do page_is two || fail "a request failed with a dead endpoint in the set"; done
    api DELETE /api/v1/namespaces/default/services/px >/dev/null
    wait_for 10 bash -c "! curl -s -m 1 http://127.0.0.1:$NODE_PORT/" ||
        fail "the listener stayed open after the Service was deleted"
    curl -s "http://127.0.0.1:$HEALTH_PORT/metrics" | grep -q '^bosun_proxy_listeners 0' ||
        fail "metrics: $(curl -s "http://127.0.0.1:$HEALTH_PORT/metrics")"
}

test_nftables_mode_is_refused_clearly() {
    local out rc=0
    out=$("$BOSUN_BIN/proxy" --mode nftables 2>&1) || rc=$?
    [ $rc -ne 0 ] || fail "--mode nftables should fail"
    echo "$out" | grep -q "not supported yet" || fail "message: $out"
}

test_sigterm_stops_cleanly() {
    start_api
    start_proxy
    kill -TERM "$PROXY_PID"
    local rc=0
    wait "$PROXY_PID" || rc=$?
    [ $rc -eq 0 ] || { cat "$TEST_TMP/proxy.log"; fail "proxy exited $rc on SIGTERM"; }
}

run_tests
