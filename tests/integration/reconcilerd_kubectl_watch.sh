#!/usr/bin/env bash
# kubectl 1.32 and the Python client against a live reconcilerd (ASan+UBSan build) over
# HTTPS with bearer tokens: what `kubectl get -w` prints (plain, --output-watch-events,
# -o json), watch=1, bookmarks (periodic and after the initial events), a label-selector
# watch that an object starts matching, fieldValidation Strict/Warn/Ignore (API and
# kubectl), graceful pod deletion with the request's grace period, dryRun=All on every
# write kubectl makes, label selector operators, short names, AlreadyExists, 413,
# Unauthorized, scale, strategic merge patch by merge keys, the protobuf body of
# `kubectl create namespace`, leases, and the Python client's list/create/patch/delete
# and a watch that sees a live MODIFIED.
#
# Like reconcilerd_kubectl.sh: kubectl sends tokens only to https:// servers, so
# reconcilerd serves a certificate from a throwaway openssl CA the kubeconfig trusts.
. "$(dirname "$0")/../lib.sh"

PY=/usr/bin/python3 # Debian's, with python3-kubernetes

# start_cluster [reconcilerd flags...]: reconcilerd serving HTTPS + a kubeconfig with the
# contexts admin (system:masters), viewer (bosun:viewer) and bad (a token not in the
# file). Sets PORT API CURL K KC.
start_cluster() {
    cat >"$TEST_TMP/tokens.csv" <<'EOF'
admin-token,admin,1,"system:masters"
viewer-token,viewer,2,"bosun:viewer"
EOF
    start_https_api "admin viewer bad" "$@"
}

# watch_bg FILE PATH: a curl watch as admin in the background, its output in FILE.
# Sets WPID.
watch_bg() {
    "${CURL[@]}" -sN -H 'Authorization: Bearer admin-token' "$API$2" >"$1" 2>&1 &
    WPID=$!
    defer "kill $WPID"
}

# events FILE: "TYPE name" per watch event line, space-separated.
events() {
    python3 - "$1" <<'EOF'
import json, sys
out = []
for line in open(sys.argv[1]):
    e = json.loads(line)
    out.append(e["type"] + ":" + e["object"]["metadata"].get("name", ""))
print(" ".join(out))
EOF
}

# strip_age: kubectl table rows with runs of spaces squeezed and the AGE column (the
# last one) dropped, so they can be compared exactly.
strip_age() { tr -s ' ' | sed -E 's/ ([0-9]+[smhd]|AGE)$//'; }

pod_json() { # name [nodeName]
    echo "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"$1\"},\"spec\":{${2:+\"nodeName\":\"$2\",}\"containers\":[{\"name\":\"c\",\"image\":\"busybox:1.35\"}]}}"
}

# 1, 16: kubectl get pods -w (plain, --output-watch-events, -o json) and a watch=1 stream
# print the ADDED, MODIFIED and DELETED of a pod changed through the API.
test_kubectl_get_watch_prints_added_modified_deleted() {
    start_cluster
    local out
    out=$(as admin-token POST /api/v1/namespaces/default/pods "${JSON[@]}" -d "$(pod_json old)")
    [ "$(code_of "$out")" = 201 ] || fail "create old: $out"
    "${K[@]}" get pods -w >"$TEST_TMP/plain" 2>&1 &
    defer "kill $!"
    "${K[@]}" get pods -w --output-watch-events >"$TEST_TMP/events" 2>&1 &
    defer "kill $!"
    "${K[@]}" get pods -w -o json --output-watch-events >"$TEST_TMP/json" 2>&1 &
    defer "kill $!"
    watch_bg "$TEST_TMP/w1" '/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=30'
    # each has listed (kubectl then watches from the list's resourceVersion: no gap)
    local f
    for f in plain events json w1; do
        wait_for 10 grep -q old "$TEST_TMP/$f" || fail "$f did not start: $(cat "$TEST_TMP/$f")"
    done
    out=$(as admin-token POST /api/v1/namespaces/default/pods "${JSON[@]}" -d "$(pod_json w1)")
    [ "$(code_of "$out")" = 201 ] || fail "create w1: $out"
    out=$(as admin-token PATCH /api/v1/namespaces/default/pods/w1 "${MERGE[@]}" -d '{"metadata":{"labels":{"tier":"fe"}}}')
    [ "$(code_of "$out")" = 200 ] || fail "patch w1: $out"
    out=$(as admin-token DELETE /api/v1/namespaces/default/pods/w1)
    [ "$(code_of "$out")" = 200 ] || fail "delete w1: $out"
    wait_for 10 grep -q '^DELETED' "$TEST_TMP/events" || fail "no DELETED row: $(cat "$TEST_TMP/events")"
    wait_for 10 grep -q '"DELETED"' "$TEST_TMP/json" || fail "no DELETED json: $(cat "$TEST_TMP/json")"
    wait_for 10 grep -q '"DELETED"' "$TEST_TMP/w1" || fail "no DELETED on watch=1: $(cat "$TEST_TMP/w1")"
    wait_for 10 sh -c "[ \$(grep -c '^w1 ' '$TEST_TMP/plain') -eq 3 ]" || fail "plain rows: $(cat "$TEST_TMP/plain")"
    [ "$(strip_age <"$TEST_TMP/plain")" = "$(printf '%s\n' 'NAME READY STATUS RESTARTS' \
        'old 0/1 Pending 0' 'w1 0/1 Pending 0' 'w1 0/1 Pending 0' 'w1 0/1 Pending 0')" ] ||
        fail "kubectl get pods -w printed: $(cat "$TEST_TMP/plain")"
    [ "$(strip_age <"$TEST_TMP/events")" = "$(printf '%s\n' 'EVENT NAME READY STATUS RESTARTS' \
        'ADDED old 0/1 Pending 0' 'ADDED w1 0/1 Pending 0' 'MODIFIED w1 0/1 Pending 0' \
        'DELETED w1 0/1 Pending 0')" ] ||
        fail "kubectl get pods -w --output-watch-events printed: $(cat "$TEST_TMP/events")"
    # -o json --output-watch-events: one {"type","object"} document per event
    out=$(python3 - "$TEST_TMP/json" <<'EOF'
import json, sys
text, dec, i, seen, rvs = open(sys.argv[1]).read(), json.JSONDecoder(), 0, [], []
while True:
    while i < len(text) and text[i].isspace():
        i += 1
    if i == len(text):
        break
    d, i = dec.raw_decode(text, i)
    o = d["object"]
    seen.append("%s:%s:%s:%s" % (d["type"], o["kind"], o["metadata"]["name"],
                                 o["metadata"].get("labels", {}).get("tier", "-")))
    rvs.append(int(o["metadata"]["resourceVersion"]))
print(" ".join(seen), rvs[1:] == sorted(set(rvs[1:])))
EOF
    )
    [ "$out" = "ADDED:Pod:old:- ADDED:Pod:w1:- MODIFIED:Pod:w1:fe DELETED:Pod:w1:fe True" ] ||
        fail "kubectl get pods -w -o json --output-watch-events: $out"
    # watch=1 (no resourceVersion): the synthetic ADDED of the existing pod, then live events
    [ "$(events "$TEST_TMP/w1")" = "ADDED:old ADDED:w1 MODIFIED:w1 DELETED:w1" ] ||
        fail "watch=1: $(cat "$TEST_TMP/w1")"
    stop_https_api
}

# 2, 3: BOOKMARKs only with allowWatchBookmarks=true (periodic at
# --watch-bookmark-interval, and right after the initial events with sendInitialEvents);
# an object that starts matching a label selector arrives as ADDED.
test_watch_bookmarks_and_selector_adds() {
    start_cluster --watch-bookmark-interval 1s
    local out rv
    out=$(as admin-token POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d '{"metadata":{"name":"pre","labels":{"app":"web"}}}')
    [ "$(code_of "$out")" = 201 ] || fail "create pre: $out"
    out=$(as admin-token GET /api/v1/namespaces/default/configmaps)
    rv=$(body_of "$out" | jget 'd["metadata"]["resourceVersion"]')
    local short=()
    watch_bg "$TEST_TMP/bm" "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=$rv&allowWatchBookmarks=true&timeoutSeconds=4"
    short+=($WPID)
    watch_bg "$TEST_TMP/nobm" "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=$rv&timeoutSeconds=4"
    short+=($WPID)
    watch_bg "$TEST_TMP/nobm-false" "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=$rv&allowWatchBookmarks=false&timeoutSeconds=4"
    short+=($WPID)
    watch_bg "$TEST_TMP/init" "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=4"
    short+=($WPID)
    watch_bg "$TEST_TMP/sel" "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=$rv&labelSelector=app%3Dweb&timeoutSeconds=30"
    watch_bg "$TEST_TMP/selin" "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=$rv&labelSelector=app+in+%28web%2Capi%29&timeoutSeconds=30"
    sleep 0.5
    # starts unlabelled: no event; starts matching: ADDED; changes while matching:
    # MODIFIED; stops matching: DELETED
    as admin-token POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d '{"metadata":{"name":"late"},"data":{"v":"0"}}' >/dev/null
    as admin-token PATCH /api/v1/namespaces/default/configmaps/late "${MERGE[@]}" -d '{"metadata":{"labels":{"app":"web"}}}' >/dev/null
    as admin-token PATCH /api/v1/namespaces/default/configmaps/late "${MERGE[@]}" -d '{"data":{"v":"1"}}' >/dev/null
    out=$(as admin-token PATCH /api/v1/namespaces/default/configmaps/late "${MERGE[@]}" -d '{"metadata":{"labels":{"app":"db"}}}')
    local last_rv
    last_rv=$(body_of "$out" | jget 'd["metadata"]["resourceVersion"]')
    for f in sel selin; do
        wait_for 5 grep -q DELETED "$TEST_TMP/$f" || fail "$f: $(cat "$TEST_TMP/$f")"
        [ "$(events "$TEST_TMP/$f")" = "ADDED:late MODIFIED:late DELETED:late" ] || fail "$f events: $(cat "$TEST_TMP/$f")"
    done
    python3 -c 'import json,sys; e=json.loads(open(sys.argv[1]).readline()); assert e["object"]["metadata"]["labels"]=={"app":"web"} and e["object"]["data"]=={"v":"0"}, e' "$TEST_TMP/sel" || fail "ADDED object: $(head -1 "$TEST_TMP/sel")"
    # the streams end at timeoutSeconds=4; one with bookmarks saw at least two (1 s)
    local p
    for p in "${short[@]}"; do
        wait_for 8 sh -c "! kill -0 $p" || fail "a timeoutSeconds=4 watch is still open"
    done
    out=$(python3 - "$TEST_TMP/bm" "$last_rv" <<'EOF'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
bms = [e for e in ev if e["type"] == "BOOKMARK"]
other = [e["type"] + ":" + e["object"]["metadata"]["name"] for e in ev if e["type"] != "BOOKMARK"]
last = bms[-1]["object"] if bms else {}
print(len(bms) >= 2, last.get("kind"), last.get("apiVersion"),
      last.get("metadata", {}).get("resourceVersion") == sys.argv[2], " ".join(other))
EOF
    )
    [ "$out" = "True ConfigMap v1 True ADDED:late MODIFIED:late MODIFIED:late MODIFIED:late" ] ||
        fail "bookmarks: $out: $(cat "$TEST_TMP/bm")"
    for f in nobm nobm-false; do
        grep -q BOOKMARK "$TEST_TMP/$f" && fail "unasked BOOKMARK in $f: $(cat "$TEST_TMP/$f")"
        [ "$(events "$TEST_TMP/$f")" = "ADDED:late MODIFIED:late MODIFIED:late MODIFIED:late" ] || fail "$f: $(cat "$TEST_TMP/$f")"
    done
    # sendInitialEvents: the existing object, then a BOOKMARK marking the end of the
    # initial events (annotation k8s.io/initial-events-end), then live events
    out=$(python3 - "$TEST_TMP/init" <<'EOF'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
first = ev[1]["object"] if len(ev) > 1 else {}
print(ev[0]["type"], ev[0]["object"]["metadata"]["name"], ev[1]["type"],
      first.get("metadata", {}).get("annotations", {}).get("k8s.io/initial-events-end"),
      [e["type"] for e in ev[2:] if e["type"] != "BOOKMARK"])
EOF
    )
    [ "$out" = "ADDED pre BOOKMARK true ['ADDED', 'MODIFIED', 'MODIFIED', 'MODIFIED']" ] ||
        fail "sendInitialEvents: $out: $(cat "$TEST_TMP/init")"
    stop_https_api
}

# 4: fieldValidation: Warn → 201 + a Warning naming the field, Strict → 422, Ignore → 201
# and no Warning; the unknown field is not stored (Kubernetes drops it). Through kubectl:
# apply --validate=warn prints the Warning, the default (Strict) fails, false is silent.
test_field_validation_strict_warn_ignore() {
    start_cluster
    local out fv
    for fv in Warn Strict Ignore; do
        out=$("${CURL[@]}" -s -D "$TEST_TMP/h-$fv" -w '\nHTTP %{http_code}\n' -X POST -H 'Authorization: Bearer admin-token' "${JSON[@]}" \
            "$API/api/v1/namespaces/default/configmaps?fieldValidation=$fv" \
            -d "{\"metadata\":{\"name\":\"fv-${fv,,}\"},\"datta\":{\"a\":\"b\"},\"data\":{\"x\":\"y\"}}")
        echo "$out" >"$TEST_TMP/b-$fv"
    done
    out=$(cat "$TEST_TMP/b-Warn")
    [ "$(code_of "$out")" = 201 ] || fail "Warn: $out"
    [ "$(grep -i '^Warning:' "$TEST_TMP/h-Warn" | tr -d '\r')" = 'Warning: 299 - "unknown field \"datta\" (not declared in Kubernetes 1.30 ConfigMap; did you mean \"data\"?)"' ] ||
        fail "Warn header: $(cat "$TEST_TMP/h-Warn")"
    [ "$(body_of "$out" | jget '"datta" in d, d["data"]')" = "(False, {'x': 'y'})" ] || fail "Warn stored: $out"
    # an update under Warn drops it too, and managedFields claim nothing that is not stored
    out=$("${CURL[@]}" -s -w '\nHTTP %{http_code}\n' -X PATCH -H 'Authorization: Bearer admin-token' "${MERGE[@]}" \
        "$API/api/v1/namespaces/default/configmaps/fv-warn?fieldValidation=Warn" -d '{"datta":{"c":"d"},"data":{"x":"z"}}')
    [ "$(code_of "$out")" = 200 ] || fail "Warn patch: $out"
    [ "$(body_of "$out" | jget '"datta" in d, d["data"], "f:datta" in json.dumps(d["metadata"].get("managedFields"))')" = "(False, {'x': 'z'}, False)" ] ||
        fail "Warn patch stored or claimed datta: $out"
    out=$(cat "$TEST_TMP/b-Strict")
    [ "$(code_of "$out")" = 422 ] || fail "Strict: $out"
    [ "$(body_of "$out" | jget 'd["reason"], [(c["reason"], c["field"]) for c in d["details"]["causes"]]')" = "('Invalid', [('FieldValueNotSupported', 'datta')])" ] || fail "Strict body: $out"
    out=$(cat "$TEST_TMP/b-Ignore")
    [ "$(code_of "$out")" = 201 ] || fail "Ignore: $out"
    grep -qi '^Warning:' "$TEST_TMP/h-Ignore" && fail "Ignore warned: $(cat "$TEST_TMP/h-Ignore")"
    "${K[@]}" get cm fv-strict >/dev/null 2>&1 && fail "Strict stored the object"
    [ "$("${K[@]}" get cm fv-ignore -o json | jget '"datta" in d, d["data"]')" = "(False, {'x': 'y'})" ] || fail "Ignore stored datta"
    # a nested unknown field is named by its path
    out=$("${CURL[@]}" -s -D "$TEST_TMP/h-dep" -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer admin-token' "${JSON[@]}" \
        "$API/apis/apps/v1/namespaces/default/deployments?fieldValidation=Warn" \
        -d '{"metadata":{"name":"d"},"spec":{"replicaz":2,"selector":{"matchLabels":{"app":"d"}},"template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"c","image":"busybox:1.35","imagePolicy":"x"}]}}}}')
    [ "$out" = 201 ] || fail "Warn deployment: $out"
    [ "$(grep -i '^Warning:' "$TEST_TMP/h-dep" | tr -d '\r' | sed 's/ (not declared.*//' | sort | tr '\n' '|')" = 'Warning: 299 - "unknown field \"spec.replicaz\"|Warning: 299 - "unknown field \"spec.template.spec.containers[0].imagePolicy\"|' ] ||
        fail "nested warnings: $(cat "$TEST_TMP/h-dep")"
    [ "$("${K[@]}" get deploy d -o json | jget '"replicaz" in d["spec"], "imagePolicy" in d["spec"]["template"]["spec"]["containers"][0]')" = "(False, False)" ] ||
        fail "nested unknown fields stored"
    # kubectl
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kw}\ndatta: {a: b}\n' >"$TEST_TMP/warn.yaml"
    out=$("${K[@]}" apply --validate=warn -f "$TEST_TMP/warn.yaml" 2>&1) || fail "apply --validate=warn: $out"
    [ "$out" = "$(printf '%s\n' 'Warning: unknown field "datta" (not declared in Kubernetes 1.30 ConfigMap; did you mean "data"?)' 'configmap/kw created')" ] ||
        fail "apply --validate=warn printed: $out"
    sed 's/name: kw/name: ks/' "$TEST_TMP/warn.yaml" >"$TEST_TMP/strict.yaml"
    out=$("${K[@]}" apply -f "$TEST_TMP/strict.yaml" 2>&1) && fail "apply (Strict) succeeded: $out"
    [ "$out" = 'The ConfigMap "ks" is invalid: datta: unknown field "datta" (not declared in Kubernetes 1.30 ConfigMap; did you mean "data"?)' ] ||
        fail "apply (Strict) printed: $out"
    "${K[@]}" get cm ks >/dev/null 2>&1 && fail "Strict apply stored ks"
    sed 's/name: kw/name: ki/' "$TEST_TMP/warn.yaml" >"$TEST_TMP/ignore.yaml"
    out=$("${K[@]}" apply --validate=false -f "$TEST_TMP/ignore.yaml" 2>&1) || fail "apply --validate=false: $out"
    [ "$out" = "configmap/ki created" ] || fail "apply --validate=false printed: $out"
    stop_https_api
}

# 5, 6: the request's grace period marks a bound pod (deletionTimestamp = now + 5 s,
# deletionGracePeriodSeconds 5) and leaves it stored; dryRun=All on update, patch, apply
# (client- and server-side), scale, patch and delete through kubectl stores nothing.
test_graceful_delete_and_dry_run_store_nothing() {
    start_cluster
    local out t0 t1
    out=$(as admin-token POST /api/v1/namespaces/default/pods "${JSON[@]}" -d "$(pod_json g1 n1)")
    [ "$(code_of "$out")" = 201 ] || fail "create g1: $out"
    t0=$(date +%s)
    out=$("${K[@]}" delete pod g1 --grace-period=5 --wait=false 2>&1) || fail "delete: $out"
    t1=$(date +%s)
    [ "$out" = 'pod "g1" deleted' ] || fail "kubectl delete printed: $out"
    out=$("${K[@]}" get pod g1 -o json) || fail "g1 gone: $out"
    [ "$(jget 'd["metadata"]["deletionGracePeriodSeconds"]' <<<"$out")" = 5 ] || fail "deletionGracePeriodSeconds: $out"
    local dt
    dt=$(date -d "$(jget 'd["metadata"]["deletionTimestamp"]' <<<"$out")" +%s) || fail "deletionTimestamp: $out"
    [ "$dt" -ge $((t0 + 4)) ] && [ "$dt" -le $((t1 + 6)) ] || fail "deletionTimestamp $dt not ~5 s after $t0..$t1"
    tr -s ' ' <<<"$("${K[@]}" get pod g1 --no-headers)" | grep -q '^g1 0/1 Terminating 0 ' || fail "not Terminating: $("${K[@]}" get pod g1)"
    # the query parameter works too
    as admin-token POST /api/v1/namespaces/default/pods "${JSON[@]}" -d "$(pod_json g2 n1)" >/dev/null
    out=$(as admin-token DELETE '/api/v1/namespaces/default/pods/g2?gracePeriodSeconds=7')
    [ "$(body_of "$out" | jget 'd["metadata"]["deletionGracePeriodSeconds"], bool(d["metadata"]["deletionTimestamp"])')" = "(7, True)" ] || fail "query grace: $out"

    # dry runs. A Deployment of 0 replicas: the controllers write its status once.
    out=$(as admin-token POST /apis/apps/v1/namespaces/default/deployments "${JSON[@]}" -d '{"metadata":{"name":"d"},"spec":{"replicas":0,"selector":{"matchLabels":{"app":"d"}},"template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"c","image":"busybox:1.35"}]}}}}')
    [ "$(code_of "$out")" = 201 ] || fail "create d: $out"
    wait_for 10 sh -c "[ \"\$(${K[*]} get deploy d -o jsonpath='{.status.observedGeneration}')\" = 1 ]" || fail "status not written"
    sleep 0.5
    local rv state
    rv=$("${K[@]}" get deploy d -o jsonpath='{.metadata.resourceVersion}')
    state() { "${K[@]}" get deploy d -o jsonpath='{.metadata.resourceVersion} {.spec.replicas} {.metadata.generation} {.metadata.labels}'; }
    [ "$(state)" = "$rv 0 1 " ] || fail "state before: $(state)"
    "${K[@]}" get deploy d -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); d["spec"]["replicas"]=8; json.dump(d,sys.stdout)' >"$TEST_TMP/d8.json"
    out=$(as admin-token PUT '/apis/apps/v1/namespaces/default/deployments/d?dryRun=All' "${JSON[@]}" --data-binary @"$TEST_TMP/d8.json")
    [ "$(code_of "$out")" = 200 ] && [ "$(body_of "$out" | jget 'd["spec"]["replicas"], d["metadata"]["generation"]')" = "(8, 2)" ] || fail "dry-run update: $out"
    [ "$(state)" = "$rv 0 1 " ] || fail "dry-run update stored: $(state)"
    out=$(as admin-token PATCH '/apis/apps/v1/namespaces/default/deployments/d?dryRun=All' "${MERGE[@]}" -d '{"spec":{"replicas":7}}')
    [ "$(code_of "$out")" = 200 ] && [ "$(body_of "$out" | jget 'd["spec"]["replicas"]')" = 7 ] || fail "dry-run patch: $out"
    [ "$(state)" = "$rv 0 1 " ] || fail "dry-run patch stored: $(state)"
    out=$(as admin-token PATCH '/apis/apps/v1/namespaces/default/deployments/d/scale?dryRun=All' "${MERGE[@]}" -d '{"spec":{"replicas":6}}')
    [ "$(code_of "$out")" = 200 ] && [ "$(body_of "$out" | jget 'd["kind"], d["spec"]["replicas"]')" = "('Scale', 6)" ] || fail "dry-run scale patch: $out"
    [ "$(state)" = "$rv 0 1 " ] || fail "dry-run scale stored: $(state)"
    out=$("${K[@]}" scale deployment d --replicas=3 --dry-run=server 2>&1) || fail "scale --dry-run=server: $out"
    [ "$out" = "deployment.apps/d scaled (server dry run)" ] || fail "scale printed: $out"
    [ "$(state)" = "$rv 0 1 " ] || fail "kubectl scale --dry-run=server stored: $(state)"
    "${K[@]}" get deploy d -o yaml | sed 's/replicas: 0/replicas: 5/' >"$TEST_TMP/d5.yaml"
    out=$("${K[@]}" apply --dry-run=server -f "$TEST_TMP/d5.yaml" 2>&1) || fail "apply --dry-run=server: $out"
    grep -qx "deployment.apps/d configured (server dry run)" <<<"$out" || fail "apply printed: $out"
    [ "$(state)" = "$rv 0 1 " ] || fail "kubectl apply --dry-run=server stored: $(state)"
    out=$("${K[@]}" apply --server-side --force-conflicts --dry-run=server -f "$TEST_TMP/d5.yaml" 2>&1) || fail "apply --server-side --dry-run=server: $out"
    [ "$out" = "deployment.apps/d serverside-applied (server dry run)" ] || fail "ssa printed: $out"
    [ "$(state)" = "$rv 0 1 " ] || fail "kubectl apply --server-side --dry-run=server stored: $(state)"
    out=$("${K[@]}" patch deploy d --dry-run=server -p '{"spec":{"replicas":9}}' -o jsonpath='{.spec.replicas}' 2>&1) || fail "patch --dry-run=server: $out"
    [ "$out" = 9 ] || fail "patch --dry-run=server answered: $out"
    out=$("${K[@]}" label deploy d tier=x --dry-run=server 2>&1) || fail "label --dry-run=server: $out"
    [ "$(state)" = "$rv 0 1 " ] || fail "kubectl patch/label --dry-run=server stored: $(state)"
    out=$("${K[@]}" delete deploy d --dry-run=server 2>&1) || fail "delete --dry-run=server: $out"
    [ "$out" = 'deployment.apps "d" deleted (server dry run)' ] || fail "delete printed: $out"
    [ "$(state)" = "$rv 0 1 " ] || fail "kubectl delete --dry-run=server changed it: $(state)"
    stop_https_api
}

# 7-11, 15: label selector operators (API and kubectl -l), short names, AlreadyExists,
# 413, Unauthorized, and the controllers' leader Lease.
test_kubectl_selectors_short_names_and_errors() {
    start_cluster --leader-elect
    local out sel want
    "${K[@]}" create configmap l-web >/dev/null
    "${K[@]}" label configmap l-web app=web tier=fe >/dev/null
    "${K[@]}" create configmap l-db >/dev/null
    "${K[@]}" label configmap l-db app=db >/dev/null
    "${K[@]}" create configmap l-none >/dev/null
    names_api() {
        local o
        o=$(as admin-token GET "/api/v1/namespaces/default/configmaps?labelSelector=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote_plus(sys.argv[1]))' "$1")")
        body_of "$o" | jget '" ".join(i["metadata"]["name"] for i in d["items"] if i["metadata"]["name"].startswith("l-"))'
    }
    names_kubectl() { "${K[@]}" get configmaps -l "$1" -o jsonpath='{range .items[*]}{.metadata.name}{" "}{end}' | sed 's/ $//'; }
    while IFS='|' read -r sel want; do
        out=$(names_api "$sel")
        [ "$out" = "$want" ] || fail "API labelSelector '$sel': got '$out', want '$want'"
        out=$(names_kubectl "$sel")
        [ "$out" = "$want" ] || fail "kubectl -l '$sel': got '$out', want '$want'"
    done <<'EOF'
app in (web,db)|l-db l-web
app in (web)|l-web
app!=web|l-db l-none
app|l-db l-web
!app|l-none
app notin (web)|l-db l-none
app notin (web,db)|l-none
app=web,tier=fe|l-web
app,!tier|l-db
EOF
    out=$(as admin-token GET '/api/v1/namespaces/default/configmaps?labelSelector=app+in+web')
    [ "$(code_of "$out")" = 400 ] || fail "malformed selector: $out"

    # short names: each reaches its resource
    as admin-token POST /api/v1/namespaces/default/pods "${JSON[@]}" -d "$(pod_json p1)" >/dev/null
    as admin-token POST /api/v1/namespaces/default/services "${JSON[@]}" -d '{"metadata":{"name":"s1"},"spec":{"selector":{"app":"s1"},"ports":[{"port":80}]}}' >/dev/null
    as admin-token POST /apis/apps/v1/namespaces/default/deployments "${JSON[@]}" -d '{"metadata":{"name":"d1"},"spec":{"replicas":0,"selector":{"matchLabels":{"app":"d1"}},"template":{"metadata":{"labels":{"app":"d1"}},"spec":{"containers":[{"name":"c","image":"busybox:1.35"}]}}}}' >/dev/null
    as admin-token POST /api/v1/namespaces/default/events "${JSON[@]}" -d '{"metadata":{"name":"e1"},"involvedObject":{"kind":"Pod","namespace":"default","name":"p1"},"reason":"Tested","message":"m","type":"Normal"}' >/dev/null
    wait_for 10 "${K[@]}" get endpoints s1 || fail "no Endpoints for s1"
    local s
    while read -r s want; do
        out=$("${K[@]}" get "$s" "${want#*/}" -o name 2>&1)
        [ "$out" = "$want" ] || fail "kubectl get $s: $out (want $want)"
    done <<'EOF'
po pod/p1
svc service/s1
ep endpoints/s1
deploy deployment.apps/d1
cm configmap/l-web
ns namespace/bosun-system
ev event/e1
EOF
    [ "$("${K[@]}" get po --no-headers | tr -s ' ' | cut -d' ' -f1-4)" = "p1 0/1 Pending 0" ] || fail "get po table"

    # AlreadyExists (the protobuf create of kubectl create namespace)
    out=$("${K[@]}" create namespace x 2>&1) || fail "create ns: $out"
    [ "$out" = "namespace/x created" ] || fail "create ns printed: $out"
    out=$("${K[@]}" create namespace x 2>&1) && fail "second create succeeded: $out"
    [ "$out" = 'Error from server (AlreadyExists): namespaces "x" already exists' ] || fail "AlreadyExists: $out"

    # 413: a Status with reason and code (also before authentication)
    head -c $((3 * 1024 * 1024 + 1)) /dev/zero | tr '\0' 'a' >"$TEST_TMP/big"
    out=$(as admin-token POST /api/v1/namespaces/default/configmaps "${JSON[@]}" --data-binary @"$TEST_TMP/big")
    [ "$(code_of "$out")" = 413 ] || fail "413: $(head -c 300 <<<"$out")"
    [ "$(body_of "$out" | jget 'd["kind"], d["apiVersion"], d["status"], d["reason"], d["code"]')" = "('Status', 'v1', 'Failure', 'RequestEntityTooLarge', 413)" ] || fail "413 body: $out"
    out=$("${K[@]}" create configmap big --from-file=big="$TEST_TMP/big" 2>&1) && fail "4 MiB configmap created"
    [ "$out" = "error: failed to create configmap: the request body is larger than the limit of 3145728 bytes" ] || fail "kubectl 413: $out"
    head -c $((3 * 1024 * 1024 - 4096)) /dev/zero | tr '\0' 'a' >"$TEST_TMP/fits"
    out=$(as admin-token POST /api/v1/namespaces/default/configmaps "${JSON[@]}" --data-binary @<(printf '{"metadata":{"name":"fits"},"data":{"f":"'; cat "$TEST_TMP/fits"; printf '"}}'))
    [ "$(code_of "$out")" = 201 ] || fail "just under 3 MiB: $(tail -c 300 <<<"$out")"

    # 401 with a bad token over HTTPS
    out=$("${K[@]}" --context bad get pods 2>&1) && fail "bad token accepted: $out"
    [ "$out" = "error: You must be logged in to the server (Unauthorized)" ] || fail "401: $out"
    out=$(as bad-token GET /api/v1/namespaces/default/pods)
    [ "$(code_of "$out")" = 401 ] && [ "$(body_of "$out" | jget 'd["reason"], d["code"]')" = "('Unauthorized', 401)" ] || fail "401 body: $out"

    # leases: the controllers' leader Lease, and one created here
    wait_for 10 "${K[@]}" -n bosun-system get lease bosun-controllers || fail "no leader lease"
    as admin-token POST /apis/coordination.k8s.io/v1/namespaces/default/leases "${JSON[@]}" -d '{"metadata":{"name":"mine"},"spec":{"holderIdentity":"me","leaseDurationSeconds":15}}' >/dev/null
    out=$("${K[@]}" get leases -A 2>&1 | strip_age)
    local holder
    holder=$("${K[@]}" -n bosun-system get lease bosun-controllers -o jsonpath='{.spec.holderIdentity}')
    [ -n "$holder" ] || fail "leader lease without holder"
    [ "$out" = "$(printf '%s\n' 'NAMESPACE NAME HOLDER' "bosun-system bosun-controllers $holder" 'default mine me')" ] ||
        fail "kubectl get leases -A: $out"
    stop_https_api
}

# 12-14: kubectl scale then the read-back; a strategic merge patch that adds an env var
# by name and a port by containerPort (and changes one by its key) keeping the other
# items; kubectl create namespace sends protobuf.
test_kubectl_scale_strategic_patch_and_protobuf_create() {
    start_cluster
    local out
    "${K[@]}" apply -f - >/dev/null <<'EOF' || fail "apply deployment"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: c
        image: busybox:1.35
        env: [{name: A, value: "1"}]
        ports: [{containerPort: 80, name: http}]
      - name: side
        image: busybox:1.35
        env: [{name: S, value: "s"}]
EOF
    out=$("${K[@]}" scale deployment web --replicas=4 2>&1) || fail "scale: $out"
    [ "$out" = "deployment.apps/web scaled" ] || fail "scale printed: $out"
    [ "$("${K[@]}" get deploy web -o jsonpath='{.spec.replicas} {.metadata.generation}')" = "4 2" ] || fail "replicas after scale: $("${K[@]}" get deploy web -o jsonpath='{.spec.replicas} {.metadata.generation}')"
    out=$(as admin-token GET /apis/apps/v1/namespaces/default/deployments/web/scale)
    [ "$(body_of "$out" | jget 'd["kind"], d["apiVersion"], d["spec"]["replicas"]')" = "('Scale', 'autoscaling/v1', 4)" ] || fail "scale subresource: $out"
    "${K[@]}" scale deployment web --replicas=0 >/dev/null
    # strategic merge patch: merge keys name (containers, env) and containerPort (ports)
    out=$("${K[@]}" patch deploy web --type strategic -p '{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[{"name":"B","value":"2"}],"ports":[{"containerPort":443,"name":"https"}]}]}}}}' 2>&1) || fail "smp: $out"
    [ "$out" = "deployment.apps/web patched" ] || fail "smp printed: $out"
    cspec() { "${K[@]}" get deploy web -o json | jget '[(c["name"], [(e["name"], e["value"]) for e in c.get("env", [])], [(p["containerPort"], p.get("name")) for p in c.get("ports", [])]) for c in d["spec"]["template"]["spec"]["containers"]]'; }
    [ "$(cspec)" = "[('c', [('A', '1'), ('B', '2')], [(80, 'http'), (443, 'https')]), ('side', [('S', 's')], [])]" ] ||
        fail "after adding: $(cspec)"
    "${K[@]}" patch deploy web --type strategic -p '{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[{"name":"A","value":"9"}],"ports":[{"containerPort":80,"name":"web"}]}]}}}}' >/dev/null || fail "smp 2"
    [ "$(cspec)" = "[('c', [('A', '9'), ('B', '2')], [(80, 'web'), (443, 'https')]), ('side', [('S', 's')], [])]" ] ||
        fail "after changing by key: $(cspec)"
    # the same through the API, with a $patch: delete directive on one env item
    out=$(as admin-token PATCH /apis/apps/v1/namespaces/default/deployments/web -H 'Content-Type: application/strategic-merge-patch+json' \
        -d '{"spec":{"template":{"spec":{"containers":[{"name":"c","env":[{"name":"B","$patch":"delete"},{"name":"C","value":"3"}]}]}}}}')
    [ "$(code_of "$out")" = 200 ] || fail "smp via API: $out"
    [ "$(cspec)" = "[('c', [('A', '9'), ('C', '3')], [(80, 'web'), (443, 'https')]), ('side', [('S', 's')], [])]" ] ||
        fail "after \$patch delete: $(cspec)"
    # kubectl create namespace sends protobuf
    out=$("${K[@]}" create namespace y -v=8 2>&1) || fail "create namespace: $out"
    python3 - "$out" <<'EOF' || fail "create namespace -v=8: $out"
import re, sys
lines = sys.argv[1].splitlines()
i = next(i for i, l in enumerate(lines) if re.search(r"POST https://127\.0\.0\.1:\d+/api/v1/namespaces\?", l))
req = []
for l in lines[i + 1:]:
    if "Response Status" in l:
        break
    req.append(l)
assert any(l.endswith("Content-Type: application/vnd.kubernetes.protobuf") for l in req), req
assert any("Response Status: 201 Created" in l for l in lines), lines
assert lines[-1] == "namespace/y created", lines[-1]
EOF
    [ "$("${K[@]}" get namespace y -o jsonpath='{.metadata.name} {.status.phase}')" = "y Active" ] || fail "namespace y"
    stop_https_api
}

# 17: the Python client with a bearer token over HTTPS: list, create, patch, delete, and
# a watch with timeout_seconds that sees a MODIFIED caused while it runs.
test_python_client_over_https_with_token() {
    $PY -c 'import kubernetes' 2>/dev/null || skip "python3-kubernetes is not installed (apt-get install python3-kubernetes)"
    start_cluster
    $PY - "$API" "$TEST_TMP/pki/ca.crt" <<'EOF' || fail "python client"
import sys, threading, time
from kubernetes import client, watch
cfg = client.Configuration()
cfg.host = sys.argv[1]
cfg.ssl_ca_cert = sys.argv[2]
cfg.api_key = {"authorization": "admin-token"}
cfg.api_key_prefix = {"authorization": "Bearer"}
core = client.CoreV1Api(client.ApiClient(cfg))
made = core.create_namespaced_config_map("default", {"metadata": {"name": "py", "labels": {"app": "py"}}, "data": {"a": "1"}})
assert made.metadata.name == "py" and made.metadata.uid, made
lst = core.list_namespaced_config_map("default", label_selector="app=py")
assert [c.metadata.name for c in lst.items] == ["py"], lst
rv = lst.metadata.resource_version
def later():
    time.sleep(1)
    core.patch_namespaced_config_map("py", "default", {"data": {"b": "2"}})
t = threading.Thread(target=later)
t.start()
start = time.monotonic()
seen = []
for e in watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=3):
    seen.append((e["type"], e["object"].metadata.name, e["object"].data, type(e["object"]).__name__))
took = time.monotonic() - start
t.join()
assert seen == [("MODIFIED", "py", {"a": "1", "b": "2"}, "V1ConfigMap")], seen
assert 2.5 < took < 6, took
assert core.read_namespaced_config_map("py", "default").data == {"a": "1", "b": "2"}
core.delete_namespaced_config_map("py", "default")
try:
    core.read_namespaced_config_map("py", "default")
    raise SystemExit("py still there")
except client.exceptions.ApiException as e:
    assert e.status == 404, e
# a wrong token is a 401 ApiException
cfg.api_key = {"authorization": "wrong"}
try:
    client.CoreV1Api(client.ApiClient(cfg)).list_namespaced_pod("default")
    raise SystemExit("wrong token accepted")
except client.exceptions.ApiException as e:
    assert e.status == 401, e
EOF
    stop_https_api
}

run_tests
