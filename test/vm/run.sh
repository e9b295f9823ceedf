#!/usr/bin/env bash
# Tests //rules' initramfs and kernel_image with a real Bazel 4.2.3 in
# WORKSPACE mode, offline:
#
#   test/vm/run.sh [--kernel]
#
# 1. builds the x86_64 and aarch64 initramfs through initramfs (the guest
#    through its platform transition, the .debs through deb_files with
#    file:// URLs, cmd/initramfs_builder as the exec tool) and checks that
#    each is byte-identical to vm/build_initramfs.sh's for that
#    architecture, which shows that each got its own architecture's guest;
# 2. checks that vm/debs.lock.json parses and that a deb set whose .deb is
#    of another architecture is rejected (deb_sets_from_lock, which the
#    module extension uses too);
# 3. loads and analyses kernel_image targets; with --kernel, builds the x86_64
#    kernel from Debian's linux-source tarball (minutes) and checks that it
#    is byte-identical to kernel/build.sh's (which runs too, cached).
#
# The .debs come from `apt-get download` (arm64 through private package
# lists, as vm/build_initramfs.sh does); tools are built with `go build`;
# Bazel runs with --batch and a private --output_user_root, so nothing
# outside a temporary directory is touched (but kernel/build.sh's cache).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
kernel=false
case "${1:-}" in
  "") ;;
  --kernel) kernel=true ;;
  *) echo "usage: $0 [--kernel]" >&2; exit 2 ;;
esac

# shellcheck source=test/lib.sh
. "$repo/test/lib.sh"
rules_test_init vm

# shellcheck source=vm/debs.sh
source "$repo/vm/debs.sh"

# --- the .debs, for both architectures ---------------------------------------
for deb_arch in amd64 arm64; do
  mkdir -p "$work/debs/$deb_arch"
  chmod 0777 "$work/debs/$deb_arch"
  (
    apt_for_arch "$deb_arch" "$work/apt-$deb_arch"
    cd "$work/debs/$deb_arch" && apt-get download -q "${initramfs_packages[@]/%/:$deb_arch}" >&2
  )
done

# --- the actiond repository as the test workspace sees it -------------------
mkdir -p "$work/actiond/cmd/initramfs_builder" "$work/actiond/kernel"
(cd "$repo" && go build -o "$work/actiond/cmd/initramfs_builder/initramfs_builder" ./cmd/initramfs_builder)
echo 'exports_files(["initramfs_builder"])' > "$work/actiond/cmd/initramfs_builder/BUILD.bazel"
for f in make_kernel.sh actiond.config actiond-x86_64.config actiond-arm64.config; do
  ln -s "$repo/kernel/$f" "$work/actiond/kernel/$f"
done
echo 'exports_files(glob(["*"]))' > "$work/actiond/kernel/BUILD.bazel"
ln -s "$repo/rules" "$work/actiond/rules"
ln -s "$repo/platforms" "$work/actiond/platforms"
echo 'workspace(name = "actiond")' > "$work/actiond/WORKSPACE"

# --- the client workspace ------------------------------------------------------
cp -r "$repo/test/vm/workspace" "$work/ws"
for deb_arch in amd64 arm64; do
  # The flags of vm/build_initramfs.sh, so that the archives can be compared.
  (cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH="$deb_arch" go build -trimpath -ldflags='-s -w' \
    -o "$work/ws/guest_$deb_arch" ./cmd/linux_actiond_guest)
done
deb_set() { # REPO ARCH DEB_ARCH
  local entries=() deb
  for deb in "$work/debs/$3"/*.deb; do
    entries+=("$(printf '{"name": "%s", "arch": "%s", "url": "file://%s", "sha256": "%s"}' \
      "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Architecture)" "$deb" "$(sha "$deb")")")
  done
  printf '"%s": {"arch": "%s", "debs": [%s]}' "$1" "$2" "$(IFS=,; echo "${entries[*]}")"
}
tarball=${LINUX_SOURCE_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
have_tarball=true
if [[ ! -f "$tarball" ]]; then
  $kernel && fail "no $tarball: apt-get install linux-source-6.1"
  have_tarball=false
  tarball=/nonexistent/linux.tar.xz # only loaded, never fetched
  tarball_sha=$(printf '0%.0s' {1..64})
else
  tarball_sha=$(sha "$tarball")
fi
cat > "$work/ws/inputs.bzl" <<BZL
"""Written by test/vm/run.sh."""

TEST_LOCK = """{"version": 1, "deb_sets": {
  $(deb_set mke2fs_x86_64 x86_64 amd64),
  $(deb_set mke2fs_aarch64 aarch64 arm64)
}}"""
REPO_LOCK = """$(cat "$repo/vm/debs.lock.json")"""
KERNEL_TARBALL = "$tarball"
KERNEL_TARBALL_SHA256 = "$tarball_sha"
BZL
mkdir -p "$work/ws/bad_lock"
e2fsprogs_arm64=("$work/debs/arm64"/e2fsprogs_*.deb)
cat > "$work/ws/bad_lock/BUILD.bazel" <<BZL
load("@actiond//rules:defs.bzl", "deb_sets_from_lock")

# Must fail at loading: an arm64 .deb in an x86_64 deb set.
BAD = deb_sets_from_lock("""{"version": 1, "deb_sets": {"x": {"arch": "x86_64", "debs": [
  {"name": "e2fsprogs", "arch": "arm64", "url": "file://${e2fsprogs_arm64[0]}", "sha256": "$(sha "${e2fsprogs_arm64[0]}")"}]}}}""", "bad lock")
BZL

bazel_cmd() {
  local cmd=$1
  shift
  local flags=(--override_repository=actiond="$work/actiond")
  [[ $cmd == query ]] || flags+=(--nosandbox_debug)
  (cd "$work/ws" && bazel --batch --output_user_root="$work/root" "$cmd" "${flags[@]}" "$@")
}

# --- 1. Bazel's initramfs equals the script's --------------------------------
echo "== building //:initramfs_x86_64 //:initramfs_aarch64 with Bazel" >&2
start=$(date +%s.%N)
bazel_cmd build --spawn_strategy=sandboxed //:initramfs_x86_64 //:initramfs_aarch64 >&2
echo "bazel build took $(echo "$(date +%s.%N) - $start" | bc) s" >&2
for pair in x86_64:amd64 aarch64:arm64; do
  arch=${pair%:*} deb_arch=${pair#*:}
  got="$work/ws/bazel-bin/initramfs_$arch.cpio.zst"
  [[ -s "$got" ]] || fail "Bazel wrote no $got"
  echo "== vm/build_initramfs.sh $deb_arch" >&2
  "$repo/vm/build_initramfs.sh" "$deb_arch" "$work/script_$arch.cpio.zst"
  if ! cmp "$got" "$work/script_$arch.cpio.zst"; then
    zstd -dc "$got" | cpio -it --quiet > "$work/bazel.list" || true
    zstd -dc "$work/script_$arch.cpio.zst" | cpio -it --quiet > "$work/script.list" || true
    diff "$work/bazel.list" "$work/script.list" | head -20 >&2 || true
    mkdir -p "$work/x" && (cd "$work/x" && zstd -dc "$got" | cpio -id --quiet init) || true
    for g in "$work/ws"/guest_*; do
      cmp -s "$work/x/init" "$g" && echo "Bazel's /init is $(basename "$g")" >&2
    done
    fail "the Bazel and script initramfs for $arch differ"
  fi
  echo "ok: $arch initramfs is byte-identical to vm/build_initramfs.sh $deb_arch ($(stat -c %s "$got") bytes, sha256 $(sha "$got"))"
done

# --- 2. lock files -----------------------------------------------------------
echo "== loading //bad_lock (must fail)" >&2
if bazel_cmd build //bad_lock:all > "$work/lock.log" 2>&1; then
  fail "//bad_lock loaded despite an arm64 .deb in an x86_64 deb set"
fi
grep -F "bad lock: deb set \"x\": deb \"e2fsprogs\": arch \"arm64\" does not fit arch x86_64" "$work/lock.log" >/dev/null \
  || { cat "$work/lock.log" >&2; fail "the lock file failure does not name the deb"; }
echo "ok: a deb set with another architecture's .deb is rejected; vm/debs.lock.json parses"

# --- 3. the kernel -----------------------------------------------------------
echo "== loading the kernel_image targets" >&2
bazel_cmd query --output=label_kind '//:kernel_x86_64 + //:kernel_aarch64' >&2
if $have_tarball; then
  bazel_cmd build --nobuild //:kernel_x86_64 //:kernel_aarch64 >&2
  echo "ok: kernel_image targets load and analyse"
else
  echo "ok: kernel_image targets load (no $tarball: not analysed)"
fi
if $kernel; then
  echo "== building //:kernel_x86_64 with Bazel (minutes)" >&2
  start=$(date +%s)
  bazel_cmd build --spawn_strategy=sandboxed //:kernel_x86_64 >&2
  echo "bazel build of the kernel took $(($(date +%s) - start)) s" >&2
  got="$work/ws/bazel-bin/kernel_x86_64/bzImage"
  [[ -s "$got" ]] || fail "Bazel wrote no $got"
  LINUX_SOURCE_TARBALL="$tarball" "$repo/kernel/build.sh" x86_64 "$work/kernel"
  cmp "$got" "$work/kernel/bzImage" || fail "Bazel's bzImage differs from kernel/build.sh's"
  cmp "$work/ws/bazel-bin/kernel_x86_64/config" "$work/kernel/config" || fail "Bazel's config differs from kernel/build.sh's"
  echo "ok: Bazel's bzImage is byte-identical to kernel/build.sh's ($(stat -c %s "$got") bytes, sha256 $(sha "$got"))"
fi
echo "PASS"
