#!/usr/bin/env bash
# Load without leaks: runs many small distinct actions (each its own
# Command, so none is an action cache hit) at concurrency 32 through the
# real gRPC API (e2e/loadgen: ByteStream and BatchUpdateBlobs uploads,
# Execute, every result checked: exit code, stdout, output digest and
# content) against `linux_actiond serve` and, in VM mode, `serve-vm`.
#
# Around each run it counts what the daemon holds: descendant processes,
# mounts (/proc/PID/mountinfo), open fds, the cgroups of its actions, work
# directories under its root (execroot), and its RSS. The "before" counts
# are taken after a warm-up run (LOAD_WARMUP actions, default 200) with the
# daemon idle; the "after" counts once the run ended and the daemon went
# idle again. It fails when a count does not come back to its value before
# the run within LOAD_SETTLE_SECS (default 30), or when RSS after exceeds
# 1.5 x RSS before + 32 MiB + 8 KiB per action of the run. The per-action
# allowance is the executor's retention of finished operations (their
# ExecuteResponse, for WaitExecution) for executor.DefaultRetention (10
# minutes): memory bounded by the actions of the last 10 minutes, not a
# leak; about 7 KiB each in RSS here. The 1.5 x covers Go returning freed
# heap to the system lazily. There is no debug hook to force a GC in the
# daemon, so the figures are as found. With LOAD_RETENTION_WAIT=1 the
# script also waits for the retention to expire (and Go's periodic GC and
# scavenger to run: up to 14 minutes per daemon) and then requires RSS
# within 1.5 x before + 32 MiB.
#
# Throughput (actions/s, uploads and checks included) and the client's
# Execute round trip (p50/p95/p99) go to a Markdown table in
# e2e/out/load.md (LOAD_OUT overrides).
#
# Usage: e2e/load.sh
# Environment:
#   LOAD_ACTIONS=10000      actions against serve
#   LOAD_VM_ACTIONS=2000    actions against serve-vm
#   LOAD_CONCURRENCY=32     actions in flight
#   LOAD_VM=0|1             run the serve-vm part (default: 1 when
#       qemu-system-x86_64 and a guest kernel are at hand: $KERNEL,
#       $ACTIOND_TEST_KERNEL_X86_64 or kernel/build.sh's cache)
#   KERNEL=FILE, INITRAMFS=FILE   as e2e/stress.sh
#   ACTIOND_BIN=FILE        use this linux_actiond instead of building it
#   JOBS                    the daemon's --jobs (default: its own)
#   ACTIOND_E2E_KEEP_TMP=1  keep the work directory (daemon logs)
#
# The actions run a static binary from their inputs, so no runtime image is
# needed. Runs as root or as an unprivileged user.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

actions=${LOAD_ACTIONS:-10000}
vm_actions=${LOAD_VM_ACTIONS:-2000}
concurrency=${LOAD_CONCURRENCY:-32}
warmup=${LOAD_WARMUP:-200}
settle=${LOAD_SETTLE_SECS:-30}
out=${LOAD_OUT:-$E2E_REPO/e2e/out/load.md}

kernel_x86=${KERNEL:-${ACTIOND_TEST_KERNEL_X86_64:-}}
cache_kernel=${ACTIOND_KERNEL_CACHE:-/var/cache/actiond/kernel}/latest-x86_64/bzImage
if [ -z "${LOAD_VM:-}" ]; then
  LOAD_VM=0
  if command -v qemu-system-x86_64 >/dev/null && { [ -n "$kernel_x86" ] || [ -f "$cache_kernel" ]; }; then
    LOAD_VM=1
  fi
fi

e2e_init load
e2e_log "building linux_actiond, loadgen and the static loadaction"
E2E_ACTIOND=${ACTIOND_BIN:-$E2E_WORK/linux_actiond}
[ -n "${ACTIOND_BIN:-}" ] || STATIC=1 e2e_go_build "$E2E_ACTIOND" ./cmd/linux_actiond
e2e_go_build "$E2E_WORK/loadgen" ./e2e/loadgen
STATIC=1 e2e_go_build "$E2E_WORK/loadaction" ./e2e/loadgen/loadaction

# descendants PID prints how many processes descend from PID.
descendants() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END { for (p in parent) { q = parent[p]; while (q != "" && q != 0 && q != 1) { if (q == root) { n++; break } q = parent[q] } } print n + 0 }'
}

# action_cgroups PID prints how many cgroups the daemon PID made for its
# actions (go/sandbox names them action-SEQ-PID) and still has.
action_cgroups() {
  local mnt
  mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
  [ -n "$mnt" ] || { echo 0; return; }
  { find "$mnt" -maxdepth 6 -type d -name "action-*-$1" 2>/dev/null || true; } | wc -l
}

# workdirs ROOT prints how many per-action work directories (and temp
# entries) the daemon rooted at ROOT has: execroot/actions/* and
# execroot/tmp/* (go/execroot).
workdirs() {
  { find "$1/execroot/actions" "$1/execroot/tmp" -mindepth 1 -maxdepth 1 2>/dev/null || true; } | wc -l
}

# cached_trees ROOT prints how many materialized input trees execroot keeps
# for reuse (execroot/roots/*, execroot/dircache/*): a cache, bounded by
# execroot's MaxCacheEntries (256) unreferenced trees each once idle, not
# a leak.
cached_trees() {
  { find "$1/execroot/roots" "$1/execroot/dircache" -mindepth 1 -maxdepth 1 2>/dev/null || true; } | wc -l
}
max_cached_trees=$((2 * 256))

# snapshot PID ROOT prints "procs mounts fds cgroups workdirs".
snapshot() {
  echo "$(descendants "$1") $(wc -l <"/proc/$1/mountinfo") $(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l) $(action_cgroups "$1") $(workdirs "$2")"
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# settle PID ROOT WANT waits until snapshot equals WANT (the daemon
# finishing its last actions and closing the client's connection) and
# prints the last snapshot; it returns 1 if it did not within $settle s.
settle() {
  local pid=$1 root=$2 want=$3 now i
  for ((i = 0; i < settle * 10; i++)); do
    now=$(snapshot "$pid" "$root")
    if [ "$now" = "$want" ]; then
      echo "$now"
      return 0
    fi
    sleep 0.1
  done
  echo "$now"
  return 1
}

rows=()
failures=()

# load_run NAME N: runs the warm-up and N actions against the running
# daemon and checks for leaks; adds a table row.
load_run() {
  local name=$1 n=$2 pid=$E2E_DAEMON_PID root=$E2E_WORK/root-$1 before after rss0 rss1 rss2 strict i line limit cached
  e2e_log "$name: warm-up, $warmup actions"
  "$E2E_WORK/loadgen" -addr "127.0.0.1:$E2E_DAEMON_PORT" -tool "$E2E_WORK/loadaction" \
    -actions "$warmup" -concurrency "$concurrency" -tag "warm-$name-$$" >/dev/null ||
    e2e_die "$name: warm-up failed (daemon log: $E2E_DAEMON_LOG)"
  # The warm-up's connection is gone and its actions cleaned up: counts
  # stop changing. Wait for two equal snapshots a second apart.
  before=$(snapshot "$pid" "$root")
  while sleep 1; do
    after=$(snapshot "$pid" "$root")
    [ "$after" = "$before" ] && break
    before=$after
  done
  rss0=$(rss_kib "$pid")
  e2e_log "$name: before (procs mounts fds cgroups workdirs): $before; RSS $((rss0 / 1024)) MiB"

  e2e_log "$name: $n actions at concurrency $concurrency"
  line=$("$E2E_WORK/loadgen" -addr "127.0.0.1:$E2E_DAEMON_PORT" -tool "$E2E_WORK/loadaction" \
    -actions "$n" -concurrency "$concurrency" -tag "run-$name-$$") ||
    e2e_die "$name: the load run failed (daemon log: $E2E_DAEMON_LOG)"
  kill -0 "$pid" 2>/dev/null || e2e_die "$name: the daemon died during the run"
  if ! after=$(settle "$pid" "$root" "$before"); then
    failures+=("$name: leaked: before $before, after $after (procs mounts fds cgroups workdirs), still $settle s after the run")
  fi
  sleep 3 # idle, so that the runtime may return freed memory
  rss1=$(rss_kib "$pid")
  limit=$((rss0 * 3 / 2 + 32 * 1024 + n * 8))
  e2e_log "$name: after: $after; RSS $((rss1 / 1024)) MiB (limit $((limit / 1024)) MiB)"
  if [ "${LOAD_RETENTION_WAIT:-}" = 1 ]; then
    strict=$((rss0 * 3 / 2 + 32 * 1024))
    e2e_log "$name: waiting for the executor's 10-minute retention to expire and RSS to fall under $((strict / 1024)) MiB"
    for ((i = 0; i < 14 * 60; i++)); do
      rss2=$(rss_kib "$pid")
      [ "$rss2" -le "$strict" ] && break
      sleep 1
    done
    e2e_log "$name: RSS $((rss2 / 1024)) MiB after $i s"
    if [ "$rss2" -gt "$strict" ]; then
      failures+=("$name: RSS still $((rss2 / 1024)) MiB 14 minutes after the run, over 1.5x + 32 MiB of $((rss0 / 1024)) MiB")
    fi
  fi
  cached=$(cached_trees "$root")
  if [ "$cached" -gt "$max_cached_trees" ]; then
    failures+=("$name: $cached cached input trees in $root/execroot, over execroot's bound of $max_cached_trees")
  fi
  if [ "$rss1" -gt "$limit" ]; then
    failures+=("$name: RSS grew from $((rss0 / 1024)) MiB to $((rss1 / 1024)) MiB, over 1.5x + 32 MiB + 8 KiB per action")
  fi
  local kv secs rate p50 p95 p99 max
  for kv in $line; do
    case $kv in
      seconds=*) secs=${kv#*=} ;;
      rate=*) rate=${kv#*=} ;;
      p50=*) p50=${kv#*=} ;;
      p95=*) p95=${kv#*=} ;;
      p99=*) p99=${kv#*=} ;;
      max=*) max=${kv#*=} ;;
    esac
  done
  read -r p0 m0 f0 c0 w0 <<<"$before"
  read -r p1 m1 f1 c1 w1 <<<"$after"
  rows+=("| \`$name\` | $n | $secs | $rate | $p50 | $p95 | $p99 | $max | $p0 → $p1 | $m0 → $m1 | $f0 → $f1 | $c0 → $c1 | $w0 → $w1 | $cached | $((rss0 / 1024)) → $((rss1 / 1024)) |")
}

jobs_flag=()
[ -z "${JOBS:-}" ] || jobs_flag=("--jobs=$JOBS")

e2e_log "starting linux_actiond serve"
e2e_start_daemon "$E2E_ACTIOND" "$E2E_WORK/root-serve" "${jobs_flag[@]}"
load_run serve "$actions"
e2e_stop_daemon

if [ "$LOAD_VM" = 1 ]; then
  [ -n "$kernel_x86" ] || kernel_x86=$cache_kernel
  KERNEL=$kernel_x86 e2e_vm_setup x86_64
  export E2E_DAEMON_CMD=serve-vm E2E_DAEMON_START_SECS=300
  e2e_log "starting linux_actiond serve-vm"
  e2e_start_daemon "$E2E_ACTIOND" "$E2E_WORK/root-serve-vm" "${jobs_flag[@]}" "${E2E_VM_FLAGS[@]}"
  load_run serve-vm "$vm_actions"
  e2e_stop_daemon
else
  e2e_log "skipping serve-vm: no qemu-system-x86_64 or no guest kernel (set LOAD_VM=1 and KERNEL to force)"
fi

report=$(
  cat <<EOF
## Load ($(date -u +%Y-%m-%dT%H:%MZ))

Distinct small actions (a static binary from the inputs; every result checked) at concurrency $concurrency through the gRPC API, after a warm-up of $warmup, $(nproc) cores, load average before the run $(cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/'). Rate counts whole actions (uploads, Execute, reading the outputs back); latency is the client's Execute round trip. Counts are before → after the run, the daemon idle: its descendant processes, mounts, open fds, action cgroups, per-action work directories; the input trees execroot caches for reuse after the run (bounded: at most 256 unreferenced each in roots/ and dircache/); RSS in MiB (no forced GC; the executor keeps finished operations for 10 minutes, so RSS after includes those of the run).

| Daemon | Actions | Wall (s) | Actions/s | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | Processes | Mounts | FDs | Cgroups | Work dirs | Cached trees | RSS (MiB) |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
$(printf '%s\n' "${rows[@]}")
EOF
)
echo "$report"
if mkdir -p "$(dirname "$out")" 2>/dev/null && printf '%s\n' "$report" >"$out" 2>/dev/null; then
  e2e_log "wrote $out"
fi
if [ "${#failures[@]}" -gt 0 ]; then
  printf '%s\n' "${failures[@]}" >&2
  e2e_die "${#failures[@]} leak check(s) failed"
fi
echo "load.sh: PASS: ${#rows[@]} daemon(s), every result as expected, nothing left behind, RSS within 1.5x + 32 MiB + 8 KiB per action"
