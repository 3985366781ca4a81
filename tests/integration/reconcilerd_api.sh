#!/usr/bin/env bash
# Integration tests of reconcilerd's HTTP API against the real binary (ASan+UBSan build)
# on a free loopback port with a temporary data directory: CRUD with curl, Status errors,
# watch streams, persistence across kill -9, token auth, kubectl, and the Python client.
. "$(dirname "$0")/../lib.sh"

# start_api [extra flags...]: starts reconcilerd; sets PORT, API, DATA, PID.
start_api() {
    PORT=$(free_port)
    API=http://127.0.0.1:$PORT
    DATA=${DATA:-$TEST_TMP/data}
    "$BOSUN_BIN/reconcilerd" --listen "127.0.0.1:$PORT" --data-dir "$DATA" "$@" \
        >>"$TEST_TMP/reconcilerd.log" 2>&1 &
    PID=$!
    defer "kill $PID"
    wait_for 15 curl -sf "$API/healthz" || { cat "$TEST_TMP/reconcilerd.log"; fail "reconcilerd did not start"; }
}

# restart_api: starts reconcilerd again on the same port and data dir.
restart_api() {
    "$BOSUN_BIN/reconcilerd" --listen "127.0.0.1:$PORT" --data-dir "$DATA" "$@" \
        >>"$TEST_TMP/reconcilerd.log" 2>&1 &
    PID=$!
    defer "kill $PID"
    wait_for 15 curl -sf "$API/healthz" || { cat "$TEST_TMP/reconcilerd.log"; fail "reconcilerd did not restart"; }
}

# stop_api: SIGTERM, then asserts a clean exit (0: no leak report) and no sanitizer report.
stop_api() {
    stop_checked "$PID" "$TEST_TMP/reconcilerd.log"
}

# req METHOD PATH [curl args...]: prints the body, then "HTTP <code>" on the last line.
req() {
    local m=$1 p=$2
    shift 2
    curl -s -X "$m" -w '\nHTTP %{http_code}\n' "$@" "$API$p"
}

# code_of: the status code from req's output.

CM='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","labels":{"app":"web"}},"data":{"a":"1"}}'

test_crud_with_curl() {
    start_api
    local out
    out=$(req POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d "$CM")
    [ "$(code_of "$out")" = 201 ] || fail "create: $out"
    body_of "$out" | jget 'd["metadata"]["uid"] and d["metadata"]["creationTimestamp"] and d["metadata"]["resourceVersion"]' | grep -q . || fail "server metadata: $out"
    # duplicate create
    out=$(req POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d "$CM")
    [ "$(code_of "$out")" = 409 ] || fail "dup: $out"
    grep -q '"reason":"AlreadyExists"' <<<"$out" || fail "dup reason: $out"
    # get and list
    out=$(req GET /api/v1/namespaces/default/configmaps/cfg)
    [ "$(code_of "$out")" = 200 ] || fail "get: $out"
    out=$(req GET '/api/v1/namespaces/default/configmaps?labelSelector=app%3Dweb')
    [ "$(body_of "$out" | jget 'len(d["items"]), d["kind"], d["metadata"]["resourceVersion"] != ""')" = "(1, 'ConfigMapList', True)" ] || fail "list: $out"
    out=$(req GET '/api/v1/namespaces/default/configmaps?labelSelector=app+notin+%28web%29')
    [ "$(body_of "$out" | jget 'len(d["items"])')" = 0 ] || fail "notin: $out"
    out=$(req GET '/api/v1/configmaps?fieldSelector=metadata.name%3Dcfg')
    [ "$(body_of "$out" | jget 'len(d["items"])')" = 1 ] || fail "cluster-wide + fieldSelector: $out"
    out=$(req GET '/api/v1/configmaps?fieldSelector=spec.bogus%3Dx')
    [ "$(code_of "$out")" = 400 ] || fail "unsupported field selector: $out"
    # PUT without resourceVersion (unconditional)
    out=$(req PUT /api/v1/namespaces/default/configmaps/cfg "${JSON[@]}" \
        -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"a":"2"}}')
    [ "$(body_of "$out" | jget 'd["data"]["a"]')" = 2 ] || fail "put: $out"
    # the three JSON patch flavours
    out=$(req PATCH /api/v1/namespaces/default/configmaps/cfg -H 'Content-Type: application/merge-patch+json' -d '{"data":{"b":"3"}}')
    [ "$(body_of "$out" | jget 'd["data"]')" = "{'a': '2', 'b': '3'}" ] || fail "merge patch: $out"
    out=$(req PATCH /api/v1/namespaces/default/configmaps/cfg -H 'Content-Type: application/strategic-merge-patch+json' -d '{"data":{"a":null}}')
    [ "$(body_of "$out" | jget 'd["data"]')" = "{'b': '3'}" ] || fail "smp: $out"
    out=$(req PATCH /api/v1/namespaces/default/configmaps/cfg -H 'Content-Type: application/json-patch+json' -d '[{"op":"add","path":"/data/c","value":"4"}]')
    [ "$(body_of "$out" | jget 'd["data"]')" = "{'b': '3', 'c': '4'}" ] || fail "json patch: $out"
    out=$(req PATCH /api/v1/namespaces/default/configmaps/cfg -H 'Content-Type: text/plain' -d 'x')
    [ "$(code_of "$out")" = 415 ] || fail "415: $out"
    # generateName and YAML bodies
    out=$(req POST /api/v1/namespaces/default/configmaps -H 'Content-Type: application/yaml' \
        --data-binary $'metadata:\n  generateName: gen-\ndata:\n  k: v\n')
    [ "$(code_of "$out")" = 201 ] || fail "generateName: $out"
    body_of "$out" | jget 'd["metadata"]["name"]' | grep -Eq '^gen-[a-z0-9]{5}$' || fail "generated name: $out"
    # namespace must exist; URL/body namespace mismatch
    out=$(req POST /api/v1/namespaces/nope/configmaps "${JSON[@]}" -d "$CM")
    [ "$(code_of "$out")" = 404 ] && grep -q 'namespaces \\"nope\\" not found' <<<"$out" || fail "missing ns: $out"
    out=$(req POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d '{"metadata":{"name":"x","namespace":"other"}}')
    [ "$(code_of "$out")" = 400 ] || fail "ns mismatch: $out"
    out=$(req POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"}}')
    [ "$(code_of "$out")" = 400 ] || fail "kind mismatch: $out"
    # delete returns the object, then 404 with the Kubernetes message
    out=$(req DELETE /api/v1/namespaces/default/configmaps/cfg)
    [ "$(body_of "$out" | jget 'd["metadata"]["name"]')" = cfg ] || fail "delete: $out"
    out=$(req GET /api/v1/namespaces/default/configmaps/cfg)
    [ "$(code_of "$out")" = 404 ] && grep -q 'configmaps \\"cfg\\" not found' <<<"$out" || fail "404: $out"
    out=$(req GET /apis/apps/v1/namespaces/default/deployments/x)
    grep -q 'deployments.apps \\"x\\" not found' <<<"$out" || fail "group-qualified 404: $out"
    stop_api
}

test_stale_resource_version_conflicts() {
    start_api
    local out rv
    out=$(req POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d "$CM")
    rv=$(body_of "$out" | jget 'd["metadata"]["resourceVersion"]')
    out=$(req PUT /api/v1/namespaces/default/configmaps/cfg "${JSON[@]}" \
        -d "{\"metadata\":{\"name\":\"cfg\",\"resourceVersion\":\"$rv\"},\"data\":{\"a\":\"2\"}}")
    [ "$(code_of "$out")" = 200 ] || fail "first CAS update: $out"
    out=$(req PUT /api/v1/namespaces/default/configmaps/cfg "${JSON[@]}" \
        -d "{\"metadata\":{\"name\":\"cfg\",\"resourceVersion\":\"$rv\"},\"data\":{\"a\":\"3\"}}")
    [ "$(code_of "$out")" = 409 ] || fail "stale update: $out"
    grep -q '"reason":"Conflict"' <<<"$out" || fail "reason: $out"
    grep -q 'the object has been modified' <<<"$out" || fail "message: $out"
    stop_api
}

test_invalid_deployment_gets_422_with_causes() {
    start_api
    local out
    out=$(req POST /apis/apps/v1/namespaces/default/deployments "${JSON[@]}" -d '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":-1,"replicaz":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox:1.35"}]}}}}')
    [ "$(code_of "$out")" = 422 ] || fail "not 422: $out"
    grep -q '"reason":"Invalid"' <<<"$out" || fail "reason: $out"
    grep -q 'Deployment.apps \\"web\\" is invalid' <<<"$out" || fail "message: $out"
    [ "$(body_of "$out" | jget 'sorted(c["field"] for c in d["details"]["causes"])')" = "['spec.replicas', 'spec.replicaz']" ] || fail "causes: $out"
    grep -q 'Invalid value: -1' <<<"$out" || fail "value: $out"
    # fieldValidation=Ignore drops the unknown field error, not the invalid value
    out=$(req POST '/apis/apps/v1/namespaces/default/deployments?fieldValidation=Ignore' "${JSON[@]}" -d '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":1,"replicaz":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox:1.35"}]}}}}')
    [ "$(code_of "$out")" = 201 ] || fail "Ignore: $out"
    # names with .. or / are refused
    out=$(req POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d '{"metadata":{"name":".."}}')
    [ "$(code_of "$out")" = 422 ] || [ "$(code_of "$out")" = 400 ] || fail "name ..: $out"
    stop_api
}

test_body_over_3mib_gets_413() {
    start_api
    head -c $((4 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$TEST_TMP/big"
    local code
    code=$(curl -s -o "$TEST_TMP/out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary @"$TEST_TMP/big" "$API/api/v1/namespaces/default/configmaps")
    [ "$code" = 413 ] || fail "got $code: $(head -c 300 "$TEST_TMP/out")"
}

test_malformed_json_gets_400() {
    start_api
    local out
    out=$(req POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d '{"metadata":{"name":')
    [ "$(code_of "$out")" = 400 ] || fail "got: $out"
    grep -q '"reason":"BadRequest"' <<<"$out" || fail "reason: $out"
    out=$(req POST /api/v1/namespaces/default/configmaps -H 'Content-Type: application/yaml' --data-binary $'a: [\n')
    [ "$(code_of "$out")" = 400 ] || fail "yaml: $out"
}

test_path_tricks_never_reach_files() {
    start_api
    local out
    out=$(req GET '/api/v1/namespaces/default/pods/..%2Fetc')
    case $(code_of "$out") in 400 | 404) ;; *) fail "..%2Fetc: $out" ;; esac
    grep -q '"kind":"Status"' <<<"$out" || fail "not a Status: $out"
    out=$(req GET '/api/v1/namespaces/..%2F..%2Fetc/pods')
    case $(code_of "$out") in 400 | 404) ;; *) fail "ns tricks: $out" ;; esac
    out=$(curl -s --path-as-is -w '\nHTTP %{http_code}\n' "$API/api/v1/namespaces/default/../../../etc/passwd")
    case $(code_of "$out") in 400 | 404) ;; *) fail "raw ..: $out" ;; esac
    grep -q root: <<<"$out" && fail "file content leaked"
    out=$(req GET /no/such/thing)
    [ "$(code_of "$out")" = 404 ] && grep -q 'the server could not find the requested resource' <<<"$out" || fail "unknown path: $out"
    out=$(req GET /api/v1/namespaces/default/widgets)
    [ "$(code_of "$out")" = 404 ] || fail "unknown resource: $out"
    stop_api
}

test_discovery_and_openapi() {
    start_api
    local out
    out=$(curl -s "$API/version")
    [ "$(jget 'd["minor"], d["gitVersion"]' <<<"$out")" = "('32', 'v1.32.0')" ] || fail "version: $out"
    out=$(curl -s -D "$TEST_TMP/h" -H 'Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' "$API/apis")
    grep -qi '^Content-Type: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList' "$TEST_TMP/h" || fail "aggregated content type: $(cat "$TEST_TMP/h")"
    grep -q '"resource":"deployments"' <<<"$out" || fail "apis: $out"
    out=$(curl -s "$API/api/v1")
    jget '[r["name"] for r in d["resources"] if r["name"]=="pods"][0]' <<<"$out" | grep -q pods || fail "legacy /api/v1: $out"
    out=$(curl -s "$API/openapi/v3")
    jget 'd["paths"]["apis/apps/v1"]["serverRelativeURL"]' <<<"$out" | grep -q /openapi/v3/apis/apps/v1 || fail "openapi index: $out"
    out=$(curl -s "$API/openapi/v3/apis/apps/v1")
    grep -q '"name":"fieldValidation","in":"query"' <<<"$out" || fail "openapi gv: $out"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$API/openapi/v2")" = 404 ] || fail "openapi v2 must be 404"
    for p in healthz readyz livez; do [ "$(curl -s "$API/$p")" = ok ] || fail "/$p"; done
}

test_watch_streams_events() {
    start_api
    local rv out
    rv=$(curl -s "$API/api/v1/namespaces/default/configmaps" | jget 'd["metadata"]["resourceVersion"]')
    curl -sN "$API/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=$rv" >"$TEST_TMP/w1" &
    defer "kill $!"
    curl -sN "$API/api/v1/namespaces/default/configmaps?watch=True&labelSelector=app%3Dweb&timeoutSeconds=30" >"$TEST_TMP/w2" &
    defer "kill $!"
    curl -sN "$API/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1" >"$TEST_TMP/w3" &
    local w3=$!
    sleep 0.5
    req POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d "$CM" >/dev/null
    req PATCH /api/v1/namespaces/default/configmaps/cfg -H 'Content-Type: application/merge-patch+json' -d '{"metadata":{"labels":{"app":"other"}}}' >/dev/null
    req DELETE /api/v1/namespaces/default/configmaps/cfg >/dev/null
    wait_for 5 grep -q '"type":"DELETED"' "$TEST_TMP/w1" || fail "w1: $(cat "$TEST_TMP/w1")"
    [ "$(cut -d'"' -f4 "$TEST_TMP/w1" | tr '\n' ' ')" = "ADDED MODIFIED DELETED " ] || fail "w1 order: $(cat "$TEST_TMP/w1")"
    # the label watch sees the object stop matching as DELETED
    wait_for 5 grep -q '"type":"DELETED"' "$TEST_TMP/w2" || fail "w2: $(cat "$TEST_TMP/w2")"
    [ "$(cut -d'"' -f4 "$TEST_TMP/w2" | tr '\n' ' ')" = "ADDED DELETED " ] || fail "w2 order: $(cat "$TEST_TMP/w2")"
    # every event is one newline-terminated JSON object
    python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$TEST_TMP/w1" || fail "not JSON lines"
    # timeoutSeconds ends the stream
    local deadline=$((SECONDS + 5))
    while kill -0 "$w3" 2>/dev/null; do [ $SECONDS -lt $deadline ] || fail "timeoutSeconds=1 stream still open"; sleep 0.1; done
    # a watch without resourceVersion starts with synthetic ADDED events
    req POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d "$CM" >/dev/null
    out=$(curl -sN --max-time 3 "$API/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1")
    grep -q '"type":"ADDED".*"name":"cfg"' <<<"$out" || fail "synthetic ADDED: $out"
    # Table watches carry one-row Tables
    out=$(curl -sN --max-time 3 -H 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io' "$API/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1")
    grep -q '"kind":"Table"' <<<"$out" || fail "table watch: $out"
    # malformed watch query
    out=$(req GET '/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=abc')
    [ "$(code_of "$out")" = 400 ] || fail "bad rv: $out"
    stop_api
}

test_watch_from_expired_rv_gets_410() {
    start_api --watch-history 5
    local i out
    for i in $(seq 1 15); do
        req POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d "{\"metadata\":{\"name\":\"c$i\"}}" >/dev/null
    done
    out=$(curl -sN --max-time 5 -w '\nHTTP %{http_code}\n' "$API/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1")
    [ "$(code_of "$out")" = 200 ] || fail "status: $out"
    body_of "$out" | grep -q '"type":"ERROR".*"code":410' || fail "no ERROR 410 line: $out"
    grep -q '"reason":"Expired"' <<<"$out" || fail "reason: $out"
    grep -q 'too old resource version' <<<"$out" || fail "message: $out"
    stop_api
}

test_kill9_restart_keeps_every_object() {
    start_api
    local i out
    for i in $(seq 1 20); do
        out=$(req POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d "{\"metadata\":{\"name\":\"c$i\"},\"data\":{\"i\":\"$i\"}}")
        [ "$(code_of "$out")" = 201 ] || fail "create c$i: $out"
    done
    out=$(req POST /api/v1/namespaces/default/services "${JSON[@]}" -d '{"metadata":{"name":"s1"},"spec":{"type":"NodePort","ports":[{"port":80}]}}')
    local ip np
    ip=$(body_of "$out" | jget 'd["spec"]["clusterIP"]')
    np=$(body_of "$out" | jget 'd["spec"]["ports"][0]["nodePort"]')
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    restart_api
    out=$(curl -s "$API/api/v1/namespaces/default/configmaps")
    [ "$(jget 'len(d["items"])' <<<"$out")" = 20 ] || fail "after restart: $out"
    [ "$(curl -s "$API/api/v1/namespaces/default/configmaps/c17" | jget 'd["data"]["i"]')" = 17 ] || fail "c17"
    # allocations were rebuilt: a new Service gets other addresses, a taken port is refused
    out=$(req POST /api/v1/namespaces/default/services "${JSON[@]}" -d "{\"metadata\":{\"name\":\"s2\"},\"spec\":{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":$np}]}}")
    [ "$(code_of "$out")" = 422 ] || fail "taken nodePort: $out"
    out=$(req POST /api/v1/namespaces/default/services "${JSON[@]}" -d '{"metadata":{"name":"s3"},"spec":{"ports":[{"port":80}]}}')
    [ "$(body_of "$out" | jget 'd["spec"]["clusterIP"]')" != "$ip" ] || fail "clusterIP reused: $out"
    stop_api
}

test_service_allocation_and_update_keeps_it() {
    start_api --service-cidr 10.99.0.0/24 --service-node-port-range 31000-31005
    local out ip np
    out=$(req POST /api/v1/namespaces/default/services "${JSON[@]}" -d '{"metadata":{"name":"web"},"spec":{"type":"NodePort","selector":{"app":"web"},"ports":[{"port":80,"targetPort":8080}]}}')
    ip=$(body_of "$out" | jget 'd["spec"]["clusterIP"]')
    np=$(body_of "$out" | jget 'd["spec"]["ports"][0]["nodePort"]')
    [[ $ip == 10.99.0.* ]] && [ "$ip" != 10.99.0.0 ] || fail "clusterIP $ip: $out"
    [ "$np" -ge 31000 ] && [ "$np" -le 31005 ] || fail "nodePort $np"
    # an update that omits them keeps them
    out=$(req PUT /api/v1/namespaces/default/services/web "${JSON[@]}" -d '{"metadata":{"name":"web"},"spec":{"type":"NodePort","selector":{"app":"web2"},"ports":[{"port":80,"targetPort":8080}]}}')
    [ "$(body_of "$out" | jget 'd["spec"]["clusterIP"], d["spec"]["ports"][0]["nodePort"]')" = "('$ip', $np)" ] || fail "kept: $out"
    out=$(req POST /api/v1/namespaces/default/services "${JSON[@]}" -d '{"metadata":{"name":"h"},"spec":{"clusterIP":"None","ports":[{"port":80}]}}')
    [ "$(body_of "$out" | jget 'd["spec"]["clusterIP"]')" = None ] || fail "headless: $out"
    out=$(req POST /api/v1/namespaces/default/services "${JSON[@]}" -d "{\"metadata\":{\"name\":\"dup\"},\"spec\":{\"clusterIP\":\"$ip\",\"ports\":[{\"port\":80}]}}")
    [ "$(code_of "$out")" = 422 ] || fail "taken clusterIP: $out"
    out=$(req POST /api/v1/namespaces/default/services "${JSON[@]}" -d '{"metadata":{"name":"want"},"spec":{"clusterIP":"10.99.0.77","ports":[{"port":80}]}}')
    [ "$(body_of "$out" | jget 'd["spec"]["clusterIP"]')" = 10.99.0.77 ] || fail "requested IP: $out"
    # deleting gives the port back
    req DELETE /api/v1/namespaces/default/services/web >/dev/null
    out=$(req POST /api/v1/namespaces/default/services "${JSON[@]}" -d "{\"metadata\":{\"name\":\"again\"},\"spec\":{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":$np}]}}")
    [ "$(code_of "$out")" = 201 ] || fail "released port: $out"
    stop_api
}

test_pod_binding_status_and_graceful_delete() {
    start_api
    local out
    out=$(req POST /api/v1/namespaces/default/pods "${JSON[@]}" -d '{"metadata":{"name":"p1"},"spec":{"containers":[{"name":"c","image":"busybox:1.35"}]}}')
    [ "$(code_of "$out")" = 201 ] || fail "create pod: $out"
    out=$(req POST /api/v1/namespaces/default/pods/p1/binding "${JSON[@]}" -d '{"apiVersion":"v1","kind":"Binding","metadata":{"name":"p1"},"target":{"kind":"Node","name":"n1"}}')
    [ "$(code_of "$out")" = 201 ] || fail "bind: $out"
    out=$(req POST /api/v1/namespaces/default/pods/p1/binding "${JSON[@]}" -d '{"metadata":{"name":"p1"},"target":{"name":"n2"}}')
    [ "$(code_of "$out")" = 409 ] || fail "rebind: $out"
    [ "$(curl -s "$API/api/v1/namespaces/default/pods/p1" | jget 'd["spec"]["nodeName"]')" = n1 ] || fail "nodeName"
    # status subresource touches only .status
    out=$(req PATCH /api/v1/namespaces/default/pods/p1/status -H 'Content-Type: application/merge-patch+json' -d '{"metadata":{"labels":{"x":"y"}},"status":{"phase":"Running","podIP":"10.244.0.5"}}')
    [ "$(body_of "$out" | jget 'd["status"]["phase"], d["metadata"].get("labels")')" = "('Running', None)" ] || fail "status patch: $out"
    out=$(req PATCH /api/v1/namespaces/default/pods/p1 -H 'Content-Type: application/merge-patch+json' -d '{"status":{"phase":"Failed"}}')
    [ "$(body_of "$out" | jget 'd["status"]["phase"]')" = Running ] || fail "main patch changed status: $out"
    # a bound pod is only marked; the node's grace-0 delete removes it
    out=$(req DELETE /api/v1/namespaces/default/pods/p1)
    [ "$(code_of "$out")" = 200 ] || fail "delete: $out"
    [ "$(body_of "$out" | jget 'd["metadata"]["deletionGracePeriodSeconds"]')" = 30 ] || fail "grace: $out"
    body_of "$out" | jget 'd["metadata"]["deletionTimestamp"]' | grep -q Z || fail "deletionTimestamp: $out"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$API/api/v1/namespaces/default/pods/p1")" = 200 ] || fail "pod gone too early"
    out=$(req DELETE /api/v1/namespaces/default/pods/p1 "${JSON[@]}" -d '{"gracePeriodSeconds":0}')
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$API/api/v1/namespaces/default/pods/p1")" = 404 ] || fail "final delete: $out"
    # scale subresource
    req POST /apis/apps/v1/namespaces/default/deployments "${JSON[@]}" -d '{"metadata":{"name":"d"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"d"}},"template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"c","image":"busybox:1.35"}]}}}}' >/dev/null
    out=$(req PATCH /apis/apps/v1/namespaces/default/deployments/d/scale -H 'Content-Type: application/merge-patch+json' -d '{"spec":{"replicas":4}}')
    [ "$(body_of "$out" | jget 'd["kind"], d["spec"]["replicas"]')" = "('Scale', 4)" ] || fail "scale: $out"
    [ "$(curl -s "$API/apis/apps/v1/namespaces/default/deployments/d" | jget 'd["spec"]["replicas"], d["metadata"]["generation"]')" = "(4, 2)" ] || fail "scaled deployment"
    stop_api
}

test_pod_log_is_proxied_to_the_node() {
    start_api
    local kport out
    kport=$(free_port)
    python3 "$BOSUN_TOP/tests/fixtures/api/fake_node_logs.py" "$kport" >"$TEST_TMP/fake-node.log" 2>&1 &
    defer "kill $!"
    wait_for 10 curl -s "http://127.0.0.1:$kport/" || fail "fake node did not start"
    req POST /api/v1/namespaces/default/pods "${JSON[@]}" -d '{"metadata":{"name":"p1"},"spec":{"nodeName":"n1","containers":[{"name":"c","image":"busybox:1.35"}]}}' >/dev/null
    # node not registered yet: a Status, not a hang
    out=$(req GET /api/v1/namespaces/default/pods/p1/log)
    [ "$(code_of "$out")" = 503 ] || fail "unregistered node: $out"
    req POST /api/v1/nodes "${JSON[@]}" -d "{\"metadata\":{\"name\":\"n1\"},\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}],\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":$kport}}}}" >/dev/null
    out=$(curl -s "$API/api/v1/namespaces/default/pods/p1/log?container=c")
    [ "$out" = $'line1\nline2' ] || fail "plain log: $out"
    out=$(curl -sN --max-time 10 "$API/api/v1/namespaces/default/pods/p1/log?follow=true")
    [ "$out" = $'follow0\nfollow1\nfollow2' ] || fail "follow: $out"
    out=$(req GET '/api/v1/namespaces/default/pods/p1/log?container=nope')
    [ "$(code_of "$out")" = 400 ] || fail "bad container: $out"
    # the node itself refuses (it has no such pod): its answer, as a Status
    req POST /api/v1/namespaces/default/pods "${JSON[@]}" -d '{"metadata":{"name":"p2"},"spec":{"nodeName":"n1","containers":[{"name":"c","image":"busybox:1.35"}]}}' >/dev/null
    out=$(req GET /api/v1/namespaces/default/pods/p2/log)
    [ "$(code_of "$out")" = 404 ] || fail "node's 404: $out"
    body_of "$out" | grep -q 'the node n1 answered 404' || fail "node's 404 message: $out"
    stop_api
}

# A log fetched from a node that takes the connection and never answers holds no API
# worker: with a single worker thread the API goes on answering meanwhile. A node where
# nothing listens gets a 503 naming it.
test_pod_log_from_a_silent_node_holds_no_worker() {
    start_api --api-threads 1
    local sport dport out t0 t1 fetch
    sport=$(free_port)
    python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); conns=[]
while True: conns.append(s.accept()[0])' "$sport" &
    local silent=$!
    defer "kill $silent"
    wait_for 10 python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])))' "$sport" ||
        fail "silent node did not start"
    dport=$(free_port) # nothing listens here
    req POST /api/v1/nodes "${JSON[@]}" -d "{\"metadata\":{\"name\":\"silent\"},\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}],\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":$sport}}}}" >/dev/null
    req POST /api/v1/nodes "${JSON[@]}" -d "{\"metadata\":{\"name\":\"down\"},\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}],\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":$dport}}}}" >/dev/null
    req POST /api/v1/namespaces/default/pods "${JSON[@]}" -d '{"metadata":{"name":"ps"},"spec":{"nodeName":"silent","containers":[{"name":"c","image":"busybox:1.35"}]}}' >/dev/null
    req POST /api/v1/namespaces/default/pods "${JSON[@]}" -d '{"metadata":{"name":"pd"},"spec":{"nodeName":"down","containers":[{"name":"c","image":"busybox:1.35"}]}}' >/dev/null
    curl -s --max-time 20 "$API/api/v1/namespaces/default/pods/ps/log" >"$TEST_TMP/silent.out" 2>&1 &
    fetch=$!
    sleep 0.5
    t0=$(date +%s%N)
    out=$(req GET /api/v1/namespaces/default/pods/pd/log)
    [ "$(code_of "$out")" = 503 ] || fail "node down: $out"
    body_of "$out" | grep -q 'cannot reach the node down' || fail "node down message: $out"
    out=$(req GET /api/v1/namespaces)
    t1=$(date +%s%N)
    [ "$(code_of "$out")" = 200 ] || fail "API while a log fetch waits: $out"
    [ $(((t1 - t0) / 1000000)) -lt 5000 ] || fail "the API waited for the silent node: $(((t1 - t0) / 1000000)) ms"
    kill -0 "$fetch" 2>/dev/null || fail "the silent node's log fetch ended early: $(cat "$TEST_TMP/silent.out")"
    kill "$fetch" 2>/dev/null
    wait "$fetch" 2>/dev/null || true # curl, ended by the kill
    # the node goes away: the fetch ends, and with it what a clean stop waits for
    kill "$silent"
    stop_api
}

# Lists are streamed from a held view: pages (limit/continue) add up to the whole list,
# as JSON and as Table; selectors filter both; pod rows show each state as kubectl does.
test_lists_page_filter_and_print_pods() {
    start_api
    req POST /api/v1/namespaces "${JSON[@]}" -d '{"metadata":{"name":"other"}}' >/dev/null
    mkpod() { # ns name node status-json [labels-json]
        local out labels=${5:-}
        [ -n "$labels" ] || labels='{}'
        out=$(req POST "/api/v1/namespaces/$1/pods" "${JSON[@]}" -d "{\"metadata\":{\"name\":\"$2\",\"labels\":$labels,\"finalizers\":[\"x.io/hold\"]},\"spec\":{\"nodeName\":\"$3\",\"containers\":[{\"name\":\"a\",\"image\":\"busybox\"},{\"name\":\"b\",\"image\":\"busybox\"}]}}")
        [ "$(code_of "$out")" = 201 ] || fail "create $2: $out"
        out=$(req PATCH "/api/v1/namespaces/$1/pods/$2/status" -H 'Content-Type: application/merge-patch+json' -d "{\"status\":$4}")
        [ "$(code_of "$out")" = 200 ] || fail "status $2: $out"
    }
    mkpod default running n1 '{"phase":"Running","podIP":"10.0.0.1","containerStatuses":[{"name":"a","ready":true,"restartCount":2},{"name":"b","ready":true,"restartCount":1}]}' '{"app":"web"}'
    mkpod default crash n1 '{"phase":"Running","containerStatuses":[{"name":"a","ready":false,"restartCount":7,"state":{"waiting":{"reason":"CrashLoopBackOff"}}},{"name":"b","ready":true,"restartCount":0}]}' '{"app":"web"}'
    mkpod default completed n2 '{"phase":"Succeeded","containerStatuses":[{"name":"a","ready":false,"restartCount":0,"state":{"terminated":{"reason":"Completed","exitCode":0}}}]}'
    mkpod default evicted n2 '{"phase":"Failed","reason":"Evicted"}'
    mkpod other oom n1 '{"phase":"Running","containerStatuses":[{"name":"a","ready":false,"restartCount":3,"state":{"terminated":{"reason":"OOMKilled"}}}]}'
    mkpod other pending n2 '{"phase":"Pending","nominatedNodeName":"n3"}'
    mkpod other deleting n1 '{"phase":"Running"}'
    req DELETE /api/v1/namespaces/other/pods/deleting >/dev/null
    local TBL='Accept: application/json;as=Table;v=v1;g=meta.k8s.io'
    local all
    all=$(curl -s "$API/api/v1/pods" | jget '",".join(i["metadata"]["name"] for i in d["items"])')
    [ "$all" = "completed,crash,evicted,running,deleting,oom,pending" ] || fail "list: $all"
    # pages add up to the list, JSON (limit 3) and Table (limit 2)
    local acc q cont names
    for kind in json table; do
        acc="" cont=""
        for _ in 1 2 3 4 5; do
            q="limit=$([ $kind = json ] && echo 3 || echo 2)${cont:+&continue=$cont}"
            if [ $kind = json ]; then
                out=$(curl -s "$API/api/v1/pods?$q")
                names=$(jget '",".join(i["metadata"]["name"] for i in d["items"])' <<<"$out")
            else
                out=$(curl -s -H "$TBL" "$API/api/v1/pods?$q")
                names=$(jget '",".join(r["cells"][0] for r in d["rows"])' <<<"$out")
            fi
            jget 'd["metadata"]["resourceVersion"]' <<<"$out" | grep -Eq '^[0-9]+$' || fail "page rv: $out"
            acc=${acc:+$acc,}$names
            cont=$(jget 'd["metadata"].get("continue","")' <<<"$out")
            [ -n "$cont" ] || break
        done
        [ "$acc" = "$all" ] || fail "$kind pages: $acc"
    done
    # selectors, on both forms
    out=$(curl -s "$API/api/v1/pods?labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dn1")
    [ "$(jget '",".join(i["metadata"]["name"] for i in d["items"])' <<<"$out")" = "crash,running" ] || fail "selectors: $out"
    out=$(curl -s -H "$TBL" "$API/api/v1/pods?fieldSelector=status.phase%21%3DRunning,metadata.namespace%3Dother")
    [ "$(jget '",".join(r["cells"][0] for r in d["rows"])' <<<"$out")" = "pending" ] || fail "table selectors: $out"
    out=$(curl -s "$API/api/v1/pods?labelSelector=app%3Dweb&limit=1")
    [ "$(jget 'len(d["items"]), d["metadata"]["continue"]' <<<"$out")" = "(1, '/pods/default/crash')" ] || fail "selected page: $out"
    # the pod columns, as kubectl prints them
    out=$(kubectl -s "$API" get pods -A -o wide 2>&1)
    local want
    for want in "default completed 0/2 Completed 0" "default crash 1/2 CrashLoopBackOff 7" \
        "default evicted 0/2 Evicted 0" "default running 2/2 Running 3" "other oom 0/2 Running 3" \
        "other deleting 0/2 Terminating 0" "other pending 0/2 Pending 0"; do
        tr -s ' ' <<<"$out" | grep -q "^$want " || fail "kubectl get pods -A -o wide: no '$want' in $out"
    done
    tr -s ' ' <<<"$out" | grep -q "^default running 2/2 Running 3 [0-9]*s 10.0.0.1 n1 <none> <none>$" || fail "wide columns: $out"
    tr -s ' ' <<<"$out" | grep -q "^other pending 0/2 Pending 0 [0-9]*s <none> n2 n3 <none>$" || fail "nominated: $out"
    [ "$(kubectl -s "$API" get pods -A --chunk-size=2 -o name)" = "$(kubectl -s "$API" get pods -A -o name)" ] || fail "kubectl chunks"
    stop_api
}

test_token_auth() {
    printf 'good-token,alice,1,"system:masters"\n' >"$TEST_TMP/tokens.csv"
    start_api --token-auth-file "$TEST_TMP/tokens.csv"
    local out
    out=$(req GET /api/v1/namespaces -H 'Authorization: Bearer wrong')
    [ "$(code_of "$out")" = 401 ] && grep -q '"reason":"Unauthorized"' <<<"$out" || fail "wrong token: $out"
    out=$(req GET /api/v1/namespaces)
    [ "$(code_of "$out")" = 401 ] || fail "no token: $out"
    out=$(req GET /api/v1/namespaces -H 'Authorization: Bearer good-token')
    [ "$(code_of "$out")" = 200 ] || fail "good token: $out"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$API/version")" = 200 ] || fail "/version must be public"
    [ "$(curl -s "$API/healthz")" = ok ] || fail "/healthz must be public"
}

test_non_loopback_listen_refused_without_token_file() {
    local rc=0
    "$BOSUN_BIN/reconcilerd" --listen 0.0.0.0:0 --data-dir "$TEST_TMP/d" >"$TEST_TMP/out" 2>&1 || rc=$?
    [ $rc -ne 0 ] || fail "started without a token file on 0.0.0.0"
    grep -q 'loopback' "$TEST_TMP/out" || fail "message: $(cat "$TEST_TMP/out")"
    rc=0
    "$BOSUN_BIN/reconcilerd" --store nosuch:x --data-dir "$TEST_TMP/d" >"$TEST_TMP/out" 2>&1 || rc=$?
    [ $rc -eq 2 ] && grep -q 'unknown backend' "$TEST_TMP/out" || fail "bad --store: $(cat "$TEST_TMP/out")"
}

# The same API over a real etcd (Debian's etcd-server) started on free loopback ports:
# objects written through reconcilerd survive its kill -9, and watches see them.
test_etcd_store_backend() {
    command -v etcd >/dev/null || skip "etcd is not installed (Debian package etcd-server)"
    local cport pport
    cport=$(free_port)
    pport=$(free_port)
    etcd --name t --data-dir "$TEST_TMP/etcd" --listen-client-urls "http://127.0.0.1:$cport" \
        --advertise-client-urls "http://127.0.0.1:$cport" \
        --listen-peer-urls "http://127.0.0.1:$pport" \
        --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
        --initial-cluster "t=http://127.0.0.1:$pport" --log-level warn >"$TEST_TMP/etcd.log" 2>&1 &
    local etcd_pid=$!
    defer "kill $etcd_pid"
    wait_for 20 curl -sf "http://127.0.0.1:$cport/health" || fail "etcd did not start"
    start_api --store "etcd:http://127.0.0.1:$cport"
    local out
    out=$(req POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d "$CM")
    [ "$(code_of "$out")" = 201 ] || fail "create on etcd: $out"
    curl -sN --max-time 3 "$API/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=2" >"$TEST_TMP/w" || true
    grep -q '"type":"ADDED".*"cfg"' "$TEST_TMP/w" || fail "watch on etcd: $(cat "$TEST_TMP/w")"
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    restart_api --store "etcd:http://127.0.0.1:$cport"
    out=$(req GET /api/v1/namespaces/default/configmaps/cfg)
    [ "$(code_of "$out")" = 200 ] || fail "lost on etcd after kill -9: $out"
    stop_api
}

test_sigterm_shuts_down_cleanly() {
    start_api
    curl -sN "$API/api/v1/namespaces/default/pods?watch=true" >/dev/null &
    defer "kill $!"
    sleep 0.3
    stop_api
}

# ---- kubectl ----

kubectl_setup() {
    command -v kubectl >/dev/null || skip "kubectl is not installed"
    start_api
    cat >"$TEST_TMP/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- cluster: {server: "$API"}
  name: t
contexts:
- context: {cluster: t, user: u, namespace: default}
  name: t
current-context: t
users:
- name: u
  user: {token: anything}
EOF
    K=(kubectl --kubeconfig "$TEST_TMP/kubeconfig" --cache-dir "$TEST_TMP/kcache")
}

test_kubectl_get_apply_delete() {
    kubectl_setup
    local out
    out=$("${K[@]}" get ns)
    grep -q '^default  *Active' <<<"$out" && grep -q '^bosun-system' <<<"$out" || fail "get ns: $out"
    cat >"$TEST_TMP/d.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: c
        image: busybox:1.35
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
EOF
    out=$("${K[@]}" apply -f "$TEST_TMP/d.yaml" 2>&1)
    grep -q 'deployment.apps/web created' <<<"$out" || fail "apply: $out"
    sed -i 's/replicas: 2/replicas: 3/; s/, {name: B, value: "2"}//' "$TEST_TMP/d.yaml"
    out=$("${K[@]}" apply -f "$TEST_TMP/d.yaml" 2>&1)
    grep -q 'deployment.apps/web configured' <<<"$out" || fail "re-apply: $out"
    out=$("${K[@]}" get deploy web -o yaml)
    grep -q 'replicas: 3' <<<"$out" || fail "-o yaml: $out"
    grep -q 'name: B' <<<"$out" && fail "env B survived the re-apply: $out"
    grep -q 'generation: 2' <<<"$out" || fail "generation: $out"
    out=$("${K[@]}" apply -f "$TEST_TMP/d.yaml" 2>&1)
    grep -q 'unchanged' <<<"$out" || fail "third apply: $out"
    out=$("${K[@]}" get pods -o wide 2>&1)
    grep -Eq 'NAME +READY +STATUS +RESTARTS +AGE +IP +NODE' <<<"$out" || grep -q 'No resources found' <<<"$out" || fail "get pods -o wide: $out"
    out=$("${K[@]}" get all 2>&1)
    grep -q 'deployment.apps/web' <<<"$out" || fail "get all: $out"
    out=$("${K[@]}" get deploy web 2>&1)
    grep -Eq 'NAME +READY +UP-TO-DATE +AVAILABLE +AGE' <<<"$out" || fail "table: $out"
    out=$("${K[@]}" apply --server-side -f "$TEST_TMP/d.yaml" 2>&1)
    grep -q 'serverside-applied' <<<"$out" || fail "server-side apply: $out"
    out=$("${K[@]}" scale deploy web --replicas=1 2>&1)
    grep -q 'scaled' <<<"$out" || fail "scale: $out"
    out=$("${K[@]}" label deploy web tier=fe 2>&1)
    grep -q 'labeled' <<<"$out" || fail "label: $out"
    out=$("${K[@]}" get deploy -l tier=fe -o name 2>&1)
    [ "$out" = deployment.apps/web ] || fail "-l: $out"
    out=$("${K[@]}" create namespace made-by-protobuf 2>&1)
    grep -q 'namespace/made-by-protobuf created' <<<"$out" || fail "create namespace: $out"
    out=$("${K[@]}" get pod nope 2>&1) && fail "get missing pod succeeded"
    grep -q 'Error from server (NotFound): pods "nope" not found' <<<"$out" || fail "NotFound: $out"
    out=$("${K[@]}" delete -f "$TEST_TMP/d.yaml" 2>&1)
    grep -q 'deployment.apps "web" deleted' <<<"$out" || fail "delete: $out"
    out=$("${K[@]}" get deploy 2>&1)
    grep -q 'No resources found' <<<"$out" || fail "after delete: $out"
    stop_api
}

test_kubectl_invalid_and_bad_token() {
    kubectl_setup
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndatta: {a: b}\n' >"$TEST_TMP/bad.yaml"
    local out
    out=$("${K[@]}" apply -f "$TEST_TMP/bad.yaml" 2>&1) && fail "invalid manifest applied: $out"
    grep -q 'datta' <<<"$out" || fail "message does not name the field: $out"
    # An invalid value is the server's 422, printed the way kubectl prints Kubernetes'.
    printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: neg}\nspec:\n  replicas: -1\n  selector: {matchLabels: {app: neg}}\n  template:\n    metadata: {labels: {app: neg}}\n    spec: {containers: [{name: c, image: busybox:1.35}]}\n' >"$TEST_TMP/neg.yaml"
    out=$("${K[@]}" apply -f "$TEST_TMP/neg.yaml" 2>&1) && fail "replicas -1 applied: $out"
    grep -q 'The Deployment "neg" is invalid: spec.replicas: Invalid value: -1' <<<"$out" ||
        fail "invalid message: $out"
    # A replace from a stale copy is a 409 Conflict with Kubernetes' words.
    "${K[@]}" create configmap stale --from-literal=a=1 >/dev/null
    "${K[@]}" get configmap stale -o yaml >"$TEST_TMP/stale.yaml"
    "${K[@]}" patch configmap stale -p '{"data":{"a":"2"}}' >/dev/null
    out=$("${K[@]}" replace -f "$TEST_TMP/stale.yaml" 2>&1) && fail "stale replace succeeded: $out"
    grep -q 'Error from server (Conflict): .*Operation cannot be fulfilled on configmaps "stale": the object has been modified; please apply your changes to the latest version and try again' <<<"$out" ||
        fail "conflict message: $out"
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    printf 'good,alice,1,"system:masters"\n' >"$TEST_TMP/tokens.csv"
    restart_api --token-auth-file "$TEST_TMP/tokens.csv"
    out=$("${K[@]}" get ns 2>&1) && fail "bad token accepted: $out"
    grep -qi 'unauthorized\|must be logged in' <<<"$out" || fail "bad token message: $out"
}

test_python_client_smoke() {
    /usr/bin/python3 -c 'import kubernetes' 2>/dev/null || skip "python3-kubernetes is not installed (apt-get install python3-kubernetes)"
    start_api
    /usr/bin/python3 - "$API" <<'EOF' || fail "python client"
import sys
from kubernetes import client, watch
cfg = client.Configuration()
cfg.host = sys.argv[1]
api = client.ApiClient(cfg)
core = client.CoreV1Api(api)
core.create_namespaced_config_map("default", {"metadata": {"name": "py"}, "data": {"a": "1"}})
assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == ["py"]
core.patch_namespaced_config_map("py", "default", {"data": {"b": "2"}})
assert core.read_namespaced_config_map("py", "default").data == {"a": "1", "b": "2"}
core.create_namespaced_pod("default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox:1.35"}]}})
seen = [e["type"] for e in watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=2)]
assert seen == ["ADDED"], seen
core.delete_namespaced_config_map("py", "default")
try:
    core.read_namespaced_config_map("py", "default")
    raise SystemExit("still there")
except client.exceptions.ApiException as e:
    assert e.status == 404
EOF
    stop_api
}

run_tests
