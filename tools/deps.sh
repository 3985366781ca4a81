#!/bin/sh
# Installs the Debian packages bosun builds and runs with, only those missing.
set -eu
PKGS="build-essential pkg-config clang libgit2-dev libyaml-dev libjansson-dev
libcurl4-openssl-dev libmicrohttpd-dev libcmocka-dev libssl-dev libarchive-dev
runc conmon containernetworking-plugins etcd-server busybox-static iproute2 nftables git curl
python3 python3-kubernetes hey wrk ca-certificates"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
    echo "deps: need root to install packages (run as root, or install them yourself)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
# shellcheck disable=SC2086
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } \
    >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "deps: apt-get failed" >&2
    exit 1
fi
rm -f "$log"
echo "deps: done"
