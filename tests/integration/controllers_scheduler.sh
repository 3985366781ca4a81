#!/usr/bin/env bash
# The controllers (inside reconcilerd) and bin/scheduler against a real reconcilerd, with
# fake nodes made through the API (no nodeagent): a Deployment's pods are created and
# bound, scaling follows, a pod too big for any node stays Pending with kube-scheduler's
# message and a FailedScheduling event, Endpoints list ready pods, nodes get podCIDRs, a
# node without heartbeat turns Unknown within the grace period and its pods not ready,
# and deleting a Deployment deletes its ReplicaSets and pods.
source "$(dirname "$0")/../lib.sh"

TOKEN=controllers-test-token-0123456789

# lib.sh's fail, plus what the daemons said
fail() {
    echo "      assertion failed: $*" >&2
    local f
    for f in "${TEST_TMP:-/nonexistent}"/*.log; do
        [ -f "$f" ] || continue
        echo "--- $(basename "$f")" >&2
        tail -n 25 "$f" >&2
    done
    return 1
}

# start_cluster [extra reconcilerd flags...]: reconcilerd + scheduler on free ports.
start_cluster() {
    local port
    port=$(free_port)
    API=http://127.0.0.1:$port
    echo "$TOKEN,admin,admin-uid,\"system:masters\"" >"$TEST_TMP/tokens.csv"
    echo "$TOKEN" >"$TEST_TMP/token"
    "$BOSUN_BIN/reconcilerd" --listen "127.0.0.1:$port" --data-dir "$TEST_TMP/store" \
        --token-auth-file "$TEST_TMP/tokens.csv" --cluster-cidr 10.99.0.0/16 "$@" \
        >"$TEST_TMP/reconcilerd.log" 2>&1 &
    RPID=$!
    defer "kill $RPID; wait $RPID"
    wait_for 30 curl -sf -H "Authorization: Bearer $TOKEN" "$API/api/v1/namespaces/default" || {
        tail -30 "$TEST_TMP/reconcilerd.log"
        fail "reconcilerd did not come up"
    }
    "$BOSUN_BIN/scheduler" --server "$API" --token-file "$TEST_TMP/token" --log-level debug \
        >"$TEST_TMP/scheduler.log" 2>&1 &
    SPID=$!
    defer "kill $SPID; wait $SPID"
}

# stop_cluster: SIGTERM both daemons; each must exit 0 (no sanitizer report, no leak).
stop_cluster() {
    local rc=0
    kill "$SPID"
    wait "$SPID" || rc=$?
    [ $rc -eq 0 ] || fail "scheduler exited $rc"
    kill "$RPID"
    wait "$RPID" || rc=$?
    [ $rc -eq 0 ] || fail "reconcilerd exited $rc"
}

# req METHOD PATH [curl args...]: prints the body; $CODE gets the HTTP status.
req() {
    local m=$1 p=$2 out
    shift 2
    out=$(curl -sS -X "$m" -H "Authorization: Bearer $TOKEN" \
        -H "Content-Type: ${CT:-application/json}" -w '\n%{http_code}' "$API$p" "$@")
    CODE=${out##*$'\n'}
    printf '%s' "${out%$'\n'*}"
}

# py EXPR-SCRIPT: runs python3 with the JSON on stdin as `d`; exit status from the script.
py() { python3 -c "import json,sys; d=json.load(sys.stdin); $1"; }

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# node_status NAME CPU MEMORY: writes a Ready status with a fresh heartbeat (retries 409).
node_status() {
    local i body
    for i in 1 2 3 4 5 6 7 8 9 10; do
        body=$(req GET "/api/v1/nodes/$1" | python3 -c '
import json,sys
n=json.load(sys.stdin); now=sys.argv[3]
res={"cpu":sys.argv[1],"memory":sys.argv[2],"pods":"110"}
n["status"]={"capacity":res,"allocatable":res,"addresses":[{"type":"InternalIP","address":"127.0.0.1"}],
  "conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status",
                 "lastHeartbeatTime":now,"lastTransitionTime":now}]}
print(json.dumps(n))' "$2" "$3" "$(now)")
        req PUT "/api/v1/nodes/$1/status" -d "$body" >/dev/null
        [ "$CODE" = 200 ] && return 0
        sleep 0.1
    done
    fail "status of node $1: HTTP $CODE"
}

make_node() { # NAME CPU MEMORY
    req POST /api/v1/nodes -d "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"$1\",\"labels\":{\"kubernetes.io/hostname\":\"$1\"}}}" >/dev/null
    [ "$CODE" = 201 ] || [ "$CODE" = 200 ] || fail "create node $1: HTTP $CODE"
    node_status "$@"
}

make_deployment() { # NAME REPLICAS
    req POST /apis/apps/v1/namespaces/default/deployments -d '{
      "apiVersion": "apps/v1", "kind": "Deployment",
      "metadata": {"name": "'"$1"'", "namespace": "default"},
      "spec": {"replicas": '"$2"',
        "selector": {"matchLabels": {"app": "'"$1"'"}},
        "template": {"metadata": {"labels": {"app": "'"$1"'"}},
          "spec": {"containers": [{"name": "web", "image": "busybox:1.35",
            "command": ["httpd", "-f", "-p", "8080"],
            "ports": [{"name": "http", "containerPort": 8080}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}}}' >/dev/null
    [ "$CODE" = 201 ] || fail "create deployment $1: HTTP $CODE"
}

pods_json() { req GET /api/v1/namespaces/default/pods; }

# bound_pods APP N: exactly N live pods of app, every one bound to a node.
bound_pods() {
    pods_json | py "
items=[p for p in d['items'] if p['metadata'].get('labels',{}).get('app')=='$1' and not p['metadata'].get('deletionTimestamp')]
sys.exit(0 if len(items)==$2 and all(p.get('spec',{}).get('nodeName') for p in items) else 1)"
}

test_deployment_pods_are_created_scaled_and_bound() {
    start_cluster
    make_node node-1 2 4Gi
    make_node node-2 2 4Gi
    make_deployment web 3
    wait_for 30 bound_pods web 3 || {
        pods_json | head -c 3000
        fail "3 bound pods expected"
    }
    # the ReplicaSet: owned by the Deployment, named after the template hash
    req GET /apis/apps/v1/namespaces/default/replicasets | py "
rs=d['items']; assert len(rs)==1, rs
r=rs[0]; h=r['metadata']['labels']['pod-template-hash']
assert r['metadata']['name']=='web-'+h, r['metadata']['name']
ref=r['metadata']['ownerReferences'][0]
assert ref['kind']=='Deployment' and ref['name']=='web' and ref['controller'] is True" ||
        fail "replicaset shape"
    # both nodes used (least-allocated spreads equal nodes)
    pods_json | py "
nodes={p['spec']['nodeName'] for p in d['items']}
assert nodes=={'node-1','node-2'}, nodes" || fail "pods not spread over both nodes"

    CT=application/merge-patch+json req PATCH /apis/apps/v1/namespaces/default/deployments/web \
        -d '{"spec":{"replicas":5}}' >/dev/null
    [ "$CODE" = 200 ] || fail "scale: HTTP $CODE"
    wait_for 30 bound_pods web 5 || fail "5 bound pods expected after scaling"
    deploy_status() {
        req GET /apis/apps/v1/namespaces/default/deployments/web | py "
s=d.get('status',{})
sys.exit(0 if s.get('observedGeneration')==d['metadata'].get('generation') and s.get('replicas')==5 and s.get('updatedReplicas')==5 else 1)"
    }
    wait_for 20 deploy_status || fail "deployment status not updated"
    req GET /api/v1/namespaces/default/events | py "
r={e['reason'] for e in d['items']}
assert {'ScalingReplicaSet','SuccessfulCreate','Scheduled'} <= r, r" || fail "events missing"

    CT=application/merge-patch+json req PATCH /apis/apps/v1/namespaces/default/deployments/web \
        -d '{"spec":{"replicas":2}}' >/dev/null
    wait_for 30 bound_pods web 2 || fail "2 pods expected after scaling down"

    # nodes got distinct podCIDRs from --cluster-cidr
    req GET /api/v1/nodes | py "
c=[n.get('spec',{}).get('podCIDR') for n in d['items']]
assert all(x and x.startswith('10.99.') and x.endswith('/24') for x in c) and len(set(c))==2, c" ||
        fail "podCIDRs"

    # deleting the Deployment deletes its ReplicaSet and pods
    req DELETE /apis/apps/v1/namespaces/default/deployments/web -d '{"propagationPolicy":"Background"}' >/dev/null
    no_children() {
        req GET /apis/apps/v1/namespaces/default/replicasets | py "sys.exit(0 if not d['items'] else 1)" &&
            pods_json | py "sys.exit(0 if not [p for p in d['items'] if not p['metadata'].get('deletionTimestamp')] else 1)"
    }
    wait_for 30 no_children || fail "replicaset/pods left after deleting the deployment"
    stop_cluster
}

test_pod_too_big_stays_pending_with_reason() {
    start_cluster
    make_node node-1 2 4Gi
    make_node node-2 2 4Gi
    req POST /api/v1/namespaces/default/pods -d '{
      "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge", "namespace": "default"},
      "spec": {"containers": [{"name": "c", "image": "busybox:1.35",
        "resources": {"requests": {"memory": "100Gi"}}}]}}' >/dev/null
    [ "$CODE" = 201 ] || fail "create pod: HTTP $CODE"
    unschedulable() {
        req GET /api/v1/namespaces/default/pods/huge | py "
c=[c for c in d.get('status',{}).get('conditions',[]) if c['type']=='PodScheduled']
sys.exit(0 if c and c[0]['status']=='False' and c[0]['reason']=='Unschedulable' and c[0]['message']=='0/2 nodes are available: 2 Insufficient memory.' else 1)"
    }
    wait_for 20 unschedulable || {
        req GET /api/v1/namespaces/default/pods/huge
        fail "PodScheduled condition"
    }
    req GET /api/v1/namespaces/default/pods/huge | py "assert not d['spec'].get('nodeName')" ||
        fail "huge pod was bound"
    failed_event() {
        req GET /api/v1/namespaces/default/events | py "
e=[e for e in d['items'] if e['reason']=='FailedScheduling' and e['involvedObject']['name']=='huge']
sys.exit(0 if e and e[0]['type']=='Warning' and e[0]['message']=='0/2 nodes are available: 2 Insufficient memory.' and e[0]['source']['component']=='default-scheduler' else 1)"
    }
    wait_for 10 failed_event || fail "FailedScheduling event"
    # a node big enough arrives: the pod is bound to it without waiting out the back-off
    make_node node-big 8 200Gi
    huge_bound() {
        req GET /api/v1/namespaces/default/pods/huge | py "sys.exit(0 if d['spec'].get('nodeName')=='node-big' else 1)"
    }
    wait_for 15 huge_bound || fail "pod not bound to the new big node"
}

test_endpoints_list_ready_pods() {
    start_cluster
    make_node node-1 4 8Gi
    make_deployment api 2
    req POST /api/v1/namespaces/default/services -d '{
      "apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "default"},
      "spec": {"selector": {"app": "api"}, "ports": [{"name": "web", "port": 80, "targetPort": "http"}]}}' >/dev/null
    [ "$CODE" = 201 ] || fail "create service: HTTP $CODE"
    wait_for 30 bound_pods api 2 || fail "2 bound pods expected"
    # play the nodeagent: pods Running with IPs; the first one Ready, the second not
    local names i=0 n body
    names=$(pods_json | py "print(' '.join(sorted(p['metadata']['name'] for p in d['items'] if p['metadata'].get('labels',{}).get('app')=='api')))")
    for n in $names; do
        i=$((i + 1))
        body=$(req GET "/api/v1/namespaces/default/pods/$n" | python3 -c '
import json,sys
p=json.load(sys.stdin); now=sys.argv[2]; ready="True" if sys.argv[1]=="1" else "False"
p["status"]={"phase":"Running","podIP":"10.99.0.%d" % (10+int(sys.argv[1])),"hostIP":"127.0.0.1",
  "conditions":[{"type":"PodScheduled","status":"True","lastTransitionTime":now},
                {"type":"Ready","status":ready,"lastTransitionTime":now},
                {"type":"ContainersReady","status":ready,"lastTransitionTime":now}]}
print(json.dumps(p))' "$i" "$(now)")
        req PUT "/api/v1/namespaces/default/pods/$n/status" -d "$body" >/dev/null
        [ "$CODE" = 200 ] || fail "pod status $n: HTTP $CODE"
    done
    endpoints_ok() {
        req GET /api/v1/namespaces/default/endpoints/api | py "
s=d.get('subsets') or []
assert len(s)==1
a=[x['ip'] for x in s[0].get('addresses',[])]; nr=[x['ip'] for x in s[0].get('notReadyAddresses',[])]
sys.exit(0 if a==['10.99.0.11'] and nr==['10.99.0.12'] and s[0]['ports']==[{'name':'web','port':8080,'protocol':'TCP'}] else 1)"
    }
    wait_for 20 endpoints_ok || {
        req GET /api/v1/namespaces/default/endpoints/api
        fail "endpoints"
    }
    # deleting the service deletes its endpoints
    req DELETE /api/v1/namespaces/default/services/api >/dev/null
    ep_gone() { req GET /api/v1/namespaces/default/endpoints/api >/dev/null; [ "$CODE" = 404 ]; }
    wait_for 20 ep_gone || fail "endpoints left after deleting the service"
}

test_node_without_heartbeat_becomes_unknown() {
    start_cluster --node-monitor-grace 3s
    make_node node-live 2 4Gi
    make_node node-dead 2 4Gi
    (
        set +e
        while true; do
            node_status node-live 2 4Gi >>"$TEST_TMP/heartbeat.log" 2>&1
            sleep 1
        done
    ) &
    local hb=$!
    defer "kill $hb"
    # a pod running on the dead node, Ready
    req POST /api/v1/namespaces/default/pods -d '{
      "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "victim", "namespace": "default"},
      "spec": {"nodeName": "node-dead", "containers": [{"name": "c", "image": "busybox:1.35"}]}}' >/dev/null
    [ "$CODE" = 201 ] || fail "create pod: HTTP $CODE"
    local body
    body=$(req GET /api/v1/namespaces/default/pods/victim | python3 -c '
import json,sys
p=json.load(sys.stdin); now=sys.argv[1]
p["status"]={"phase":"Running","podIP":"10.99.1.5","conditions":[{"type":"Ready","status":"True","lastTransitionTime":now}]}
print(json.dumps(p))' "$(now)")
    req PUT /api/v1/namespaces/default/pods/victim/status -d "$body" >/dev/null
    [ "$CODE" = 200 ] || fail "pod status: HTTP $CODE"
    local start=$SECONDS
    unknown() {
        req GET /api/v1/nodes/node-dead | py "
c=[c for c in d['status']['conditions'] if c['type']=='Ready'][0]
sys.exit(0 if c['status']=='Unknown' and c['reason']=='NodeStatusUnknown' and c['message']=='Kubelet stopped posting node status.' else 1)"
    }
    wait_for 15 unknown || fail "node-dead not Unknown"
    [ $((SECONDS - start)) -ge 2 ] || fail "marked Unknown before the grace period"
    req GET /api/v1/nodes/node-live | py "
c=[c for c in d['status']['conditions'] if c['type']=='Ready'][0]
assert c['status']=='True', c" || {
        tail -20 "$TEST_TMP/heartbeat.log"
        fail "node-live should stay Ready"
    }
    pod_not_ready() {
        req GET /api/v1/namespaces/default/pods/victim | py "
c=[c for c in d['status']['conditions'] if c['type']=='Ready'][0]
sys.exit(0 if c['status']=='False' else 1)"
    }
    wait_for 10 pod_not_ready || fail "pod on the dead node still Ready"
    req GET /api/v1/namespaces/default/events | py "
assert [e for e in d['items'] if e['reason']=='NodeNotReady' and e['involvedObject']['name']=='node-dead']" ||
        fail "NodeNotReady event"
    # the scheduler does not use the Unknown node
    req POST /api/v1/namespaces/default/pods -d '{
      "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "newcomer", "namespace": "default"},
      "spec": {"containers": [{"name": "c", "image": "busybox:1.35"}]}}' >/dev/null
    on_live() {
        req GET /api/v1/namespaces/default/pods/newcomer | py "sys.exit(0 if d['spec'].get('nodeName')=='node-live' else 1)"
    }
    wait_for 15 on_live || fail "newcomer not bound to node-live"
    stop_cluster
}

run_tests
