#!/usr/bin/env bash
# Runs every test: unit tests (ASan+UBSan builds), integration tests (real daemons built
# with ASan+UBSan, on loopback), e2e tests (the whole cluster). Prints one line per test
# and closes with "N passed, N failed, N skipped".
#   tests/run.sh [unit|integration|e2e|fuzz]...   (default: all of them)
set -u
cd "$(dirname "$0")/.."
export BOSUN_TOP=$PWD
export BOSUN_RESULTS
BOSUN_RESULTS=$(mktemp)
trap 'rm -f "$BOSUN_RESULTS"' EXIT

record() { echo "$1 $2" >>"$BOSUN_RESULTS"; }

run_unit() {
    local t out
    for t in build/asan/tests/test_*; do
        [ -x "$t" ] || continue
        out=$(mktemp)
        # A hung test must fail, not stall CI: no unit test needs minutes.
        if timeout -k 10 300 "$t" >"$out" 2>&1; then
            echo "ok    unit/$(basename "$t") ($(grep -c '^\[       OK \]' "$out") cases)"
            record pass "unit/$(basename "$t")"
        else
            echo "FAIL  unit/$(basename "$t")"
            sed 's/^/      /' "$out"
            record fail "unit/$(basename "$t")"
        fi
        rm -f "$out"
    done
}

run_scripts() { # dir binaries
    local f
    for f in tests/$1/*.sh; do
        [ -f "$f" ] || continue
        BOSUN_BIN=$2 timeout -k 30 1500 bash "$f" ||
            [ $? -ne 124 ] || record fail "$1/$(basename "$f" .sh): timed out"
    done
}

run_fuzz() {
    bash tests/fuzz/run.sh
}

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(unit integration e2e fuzz)
for s in "${suites[@]}"; do
    echo "== $s"
    case $s in
    unit) run_unit ;;
    integration) run_scripts integration "$BOSUN_TOP/build/asan/bin" ;;
    e2e) run_scripts e2e "$BOSUN_TOP/bin" ;;
    fuzz) run_fuzz ;;
    *) echo "unknown suite $s"; exit 2 ;;
    esac
done

p=$(grep -c '^pass ' "$BOSUN_RESULTS")
f=$(grep -c '^fail ' "$BOSUN_RESULTS")
k=$(grep -c '^skip ' "$BOSUN_RESULTS")
if [ "$f" -gt 0 ]; then
    echo "failed:"
    grep '^fail ' "$BOSUN_RESULTS" | sed 's/^fail /  /'
fi
echo "$p passed, $f failed, $k skipped"
[ "$f" -eq 0 ] && [ "$p" -gt 0 ]
