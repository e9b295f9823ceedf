#!/usr/bin/env bash
# Configures and builds the actiond guest kernel from a source tarball; the
# part of the build that kernel/build.sh (Debian's linux-source, cached) and
# the Bazel targets //kernel:kernel_x86_64 and //kernel:kernel_aarch64
# (kernel.org's tarball pinned in MODULE.bazel) share:
#
#   kernel/make_kernel.sh x86_64|arm64 TARBALL OUT_DIR FRAGMENT...
#
# TARBALL is any tar archive of a Linux source tree with one top-level
# directory (linux-source-6.1/ or linux-6.1.N/). The configuration is
# allnoconfig with the concatenated FRAGMENTs as KCONFIG_ALLCONFIG; every
# CONFIG_X=value line of the fragments must survive into the final .config,
# else the build fails naming the lines (Kconfig silently drops an option
# whose dependencies are missing), and CONFIG_MODULES must be off. OUT_DIR
# receives bzImage (x86_64) or the uncompressed Image (arm64) and config.
#
# The build dependencies must be installed: make, bc, flex, bison, perl,
# xz-utils, libelf-dev, libssl-dev and the compiler (gcc for x86_64,
# gcc-aarch64-linux-gnu for arm64 on another host). The source is extracted
# to a temporary directory under TMPDIR, which is removed.
set -euo pipefail

usage() { echo "usage: $0 x86_64|arm64 TARBALL OUT_DIR FRAGMENT..." >&2; exit 2; }
[ $# -ge 4 ] || usage
arch=$1
tarball=$2
out=$3
shift 3
frags=("$@")

case $arch in
  x86_64) karch=x86; image=arch/x86/boot/bzImage; name=bzImage; cross= ;;
  arm64) karch=arm64; image=arch/arm64/boot/Image; name=Image; cross=aarch64-linux-gnu- ;;
  *) usage ;;
esac
# A native build needs no cross compiler.
[ "$(uname -m)" != aarch64 ] || [ "$arch" != arm64 ] || cross=

log() { printf 'kernel/make_kernel.sh %s: %s\n' "$arch" "$*" >&2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/actiond-kernel-$arch.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "extracting $tarball"
src=$work/src
build=$work/build
mkdir -p "$src" "$build"
tar -xf "$tarball" -C "$src" --strip-components=1

# Fixed identity, so that two builds of the same inputs are identical.
export KBUILD_BUILD_TIMESTAMP='1970-01-01 00:00:00 UTC'
export KBUILD_BUILD_USER=actiond KBUILD_BUILD_HOST=actiond KBUILD_BUILD_VERSION=1
makek() { make -C "$src" O="$build" ARCH="$karch" CROSS_COMPILE="$cross" "$@"; }

# allnoconfig with the fragments as the "all" config: what
# scripts/kconfig/merge_config.sh -n does.
cat "${frags[@]}" >"$work/fragment.config"
makek -s KCONFIG_ALLCONFIG="$work/fragment.config" allnoconfig

# Every CONFIG_X=value of the fragments must be in the final .config.
missing=$(grep -h -E '^CONFIG_[A-Za-z0-9_]+=' "${frags[@]}" | sort -u |
  while IFS= read -r line; do
    grep -qxF -- "$line" "$build/.config" || {
      sym=${line%%=*}
      got=$(grep -E "^$sym=|^# $sym is not set" "$build/.config" || echo "absent")
      printf '  %s (got: %s)\n' "$line" "$got"
    }
  done)
if [ -n "$missing" ]; then
  log "options of the fragments missing from the final .config (unmet dependencies?):"
  printf '%s\n' "$missing" >&2
  exit 1
fi
if grep -q '^CONFIG_MODULES=y' "$build/.config"; then
  log "CONFIG_MODULES=y: the guest loads no modules"
  exit 1
fi

log "building $name with make -j$(nproc)"
makek -s -j"$(nproc)" "$name"

mkdir -p "$out"
cp "$build/$image" "$out/$name"
cp "$build/.config" "$out/config"
