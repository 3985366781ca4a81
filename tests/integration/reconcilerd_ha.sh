#!/usr/bin/env bash
# Several reconcilerd replicas on one real etcd (Debian etcd-server) on loopback: exactly
# one holds the Lease bosun-system/bosun-controllers and only it runs the controllers; a
# write through one replica is seen (get and watch) through the others; Services created
# at the same time through different replicas get distinct ClusterIPs and NodePorts; a
# leader killed with SIGKILL is replaced within the lease duration (15 s; the time is
# printed) and the new leader reconciles; a leader stopped with SIGTERM gives the Lease
# back and is replaced within seconds; a paused leader steps down when it runs again and
# can lead again later.
source "$(dirname "$0")/../lib.sh"

# note: a line for the person running the suite (run_tests keeps a passing test's output
# to itself); fd 3 is this script's stdout
exec 3>&1
note() { echo "      $*" >&3; }

# lib.sh's fail, plus what the daemons said
fail() {
    echo "      assertion failed: $*" >&2
    local f
    for f in "${TEST_TMP:-/nonexistent}"/*.log; do
        [ -f "$f" ] || continue
        echo "--- $(basename "$f")" >&2
        tail -n 20 "$f" >&2
    done
    return 1
}

LEASE=/apis/coordination.k8s.io/v1/namespaces/bosun-system/leases/bosun-controllers

# start_etcd: one etcd member on free loopback ports; sets ETCD.
start_etcd() {
    command -v etcd >/dev/null || skip "etcd is not installed (Debian package etcd-server)"
    local cport pport
    cport=$(free_port)
    pport=$(free_port)
    etcd --name ha --data-dir "$TEST_TMP/etcd" --listen-client-urls "http://127.0.0.1:$cport" \
        --advertise-client-urls "http://127.0.0.1:$cport" \
        --listen-peer-urls "http://127.0.0.1:$pport" \
        --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
        --initial-cluster "ha=http://127.0.0.1:$pport" --log-level warn >"$TEST_TMP/etcd.log" 2>&1 &
    local pid=$!
    defer "kill $pid; wait $pid"
    ETCD=http://127.0.0.1:$cport
    wait_for 20 curl -sf "$ETCD/health" || fail "etcd did not start"
}

# start_replica NAME: a reconcilerd on its own free port, on $ETCD; sets URL_<NAME>,
# PID_<NAME>, METRICS_<NAME>.
start_replica() {
    local name=$1 port hport pid
    port=$(free_port)
    hport=$(free_port)
    "$BOSUN_BIN/reconcilerd" --listen "127.0.0.1:$port" --store "etcd:$ETCD" \
        --healthz-listen "127.0.0.1:$hport" >"$TEST_TMP/$name.log" 2>&1 &
    pid=$!
    defer "kill $pid; wait $pid"
    printf -v "URL_$name" '%s' "http://127.0.0.1:$port"
    printf -v "PID_$name" '%s' "$pid"
    printf -v "METRICS_$name" '%s' "http://127.0.0.1:$hport/metrics"
    wait_for 30 curl -sf "http://127.0.0.1:$port/healthz" || fail "replica $name did not start"
}

url() { local v="URL_$1"; echo "${!v}"; }
metrics() { local v="METRICS_$1"; echo "${!v}"; }
pid() { local v="PID_$1"; echo "${!v}"; }

# holder URL: the Lease's holderIdentity as that replica serves it ("" when none).
holder() {
    curl -sf "$1$LEASE" | grep -o '"holderIdentity":"[^"]*"' | cut -d'"' -f4
}

# lease_time URL FIELD: spec.FIELD (a MicroTime) of the Lease, in seconds since the epoch
lease_time() {
    curl -sf "$1$LEASE" | python3 -c '
import json, sys, datetime
t = json.load(sys.stdin)["spec"][sys.argv[1]]
t = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ")
print(t.replace(tzinfo=datetime.timezone.utc).timestamp())' "$2"
}

# leader_of NAMES...: the replica (by name) whose listen address the holder names.
leader_of() {
    local h n port
    h=$(holder "$(url "$1")")
    for n in "$@"; do
        port=$(url "$n")
        port=${port##*:}
        case "$h" in *"_127.0.0.1:${port}_"*) echo "$n"; return 0 ;; esac
    done
    return 1
}

# has_leader NAME...: some replica of NAMES holds the Lease
has_leader() { leader_of "$@" >/dev/null; }

# deployment NAME REPLICAS
deployment() {
    cat <<EOF
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"$1"},
 "spec":{"replicas":$2,"selector":{"matchLabels":{"app":"$1"}},
  "template":{"metadata":{"labels":{"app":"$1"}},
   "spec":{"containers":[{"name":"c","image":"busybox:1.35"}]}}}}
EOF
}

# count URL PATH: items in a list
count() { curl -sf "$1$2" | jget 'len(d["items"])'; }
count_is() { [ "$(count "$1" "$2")" = "$3" ]; }

# stop_replica NAME: SIGTERM; it must exit 0 (no sanitizer report, no leak).
stop_replica() {
    kill -TERM "$(pid "$1")"
    reap_replica "$1"
}

# reap_replica NAME: waits for a replica sent SIGTERM; as stop_replica.
reap_replica() {
    local p rc=0
    p=$(pid "$1")
    wait "$p" || rc=$?
    [ $rc -eq 0 ] || fail "replica $1 exited $rc"
    ! grep -Eq 'runtime error|AddressSanitizer|LeakSanitizer' "$TEST_TMP/$1.log" ||
        fail "replica $1 reported a sanitizer error"
}

test_one_leader_runs_the_controllers() {
    start_etcd
    start_replica a
    start_replica b
    start_replica c
    wait_for 20 has_leader a b c || fail "no replica took the Lease"
    local lead others n
    lead=$(leader_of a b c)
    others=$(printf '%s\n' a b c | grep -vx "$lead" | tr '\n' ' ')
    echo "leader: $lead ($(holder "$(url a)"))"
    # every replica serves the same Lease
    for n in a b c; do
        [ "$(holder "$(url "$n")")" = "$(holder "$(url a)")" ] || fail "replica $n sees another holder"
    done
    wait_for 20 grep -q 'loops running' "$TEST_TMP/$lead.log" || fail "the leader runs no controllers"
    [ "$(grep -l 'became leader' "$TEST_TMP"/[abc].log | wc -l)" = 1 ] || fail "more than one leader"
    for n in $others; do
        ! grep -q 'loops running' "$TEST_TMP/$n.log" || fail "non-leader $n runs controllers"
        curl -sf "$(metrics "$n")" | grep -q '^leader_election_master_status{name="bosun-controllers"} 0' ||
            fail "metrics of $n"
    done
    curl -sf "$(metrics "$lead")" | grep -q '^leader_election_master_status{name="bosun-controllers"} 1' ||
        fail "metrics of the leader"

    # a Deployment created through a non-leader is reconciled once, by the leader
    local via
    via=$(echo $others | cut -d' ' -f1)
    curl -sf -X POST "${JSON[@]}" "$(url "$via")/apis/apps/v1/namespaces/default/deployments" \
        -d "$(deployment web 3)" >/dev/null || fail "create the Deployment through $via"
    wait_for 30 count_is "$(url "$via")" '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb' 3 ||
        fail "the Deployment was not reconciled: $(count "$(url "$via")" '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb') pods"
    sleep 3 # two sets of controllers would overshoot: each creates the missing pods
    count_is "$(url a)" '/apis/apps/v1/namespaces/default/replicasets' 1 || fail "not exactly one ReplicaSet"
    count_is "$(url b)" '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb' 3 ||
        fail "not exactly 3 pods: $(count "$(url b)" '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')"
    [ "$(curl -sf "$(url c)/api/v1/namespaces/default/events?fieldSelector=reason%3DScalingReplicaSet" | jget 'sum(e.get("count",1) for e in d["items"])')" = 1 ] ||
        fail "ScalingReplicaSet events: more than one controller acted"
    stop_replica a
    stop_replica b
    stop_replica c
}

test_writes_are_seen_through_every_replica() {
    start_etcd
    start_replica a
    start_replica b
    local rv
    rv=$(curl -sf "$(url b)/api/v1/namespaces/default/configmaps" | jget 'd["metadata"]["resourceVersion"]')
    curl -sN --max-time 20 "$(url b)/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=$rv&timeoutSeconds=15" \
        >"$TEST_TMP/watch" 2>/dev/null &
    local wpid=$!
    defer "kill $wpid"
    sleep 0.5
    curl -sf -X POST "${JSON[@]}" "$(url a)/api/v1/namespaces/default/configmaps" \
        -d '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"k":"1"}}' >/dev/null ||
        fail "create through a"
    curl -sf "$(url b)/api/v1/namespaces/default/configmaps/cfg" | grep -q '"k":"1"' || fail "get through b"
    wait_for 10 grep -q '"type":"ADDED".*"name":"cfg"' "$TEST_TMP/watch" || fail "watch through b: $(cat "$TEST_TMP/watch")"
    # and the other way round, an update
    curl -sf -X PATCH -H 'Content-Type: application/merge-patch+json' \
        "$(url b)/api/v1/namespaces/default/configmaps/cfg" -d '{"data":{"k":"2"}}' >/dev/null ||
        fail "patch through b"
    curl -sf "$(url a)/api/v1/namespaces/default/configmaps/cfg" | grep -q '"k":"2"' || fail "get through a"
    wait_for 10 grep -q '"type":"MODIFIED".*"k":"2"' "$TEST_TMP/watch" || fail "watch sees the update"
    stop_replica a
    stop_replica b
}

test_concurrent_services_get_distinct_allocations() {
    start_etcd
    start_replica a
    start_replica b
    start_replica c
    local n i pids=()
    for n in a b c; do
        for i in $(seq 1 8); do
            curl -sf -X POST "${JSON[@]}" "$(url "$n")/api/v1/namespaces/default/services" \
                -d "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s-$n-$i\"},\"spec\":{\"type\":\"NodePort\",\"selector\":{\"app\":\"x\"},\"ports\":[{\"port\":80,\"name\":\"a\"},{\"port\":81,\"name\":\"b\"}]}}" \
                >"$TEST_TMP/svc-$n-$i" &
            pids+=($!)
        done
    done
    for i in "${pids[@]}"; do wait "$i" || fail "a Service create failed"; done
    curl -sf "$(url b)/api/v1/namespaces/default/services" >"$TEST_TMP/services.json"
    python3 - "$TEST_TMP/services.json" <<'EOF' || fail "allocations collide"
import json, sys
items = json.load(open(sys.argv[1]))["items"]
ips = [s["spec"]["clusterIP"] for s in items if s["metadata"]["name"].startswith("s-")]
ports = [p["nodePort"] for s in items if s["metadata"]["name"].startswith("s-") for p in s["spec"]["ports"]]
print(f"{len(ips)} Services, {len(set(ips))} distinct ClusterIPs, {len(ports)} nodePorts, {len(set(ports))} distinct")
assert len(ips) == 24 and len(set(ips)) == 24, ips
assert len(ports) == 48 and len(set(ports)) == 48, ports
EOF
    # a specific IP taken through another replica is refused
    local ip code
    ip=$(curl -sf "$(url a)/api/v1/namespaces/default/services/s-a-1" | jget 'd["spec"]["clusterIP"]')
    code=$(curl -s -o "$TEST_TMP/dup" -w '%{http_code}' -X POST "${JSON[@]}" "$(url c)/api/v1/namespaces/default/services" \
        -d "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"dup\"},\"spec\":{\"clusterIP\":\"$ip\",\"ports\":[{\"port\":80}]}}")
    [ "$code" = 422 ] && grep -q 'already allocated' "$TEST_TMP/dup" || fail "a taken ClusterIP: $code $(cat "$TEST_TMP/dup")"
    # deleting through one replica frees it for another
    curl -sf -X DELETE "$(url b)/api/v1/namespaces/default/services/s-a-1" >/dev/null || fail "delete"
    code=$(curl -s -o "$TEST_TMP/dup" -w '%{http_code}' -X POST "${JSON[@]}" "$(url c)/api/v1/namespaces/default/services" \
        -d "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"dup\"},\"spec\":{\"clusterIP\":\"$ip\",\"ports\":[{\"port\":80}]}}")
    [ "$code" = 201 ] || fail "a freed ClusterIP: $code $(cat "$TEST_TMP/dup")"
    stop_replica a
    stop_replica b
    stop_replica c
}

# now_s: seconds since the epoch, with fractions
now_s() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

test_killed_leader_is_replaced_within_the_lease_duration() {
    start_etcd
    start_replica a
    start_replica b
    start_replica c
    wait_for 20 has_leader a b c || fail "no replica took the Lease"
    local lead rest t0 took renewed acquired old
    lead=$(leader_of a b c)
    rest=$(printf '%s\n' a b c | grep -vx "$lead" | tr '\n' ' ')
    local watcher
    watcher=$(echo $rest | cut -d' ' -f1)
    old=$(holder "$(url "$watcher")")
    t0=$(now_s)
    kill -9 "$(pid "$lead")"
    sleep 0.3 # a renewal the leader sent just before dying lands first
    renewed=$(lease_time "$(url "$watcher")" renewTime) # its last renewal
    # shellcheck disable=SC2329
    taken() { local h; h=$(holder "$(url "$watcher")"); [ -n "$h" ] && [ "$h" != "$old" ]; }
    wait_for 30 taken || fail "nobody took over from $lead"
    # the new leader's acquireTime is the moment it took over
    acquired=$(lease_time "$(url "$watcher")" acquireTime)
    took=$(elapsed "$t0" "$acquired")
    note "takeover after kill -9 of the leader: ${took}s after the kill," \
        "$(elapsed "$renewed" "$acquired")s after its last renewal (lease duration 15s)"
    # The bound is the last renewal + 15 s, and the kill comes after that renewal; the
    # candidates sleep exactly until then. The slack is for scheduling on a busy machine.
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 15.2 else 1)" "$took" ||
        fail "takeover took ${took}s"
    local lead2
    lead2=$(leader_of $rest)
    grep -q "leader election: .* became leader" "$TEST_TMP/$lead2.log" || fail "no 'became leader' from $lead2"
    wait_for 20 grep -q 'loops running' "$TEST_TMP/$lead2.log" || fail "the new leader runs no controllers"
    [ "$(curl -sf "$(url "$lead2")$LEASE" | jget 'd["spec"]["leaseTransitions"]')" -ge 1 ] || fail "leaseTransitions"

    # a Deployment created after the takeover is reconciled
    curl -sf -X POST "${JSON[@]}" "$(url "$watcher")/apis/apps/v1/namespaces/default/deployments" \
        -d "$(deployment after 2)" >/dev/null || fail "create the Deployment"
    wait_for 30 count_is "$(url "$watcher")" '/api/v1/namespaces/default/pods?labelSelector=app%3Dafter' 2 ||
        fail "the Deployment was not reconciled after the takeover"

    # SIGTERM: the leader gives the Lease back, the last replica takes it at its next try
    local last
    last=$(printf '%s\n' $rest | grep -vx "$lead2")
    old=$(holder "$(url "$last")")
    watcher=$last
    t0=$(now_s)
    kill -TERM "$(pid "$lead2")"
    wait_for 15 taken || fail "nobody took over from $lead2"
    acquired=$(lease_time "$(url "$last")" acquireTime)
    took=$(elapsed "$t0" "$acquired")
    note "takeover after SIGTERM of the leader: ${took}s"
    reap_replica "$lead2"
    grep -q "lost leadership (shutting down)" "$TEST_TMP/$lead2.log" || fail "no 'lost leadership'"
    grep -q "released the Lease" "$TEST_TMP/$lead2.log" || fail "the Lease was not released"
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 5 else 1)" "$took" ||
        fail "takeover after SIGTERM took ${took}s"
    [ "$(leader_of "$last")" = "$last" ] || fail "$last does not lead"
    wait_for 20 grep -q 'loops running' "$TEST_TMP/$last.log" || fail "the last replica runs no controllers"
    curl -sf -X PATCH -H 'Content-Type: application/merge-patch+json' \
        "$(url "$last")/apis/apps/v1/namespaces/default/deployments/after" -d '{"spec":{"replicas":3}}' >/dev/null ||
        fail "scale"
    wait_for 30 count_is "$(url "$last")" '/api/v1/namespaces/default/pods?labelSelector=app%3Dafter' 3 ||
        fail "the scale was not reconciled by the last replica"
    stop_replica "$last"
}

test_paused_leader_steps_down_and_can_lead_again() {
    start_etcd
    start_replica a
    start_replica b
    wait_for 20 has_leader a b || fail "no replica took the Lease"
    local lead other
    lead=$(leader_of a b)
    other=$(printf '%s\n' a b | grep -vx "$lead")
    wait_for 20 grep -q 'loops running' "$TEST_TMP/$lead.log" || fail "the leader runs no controllers"
    # a leader that stops answering (SIGSTOP) is replaced once its lease expires ...
    kill -STOP "$(pid "$lead")"
    defer "kill -CONT $(pid "$lead")"
    wait_for 25 grep -q 'became leader' "$TEST_TMP/$other.log" || fail "$other did not take over"
    # ... and, when it runs again, sees the Lease is someone else's and stops its controllers
    kill -CONT "$(pid "$lead")"
    wait_for 10 grep -q 'lost leadership (the Lease is held by' "$TEST_TMP/$lead.log" ||
        fail "the old leader did not step down"
    wait_for 5 sh -c "curl -sf '$(metrics "$lead")' | grep -q 'master_status{name=\"bosun-controllers\"} 0'" ||
        fail "metrics of the old leader"
    curl -sf -X POST "${JSON[@]}" "$(url "$lead")/apis/apps/v1/namespaces/default/deployments" \
        -d "$(deployment web 2)" >/dev/null || fail "create the Deployment"
    wait_for 30 count_is "$(url "$lead")" '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb' 2 ||
        fail "the Deployment was not reconciled"
    sleep 3
    count_is "$(url "$lead")" '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb' 2 ||
        fail "two sets of controllers acted"
    # it leads again (fresh controllers in the same process) when the other one leaves
    stop_replica "$other"
    wait_for 10 sh -c "[ \$(grep -c 'became leader' '$TEST_TMP/$lead.log') = 2 ]" ||
        fail "the old leader did not lead again"
    wait_for 20 sh -c "[ \$(grep -c 'loops running' '$TEST_TMP/$lead.log') = 2 ]" ||
        fail "its controllers did not start again"
    curl -sf -X PATCH -H 'Content-Type: application/merge-patch+json' \
        "$(url "$lead")/apis/apps/v1/namespaces/default/deployments/web" -d '{"spec":{"replicas":3}}' >/dev/null ||
        fail "scale"
    wait_for 30 count_is "$(url "$lead")" '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb' 3 ||
        fail "the scale was not reconciled"
    stop_replica "$lead"
}

run_tests
