#!/usr/bin/env bash
# Build the sandbox image with no image registry: debootstrap a minimal Debian from the
# host's own apt mirror with the packages in packages.txt, then `docker import` it.
# Usage: build-rootfs.sh IMAGE_TAG RECIPE_HASH
set -euo pipefail
tag=$1 recipe=$2
here=$(cd "$(dirname "$0")" && pwd)
command -v debootstrap >/dev/null || {
  echo "build-rootfs: installing debootstrap ..." >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}
. /etc/os-release
suite=${LABLOOP_SANDBOX_SUITE:-${VERSION_CODENAME:-bookworm}}
# The mirror this host already uses (deb822 "URIs:" or a one-line "deb" entry).
host_mirror() {
  cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | awk '
    /^URIs:/ && $2 !~ /security/ {print $2; exit}
    /^deb / && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^(http|https|file):/) {print $i; exit}}' || true
}
mirror=${LABLOOP_SANDBOX_MIRROR:-$(host_mirror)}
[ -n "$mirror" ] || { echo "build-rootfs: no apt mirror found; set LABLOOP_SANDBOX_MIRROR" >&2; exit 1; }
packages=$(grep -v '^#' "$here/packages.txt" | paste -sd, -)
root=$(mktemp -d /var/tmp/labloop-rootfs.XXXXXX)
# debootstrap mounts proc/sys (and may leave them mounted when it fails): unmount everything
# under the root first, deepest first, then delete without ever crossing into another filesystem.
cleanup() {
  set +e
  awk -v r="$root/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m"
  done
  rm -rf --one-file-system "$root" "$root.log"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo "build-rootfs: debootstrap $suite from the host's mirror into $root (a few minutes) ..." >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -30 "$root.log" >&2; exit 1; }
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc "$root"/usr/share/man
mkdir -p "$root/workspace" "$root/output" "$root/labloop"
echo "build-rootfs: importing as $tag ..." >&2
# The engine provides /proc, /sys and /dev at run time: ship the empty folders, not their content.
tar -C "$root" --one-file-system --numeric-owner \
    --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV MPLBACKEND=Agg PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp LANG=C.UTF-8' \
  --change 'WORKDIR /workspace' \
  --change 'USER 65534:65534' \
  --change "LABEL labloop.recipe=$recipe labloop.recipe_kind=debootstrap" \
  - "$tag" >/dev/null
echo "build-rootfs: done" >&2
