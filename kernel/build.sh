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
# sha256 of the fragments, this script and make_kernel.sh (which configures
# and builds, shared with the Bazel targets), the linux-source version (or the
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
  x86_64) cc=gcc; name=bzImage; ccpkg=gcc ;;
  arm64) cc=aarch64-linux-gnu-gcc; name=Image; ccpkg=gcc-aarch64-linux-gnu ;;
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
    for f in "${frags[@]}" "$here/build.sh" "$here/make_kernel.sh"; do
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
# The entry is assembled next to its final place, so that the rename below
# is atomic.
stage=$(mktemp -d "$cache/.staging-$arch.XXXXXX")
trap 'rm -rf "$stage"' EXIT
start=$(date +%s)
log "building from $tarball ($source_id)"
"$here/make_kernel.sh" "$arch" "$tarball" "$stage" "${frags[@]}"
chmod 0755 "$stage"
# Concurrent builds of the same key: the first rename wins, both are equal.
if ! mv -T "$stage" "$entry" 2>/dev/null; then
  [ -f "$entry/$name" ] || { log "cannot store $entry"; exit 1; }
fi
log "built in $(($(date +%s) - start)) s: $entry"
publish
