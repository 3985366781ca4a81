#!/usr/bin/env bash
# `bosun store check DIR` against a store a real reconcilerd wrote: ok (exit 0) with a
# summary once reconcilerd has stopped; refused (exit 1, "in use") while it runs; a
# corrupt byte in the middle of the log is exit 1 naming the file and the offset; a torn
# tail is reported but is not corruption.
source "$(dirname "$0")/../lib.sh"

TOKEN=store-check-token-0123456789
API_PID=

start_api() {
    local port
    port=$(free_port)
    API=http://127.0.0.1:$port
    echo "$TOKEN,admin,admin-uid,\"system:masters\"" >"$TEST_TMP/tokens.csv"
    "$BOSUN_BIN/reconcilerd" --listen "127.0.0.1:$port" --data-dir "$TEST_TMP/store" \
        --token-auth-file "$TEST_TMP/tokens.csv" >>"$TEST_TMP/reconcilerd.log" 2>&1 &
    API_PID=$!
    defer "kill $API_PID; wait $API_PID"
    wait_for 30 curl -sf -H "Authorization: Bearer $TOKEN" "$API/api/v1/namespaces/default" || {
        tail -20 "$TEST_TMP/reconcilerd.log"
        fail "reconcilerd did not come up"
    }
}

stop_api() {
    kill "$API_PID"
    wait "$API_PID" || true
}

# N ConfigMaps with some bulk, so the log has many records.
write_objects() { # count
    local i
    for i in $(seq 1 "$1"); do
        curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
            -X POST "$API/api/v1/namespaces/default/configmaps" \
            -d "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"cm-$i\"},\"data\":{\"k\":\"value-$i-$(printf '%0200d' 0)\"}}" ||
            fail "create cm-$i"
    done
}

bosun() { "$BOSUN_BIN/bosun" "$@"; }

test_check_ok_busy_and_corrupt() {
    start_api
    write_objects 40

    # while reconcilerd holds the store: refused
    local out rc=0
    out=$(bosun store check "$TEST_TMP/store" 2>&1) || rc=$?
    [ $rc -eq 1 ] || fail "check of a store in use exited $rc: $out"
    echo "$out" | grep -q "in use" || fail "busy message: $out"

    stop_api
    out=$(bosun store check "$TEST_TMP/store") || fail "check after stop failed: $out"
    echo "$out" | grep -q "^store .*: ok$" || fail "summary: $out"
    local objects
    objects=$(echo "$out" | awk '$1 == "objects" {print $2}')
    [ "$objects" -ge 40 ] || fail "objects: $out"
    echo "$out" | grep -qE "^  revision +[0-9]+$" || fail "revision: $out"
    echo "$out" | grep -qE "^  files +[1-9]" || fail "files: $out"
    echo "$out" | grep -qE "^  bytes +[1-9]" || fail "bytes: $out"
    echo "$out" | grep -q "^  torn tail  none$" || fail "torn tail: $out"

    # a torn tail (an unfinished last record) is reported, not an error
    local wal
    wal=$(ls "$TEST_TMP/store"/wal-*.log | tail -1)
    [ -n "$wal" ] || fail "no log segment in $(ls "$TEST_TMP/store")"
    cp "$wal" "$TEST_TMP/wal.orig"
    # the log is zero-filled ahead of its last record: its records end where the zeros
    # begin (a record ends with its JSON's closing brace, never with a zero byte)
    local end
    end=$(python3 -c 'import sys; print(len(open(sys.argv[1], "rb").read().rstrip(b"\0")))' "$wal")
    [ "$end" -gt 24 ] || fail "no records in $wal"
    printf 'torn' | dd of="$wal" bs=1 seek="$end" conv=notrunc 2>/dev/null
    out=$(bosun store check "$TEST_TMP/store") || fail "check with a torn tail failed: $out"
    echo "$out" | grep -qE "^  torn tail  4 byte" || fail "torn tail not reported: $out"
    cp "$TEST_TMP/wal.orig" "$wal"

    # one byte flipped in the middle of the log: corrupt, named by file and offset
    local mid byte
    mid=$((end / 2))
    byte=$(od -An -tu1 -j "$mid" -N1 "$wal" | tr -d ' ')
    printf "\\$(printf '%03o' $(((byte + 1) % 256)))" |
        dd of="$wal" bs=1 seek="$mid" count=1 conv=notrunc 2>/dev/null
    rc=0
    out=$(bosun store check "$TEST_TMP/store" 2>&1) || rc=$?
    [ $rc -eq 1 ] || fail "check of a corrupt store exited $rc: $out"
    echo "$out" | grep -q "corrupt" || fail "corrupt message: $out"
    echo "$out" | grep -qE "$(basename "$wal"): .*offset [0-9]+" || fail "file and offset: $out"
    ! cmp -s "$wal" "$TEST_TMP/wal.orig" || fail "the flip did not happen"
}

test_usage_and_missing_store() {
    local out rc=0
    out=$(bosun store 2>&1) || rc=$?
    [ $rc -eq 2 ] || fail "no arguments exited $rc: $out"
    rc=0
    out=$(bosun store check "$TEST_TMP/nope" 2>&1) || rc=$?
    [ $rc -eq 1 ] && echo "$out" | grep -qi "no such file" || fail "missing dir ($rc): $out"
    mkdir "$TEST_TMP/empty"
    rc=0
    out=$(bosun store check "$TEST_TMP/empty" 2>&1) || rc=$?
    [ $rc -eq 1 ] && echo "$out" | grep -q "no store there" || fail "empty dir ($rc): $out"
    [ -z "$(ls -A "$TEST_TMP/empty")" ] || fail "check wrote into an empty dir"
}

run_tests
