#!/usr/bin/env bash
# End-to-end test of the C/C++ toolchain runtime with the real Bazel client
# (Bazel 4.2.3): test/toolchain (a C library, a C++ program using it and a
# genrule running the program) is built by Bazel's autodetected C++
# toolchain, which calls /usr/bin/gcc, once locally on this Debian 12 host and
# once remotely with --remote_default_exec_properties=runtime=gcc12, the
# toolchain rootfs made by `e2e/build_local_runtimes.sh --toolchain gcc12`.
#
# Usage: e2e/toolchain.sh linux|vm|vm-arm64
#   linux      through `linux_actiond serve`: every output identical to the
#              local build's (the same gcc from the same Debian packages)
#   vm         through `serve-vm` (x86_64 guest): every output identical
#   vm-arm64   through `serve-vm --arch=arm64` with the arm64 toolchain: the
#              program's output identical (the binaries are arm64's). Only
#              //:hello_direct, which calls gcc itself: the host's
#              autodetected toolchain describes x86_64's include directories
#              and cannot check an arm64 compile's headers
#
# Environment: TOOLCHAIN_IMAGE=FILE.sqfs (an image with the gcc12 rootfs of
# the mode's architecture; default: built now), KERNEL, INITRAMFS,
# ACTIOND_BIN, ACTIOND_E2E_KEEP_TMP as for e2e/stress.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mode=${1:-}
case $mode in
  linux | vm) debarch=$(dpkg --print-architecture) ;;
  vm-arm64) debarch=arm64 ;;
  *) echo "usage: $0 linux|vm|vm-arm64" >&2; exit 2 ;;
esac

e2e_init "toolchain-$mode"
e2e_need_bazel
command -v gcc >/dev/null && command -v g++ >/dev/null ||
  e2e_die "the local baseline needs gcc and g++ on this host: apt-get install gcc g++"
E2E_ACTIOND=${ACTIOND_BIN:-$E2E_WORK/linux_actiond}
[ -n "${ACTIOND_BIN:-}" ] || e2e_go_build "$E2E_ACTIOND" ./cmd/linux_actiond
image=${TOOLCHAIN_IMAGE:-}
if [ -z "$image" ]; then
  e2e_log "building the $debarch toolchain image (build_local_runtimes.sh --toolchain gcc12)"
  image=$E2E_WORK/toolchain.sqfs
  "$E2E_REPO/e2e/build_local_runtimes.sh" --arch "$debarch" --toolchain gcc12 "$image" >&2
fi

e2e_cc_shims "$E2E_WORK/shims"
cp -r "$E2E_REPO/test/toolchain" "$E2E_WORK/ws"
cd "$E2E_WORK/ws"
common=(--nosandbox_debug --color=no --curses=no "${E2E_CC_SHIM_FLAGS[@]}")

e2e_log "local build (--spawn_strategy=local, the host's /usr/bin/gcc)"
targets=(//:hello //:hello_out //:hello_direct)
[ "$mode" = vm-arm64 ] && targets=(//:hello_direct)
e2e_build_ok "$E2E_WORK/local.log" "local build" "${common[@]}" --spawn_strategy=local --genrule_strategy=local "${targets[@]}"
e2e_tree_manifest bazel-bin/ >"$E2E_WORK/local.manifest"
want=$(cat bazel-bin/hello_direct.out)

flags=(--runtime-image="$image")
if [ "$mode" != linux ]; then
  arch=x86_64
  [ "$mode" = vm-arm64 ] && arch=arm64
  e2e_vm_setup "$arch"
  export E2E_DAEMON_CMD=serve-vm E2E_DAEMON_START_SECS=300
  flags+=("${E2E_VM_FLAGS[@]}")
fi
e2e_log "starting linux_actiond ${E2E_DAEMON_CMD:-serve}"
e2e_start_daemon "$E2E_ACTIOND" "$E2E_WORK/root" "${flags[@]}"
if [ "$mode" = linux ]; then
  # Without runtime=gcc12 the sandbox holds no /usr/bin/gcc: the compile
  # fails with 127, and its stderr, which Bazel shows, must say so and name
  # the exec property that brings it.
  E2E_EXEC_PROPS=()
  e2e_remote_flags "$E2E_DAEMON_PORT"
  e2e_log "remote build without runtime=gcc12: must fail and say which exec property provides /usr/bin/gcc"
  e2e_clean --expunge
  if e2e_bazel build "${common[@]}" "${E2E_REMOTE_FLAGS[@]}" //:hello >"$E2E_WORK/no-runtime.log" 2>&1; then
    e2e_die "the build without runtime=gcc12 succeeded; it cannot have run the toolchain in the sandbox"
  fi
  for line in "actiond: /usr/bin/gcc is not in the sandbox" "The exec property runtime=gcc12 provides it."; do
    grep -qF "$line" "$E2E_WORK/no-runtime.log" || {
      e2e_show_failure "$E2E_WORK/no-runtime.log"
      e2e_die "the failed compile's stderr does not say \"$line\""
    }
  done
fi
E2E_EXEC_PROPS=(--remote_default_exec_properties=runtime=gcc12)
e2e_remote_flags "$E2E_DAEMON_PORT"
e2e_log "remote build with runtime=gcc12"
e2e_clean --expunge
e2e_build_ok "$E2E_WORK/remote.log" "remote build" "${common[@]}" "${E2E_REMOTE_FLAGS[@]}" "${targets[@]}"
e2e_tree_manifest bazel-bin/ >"$E2E_WORK/remote.manifest"
e2e_stop_daemon

read -r total remote < <(e2e_bazel_processes "$E2E_WORK/remote.log")
want_remote=6
[ "$mode" = vm-arm64 ] && want_remote=1
[ "$remote" -ge "$want_remote" ] || e2e_die "want at least $want_remote remote actions (compiles, archive, link, genrules), Bazel reports $remote of $total"
got=$(cat bazel-bin/hello_direct.out)
[ "$got" = "hello, toolchain 5050" ] || e2e_die "the program printed \"$got\", want \"hello, toolchain 5050\""
[ "$got" = "$want" ] || e2e_die "remote output \"$got\" differs from the local \"$want\""
if [ "$mode" != vm-arm64 ]; then
  if ! diff -u "$E2E_WORK/local.manifest" "$E2E_WORK/remote.manifest" >&2; then
    e2e_die "remote outputs differ from the local build's (diff above)"
  fi
  what="$(grep -c '^file ' "$E2E_WORK/local.manifest") files identical to the local build's"
else
  what="the arm64 program's output identical to the local build's"
fi
echo "toolchain.sh $mode: PASS: $remote remote actions with runtime=gcc12; $what"
