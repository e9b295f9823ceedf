#!/usr/bin/env bash
# Builds a runtime SquashFS image from Debian's libc6 and bash-static for the
# host architecture, without Bazel:
#
#   e2e/build_local_runtimes.sh [--arch amd64|arm64] [--suites bullseye,bookworm,trixie] [--debs DIR] [--rootfs NAME=DEBDIR ...] [--toolchain NAME] OUT.sqfs
#
# Without --suites it fetches the packages of the host's own suite with
# `apt-get download`. --arch (Debian's name; default the host's) builds the
# runtimes of another architecture, for example the arm64 image a Mac's VM
# mounts, through the private APT configuration below. --suites adds libc6 from other Debian suites through a
# private APT configuration (the system's sources, lists and dpkg state are
# left alone). --debs DIR skips apt and uses DIR/libc6_*.deb and
# DIR/bash-static_*.deb as they are (test/rules/run.sh uses this to compare
# with the image Bazel builds from the same files). Each --rootfs NAME=DEBDIR
# adds a rootfs runtime, rootfs/NAME/<arch>, built from every DEBDIR/*.deb
# in file name order in the C locale (a complete dependency closure:
# nothing is resolved here); actions select
# it with the exec property runtime=NAME. A NAME that another runtime of the
# image already has is refused. --toolchain NAME adds the C/C++ toolchain
# rootfs: Debian's gcc, g++, binutils, libc6-dev, libstdc++-12-dev, bash and
# coreutils with their dependency closure, resolved by cmd/deb_lock against
# apt's package lists (essential packages included: a rootfs is a whole
# system), downloaded with every size and sha256 checked against the lock,
# which is kept beside the image as OUT.sqfs.NAME.lock.json.
#
# Each libc6 becomes libc/glibc<major.minor>/<arch> (glibc2.36 for
# bookworm), bash-static becomes shell/bash/<arch>. Like the Bazel rules,
# it makes one archive per runtime with `cmd/deb_runtime --tar` and packs
# them with `cmd/squashfs_builder --tar` (zstd), so the image is
# byte-identical to the one //runtimes builds from the same .debs; the
# runtimes inside it are printed.
set -euo pipefail

usage() {
  echo "usage: $0 [--arch amd64|arm64] [--suites s1,s2,...] [--debs DIR] [--rootfs NAME=DEBDIR ...] [--toolchain NAME] OUT.sqfs" >&2
  exit 2
}

suites=""
debs_dir=""
deb_arch="$(dpkg --print-architecture)"
out=""
rootfs=()
toolchain=""
toolchain_packages=(gcc g++ binutils libc6-dev libstdc++-12-dev bash coreutils)
while [[ $# -gt 0 ]]; do
  case "$1" in
    --suites) suites="${2:?--suites needs a value}"; shift 2 ;;
    --suites=*) suites="${1#*=}"; shift ;;
    --debs) debs_dir="${2:?--debs needs a value}"; shift 2 ;;
    --debs=*) debs_dir="${1#*=}"; shift ;;
    --arch) deb_arch="${2:?--arch needs a value}"; shift 2 ;;
    --arch=*) deb_arch="${1#*=}"; shift ;;
    --rootfs) rootfs+=("${2:?--rootfs needs NAME=DEBDIR}"); shift 2 ;;
    --rootfs=*) rootfs+=("${1#*=}"); shift ;;
    --toolchain) toolchain="${2:?--toolchain needs a NAME}"; shift 2 ;;
    --toolchain=*) toolchain="${1#*=}"; shift ;;
    -h|--help) usage ;;
    -*) echo "unknown flag $1" >&2; usage ;;
    *) [[ -z "$out" ]] || usage; out="$1"; shift ;;
  esac
done
[[ -n "$out" ]] || usage
if [[ -n "$toolchain" && -n "$debs_dir" ]]; then
  echo "--toolchain resolves packages with apt's lists; it cannot be used with --debs" >&2
  exit 2
fi
if [[ -n "$suites" && -n "$debs_dir" ]]; then
  echo "--suites and --debs exclude each other" >&2
  exit 2
fi
for spec in "${rootfs[@]}"; do
  name="${spec%%=*}"
  dir="${spec#*=}"
  if [[ "$spec" != *=* || -z "$name" || -z "$dir" ]]; then
    echo "--rootfs $spec: want NAME=DEBDIR" >&2
    exit 2
  fi
  if ! compgen -G "$dir/*.deb" > /dev/null; then
    echo "--rootfs $spec: no .deb files in $dir" >&2
    exit 2
  fi
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(realpath -m "$out")"
# Another architecture's packages come through the private APT
# configuration, which lists them without touching the system's.
cross=""
if [[ "$deb_arch" != "$(dpkg --print-architecture)" ]]; then
  cross=1
  if [[ -z "$suites" && -z "$debs_dir" ]]; then
    suites="$(. /etc/os-release && echo "$VERSION_CODENAME")"
  fi
fi
case "$deb_arch" in
  amd64) arch=x86_64 ;;
  arm64) arch=aarch64 ;;
  *) echo "no runtimes are defined for $deb_arch" >&2; exit 1 ;;
esac

work="$(mktemp -d "${TMPDIR:-/tmp}/actiond-runtimes.XXXXXX")"
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT

echo "building tools" >&2
(cd "$repo" && go build -o "$work/bin/deb_runtime" ./cmd/deb_runtime \
  && go build -o "$work/bin/squashfs_builder" ./cmd/squashfs_builder)

# --- fetch the packages ------------------------------------------------------
mkdir -p "$work/debs"
if [[ -n "$debs_dir" ]]; then
  cp "$debs_dir"/libc6_*.deb "$debs_dir"/bash-static_*.deb "$work/debs/"
  # busybox-static is optional: with it the shell runtime also has cat, cp,
  # sed and the other commands genrules call.
  cp "$debs_dir"/busybox-static_*.deb "$work/debs/" 2>/dev/null || true
else
  # apt drops privileges to _apt for downloads; let it write here.
  chmod 0777 "$work/debs"
  if [[ -z "$cross" ]]; then
    (cd "$work/debs" && apt-get download -q "libc6:$deb_arch" "bash-static:$deb_arch" "busybox-static:$deb_arch" >&2)
  fi
  if [[ -n "$suites" ]]; then
    apt_dir="$work/apt"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources.list.d" "$apt_dir/preferences.d"
    uri="$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)"
    uri="${uri:-http://deb.debian.org/debian}"
    : > "$apt_dir/sources.list"
    for suite in ${suites//,/ }; do
      echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite main" >> "$apt_dir/sources.list"
    done
    cat > "$apt_dir/apt.conf" <<APTCONF
Dir::Etc::sourcelist "$apt_dir/sources.list";
Dir::Etc::sourceparts "$apt_dir/sources.list.d";
Dir::Etc::preferencesparts "$apt_dir/preferences.d";
Dir::State::Lists "$apt_dir/lists";
Dir::Cache "$apt_dir/cache";
APT::Architectures { "$deb_arch"; };
APT::Sandbox::User "root";
APTCONF
    export APT_CONFIG="$apt_dir/apt.conf"
    echo "apt-get update for suites: $suites" >&2
    apt-get update -q >&2
    if [[ -n "$cross" ]]; then
      # The shell runtime comes from the first suite given.
      (cd "$work/debs" && apt-get download -q "bash-static:$deb_arch/${suites%%,*}" "busybox-static:$deb_arch/${suites%%,*}" >&2)
    fi
    for suite in ${suites//,/ }; do
      mkdir -p "$work/suite-$suite"
      (cd "$work/suite-$suite" && apt-get download -q "libc6:$deb_arch/$suite" >&2)
      mv "$work/suite-$suite"/libc6_*.deb "$work/debs/"
    done
    unset APT_CONFIG
  fi
fi

# --- the toolchain's package closure -----------------------------------------
if [[ -n "$toolchain" ]]; then
  (cd "$repo" && go build -o "$work/bin/deb_lock" ./cmd/deb_lock)
  indexes=()
  if [[ -n "$cross" ]]; then
    # Another architecture's lists are in the private APT directory.
    for f in "$apt_dir"/lists/*_binary-"${deb_arch}"_Packages*; do
      indexes+=(--index "$f")
    done
  fi
  lock="$out.$toolchain.lock.json"
  echo "resolving the $toolchain toolchain: ${toolchain_packages[*]}" >&2
  "$work/bin/deb_lock" --arch "$deb_arch" --include-essential "${indexes[@]}" --out "$lock" "${toolchain_packages[@]}"
  mkdir -p "$work/toolchain-debs"
  "$work/bin/deb_lock" fetch --lock "$lock" --out "$work/toolchain-debs"
  rootfs+=("$toolchain=$work/toolchain-debs")
fi

# --- build the runtime archives ----------------------------------------------
mkdir -p "$work/tar"
tars=()
declare -A seen=()
for deb in "$work/debs"/libc6_*.deb; do
  version="$(dpkg-deb -f "$deb" Version)"
  upstream="${version#*:}"
  upstream="${upstream%%-*}"
  name="glibc$(echo "$upstream" | cut -d. -f1,2)"
  if [[ -n "${seen[$name]:-}" ]]; then
    echo "skipping $(basename "$deb"): $name already comes from ${seen[$name]}" >&2
    continue
  fi
  seen[$name]="$(basename "$deb")"
  "$work/bin/deb_runtime" --name "$name" --kind libc --arch "$arch" --tar "$work/tar/$name.tar" "$deb"
  tars+=("--tar" "libc/$name/$arch=$work/tar/$name.tar")
done
shell_debs=("$work/debs"/bash-static_*.deb)
shopt -s nullglob
shell_debs+=("$work/debs"/busybox-static_*.deb)
shopt -u nullglob
"$work/bin/deb_runtime" --name bash --kind shell --arch "$arch" --tar "$work/tar/bash.tar" "${shell_debs[@]}"
tars+=("--tar" "shell/bash/$arch=$work/tar/bash.tar")
rootfs_tars=()
for spec in "${rootfs[@]}"; do
  name="${spec%%=*}"
  dir="$(realpath "${spec#*=}")"
  # squashfs_builder refuses the clash too; failing here saves the build.
  if [[ "$name" == bash || -n "${seen[$name]:-}" || -n "${seen[rootfs-$name]:-}" ]]; then
    echo "--rootfs $spec: the image already has a runtime named $name" >&2
    exit 1
  fi
  seen[rootfs-$name]="$dir"
  # In file name order in the C locale whatever the caller's locale, as
  # the Bazel rule deb_closure orders them: the manifest lists the packages
  # in extraction order.
  mapfile -t rootfs_debs < <(printf '%s\n' "$dir"/*.deb | LC_ALL=C sort)
  echo "building rootfs $name from ${#rootfs_debs[@]} packages in $dir" >&2
  "$work/bin/deb_runtime" --name "$name" --kind rootfs --arch "$arch" --tar "$work/tar/rootfs-$name.tar" "${rootfs_debs[@]}"
  tars+=("--tar" "rootfs/$name/$arch=$work/tar/rootfs-$name.tar")
  rootfs_tars+=("$work/tar/rootfs-$name.tar")
done

# --- pack and report ---------------------------------------------------------
mkdir -p "$(dirname "$out")"
"$work/bin/squashfs_builder" --output "$out" --compression zstd "${tars[@]}"
echo "wrote $out ($(stat -c %s "$out") bytes), sha256 $(sha256sum "$out" | cut -d' ' -f1)" >&2
echo "runtimes in $out:"
for archive in "$work"/tar/glibc*.tar "$work"/tar/bash.tar "${rootfs_tars[@]}"; do
  manifest="${archive%.tar}.json"
  tar -xOf "$archive" ./runtime_manifest.json > "$manifest"
  python3 - "$manifest" <<'PY' 2>/dev/null || sed -n 's/^  "name": "\(.*\)",$/  \1/p' "$manifest"
import json, sys
m = json.load(open(sys.argv[1]))
debs = [d["file"] for d in m["debs"]]
print("  %s %s %s interpreters=%s debs=%s" % (m["kind"], m["name"], m["arch"],
      ",".join(m["interpreters"]) or "-", ",".join(debs) if len(debs) <= 3 else "%d packages" % len(debs)))
PY
done
