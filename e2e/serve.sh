#!/usr/bin/env bash
# Runs linux_actiond with useful defaults: builds the daemon, builds a runtime
# image from this machine's Debian libc6 and bash-static on first use (cached
# in the root directory), and serves on 127.0.0.1:8980, with the status page
# and metrics on http://127.0.0.1:9090/ (ACTIOND_METRICS_LISTEN sets that
# address; empty turns it off). Extra arguments go to `linux_actiond serve`
# (for example --listen or --jobs).
#
#   e2e/serve.sh [vm|vm-arm64] [FLAGS...]
#
# With vm (or vm-arm64), it runs `linux_actiond serve-vm` instead: the guest
# kernel from kernel/build.sh (cached by the hash of its inputs), the
# initramfs from vm/build_initramfs.sh and a runtime image of the guest's
# architecture; the CAS lives in ROOT/vm/cas.img.
set -euo pipefail
mode=serve arch=
case ${1:-} in
  vm) mode=serve-vm arch=x86_64; shift ;;
  vm-arm64) mode=serve-vm arch=arm64; shift ;;
esac
here=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"
root=${ACTIOND_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/actiond}
mkdir -p "$root/bin"
(cd "$here" && go build -o "$root/bin/linux_actiond" ./cmd/linux_actiond)
# The image is named after the code that builds it, so a checkout that
# changes what images hold builds a new one instead of serving a stale one.
key=$(cd "$here" && find e2e/build_local_runtimes.sh cmd/deb_runtime cmd/squashfs_builder go/runtimes/builder go/squashfs go/deb \
  -name '*_test.go' -prune -o -type f \( -name '*.go' -o -name '*.sh' \) -print | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-12)
debarch=$(dpkg --print-architecture)
[ "$arch" = arm64 ] && debarch=arm64
image="$root/runtimes-$debarch-$key.sqfs"
if [ ! -s "$image" ]; then
  echo "serve.sh: building the $debarch runtime image $image (once per version of its builder)" >&2
  "$here/e2e/build_local_runtimes.sh" --arch "$debarch" "$image.tmp"
  mv "$image.tmp" "$image"
  find "$root" -maxdepth 1 -name "runtimes*.sqfs" ! -name "runtimes-*$key.sqfs" -delete
fi
metrics_listen=${ACTIOND_METRICS_LISTEN-127.0.0.1:9090}
if [ "$mode" = serve ]; then
  exec "$root/bin/linux_actiond" serve --root="$root" --runtime-image="$image" --metrics-listen="$metrics_listen" "$@"
fi
"$here/kernel/build.sh" "$arch" "$root/vm/kernel-$arch"
goarch=amd64
[ "$arch" = arm64 ] && goarch=arm64
"$here/vm/build_initramfs.sh" "$goarch" "$root/vm/initramfs-$goarch.cpio.zst"
kernel=$(echo "$root/vm/kernel-$arch"/*Image)
exec "$root/bin/linux_actiond" serve-vm --root="$root" --arch="$arch" --kernel="$kernel" \
  --initramfs="$root/vm/initramfs-$goarch.cpio.zst" --runtime-image="$image" --metrics-listen="$metrics_listen" "$@"
