#!/usr/bin/env bash
# A full disk under a running reconcilerd, through its HTTP API (issue 3, item 6): the
# store lives on a small tmpfs the test mounts; once a file fills the rest of it, a write
# fails with a 500 InternalError Status whose message names "no space left on device",
# reads keep working, writes work again once space returns, and after a restart every
# acknowledged object is back and `bosun store check` finds the store sound. Root only
# (mount); skipped otherwise.
source "$(dirname "$0")/../lib.sh"

TOKEN=fulldisk-token-0123456789abcdef
API_PID=

start_api() {
    local port
    port=$(free_port)
    API=http://127.0.0.1:$port
    "$BOSUN_BIN/reconcilerd" --listen "127.0.0.1:$port" --data-dir "$MNT/store" \
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
    wait "$API_PID" || fail "reconcilerd exited $? (see $TEST_TMP/reconcilerd.log)"
}

# create NAME: POSTs a ConfigMap; prints the HTTP code, the body goes to $TEST_TMP/resp.
create() {
    curl -s -o "$TEST_TMP/resp" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' -X POST "$API/api/v1/namespaces/default/configmaps" \
        -d "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"$1\"},\"data\":{\"k\":\"$1-$(printf '%0300d' 0)\"}}"
}

get_code() {
    curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$API$1"
}

test_full_disk_through_the_api() {
    [ "$(id -u)" = 0 ] || skip "mounting a tmpfs needs root"
    MNT=$TEST_TMP/mnt
    mkdir -p "$MNT"
    mount -t tmpfs -o size=8m,mode=0700 tmpfs "$MNT" || skip "cannot mount a tmpfs here"
    defer "umount -l '$MNT'"
    echo "$TOKEN,admin,admin-uid,\"system:masters\"" >"$TEST_TMP/tokens.csv"
    start_api

    local i code acked=0
    for i in $(seq 1 20); do
        code=$(create "before-$i")
        [ "$code" = 201 ] || fail "create before-$i on a roomy disk: $code $(cat "$TEST_TMP/resp")"
        acked=$i
    done

    # Fill what is left; dd stops at ENOSPC.
    dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null || true
    local failed=
    # The store zero-fills its log 256 KiB ahead: those writes still fit on a full disk.
    for i in $(seq 1 2000); do
        code=$(create "full-$i")
        if [ "$code" != 201 ]; then
            failed=$i
            break
        fi
        echo "full-$i" >>"$TEST_TMP/acked-full"
    done
    [ -n "$failed" ] || fail "2000 creates succeeded on a full disk"
    [ "$code" = 500 ] || fail "a write on a full disk answered $code: $(cat "$TEST_TMP/resp")"
    python3 - "$TEST_TMP/resp" <<'PY' || fail "the 500 body: $(cat "$TEST_TMP/resp")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["kind"] == "Status" and s["status"] == "Failure", s
assert s["reason"] == "InternalError" and s["code"] == 500, s
assert "no space left on device" in s["message"], s["message"]
PY

    # Reads keep working while the disk is full.
    [ "$(get_code /api/v1/namespaces/default/configmaps/before-1)" = 200 ] || fail "get on a full disk"
    [ "$(get_code /api/v1/namespaces/default/configmaps)" = 200 ] || fail "list on a full disk"
    # Another write fails the same way, and the server is still up.
    code=$(create "full-again")
    [ "$code" = 500 ] || fail "second write on a full disk: $code"
    # An update (answered once durable, like a create) fails too and leaves the object as
    # it was.
    code=$(curl -s -o "$TEST_TMP/resp" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/merge-patch+json' -X PATCH \
        "$API/api/v1/namespaces/default/configmaps/before-1" -d "{\"data\":{\"k\":\"$(printf '%0300d' 7)\"}}")
    [ "$code" = 500 ] || fail "an update on a full disk answered $code: $(cat "$TEST_TMP/resp")"
    grep -q "no space left on device" "$TEST_TMP/resp" || fail "the update's 500: $(cat "$TEST_TMP/resp")"
    curl -s -H "Authorization: Bearer $TOKEN" "$API/api/v1/namespaces/default/configmaps/before-1" |
        grep -q "before-1-$(printf '%0300d' 0)" || fail "the failed update changed before-1"
    kill -0 "$API_PID" || fail "reconcilerd died on a full disk"

    # Space returns: writes work again without a restart.
    rm -f "$MNT/filler"
    code=$(create "after-1")
    [ "$code" = 201 ] || fail "create once space returned: $code $(cat "$TEST_TMP/resp")"

    # After a restart every acknowledged object is back, the failed ones are absent.
    stop_api
    "$BOSUN_BIN/bosun" store check "$MNT/store" >"$TEST_TMP/check" 2>&1 ||
        fail "store check after a full disk: $(cat "$TEST_TMP/check")"
    start_api
    for i in $(seq 1 "$acked"); do
        [ "$(get_code "/api/v1/namespaces/default/configmaps/before-$i")" = 200 ] || fail "before-$i lost"
    done
    local n
    for n in $(cat "$TEST_TMP/acked-full" 2>/dev/null) after-1; do
        [ "$(get_code "/api/v1/namespaces/default/configmaps/$n")" = 200 ] || fail "$n lost"
    done
    [ "$(get_code "/api/v1/namespaces/default/configmaps/full-$failed")" = 404 ] ||
        fail "the write that failed (full-$failed) exists after restart"
    [ "$(get_code /api/v1/namespaces/default/configmaps/full-again)" = 404 ] ||
        fail "full-again exists after restart"
}

run_tests
