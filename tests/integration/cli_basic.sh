#!/usr/bin/env bash
# The bosun CLI against a real reconcilerd (and gitsync for sync/status): outputs and exit
# codes of get, apply, delete, sync and status; an invalid manifest is reported as
# file:line:col and changes nothing.
source "$(dirname "$0")/../lib.sh"

TOKEN=cli-test-token-0123456789

start_api() {
    local port
    port=$(free_port)
    API=http://127.0.0.1:$port
    echo "$TOKEN,admin,admin-uid,\"system:masters\"" >"$TEST_TMP/tokens.csv"
    "$BOSUN_BIN/reconcilerd" --listen "127.0.0.1:$port" --data-dir "$TEST_TMP/store" \
        --token-auth-file "$TEST_TMP/tokens.csv" >"$TEST_TMP/reconcilerd.log" 2>&1 &
    local pid=$!
    defer "kill $pid; wait $pid"
    wait_for 30 curl -sf -H "Authorization: Bearer $TOKEN" "$API/api/v1/namespaces/default" || {
        tail -20 "$TEST_TMP/reconcilerd.log"
        fail "reconcilerd did not come up"
    }
    cat >"$TEST_TMP/kubeconfig" <<Y
apiVersion: v1
kind: Config
clusters:
- name: t
  cluster:
    server: $API
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: t
  context: {cluster: t, user: admin}
current-context: t
Y
    export KUBECONFIG=$TEST_TMP/kubeconfig
}

bosun() { "$BOSUN_BIN/bosun" "$@"; }

write_app() { # dir replicas
    mkdir -p "$1"
    cat >"$1/app.yaml" <<Y
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: demo
data:
  greeting: hello
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: $2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: busybox:1.35
        command: ["sleep", "3600"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
Y
}

test_apply_get_delete() {
    start_api
    write_app "$TEST_TMP/app" 2
    local out
    out=$(bosun apply -f "$TEST_TMP/app")
    [ "$out" = "namespace/demo created
configmap/cfg created
service/web created
deployment.apps/web created" ] || fail "first apply: $out"
    out=$(bosun apply -f "$TEST_TMP/app")
    echo "$out" | grep -q "^deployment.apps/web unchanged$" || fail "second apply: $out"
    echo "$out" | grep -q "^service/web unchanged$" || fail "service was not unchanged: $out"
    # the server-allocated nodePort survives an apply that changes something else
    local np
    np=$(bosun get svc web -n demo -o json | jq -r '.spec.ports[0].nodePort')
    [ "$np" -gt 0 ] || fail "no nodePort"
    write_app "$TEST_TMP/app" 3
    out=$(bosun apply -f "$TEST_TMP/app/app.yaml")
    echo "$out" | grep -q "^deployment.apps/web configured$" || fail "third apply: $out"
    [ "$(bosun get svc web -n demo -o json | jq -r '.spec.ports[0].nodePort')" = "$np" ] ||
        fail "nodePort changed"
    [ "$(bosun get deploy web -n demo -o json | jq -r .spec.replicas)" = 3 ] || fail "replicas"

    out=$(bosun get deployments -n demo)
    echo "$out" | head -1 | grep -q "^NAME *READY *UP-TO-DATE *AVAILABLE *AGE$" || fail "header: $out"
    echo "$out" | grep -q "^web " || fail "row: $out"
    out=$(bosun get svc -A)
    echo "$out" | grep -qE "^demo +web +NodePort +[0-9.]+ +80:$np/TCP " || fail "services: $out"
    out=$(bosun get ns)
    echo "$out" | grep -q "^demo " || fail "namespaces: $out"
    # YAML output parses back and names the object
    bosun get cm cfg -n demo -o yaml >"$TEST_TMP/cfg.yaml"
    grep -q "^  greeting: hello$" "$TEST_TMP/cfg.yaml" || fail "yaml: $(cat "$TEST_TMP/cfg.yaml")"
    python3 -c 'import sys,json; print("ok")' >/dev/null
    bosun get cm -n demo -o json | jq -e '.kind == "List" and (.items | length) == 1' >/dev/null ||
        fail "json list"
    # label selector
    [ "$(bosun get deploy -A -l app=nothing 2>&1)" = "No resources found" ] || fail "selector"

    local rc=0
    out=$(bosun get deploy nope -n demo 2>&1) || rc=$?
    [ $rc -eq 1 ] || fail "get of a missing object exited $rc"
    echo "$out" | grep -q "Error from server (NotFound)" || fail "missing object: $out"
    rc=0
    out=$(bosun get widgets 2>&1) || rc=$?
    [ $rc -eq 1 ] && echo "$out" | grep -q 'resource type "widgets"' || fail "unknown kind: $out"

    out=$(bosun delete deploy web -n demo)
    [ "$out" = 'deployment.apps "web" deleted' ] || fail "delete: $out"
    rc=0
    bosun delete deploy web -n demo 2>/dev/null || rc=$?
    [ $rc -eq 1 ] || fail "deleting a missing object exited $rc"
    bosun delete deploy web -n demo --ignore-not-found || fail "--ignore-not-found"
    out=$(bosun delete -f "$TEST_TMP/app" --ignore-not-found)
    echo "$out" | grep -q '^namespace "demo" deleted$' || fail "delete -f: $out"
    echo "$out" | grep -q '^configmap "cfg" deleted$' || fail "delete -f: $out"
}

test_apply_removes_fields_the_manifest_stopped_setting() {
    start_api
    mkdir -p "$TEST_TMP/m"
    cat >"$TEST_TMP/m/cm.yaml" <<Y
apiVersion: v1
kind: ConfigMap
metadata:
  name: owned
  labels: {team: a, tier: web}
data:
  keep: "1"
  drop: "2"
Y
    local out
    out=$(bosun apply -f "$TEST_TMP/m") || fail "apply: $out"
    [ "$out" = "configmap/owned created" ] || fail "first apply: $out"
    bosun get cm owned -o json | jq -e '.metadata.annotations["bosun.io/last-applied"] | fromjson |
        .data.drop == "2"' >/dev/null || fail "no last-applied annotation"
    # another client adds a field the manifest never mentioned
    curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/merge-patch+json' -X PATCH \
        "$API/api/v1/namespaces/default/configmaps/owned" \
        -d '{"data":{"theirs":"x"},"metadata":{"labels":{"other":"y"}}}' || fail "patch"
    cat >"$TEST_TMP/m/cm.yaml" <<Y
apiVersion: v1
kind: ConfigMap
metadata:
  name: owned
  labels: {team: a}
data:
  keep: "1"
Y
    out=$(bosun apply -f "$TEST_TMP/m") || fail "apply: $out"
    [ "$out" = "configmap/owned configured" ] || fail "second apply: $out"
    local cm
    cm=$(bosun get cm owned -o json)
    echo "$cm" | jq -e '.data == {"keep": "1", "theirs": "x"}' >/dev/null || fail "data: $cm"
    echo "$cm" | jq -e '.metadata.labels == {"team": "a", "other": "y"}' >/dev/null ||
        fail "labels: $cm"
    out=$(bosun apply -f "$TEST_TMP/m")
    [ "$out" = "configmap/owned unchanged" ] || fail "third apply: $out"
}

test_invalid_manifest_is_reported_with_position_and_applies_nothing() {
    start_api
    write_app "$TEST_TMP/app" 1
    cat >"$TEST_TMP/app/zz-bad.yaml" <<'Y'
apiVersion: v1
kind: ConfigMap
metadata:
  name: ok-but-rejected
  namespace: default
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: bad}
  template:
    metadata:
      labels: {app: bad}
    spec:
      containers:
      - name: c
        image: busybox:1.35
        imagePullPolcy: Always
Y
    local out rc=0
    out=$(bosun apply -f "$TEST_TMP/app" 2>&1) || rc=$?
    [ $rc -eq 1 ] || fail "apply of an invalid manifest exited $rc: $out"
    echo "$out" | grep -qE "zz-bad.yaml:23:9: spec.template.spec.containers.0.imagePullPolcy: " ||
        fail "no file:line:col message: $out"
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        "$API/api/v1/namespaces/default/configmaps/ok-but-rejected")" = 404 ] ||
        fail "something was applied"
    rc=0
    out=$(printf 'kind: [\n' | bosun apply -f - 2>&1) || rc=$?
    [ $rc -eq 1 ] && echo "$out" | grep -q "<stdin>:" || fail "stdin syntax error: $out"
}

test_bad_kubeconfig_and_usage_errors() {
    local out rc=0
    out=$(KUBECONFIG=$TEST_TMP/none "$BOSUN_BIN/bosun" get pods 2>&1) || rc=$?
    [ $rc -eq 1 ] && echo "$out" | grep -q "kubeconfig" || fail "missing kubeconfig: $out"
    rc=0
    "$BOSUN_BIN/bosun" frobnicate >/dev/null 2>&1 || rc=$?
    [ $rc -eq 2 ] || fail "unknown command exited $rc"
    rc=0
    "$BOSUN_BIN/bosun" get >/dev/null 2>&1 || rc=$?
    [ $rc -eq 2 ] || fail "get without a kind exited $rc"
    "$BOSUN_BIN/bosun" --help | grep -q "apply" || fail "--help"
}

# ---- sync and status, with gitsync ------------------------------------------------------

start_gitsync() {
    git init -q --bare -b main "$TEST_TMP/repo.git"
    git init -q -b main "$TEST_TMP/work"
    git -C "$TEST_TMP/work" remote add origin "$TEST_TMP/repo.git"
    write_app "$TEST_TMP/work" 1
    push "first"
    echo "$TOKEN" >"$TEST_TMP/token"
    HEALTH_PORT=$(free_port)
    HOOK_PORT=$(free_port)
    "$BOSUN_BIN/gitsync" --server "$API" --token-file "$TEST_TMP/token" --repo "$TEST_TMP/repo.git" \
        --branch main --cache-dir "$TEST_TMP/cache" --webhook-listen "127.0.0.1:$HOOK_PORT" \
        --healthz-listen "127.0.0.1:$HEALTH_PORT" --interval 10m >"$TEST_TMP/gitsync.log" 2>&1 &
    local pid=$!
    defer "kill $pid; wait $pid"
    wait_for 20 curl -sf "http://127.0.0.1:$HEALTH_PORT/healthz" || fail "gitsync did not start"
}

push() {
    git -C "$TEST_TMP/work" add -A
    git -C "$TEST_TMP/work" -c user.name=t -c user.email=t@example.com commit -q -m "$1"
    git -C "$TEST_TMP/work" push -q origin main
    HEAD_SHA=$(git -C "$TEST_TMP/work" rev-parse HEAD)
}

attempted_is() { # sha
    "$BOSUN_BIN/bosun" status -o json 2>/dev/null |
        jq -e --arg rev "main@sha1:$1" '.sync.lastAttemptedRevision == $rev' >/dev/null
}

break_repo() {
    cat >"$TEST_TMP/work/broken.yaml" <<'Y'
apiVersion: v1
kind: ConfigMap
metadata:
  name: broken
  namespace: demo
dta:
  x: y
Y
    push "broken"
}

test_status_reports_sync_state_and_errors() {
    start_api
    start_gitsync
    local out rc=0
    wait_for 30 attempted_is "$HEAD_SHA" || fail "gitsync did not sync: $(bosun status 2>&1)"
    out=$(bosun status) || fail "status exited $?: $out"
    echo "$out" | grep -q "Sync: *Ready" || fail "status: $out"
    echo "$out" | grep -q "Applied: *main@sha1:$HEAD_SHA" || fail "status: $out"
    echo "$out" | grep -qE "Deployment +demo +web +[0-9]+/1" || fail "workloads: $out"
    bosun status -o json | jq -e --arg rev "main@sha1:$HEAD_SHA" \
        '.sync.lastAppliedRevision == $rev and (.workloads[] | select(.kind=="Deployment" and .name=="web") | .desired) == 1' \
        >/dev/null || fail "status -o json: $(bosun status -o json)"

    # a broken manifest: status fails and names the file and line
    local good=$HEAD_SHA
    break_repo
    curl -s -X POST "http://127.0.0.1:$HOOK_PORT/hook" >/dev/null
    wait_for 30 attempted_is "$HEAD_SHA" || fail "gitsync did not try the broken commit"
    rc=0
    out=$(bosun status) || rc=$?
    [ $rc -eq 1 ] || fail "status after a failed sync exited $rc: $out"
    echo "$out" | grep -q "broken.yaml:6:1: dta: " || fail "status: $out"
    echo "$out" | grep -q "Applied: *main@sha1:$good" || fail "applied revision moved: $out"
    rc=0
    bosun status -o json >"$TEST_TMP/st.json" || rc=$?
    [ $rc -eq 1 ] || fail "status -o json exit $rc"
    jq -e '.sync.errors[0].file == "broken.yaml" and .sync.errors[0].line == 6' "$TEST_TMP/st.json" \
        >/dev/null || fail "status -o json errors: $(cat "$TEST_TMP/st.json")"
}

test_sync_waits_for_gitsync_and_reports() {
    start_api
    start_gitsync
    local out rc=0
    wait_for 30 bosun get gitrepo default -n bosun-system || fail "no GitRepository"
    out=$(bosun sync --timeout 30s) || { tail -20 "$TEST_TMP/gitsync.log"; fail "sync: $out"; }
    echo "$out" | grep -q "Applied: *main@sha1:$HEAD_SHA" || fail "sync output: $out"
    break_repo
    rc=0
    out=$(bosun sync --timeout 30s) || rc=$?
    [ $rc -eq 1 ] || fail "sync of a broken commit exited $rc: $out"
    echo "$out" | grep -q "broken.yaml:6:1" || fail "sync does not name the position: $out"
    out=$(bosun sync --no-wait) || fail "--no-wait"
    echo "$out" | grep -q "sync requested at" || fail "--no-wait output: $out"
}

run_tests
