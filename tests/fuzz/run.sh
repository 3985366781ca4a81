#!/usr/bin/env bash
# Runs every libFuzzer target (built by `make fuzz` into build/fuzz/fuzz/) for
# FUZZ_SECONDS each [10], starting from the seeds in tests/fuzz/seeds/<target>/ when
# present. A crash, leak or sanitizer report fails the target; the reproducer is kept
# in build/fuzz/crashes/.
set -u
cd "$(dirname "$0")/../.."
: "${BOSUN_RESULTS:=/dev/null}"
secs=${FUZZ_SECONDS:-10}
mkdir -p build/fuzz/crashes
for bin in build/fuzz/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    corpus=$(mktemp -d)
    [ -d "tests/fuzz/seeds/$name" ] && cp -r "tests/fuzz/seeds/$name/." "$corpus/"
    log=$(mktemp)
    if "$bin" -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix=build/fuzz/crashes/"$name"- "$corpus" >"$log" 2>&1; then
        echo "ok    fuzz/$name ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}') runs in ${secs}s)"
        echo "pass fuzz/$name" >>"$BOSUN_RESULTS"
    else
        echo "FAIL  fuzz/$name"
        tail -n 40 "$log" | sed 's/^/      /'
        echo "fail fuzz/$name" >>"$BOSUN_RESULTS"
    fi
    rm -rf "$corpus" "$log"
done
