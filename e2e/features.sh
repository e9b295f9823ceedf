#!/usr/bin/env bash
# End-to-end test of build shapes beyond the stress workspace (test/features,
# see its WORKSPACE) with the real Bazel client (Bazel 4.2.3):
#   1. a local build (--spawn_strategy=local), the reference;
#   2. the same build executed remotely through `linux_actiond serve`, whose
#      bazel-bin must be identical (files, modes, symlinks, tree artifacts);
#   3. after `bazel clean`, a remote build with --remote_download_minimal
#      (of the targets without symlink outputs, which Bazel 4.2.3 refuses
#      then): intermediate outputs stay in the daemon's CAS and feed later
#      actions from there (the 24 MiB big.bin is never downloaded);
#   4. a failing action: the build fails with the action's exit code and
#      stderr, and the daemon keeps serving (a last build still works).
#
# Usage: e2e/features.sh
# Environment: as e2e/stress.sh (RUNTIME_IMAGE, RUNTIME_DIR, RUNTIME_LIBC,
# ACTIOND_BIN, ACTIOND_E2E_KEEP_TMP).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

e2e_init features
e2e_need_bazel
daemon=${ACTIOND_BIN:-$E2E_WORK/linux_actiond}
[ -n "${ACTIOND_BIN:-}" ] || e2e_go_build "$daemon" ./cmd/linux_actiond
e2e_runtime_flags

ws="$E2E_WORK/ws"
cp -r "$E2E_REPO/test/features" "$ws"
cd "$ws"
common=(--color=no --curses=no --action_env=FEATURES_ENV=hello-from-action-env)

e2e_log "local baseline build"
e2e_clean --expunge
e2e_build_ok "$E2E_WORK/local.log" "local baseline build" "${common[@]}" --spawn_strategy=local --genrule_strategy=local //:all
e2e_tree_manifest bazel-bin/ >"$E2E_WORK/local.manifest"
grep -q '^hello-from-action-env$' bazel-bin/env_and_tmp.txt || e2e_die "local build: --action_env did not reach the genrule"

e2e_log "starting linux_actiond"
e2e_start_daemon "$daemon" "$E2E_WORK/root" "${E2E_RUNTIME_FLAGS[@]}"
e2e_remote_flags "$E2E_DAEMON_PORT"

e2e_log "remote build"
e2e_clean --expunge
e2e_build_ok "$E2E_WORK/remote.log" "remote build" "${common[@]}" "${E2E_REMOTE_FLAGS[@]}" //:all
read -r total remote < <(e2e_bazel_processes "$E2E_WORK/remote.log")
[ "$remote" -ge 9 ] || e2e_die "want the 9 actions of //:all executed remotely, Bazel reports $remote of $total"
e2e_tree_manifest bazel-bin/ >"$E2E_WORK/remote.manifest"
if ! diff -u "$E2E_WORK/local.manifest" "$E2E_WORK/remote.manifest" >"$E2E_WORK/manifest.diff"; then
  head -n 40 "$E2E_WORK/manifest.diff" >&2
  e2e_die "remote outputs differ from the local build"
fi
files=$(grep -c '^file ' "$E2E_WORK/remote.manifest")
full_remote=$remote
e2e_log "remote build: $remote remote actions, $files files identical to the local build"

e2e_log "remote build with --remote_download_minimal"
e2e_clean
e2e_build_ok "$E2E_WORK/minimal.log" "remote build with --remote_download_minimal" "${common[@]}" "${E2E_REMOTE_FLAGS[@]}" --remote_download_minimal //:no_symlinks
[ ! -e bazel-bin/big.bin ] || e2e_die "--remote_download_minimal: big.bin was downloaded"
read -r total remote < <(e2e_bazel_processes "$E2E_WORK/minimal.log")
[ "$remote" -ge 7 ] || e2e_die "--remote_download_minimal: want 7 remote actions, Bazel reports $remote of $total"

e2e_log "a failing action"
if e2e_bazel build "${common[@]}" "${E2E_REMOTE_FLAGS[@]}" //:fails >"$E2E_WORK/fails.log" 2>&1; then
  e2e_die "//:fails built, want a failure"
fi
# test/features/BUILD joins the marker at run time, so only the action's
# stderr can hold it, not Bazel's echo of the genrule command.
grep -q 'intentional failure marker' "$E2E_WORK/fails.log" || { tail -n 20 "$E2E_WORK/fails.log" >&2; e2e_die "the failing action's stderr is not in Bazel's output"; }
grep -q 'Exit 3' "$E2E_WORK/fails.log" || { tail -n 20 "$E2E_WORK/fails.log" >&2; e2e_die "Bazel does not report the failing action's exit code 3"; }

e2e_log "the daemon still serves after the failure"
e2e_clean
e2e_build_ok "$E2E_WORK/after.log" "build after the failure" "${common[@]}" "${E2E_REMOTE_FLAGS[@]}" //:tree_listing
e2e_stop_daemon
if grep -q '"level":"ERROR"' "$E2E_DAEMON_LOG"; then
  grep '"level":"ERROR"' "$E2E_DAEMON_LOG" | head -n 5 >&2
  e2e_die "the daemon logged errors"
fi
echo "features.sh: PASS: $full_remote remote actions, $files files identical to the local build; --remote_download_minimal build ($remote remote actions), failing action and the build after it as expected"
