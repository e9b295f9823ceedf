#!/usr/bin/env bash
# Tests //rules' standalone_binary, payload_sections and codesigned_binary
# with a real Bazel 4.2.3 in WORKSPACE mode, offline:
#
#   test/standalone/run.sh
#
# 1. builds standalone_binary targets in the elf (zstd) and trailer (none)
#    formats from a static Go executable (test/standalone/readback) and two
#    payloads, with cmd/payload_builder as the exec tool, every action in
#    Bazel's sandbox; `bazel run` runs the elf one, which reads its own
#    payloads back; readback checks the trailer one; each payload extracts
#    byte-identical to its source;
# 2. checks that the output is deterministic: the same bytes after
#    `bazel clean` and a second build, and whatever the order of `payloads`;
# 3. builds payload_sections and checks each blob is byte-identical to
#    payload_builder --format=section-content's, and that a rule taking its
#    CcInfo as rules_go's cdeps do gets one
#    -Wl,-sectcreate,__ACTIOND,__<name>,<blob> flag each, naming a file its
#    sandboxed action has (GNU ld has no -sectcreate: nothing is linked);
# 4. checks that codesigned_binary is skipped off macOS and that with
#    --platforms set to macOS its action runs /usr/bin/codesign with the
#    entitlements, locally (analysed only: codesign needs a Mac);
# 5. checks that a payload name go/payload would refuse fails at loading.
#
# Tools are built with `go build`; Bazel runs with --batch and a private
# --output_user_root, so nothing outside a temporary directory is touched.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[[ $# -eq 0 ]] || { echo "usage: $0" >&2; exit 2; }
export PATH="/usr/local/go/bin:$PATH"

# shellcheck source=test/lib.sh
. "$repo/test/lib.sh"
rules_test_init standalone

# --- the actiond repository as the test workspace sees it -------------------
mkdir -p "$work/actiond/cmd/payload_builder"
(cd "$repo" && go build -o "$work/actiond/cmd/payload_builder/payload_builder" ./cmd/payload_builder)
echo 'exports_files(["payload_builder"])' > "$work/actiond/cmd/payload_builder/BUILD.bazel"
ln -s "$repo/rules" "$work/actiond/rules"
ln -s "$repo/platforms" "$work/actiond/platforms"
echo 'workspace(name = "actiond")' > "$work/actiond/WORKSPACE"

# --- the client workspace ------------------------------------------------------
cp -r "$repo/test/standalone/workspace" "$work/ws"
ws="$work/ws"
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -o "$ws/readback" ./test/standalone/readback)
# One payload that zstd cannot shrink, one that it can.
head -c $((3 << 20)) /dev/urandom > "$ws/payload_a.bin"
seq 1 200000 > "$ws/payload_b.bin"

bazel_cmd() {
  local cmd=$1
  shift
  (cd "$ws" && bazel --batch --output_user_root="$work/root" "$cmd" \
    --override_repository=actiond="$work/actiond" "$@")
}

# --- 1. build, run, read back -------------------------------------------------
echo "== building //... with Bazel" >&2
bazel_cmd build --nosandbox_debug --spawn_strategy=sandboxed //... 2>&1 | tee "$work/build.log" >&2
processes="$(sed -n 's/^INFO: [0-9]* processes: \(.*\)\.$/\1/p' "$work/build.log" | tail -n1)"
[[ -n "$processes" ]] || fail "no process summary in the build log"
if tr ',' '\n' <<<"$processes" | grep -v -E '^ *[0-9]+ (internal|linux-sandbox|processwrapper-sandbox)$' | grep -q .; then
  fail "actions ran outside the sandbox: $processes"
fi
echo "ok: every action ran sandboxed ($processes)"
bin="$ws/bazel-bin"
for t in elf elf_reordered trailer; do
  [[ -x "$bin/$t" ]] || fail "Bazel wrote no executable $bin/$t"
done
[[ ! -e "$bin/signed" ]] || fail "//:signed was built off macOS"

echo "== bazel run //:elf (reads its own payloads)" >&2
bazel_cmd run //:elf -- --format=elf /proc/self/exe \
  "kernel=$ws/payload_a.bin" "runtimes=$ws/payload_b.bin" > "$work/run.log" \
  || { cat "$work/run.log" >&2; fail "bazel run //:elf failed"; }
cat "$work/run.log"
grep -q '^kernel: .* (zstd)' "$work/run.log" || fail "//:elf's kernel payload is not zstd"
echo "ok: //:elf runs and reads back its ELF section payloads ($(stat -c %s "$bin/elf") bytes from $(stat -c %s "$ws/readback"))"
readelf -S "$bin/elf" >"$work/sections.txt"
grep -q "\.actiond\.runtimes" "$work/sections.txt" || fail "readelf -S lists no .actiond.runtimes in //:elf"

"$ws/readback" --format=trailer "$bin/trailer" \
  "initramfs=$ws/payload_b.bin" "kernel=$ws/payload_a.bin" > "$work/trailer.log" \
  || { cat "$work/trailer.log" >&2; fail "//:trailer does not read back"; }
cat "$work/trailer.log"
grep -q '^kernel: .* (none)' "$work/trailer.log" || fail "//:trailer's kernel payload is compressed"
"$bin/trailer" --format=trailer "$bin/trailer" "initramfs=$ws/payload_b.bin" "kernel=$ws/payload_a.bin" >/dev/null \
  || fail "//:trailer does not run"
echo "ok: //:trailer runs and reads back its trailer payloads"

# --- 2. determinism -----------------------------------------------------------
cmp "$bin/elf" "$bin/elf_reordered" || fail "the order of payloads changes the output"
echo "ok: the order of payloads does not change the output"
declare -A first
for t in elf trailer; do first[$t]=$(sha "$bin/$t"); done
bazel_cmd clean >&2
bazel_cmd build --nosandbox_debug --spawn_strategy=sandboxed //... >&2
for t in elf trailer; do
  [[ "$(sha "$bin/$t")" == "${first[$t]}" ]] || fail "//:$t differs after a clean rebuild"
  echo "ok: //:$t is deterministic (sha256 ${first[$t]} after a clean rebuild)"
done

# --- 3. payload_sections --------------------------------------------------------
for pair in kernel:payload_a.bin runtimes:payload_b.bin; do
  name=${pair%%:*} src=${pair#*:}
  "$work/actiond/cmd/payload_builder/payload_builder" --format=section-content \
    --out "$work/$name.blob" --payload "$name=$ws/$src"
  cmp "$bin/sections/$name.blob" "$work/$name.blob" || fail "the $name section content differs from payload_builder's"
done
echo "ok: payload_sections' blobs are byte-identical to payload_builder --format=section-content's"
for name in kernel runtimes; do
  grep -E "^-Wl,-sectcreate,__ACTIOND,__$name,bazel-out/[^ ]*/bin/sections/$name.blob $(stat -c %s "$bin/sections/$name.blob")\$" \
    "$bin/linked.txt" >/dev/null || { cat "$bin/linked.txt" >&2; fail "//:linked got no -sectcreate flag naming $name.blob"; }
done
[[ $(wc -l <"$bin/linked.txt") -eq 2 ]] || { cat "$bin/linked.txt" >&2; fail "//:linked got other flags"; }
echo "ok: a linking rule gets the blobs as inputs and -Wl,-sectcreate,__ACTIOND,__<name>,<blob> flags"

# --- 4. codesigned_binary -----------------------------------------------------
if bazel_cmd build //:signed > "$work/signed.log" 2>&1; then
  fail "//:signed built off macOS"
fi
grep -q "incompatible" "$work/signed.log" || { cat "$work/signed.log" >&2; fail "//:signed failed for another reason than incompatibility"; }
bazel_cmd aquery --platforms=@actiond//platforms:darwin_arm64 'mnemonic("Codesign", //:signed)' > "$work/codesign.log" 2>&1 \
  || { cat "$work/codesign.log" >&2; fail "aquery of //:signed failed"; }
grep -F "/usr/bin/codesign --sign \"\$3\" --force --entitlements \"\$2\" \"\$4\"" "$work/codesign.log" >/dev/null \
  && grep -F "Inputs: [readback, test.entitlements]" "$work/codesign.log" >/dev/null \
  && grep -F "ExecutionInfo: {no-remote: 1, no-sandbox: 1}" "$work/codesign.log" >/dev/null \
  || { cat "$work/codesign.log" >&2; fail "//:signed's action is not the codesign command"; }
echo "ok: codesigned_binary is skipped off macOS and runs codesign locally for macOS"

# --- 5. a bad payload name -----------------------------------------------------
mkdir -p "$ws/bad_name"
cat > "$ws/bad_name/BUILD.bazel" <<'BZL'
load("@actiond//rules:defs.bzl", "standalone_binary")

standalone_binary(
    name = "bad",
    binary = "//:readback",
    payloads = {"Kernel": "//:payload_a.bin"},
)
BZL
if bazel_cmd build //bad_name:all > "$work/bad.log" 2>&1; then
  fail "//bad_name loaded despite the payload name Kernel"
fi
grep -F 'payload name "Kernel" is not 1 to 14 bytes of [a-z0-9_]' "$work/bad.log" >/dev/null \
  || { cat "$work/bad.log" >&2; fail "the bad-name failure does not name the payload"; }
echo "ok: a bad payload name fails at loading"
echo "PASS"
