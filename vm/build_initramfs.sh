#!/usr/bin/env bash
# Builds the initramfs of actiond's VM for one architecture:
#   vm/build_initramfs.sh amd64|arm64 OUT
# It cross-compiles the guest agent (static, CGO_ENABLED=0), downloads
# Debian's e2fsprogs and the packages mke2fs loads libraries from
# (vm/debs.sh) with apt-get download, and runs cmd/initramfs_builder,
# which takes mke2fs and its library closure from them. It caches nothing: a run takes seconds.
# For an architecture dpkg is not configured for, apt reads that
# architecture's package lists into a private directory (the system's apt
# setup is left as it is).
set -euo pipefail

if [[ $# -ne 2 || ( "$1" != amd64 && "$1" != arm64 ) ]]; then
  echo "usage: $0 amd64|arm64 OUT" >&2
  exit 2
fi
arch="$1"
out="$(realpath -m "$2")"
repo="$(cd "$(dirname "$0")/.." && pwd)"

# shellcheck source=vm/debs.sh
source "$repo/vm/debs.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/actiond-initramfs.XXXXXX")"
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debs" "$work/bin"
# apt drops privileges to _apt for downloads; let it write here.
chmod 0777 "$work/debs"

echo "building the guest agent for $arch" >&2
(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath -ldflags='-s -w' \
  -o "$work/bin/init" ./cmd/linux_actiond_guest)
(cd "$repo" && go build -o "$work/bin/initramfs_builder" ./cmd/initramfs_builder)

apt_for_arch "$arch" "$work/apt"
echo "downloading ${initramfs_packages[*]} for $arch" >&2
(cd "$work/debs" && apt-get download -q "${initramfs_packages[@]/%/:$arch}" >&2)

args=(--init "$work/bin/init" --exe /sbin/mke2fs --out "$out")
for deb in "$work/debs"/*.deb; do
  args+=(--deb "$deb")
done
"$work/bin/initramfs_builder" "${args[@]}"
echo "wrote $out ($(stat -c %s "$out") bytes)" >&2
