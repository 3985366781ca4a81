#!/usr/bin/env bash
# Crash safety through the real API: a write storm from many clients, kill -9 of
# reconcilerd at a random moment, restart, and every acknowledged write must be there
# with its exact content (nothing unacknowledged may appear half-written). Many rounds.
. "$(dirname "$0")/../lib.sh"

# storm.py URL SECONDS OUT: 16 threads create and update ConfigMaps as fast as they can
# until the server goes away; each acknowledged write (2xx) is appended to OUT as
# "name<TAB>resourceVersion<TAB>value" in the order the answers arrived.
write_storm_client() {
    cat >"$TEST_TMP/storm.py" <<'PY'
import http.client, json, sys, threading, random, time
host, port = sys.argv[1], int(sys.argv[2])
out = open(sys.argv[3], "a", buffering=1)
round_ = sys.argv[4]
lock = threading.Lock()
stop = time.time() + 30

def worker(w):
    conn = http.client.HTTPConnection(host, port, timeout=5)
    i = 0
    while time.time() < stop:
        name = "r%s-w%d-%d" % (round_, w, i // 3)
        value = "%s-%d-%s" % (name, i, "x" * random.randint(0, 2000))
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "default"}, "data": {"v": value}}
        try:
            if i % 3 == 0:
                conn.request("POST", "/api/v1/namespaces/default/configmaps", json.dumps(body),
                             {"Content-Type": "application/json"})
            else:
                conn.request("PUT", "/api/v1/namespaces/default/configmaps/" + name,
                             json.dumps(body), {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        except Exception:
            return  # the server is gone: stop
        if 200 <= resp.status < 300:
            rv = json.loads(data)["metadata"]["resourceVersion"]
            with lock:
                out.write("%s\t%s\t%s\n" % (name, rv, value))
        i += 1

threads = [threading.Thread(target=worker, args=(w,)) for w in range(16)]
for t in threads: t.start()
for t in threads: t.join()
PY
}

start_server() {
    "$BOSUN_BIN/reconcilerd" --listen "127.0.0.1:$PORT" --data-dir "$TEST_TMP/store" \
        >>"$TEST_TMP/server.log" 2>&1 &
    SERVER=$!
    defer "kill -9 $SERVER"
    wait_for 20 curl -fs "http://127.0.0.1:$PORT/readyz" || { tail "$TEST_TMP/server.log"; fail "reconcilerd did not start"; }
}

# Checks that, for every name, the newest acknowledged write is what the server has
# (a later unacknowledged write may also have landed: then its revision is higher).
check_acknowledged() {
    curl -fs "http://127.0.0.1:$PORT/api/v1/namespaces/default/configmaps" >"$TEST_TMP/list.json"
    python3 - "$TEST_TMP/acked" "$TEST_TMP/list.json" <<'PY'
import json, sys
acked = {}
for line in open(sys.argv[1]):
    name, rv, value = line.rstrip("\n").split("\t")
    if name not in acked or int(rv) > int(acked[name][0]):
        acked[name] = (rv, value)
live = {o["metadata"]["name"]: o for o in json.load(open(sys.argv[2]))["items"]}
bad = 0
for name, (rv, value) in acked.items():
    o = live.get(name)
    if o is None:
        print("lost: %s (acknowledged at %s)" % (name, rv)); bad += 1; continue
    lrv = int(o["metadata"]["resourceVersion"])
    if lrv == int(rv) and o["data"]["v"] != value:
        print("changed: %s at %s" % (name, rv)); bad += 1
    elif lrv < int(rv):
        print("older than acknowledged: %s has %d, acknowledged %s" % (name, lrv, rv)); bad += 1
    elif not o["data"]["v"].startswith(name + "-"):
        print("garbage: %s" % name); bad += 1
print("%d acknowledged objects checked, %d bad" % (len(acked), bad))
sys.exit(1 if bad else 0)
PY
}

test_kill9_during_write_storm_loses_no_acknowledged_write() {
    PORT=$(free_port)
    write_storm_client
    : >"$TEST_TMP/acked"
    for round in 1 2 3 4 5 6; do
        start_server
        python3 "$TEST_TMP/storm.py" 127.0.0.1 "$PORT" "$TEST_TMP/acked" "$round" &
        storm=$!
        # a random moment between 0.3 and 2.3 s into the storm
        r=$((RANDOM % 20 + 3))
        sleep "$((r / 10)).$((r % 10))"
        kill -9 "$SERVER"
        wait "$storm" || true
        wait "$SERVER" 2>/dev/null || true
        start_server
        check_acknowledged || fail "round $round"
        kill "$SERVER"
        wait "$SERVER" || fail "reconcilerd exited non-zero after SIGTERM (round $round)"
    done
    n=$(wc -l <"$TEST_TMP/acked")
    echo "acknowledged writes over 6 rounds: $n"
    [ "$n" -gt 100 ] || fail "too few writes acknowledged to mean anything ($n)"
}

run_tests
