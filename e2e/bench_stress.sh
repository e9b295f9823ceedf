#!/usr/bin/env bash
# Benchmarks the stress workspace (test/stress, 34 actions) in four modes:
#   linux-sandbox   Bazel's own sandbox (network blocked, checks enforced)
#   local           no sandbox (--spawn_strategy=local)
#   actiond cold    remote through a fresh `linux_actiond serve` (empty CAS)
#   actiond warm    the same daemon again after `bazel clean`: every input is
#                   already in its CAS (--noremote_accept_cached, so all
#                   actions still execute)
#
# Each build follows `bazel clean`. By default one Bazel server serves every
# build, as on a developer's machine; a first round, not reported, warms its
# JIT for every mode, then ROUNDS rounds (default 3) run the modes in turn,
# so that load from elsewhere spreads over all modes alike. Each round's cold
# build gets a new daemon with an empty root. BENCH_BATCH=1 runs every build
# with `bazel --batch` (a fresh JVM each time) instead.
#
# Prints a Markdown table (median and best wall time per mode, ratios of the
# medians, actiond's per-action stage times p50/p95 over all reported rounds
# from its "action done" log lines) and writes it to e2e/out/bench_stress.md
# (BENCH_OUT overrides). Every remote build's outputs are checked against the
# local build's.
#
# BENCH_TARGET=//:heavy_inputs benchmarks the heavy-input build instead (100
# actions that each read the same 416 files). BENCH_TUNED_FLAGS="FLAGS..."
# adds a row: the warm daemon again, with those client flags added (e.g.
# --remote_download_minimal); its outputs are not compared with the local
# build's, as such flags keep them remote.
#
# Usage: e2e/bench_stress.sh
# Environment: as e2e/stress.sh (RUNTIME_IMAGE, RUNTIME_DIR, RUNTIME_LIBC,
# ACTIOND_BIN, JOBS, ACTIOND_E2E_KEEP_TMP), ROUNDS, BENCH_BATCH;
# BENCH_SKIP_SANDBOX=1 skips linux-sandbox (it needs user namespaces);
# BASELINE_BIN=FILE adds cold and warm rows for that linux_actiond binary,
# run in the same rounds, to compare two builds of the daemon under the
# same conditions; BENCH_FS=ext4 (the default as root) keeps the daemons'
# roots on a journaled ext4 image (loop device) as on a typical Linux
# disk, BENCH_FS=tmpdir on the work directory's filesystem.
#
# The daemons log at debug level, so the report also has the server-side
# ByteStream.Write latency (p50/p95) of the cold builds, and every build
# writes a Bazel profile, from which Bazel's own upload time (the sum of
# its upload time events) is taken.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

jobs=${JOBS:-8}
rounds=${ROUNDS:-3}
target=${BENCH_TARGET:-//:stress_all}
out=${BENCH_OUT:-$E2E_REPO/e2e/out/bench_stress.md}

e2e_init bench-stress
e2e_stress_setup
daemon=$E2E_ACTIOND

if [ "${BENCH_BATCH:-}" = 1 ]; then
  bench_bazel() { e2e_bazel "$@"; }
  server_note="every build in \`bazel --batch\` (a fresh JVM each)"
else
  bench_bazel() { bazel --output_user_root="$E2E_WORK/bazel" "$@"; }
  server_note="one Bazel server for all builds, its JIT warmed by an unreported first round"
  trap 'bench_bazel shutdown >/dev/null 2>&1 || true; e2e_cleanup' EXIT
fi
common=(--nosandbox_debug "--jobs=$jobs" --color=no --curses=no)

# The daemons' roots live under $state: an ext4 image with a journal (the
# filesystem most Linux disks have, where the CAS runs its epochs), or the
# work directory.
bench_fs=${BENCH_FS:-ext4}
[ "$(id -u)" = 0 ] || bench_fs=tmpdir
state=$E2E_WORK/state
mkdir -p "$state"
if [ "$bench_fs" = ext4 ]; then
  truncate -s 8G "$E2E_WORK/state.img"
  mkfs.ext4 -q -F "$E2E_WORK/state.img"
  mount -o loop "$E2E_WORK/state.img" "$state"
  trap 'bench_bazel shutdown >/dev/null 2>&1 || true; e2e_stop_daemon; umount "$state" 2>/dev/null || true; e2e_cleanup' EXIT
fi
state_fs=$(findmnt -no FSTYPE,OPTIONS -T "$state" | cut -c1-60)

modes=()
[ "${BENCH_SKIP_SANDBOX:-}" = 1 ] || modes+=(sandbox)
modes+=(local cold warm)
[ -z "${BENCH_TUNED_FLAGS:-}" ] || modes+=(tuned)
[ -z "${BASELINE_BIN:-}" ] || modes+=(basecold basewarm)
declare -A label=(
  [sandbox]="Bazel linux-sandbox"
  [local]="Bazel local (no sandbox)"
  [cold]="actiond, cold CAS"
  [warm]="actiond, warm CAS"
  [tuned]="actiond, warm CAS, ${BENCH_TUNED_FLAGS:-}"
  [basecold]="baseline actiond, cold CAS"
  [basewarm]="baseline actiond, warm CAS"
)
declare -A walls elapsed critical daemon_lines uploads
local_manifest="$E2E_WORK/local.manifest"

# build MODE ROUND runs `bazel clean` and one timed build; reported rounds
# (ROUND > 0) append its wall time, Bazel's elapsed time and critical path.
build() {
  local mode=$1 round=$2 log="$E2E_WORK/$1-$2.log" flags=() start end from
  case $mode in
    sandbox) flags=(--spawn_strategy=linux-sandbox --genrule_strategy=linux-sandbox
      --sandbox_default_allow_network=false --action_env=ACTIOND_EXPECT_SANDBOX=1) ;;
    local) flags=(--spawn_strategy=local --genrule_strategy=local) ;;
    cold | warm | basecold | basewarm) flags=("${E2E_REMOTE_FLAGS[@]}") ;;
    # shellcheck disable=SC2206 # BENCH_TUNED_FLAGS is a list of flags.
    tuned) flags=("${E2E_REMOTE_FLAGS[@]}" ${BENCH_TUNED_FLAGS}) ;;
  esac
  bench_bazel clean >/dev/null 2>&1
  [ -z "$E2E_DAEMON_LOG" ] || from=$(($(wc -l <"$E2E_DAEMON_LOG") + 1))
  start=$(date +%s.%N)
  if ! bench_bazel build "${common[@]}" "${flags[@]}" --profile="$E2E_WORK/$mode-$round.profile.json" "$target" >"$log" 2>&1; then
    e2e_show_failure "$log"
    e2e_die "${label[$mode]} build failed (round $round)"
  fi
  end=$(date +%s.%N)
  case $mode in
    local) [ -s "$local_manifest" ] || e2e_tree_manifest bazel-bin/ >"$local_manifest" ;;
    cold | warm | basecold | basewarm)
      e2e_tree_manifest bazel-bin/ >"$E2E_WORK/remote.manifest"
      diff -q "$local_manifest" "$E2E_WORK/remote.manifest" >/dev/null ||
        e2e_die "${label[$mode]}: outputs differ from the local build (round $round); run e2e/stress.sh linux"
      ;;
  esac
  [ "$round" -gt 0 ] || return 0
  walls[$mode]+="$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.3f", b-a}') "
  elapsed[$mode]+="$(grep -oE 'Elapsed time: [0-9.]+s' "$log" | tail -n 1 | grep -oE '[0-9.]+' || echo nan) "
  critical[$mode]+="$(grep -oE 'Critical Path: [0-9.]+s' "$log" | tail -n 1 | grep -oE '[0-9.]+' || echo nan) "
  uploads[$mode]+="$(upload_seconds "$E2E_WORK/$mode-$round.profile.json") "
  if [ -n "$E2E_DAEMON_LOG" ]; then
    sed -n "$from,\$p" "$E2E_DAEMON_LOG" | { grep '"msg":"action done"' || true; } >>"$E2E_WORK/$mode.actions"
    sed -n "$from,\$p" "$E2E_DAEMON_LOG" | { grep '"msg":"rpc"' || true; } >>"$E2E_WORK/$mode.rpcs"
  fi
}

# upload_seconds PROFILE prints the seconds Bazel's profile spent in
# "upload time" events (inputs and outputs it uploaded for remote
# execution; Bazel 4.2.3 names the category "Remote execution upload
# time"), summed over all threads.
upload_seconds() {
  python3 - "$1" <<'PY' 2>/dev/null || echo nan
import json, sys
events = json.load(open(sys.argv[1]))
events = events.get("traceEvents", events) if isinstance(events, dict) else events
print("%.2f" % (sum(e.get("dur", 0) for e in events if "upload time" in str(e.get("cat", "")).lower()) / 1e6))
PY
}

round() {
  local r=$1 mode bin
  e2e_log "round $r of $rounds$([ "$r" -gt 0 ] || echo ' (warm-up, not reported)')"
  for mode in "${modes[@]}"; do
    case $mode in
      cold | basecold)
        e2e_stop_daemon
        rm -rf "$state/root" "$state/root.log"
        bin=$daemon
        [ "$mode" = cold ] || bin=$BASELINE_BIN
        e2e_start_daemon "$bin" "$state/root" "--jobs=$jobs" --log-level=debug "${E2E_RUNTIME_FLAGS[@]}"
        e2e_remote_flags "$E2E_DAEMON_PORT"
        ;;
    esac
    build "$mode" "$r"
  done
  e2e_stop_daemon
  E2E_DAEMON_LOG=
}

e2e_bazel clean --expunge >/dev/null 2>&1 || true
for ((r = 0; r <= rounds; r++)); do
  round "$r"
done

# median and min of the numbers in $1.
stats() { e2e_median_min "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f×", a/b; else printf "–" }'; }

sandbox_med=0
[ -z "${walls[sandbox]:-}" ] || read -r sandbox_med _ <<<"$(stats "${walls[sandbox]}")"
read -r local_med _ <<<"$(stats "${walls[local]}")"
declare -A medians
rows=()
for mode in "${modes[@]}"; do
  read -r med best <<<"$(stats "${walls[$mode]}")"
  read -r el _ <<<"$(stats "${elapsed[$mode]}")"
  read -r cp _ <<<"$(stats "${critical[$mode]}")"
  read -r up _ <<<"$(stats "${uploads[$mode]}")"
  medians[$mode]=$med
  rows+=("| ${label[$mode]} | $med | $best | $el | $cp | $up | $(ratio "$med" "$sandbox_med") | $(ratio "$med" "$local_med") |")
done

# rpc_row LABEL FILE METHOD prints the count and p50 / p95 duration (ms)
# of METHOD's "rpc" log lines in FILE.
rpc_row() {
  local durations
  durations=$(grep -F "\"method\":\"$3\"" "$2" 2>/dev/null | grep -oE '"duration":[0-9]+' | cut -d: -f2 || true)
  echo "| $1 | $(grep -c . <<<"$durations") | $(grep . <<<"$durations" | e2e_p50_p95 1e6) |"
}

# stage_row LABEL FILE prints p50/p95 per stage over the "action done" lines
# in FILE.
stage_row() {
  awk -v label="$1" '
    function val(key,   m) {
      if (match($0, "\"" key "\":[-0-9.eE+]+")) {
        m = substr($0, RSTART, RLENGTH); sub(/^[^:]*:/, "", m); return m + 0
      }
      return 0
    }
    # pct prints the nearest-rank percentile p of the n values in v.
    function pct(v, n, p,   k) { k = int(n * p / 100); if (k < n * p / 100) k++; if (k < 1) k = 1; return v[k] }
    function sortn(v, n,   i, j, t) {
      for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    }
    {
      n++
      q[n] = val("queue_ms"); in_[n] = val("input_ms"); s[n] = val("setup_ms"); sp[n] = val("spawn_ms")
      r[n] = val("run_ms"); td[n] = val("teardown_ms"); o[n] = val("output_ms"); t[n] = val("total_ms")
      ov[n] = t[n] - q[n] - sp[n] - r[n]
      if ($0 ~ /"prestarted":true/) pre++
    }
    END {
      if (n == 0) { printf "| %s | 0 | | | | | | | | | | |\n", label; exit }
      sortn(q, n); sortn(in_, n); sortn(s, n); sortn(sp, n); sortn(r, n); sortn(td, n); sortn(o, n); sortn(t, n); sortn(ov, n)
      printf "| %s | %d | %d", label, n, pre
      printf " | %.2f / %.2f", pct(q, n, 50), pct(q, n, 95)
      printf " | %.2f / %.2f", pct(in_, n, 50), pct(in_, n, 95)
      printf " | %.2f / %.2f", pct(s, n, 50), pct(s, n, 95)
      printf " | %.2f / %.2f", pct(sp, n, 50), pct(sp, n, 95)
      printf " | %.2f / %.2f", pct(r, n, 50), pct(r, n, 95)
      printf " | %.2f / %.2f", pct(td, n, 50), pct(td, n, 95)
      printf " | %.2f / %.2f", pct(o, n, 50), pct(o, n, 95)
      printf " | %.2f / %.2f", pct(t, n, 50), pct(t, n, 95)
      printf " | %.2f / %.2f |\n", pct(ov, n, 50), pct(ov, n, 95)
    }' "$2"
}

# setup_row LABEL FILE prints p50/p95 of the setup's parts over the
# "action done" lines in FILE that have them.
setup_row() {
  local cols=() key
  for key in setup_config_ms setup_mounts_ms setup_fork_ms; do
    cols+=("$({ grep -oE "\"$key\":[0-9.eE+-]+" "$2" 2>/dev/null || true; } | cut -d: -f2 | e2e_p50_p95)")
  done
  echo "| $1 | ${cols[0]} | ${cols[1]} | ${cols[2]} |"
}

report=$(
  cat <<EOF
## Stress workspace benchmark ($(date -u +%Y-%m-%dT%H:%MZ))

\`bazel build $target\` ($(grep -oE '[0-9]+ (total actions|processes)' "$E2E_WORK/cold-1.log" | head -n 1)) after \`bazel clean\`, $rounds rounds, $server_note. Bazel $(dpkg-query -W -f='${Version}' bazel-bootstrap 2>/dev/null || bazel --version 2>/dev/null | awk '{print $2}'), --jobs=$jobs, $(nproc) cores, load average before the run $(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/'), runtime ${RUNTIME_IMAGE:-${RUNTIME_DIR:-}} (libc=${RUNTIME_LIBC:-glibc2.36}), as $(id -un).
$([ -z "${BASELINE_BIN:-}" ] || echo "actiond is $daemon, the baseline $BASELINE_BIN.")
Wall is the \`bazel build\` client call; "Elapsed" and "Critical path" are Bazel's own figures (medians). Ratios compare median walls.

| Mode | Wall median (s) | Wall best (s) | Elapsed (s) | Critical path (s) | Bazel upload time (s) | vs linux-sandbox | vs local |
|---|---:|---:|---:|---:|---:|---:|---:|
$(printf '%s\n' "${rows[@]}")

Daemon roots on ${state_fs} (BENCH_FS=$bench_fs). Cold wall / warm wall: actiond $(ratio "${medians[cold]}" "${medians[warm]}")$([ -z "${BASELINE_BIN:-}" ] || echo ", baseline $(ratio "${medians[basecold]}" "${medians[basewarm]}")").

### ByteStream.Write in the cold builds (server side, ms)

| Run | Writes | p50 / p95 |
|---|---:|---:|
$(rpc_row "actiond, cold CAS" "$E2E_WORK/cold.rpcs" /google.bytestream.ByteStream/Write)
$([ -z "${BASELINE_BIN:-}" ] || rpc_row "baseline, cold CAS" "$E2E_WORK/basecold.rpcs" /google.bytestream.ByteStream/Write)

### actiond per-action stage times (ms, p50 / p95, all reported rounds)

From the daemon's \`action done\` log lines. setup ends when the sandbox forks the command; spawn is the command's fork and exec (the kernel loading the program, paid by any strategy that runs it: a plain fork and exec of the same static Go binary on the host takes as long); run is the command from its exec to its exit; teardown is killing and reaping what it left (its namespaces are freed afterwards, off the critical path); overhead = total − queue − spawn − run, the daemon's own share. Daemons that log no spawn_ms (older builds) count it in setup.

| Run | Actions | with a pre-started init | queue | input | setup | spawn | run | teardown | output | total | overhead |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
$(stage_row "cold CAS" "$E2E_WORK/cold.actions")
$(stage_row "warm CAS" "$E2E_WORK/warm.actions")
$([ -z "${BASELINE_BIN:-}" ] || stage_row "baseline, cold CAS" "$E2E_WORK/basecold.actions")
$([ -z "${BASELINE_BIN:-}" ] || stage_row "baseline, warm CAS" "$E2E_WORK/basewarm.actions")

### Where the setup goes (ms, p50 / p95)

config: from the start of the sandbox run until the init has read its configuration (validating the spec, taking a pre-started init, the pipe, the init waking up); mounts: the init opening stdio, making the action's mounts and entering its root; fork: finding the program and setting credentials until the fork.

| Run | config | mounts | fork |
|---|---:|---:|---:|
$(setup_row "cold CAS" "$E2E_WORK/cold.actions")
$(setup_row "warm CAS" "$E2E_WORK/warm.actions")
EOF
)
echo "$report"
if mkdir -p "$(dirname "$out")" 2>/dev/null && printf '%s\n' "$report" >"$out" 2>/dev/null; then
  e2e_log "wrote $out"
else
  e2e_log "could not write $out (set BENCH_OUT); the report is above"
fi
