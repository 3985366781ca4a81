#!/usr/bin/env bash
# nodeagent with static pods only (no API server): real runc containers through conmon,
# real network namespaces, the CNI bridge plugin on a bridge and /24 named for this run.
source "$(dirname "$0")/../lib.sh"

# ---- helpers -------------------------------------------------------------------------
na_setup() {
    [ "$(id -u)" = 0 ] || skip "needs root (network namespaces, runc)"
    local t
    for t in runc conmon ip curl jq; do
        command -v "$t" >/dev/null || skip "$t not installed (make deps)"
    done
    [ -x /usr/lib/cni/bridge ] || skip "containernetworking-plugins not installed (make deps)"
    [ -x "$BOSUN_BIN/nodeagent" ] || fail "no $BOSUN_BIN/nodeagent (make asan)"
    BR=bst$((RANDOM % 90000 + 10000))
    OCTET=$((200 + RANDOM % 50))
    CIDR=10.244.$OCTET.0/24
    NODE=nst$RANDOM$RANDOM
    ROOT=$TEST_TMP/root
    MAN=$TEST_TMP/manifests
    mkdir -p "$MAN"
    IMAGES=$BOSUN_TOP/build/images
    if [ ! -f "$IMAGES/busybox/index.json" ]; then
        IMAGES=$TEST_TMP/images
        sh "$BOSUN_TOP/tools/mkimage-busybox.sh" "$IMAGES/busybox" >/dev/null
    fi
    AGENT=
    defer na_cleanup
    # On an unexpected failure, show what the agent said.
    set -E
    trap 'echo "--- agent log (last 40 lines):"; tail -n 40 "$TEST_TMP/agent.log" 2>/dev/null' ERR
}

# Whatever a failed run left: the agent, its containers, mounts, namespaces, bridge.
na_cleanup() {
    [ -n "$AGENT" ] && kill -9 "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null
    local id f ns m
    if [ -d "$ROOT/runtime/runc" ]; then
        for id in $(ls "$ROOT/runtime/runc"); do
            runc --root "$ROOT/runtime/runc" delete --force "$id" 2>/dev/null
        done
    fi
    for f in "$ROOT"/pods/*/state.json; do
        [ -f "$f" ] || continue
        ns=$(jq -r .netns "$f")
        [ -n "$ns" ] && ip netns delete "$ns" 2>/dev/null
        rmdir /sys/fs/cgroup/*/bosun/"$(jq -r .pod.metadata.uid "$f")" 2>/dev/null
    done
    for m in $(awk -v r="$ROOT" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do
        umount -l "$m"
    done
    ip link delete "$BR" 2>/dev/null
    true
}

start_agent() {
    LOGPORT=$(free_port)
    "$BOSUN_BIN/nodeagent" --node-name "$NODE" --node-ip 127.0.0.1 --root-dir "$ROOT" \
        --manifest-dir "$MAN" --bridge "$BR" --pod-cidr "$CIDR" --image-dir "$IMAGES" \
        --server "" --listen "127.0.0.1:$LOGPORT" --log-level debug >>"$TEST_TMP/agent.log" 2>&1 &
    AGENT=$!
}

stop_agent() { # expects a clean exit 0
    kill -TERM "$AGENT"
    local rc=0
    wait "$AGENT" || rc=$?
    AGENT=
    [ $rc -eq 0 ] || { tail -30 "$TEST_TMP/agent.log"; fail "nodeagent exited $rc"; }
}

# Every uid of the pods named NAME (one per line; two while a replaced pod stops).
uid_of() {
    local f
    for f in "$ROOT"/pods/*/state.json; do
        [ -f "$f" ] || continue
        if [ "$(jq -r .pod.metadata.name "$f" 2>/dev/null)" = "$1" ]; then
            jq -r .pod.metadata.uid "$f" 2>/dev/null || true
        fi
    done
    return 0
}
# The status.json of the pod named NAME (the only one of that name), or nothing.
status_of() {
    local uids
    uids=$(uid_of "$1")
    [ -n "$uids" ] && [ "$(echo "$uids" | wc -l)" = 1 ] && cat "$ROOT/pods/$uids/status.json" 2>/dev/null
}
pod_running() { # NAME
    local st
    st=$(status_of "$1") || return 1
    [ "$(echo "$st" | jq -r .phase)" = Running ] &&
        [ "$(echo "$st" | jq -r '.containerStatuses[0].state | has("running")')" = true ]
}
pod_ip() { status_of "$1" | jq -r '.podIP // empty'; }
restarts_are() { [ "$(status_of "$1" | jq -r '.containerStatuses[0].restartCount')" = "$2" ]; }
page_is() { [ "$(curl -s -m 2 "http://$1:8080/")" = "$2" ]; }
our_netns() { ip netns list | awk '{print $1}' | grep -c "^$1\$" || true; }

write_web() { # PAGE [extra spec line]
    cat >"$MAN/web.yaml.tmp" <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox:1.35
    command: ["sh", "-c", "echo starting $1; echo to-stderr >&2; mkdir -p /www && echo $1 > /www/index.html && exec httpd -f -p 8080 -h /www"]
    resources:
      limits:
        memory: 64Mi
        cpu: 500m
${2:-}
EOF
    mv "$MAN/web.yaml.tmp" "$MAN/web.yaml"
}

# ---- tests -----------------------------------------------------------------------------
test_static_pod_serves_restarts_updates_and_goes_away() {
    na_setup
    write_web page-v1
    local t0=$SECONDS
    start_agent
    wait_for 30 pod_running "web-$NODE" || { tail -30 "$TEST_TMP/agent.log"; fail "pod not Running"; }
    echo "pod Running after $((SECONDS - t0)) s"
    local ip uid netns
    ip=$(pod_ip "web-$NODE")
    case $ip in 10.244.$OCTET.*) ;; *) fail "podIP $ip not in $CIDR" ;; esac
    wait_for 10 page_is "$ip" page-v1 || fail "page from $ip: $(curl -s -m 2 "http://$ip:8080/")"
    uid=$(uid_of "web-$NODE")
    netns=$(jq -r .netns "$ROOT/pods/$uid/state.json")
    [ "$(our_netns "$netns")" = 1 ] || fail "netns $netns missing"
    ls "$ROOT/logs/default_web-${NODE}_$uid/httpd/0.log" >/dev/null
    # The container's output through the agent's log endpoint, CRI prefixes stripped.
    wait_for 10 eval '[ "$(curl -s "http://127.0.0.1:$LOGPORT/containerLogs/default/web-$NODE/httpd")" = "$(printf "starting page-v1\nto-stderr")" ]' ||
        fail "logs: $(curl -s "http://127.0.0.1:$LOGPORT/containerLogs/default/web-$NODE/httpd")"
    [ "$(curl -s "http://127.0.0.1:$LOGPORT/containerLogs/default/web-$NODE/httpd?tailLines=1")" = to-stderr ] ||
        fail "tailLines=1: $(curl -s "http://127.0.0.1:$LOGPORT/containerLogs/default/web-$NODE/httpd?tailLines=1")"

    # Kill the container's process: restartPolicy Always brings it back (the first
    # restart without back-off).
    local id pid
    id=$(ls "$ROOT/runtime/runc")
    pid=$(runc --root "$ROOT/runtime/runc" state "$id" | jq .pid)
    kill -9 "$pid"
    wait_for 20 restarts_are "web-$NODE" 1 || fail "restartCount: $(status_of "web-$NODE" | jq .containerStatuses)"
    wait_for 20 pod_running "web-$NODE" || fail "not Running after the restart"
    [ "$(status_of "web-$NODE" | jq '.containerStatuses[0].lastState.terminated.exitCode')" = 137 ] ||
        fail "lastState: $(status_of "web-$NODE" | jq .containerStatuses[0].lastState)"
    wait_for 10 page_is "$ip" page-v1 || fail "no page after the restart"

    # Edit the file: the pod is replaced (new uid), serving the new page.
    write_web page-v2
    # (both pods exist for a moment: wait until only the new one is left)
    wait_for 30 eval '[ "$(uid_of "web-$NODE")" != "$uid" ] && pod_running "web-$NODE"' ||
        fail "pod not replaced"
    local ip2 uid2
    ip2=$(pod_ip "web-$NODE")
    uid2=$(uid_of "web-$NODE")
    wait_for 10 page_is "$ip2" page-v2 || fail "page after the edit from '$ip2': $(curl -s -m 2 "http://$ip2:8080/")"
    wait_for 10 eval '[ "$(our_netns "$netns")" = 0 ]' || fail "old netns $netns left"
    [ ! -e "$ROOT/cni/ipam/bosun/$ip" ] || [ "$ip" = "$ip2" ] || fail "old IP $ip not freed"

    # An invalid edit: reported with file:line, the running pod stays.
    write_web page-v3 "  restartPolicyy: Never"
    wait_for 10 grep -q "web.yaml:[0-9]*:[0-9]*: spec.restartPolicyy" "$TEST_TMP/agent.log" ||
        fail "no file:line error in the log"
    sleep 1
    [ "$(uid_of "web-$NODE")" = "$uid2" ] || fail "pod changed on an invalid edit"
    page_is "$ip2" page-v2 || fail "old pod stopped serving"

    # Editor droppings are ignored.
    echo 'garbage: [' >"$MAN/.web.yaml.swp"
    echo 'garbage: [' >"$MAN/web.yaml~"
    : >"$MAN/4913"
    sleep 0.5
    ! grep -q "swp\|yaml~\|4913" "$TEST_TMP/agent.log" || fail "editor files were read"

    # Delete the file: container, netns and IP go away.
    local netns2
    netns2=$(jq -r .netns "$ROOT/pods/$uid2/state.json")
    rm "$MAN/web.yaml"
    wait_for 20 eval '[ ! -d "$ROOT/pods/$uid2" ]' || fail "pod not removed"
    [ "$(our_netns "$netns2")" = 0 ] || fail "netns $netns2 left"
    [ -z "$(ls "$ROOT/runtime/runc")" ] || fail "containers left: $(ls "$ROOT/runtime/runc")"
    [ ! -e "$ROOT/cni/ipam/bosun/$ip2" ] || fail "IP $ip2 not freed"
    ! page_is "$ip2" page-v2 || fail "still serving"
    ! grep -q "$ROOT" /proc/mounts || fail "mounts left: $(grep "$ROOT" /proc/mounts)"

    # SIGTERM with nothing running: the bridge it created goes too.
    stop_agent
    ! ip link show "$BR" >/dev/null 2>&1 || fail "bridge $BR left"
}

test_agent_restart_adopts_running_containers() {
    na_setup
    write_web adopt-me
    start_agent
    wait_for 30 pod_running "web-$NODE" || { tail -30 "$TEST_TMP/agent.log"; fail "pod not Running"; }
    local ip id pid
    ip=$(pod_ip "web-$NODE")
    id=$(ls "$ROOT/runtime/runc")
    pid=$(runc --root "$ROOT/runtime/runc" state "$id" | jq .pid)

    # The agent dies hard; its container keeps serving and is adopted, not restarted.
    kill -9 "$AGENT"
    wait "$AGENT" 2>/dev/null || true
    AGENT=
    page_is "$ip" adopt-me || fail "container died with the agent"
    start_agent
    sleep 2
    [ "$(runc --root "$ROOT/runtime/runc" state "$id" | jq .pid)" = "$pid" ] || fail "container replaced"
    restarts_are "web-$NODE" 0 || fail "restartCount changed"
    [ "$(pod_ip "web-$NODE")" = "$ip" ] || fail "podIP changed"
    page_is "$ip" adopt-me || fail "not serving after adoption"

    # SIGTERM: every pod stopped, no netns, veth or bridge left.
    local netns
    netns=$(jq -r .netns "$ROOT/pods/$(uid_of "web-$NODE")/state.json")
    stop_agent
    [ "$(our_netns "$netns")" = 0 ] || fail "netns $netns left"
    ! ip link show "$BR" >/dev/null 2>&1 || fail "bridge $BR left"
    [ -z "$(ls "$ROOT/runtime/runc")" ] || fail "containers left"
    ! grep -q "$ROOT" /proc/mounts || fail "mounts left"
}

test_pod_without_pod_cidr_waits_and_says_why() {
    na_setup
    write_web nope
    "$BOSUN_BIN/nodeagent" --node-name "$NODE" --root-dir "$ROOT" --manifest-dir "$MAN" \
        --bridge "$BR" --image-dir "$IMAGES" --server "" --listen "" >>"$TEST_TMP/agent.log" 2>&1 &
    AGENT=$!
    wait_for 10 eval '[[ "$(status_of "web-$NODE" | jq -r ".message // empty")" == *podCIDR* ]]' ||
        fail "no reason in status: $(status_of "web-$NODE")"
    [ "$(status_of "web-$NODE" | jq -r .phase)" = Pending ] || fail "not Pending: $(status_of "web-$NODE")"
    stop_agent
}

run_tests
