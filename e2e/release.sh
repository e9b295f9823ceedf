#!/usr/bin/env bash
# Builds the standalone binaries this machine can build, without Bazel, as a
# user without Bazel 7 would: linux_actiond for linux/amd64 and linux/arm64,
# each carrying its architecture's runtime image, guest kernel and initramfs
# as ELF sections (cmd/payload_builder), so that `linux_actiond serve` and
# `linux_actiond serve-vm` need no other file and no flag. Writes
# OUTDIR/linux_actiond-linux-ARCH and OUTDIR/SHA256SUMS.
#
#   e2e/release.sh [--arch amd64|arm64 ...] OUTDIR
#
# The darwin binary needs a Mac and Bazel (its payloads are Mach-O sections
# made at link time, before codesigning): see the README.
#
# Inputs: kernel/build.sh (cached by the hash of its inputs),
# vm/build_initramfs.sh and e2e/build_local_runtimes.sh (Debian's .debs of
# the host's suite through apt-get download). Runs as root (the kernel build
# installs its build dependencies; the runtime images need none).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"

arches=()
while [ $# -gt 1 ]; do
  case $1 in
    --arch) arches+=("${2:?--arch needs amd64 or arm64}"); shift 2 ;;
    *) break ;;
  esac
done
if [ $# -ne 1 ]; then
  echo "usage: $0 [--arch amd64|arm64 ...] OUTDIR" >&2
  exit 2
fi
[ ${#arches[@]} -gt 0 ] || arches=(amd64 arm64)
out=$(realpath -m "$1")
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/actiond-release.XXXXXX")
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT
log() { printf 'release.sh: %s\n' "$*" >&2; }

(cd "$repo" && go build -o "$work/payload_builder" ./cmd/payload_builder)
for arch in "${arches[@]}"; do
  case $arch in
    amd64) karch=x86_64 image=bzImage ;;
    arm64) karch=arm64 image=Image ;;
    *) echo "release.sh: unknown architecture $arch (want amd64 or arm64)" >&2; exit 2 ;;
  esac
  log "$arch: guest kernel (kernel/build.sh $karch)"
  "$repo/kernel/build.sh" "$karch" "$work/kernel-$arch" >&2
  log "$arch: initramfs"
  "$repo/vm/build_initramfs.sh" "$arch" "$work/initramfs-$arch.cpio.zst" >&2
  log "$arch: runtime image"
  "$repo/e2e/build_local_runtimes.sh" --arch "$arch" "$work/runtimes-$arch.sqfs" >&2
  log "$arch: linux_actiond"
  (cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath \
    -ldflags="-s -w" -o "$work/linux_actiond-$arch" ./cmd/linux_actiond)
  # The kernel and the SquashFS image are compressed already; the initramfs
  # is zstd. Compressing again would cost start-up time for nothing.
  "$work/payload_builder" --format=elf --compress=none --in "$work/linux_actiond-$arch" \
    --out "$out/linux_actiond-linux-$arch" \
    --payload "kernel=$work/kernel-$arch/$image" \
    --payload "initramfs=$work/initramfs-$arch.cpio.zst" \
    --payload "runtimes=$work/runtimes-$arch.sqfs"
  chmod 0755 "$out/linux_actiond-linux-$arch"
  log "$arch: $out/linux_actiond-linux-$arch ($(stat -c %s "$out/linux_actiond-linux-$arch") bytes)"
done
(cd "$out" && sha256sum linux_actiond-linux-* >SHA256SUMS)
cat "$out/SHA256SUMS"
