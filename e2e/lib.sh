# Shared helpers for the e2e scripts. Source it: . "$(dirname "$0")/lib.sh"
#
# Every helper works for root and for an unprivileged user (CI runs the e2e
# scripts both ways, the latter through setpriv/su as nobody): all state goes
# under one private work directory made by e2e_init.
#
# Variables set here:
#   E2E_REPO    the repository root
#   E2E_WORK    the private work directory (removed on exit unless
#               ACTIOND_E2E_KEEP_TMP=1, or ACTIOND_E2E_KEEP_TMP_ON_FAILURE=1
#               and the script failed)
#   E2E_DAEMON_PID, E2E_DAEMON_PORT, E2E_DAEMON_LOG   after e2e_start_daemon
#   E2E_ACTIOND the linux_actiond binary, after e2e_stress_setup

E2E_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
E2E_WORK=
E2E_DAEMON_PID=
E2E_DAEMON_PORT=
E2E_DAEMON_LOG=
E2E_ACTIOND=
export PATH="/usr/local/go/bin:$PATH"

e2e_log() { printf '== %s\n' "$*" >&2; }
e2e_die() {
  printf '%s: FAIL: %s\n' "$(basename "$0")" "$*" >&2
  exit 1
}

# e2e_init NAME makes the work directory, points HOME, TMPDIR and the Go
# caches at it when they are not writable (the nobody user has no home), and
# installs the cleanup trap. Scripts that need their own EXIT trap call
# e2e_cleanup from it.
e2e_init() {
  local name=$1
  E2E_WORK=$(mktemp -d "${TMPDIR:-/tmp}/actiond-$name.XXXXXX")
  if [ -z "${HOME:-}" ] || [ ! -w "$HOME" ]; then
    export HOME="$E2E_WORK/home"
    mkdir -p "$HOME"
  fi
  export TMPDIR="$E2E_WORK/tmp"
  mkdir -p "$TMPDIR"
  # Go keeps its build and module caches under HOME by default; an
  # unprivileged user cannot use root's.
  if ! mkdir -p "$(go env GOCACHE 2>/dev/null)" 2>/dev/null || [ ! -w "$(go env GOCACHE)" ]; then
    export GOCACHE="$E2E_WORK/gocache"
  fi
  local modcache
  modcache=$(go env GOMODCACHE 2>/dev/null || true)
  if [ -z "$modcache" ] || ! mkdir -p "$modcache" 2>/dev/null || [ ! -w "$modcache" ]; then
    export GOMODCACHE="$E2E_WORK/gomodcache"
  fi
  # git refuses to read a repository owned by another user, which breaks
  # Go's VCS stamping in every go build these scripts start.
  export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"
  trap e2e_cleanup EXIT
  trap 'exit 130' INT TERM
}

# e2e_cleanup stops the daemon and removes the work directory. Bazel leaves
# read-only trees behind, hence the chmod.
e2e_cleanup() {
  local rc=$?
  e2e_stop_daemon
  if [ -n "$E2E_WORK" ] && [ -d "$E2E_WORK" ]; then
    # A script that failed with an image mounted (stress.sh in VM mode)
    # must not recurse into it.
    if [ "$(id -u)" = 0 ]; then
      awk -v w="$E2E_WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    fi
    if [ "${ACTIOND_E2E_KEEP_TMP:-}" = 1 ] || { [ "$rc" != 0 ] && [ "${ACTIOND_E2E_KEEP_TMP_ON_FAILURE:-}" = 1 ]; }; then
      echo "$(basename "$0"): keeping $E2E_WORK" >&2
    else
      chmod -R u+w "$E2E_WORK" 2>/dev/null || true
      rm -rf "$E2E_WORK"
    fi
  fi
  return "$rc"
}

# e2e_need_bazel makes sure Bazel 4.2.3 is on PATH, installing Debian's
# bazel-bootstrap when running as root.
e2e_need_bazel() {
  command -v bazel >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then
    e2e_die "bazel not found and not root; run: apt-get install -y bazel-bootstrap"
  fi
  e2e_log "installing bazel-bootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bazel-bootstrap >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bazel-bootstrap >/dev/null; } ||
    e2e_die "apt-get install bazel-bootstrap failed"
}

# e2e_bazel runs Bazel in batch mode with a private output_user_root, so
# nothing is shared with other users or left running.
e2e_bazel() {
  bazel --batch --output_user_root="$E2E_WORK/bazel" "$@"
}

# e2e_free_port prints a TCP port that is free on 127.0.0.1 right now.
e2e_free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
    return
  fi
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  e2e_die "no free port found"
}

# e2e_wait_port PORT SECONDS [PID] waits until something accepts on
# 127.0.0.1:PORT; it fails early when PID has exited.
e2e_wait_port() {
  local port=$1 secs=$2 pid=${3:-} i
  for ((i = 0; i < secs * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    sleep 0.1
  done
  return 1
}

# e2e_go_build OUT PKG builds a Go command of this repository; set
# STATIC=1 for a static binary (CGO_ENABLED=0). No VCS stamping: git refuses
# to read a repository owned by another user.
e2e_go_build() {
  local out=$1 pkg=$2
  if [ "${STATIC:-}" = 1 ]; then
    (cd "$E2E_REPO" && CGO_ENABLED=0 go build -buildvcs=false -o "$out" "$pkg")
  else
    (cd "$E2E_REPO" && go build -buildvcs=false -o "$out" "$pkg")
  fi
}

# e2e_start_daemon BIN ROOT [FLAGS...] starts `BIN $E2E_DAEMON_CMD` (serve
# unless set, serve-vm for VM mode) on a free port with the given root,
# logging to ROOT.log, and waits until it listens (E2E_DAEMON_START_SECS,
# default 60 s).
e2e_start_daemon() {
  local bin=$1 root=$2 secs=${E2E_DAEMON_START_SECS:-60}
  shift 2
  E2E_DAEMON_PORT=$(e2e_free_port)
  E2E_DAEMON_LOG="$root.log"
  mkdir -p "$root"
  # shellcheck disable=SC2086 # ACTIOND_EXTRA_FLAGS is a list of flags.
  "$bin" "${E2E_DAEMON_CMD:-serve}" --listen="127.0.0.1:$E2E_DAEMON_PORT" --root="$root" "$@" ${ACTIOND_EXTRA_FLAGS:-} >>"$E2E_DAEMON_LOG" 2>&1 &
  E2E_DAEMON_PID=$!
  if ! e2e_wait_port "$E2E_DAEMON_PORT" "$secs" "$E2E_DAEMON_PID"; then
    tail -n 30 "$E2E_DAEMON_LOG" >&2 || true
    e2e_die "daemon did not listen on 127.0.0.1:$E2E_DAEMON_PORT within $secs s"
  fi
}

# e2e_stop_daemon stops the daemon started by e2e_start_daemon (SIGTERM, then
# SIGKILL after 15 s). Safe to call when none runs.
e2e_stop_daemon() {
  local pid=$E2E_DAEMON_PID i
  [ -n "$pid" ] || return 0
  E2E_DAEMON_PID=
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# e2e_tree_manifest DIR prints one line per entry below DIR, sorted: the type,
# the path, and the SHA-256 of a file or the target of a symlink (never
# followed). Modes are left out: Bazel makes local outputs 0555 but downloaded
# ones 0444/0555 by their executable bit. Bazel's own params files
# (NAME-0.params) are left out too: Bazel writes them into bazel-bin for local
# spawns only; remotely they are inputs that never touch the disk.
e2e_tree_manifest() {
  (cd "$1" && find . -mindepth 1 ! -name '*-[0-9].params' | LC_ALL=C sort | while IFS= read -r p; do
    if [ -L "$p" ]; then
      printf 'symlink %s -> %s\n' "$p" "$(readlink "$p")"
    elif [ -d "$p" ]; then
      printf 'dir %s\n' "$p"
    elif [ -f "$p" ]; then
      printf 'file %s %s\n' "$p" "$(sha256sum <"$p" | cut -d' ' -f1)"
    else
      printf 'other %s\n' "$p"
    fi
  done)
}

# e2e_build_ok LOG WHAT ARGS... runs `bazel build ARGS` with its output in
# LOG and, if the build fails, shows its errors and fails the script.
e2e_build_ok() {
  local log=$1 what=$2
  shift 2
  if ! e2e_bazel build "$@" >"$log" 2>&1; then
    e2e_show_failure "$log"
    e2e_die "$what failed"
  fi
}

# e2e_clean ARGS... runs `bazel clean ARGS`; a failure shows its output and
# fails the script.
e2e_clean() {
  local log="$E2E_WORK/clean.log"
  e2e_bazel clean "$@" >"$log" 2>&1 || {
    tail -n 20 "$log" >&2
    e2e_die "bazel clean $* failed"
  }
}

# e2e_bazel_processes LOG prints "TOTAL REMOTE" from the last
# "INFO: N processes: ..." summary line of a Bazel log.
e2e_bazel_processes() {
  local line total remote
  # A log without the summary gives "0 0" (callers then fail with a
  # message), not a silent exit under set -e.
  line=$(grep -E 'INFO: [0-9]+ process' "$1" | tail -n 1 || true)
  total=$(sed -E 's/.*INFO: ([0-9]+) process.*/\1/' <<<"$line")
  remote=$(grep -oE '[0-9]+ remote[.,]' <<<"$line" | grep -oE '^[0-9]+' | head -n 1 || true)
  echo "${total:-0} ${remote:-0}"
}

# e2e_stress_workspace DEST TOOL copies test/stress to DEST (so builds never
# write into the repository, which an unprivileged user may not own), installs
# the action tool binary TOOL as tool/action-tool and generates the inputs.
e2e_stress_workspace() {
  local dest=$1 tool=$2
  mkdir -p "$dest"
  tar -C "$E2E_REPO/test/stress" --exclude=./inputs --exclude='./bazel-*' \
    --exclude=./tool/action-tool -cf - . | tar -C "$dest" -xf -
  install -m 0755 "$tool" "$dest/tool/action-tool"
  "$dest/generate_inputs.sh"
}

# e2e_stress_setup prepares a build of the stress workspace, after e2e_init:
# Bazel 4.2.3 (e2e_need_bazel), the static action tool, linux_actiond (built,
# or ACTIOND_BIN) in E2E_ACTIOND, the runtime flags (e2e_runtime_flags) and
# the workspace in $E2E_WORK/ws (e2e_stress_workspace), which it changes into.
e2e_stress_setup() {
  e2e_need_bazel
  e2e_log "building the action tool and linux_actiond (static, as released)"
  STATIC=1 e2e_go_build "$E2E_WORK/action-tool" ./cmd/stress_action_tool
  E2E_ACTIOND=${ACTIOND_BIN:-$E2E_WORK/linux_actiond}
  [ -n "${ACTIOND_BIN:-}" ] || STATIC=1 e2e_go_build "$E2E_ACTIOND" ./cmd/linux_actiond
  e2e_runtime_flags
  e2e_stress_workspace "$E2E_WORK/ws" "$E2E_WORK/action-tool"
  cd "$E2E_WORK/ws"
}

# e2e_vm_setup ARCH (x86_64 or arm64) sets E2E_VM_FLAGS, the serve-vm flags
# for a guest of that architecture: the kernel ($KERNEL, else kernel/build.sh,
# which caches by the hash of its inputs) and the initramfs ($INITRAMFS, else
# vm/build_initramfs.sh); KERNEL=embedded passes neither, for a standalone
# binary. A CAS image of 8 GiB is created sparse in the daemon's root.
e2e_vm_setup() {
  local arch=$1 goarch kernel=${KERNEL:-} initramfs=${INITRAMFS:-}
  if [ "$kernel" = embedded ]; then
    # A standalone binary's own kernel and initramfs.
    E2E_VM_FLAGS=(--arch="$arch" --cas-image-size-mib=8192)
    return
  fi
  case $arch in
    x86_64) goarch=amd64 ;;
    arm64) goarch=arm64 ;;
    *) e2e_die "e2e_vm_setup: unknown architecture $arch" ;;
  esac
  if [ -z "$kernel" ]; then
    e2e_log "guest kernel: kernel/build.sh $arch (cached by its inputs)"
    "$E2E_REPO/kernel/build.sh" "$arch" "$E2E_WORK/kernel-$arch" >&2 ||
      e2e_die "kernel/build.sh $arch failed"
    kernel=$(echo "$E2E_WORK/kernel-$arch"/*Image)
  fi
  if [ -z "$initramfs" ]; then
    e2e_log "guest initramfs: vm/build_initramfs.sh $goarch"
    initramfs="$E2E_WORK/initramfs-$goarch.cpio.zst"
    "$E2E_REPO/vm/build_initramfs.sh" "$goarch" "$initramfs" >&2 ||
      e2e_die "vm/build_initramfs.sh $goarch failed"
  fi
  E2E_VM_FLAGS=(--arch="$arch" --kernel="$kernel" --initramfs="$initramfs" --cas-image-size-mib=8192)
}

# e2e_cc_shims DIR writes local stand-ins for the repositories Bazel 4.2.3's
# cc rules resolve from the internet (@rules_cc, @rules_java, and
# @remote_coverage_tools for test rules), forwarding to the native rules
# (../shared/reference/environment.md), and sets E2E_CC_SHIM_FLAGS to the
# --override_repository flags that use them.
e2e_cc_shims() {
  local shims=$1
  mkdir -p "$shims/rules_cc/cc" "$shims/rules_java/java" "$shims/remote_coverage_tools"
  for d in rules_cc rules_cc/cc rules_java rules_java/java; do : >"$shims/$d/BUILD"; done
  : >"$shims/rules_cc/WORKSPACE"
  : >"$shims/rules_java/WORKSPACE"
  : >"$shims/remote_coverage_tools/WORKSPACE"
  cat >"$shims/rules_cc/cc/defs.bzl" <<'EOF'
cc_library = native.cc_library
cc_binary = native.cc_binary
cc_test = native.cc_test
cc_toolchain = native.cc_toolchain
cc_toolchain_suite = native.cc_toolchain_suite
cc_proto_library = native.cc_proto_library
objc_library = native.objc_library
EOF
  cat >"$shims/rules_java/java/defs.bzl" <<'EOF'
java_binary = native.java_binary
java_import = native.java_import
java_library = native.java_library
java_toolchain = native.java_toolchain
java_runtime = native.java_runtime
java_test = native.java_test
EOF
  cat >"$shims/remote_coverage_tools/BUILD" <<'EOF'
package(default_visibility = ["//visibility:public"])

filegroup(name = "coverage_report_generator", srcs = [])

filegroup(name = "lcov_merger", srcs = [])
EOF
  E2E_CC_SHIM_FLAGS=(
    "--override_repository=rules_cc=$shims/rules_cc"
    "--override_repository=rules_java=$shims/rules_java"
    "--override_repository=remote_coverage_tools=$shims/remote_coverage_tools"
  )
}

# e2e_runtime_flags sets E2E_RUNTIME_FLAGS (daemon flags) and
# E2E_EXEC_PROPS (Bazel flags) from RUNTIME_IMAGE (a file, or "embedded":
# no flag, a standalone binary's own) or RUNTIME_DIR and
# RUNTIME_LIBC (default glibc2.36; "none" leaves the libc property out).
# requires-bash is always asked for: genrules run /bin/bash. Without a
# runtime it builds one with e2e/build_local_runtimes.sh when that exists,
# for RUNTIME_ARCH (Debian's name) when that is set.
e2e_runtime_flags() {
  E2E_RUNTIME_FLAGS=()
  E2E_EXEC_PROPS=(--remote_default_exec_properties=requires-bash=)
  if [ -z "${RUNTIME_IMAGE:-}" ] && [ -z "${RUNTIME_DIR:-}" ]; then
    [ -x "$E2E_REPO/e2e/build_local_runtimes.sh" ] ||
      e2e_die "set RUNTIME_IMAGE=FILE.sqfs or RUNTIME_DIR=DIR: genrules need the static bash of a runtime image"
    e2e_log "building a ${RUNTIME_ARCH:-host} runtime image (set RUNTIME_IMAGE to reuse one)"
    RUNTIME_IMAGE="$E2E_WORK/runtimes.sqfs"
    "$E2E_REPO/e2e/build_local_runtimes.sh" ${RUNTIME_ARCH:+--arch "$RUNTIME_ARCH"} "$RUNTIME_IMAGE" >&2
  fi
  if [ "${RUNTIME_IMAGE:-}" = embedded ]; then
    E2E_RUNTIME_FLAGS=() # a standalone binary's own runtime image
  elif [ -n "${RUNTIME_IMAGE:-}" ]; then
    E2E_RUNTIME_FLAGS=(--runtime-image="$RUNTIME_IMAGE")
  else
    E2E_RUNTIME_FLAGS=(--runtime-dir="$RUNTIME_DIR")
  fi
  local libc=${RUNTIME_LIBC:-glibc2.36}
  if [ "$libc" != none ]; then
    E2E_EXEC_PROPS+=(--remote_default_exec_properties=libc="$libc")
  fi
}

# e2e_remote_flags PORT prints nothing; it sets E2E_REMOTE_FLAGS for a fully
# remote build against 127.0.0.1:PORT that never reads the action cache, and
# turns the action tool's sandbox checks into assertions.
e2e_remote_flags() {
  E2E_REMOTE_FLAGS=(
    "--remote_executor=grpc://127.0.0.1:$1"
    --noremote_accept_cached
    --remote_upload_local_results=false
    --spawn_strategy=remote
    --genrule_strategy=remote
    --remote_local_fallback=false
    --remote_timeout=600
    --disk_cache=
    --action_env=ACTIOND_EXPECT_SANDBOX=1
    "${E2E_EXEC_PROPS[@]}"
  )
}

# e2e_median_min "N N ..." prints the median and the smallest of the
# numbers, for the benchmarks' wall times.
e2e_median_min() {
  tr ' ' '\n' <<<"$1" | grep . | sort -g |
    awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.2f %.2f", m, v[1]}'
}

# e2e_p50_p95 reads numbers, one per line, and prints "p50 / p95"
# (nearest rank, each divided by SCALE, default 1), or "–" for none.
e2e_p50_p95() {
  sort -g | awk -v scale="${1:-1}" '{v[NR]=$1}
    function pct(p, k) { k = int(NR * p / 100); if (k < NR * p / 100) k++; if (k < 1) k = 1; return v[k] / scale }
    END { if (NR == 0) print "–"; else printf "%.2f / %.2f\n", pct(50), pct(95) }'
}

# e2e_show_failure BAZEL_LOG prints Bazel's errors and the daemon's last
# failed actions, briefly.
e2e_show_failure() {
  { grep -E -A1 '^(ERROR|FAILED)' "$1" || tail -n 30 "$1"; } | head -n 30 >&2
  if [ -n "$E2E_DAEMON_LOG" ] && [ -s "$E2E_DAEMON_LOG" ]; then
    echo "--- daemon log: last errors ($E2E_DAEMON_LOG)" >&2
    { grep -E '"level":"(ERROR|WARN)"|"error":' "$E2E_DAEMON_LOG" || tail -n 10 "$E2E_DAEMON_LOG"; } | tail -n 5 >&2
  fi
}
