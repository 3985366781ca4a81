# tests/lib.sh — sourced by integration and e2e test scripts.
#
# A script defines functions named test_* and ends with `run_tests`. Each test runs
# in its own subshell with `set -e`; whatever it registers with `defer CMD` runs when
# it ends, pass or fail (kill daemons by PID, remove netns, links, dirs). Results are
# appended to $BOSUN_RESULTS for tests/run.sh's summary.
set -u
: "${BOSUN_TOP:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${BOSUN_BIN:=$BOSUN_TOP/build/asan/bin}"
: "${BOSUN_RESULTS:=/dev/null}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$BOSUN_TOP/tests/lsan.supp:print_suppressions=0}

_deferred=()
defer() { _deferred=("$*" "${_deferred[@]}"); }
_run_deferred() {
    local c
    for c in "${_deferred[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
    _deferred=()
}

fail() { echo "      assertion failed: $*" >&2; return 1; }
skip() { echo "SKIP:$*" >&2; exit 77; }

# A free TCP port on 127.0.0.1, chosen by the kernel.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for SECONDS CMD...: retries CMD every 0.1 s until it succeeds or time runs out.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.1
    done
}

# make_pki DIR: a CA (ca.crt, ca.key) and a serving certificate for 127.0.0.1 signed by
# it (server.crt, server.key), EC P-256 like lib/pki's. kubectl sends bearer tokens only
# to https:// servers, so tests that run kubectl serve the API with these.
make_pki() {
    local d=$1
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj /CN=bosun-test-ca -keyout "$d/ca.key" -out "$d/ca.crt" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        >/dev/null 2>&1 || fail "openssl: CA"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
        -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1 || fail "openssl: CSR"
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >"$d/ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
        -days 1 -extfile "$d/ext" -out "$d/server.crt" >/dev/null 2>&1 || fail "openssl: sign"
}

# ---- API test helpers --------------------------------------------------------------

# stop_checked PID LOG: SIGTERM, then asserts a clean exit (0: no leak report) and no
# sanitizer report in LOG.
stop_checked() {
    kill -TERM "$1"
    local rc=0
    wait "$1" || rc=$?
    if [ $rc -ne 0 ] || grep -Eq 'runtime error|AddressSanitizer|LeakSanitizer' "$2"; then
        tail -60 "$2"
        fail "$(basename "$2" .log) exited $rc or reported a sanitizer error"
    fi
}

# For replies printed as the body, then "HTTP <code>" on a last line (curl -w '\nHTTP %{http_code}\n').
code_of() { tail -n1 <<<"$1" | awk '{print $2}'; }
body_of() { sed '$d' <<<"$1"; }
# jget EXPR: evaluates the Python expression EXPR with d = the JSON on stdin, prints it.
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); exec("print(("+sys.argv[1]+"))")' "$1"; }
JSON=(-H 'Content-Type: application/json')
MERGE=(-H 'Content-Type: application/merge-patch+json')

# ---- reconcilerd over HTTPS for kubectl ----------------------------------------------
# kubectl sends bearer tokens only to https:// servers (client-go drops credentials for
# plain http), so tests that run kubectl serve the API with a throwaway CA (make_pki).

# need_kubectl_tools: skips the test unless kubectl, openssl and Debian's python3 are here.
need_kubectl_tools() {
    command -v kubectl >/dev/null || skip "kubectl not on PATH"
    command -v openssl >/dev/null || skip "openssl missing"
    [ -x /usr/bin/python3 ] || skip "/usr/bin/python3 missing"
}

# start_https_api "USER..." [reconcilerd flags...]: reconcilerd on a free loopback port,
# serving HTTPS and authenticating from $TEST_TMP/tokens.csv (the caller writes it), and
# a kubeconfig with one context per USER, whose token is "<USER>-token" (admin is the
# current context). Sets PORT API CURL PID KC K.
start_https_api() {
    local users=$1 u
    shift
    need_kubectl_tools
    make_pki "$TEST_TMP/pki"
    PORT=$(free_port)
    API=https://127.0.0.1:$PORT
    CURL=(curl --cacert "$TEST_TMP/pki/ca.crt")
    "$BOSUN_BIN/reconcilerd" --listen "127.0.0.1:$PORT" --data-dir "$TEST_TMP/data" \
        --tls-cert-file "$TEST_TMP/pki/server.crt" --tls-private-key-file "$TEST_TMP/pki/server.key" \
        --token-auth-file "$TEST_TMP/tokens.csv" "$@" >>"$TEST_TMP/reconcilerd.log" 2>&1 &
    PID=$!
    defer "kill $PID"
    wait_for 15 "${CURL[@]}" -sf "$API/healthz" || { cat "$TEST_TMP/reconcilerd.log"; fail "reconcilerd did not start"; }
    KC=$TEST_TMP/kubeconfig
    {
        echo "apiVersion: v1"
        echo "kind: Config"
        echo "clusters:"
        echo "- {name: bosun, cluster: {server: \"$API\", certificate-authority-data: $(base64 -w0 <"$TEST_TMP/pki/ca.crt")}}"
        echo "users:"
        for u in $users; do echo "- {name: $u, user: {token: $u-token}}"; done
        echo "contexts:"
        for u in $users; do echo "- {name: $u, context: {cluster: bosun, user: $u, namespace: default}}"; done
        echo "current-context: admin"
    } >"$KC"
    K=(kubectl --kubeconfig "$KC" --cache-dir "$TEST_TMP/kcache" --request-timeout 20s)
}

# stop_https_api: SIGTERM, then asserts a clean exit and no sanitizer report.
stop_https_api() {
    stop_checked "$PID" "$TEST_TMP/reconcilerd.log"
}

# as TOKEN METHOD PATH [curl args]: body, then "HTTP <code>".
as() {
    local t=$1 m=$2 p=$3
    shift 3
    "${CURL[@]}" -s -X "$m" -H "Authorization: Bearer $t" -w '\nHTTP %{http_code}\n' "$@" "$API$p"
}

run_tests() {
    local suite t rc log
    suite=$(basename "$(dirname "$0")")/$(basename "$0" .sh)
    for t in $(declare -F | awk '{print $3}' | grep '^test_'); do
        log=$(mktemp)
        (
            set -e
            trap _run_deferred EXIT
            TEST_TMP=$(mktemp -d /tmp/bosun-test.XXXXXX)
            defer "rm -rf '$TEST_TMP'"
            [ "${BOSUN_TRACE:-}" = 1 ] && set -x
            "$t"
        ) >"$log" 2>&1
        rc=$?
        if [ $rc -eq 0 ]; then
            echo "ok    $suite/$t"
            echo "pass $suite/$t" >>"$BOSUN_RESULTS"
        elif [ $rc -eq 77 ]; then
            echo "skip  $suite/$t: $(grep '^SKIP:' "$log" | head -1 | cut -d: -f2-)"
            echo "skip $suite/$t" >>"$BOSUN_RESULTS"
        else
            echo "FAIL  $suite/$t (exit $rc)"
            tail -n "${BOSUN_TAIL:-60}" "$log" | sed 's/^/      /'
            echo "fail $suite/$t" >>"$BOSUN_RESULTS"
        fi
        rm -f "$log"
    done
}
