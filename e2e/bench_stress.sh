#!/usr/bin/env bash
# Benchmarks the stress workspace (test/stress, 34 actions) once per mode:
#   linux-sandbox   Bazel's own sandbox (network blocked, checks enforced)
#   local           no sandbox (--spawn_strategy=local)
#   actiond cold    remote through a fresh `linux_actiond serve` (empty CAS)
#   actiond warm    the same daemon again after `bazel clean`: every input is
#                   already in its CAS (--noremote_accept_cached, so all
#                   actions still execute)
# and reports wall times plus actiond's per-action stage times (p50, p95) from
# its "action done" log lines. Prints a Markdown table and writes it to
# e2e/out/bench_stress.md (BENCH_OUT overrides).
#
# Usage: e2e/bench_stress.sh
# Environment: as e2e/stress.sh (RUNTIME_IMAGE, RUNTIME_DIR, RUNTIME_LIBC,
# ACTIOND_BIN, JOBS, ACTIOND_E2E_KEEP_TMP); BENCH_SKIP_SANDBOX=1 skips the
# linux-sandbox run (it needs user namespaces).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

jobs=${JOBS:-8}
out=${BENCH_OUT:-$E2E_REPO/e2e/out/bench_stress.md}

e2e_init bench-stress
e2e_need_bazel

e2e_log "building the action tool (static) and linux_actiond"
STATIC=1 e2e_go_build "$E2E_WORK/action-tool" ./cmd/stress_action_tool
daemon=${ACTIOND_BIN:-$E2E_WORK/linux_actiond}
[ -n "${ACTIOND_BIN:-}" ] || e2e_go_build "$daemon" ./cmd/linux_actiond
e2e_runtime_flags

ws="$E2E_WORK/ws"
e2e_stress_workspace "$ws" "$E2E_WORK/action-tool"
cd "$ws"
common=(--nosandbox_debug "--jobs=$jobs" --color=no --curses=no)

rows=()
# measure LABEL LOG FLAGS... runs `bazel clean` and one timed build, then
# appends a table row: wall time, Bazel's elapsed time and critical path, and
# the process summary.
measure() {
  local label=$1 log=$2 start end
  shift 2
  e2e_log "$label"
  e2e_bazel clean >/dev/null 2>&1
  start=$(date +%s.%N)
  if ! e2e_bazel build "${common[@]}" "$@" //:stress_all >"$log" 2>&1; then
    e2e_show_failure "$log"
    e2e_die "$label build failed"
  fi
  end=$(date +%s.%N)
  local elapsed critical procs
  elapsed=$(grep -oE 'Elapsed time: [0-9.]+s' "$log" | tail -n 1 | grep -oE '[0-9.]+' || echo '?')
  critical=$(grep -oE 'Critical Path: [0-9.]+s' "$log" | tail -n 1 | grep -oE '[0-9.]+' || echo '?')
  procs=$(grep -E 'INFO: [0-9]+ process' "$log" | tail -n 1 | sed -E 's/^INFO: //; s/\.$//')
  rows+=("| $label | $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.2f", b-a}') | $elapsed | $critical | $procs |")
}

# stage_row LABEL FROM TO prints a table row of p50/p95 per stage over the
# daemon's "action done" lines FROM..TO of its log (TO may be "$").
stage_row() {
  sed -n "$2,$3p" "$E2E_DAEMON_LOG" | { grep '"msg":"action done"' || true; } | awk -v label="$1" '
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
      q[n] = val("queue_ms"); in_[n] = val("input_ms"); s[n] = val("setup_ms")
      r[n] = val("run_ms"); o[n] = val("output_ms"); t[n] = val("total_ms"); ov[n] = t[n] - r[n]
    }
    END {
      if (n == 0) { printf "| %s | 0 | | | | | | | |\n", label; exit }
      sortn(q, n); sortn(in_, n); sortn(s, n); sortn(r, n); sortn(o, n); sortn(t, n); sortn(ov, n)
      printf "| %s | %d", label, n
      printf " | %.2f / %.2f", pct(q, n, 50), pct(q, n, 95)
      printf " | %.2f / %.2f", pct(in_, n, 50), pct(in_, n, 95)
      printf " | %.2f / %.2f", pct(s, n, 50), pct(s, n, 95)
      printf " | %.2f / %.2f", pct(r, n, 50), pct(r, n, 95)
      printf " | %.2f / %.2f", pct(o, n, 50), pct(o, n, 95)
      printf " | %.2f / %.2f", pct(t, n, 50), pct(t, n, 95)
      printf " | %.2f / %.2f |\n", pct(ov, n, 50), pct(ov, n, 95)
    }'
}

e2e_bazel clean --expunge >/dev/null 2>&1
if [ "${BENCH_SKIP_SANDBOX:-}" != 1 ]; then
  measure "Bazel linux-sandbox" "$E2E_WORK/sandbox.log" \
    --spawn_strategy=linux-sandbox --genrule_strategy=linux-sandbox \
    --sandbox_default_allow_network=false --action_env=ACTIOND_EXPECT_SANDBOX=1
fi
measure "Bazel local (no sandbox)" "$E2E_WORK/local.log" --spawn_strategy=local --genrule_strategy=local
e2e_tree_manifest bazel-bin/ >"$E2E_WORK/local.manifest"

e2e_start_daemon "$daemon" "$E2E_WORK/root" "--jobs=$jobs" "${E2E_RUNTIME_FLAGS[@]}"
e2e_remote_flags "$E2E_DAEMON_PORT"
cold_from=$(($(wc -l <"$E2E_DAEMON_LOG") + 1))
measure "actiond, cold CAS" "$E2E_WORK/cold.log" "${E2E_REMOTE_FLAGS[@]}"
e2e_tree_manifest bazel-bin/ >"$E2E_WORK/cold.manifest"
warm_from=$(($(wc -l <"$E2E_DAEMON_LOG") + 1))
measure "actiond, warm CAS" "$E2E_WORK/warm.log" "${E2E_REMOTE_FLAGS[@]}"
e2e_stop_daemon
diff -q "$E2E_WORK/local.manifest" "$E2E_WORK/cold.manifest" >/dev/null ||
  e2e_die "actiond's outputs differ from the local build; run e2e/stress.sh linux"

cold_stages=$(stage_row "cold CAS" "$cold_from" $((warm_from - 1)))
warm_stages=$(stage_row "warm CAS" "$warm_from" '$')

report=$(
  cat <<EOF
## Stress workspace benchmark ($(date -u +%Y-%m-%dT%H:%MZ))

One run per mode of \`bazel build //:stress_all\` (34 actions) after \`bazel clean\`, Bazel $(dpkg-query -W -f='${Version}' bazel-bootstrap 2>/dev/null || bazel --version 2>/dev/null | awk '{print $2}'), --jobs=$jobs, $(nproc) cores, runtime ${RUNTIME_IMAGE:-${RUNTIME_DIR:-}} (libc=${RUNTIME_LIBC:-glibc2.36}), as $(id -un).
Wall is the whole \`bazel --batch build\` (JVM start, loading and analysis included); "Elapsed" and "Critical path" are Bazel's own figures.

| Mode | Wall (s) | Elapsed (s) | Critical path (s) | Processes |
|---|---:|---:|---:|---|
$(printf '%s\n' "${rows[@]}")

### actiond per-action stage times (ms, p50 / p95)

From the daemon's \`action done\` log lines; overhead = total_ms − run_ms.

| Run | Actions | queue | input | setup | run | output | total | overhead |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
$cold_stages
$warm_stages
EOF
)
echo "$report"
if mkdir -p "$(dirname "$out")" 2>/dev/null && printf '%s\n' "$report" >"$out" 2>/dev/null; then
  e2e_log "wrote $out"
else
  e2e_log "could not write $out (set BENCH_OUT); the report is above"
fi
