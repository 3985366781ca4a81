#!/usr/bin/env bash
# gitsync against a real reconcilerd: push manifests to a bare repository and watch them
# (and the GitRepository status) arrive through the API.
source "$(dirname "$0")/../lib.sh"

# ---- helpers -------------------------------------------------------------------------
start_api() {
    local port
    port=$(free_port)
    API=http://127.0.0.1:$port
    "$BOSUN_BIN/reconcilerd" --listen "127.0.0.1:$port" --data-dir "$TEST_TMP/store" \
        >"$TEST_TMP/reconcilerd.log" 2>&1 &
    local pid=$!
    defer "kill $pid; wait $pid"
    wait_for 30 curl -sf "$API/api/v1/namespaces/default" || {
        tail -20 "$TEST_TMP/reconcilerd.log"
        fail "reconcilerd did not come up"
    }
}

# A bare repository with branch main and a work tree that pushes to it.
make_repo() {
    git init -q --bare -b main "$TEST_TMP/repo.git"
    git init -q -b main "$TEST_TMP/work"
    git -C "$TEST_TMP/work" remote add origin "$TEST_TMP/repo.git"
    mkdir -p "$TEST_TMP/work/apps"
}

push() { # message
    git -C "$TEST_TMP/work" add -A
    git -C "$TEST_TMP/work" -c user.name=t -c user.email=t@example.com commit -q -m "$1"
    git -C "$TEST_TMP/work" push -q origin main
    HEAD_SHA=$(git -C "$TEST_TMP/work" rev-parse HEAD)
}

start_gitsync() { # extra flags...
    HOOK_PORT=$(free_port)
    HEALTH_PORT=$(free_port)
    "$BOSUN_BIN/gitsync" --server "$API" --cache-dir "$TEST_TMP/cache" \
        --webhook-listen "127.0.0.1:$HOOK_PORT" --healthz-listen "127.0.0.1:$HEALTH_PORT" \
        --interval 30s --log-level debug "$@" >"$TEST_TMP/gitsync.log" 2>&1 &
    GITSYNC_PID=$!
    defer "kill $GITSYNC_PID; wait $GITSYNC_PID"
    wait_for 20 curl -sf "http://127.0.0.1:$HEALTH_PORT/healthz" || fail "gitsync did not start"
}

# SIGTERM must end gitsync cleanly (exit 0; no sanitizer report, no leak).
stop_gitsync() {
    local rc=0
    kill "$GITSYNC_PID"
    wait "$GITSYNC_PID" || rc=$?
    if [ $rc -ne 0 ] || grep -q 'Sanitizer\|runtime error' "$TEST_TMP/gitsync.log"; then
        tail -40 "$TEST_TMP/gitsync.log"
        fail "gitsync exited with $rc"
    fi
}

api() { curl -s "$API$1"; }
GITREPO=/apis/bosun.io/v1/namespaces/bosun-system/gitrepositories/default
gitrepo() { api "$GITREPO"; }

ready_is() { # status reason
    [ "$(gitrepo | jq -r '.status.conditions[]? | select(.type=="Ready") | .status + " " + .reason')" = "$1 $2" ]
}
applied_is() { # sha
    [ "$(gitrepo | jq -r .status.lastAppliedRevision)" = "main@sha1:$1" ] && ready_is True Synced
}
attempted_is() { [ "$(gitrepo | jq -r .status.lastAttemptedRevision)" = "main@sha1:$1" ]; }
hook() { curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$HOOK_PORT/hook" "$@"; }
handled_is() { [ "$(gitrepo | jq -r .status.lastHandledReconcileAt)" = "$1" ]; }
applied_rev_is() { [ "$(gitrepo | jq -r .status.lastAppliedRevision)" = "$1" ]; }
syncs_above() { [ "$(syncs)" -gt "$1" ]; }
syncs() { curl -s "http://127.0.0.1:$HEALTH_PORT/metrics" | awk '$1=="gitsync_syncs_total"{print $2}'; }

write_manifests() {
    cat >"$TEST_TMP/work/apps/namespace.yaml" <<'Y'
apiVersion: v1
kind: Namespace
metadata:
  name: demo
Y
    cat >"$TEST_TMP/work/apps/config.yaml" <<'Y'
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: demo
data:
  greeting: hello
Y
    mkdir -p "$TEST_TMP/work/apps/web"
    cat >"$TEST_TMP/work/apps/web/web.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  type: NodePort
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: busybox:1.35
        args: ["httpd", "-f", "-p", "8080"]
Y
    mkdir -p "$TEST_TMP/work/.github"
    echo "not: [a manifest" >"$TEST_TMP/work/.github/ci.yaml"
}

# ---- tests ---------------------------------------------------------------------------
test_push_update_reject_prune() {
    start_api
    make_repo
    write_manifests
    push "first"
    local first=$HEAD_SHA
    start_gitsync --repo "$TEST_TMP/repo.git" --path apps
    wait_for 30 applied_is "$first" || { gitrepo; fail "first commit not applied"; }

    local cm
    cm=$(api /api/v1/namespaces/demo/configmaps/cfg)
    [ "$(jq -r .data.greeting <<<"$cm")" = hello ] || fail "configmap missing: $cm"
    [ "$(jq -r '.metadata.labels["app.kubernetes.io/managed-by"]' <<<"$cm")" = bosun-gitsync ] ||
        fail "managed-by label missing"
    jq -r '.metadata.annotations["bosun.io/source"]' <<<"$cm" | grep -q "@$first:apps/config.yaml" ||
        fail "source annotation: $(jq -r '.metadata.annotations' <<<"$cm")"
    api /apis/apps/v1/namespaces/demo/deployments/web | jq -e '.spec.replicas == 1' >/dev/null ||
        fail "deployment missing"
    [ "$(gitrepo | jq '.status.inventory | length')" = 4 ] || fail "inventory: $(gitrepo)"
    gitrepo | jq -e '.spec.url and .spec.branch == "main" and .spec.path == "apps" and
        .spec.interval == "30s" and .spec.prune == true' >/dev/null || fail "spec: $(gitrepo)"

    # A change, delivered by the webhook (no secret configured).
    sed -i 's/greeting: hello/greeting: bonjour/' "$TEST_TMP/work/apps/config.yaml"
    push "second"
    local second=$HEAD_SHA
    [ "$(hook -d '{}')" = 202 ] || fail "webhook did not answer 202"
    wait_for 20 applied_is "$second" || { gitrepo; fail "second commit not applied"; }
    [ "$(api /api/v1/namespaces/demo/configmaps/cfg | jq -r .data.greeting)" = bonjour ] ||
        fail "configmap not updated"

    # A broken manifest rejects the whole commit, including the valid change next to it.
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\n' >"$TEST_TMP/work/apps/bad.yaml"
    sed -i 's/greeting: bonjour/greeting: hola/' "$TEST_TMP/work/apps/config.yaml"
    push "broken"
    local broken=$HEAD_SHA
    hook >/dev/null
    wait_for 20 ready_is False ValidationFailed || { gitrepo; fail "no ValidationFailed"; }
    attempted_is "$broken" || fail "lastAttemptedRevision: $(gitrepo | jq .status)"
    [ "$(gitrepo | jq -r .status.lastAppliedRevision)" = "main@sha1:$second" ] ||
        fail "lastAppliedRevision moved"
    gitrepo | jq -e '.status.errors[0].file == "apps/bad.yaml" and .status.errors[0].line >= 4' \
        >/dev/null || fail "errors[]: $(gitrepo | jq .status.errors)"
    [ "$(api /api/v1/namespaces/demo/configmaps/cfg | jq -r .data.greeting)" = bonjour ] ||
        fail "a rejected commit changed the cluster"

    # Fix it and delete a file: its object is pruned, the rest stays.
    rm "$TEST_TMP/work/apps/bad.yaml" "$TEST_TMP/work/apps/config.yaml"
    push "prune"
    local third=$HEAD_SHA
    hook >/dev/null
    wait_for 20 applied_is "$third" || { gitrepo; fail "third commit not applied"; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$API/api/v1/namespaces/demo/configmaps/cfg")" = 404 ] ||
        fail "configmap not pruned"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$API/api/v1/namespaces/demo/services/web")" = 200 ] ||
        fail "service pruned by mistake"
    [ "$(gitrepo | jq '.status.inventory | length')" = 3 ] || fail "inventory after prune"
    gitrepo | jq -e '.status.errors == []' >/dev/null || fail "errors not cleared"
    stop_gitsync
}

test_drift_restored_and_cluster_ip_kept() {
    start_api
    make_repo
    write_manifests
    push "first"
    start_gitsync --repo "file://$TEST_TMP/repo.git" --path apps
    wait_for 30 applied_is "$HEAD_SHA" || { gitrepo; fail "not applied"; }
    local ip port
    ip=$(api /api/v1/namespaces/demo/services/web | jq -r .spec.clusterIP)
    port=$(api /api/v1/namespaces/demo/services/web | jq -r .spec.ports[0].nodePort)
    [ -n "$ip" ] && [ "$ip" != null ] || fail "no clusterIP allocated"

    # Nothing changed: a sync writes nothing.
    local rv_cm rv_repo before
    rv_cm=$(api /api/v1/namespaces/demo/configmaps/cfg | jq -r .metadata.resourceVersion)
    rv_repo=$(gitrepo | jq -r .metadata.resourceVersion)
    before=$(syncs)
    hook >/dev/null
    wait_for 20 syncs_above "$before" || fail "webhook sync did not run"
    sleep 0.5
    [ "$(api /api/v1/namespaces/demo/configmaps/cfg | jq -r .metadata.resourceVersion)" = "$rv_cm" ] ||
        fail "an unchanged sync rewrote the configmap"
    [ "$(gitrepo | jq -r .metadata.resourceVersion)" = "$rv_repo" ] ||
        fail "an unchanged sync rewrote the GitRepository"

    # Someone changes a Git-owned field and adds one Git does not own.
    curl -sf -X PATCH -H 'Content-Type: application/merge-patch+json' \
        -d '{"data":{"greeting":"drifted","extra":"mine"}}' \
        "$API/api/v1/namespaces/demo/configmaps/cfg" >/dev/null || fail "patch failed"
    curl -sf -X PATCH -H 'Content-Type: application/merge-patch+json' \
        -d '{"spec":{"replicas":3}}' "$API/apis/apps/v1/namespaces/demo/deployments/web" \
        >/dev/null || fail "patch deployment failed"

    # `bosun sync`'s way in: the request annotation.
    local req
    req=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
    curl -sf -X PATCH -H 'Content-Type: application/merge-patch+json' \
        -d "{\"metadata\":{\"annotations\":{\"bosun.io/requested-at\":\"$req\"}}}" \
        "$API$GITREPO" >/dev/null || fail "annotate failed"
    wait_for 20 handled_is "$req" ||
        { gitrepo; fail "request annotation not handled"; }
    local cm
    cm=$(api /api/v1/namespaces/demo/configmaps/cfg)
    [ "$(jq -r .data.greeting <<<"$cm")" = hello ] || fail "drift not restored: $cm"
    [ "$(jq -r .data.extra <<<"$cm")" = mine ] || fail "a field Git does not own was removed"
    [ "$(api /apis/apps/v1/namespaces/demo/deployments/web | jq -r .spec.replicas)" = 1 ] ||
        fail "replicas not restored"
    [ "$(api /api/v1/namespaces/demo/services/web | jq -r .spec.clusterIP)" = "$ip" ] ||
        fail "clusterIP changed"
    [ "$(api /api/v1/namespaces/demo/services/web | jq -r .spec.ports[0].nodePort)" = "$port" ] ||
        fail "nodePort changed"
    stop_gitsync
}

test_webhook_signature() {
    start_api
    make_repo
    write_manifests
    push "first"
    printf 'topsecret\n' >"$TEST_TMP/secret"
    start_gitsync --repo "$TEST_TMP/repo.git" --path apps --webhook-secret-file "$TEST_TMP/secret"
    local body='{"ref":"refs/heads/main"}' sig
    sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac topsecret | awk '{print $NF}')
    [ "$(hook -d "$body")" = 401 ] || fail "unsigned hook accepted"
    [ "$(hook -d "$body" -H "X-Hub-Signature-256: sha256=${sig%?}0")" = 401 ] ||
        fail "badly signed hook accepted"
    [ "$(hook -d "$body x" -H "X-Hub-Signature-256: sha256=$sig")" = 401 ] ||
        fail "hook with a changed body accepted"
    [ "$(hook -d "$body" -H "X-Hub-Signature-256: sha256=$sig")" = 202 ] ||
        fail "signed hook refused"
    stop_gitsync
}

test_missing_repo_is_fetch_failed() {
    start_api
    start_gitsync --repo "$TEST_TMP/no-such-repo.git"
    wait_for 30 ready_is False FetchFailed || { gitrepo; fail "no FetchFailed"; }
    gitrepo | jq -r '.status.conditions[] | select(.type=="Ready") | .message' |
        grep -q "does not exist" || fail "message: $(gitrepo | jq .status)"
    stop_gitsync
}

test_kustomization_and_branch() {
    start_api
    make_repo
    write_manifests
    echo "resources: [namespace.yaml]" >"$TEST_TMP/work/apps/kustomization.yaml"
    push "first"
    git -C "$TEST_TMP/work" checkout -q -b other
    rm "$TEST_TMP/work/apps/web/web.yaml"
    git -C "$TEST_TMP/work" add -A
    git -C "$TEST_TMP/work" -c user.name=t -c user.email=t@example.com commit -q -m other
    git -C "$TEST_TMP/work" push -q origin other
    local other
    other=$(git -C "$TEST_TMP/work" rev-parse HEAD)
    start_gitsync --repo "$TEST_TMP/repo.git" --path apps --branch other
    wait_for 30 applied_rev_is "other@sha1:$other" ||
        { gitrepo; fail "branch other not applied"; }
    gitrepo | jq -r '.status.conditions[] | select(.type=="Ready") | .message' | grep -q warning ||
        fail "kustomization warning not mentioned"
    grep -q "kustomization" "$TEST_TMP/gitsync.log" || fail "kustomization warning not logged"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$API/api/v1/namespaces/demo/services/web")" = 404 ] ||
        fail "an object of main was applied"
    stop_gitsync
}

run_tests
