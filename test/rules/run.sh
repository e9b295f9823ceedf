#!/usr/bin/env bash
# Tests //rules with a real Bazel 4.2.3 in WORKSPACE mode, offline:
#
#   test/rules/run.sh [--debs DIR]
#
# 1. builds a runtime image from libc6 and bash-static through
#    glibc_deb_runtime (file:// URLs) and squashfs_image, checks that every
#    action ran in Bazel's sandbox (none tagged no-sandbox, none needing the
#    host's file system; what a remote executor needs too) and that the
#    image is byte-identical to e2e/build_local_runtimes.sh --debs on the
#    same .debs;
# 2. checks that a wrong sha256 pin fails with a message naming the URL;
# 3. checks that squashfs_image rejects two sources for one image path;
# 4. checks that runtimes/debs.lock.json parses and a lock file with an
#    unknown field is rejected (runtimes_from_lock, which the module
#    extension uses too);
# 5. resolves a small package closure (bash coreutils with the Essential
#    packages they reach) with cmd/deb_lock against apt's lists, at test
#    time (a committed Debian lock would go stale), fetches it with
#    `deb_lock fetch`, serves it from a file:// copy of the archive's pool,
#    builds an image with a rootfs runtime from it through deb_closure, and
#    checks that the image is byte-identical to e2e/build_local_runtimes.sh
#    --debs --rootfs on the same .debs (the whole image: libc, shell, rootfs
#    and common/etc, so the rootfs's tar, manifest and package order too);
# 6. checks that deb_closure refuses a lock with a wrong sha256 naming the
#    package, a lock of another format version and a lock of another
#    architecture.
#
# The libc6 and bash-static .debs come from DIR (libc6_*.deb,
# bash-static_*.deb) or from `apt-get download`; the closure of 5 always
# from the Debian archive apt's lists name. Tools are built with `go build`; Bazel runs with
# --batch and a private --output_user_root, so nothing outside a temporary
# directory is touched.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
debs_dir=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --debs) debs_dir="$(realpath "${2:?--debs needs a directory}")"; shift 2 ;;
    *) echo "usage: $0 [--debs DIR]" >&2; exit 2 ;;
  esac
done

# shellcheck source=test/lib.sh
. "$repo/test/lib.sh"
rules_test_init rules

# --- the .debs ---------------------------------------------------------------
mkdir -p "$work/debs"
if [[ -n "$debs_dir" ]]; then
  cp "$debs_dir"/libc6_*.deb "$debs_dir"/bash-static_*.deb "$work/debs/"
else
  chmod 0777 "$work/debs"
  (cd "$work/debs" && apt-get download -q libc6 bash-static >&2)
fi
libc6=("$work/debs"/libc6_*.deb)
bash_static=("$work/debs"/bash-static_*.deb)
[[ ${#libc6[@]} -eq 1 && ${#bash_static[@]} -eq 1 ]] || fail "want exactly one libc6 and one bash-static .deb in $work/debs"

case "$(dpkg --print-architecture)" in
  amd64) arch=x86_64 ;;
  arm64) arch=aarch64 ;;
  *) fail "no runtimes for $(dpkg --print-architecture)" ;;
esac
version="$(dpkg-deb -f "${libc6[0]}" Version)"
version="${version#*:}"
libc_name="glibc$(echo "${version%%-*}" | cut -d. -f1,2)"
other_arch=aarch64
[[ "$arch" == x86_64 ]] || other_arch=x86_64

# --- the rootfs closure --------------------------------------------------------
# Resolved and fetched now: Debian drops superseded versions from its
# archive, so a committed lock would stop downloading.
mkdir -p "$work/bin"
(cd "$repo" && go build -o "$work/bin/deb_lock" ./cmd/deb_lock)
"$work/bin/deb_lock" --arch "$(dpkg --print-architecture)" --include-essential \
  --out "$work/closure.upstream.lock.json" bash coreutils
"$work/bin/deb_lock" fetch --lock "$work/closure.upstream.lock.json" --out "$work/closure-debs"
# The same files at their pool paths under a file:// archive root. The lock
# is indented JSON with one field a line (go/deb.Lock.Marshal).
sed -n 's/^ *"filename": "\(.*\)",$/\1/p' "$work/closure.upstream.lock.json" | while read -r filename; do
  mkdir -p "$(dirname "$work/archive/$filename")"
  cp "$work/closure-debs/$(basename "$filename")" "$work/archive/$filename"
done
closure_lock() { # upstream lock with every archive file://$work/archive
  sed -E 's#^( *"archive": )"[^"]*"#\1"file://'"$work"'/archive"#' "$work/closure.upstream.lock.json"
}

# --- the actiond repository as the test workspace sees it -------------------
mkdir -p "$work/actiond/cmd/deb_runtime" "$work/actiond/cmd/squashfs_builder"
(cd "$repo" && go build -o "$work/actiond/cmd/deb_runtime/deb_runtime" ./cmd/deb_runtime \
  && go build -o "$work/actiond/cmd/squashfs_builder/squashfs_builder" ./cmd/squashfs_builder)
echo 'exports_files(["deb_runtime"])' > "$work/actiond/cmd/deb_runtime/BUILD.bazel"
echo 'exports_files(["squashfs_builder"])' > "$work/actiond/cmd/squashfs_builder/BUILD.bazel"
ln -s "$repo/rules" "$work/actiond/rules"
echo 'workspace(name = "actiond")' > "$work/actiond/WORKSPACE"

# --- the client workspace ------------------------------------------------------
cp -r "$repo/test/rules/workspace" "$work/ws"
closure_lock > "$work/ws/closure.lock.json"
grep -q "\"archive\": \"file://$work/archive\"" "$work/ws/closure.lock.json" || fail "no archive rewritten in the closure lock"
bash_deb=("$work/closure-debs"/bash_*.deb)
closure_lock | sed "s/$(sha "${bash_deb[0]}")/$(printf '0%.0s' {1..64})/" > "$work/ws/closure_wrong_sha.lock.json"
closure_lock | sed 's/^  "version": 1,$/  "version": 2,/' > "$work/ws/closure_v2.lock.json"
for f in closure_wrong_sha closure_v2; do
  ! cmp -s "$work/ws/closure.lock.json" "$work/ws/$f.lock.json" || fail "$f.lock.json is the same as the good lock"
done
deb_entry() { # NAME FILE [SHA256]
  printf '{"name": "%s", "arch": "%s", "url": "file://%s", "sha256": "%s"}' \
    "$1" "$(dpkg-deb -f "$2" Architecture)" "$2" "${3:-$(sha "$2")}"
}
runtime_entry() { # REPO RUNTIME KIND DEB_ENTRY
  printf '"%s": {"runtime": "%s", "kind": "%s", "arch": "%s", "debs": [%s]}' "$1" "$2" "$3" "$arch" "$4"
}
cat > "$work/ws/debs.bzl" <<BZL
"""Written by test/rules/run.sh."""

ARCH = "$arch"
OTHER_ARCH = "$other_arch"
LIBC_NAME = "$libc_name"
TEST_LOCK = """{"version": 1, "runtimes": {
  $(runtime_entry test_libc "$libc_name" libc "$(deb_entry libc6 "${libc6[0]}")"),
  $(runtime_entry test_bash bash shell "$(deb_entry bash-static "${bash_static[0]}")"),
  $(runtime_entry wrong_sha "$libc_name" libc "$(deb_entry libc6 "${libc6[0]}" "$(printf '0%.0s' {1..64})")")
}}"""
REPO_LOCK = """$(cat "$repo/runtimes/debs.lock.json")"""
BZL
mkdir -p "$work/ws/bad_lock"
cat > "$work/ws/bad_lock/BUILD.bazel" <<'BZL'
load("@actiond//rules:defs.bzl", "runtimes_from_lock")

# Must fail at loading: an unknown field.
BAD = runtimes_from_lock("""{"version": 1, "runtimes": {"x": {"runtime": "glibc2.36", "kind": "libc", "arch": "x86_64", "debs": [], "sha": ""}}}""", "bad lock")
BZL

bazel_build() {
  (cd "$work/ws" && bazel --batch --output_user_root="$work/root" build \
    --nosandbox_debug --override_repository=actiond="$work/actiond" "$@")
}

# bazel_build_sandboxed TARGET LOG: builds TARGET and checks that every
# action ran in Bazel's sandbox.
bazel_build_sandboxed() {
  local start processes
  start=$(date +%s.%N)
  bazel_build --spawn_strategy=sandboxed "$1" 2>&1 | tee "$2" >&2
  # "INFO: 4 processes: 1 internal, 3 linux-sandbox.": Bazel 4.2.3 runs an
  # action tagged no-sandbox locally even with --spawn_strategy=sandboxed.
  processes="$(sed -n 's/^INFO: [0-9]* processes: \(.*\)\.$/\1/p' "$2" | tail -n1)"
  [[ -n "$processes" ]] || fail "no process summary in the build log of $1"
  if tr ',' '\n' <<<"$processes" | grep -v -E '^ *[0-9]+ (internal|linux-sandbox|processwrapper-sandbox)$' | grep -q .; then
    fail "$1: actions ran outside the sandbox: $processes"
  fi
  echo "ok: every action of $1 ran sandboxed ($processes)"
  echo "bazel build $1 took $(echo "$(date +%s.%N) - $start" | bc) s" >&2
}

# compare_images BAZEL_IMAGE SCRIPT_IMAGE
compare_images() {
  [[ -s "$1" ]] || fail "Bazel wrote no $1"
  if ! cmp "$1" "$2"; then
    if command -v unsquashfs >/dev/null; then
      diff <(unsquashfs -lls "$1" | sed 's/^[^ ]* *//' | sort -k4) \
        <(unsquashfs -lls "$2" | sed 's/^[^ ]* *//' | sort -k4) | head -20 >&2 || true
    fi
    fail "the Bazel image $1 and the script image $2 differ"
  fi
  echo "ok: images are byte-identical ($(stat -c %s "$1") bytes, sha256 $(sha "$1"))"
}

# --- 1. Bazel's image equals the script's ------------------------------------
echo "== building //:runtimes with Bazel" >&2
bazel_build_sandboxed //:runtimes "$work/build.log"
echo "== building the same image with e2e/build_local_runtimes.sh" >&2
"$repo/e2e/build_local_runtimes.sh" --debs "$work/debs" "$work/script.sqfs"
compare_images "$work/ws/bazel-bin/runtimes.sqfs" "$work/script.sqfs"

# --- 2. a wrong sha256 pin fails naming the URL ------------------------------
echo "== building @wrong_sha//:runtime (must fail)" >&2
if bazel_build @wrong_sha//:runtime > "$work/wrong.log" 2>&1; then
  fail "@wrong_sha//:runtime built despite its wrong sha256"
fi
grep -F "sha256 mismatch for file://${libc6[0]}" "$work/wrong.log" >/dev/null \
  || { cat "$work/wrong.log" >&2; fail "the wrong-sha256 failure does not name the URL"; }
echo "ok: wrong sha256 fails: $(grep -F "sha256 mismatch for file://" "$work/wrong.log" | grep -v 'fail(' | head -n1)"

# --- 3. duplicate image paths are rejected -----------------------------------
echo "== building //:duplicate_path (must fail)" >&2
if bazel_build //:duplicate_path > "$work/dup.log" 2>&1; then
  fail "//:duplicate_path built despite two sources for one image path"
fi
grep -F "image path libc/$libc_name/$arch comes from both" "$work/dup.log" >/dev/null \
  || { cat "$work/dup.log" >&2; fail "the duplicate-path failure does not name the path"; }
echo "ok: duplicate image path is rejected"

# --- 4. a malformed lock file is rejected ------------------------------------
echo "== loading //bad_lock (must fail)" >&2
if bazel_build //bad_lock:all > "$work/lock.log" 2>&1; then
  fail "//bad_lock loaded despite an unknown field in its lock file"
fi
grep -F "bad lock: runtime \"x\": unknown field \"sha\"" "$work/lock.log" >/dev/null \
  || { cat "$work/lock.log" >&2; fail "the lock file failure does not name the field"; }
echo "ok: a lock file with an unknown field is rejected"

# --- 5. a rootfs runtime from a closure lock equals the script's ---------------
echo "== building //:runtimes_with_rootfs with Bazel" >&2
bazel_build_sandboxed //:runtimes_with_rootfs "$work/rootfs.log"
echo "== building the same image with e2e/build_local_runtimes.sh --rootfs" >&2
"$repo/e2e/build_local_runtimes.sh" --debs "$work/debs" --rootfs "bashutils=$work/closure-debs" "$work/script-rootfs.sqfs"
compare_images "$work/ws/bazel-bin/runtimes_with_rootfs.sqfs" "$work/script-rootfs.sqfs"

# --- 6. bad closure locks are refused --------------------------------------------
# expect_fetch_failure REPO MESSAGE: building @REPO//:debs must fail with
# MESSAGE (a fixed string) in its log.
expect_fetch_failure() {
  echo "== building @$1//:debs (must fail)" >&2
  if bazel_build "@$1//:debs" > "$work/$1.log" 2>&1; then
    fail "@$1//:debs built"
  fi
  grep -F -- "$2" "$work/$1.log" >/dev/null || { cat "$work/$1.log" >&2; fail "@$1 failed without naming: $2"; }
  echo "ok: $1 fails: $(grep -F -- "$2" "$work/$1.log" | grep -v 'fail(' | head -n1)"
}
bash_version="$(dpkg-deb -f "${bash_deb[0]}" Version)"
expect_fetch_failure closure_wrong_sha "package bash $bash_version ($(dpkg-deb -f "${bash_deb[0]}" Architecture)): sha256 mismatch for file://$work/archive/"
expect_fetch_failure closure_wrong_version "lock version 2, want 1"
expect_fetch_failure closure_wrong_arch "but the runtime is $other_arch"
echo "PASS"
