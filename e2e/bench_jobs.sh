#!/usr/bin/env bash
# Measures how many actions `linux_actiond serve` should run at once (its
# --jobs) on this machine: builds three workspaces of test/stress remotely,
# every action executed (--noremote_accept_cached, warm CAS), with the
# daemon at --jobs = 1, 2 and 4 times the core count and Bazel's own --jobs
# high enough (64) that the daemon's limit is the one that binds:
#   //:cpu_bound    48 actions hashing 256 MiB each (CPU-bound)
#   //:wait_bound   48 actions waiting 200 ms each (as on I/O)
#   //:stress_all   the 34-action stress build (mixed)
# A first round, not reported, fills each daemon's CAS and warms Bazel;
# then ROUNDS rounds (default 3) run every daemon setting in turn. Prints a
# Markdown table of median wall times and writes it to e2e/out/bench_jobs.md
# (BENCH_OUT overrides).
#
# Usage: e2e/bench_jobs.sh
# Environment: as e2e/stress.sh (RUNTIME_IMAGE, RUNTIME_DIR, RUNTIME_LIBC,
# ACTIOND_BIN), ROUNDS, FACTORS (default "1 2 4").
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rounds=${ROUNDS:-3}
factors=${FACTORS:-1 2 4}
out=${BENCH_OUT:-$E2E_REPO/e2e/out/bench_jobs.md}
targets=(//:cpu_bound //:wait_bound //:stress_all)
cores=$(nproc)

e2e_init bench-jobs
e2e_stress_setup
bazel_() { bazel --output_user_root="$E2E_WORK/bazel" "$@"; }
trap 'bazel_ shutdown >/dev/null 2>&1 || true; e2e_cleanup' EXIT
declare -A walls

# build TARGET KEY ROUND: one clean, timed remote build.
build() {
  local target=$1 key=$2 round=$3 log="$E2E_WORK/build.log" start end
  bazel_ clean >/dev/null 2>&1
  start=$(date +%s.%N)
  if ! bazel_ build --nosandbox_debug --jobs=64 --color=no --curses=no "${E2E_REMOTE_FLAGS[@]}" \
    "$target" >"$log" 2>&1; then
    e2e_show_failure "$log"
    e2e_die "$target with daemon $key failed (round $round)"
  fi
  end=$(date +%s.%N)
  [ "$round" -gt 0 ] || return 0
  walls[$target $key]+="$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.3f", b-a}') "
}

for ((r = 0; r <= rounds; r++)); do
  e2e_log "round $r of $rounds$([ "$r" -gt 0 ] || echo ' (warm-up, not reported)')"
  for f in $factors; do
    jobs=$((f * cores))
    e2e_start_daemon "$E2E_ACTIOND" "$E2E_WORK/root-$jobs" "--jobs=$jobs" "${E2E_RUNTIME_FLAGS[@]}"
    e2e_remote_flags "$E2E_DAEMON_PORT"
    for t in "${targets[@]}"; do
      build "$t" "$jobs" "$r"
    done
    e2e_stop_daemon
  done
done

header="| Build |"
rule="|---|"
for f in $factors; do
  header+=" --jobs=$((f * cores)) (s) |"
  rule+="---:|"
done
rows=()
for t in "${targets[@]}"; do
  row="| \`$t\` |"
  for f in $factors; do
    read -r med _ <<<"$(e2e_median_min "${walls[$t $((f * cores))]}")"
    row+=" $med |"
  done
  rows+=("$row")
done
report=$(
  cat <<EOF
## Daemon --jobs benchmark ($(date -u +%Y-%m-%dT%H:%MZ))

Median wall of \`bazel build\` over $rounds rounds, every action executed remotely (warm CAS, --noremote_accept_cached), Bazel --jobs=64, $cores cores, load average before the run $(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/').

$header
$rule
$(printf '%s\n' "${rows[@]}")
EOF
)
echo "$report"
if mkdir -p "$(dirname "$out")" 2>/dev/null && printf '%s\n' "$report" >"$out" 2>/dev/null; then
  e2e_log "wrote $out"
fi
