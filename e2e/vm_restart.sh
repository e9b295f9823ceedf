#!/usr/bin/env bash
# End-to-end restart test of `linux_actiond serve-vm` (x86_64 guest under
# QEMU) with the real Bazel client (Bazel 4.2.3) on the stress workspace
# (test/stress, 34 actions), on one --root and so one CAS image throughout:
#
#   1. build remotely through a fresh VM (every action executed remotely);
#      SIGTERM serve-vm: it must exit 0, the log must say the guest powered
#      off, no QEMU may be left on the image, and the image's ext4 must be
#      clean (dumpe2fs: state clean, no needs_recovery);
#   2. start again, `bazel clean`, build with the remote cache accepted:
#      every action must be a remote cache hit, outputs identical to 1;
#   3. SIGKILL serve-vm: QEMU must die with it; start again on the image
#      (ext4 replays its journal) and build once more: hits or re-executions
#      are both acceptable after a kill, and the PASS line says which.
#
# Usage: e2e/vm_restart.sh
#
# Environment (as e2e/stress.sh):
#   KERNEL=FILE, INITRAMFS=FILE   guest kernel and initramfs (default:
#       kernel/build.sh x86_64, cached, and vm/build_initramfs.sh amd64)
#   RUNTIME_IMAGE=FILE.sqfs   the guest's runtime image (default: built with
#       e2e/build_local_runtimes.sh)
#   ACTIOND_BIN=FILE          use this linux_actiond instead of building it
#   JOBS=8                    Bazel --jobs
#   ACTIOND_E2E_KEEP_TMP=1    keep the work directory (logs, CAS image)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export PATH="$PATH:/usr/sbin:/sbin"

jobs=${JOBS:-8}
command -v dumpe2fs >/dev/null || e2e_die "dumpe2fs not found: apt-get install e2fsprogs"

e2e_init vm-restart
unset RUNTIME_DIR # the guest takes a runtime image only
e2e_stress_setup
e2e_vm_setup x86_64
export E2E_DAEMON_CMD=serve-vm E2E_DAEMON_START_SECS=300
daemon_flags=("${E2E_VM_FLAGS[@]}" "${E2E_RUNTIME_FLAGS[@]}")
root=$E2E_WORK/root
img=$root/vm/cas.img
common=(--nosandbox_debug "--jobs=$jobs" --color=no --curses=no)

# log_since LINE prints the daemon log from line LINE on (one start's part).
log_since() { tail -n "+$1" "$E2E_DAEMON_LOG"; }
log_lines() { if [ -f "$root.log" ]; then wc -l <"$root.log"; else echo 0; fi; }

# start_vm: starts serve-vm on $root and sets start_line to where its log
# part begins.
start_vm() {
  start_line=$(($(log_lines) + 1))
  e2e_start_daemon "$E2E_ACTIOND" "$root" "${daemon_flags[@]}"
  e2e_remote_flags "$E2E_DAEMON_PORT"
}

# stop_vm SIGNAL: sends serve-vm SIGNAL and waits for it; sets stop_rc.
stop_vm() {
  local pid=$E2E_DAEMON_PID
  E2E_DAEMON_PID=
  kill "-$1" "$pid"
  stop_rc=0
  # (No "Killed" job notice from bash.)
  { wait "$pid"; } 2>/dev/null || stop_rc=$?
}

# qemu_on_image prints the PIDs of QEMU processes whose command line names
# the CAS image.
qemu_on_image() { pgrep -f -- "-drive file=$img," || true; }

# wait_no_qemu: QEMU dies of its parent-death signal, asynchronously.
wait_no_qemu() {
  local i
  for ((i = 0; i < 100; i++)); do
    [ -z "$(qemu_on_image)" ] && return 0
    sleep 0.1
  done
  e2e_die "QEMU still runs on $img after serve-vm exited: $(qemu_on_image | tr '\n' ' ')"
}

# ext4_state prints the image's state and whether its journal needs
# recovery, e.g. "clean" or "clean needs_recovery".
ext4_state() {
  local h
  h=$(dumpe2fs -h "$img" 2>/dev/null) || e2e_die "dumpe2fs -h $img failed"
  printf '%s%s\n' "$(sed -n 's/^Filesystem state: *//p' <<<"$h")" \
    "$(grep -q '^Filesystem features:.*needs_recovery' <<<"$h" && echo ' needs_recovery')"
}

# build NAME [BAZEL FLAGS...]: bazel clean, then a remote build of
# //:stress_all logged to $E2E_WORK/NAME.log, with its manifest in
# $E2E_WORK/NAME.manifest; sets total, executed (remotely), hits (remote
# cache hits) and internal (Bazel's own, e.g. symlinks) from Bazel's
# "INFO: N processes: ..." line.
build() {
  local name=$1 line
  shift
  e2e_clean
  e2e_build_ok "$E2E_WORK/$name.log" "$name build" "${common[@]}" "${E2E_REMOTE_FLAGS[@]}" "$@" //:stress_all
  e2e_tree_manifest bazel-bin/ >"$E2E_WORK/$name.manifest"
  read -r total executed < <(e2e_bazel_processes "$E2E_WORK/$name.log")
  line=$(grep -E 'INFO: [0-9]+ process' "$E2E_WORK/$name.log" | tail -n 1 || true)
  hits=$(grep -oE '[0-9]+ remote cache hit' <<<"$line" | grep -oE '^[0-9]+' || echo 0)
  internal=$(grep -oE '[0-9]+ internal' <<<"$line" | grep -oE '^[0-9]+' || echo 0)
  e2e_log "$name build: $line"
  if ! diff -u "$E2E_WORK/first.manifest" "$E2E_WORK/$name.manifest" >"$E2E_WORK/$name.diff"; then
    head -n 40 "$E2E_WORK/$name.diff" >&2
    e2e_die "$name build: outputs differ from the first build's (diff above)"
  fi
}

e2e_log "1: build through a fresh VM"
e2e_clean --expunge
start_vm
build first
[ "$executed" -ge 34 ] || e2e_die "first build: want all 34 actions executed remotely, Bazel reports $executed"
first_executed=$executed

e2e_log "1: SIGTERM serve-vm"
stop_vm TERM
log_since "$start_line" >"$E2E_WORK/run1.log"
[ "$stop_rc" = 0 ] || { tail -n 20 "$E2E_WORK/run1.log" >&2; e2e_die "serve-vm exited with $stop_rc after SIGTERM, want 0"; }
grep -q 'the guest powered off' "$E2E_WORK/run1.log" ||
  { tail -n 20 "$E2E_WORK/run1.log" >&2; e2e_die "after SIGTERM the log does not say the guest powered off"; }
wait_no_qemu
state1=$(ext4_state)
[ "$state1" = clean ] || e2e_die "after SIGTERM the CAS image's ext4 is \"$state1\", want clean (unmounted with nothing to recover)"

e2e_log "2: restart on the same image, build from the remote cache"
start_vm
build second --remote_accept_cached
[ "$executed" = 0 ] && [ "$hits" -ge 34 ] && [ "$((hits + internal))" = "$total" ] ||
  e2e_die "second build: want every action a remote cache hit, Bazel reports $total processes, $hits remote cache hits, $executed executed remotely"
second_hits=$hits

e2e_log "3: SIGKILL serve-vm"
stop_vm KILL
[ "$stop_rc" = 137 ] || e2e_die "serve-vm exited with $stop_rc after SIGKILL, want 137"
wait_no_qemu
state3=$(ext4_state)
e2e_log "after SIGKILL the CAS image's ext4 is: $state3"

e2e_log "3: restart on the killed VM's image, build again"
start_vm
log_since "$start_line" >"$E2E_WORK/run3.log"
if grep -q 'format=true' "$E2E_WORK/run3.log"; then
  e2e_die "the restart after SIGKILL asked the guest to format the CAS image"
fi
build third --remote_accept_cached
third_hits=$hits third_executed=$executed
stop_vm TERM
[ "$stop_rc" = 0 ] || e2e_die "serve-vm exited with $stop_rc after the last SIGTERM, want 0"
wait_no_qemu
state4=$(ext4_state)
[ "$state4" = clean ] || e2e_die "after the last SIGTERM the CAS image's ext4 is \"$state4\", want clean"

after_kill="$third_hits remote cache hits and $third_executed re-executed"
echo "vm_restart.sh: PASS: first build $first_executed actions executed in the VM; after SIGTERM the ext4 was $state1 and a restarted VM served all $second_hits from its cache; after SIGKILL (ext4: $state3) QEMU died with serve-vm and a restarted VM mounted the image and served $after_kill; outputs identical in all three builds"
