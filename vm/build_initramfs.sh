#!/usr/bin/env bash
# Builds the initramfs of actiond's VM for one architecture:
#   vm/build_initramfs.sh amd64|arm64 OUT
# It cross-compiles the guest agent (static, CGO_ENABLED=0), downloads
# Debian's e2fsprogs and the packages mke2fs loads libraries from with
# apt-get download, and runs cmd/initramfs_builder, which takes mke2fs and
# its library closure from them. It caches nothing: a run takes seconds.
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

# The packages that hold mke2fs and every library it loads (Debian 12:
# libe2p is in libext2fs2), plus the loader's libc6.
packages=(e2fsprogs libext2fs2 libcom-err2 libblkid1 libuuid1 libc6)

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

native="$(dpkg --print-architecture)"
if [[ "$arch" != "$native" ]] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
  apt_dir="$work/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  cat > "$apt_dir/apt.conf" <<APTCONF
Dir::State::Lists "$apt_dir/lists";
Dir::Cache "$apt_dir/cache";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APTCONF
  export APT_CONFIG="$apt_dir/apt.conf"
  echo "apt-get update for $arch (private lists)" >&2
  apt-get update -q >&2
fi
echo "downloading ${packages[*]} for $arch" >&2
(cd "$work/debs" && apt-get download -q "${packages[@]/%/:$arch}" >&2)

args=(--init "$work/bin/init" --exe /sbin/mke2fs --out "$out")
for deb in "$work/debs"/*.deb; do
  args+=(--deb "$deb")
done
"$work/bin/initramfs_builder" "${args[@]}"
echo "wrote $out ($(stat -c %s "$out") bytes)" >&2
