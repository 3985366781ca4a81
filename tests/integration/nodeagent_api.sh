#!/usr/bin/env bash
# nodeagent against a real reconcilerd: node registration and heartbeat, podCIDR from the
# node IPAM controller, pods bound through the API run under runc with status written
# back, logs through the API's log subresource, deletion finished by the node, mirror
# pods for static pods, the kubelet's Events in `kubectl describe pod`. reconcilerd
# serves HTTPS (kubectl sends tokens only there) and authorizes: the agent is
# system:node:<name> (group system:nodes, the node rules of reconcilerd/api/authz.c), the
# test an admin.
source "$(dirname "$0")/../lib.sh"

api_setup() {
    [ "$(id -u)" = 0 ] || skip "needs root (network namespaces, runc)"
    local t
    for t in runc conmon ip curl jq openssl; do
        command -v "$t" >/dev/null || skip "$t not installed (make deps)"
    done
    [ -x /usr/lib/cni/bridge ] || skip "containernetworking-plugins not installed (make deps)"
    [ -x "$BOSUN_BIN/nodeagent" ] || fail "no $BOSUN_BIN/nodeagent"
    [ -x "$BOSUN_BIN/reconcilerd" ] || fail "no $BOSUN_BIN/reconcilerd"
    BR=bsa$((RANDOM % 90000 + 10000))
    OCTET=$((200 + RANDOM % 50))
    NODE=nsa$RANDOM$RANDOM
    ROOT=$TEST_TMP/root
    MAN=$TEST_TMP/manifests
    mkdir -p "$MAN"
    IMAGES=$BOSUN_TOP/build/images
    if [ ! -f "$IMAGES/busybox/index.json" ]; then
        IMAGES=$TEST_TMP/images
        sh "$BOSUN_TOP/tools/mkimage-busybox.sh" "$IMAGES/busybox" >/dev/null
    fi
    AGENT= API_PID=
    defer api_cleanup
    set -E
    trap 'echo "--- agent log (last 40 lines):"; tail -n 40 "$TEST_TMP/agent.log" 2>/dev/null' ERR

    local port
    port=$(free_port)
    API=https://127.0.0.1:$port
    printf 'admin-token,admin,1,"system:masters"\nnode-token,system:node:%s,2,"system:nodes"\n' \
        "$NODE" >"$TEST_TMP/tokens.csv"
    echo node-token >"$TEST_TMP/node.token"
    make_pki "$TEST_TMP/pki"
    CA=$TEST_TMP/pki/ca.crt
    CURL=(curl --cacert "$CA" -H "Authorization: Bearer admin-token")
    # The whole cluster CIDR is one /24: the node's podCIDR is known in advance.
    "$BOSUN_BIN/reconcilerd" --listen "127.0.0.1:$port" --data-dir "$TEST_TMP/store" \
        --tls-cert-file "$TEST_TMP/pki/server.crt" --tls-private-key-file "$TEST_TMP/pki/server.key" \
        --token-auth-file "$TEST_TMP/tokens.csv" \
        --cluster-cidr "10.244.$OCTET.0/24" --node-cidr-mask 24 >"$TEST_TMP/reconcilerd.log" 2>&1 &
    API_PID=$!
    wait_for 30 "${CURL[@]}" -sf "$API/api/v1/namespaces/default" || fail "reconcilerd did not come up"
}

api_cleanup() {
    [ -n "$AGENT" ] && kill -9 "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null
    local id f m
    if [ -d "$ROOT/runtime/runc" ]; then
        for id in $(ls "$ROOT/runtime/runc"); do
            runc --root "$ROOT/runtime/runc" delete --force "$id" 2>/dev/null
        done
    fi
    for f in "$ROOT"/pods/*/state.json; do
        [ -f "$f" ] || continue
        ip netns delete "$(jq -r .netns "$f")" 2>/dev/null
        rmdir /sys/fs/cgroup/*/bosun/"$(jq -r .pod.metadata.uid "$f")" 2>/dev/null
    done
    for m in $(awk -v r="$ROOT" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do
        umount -l "$m"
    done
    ip link delete "$BR" 2>/dev/null
    [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null
    true
}

start_agent() {
    LOGPORT=$(free_port)
    "$BOSUN_BIN/nodeagent" --node-name "$NODE" --node-ip 127.0.0.1 --root-dir "$ROOT" \
        --manifest-dir "$MAN" --bridge "$BR" --image-dir "$IMAGES" --server "$API" \
        --token-file "$TEST_TMP/node.token" --certificate-authority "$CA" \
        --listen "127.0.0.1:$LOGPORT" --log-level debug >>"$TEST_TMP/agent.log" 2>&1 &
    AGENT=$!
}

get() { "${CURL[@]}" -sf "$API$1"; }

# kube_setup: K=(kubectl ...) as the admin, through a kubeconfig with the token inline and
# the test CA's data.
kube_setup() {
    command -v kubectl >/dev/null || skip "kubectl not on PATH (the kubelet's events are read with kubectl describe)"
    KC=$TEST_TMP/kubeconfig
    cat >"$KC" <<EOF
apiVersion: v1
kind: Config
clusters:
- {name: bosun, cluster: {server: "$API", certificate-authority-data: $(base64 -w0 <"$CA")}}
users:
- {name: admin, user: {token: admin-token}}
contexts:
- {name: admin, context: {cluster: bosun, user: admin, namespace: default}}
current-context: admin
EOF
    K=(kubectl --kubeconfig "$KC" --cache-dir "$TEST_TMP/kcache" --request-timeout 20s)
}

# create_pod NAME IMAGE COMMAND-JSON: a pod bound to the node, container "main".
create_pod() {
    "${CURL[@]}" -sf -XPOST -H 'Content-Type: application/json' "$API/api/v1/namespaces/default/pods" -d "{
      \"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"$1\"},
      \"spec\": {\"nodeName\": \"$NODE\", \"terminationGracePeriodSeconds\": 1,
        \"containers\": [{\"name\": \"main\", \"image\": \"$2\", \"command\": $3}]}}" >/dev/null
}

# events_of POD: its Events as "type|reason|component|host|fieldPath|message" lines.
events_of() {
    get "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=$1" |
        jq -r '.items[] | [.type, .reason, .source.component, .source.host,
            (.involvedObject.fieldPath // ""), .message] | join("|")'
}
has_event() { events_of "$1" | grep -qxF "$2"; }
waiting_reason_is() {
    [ "$(get "/api/v1/namespaces/default/pods/$1" | jq -r '.status.containerStatuses[0].state.waiting.reason')" = "$2" ]
}
pod_phase_is() { [ "$(get "/api/v1/namespaces/default/pods/$1" | jq -r .status.phase)" = "$2" ]; }
gone() { [ "$("${CURL[@]}" -s -o /dev/null -w '%{http_code}' "$API$1")" = 404 ]; }

# write_static_pod: the static pod "static" (container c, sleep) in the manifest dir.
write_static_pod() {
    cat >"$MAN/static.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: static
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:1.35
    command: ["sleep", "3600"]
EOF
}

test_api_pods_run_report_and_go() {
    api_setup
    write_static_pod
    start_agent

    # Registration: addresses, the logs port, nodeInfo, Ready, podCIDR.
    wait_for 20 eval '[ "$(get /api/v1/nodes/$NODE | jq -r .spec.podCIDR)" = "10.244.$OCTET.0/24" ]' ||
        fail "node: $(get "/api/v1/nodes/$NODE")"
    local node
    node=$(get "/api/v1/nodes/$NODE")
    [ "$(echo "$node" | jq -r '.status.addresses[] | select(.type=="InternalIP") | .address')" = 127.0.0.1 ] ||
        fail "addresses: $(echo "$node" | jq -c .status.addresses)"
    [ "$(echo "$node" | jq .status.daemonEndpoints.kubeletEndpoint.Port)" = "$LOGPORT" ] || fail "port"
    [ "$(echo "$node" | jq '.status.nodeInfo | length')" = 10 ] || fail "nodeInfo"
    [ "$(echo "$node" | jq -r '.status.conditions[] | select(.type=="Ready") | .status')" = True ] ||
        fail "not Ready"
    [ "$(echo "$node" | jq -r .status.capacity.cpu)" = "$(nproc)" ] || fail "capacity"

    # The static pod shows as a mirror pod with its status.
    wait_for 30 pod_phase_is "static-$NODE" Running || fail "mirror: $(get "/api/v1/namespaces/default/pods/static-$NODE")"

    # A pod bound through the API runs; status and logs come back.
    local t0=$SECONDS
    "${CURL[@]}" -sf -XPOST -H 'Content-Type: application/json' "$API/api/v1/namespaces/default/pods" -d "{
      \"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"hello\"},
      \"spec\": {\"nodeName\": \"$NODE\", \"terminationGracePeriodSeconds\": 1,
        \"containers\": [{\"name\": \"main\", \"image\": \"busybox:1.35\",
          \"command\": [\"sh\", \"-c\", \"echo hello from the api; exec sleep 3600\"]}]}}" >/dev/null
    wait_for 30 pod_phase_is hello Running || fail "hello: $(get /api/v1/namespaces/default/pods/hello)"
    echo "API pod Running $((SECONDS - t0)) s after create"
    local ip
    ip=$(get /api/v1/namespaces/default/pods/hello | jq -r .status.podIP)
    case $ip in 10.244.$OCTET.*) ;; *) fail "podIP $ip" ;; esac
    wait_for 10 eval '[ "$(get /api/v1/namespaces/default/pods/hello/log)" = "hello from the api" ]' ||
        fail "log: $("${CURL[@]}" -s "$API/api/v1/namespaces/default/pods/hello/log")"

    # Delete: the node stops it and finishes the delete; its netns goes.
    local uid netns
    uid=$(get /api/v1/namespaces/default/pods/hello | jq -r .metadata.uid)
    netns=$(jq -r .netns "$ROOT/pods/$uid/state.json")
    "${CURL[@]}" -sf -XDELETE "$API/api/v1/namespaces/default/pods/hello" >/dev/null
    wait_for 20 gone /api/v1/namespaces/default/pods/hello || fail "pod not deleted"
    wait_for 10 eval '! ip netns list | grep -q "^$netns\b"' || fail "netns $netns left"

    # Removing the static file removes the mirror pod.
    rm "$MAN/static.yaml"
    wait_for 20 gone "/api/v1/namespaces/default/pods/static-$NODE" || fail "mirror pod left"

    kill -TERM "$AGENT"
    local rc=0
    wait "$AGENT" || rc=$?
    AGENT=
    [ $rc -eq 0 ] || fail "nodeagent exited $rc"
    ! ip link show "$BR" >/dev/null 2>&1 || fail "bridge $BR left"
}

# The kubelet's Events, as kubectl describe shows them: Pulled/Created/Started of an API
# pod and of a static pod's mirror (recorded before the mirror existed, posted once it
# did), BackOff of a crash loop, Failed/BackOff of a missing image, Killing on delete.
test_kubelet_events_in_kubectl_describe() {
    api_setup
    kube_setup
    write_static_pod
    start_agent
    create_pod hello busybox:1.35 '["sleep", "3600"]'
    wait_for 30 pod_phase_is hello Running || fail "hello: $(get /api/v1/namespaces/default/pods/hello)"

    local out line
    wait_for 10 has_event hello "Normal|Started|kubelet|$NODE|spec.containers{main}|Started container main" ||
        fail "events of hello: $(events_of hello)"
    out=$("${K[@]}" describe pod hello 2>&1) || fail "describe: $out"
    echo "$out" | sed -n '/^Events:/,$p'
    for line in 'Normal +Pulled +.* kubelet +Container image "busybox:1.35" already present on machine' \
        'Normal +Created +.* kubelet +Created container main' \
        'Normal +Started +.* kubelet +Started container main'; do
        grep -Eq "^ +$line\$" <<<"$out" || fail "describe hello lacks /$line/: $out"
    done
    # Exactly as the kubelet records them: about the container, from this node.
    for line in "Normal|Pulled|kubelet|$NODE|spec.containers{main}|Container image \"busybox:1.35\" already present on machine" \
        "Normal|Created|kubelet|$NODE|spec.containers{main}|Created container main"; do
        has_event hello "$line" || fail "no event $line: $(events_of hello)"
    done

    # The static pod's events show on its mirror pod: they name the static pod's uid, the
    # mirror's kubernetes.io/config.mirror, which is what kubectl describe looks for.
    wait_for 30 has_event "static-$NODE" "Normal|Started|kubelet|$NODE|spec.containers{c}|Started container c" ||
        fail "events of the mirror pod: $(events_of "static-$NODE")"
    local suid
    suid=$(get "/api/v1/namespaces/default/pods/static-$NODE" | jq -r '.metadata.annotations["kubernetes.io/config.mirror"]')
    [ "$(get "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name=static-$NODE,reason=Pulled" |
        jq -r '.items[0].involvedObject.uid')" = "$suid" ] || fail "static pod events not about uid $suid"
    out=$("${K[@]}" describe pod "static-$NODE" 2>&1) || fail "describe: $out"
    for line in 'Normal +Pulled +.* kubelet +Container image "busybox:1.35" already present on machine' \
        'Normal +Created +.* kubelet +Created container c' 'Normal +Started +.* kubelet +Started container c'; do
        grep -Eq "^ +$line\$" <<<"$out" || fail "describe static-$NODE lacks /$line/: $out"
    done

    # A container that keeps failing: the second restart waits, and says so.
    create_pod crash busybox:1.35 '["sh", "-c", "exit 1"]'
    local uid
    uid=$(get /api/v1/namespaces/default/pods/crash | jq -r .metadata.uid)
    wait_for 30 has_event crash "Warning|BackOff|kubelet|$NODE|spec.containers{main}|Back-off restarting failed container main in pod crash_default($uid)" ||
        fail "no BackOff: $(events_of crash)"
    out=$("${K[@]}" describe pod crash 2>&1) || fail "describe: $out"
    grep -Eq "^ +Warning +BackOff +.* kubelet +Back-off restarting failed container main in pod crash_default\($uid\)\$" <<<"$out" ||
        fail "describe crash: $out"

    # An image the node does not have: the pull fails, and the retry backs off.
    create_pod noimg busybox:0.0.1-missing '["true"]'
    wait_for 20 has_event noimg "Normal|BackOff|kubelet|$NODE|spec.containers{main}|Back-off pulling image \"busybox:0.0.1-missing\"" ||
        fail "no image BackOff: $(events_of noimg)"
    has_event noimg "Warning|Failed|kubelet|$NODE|spec.containers{main}|Failed to pull image \"busybox:0.0.1-missing\": image: busybox:0.0.1-missing: not found in $IMAGES (pulling from registries is not supported yet)" ||
        fail "no pull failure: $(events_of noimg)"
    has_event noimg "Warning|Failed|kubelet|$NODE|spec.containers{main}|Error: ErrImagePull" ||
        fail "no Error: ErrImagePull: $(events_of noimg)"
    wait_for 10 waiting_reason_is noimg ImagePullBackOff ||
        fail "noimg status: $(get /api/v1/namespaces/default/pods/noimg | jq -c .status.containerStatuses)"

    # Deleting a pod stops its container: Killing, kept after the pod is gone.
    "${CURL[@]}" -sf -XDELETE "$API/api/v1/namespaces/default/pods/hello" >/dev/null
    wait_for 20 gone /api/v1/namespaces/default/pods/hello || fail "pod not deleted"
    local q=".items[0] | .type == \"Normal\" and .message == \"Stopping container main\" and
        .source.component == \"kubelet\" and .source.host == \"$NODE\""
    wait_for 10 eval '"${K[@]}" get events --field-selector involvedObject.name=hello,reason=Killing -o json | jq -e "$q"' ||
        fail "no Killing: $(events_of hello)"

    kill -TERM "$AGENT"
    local rc=0
    wait "$AGENT" || rc=$?
    AGENT=
    [ $rc -eq 0 ] || fail "nodeagent exited $rc"
}

# kubectl logs through the API's log subresource, with the options the node must honour:
# --tail, -c (and a container the pod does not have), --previous of a restarted container.
test_kubectl_logs_tail_container_previous() {
    api_setup
    kube_setup
    start_agent
    create_pod talk busybox:1.35 '["sh", "-c", "echo one; echo two; echo three; sleep 3600"]'
    create_pod again busybox:1.35 '["sh", "-c", "echo run-$(cat /proc/sys/kernel/random/uuid); sleep 1; exit 1"]'
    wait_for 30 pod_phase_is talk Running || fail "talk: $(get /api/v1/namespaces/default/pods/talk)"
    local out
    wait_for 10 eval '[ "$("${K[@]}" logs talk 2>&1)" = "$(printf "one\ntwo\nthree")" ]' ||
        fail "logs talk: $("${K[@]}" logs talk 2>&1)"
    out=$("${K[@]}" logs talk --tail=2 2>&1) || fail "logs --tail: $out"
    [ "$out" = "$(printf 'two\nthree')" ] || fail "logs --tail=2: $out"
    out=$("${K[@]}" logs talk -c main --tail=1 2>&1) || fail "logs -c: $out"
    [ "$out" = three ] || fail "logs -c main --tail=1: $out"
    out=$("${K[@]}" logs talk -c nope 2>&1) && fail "logs -c nope succeeded: $out"
    grep -qF 'container nope is not valid for pod talk' <<<"$out" || fail "logs -c nope: $out"

    # the previous run of a restarted container, and the latest one, are different runs
    wait_for 60 eval '[ "$(get /api/v1/namespaces/default/pods/again | jq -r ".status.containerStatuses[0].restartCount")" -ge 1 ]' ||
        fail "again never restarted: $(get /api/v1/namespaces/default/pods/again)"
    local prev cur
    prev=$("${K[@]}" logs again --previous 2>&1) || fail "logs --previous: $prev"
    cur=$("${K[@]}" logs again 2>&1) || fail "logs: $cur"
    grep -Eqx 'run-[0-9a-f-]{36}' <<<"$prev" || fail "logs --previous: $prev"
    grep -Eqx 'run-[0-9a-f-]{36}' <<<"$cur" || fail "logs: $cur"
    [ "$prev" != "$cur" ] || fail "--previous gave the latest run: $prev"
}

run_tests
