#!/usr/bin/env bash
# Builds the actiond guest kernel for ARCH (x86_64 or arm64) from Debian's
# linux-source package and copies it to OUT_DIR: bzImage (x86_64) or the
# uncompressed Image (arm64, what Virtualization.framework's Linux boot loader
# takes), plus the final .config.
#
#   kernel/build.sh ARCH OUT_DIR
#
# The configuration is allnoconfig plus kernel/actiond.config and
# kernel/actiond-ARCH.config; every line of the fragments must survive into
# the final .config, else the build fails (Kconfig silently drops an option
# whose dependencies are missing).
#
# Results are cached outside the clone in
# ${ACTIOND_KERNEL_CACHE:-/var/cache/actiond/kernel}/KEY/, KEY being the
# sha256 of the fragments, this script, the linux-source version (or the
# tarball's sha256 when LINUX_SOURCE_TARBALL names one no package owns), ARCH
# and the compiler's version: a second run with the same inputs only copies.
# Each build also points ${cache}/latest-ARCH at its result.
#
# Installs what is missing with apt-get when run as root.
set -euo pipefail

usage() { echo "usage: $0 x86_64|arm64 OUT_DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
arch=$1
out=$2
here=$(cd "$(dirname "$0")" && pwd)
cache=${ACTIOND_KERNEL_CACHE:-/var/cache/actiond/kernel}
series=6.1
tarball=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-$series.tar.xz}

case $arch in
  x86_64) karch=x86; cross=; cc=gcc; image=arch/x86/boot/bzImage; name=bzImage; ccpkg=gcc ;;
  arm64) karch=arm64; cross=aarch64-linux-gnu-; cc=aarch64-linux-gnu-gcc; image=arch/arm64/boot/Image; name=Image; ccpkg=gcc-aarch64-linux-gnu ;;
  *) usage ;;
esac

log() { printf 'kernel/build.sh %s: %s\n' "$arch" "$*" >&2; }

# Build dependencies: install what is missing (needs root), else fail naming it.
need=()
[ -f "$tarball" ] || need+=("linux-source-$series")
command -v "$cc" >/dev/null || need+=("$ccpkg")
for tool in make:make bc:bc flex:flex bison:bison cpio:cpio xz:xz-utils perl:perl; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
[ -f /usr/include/libelf.h ] || need+=(libelf-dev)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "missing ${need[*]}: run as root or apt-get install them"
    exit 1
  fi
  log "apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }
fi

frags=("$here/actiond.config" "$here/actiond-$arch.config")

# The source's identity: the package version is cheap; an arbitrary tarball
# is hashed.
if owner=$(dpkg -S "$tarball" 2>/dev/null); then
  pkg=${owner%%:*}
  source_id="$pkg $(dpkg-query -W -f='${Version}' "$pkg")"
else
  source_id="sha256 $(sha256sum <"$tarball" | cut -d' ' -f1)"
fi
key=$(
  {
    for f in "${frags[@]}" "$here/build.sh"; do
      printf '%s %s\n' "$(basename "$f")" "$(sha256sum <"$f" | cut -d' ' -f1)"
    done
    printf 'source %s\narch %s\ncompiler %s\n' "$source_id" "$arch" "$("$cc" --version | head -n1)"
  } | sha256sum | cut -d' ' -f1
)
entry=$cache/$key

publish() {
  mkdir -p "$out"
  cp "$entry/$name" "$entry/config" "$out/"
  ln -sfn "$key" "$cache/latest-$arch.tmp"
  mv -T "$cache/latest-$arch.tmp" "$cache/latest-$arch"
}

if [ -f "$entry/$name" ] && [ -f "$entry/config" ]; then
  log "cached: $entry"
  publish
  exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "${TMPDIR:-/tmp}/actiond-kernel-$arch.XXXXXX")
# The entry is assembled next to its final place, so that the rename below
# is atomic.
stage=$(mktemp -d "$cache/.staging-$arch.XXXXXX")
trap 'rm -rf "$work" "$stage"' EXIT
start=$(date +%s)
log "extracting $tarball ($source_id)"
tar -xf "$tarball" -C "$work"
src=$(echo "$work"/linux-source-*)
build=$work/build
mkdir -p "$build"

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

cp "$build/$image" "$stage/$name"
cp "$build/.config" "$stage/config"
chmod 0755 "$stage"
# Concurrent builds of the same key: the first rename wins, both are equal.
if ! mv -T "$stage" "$entry" 2>/dev/null; then
  [ -f "$entry/$name" ] || { log "cannot store $entry"; exit 1; }
fi
log "built in $(($(date +%s) - start)) s: $entry"
publish
