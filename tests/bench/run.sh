#!/usr/bin/env bash
# Runs every benchmark script in tests/bench/ (each appends its rows to
# docs/benchmarks.md). `make bench` calls this after building the binaries.
#   tests/bench/run.sh [name.sh ...]   (default: every tests/bench/*.sh but this one)
set -u
cd "$(dirname "$0")/../.."
fail=0
if [ $# -gt 0 ]; then
    scripts=("$@")
else
    scripts=()
    for f in tests/bench/*.sh; do
        [ "$(basename "$f")" = run.sh ] && continue
        scripts+=("$f")
    done
fi
for f in "${scripts[@]}"; do
    case $f in */*) ;; *) f=tests/bench/$f ;; esac
    echo "== bench $(basename "$f")"
    if ! bash "$f"; then
        echo "FAIL  bench $(basename "$f")"
        fail=1
    fi
done
exit $fail
