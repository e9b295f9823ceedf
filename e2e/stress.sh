#!/usr/bin/env bash
# End-to-end stress test with the real Bazel client (Bazel 4.2.3): build the
# stress workspace (test/stress, 34 actions) once locally on the host
# (--spawn_strategy=local) and once fully remotely through `linux_actiond
# serve` (linux) or through `linux_actiond serve-vm` (vm: an x86_64 guest;
# vm-arm64: the arm64 kernel, initramfs, runtime image and action tool a Mac
# boots, under QEMU TCG), and require byte-identical outputs (files, trees and
# symlinks).
#
# Usage: e2e/stress.sh linux|vm|vm-arm64
#
# Environment:
#   RUNTIME_IMAGE=FILE.sqfs or RUNTIME_DIR=DIR   runtime for the daemon (genrules
#       need its static bash); without either, e2e/build_local_runtimes.sh
#       builds one
#   RUNTIME_LIBC=glibc2.36   libc exec property sent with every action ("none": omit)
#   ACTIOND_BIN=FILE         use this linux_actiond instead of building it
#   JOBS=8                   Bazel --jobs (and the daemon's --jobs)
#   ACTIOND_E2E_KEEP_TMP=1   keep the work directory (daemon log, Bazel logs)
#   STRESS_SUMMARY_OUT=PREFIX  write the remote build's outputs (PREFIX.outputs)
#       and its action results without execution metadata (PREFIX.ac, see
#       e2e/acsummary), for comparing two runs (test_all: root and rootless,
#       linux and VM mode). In VM mode the action cache is inside the guest's
#       CAS image, which is mounted read-only on a loop device after the VM
#       stopped (root only)
#   KERNEL=FILE, INITRAMFS=FILE   guest kernel and initramfs for the VM modes
#       (default: kernel/build.sh, cached, and vm/build_initramfs.sh)
#   RUNTIME_IMAGE_ARM64=FILE.sqfs   the arm64 runtime image for vm-arm64
#       (default: built with e2e/build_local_runtimes.sh --arch arm64)
#
# Runs as root or as an unprivileged user (all state lives in a private
# temporary directory).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mode=${1:-}
case $mode in
  linux | vm) ;;
  vm-arm64)
    # The guest is arm64: its runtime image and the action tool are too.
    export RUNTIME_ARCH=arm64
    RUNTIME_IMAGE=${RUNTIME_IMAGE_ARM64:-}
    unset RUNTIME_DIR
    ;;
  *)
    echo "usage: $0 linux|vm|vm-arm64" >&2
    exit 2
    ;;
esac
if [ "$mode" != linux ] && [ -n "${STRESS_SUMMARY_OUT:-}" ] && [ "$(id -u)" != 0 ]; then
  echo "$0: STRESS_SUMMARY_OUT in VM mode mounts the guest's CAS image: run as root" >&2
  exit 2
fi
jobs=${JOBS:-8}

e2e_init "stress-$mode"
e2e_stress_setup
daemon=$E2E_ACTIOND
daemon_flags=("--jobs=$jobs" "${E2E_RUNTIME_FLAGS[@]}")
# The action's "done" line: JSON in linux mode; in VM mode the guest logs
# text on the console, which the host logs as a line of its own.
done_pattern='"msg":"action done"'
if [ "$mode" != linux ]; then
  arch=x86_64
  [ "$mode" = vm-arm64 ] && arch=arm64
  e2e_vm_setup "$arch"
  export E2E_DAEMON_CMD=serve-vm E2E_DAEMON_START_SECS=300
  daemon_flags=("--jobs=$jobs" "${E2E_VM_FLAGS[@]}" "${E2E_RUNTIME_FLAGS[@]}")
  done_pattern='msg=\\"action done\\"'
fi
common=(--nosandbox_debug "--jobs=$jobs" --color=no --curses=no)

e2e_log "local baseline build (--spawn_strategy=local)"
e2e_clean --expunge
e2e_build_ok "$E2E_WORK/local.log" "local baseline build" "${common[@]}" --spawn_strategy=local --genrule_strategy=local //:stress_all
e2e_tree_manifest bazel-bin/ >"$E2E_WORK/local.manifest"

if [ "$mode" = vm-arm64 ]; then
  # The baseline ran the host's build of the tool; the guest runs arm64's.
  e2e_log "building the action tool for arm64"
  GOARCH=arm64 STATIC=1 e2e_go_build "$E2E_WORK/action-tool-arm64" ./cmd/stress_action_tool
  chmod u+w tool/action-tool
  install -m 0755 "$E2E_WORK/action-tool-arm64" tool/action-tool
fi

e2e_log "starting linux_actiond ${E2E_DAEMON_CMD:-serve}"
e2e_start_daemon "$daemon" "$E2E_WORK/root" "${daemon_flags[@]}"
e2e_remote_flags "$E2E_DAEMON_PORT"

e2e_log "remote build through 127.0.0.1:$E2E_DAEMON_PORT"
e2e_clean --expunge
e2e_build_ok "$E2E_WORK/remote.log" "remote build" "${common[@]}" "${E2E_REMOTE_FLAGS[@]}" --keep_going //:stress_all
e2e_tree_manifest bazel-bin/ >"$E2E_WORK/remote.manifest"
e2e_stop_daemon
if [ -n "${STRESS_SUMMARY_OUT:-}" ]; then
  cp "$E2E_WORK/remote.manifest" "$STRESS_SUMMARY_OUT.outputs"
  ac_root=$E2E_WORK/root
  if [ "$mode" != linux ]; then
    # noload: no journal replay, nothing is written to the image.
    mkdir -p "$E2E_WORK/cas-mount"
    mount -o ro,noload,loop "$E2E_WORK/root/vm/cas.img" "$E2E_WORK/cas-mount" ||
      e2e_die "mounting the guest's CAS image read-only failed"
    ac_root=$E2E_WORK/cas-mount/actiond
  fi
  ac_ok=1
  (cd "$E2E_REPO" && go run ./e2e/acsummary "$ac_root") >"$STRESS_SUMMARY_OUT.ac" || ac_ok=0
  [ "$mode" = linux ] || umount "$E2E_WORK/cas-mount"
  [ "$ac_ok" = 1 ] || e2e_die "summarizing the action results in $ac_root failed"
  [ -s "$STRESS_SUMMARY_OUT.ac" ] || e2e_die "no action results in $ac_root/ac"
fi

read -r total remote < <(e2e_bazel_processes "$E2E_WORK/remote.log")
done_lines=$(grep -c "$done_pattern" "$E2E_DAEMON_LOG" || true)
e2e_log "remote build: $total processes, $remote remote; daemon logged $done_lines actions"
if [ "$remote" -lt 34 ]; then
  grep -E 'INFO: [0-9]+ process' "$E2E_WORK/remote.log" >&2 || true
  e2e_die "want all 34 stress actions to run remotely, Bazel reports $remote"
fi
if [ "$done_lines" -lt "$remote" ]; then
  e2e_die "Bazel ran $remote remote actions but the daemon logged only $done_lines \"action done\" lines"
fi
# mixed_all and stress_all run the tool's sandbox checks (network blocked,
# loopback, localhost in /etc/hosts); they must have run as assertions.
enforced=$(grep -c 'sandbox checks passed (enforced)' "$E2E_WORK/remote.log" || true)
if [ "$enforced" -lt 2 ]; then
  e2e_die "want the sandbox checks of mixed_all and stress_all enforced and passing remotely, found $enforced confirmations in the Bazel log"
fi
if ! diff -u "$E2E_WORK/local.manifest" "$E2E_WORK/remote.manifest" >"$E2E_WORK/manifest.diff"; then
  head -n 60 "$E2E_WORK/manifest.diff" >&2
  e2e_die "remote outputs differ from the local build (diff above)"
fi
files=$(grep -c '^file ' "$E2E_WORK/local.manifest")
links=$(grep -c '^symlink ' "$E2E_WORK/local.manifest")
echo "stress.sh $mode: PASS: $remote remote actions; sandbox checks enforced in $enforced; $files files and $links symlinks in bazel-bin identical to the local build"
