#!/usr/bin/env bash
# Benchmarks VM mode against linux mode in one run and writes a Markdown
# table to e2e/out/bench_vm.md (BENCH_OUT overrides):
#   - boot to ready: serve-vm's start until the guest answers (QEMU, kernel,
#     /init's mounts, the daemon), from its "actiond ready" record;
#   - the channel: ByteStream.Write and Read of one 256 MiB blob in Bazel's
#     16 KiB messages, and the latency of Execute for a trivial action, each
#     through serve and through serve-vm (e2e/vmbench channel);
#   - the stress workspace (34 actions) built fully remotely by Bazel 4.2.3,
#     cold (a fresh daemon) and warm (the same daemon after `bazel clean`,
#     --noremote_accept_cached so every action runs again), beside Bazel's
#     local strategy, and the daemon's per-action stage times (p50 / p95).
# Modes: linux (`serve`), vm (x86_64 guest) and, unless BENCH_ARM64=0,
# vm-arm64 (the arm64 guest a Mac boots, under TCG emulation here).
#
# Usage: e2e/bench_vm.sh
# Environment: as e2e/stress.sh (RUNTIME_IMAGE, RUNTIME_IMAGE_ARM64, KERNEL
# and INITRAMFS apply to x86_64, JOBS, ACTIOND_BIN, ACTIOND_E2E_KEEP_TMP),
# BENCH_ARM64, BENCH_OUT, BLOB_MIB (default 256).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

jobs=${JOBS:-8}
out=${BENCH_OUT:-$E2E_REPO/e2e/out/bench_vm.md}
blob_mib=${BLOB_MIB:-256}
arm64=${BENCH_ARM64:-1}

e2e_init bench-vm
e2e_stress_setup
amd64_runtime=("${E2E_RUNTIME_FLAGS[@]}")
e2e_vm_setup x86_64
vm_flags=("${E2E_VM_FLAGS[@]}")
e2e_log "building the bench client and the trivial action"
e2e_go_build "$E2E_WORK/vmbench" ./e2e/vmbench
STATIC=1 e2e_go_build "$E2E_WORK/probe-amd64" ./go/sandbox/testdata/probe
cp tool/action-tool "$E2E_WORK/action-tool-amd64"
if [ "$arm64" = 1 ]; then
  RUNTIME_ARCH=arm64 RUNTIME_IMAGE=${RUNTIME_IMAGE_ARM64:-} e2e_runtime_flags
  arm64_runtime=("${E2E_RUNTIME_FLAGS[@]}")
  KERNEL='' INITRAMFS='' e2e_vm_setup arm64
  arm64_flags=("${E2E_VM_FLAGS[@]}")
  GOARCH=arm64 STATIC=1 e2e_go_build "$E2E_WORK/probe-arm64" ./go/sandbox/testdata/probe
  GOARCH=arm64 STATIC=1 e2e_go_build "$E2E_WORK/action-tool-arm64" ./cmd/stress_action_tool
fi
common=(--nosandbox_debug "--jobs=$jobs" --color=no --curses=no)

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

e2e_log "local baseline build (--spawn_strategy=local)"
e2e_clean --expunge
t0=$(now)
e2e_build_ok "$E2E_WORK/local.log" "local build" "${common[@]}" --spawn_strategy=local --genrule_strategy=local //:stress_all
local_secs=$(secs "$t0" "$(now)")
e2e_tree_manifest bazel-bin/ >"$E2E_WORK/local.manifest"

boot_rows=() channel_rows=() build_rows=() stage_rows=()
modes=(linux vm)
[ "$arm64" = 1 ] && modes+=(vm-arm64)
for mode in "${modes[@]}"; do
  case $mode in
    linux) export E2E_DAEMON_CMD=serve; flags=("--jobs=$jobs" "${amd64_runtime[@]}"); tool=amd64 ;;
    vm) export E2E_DAEMON_CMD=serve-vm E2E_DAEMON_START_SECS=300; flags=("--jobs=$jobs" "${vm_flags[@]}" "${amd64_runtime[@]}"); tool=amd64 ;;
    vm-arm64) flags=("--jobs=$jobs" "${arm64_flags[@]}" "${arm64_runtime[@]}"); tool=arm64 ;;
  esac
  chmod u+w tool/action-tool
  install -m 0755 "$E2E_WORK/action-tool-$tool" tool/action-tool
  e2e_log "$mode: starting the daemon"
  e2e_start_daemon "$E2E_ACTIOND" "$E2E_WORK/root-$mode" "${flags[@]}"
  if [ "$mode" != linux ]; then
    # slog writes a duration to JSON in nanoseconds.
    boot=$(grep '"msg":"actiond ready"' "$E2E_DAEMON_LOG" | sed -n 's/.*"boot_to_ready":\([0-9]*\).*/\1/p' | head -n1)
    [ -n "$boot" ] || e2e_die "$mode: no boot_to_ready in the daemon log"
    boot_rows+=("| $mode | $(awk -v n="$boot" 'BEGIN { printf "%.2f s", n / 1e9 }') |")
  fi
  e2e_log "$mode: channel throughput and Execute latency"
  channel_rows+=("$("$E2E_WORK/vmbench" channel -label "$mode" -addr "127.0.0.1:$E2E_DAEMON_PORT" -tool "$E2E_WORK/probe-$tool" -blob-mib "$blob_mib")")
  e2e_remote_flags "$E2E_DAEMON_PORT"
  row="| $mode"
  for phase in cold warm; do
    e2e_log "$mode: $phase remote build"
    e2e_clean
    t0=$(now)
    e2e_build_ok "$E2E_WORK/$mode-$phase.log" "$mode $phase build" "${common[@]}" "${E2E_REMOTE_FLAGS[@]}" //:stress_all
    row+=" | $(secs "$t0" "$(now)")"
    e2e_tree_manifest bazel-bin/ >"$E2E_WORK/$mode.manifest"
    diff -q "$E2E_WORK/local.manifest" "$E2E_WORK/$mode.manifest" >/dev/null ||
      e2e_die "$mode $phase build: outputs differ from the local build"
  done
  build_rows+=("$row | $local_secs |")
  e2e_stop_daemon
  stage_rows+=("$("$E2E_WORK/vmbench" stages -label "$mode" "$E2E_DAEMON_LOG")")
done

mkdir -p "$(dirname "$out")"
{
  echo "# VM mode against linux mode"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) CPUs, $(uname -r); accelerator: $(grep -o '"accel":"[a-z]*"' "$E2E_WORK/root-vm.log" | head -n1 | cut -d'"' -f4). Guests: 2 vCPUs, 2048 MiB; every daemon runs --jobs=$jobs."
  echo
  echo "| guest | boot to ready |"
  echo "|---|---|"
  printf '%s\n' "${boot_rows[@]}"
  echo
  echo "Channel: one ${blob_mib} MiB blob in 16 KiB messages; Execute of a trivial action, one at a time, to its final response."
  echo
  echo "| mode | ByteStream.Write MiB/s | ByteStream.Read MiB/s | Execute p50 ms | Execute p90 ms |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${channel_rows[@]}"
  echo
  echo "Stress workspace, wall time in seconds (Bazel 4.2.3, --jobs=$jobs, every action executed remotely):"
  echo
  echo "| mode | cold | warm | local strategy |"
  echo "|---|---|---|---|"
  printf '%s\n' "${build_rows[@]}"
  echo
  echo "Per-action stage times over both builds, ms, p50 / p95:"
  echo
  echo "| mode | actions | queue | input | setup | spawn | run | teardown | output | total |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${stage_rows[@]}"
} >"$out"
cat "$out"
