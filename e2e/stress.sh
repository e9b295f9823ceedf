#!/usr/bin/env bash
# End-to-end stress test with the real Bazel client (Bazel 4.2.3): build the
# stress workspace (test/stress, 34 actions) once locally on the host
# (--spawn_strategy=local) and once fully remotely through `linux_actiond
# serve`, and require byte-identical outputs (files, trees and symlinks).
#
# Usage: e2e/stress.sh linux
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
#       e2e/acsummary), for comparing two runs (test_all: root and rootless)
#
# Runs as root or as an unprivileged user (all state lives in a private
# temporary directory).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ "${1:-}" != linux ]; then
  echo "usage: $0 linux" >&2
  exit 2
fi
jobs=${JOBS:-8}

e2e_init stress
e2e_stress_setup
daemon=$E2E_ACTIOND
common=(--nosandbox_debug "--jobs=$jobs" --color=no --curses=no)

e2e_log "local baseline build (--spawn_strategy=local)"
e2e_clean --expunge
e2e_build_ok "$E2E_WORK/local.log" "local baseline build" "${common[@]}" --spawn_strategy=local --genrule_strategy=local //:stress_all
e2e_tree_manifest bazel-bin/ >"$E2E_WORK/local.manifest"

e2e_log "starting linux_actiond"
e2e_start_daemon "$daemon" "$E2E_WORK/root" "--jobs=$jobs" "${E2E_RUNTIME_FLAGS[@]}"
e2e_remote_flags "$E2E_DAEMON_PORT"

e2e_log "remote build through 127.0.0.1:$E2E_DAEMON_PORT"
e2e_clean --expunge
e2e_build_ok "$E2E_WORK/remote.log" "remote build" "${common[@]}" "${E2E_REMOTE_FLAGS[@]}" --keep_going //:stress_all
e2e_tree_manifest bazel-bin/ >"$E2E_WORK/remote.manifest"
e2e_stop_daemon
if [ -n "${STRESS_SUMMARY_OUT:-}" ]; then
  cp "$E2E_WORK/remote.manifest" "$STRESS_SUMMARY_OUT.outputs"
  (cd "$E2E_REPO" && go run ./e2e/acsummary "$E2E_WORK/root") >"$STRESS_SUMMARY_OUT.ac" ||
    e2e_die "summarizing the action results in $E2E_WORK/root failed"
  [ -s "$STRESS_SUMMARY_OUT.ac" ] || e2e_die "no action results in $E2E_WORK/root/ac"
fi

read -r total remote < <(e2e_bazel_processes "$E2E_WORK/remote.log")
done_lines=$(grep -c '"msg":"action done"' "$E2E_DAEMON_LOG" || true)
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
echo "stress.sh: PASS: $remote remote actions; sandbox checks enforced in $enforced; $files files and $links symlinks in bazel-bin identical to the local build"
