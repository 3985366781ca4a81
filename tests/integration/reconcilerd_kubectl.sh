#!/usr/bin/env bash
# kubectl 1.32 against a live reconcilerd (ASan+UBSan build): authorization (Forbidden
# messages, `auth can-i` and `auth can-i --list`, a node's reads of Secrets and
# ConfigMaps), per-user limits (429), namespace termination, foreground
# deletion and finalizers, server-side apply conflicts, diff, edit, patch, annotate,
# delete -l, describe with events, logs -f, rollout status, api-resources, create.
#
# kubectl sends bearer tokens only to https:// servers (client-go drops credentials for
# plain http), so reconcilerd serves HTTPS with a certificate from a throwaway CA made by
# openssl, and the kubeconfig trusts that CA (certificate-authority-data), as `bosun up`'s
# does.
. "$(dirname "$0")/../lib.sh"

PY=/usr/bin/python3 # Debian's, with python3-kubernetes

# start_cluster [reconcilerd flags...]: reconcilerd serving HTTPS + kubeconfig with the
# contexts admin (system:masters), viewer (bosun:viewer), node (system:node:n1),
# sched (bosun:scheduler), gitsync (bosun:gitsync), each a token and the CA's data.
# Sets PORT API CURL K KC.
start_cluster() {
    cat >"$TEST_TMP/tokens.csv" <<'EOF'
admin-token,admin,1,"system:masters"
viewer-token,viewer,2,"bosun:viewer"
node-token,system:node:n1,3,"system:nodes"
sched-token,system:scheduler,4,"bosun:scheduler"
gitsync-token,gitsync,5,"bosun:gitsync"
EOF
    start_https_api "admin viewer node sched gitsync" "$@"
}

pod_json() { # name [nodeName] [annotations-json]
    echo "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"$1\",\"annotations\":${3:-{\}}},\"spec\":{${2:+\"nodeName\":\"$2\",}\"containers\":[{\"name\":\"c\",\"image\":\"busybox:1.35\"}]}}"
}

test_kubectl_forbidden_messages_and_auth_can_i() {
    start_cluster
    local out
    out=$("${K[@]}" --context viewer delete pod x 2>&1) && fail "viewer deleted: $out"
    grep -qF 'Error from server (Forbidden): pods "x" is forbidden: User "viewer" cannot delete resource "pods" in API group "" in the namespace "default"' <<<"$out" || fail "message: $out"
    out=$("${K[@]}" --context viewer get secrets 2>&1) && fail "viewer read secrets: $out"
    grep -qF 'secrets is forbidden: User "viewer" cannot list resource "secrets" in API group "" in the namespace "default"' <<<"$out" || fail "list message: $out"
    out=$("${K[@]}" --context viewer get nodes 2>&1) || fail "viewer get nodes: $out"
    out=$("${K[@]}" --context viewer create namespace nope 2>&1) && fail "viewer created ns"
    grep -qF 'namespaces is forbidden: User "viewer" cannot create resource "namespaces" in API group "" at the cluster scope' <<<"$out" || fail "cluster scope message: $out"
    # auth can-i answers what the server enforces
    [ "$("${K[@]}" --context viewer auth can-i list pods)" = yes ] || fail "viewer list"
    out=$("${K[@]}" --context viewer auth can-i delete pods) && fail "viewer can delete?"
    [ "$out" = no ] || fail "can-i output: $out"
    [ "$("${K[@]}" auth can-i delete pods --all-namespaces)" = yes ] || fail "admin"
    [ "$("${K[@]}" --context node auth can-i patch nodes/n1)" = yes ] || fail "node own"
    "${K[@]}" --context node auth can-i patch nodes/n2 >/dev/null && fail "node other node"
    [ "$("${K[@]}" --context sched auth can-i create pods --subresource=binding)" = yes ] || fail "sched binding"
    "${K[@]}" --context sched auth can-i delete pods >/dev/null && fail "sched delete"
    [ "$("${K[@]}" --context gitsync auth can-i create deployments.apps -n web)" = yes ] || fail "gitsync deploy"
    "${K[@]}" --context gitsync auth can-i delete nodes >/dev/null && fail "gitsync nodes"
    out=$("${K[@]}" api-resources)
    grep -Eq '^selfsubjectaccessreviews +authorization.k8s.io/v1 +false +SelfSubjectAccessReview' <<<"$out" || fail "SSAR not discoverable: $out"
    grep -Eq '^selfsubjectrulesreviews +authorization.k8s.io/v1 +false +SelfSubjectRulesReview' <<<"$out" || fail "SSRR not discoverable: $out"
    # node rules on objects: its own Node, mirror pods, status and final delete of its pods
    out=$(as node-token POST /api/v1/nodes "${JSON[@]}" -d '{"metadata":{"name":"n1"}}')
    [ "$(code_of "$out")" = 201 ] || fail "node creates itself: $out"
    out=$(as node-token POST /api/v1/nodes "${JSON[@]}" -d '{"metadata":{"name":"n2"}}')
    [ "$(code_of "$out")" = 403 ] || fail "node creates another: $out"
    out=$(as node-token POST /api/v1/namespaces/default/pods "${JSON[@]}" -d "$(pod_json plain n1)")
    [ "$(code_of "$out")" = 403 ] || fail "node created a plain pod: $out"
    out=$(as node-token POST /api/v1/namespaces/default/pods "${JSON[@]}" -d "$(pod_json static-n1 n1 '{"kubernetes.io/config.mirror":"abc"}')")
    [ "$(code_of "$out")" = 201 ] || fail "mirror pod: $out"
    out=$(as node-token POST /api/v1/namespaces/default/pods "${JSON[@]}" -d "$(pod_json static-n2 n2 '{"kubernetes.io/config.mirror":"abc"}')")
    [ "$(code_of "$out")" = 403 ] || fail "mirror pod for another node: $out"
    as admin-token POST /api/v1/namespaces/default/pods "${JSON[@]}" -d "$(pod_json mine n1)" >/dev/null
    as admin-token POST /api/v1/namespaces/default/pods "${JSON[@]}" -d "$(pod_json theirs n2)" >/dev/null
    out=$(as node-token PATCH /api/v1/namespaces/default/pods/mine/status -H 'Content-Type: application/merge-patch+json' -d '{"status":{"phase":"Running"}}')
    [ "$(code_of "$out")" = 200 ] || fail "status of own pod: $out"
    out=$(as node-token PATCH /api/v1/namespaces/default/pods/theirs/status -H 'Content-Type: application/merge-patch+json' -d '{"status":{"phase":"Running"}}')
    [ "$(code_of "$out")" = 403 ] || fail "status of another node's pod: $out"
    out=$(as node-token PATCH /api/v1/namespaces/default/pods/mine -H 'Content-Type: application/merge-patch+json' -d '{"metadata":{"labels":{"x":"y"}}}')
    [ "$(code_of "$out")" = 403 ] || fail "node changed a pod spec/metadata: $out"
    out=$(as node-token DELETE /api/v1/namespaces/default/pods/theirs "${JSON[@]}" -d '{"gracePeriodSeconds":0}')
    [ "$(code_of "$out")" = 403 ] || fail "node deleted another node's pod: $out"
    out=$(as node-token DELETE /api/v1/namespaces/default/pods/mine "${JSON[@]}" -d '{"gracePeriodSeconds":0}')
    [ "$(code_of "$out")" = 200 ] || fail "final delete: $out"
    out=$(as node-token POST /api/v1/namespaces/default/events "${JSON[@]}" -d '{"metadata":{"name":"e1"},"involvedObject":{"kind":"Node","name":"n1"},"reason":"Started","message":"m","type":"Normal"}')
    [ "$(code_of "$out")" = 201 ] || fail "node event: $out"
    # the scheduler binds, the proxy reads
    as admin-token POST /api/v1/namespaces/default/pods "${JSON[@]}" -d "$(pod_json unbound)" >/dev/null
    out=$(as sched-token POST /api/v1/namespaces/default/pods/unbound/binding "${JSON[@]}" -d '{"metadata":{"name":"unbound"},"target":{"kind":"Node","name":"n1"}}')
    [ "$(code_of "$out")" = 201 ] || fail "bind: $out"
    stop_https_api
}

# can_i_listed LIST_OUTPUT VERB RESOURCE[.GROUP][/SUB] [NAME]: whether a line of
# `kubectl auth can-i --list` output covers the request (RBAC matching: "*.*", "*" verbs,
# empty resource names = every name). Prints yes or no.
can_i_listed() {
    python3 - "$@" <<'PYEOF'
import re, sys
out, verb, res = sys.argv[1], sys.argv[2], sys.argv[3]
name = sys.argv[4] if len(sys.argv) > 4 else ""
ok = False
for line in out.splitlines()[1:]:
    m = re.match(r'^(\S*)\s+\[(.*?)\]\s+\[(.*?)\]\s+\[(.*?)\]\s*$', line)
    if not m or not m.group(1):
        continue
    names, verbs = m.group(3).split(), m.group(4).split()
    if m.group(1) not in ("*.*", res) or not ("*" in verbs or verb in verbs):
        continue
    if names and name not in names:
        continue
    ok = True
print("yes" if ok else "no")
PYEOF
}

test_kubectl_auth_can_i_list_tells_the_enforced_rules() {
    start_cluster
    local out c
    out=$("${K[@]}" auth can-i --list 2>&1) || fail "admin --list: $out"
    grep -Eq '^\*\.\* +\[\] +\[\] +\[\*\]$' <<<"$out" || fail "admin resources: $out"
    grep -Eq '^ +\[\*\] +\[\] +\[\*\]$' <<<"$out" || fail "admin non-resource: $out"
    grep -q 'Warning' <<<"$out" && fail "admin list incomplete: $out"
    out=$("${K[@]}" --context viewer auth can-i --list 2>&1) || fail "viewer --list: $out"
    grep -Eq '^pods +\[\] +\[\] +\[get list watch\]$' <<<"$out" || fail "viewer pods: $out"
    grep -Eq '^deployments\.apps/scale +\[\] +\[\] +\[get list watch\]$' <<<"$out" || fail "viewer scale: $out"
    grep -Eq '^pods/log +\[\] +\[\] +\[get\]$' <<<"$out" || fail "viewer logs: $out"
    grep -Eq '^ +\[/version\] +\[\] +\[get\]$' <<<"$out" || fail "viewer discovery: $out"
    grep -Eq '^secrets ' <<<"$out" && fail "viewer lists secrets: $out"
    grep -E '\[(create|delete|patch|update|\*)\]' <<<"$out" | grep -vq selfsubject && fail "viewer writes: $out"
    # the review in JSON, and legacy discovery lists it (kubectl used aggregated)
    out=$(as viewer-token POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews "${JSON[@]}" -d '{"spec":{"namespace":"default"}}')
    [ "$(code_of "$out")" = 201 ] || fail "SSRR JSON: $out"
    [ "$(body_of "$out" | jget '" ".join(map(str, [d["kind"], d["apiVersion"], d["spec"]["namespace"], d["status"]["incomplete"], "secrets" in str(d["status"]["resourceRules"])]))')" = "SelfSubjectRulesReview authorization.k8s.io/v1 default False False" ] || fail "SSRR body: $out"
    out=$(as viewer-token GET /apis/authorization.k8s.io/v1)
    [ "$(body_of "$out" | jget '" ".join(r["name"] for r in d["resources"])')" = "selfsubjectaccessreviews selfsubjectrulesreviews" ] || fail "legacy discovery: $out"
    out=$(as viewer-token GET /apis)
    grep -q '"name":"authorization.k8s.io"' <<<"$out" || fail "legacy group list: $out"
    # only create is allowed (and served) on the reviews: authorization first, as in Kubernetes
    out=$(as viewer-token GET /apis/authorization.k8s.io/v1/selfsubjectrulesreviews)
    [ "$(code_of "$out")" = 403 ] || fail "viewer GET on the review: $out"
    out=$(as admin-token GET /apis/authorization.k8s.io/v1/selfsubjectrulesreviews)
    [ "$(code_of "$out")" = 405 ] || fail "admin GET on the review: $out"
    out=$("${K[@]}" --context sched auth can-i --list -n web 2>&1) || fail "sched --list: $out"
    grep -Eq '^pods/binding +\[\] +\[\] +\[create\]$' <<<"$out" || fail "sched binding: $out"
    grep -Eq '^pods/status +\[\] +\[\] +\[get patch update\]$' <<<"$out" || fail "sched status: $out"
    grep -Eq '^leases\.coordination\.k8s\.io +\[\] +\[\] +\[\*\]$' <<<"$out" || fail "sched leases: $out"
    # every listing agrees with what `auth can-i VERB RESOURCE` (the server's decision) says
    local checks=(
        "get pods" "list pods" "delete pods" "create pods/binding" "patch pods/status"
        "get secrets" "list secrets" "create deployments.apps" "get deployments.apps/scale"
        "patch deployments.apps/scale" "watch nodes" "patch nodes" "delete namespaces"
        "get pods/log" "create gitrepositories.bosun.io" "list leases.coordination.k8s.io"
        "create events" "get endpoints"
    )
    for c in admin viewer sched gitsync; do
        local list want got verb res sub args
        list=$("${K[@]}" --context $c auth can-i --list 2>/dev/null)
        for chk in "${checks[@]}"; do
            verb=${chk%% *} res=${chk#* } sub=
            args=("$res")
            if [[ $res == */* ]]; then sub=${res#*/} res=${res%/*} args=("$res" --subresource="$sub"); fi
            want=$(can_i_listed "$list" "$verb" "${res}${sub:+/$sub}")
            got=$("${K[@]}" --context $c auth can-i "$verb" "${args[@]}" 2>/dev/null) || true
            [ "${got%% *}" = "$want" ] || fail "$c: can-i $verb ${args[*]} says '$got', --list says $want"
        done
    done
    stop_https_api
}

# The node may read the Secrets and ConfigMaps its pods use, nothing else (Kubernetes'
# node authorizer); kubectl, curl for the exact Status bodies.
test_node_reads_only_the_secrets_and_configmaps_of_its_pods() {
    start_cluster
    local out n
    for n in s1 s2 pull; do "${K[@]}" create secret generic $n --from-literal=k=v >/dev/null; done
    for n in c1 c2; do "${K[@]}" create configmap $n --from-literal=k=v >/dev/null; done
    out=$(as admin-token POST /api/v1/namespaces/default/pods "${JSON[@]}" -d '{"metadata":{"name":"uses"},"spec":{"nodeName":"n1","imagePullSecrets":[{"name":"pull"}],"volumes":[{"name":"v","secret":{"secretName":"s1"}}],"containers":[{"name":"c","image":"busybox:1.35","env":[{"name":"A","valueFrom":{"configMapKeyRef":{"name":"c1","key":"k"}}}]}]}}')
    [ "$(code_of "$out")" = 201 ] || fail "pod: $out"
    as admin-token POST /api/v1/namespaces/default/pods "${JSON[@]}" -d '{"metadata":{"name":"elsewhere"},"spec":{"nodeName":"n2","volumes":[{"name":"v","secret":{"secretName":"s2"}}],"containers":[{"name":"c","image":"busybox:1.35"}]}}' >/dev/null
    # referenced by its pod: readable, by kubectl too
    [ "$("${K[@]}" --context node get secret s1 -o jsonpath='{.data.k}')" = dg== ] || fail "node get s1"
    "${K[@]}" --context node get secret pull >/dev/null || fail "image pull secret"
    "${K[@]}" --context node get configmap c1 >/dev/null || fail "node get c1"
    out=$(as node-token GET '/api/v1/namespaces/default/secrets?fieldSelector=metadata.name%3Ds1&watch=true&timeoutSeconds=1')
    [ "$(code_of "$out")" = 200 ] && grep -q '"type":"ADDED"' <<<"$out" || fail "single-object watch: $out"
    # another node's secret, an unused configmap: Forbidden with the node authorizer's reason
    out=$(as node-token GET /api/v1/namespaces/default/secrets/s2)
    [ "$(code_of "$out")" = 403 ] || fail "s2: $out"
    [ "$(body_of "$out" | jget '" ".join(map(str, [d["kind"], d["status"], d["reason"], d["code"], json.dumps(d["details"], sort_keys=True)]))')" = "Status Failure Forbidden 403 {\"kind\": \"secrets\", \"name\": \"s2\"}" ] || fail "s2 status: $out"
    [ "$(body_of "$out" | jget 'd["message"]')" = "secrets \"s2\" is forbidden: User \"system:node:n1\" cannot get resource \"secrets\" in API group \"\" in the namespace \"default\": no relationship found between node 'n1' and this object" ] || fail "s2 message: $out"
    out=$("${K[@]}" --context node get configmap c2 2>&1) && fail "node read c2: $out"
    grep -qF "Error from server (Forbidden): configmaps \"c2\" is forbidden: User \"system:node:n1\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"default\": no relationship found between node 'n1' and this object" <<<"$out" || fail "c2 message: $out"
    # lists and watches of many
    out=$(as node-token GET /api/v1/secrets)
    [ "$(code_of "$out")" = 403 ] || fail "all secrets: $out"
    [ "$(body_of "$out" | jget 'd["message"]')" = 'secrets is forbidden: User "system:node:n1" cannot list resource "secrets" in API group "" at the cluster scope: can only read namespaced object of this type' ] || fail "all secrets message: $out"
    out=$("${K[@]}" --context node get secrets 2>&1) && fail "node listed secrets: $out"
    grep -qF 'secrets is forbidden: User "system:node:n1" cannot list resource "secrets" in API group "" in the namespace "default": No Object name found' <<<"$out" || fail "list message: $out"
    out=$(as node-token GET '/api/v1/configmaps?watch=true')
    [ "$(code_of "$out")" = 403 ] || fail "watch all configmaps: $out"
    # auth can-i and --list say the same
    [ "$("${K[@]}" --context node auth can-i get secrets/s1)" = yes ] || fail "can-i s1"
    out=$("${K[@]}" --context node auth can-i get secrets/s2) && fail "can-i s2: $out"
    [ "$out" = "no - no relationship found between node 'n1' and this object" ] || fail "can-i s2 reason: $out"
    [ "$("${K[@]}" --context node auth can-i delete pods/uses)" = yes ] || fail "can-i final delete of its pod"
    "${K[@]}" --context node auth can-i delete pods/elsewhere >/dev/null && fail "can-i delete another node's pod"
    out=$("${K[@]}" --context node auth can-i --list 2>&1) || fail "node --list: $out"
    grep -Eq '^secrets +\[\] +\[s1\] +\[get list watch\]$' <<<"$out" || fail "node secrets rule: $out"
    grep -Eq '^secrets +\[\] +\[pull\] +\[get list watch\]$' <<<"$out" || fail "node pull secret rule: $out"
    grep -Eq '^secrets +\[\] +\[s2\]' <<<"$out" && fail "another node's secret listed: $out"
    grep -Eq '^configmaps +\[\] +\[c1\] +\[get list watch\]$' <<<"$out" || fail "node configmaps rule: $out"
    grep -Eq '^pods +\[\] +\[uses\] +\[delete\]$' <<<"$out" || fail "node pods rule: $out"
    grep -Eq '^nodes/status +\[\] +\[n1\] +\[get patch update\]$' <<<"$out" || fail "node status rule: $out"
    grep -q 'Warning: the list may be incomplete: creating a mirror pod' <<<"$out" || fail "mirror pods not said: $out"
    # once the pod is gone, so is the relationship
    as node-token DELETE /api/v1/namespaces/default/pods/uses "${JSON[@]}" -d '{"gracePeriodSeconds":0}' >/dev/null
    out=$(as node-token GET /api/v1/namespaces/default/secrets/s1)
    [ "$(code_of "$out")" = 403 ] || fail "s1 after the pod left: $out"
    stop_https_api
}

test_per_user_request_rate_and_watch_limits() {
    start_cluster --max-requests-per-user 1 --max-request-burst-per-user 3 --max-watches-per-user 1
    local i codes="" code out
    for i in $(seq 1 20); do
        code=$("${CURL[@]}" -s -D "$TEST_TMP/h" -o "$TEST_TMP/b" -w '%{http_code}' -H 'Authorization: Bearer viewer-token' "$API/api/v1/namespaces")
        codes+=" $code"
        [ "$code" = 429 ] && break
    done
    [ "$code" = 429 ] || fail "no 429 in: $codes"
    [ "${codes:1:3}" = 200 ] || fail "the burst was not served: $codes"
    grep -qi '^Retry-After: [0-9]' "$TEST_TMP/h" || fail "Retry-After: $(cat "$TEST_TMP/h")"
    grep -q '"reason":"TooManyRequests"' "$TEST_TMP/b" && grep -q '"code":429' "$TEST_TMP/b" || fail "status: $(cat "$TEST_TMP/b")"
    # another user is not starved
    [ "$("${CURL[@]}" -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer admin-token' "$API/api/v1/namespaces")" = 200 ] || fail "admin starved"
    # watches: one per user here
    "${CURL[@]}" -sN -H 'Authorization: Bearer admin-token' "$API/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=20" >/dev/null &
    local w=$!
    defer "kill $w"
    sleep 1
    out=$("${CURL[@]}" -s -w '\nHTTP %{http_code}\n' -H 'Authorization: Bearer admin-token' "$API/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=2")
    [ "$(code_of "$out")" = 429 ] && grep -q 'too many open watches' <<<"$out" || fail "second watch: $out"
    kill $w
    wait $w 2>/dev/null || true
    sleep 1
    out=$("${CURL[@]}" -s -w '\nHTTP %{http_code}\n' -H 'Authorization: Bearer admin-token' "$API/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1")
    [ "$(code_of "$out")" = 200 ] || fail "slot not given back: $out"
    stop_https_api
}

test_namespace_termination() {
    start_cluster
    local out
    "${K[@]}" create namespace t1 >/dev/null
    "${K[@]}" -n t1 create configmap c1 --from-literal=a=b >/dev/null
    as admin-token POST /api/v1/namespaces/t1/pods "${JSON[@]}" -d "$(pod_json bound n1)" >/dev/null
    as admin-token POST /api/v1/namespaces/t1/pods "${JSON[@]}" -d "$(pod_json unbound)" >/dev/null
    out=$("${K[@]}" delete namespace t1 --wait=false 2>&1) || fail "delete ns: $out"
    out=$("${K[@]}" get namespace t1 --no-headers 2>&1)
    grep -q Terminating <<<"$out" || fail "not Terminating: $out"
    wait_for 10 sh -c "! ${K[*]} -n t1 get configmap c1 >/dev/null 2>&1" || fail "contents not deleted"
    out=$("${K[@]}" -n t1 get pod bound -o jsonpath='{.metadata.deletionTimestamp}' 2>&1)
    [ -n "$out" ] || fail "bound pod not marked for graceful deletion: $out"
    "${K[@]}" -n t1 get pod unbound >/dev/null 2>&1 && fail "unbound pod still there"
    out=$("${K[@]}" -n t1 create configmap c2 --from-literal=a=b 2>&1) && fail "created in terminating ns"
    grep -qF 'unable to create new content in namespace t1 because it is being terminated' <<<"$out" || fail "message: $out"
    # the node sends the final delete; then the namespace goes away
    out=$(as node-token DELETE /api/v1/namespaces/t1/pods/bound "${JSON[@]}" -d '{"gracePeriodSeconds":0}')
    [ "$(code_of "$out")" = 200 ] || fail "final delete: $out"
    wait_for 10 sh -c "! ${K[*]} get namespace t1 >/dev/null 2>&1" || fail "namespace not removed"
    out=$("${K[@]}" delete namespace default 2>&1) && fail "deleted default"
    stop_https_api
}

test_foreground_deletion_finalizers_and_dry_run() {
    start_cluster
    local out uid
    out=$(as admin-token POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d '{"metadata":{"name":"owner"}}')
    uid=$(body_of "$out" | jget 'd["metadata"]["uid"]')
    as admin-token POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d "{\"metadata\":{\"name\":\"dep\",\"finalizers\":[\"test.bosun.io/hold\"],\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"owner\",\"uid\":\"$uid\"}]}}" >/dev/null
    # dryRun=All changes nothing
    out=$(as admin-token DELETE '/api/v1/namespaces/default/configmaps/owner?dryRun=All')
    [ "$(code_of "$out")" = 200 ] || fail "dry-run delete: $out"
    "${K[@]}" get configmap owner >/dev/null || fail "dry run deleted"
    out=$(as admin-token POST '/api/v1/namespaces/default/configmaps?dryRun=All' "${JSON[@]}" -d '{"metadata":{"name":"dry"}}')
    [ "$(code_of "$out")" = 201 ] || fail "dry-run create: $out"
    "${K[@]}" get configmap dry >/dev/null 2>&1 && fail "dry run created"
    "${K[@]}" delete configmap owner --cascade=foreground --wait=false >/dev/null
    out=$("${K[@]}" get configmap owner -o json) || fail "owner gone before its dependents"
    [ "$(jget '"foregroundDeletion" in d["metadata"]["finalizers"] and bool(d["metadata"]["deletionTimestamp"])' <<<"$out")" = True ] || fail "owner not marked: $out"
    out=$("${K[@]}" get configmap dep -o jsonpath='{.metadata.deletionTimestamp}')
    [ -n "$out" ] || fail "dependent not marked"
    # removing the last finalizer removes the dependent, then the owner
    "${K[@]}" patch configmap dep --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null
    wait_for 10 sh -c "! ${K[*]} get configmap dep >/dev/null 2>&1" || fail "dependent kept"
    wait_for 10 sh -c "! ${K[*]} get configmap owner >/dev/null 2>&1" || fail "owner kept"
    # orphan keeps the dependent and drops the reference
    out=$(as admin-token POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d '{"metadata":{"name":"o2"}}')
    uid=$(body_of "$out" | jget 'd["metadata"]["uid"]')
    as admin-token POST /api/v1/namespaces/default/configmaps "${JSON[@]}" -d "{\"metadata\":{\"name\":\"d2\",\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"o2\",\"uid\":\"$uid\"}]}}" >/dev/null
    "${K[@]}" delete configmap o2 --cascade=orphan >/dev/null
    [ "$("${K[@]}" get configmap d2 -o jsonpath='{.metadata.ownerReferences}')" = "" ] || fail "orphan kept the reference"
    stop_https_api
}

test_kubectl_server_side_apply_conflicts() {
    start_cluster
    local out
    cat >"$TEST_TMP/cm.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: ssa, namespace: default}
data: {a: "1", b: "2"}
EOF
    out=$("${K[@]}" apply --server-side -f "$TEST_TMP/cm.yaml" 2>&1) || fail "apply: $out"
    local rv
    rv=$("${K[@]}" get cm ssa -o jsonpath='{.metadata.resourceVersion}')
    sleep 1.1 # a re-apply in a later second must not change managedFields' time either
    "${K[@]}" apply --server-side -f "$TEST_TMP/cm.yaml" >/dev/null
    [ "$("${K[@]}" get cm ssa -o jsonpath='{.metadata.resourceVersion}')" = "$rv" ] || fail "re-apply is not idempotent"
    "${K[@]}" patch cm ssa --type merge -p '{"data":{"a":"9"}}' >/dev/null
    out=$("${K[@]}" apply --server-side -f "$TEST_TMP/cm.yaml" 2>&1) && fail "conflict not reported: $out"
    grep -qF 'Apply failed with 1 conflict: conflict with "kubectl-patch" using v1: .data.a' <<<"$out" || fail "conflict message: $out"
    out=$("${K[@]}" apply --server-side --force-conflicts -f "$TEST_TMP/cm.yaml" 2>&1) || fail "force: $out"
    [ "$("${K[@]}" get cm ssa -o jsonpath='{.data.a}')" = 1 ] || fail "force did not take the field"
    out=$("${K[@]}" get cm ssa -o json --show-managed-fields)
    [ "$(jget '[m["manager"] for m in d["metadata"]["managedFields"] if "f:a" in m["fieldsV1"].get("f:data",{})]' <<<"$out")" = "['kubectl']" ] || fail "ownership after force: $out"
    # a field the manager stops applying is removed; one another manager set survives
    "${K[@]}" patch cm ssa --type merge -p '{"data":{"c":"3"}}' >/dev/null
    sed -i 's/, b: "2"//' "$TEST_TMP/cm.yaml"
    "${K[@]}" apply --server-side -f "$TEST_TMP/cm.yaml" >/dev/null
    [ "$("${K[@]}" get cm ssa -o jsonpath='{.data}')" = '{"a":"1","c":"3"}' ] || fail "removal: $("${K[@]}" get cm ssa -o jsonpath='{.data}')"
    # two appliers on one field with different values conflict; equal values co-own
    out=$("${K[@]}" apply --server-side --field-manager other -f "$TEST_TMP/cm.yaml" 2>&1) || fail "co-own: $out"
    sed -i 's/a: "1"/a: "5"/' "$TEST_TMP/cm.yaml"
    out=$("${K[@]}" apply --server-side --field-manager other -f "$TEST_TMP/cm.yaml" 2>&1) && fail "shared field changed: $out"
    grep -qF 'conflict with "kubectl": .data.a' <<<"$out" || fail "apply-vs-apply message: $out"
    stop_https_api
}

test_kubectl_diff_edit_patch_annotate_delete_create() {
    start_cluster
    local out
    "${K[@]}" create configmap cfg --from-literal=a=1 >/dev/null || fail "create configmap"
    "${K[@]}" create secret generic sec --from-literal=p=s >/dev/null || fail "create secret"
    [ "$("${K[@]}" get secret sec -o jsonpath='{.data.p}')" = "cw==" ] || fail "secret data"
    "${K[@]}" create namespace made >/dev/null || fail "create namespace"
    # diff: exit 1 and the change shown, nothing written
    "${K[@]}" get cm cfg -o yaml | sed 's/a: "1"/a: "2"/' >"$TEST_TMP/cfg.yaml"
    out=$("${K[@]}" diff -f "$TEST_TMP/cfg.yaml" 2>&1) && fail "diff found nothing: $out"
    grep -q '^+  a: "2"' <<<"$out" || fail "diff output: $out"
    [ "$("${K[@]}" get cm cfg -o jsonpath='{.data.a}')" = 1 ] || fail "diff wrote"
    # edit through KUBE_EDITOR
    printf '#!/bin/sh\nsed -i "s/a: \\"1\\"/a: \\"7\\"/" "$1"\n' >"$TEST_TMP/editor"
    chmod +x "$TEST_TMP/editor"
    KUBE_EDITOR="$TEST_TMP/editor" "${K[@]}" edit cm cfg >/dev/null || fail "edit"
    [ "$("${K[@]}" get cm cfg -o jsonpath='{.data.a}')" = 7 ] || fail "edit not applied"
    # the three patch types
    "${K[@]}" patch cm cfg --type strategic -p '{"data":{"s":"1"}}' >/dev/null || fail "smp"
    "${K[@]}" patch cm cfg --type merge -p '{"data":{"m":"1"}}' >/dev/null || fail "merge"
    "${K[@]}" patch cm cfg --type json -p '[{"op":"add","path":"/data/j","value":"1"}]' >/dev/null || fail "json"
    [ "$("${K[@]}" get cm cfg -o jsonpath='{.data}')" = '{"a":"7","j":"1","m":"1","s":"1"}' ] || fail "patches: $("${K[@]}" get cm cfg -o jsonpath='{.data}')"
    out=$("${K[@]}" patch cm cfg --type json -p '[{"op":"test","path":"/data/a","value":"x"}]' 2>&1) && fail "failed test op accepted"
    "${K[@]}" annotate cm cfg team=core >/dev/null || fail "annotate"
    [ "$("${K[@]}" get cm cfg -o jsonpath='{.metadata.annotations.team}')" = core ] || fail "annotation"
    # delete -l
    for n in l1 l2 l3; do "${K[@]}" create configmap $n >/dev/null; done
    "${K[@]}" label cm l1 l2 tier=x >/dev/null
    out=$("${K[@]}" delete cm -l tier=x 2>&1) || fail "delete -l: $out"
    [ "$("${K[@]}" get cm -o name | grep -c '/l[0-9]')" = 1 ] || fail "delete -l left: $("${K[@]}" get cm -o name)"
    # api-resources lists names, short names, groups, verbs
    out=$("${K[@]}" api-resources -o wide)
    grep -Eq '^deployments +deploy +apps/v1 +true +Deployment +create,delete,get,list,patch,update,watch' <<<"$out" || fail "api-resources: $out"
    grep -Eq '^gitrepositories +gitrepo +bosun.io/v1' <<<"$out" || fail "gitrepo: $out"
    # tables for the other kinds
    out=$("${K[@]}" get leases -A 2>&1)
    out=$("${K[@]}" get cm cfg)
    grep -Eq '^NAME +DATA +AGE' <<<"$out" || fail "cm table: $out"
    stop_https_api
}

# A fake kubelet for logs: /containerLogs/{ns}/{pod}/{c}?follow=true streams three lines.
fake_kubelet() {
    cat >"$TEST_TMP/kubelet.py" <<'EOF'
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        follow = "follow=true" in self.path
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(3):
            line = ("line %d %s\n" % (i, self.path.split("?")[0])).encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
            if follow:
                time.sleep(0.3)
        self.wfile.write(b"0\r\n\r\n")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
    KPORT=$(free_port)
    $PY "$TEST_TMP/kubelet.py" "$KPORT" &
    defer "kill $!"
}

test_kubectl_describe_events_and_logs_follow() {
    start_cluster
    fake_kubelet
    local out
    as node-token POST /api/v1/nodes "${JSON[@]}" -d "{\"metadata\":{\"name\":\"n1\"},\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}],\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":$KPORT}}}}" >/dev/null
    out=$(as admin-token POST /api/v1/namespaces/default/pods "${JSON[@]}" -d "$(pod_json web n1)")
    local uid
    uid=$(body_of "$out" | jget 'd["metadata"]["uid"]')
    out=$(as node-token POST /api/v1/namespaces/default/events "${JSON[@]}" -d "{\"metadata\":{\"name\":\"web.1\"},\"involvedObject\":{\"kind\":\"Pod\",\"namespace\":\"default\",\"name\":\"web\",\"uid\":\"$uid\"},\"reason\":\"Pulled\",\"message\":\"image busybox:1.35 present\",\"type\":\"Normal\",\"count\":1,\"firstTimestamp\":\"2026-01-01T00:00:00Z\",\"lastTimestamp\":\"2026-01-01T00:00:00Z\",\"source\":{\"component\":\"nodeagent\",\"host\":\"n1\"}}")
    [ "$(code_of "$out")" = 201 ] || fail "event: $out"
    out=$("${K[@]}" describe pod web 2>&1) || fail "describe: $out"
    grep -Eq 'Normal +Pulled +.*nodeagent.*image busybox:1.35 present' <<<"$out" || fail "describe events: $out"
    out=$("${K[@]}" get events --field-selector involvedObject.name=web,reason=Pulled 2>&1)
    grep -q Pulled <<<"$out" || fail "event field selector: $out"
    out=$("${K[@]}" logs web 2>&1) || fail "logs: $out"
    grep -q 'line 0 /containerLogs/default/web/c' <<<"$out" || fail "logs body: $out"
    out=$(timeout 10 "${K[@]}" logs -f web 2>&1) || fail "logs -f: $out"
    [ "$(grep -c '^line ' <<<"$out")" = 3 ] || fail "logs -f lines: $out"
    stop_https_api
}

test_kubectl_rollout_status() {
    start_cluster
    local out
    as node-token POST /api/v1/nodes "${JSON[@]}" -d '{"metadata":{"name":"n1"}}' >/dev/null
    "${K[@]}" apply -f - >/dev/null <<'EOF' || fail "apply deployment"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: "busybox:1.35"}]}
EOF
    "${K[@]}" rollout status deployment/web --timeout=1s >/dev/null 2>&1 && fail "rolled out without ready pods"
    wait_for 20 sh -c "[ \$(${K[*]} get pods -l app=web -o name | wc -l) -eq 2 ]" || fail "controllers made no pods"
    # act as the scheduler and the node: bind, then report Ready through /status
    local p ts
    ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    for p in $("${K[@]}" get pods -l app=web -o jsonpath='{.items[*].metadata.name}'); do
        out=$(as sched-token POST "/api/v1/namespaces/default/pods/$p/binding" "${JSON[@]}" -d "{\"metadata\":{\"name\":\"$p\"},\"target\":{\"kind\":\"Node\",\"name\":\"n1\"}}")
        [ "$(code_of "$out")" = 201 ] || fail "bind $p: $out"
        out=$(as node-token PATCH "/api/v1/namespaces/default/pods/$p/status" -H 'Content-Type: application/merge-patch+json' -d "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"$ts\"}],\"containerStatuses\":[{\"name\":\"c\",\"image\":\"busybox:1.35\",\"imageID\":\"\",\"ready\":true,\"restartCount\":0,\"state\":{\"running\":{\"startedAt\":\"$ts\"}}}]}}")
        [ "$(code_of "$out")" = 200 ] || fail "status $p: $out"
    done
    out=$("${K[@]}" rollout status deployment/web --timeout=30s 2>&1) || fail "rollout status: $out"
    grep -q 'deployment "web" successfully rolled out' <<<"$out" || fail "rollout output: $out"
    out=$("${K[@]}" get deploy web --no-headers)
    grep -Eq '^web +2/2 +2 +2 ' <<<"$out" || fail "deploy table: $out"
    stop_https_api
}

run_tests
