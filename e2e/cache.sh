#!/usr/bin/env bash
# End-to-end remote cache test with the real Bazel client (Bazel 4.2.3):
# build test/cache against `linux_actiond serve` with --remote_cache, clean,
# build again, and require every action to be a remote cache hit with
# byte-identical outputs. With RUNTIME_IMAGE set (an image from
# e2e/build_local_runtimes.sh, which includes bash and busybox), it then
# also executes every action remotely and compares the outputs again.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/actiond-cache-e2e.XXXXXX")
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

command -v bazel >/dev/null || { echo "cache.sh: bazel not found (apt-get install bazel-bootstrap)" >&2; exit 1; }

echo "== building linux_actiond"
(cd "$here" && go build -o "$work/linux_actiond" ./cmd/linux_actiond)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
daemon_flags=()
if [ -n "${RUNTIME_IMAGE:-}" ]; then daemon_flags+=("--runtime-image=$RUNTIME_IMAGE"); fi
"$work/linux_actiond" serve --listen="127.0.0.1:$port" --root="$work/root" "${daemon_flags[@]}" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done

cp -r "$here/test/cache" "$work/ws"
cd "$work/ws"
flags=(--nosandbox_debug "--remote_cache=grpc://127.0.0.1:$port" --spawn_strategy=local --genrule_strategy=local)
b() { bazel --batch --output_user_root="$work/bazel" "$@"; }
sums() { (cd bazel-bin/pkg && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

echo "== first build (populates the cache)"
b build "${flags[@]}" //pkg:fanin 2>&1 | tee "$work/build1.log"
sums >"$work/sums1"

b clean 2>&1 | tail -1
echo "== second build (must be all remote cache hits)"
b build "${flags[@]}" //pkg:fanin 2>&1 | tee "$work/build2.log"
sums >"$work/sums2"

summary=$(grep -E 'INFO: [0-9]+ process' "$work/build2.log" | tail -1)
total=$(echo "$summary" | sed -E 's/.*INFO: ([0-9]+) process.*/\1/')
hits=$(echo "$summary" | grep -oE '[0-9]+ remote cache hit' | grep -oE '^[0-9]+' || echo 0)
internal=$(echo "$summary" | grep -oE '[0-9]+ internal' | grep -oE '^[0-9]+' || echo 0)
want=$((total - internal))
echo "== second build: $summary"
if [ "$want" -lt 11 ] || [ "$hits" != "$want" ]; then
  echo "cache.sh: FAIL: want all $want non-internal actions (at least 11) to be remote cache hits, got $hits" >&2
  cat "$work/daemon.log" >&2
  exit 1
fi
if ! diff "$work/sums1" "$work/sums2"; then
  echo "cache.sh: FAIL: outputs differ after the cached rebuild" >&2
  exit 1
fi
[ -x bazel-bin/pkg/tool.sh ] || { echo "cache.sh: FAIL: executable bit lost on tool.sh" >&2; exit 1; }
echo "cache.sh: PASS: $hits of $want actions were remote cache hits, outputs identical"

if [ -n "${RUNTIME_IMAGE:-}" ]; then
  b clean 2>&1 | tail -1
  echo "== third build: every action executed remotely"
  b build --nosandbox_debug "--remote_executor=grpc://127.0.0.1:$port" --noremote_accept_cached \
    --spawn_strategy=remote --genrule_strategy=remote --remote_local_fallback=false \
    --remote_default_exec_properties=requires-bash= //pkg:fanin 2>&1 | tee "$work/build3.log"
  sums >"$work/sums3"
  grep -qE 'INFO: [0-9]+ processes: .*11 remote' "$work/build3.log" ||
    { echo "cache.sh: FAIL: want 11 remotely executed actions" >&2; exit 1; }
  if ! diff "$work/sums1" "$work/sums3"; then
    echo "cache.sh: FAIL: remotely executed outputs differ from the local build" >&2
    exit 1
  fi
  echo "cache.sh: PASS: 11 actions executed remotely with coreutils from the runtime image, outputs identical"
fi
