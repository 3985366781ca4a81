#!/bin/sh
# mkimage-busybox.sh OUTDIR — builds the OCI image layout of busybox:1.35 from Debian's
# static /bin/busybox, so that the example runs on a machine without internet.
#
# OUTDIR gets: oci-layout, index.json (one manifest, annotated
# org.opencontainers.image.ref.name=1.35, which is how the nodeagent's image store finds
# "busybox:1.35"), blobs/sha256/{layer,config,manifest}. The layer is a gzip'd tar of
# bin/busybox + one symlink per applet in bin/ (like the upstream image), etc/passwd,
# etc/group, tmp/, root/, www/. Output is deterministic (mtime 0, numeric owners,
# sorted names, gzip -n): the same busybox gives the same digests.
#
# Uses only sh, tar, gzip, sha256sum (and mkdir/ln/cp/mv/rm/uname from coreutils).
set -eu

out=${1:?usage: mkimage-busybox.sh OUTDIR}
bb=${BUSYBOX:-/bin/busybox}
tag=1.35

[ -x "$bb" ] || { echo "mkimage-busybox: $bb missing (apt-get install busybox-static)" >&2; exit 1; }

case $(uname -m) in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
armv7l) arch=arm ;;
*) arch=$(uname -m) ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/mkimage-busybox.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

root=$work/rootfs
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/www" "$root/var/www" \
    "$root/home" "$root/proc" "$root/sys" "$root/dev"
cp "$bb" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
# Every applet busybox knows, as bin/<applet> -> busybox (the upstream image's layout).
for a in $("$bb" --list); do
    case $a in busybox | */* | '') continue ;; esac
    ln -sf busybox "$root/bin/$a"
done
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
tty:x:5:
www-data:x:33:
nogroup:x:65534:
EOF
: >"$root/etc/hosts"
: >"$root/etc/resolv.conf"

blobs=$work/layout/blobs/sha256
mkdir -p "$blobs"

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { wc -c <"$1" | tr -d ' '; }

# The layer: an uncompressed tar (its digest is the config's diff_id), then gzip.
(cd "$root" && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -cf "$work/layer.tar" .)
diff_id=$(sha "$work/layer.tar")
gzip -n -9 -c "$work/layer.tar" >"$work/layer.tar.gz"
layer=$(sha "$work/layer.tar.gz")
layer_size=$(size "$work/layer.tar.gz")
mv "$work/layer.tar.gz" "$blobs/$layer"

printf '%s' "{\"architecture\":\"$arch\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],\"Cmd\":[\"sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$diff_id\"]},\"history\":[{\"created_by\":\"tools/mkimage-busybox.sh from Debian busybox-static\"}]}" \
    >"$work/config.json"
config=$(sha "$work/config.json")
config_size=$(size "$work/config.json")
mv "$work/config.json" "$blobs/$config"

printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$config\",\"size\":$config_size},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$layer\",\"size\":$layer_size}]}" \
    >"$work/manifest.json"
manifest=$(sha "$work/manifest.json")
manifest_size=$(size "$work/manifest.json")
mv "$work/manifest.json" "$blobs/$manifest"

printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$manifest\",\"size\":$manifest_size,\"platform\":{\"architecture\":\"$arch\",\"os\":\"linux\"},\"annotations\":{\"org.opencontainers.image.ref.name\":\"$tag\"}}]}" \
    >"$work/layout/index.json"

# Replace OUTDIR as a whole so a reader never sees a half-written layout.
mkdir -p "$(dirname "$out")"
rm -rf "$out.new"
mv "$work/layout" "$out.new"
rm -rf "$out"
mv "$out.new" "$out"
echo "  IMAGE busybox:$tag -> $out (sha256:$manifest)"
