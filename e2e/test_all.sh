#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian 12 machine: installs what
# the tests need (Bazel 4.2.3 as the real REAPI client, squashfs-tools, QEMU;
# kernel/build.sh builds the guest kernels and installs its own dependencies),
# then runs go vet, the format checks, all Go tests and the end-to-end tests.
# Tests that need root run only when this script runs as root (CI does).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

step() { printf '\n=== %s\n' "$*"; }

if [ "$(id -u)" = 0 ]; then
  need=()
  command -v bazel >/dev/null || need+=(bazel-bootstrap)
  command -v mksquashfs >/dev/null || need+=(squashfs-tools)
  command -v setpriv >/dev/null || need+=(util-linux)
  # The kernel boot test (kernel/bootcheck_test.go); kernel/build.sh installs
  # its own build dependencies.
  command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
  command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
  # qemu-io, the NBD client go/nbd's tests drive.
  command -v qemu-io >/dev/null || need+=(qemu-utils)
  # The status page test (go/daemon) looks at the page in headless Chromium.
  command -v chromium >/dev/null || need+=(chromium)
  if [ "${#need[@]}" -gt 0 ]; then
    step "apt-get install ${need[*]}"
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
else
  echo "test_all: not root: tests that need root (mounts, namespaces as nobody) will skip" >&2
fi

step "go mod download"
go mod download

step "go vet"
go vet ./...

step "go vet for the other targets: linux/arm64 (the guest on a Mac), darwin/arm64 (the macOS host)"
GOOS=linux GOARCH=arm64 go vet ./...
# Test helper programs (testdata/, which ./... leaves out) run in the arm64
# guest too; darwincheck's testdata are type-checker fixtures, not programs.
helpers=$(find . -path ./test -prune -o -path ./e2e/darwincheck -prune -o -path '*/testdata/*' -name '*.go' -print | xargs -n1 dirname | sort -u)
go vet $helpers
GOOS=linux GOARCH=arm64 go vet $helpers
# Linux-only by nature: the binary whose actions run in Linux namespaces.
# The Virtualization framework code needs cgo against the macOS SDK, which
# this machine lacks: e2e/darwincheck type-checks it instead, below. Every
# other package builds for the macOS host (README: "Portability").
not_here='^github.com/actiond/actiond/(cmd/linux_actiond|cmd/darwin_actiond|go/vm/vz)$'
GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 go vet $(GOOS=darwin go list ./... | grep -v -E "$not_here")

step "type-check the macOS host's Virtualization framework code against github.com/Code-Hex/vz"
go run ./e2e/darwincheck ./cmd/darwin_actiond ./go/vm/vz

step "format: gofmt, gazelle, buildifier"
e2e/check_format.sh

shared=$(mktemp -d "${TMPDIR:-/tmp}/actiond-test-all.XXXXXX")
trap 'rm -rf "$shared"' EXIT
chmod 0755 "$shared"

if [ "$(id -u)" = 0 ]; then
  # Cached by their inputs in ${ACTIOND_KERNEL_CACHE:-/var/cache/actiond/kernel}
  # (keep that directory between CI runs): a cold build of both takes minutes,
  # a cached one a second.
  step "guest kernels: kernel/build.sh x86_64 and arm64"
  kernel/build.sh x86_64 "$shared/kernel-x86_64"
  kernel/build.sh arm64 "$shared/kernel-arm64"
  export ACTIOND_TEST_KERNEL_X86_64="$shared/kernel-x86_64/bzImage"
  export ACTIOND_TEST_KERNEL_ARM64="$shared/kernel-arm64/Image"
  step "VM guest initramfs for x86_64 and arm64 (vm/build_initramfs.sh)"
  vm/build_initramfs.sh amd64 "$shared/initramfs-amd64.cpio.zst"
  vm/build_initramfs.sh arm64 "$shared/initramfs-arm64.cpio.zst"
  export ACTIOND_TEST_INITRAMFS_X86_64="$shared/initramfs-amd64.cpio.zst"
fi

step "runtime image from Debian's bullseye and bookworm .debs (apt-get download)"
e2e/build_local_runtimes.sh --suites bullseye,bookworm "$shared/runtimes.sqfs"

step "go test"
# The runtime image lets the executor tests run a gcc-built program against
# glibc 2.36 and 2.31 from the image.
# ACTIOND_ARTIFACTS keeps the status page's screenshot (e2e/out/status-page.png).
mkdir -p e2e/out
ACTIOND_ARTIFACTS="$PWD/e2e/out" ACTIOND_TEST_RUNTIME_IMAGE="$shared/runtimes.sqfs" go test -count=1 -timeout 20m ./...

step "fuzz: every fuzz target for 10 s (e2e/fuzz.sh; the seed corpora ran above)"
FUZZTIME=10s e2e/fuzz.sh

step "e2e: remote cache, then remote execution, with Bazel 4.2.3"
RUNTIME_IMAGE="$shared/runtimes.sqfs" e2e/cache.sh

mkdir -p "$shared/debs"
(cd "$shared/debs" && apt-get download libc6 bash-static >/dev/null)

step "e2e: Bazel rules under Bazel 4.2.3 (image identical to the script's)"
test/rules/run.sh --debs "$shared/debs"

step "e2e: standalone_binary under Bazel 4.2.3 (payloads read back, deterministic)"
test/standalone/run.sh

step "e2e: VM Bazel rules under Bazel 4.2.3 (initramfs identical to vm/build_initramfs.sh's, kernel targets analysed)"
test/vm/run.sh

step "e2e: stress workspace, remote execution as root"
go build -o "$shared/linux_actiond" ./cmd/linux_actiond
export RUNTIME_IMAGE="$shared/runtimes.sqfs" ACTIOND_BIN="$shared/linux_actiond"
STRESS_SUMMARY_OUT="$shared/stress-root" e2e/stress.sh linux

step "e2e: features workspace (tree artifacts, param files, minimal downloads, a failing action)"
e2e/features.sh

step "e2e: load, short: 1,000 distinct actions through serve (200 through serve-vm as root), nothing leaked (the 10,000/2,000 run: e2e/load.sh)"
if [ "$(id -u)" = 0 ]; then
  KERNEL="$ACTIOND_TEST_KERNEL_X86_64" INITRAMFS="$shared/initramfs-amd64.cpio.zst" LOAD_VM=1 \
    LOAD_ACTIONS=1000 LOAD_VM_ACTIONS=200 LOAD_OUT="$shared/load.md" e2e/load.sh
else
  LOAD_VM=0 LOAD_ACTIONS=1000 LOAD_OUT="$shared/load.md" e2e/load.sh
fi

if [ "$(id -u)" = 0 ]; then
  step "e2e: stress workspace, remote execution rootless (as nobody)"
  chmod -R a+rX "$shared"
  # A copy of the repository that nobody can read, outside root's home.
  git ls-files -z | tar --null -T - -cf - | (mkdir -p "$shared/repo" && tar -xf - -C "$shared/repo")
  chmod -R a+rX "$shared/repo"
  mkdir "$shared/nobody" && chown 65534:65534 "$shared/nobody"
  (cd "$shared/repo" && setpriv --reuid=65534 --regid=65534 --clear-groups --reset-env \
    env PATH="/usr/local/go/bin:/usr/bin:/bin" TMPDIR=/tmp \
    RUNTIME_IMAGE="$RUNTIME_IMAGE" ACTIOND_BIN="$ACTIOND_BIN" STRESS_SUMMARY_OUT="$shared/nobody/stress" \
    e2e/stress.sh linux)
  step "e2e: the rootless stress build's outputs and action results are the root build's"
  for part in outputs ac; do
    if ! diff -u "$shared/stress-root.$part" "$shared/nobody/stress.$part"; then
      echo "test_all: FAIL: the stress build's $part differ between a root and a rootless daemon (diff above)" >&2
      exit 1
    fi
  done
  echo "identical: $(wc -l <"$shared/stress-root.outputs") output entries, $(wc -l <"$shared/stress-root.ac") action results"

  # VM mode: the same workspace through serve-vm, an x86_64 guest and the
  # arm64 guest a Mac boots (its kernel, initramfs, runtime image and an
  # arm64 action tool), both under QEMU TCG here.
  step "e2e: arm64 runtime image from Debian's arm64 .debs"
  e2e/build_local_runtimes.sh --arch arm64 "$shared/runtimes-arm64.sqfs"
  for mode in vm vm-arm64; do
    if [ "$mode" = vm ]; then
      kernel=$ACTIOND_TEST_KERNEL_X86_64 initramfs=$shared/initramfs-amd64.cpio.zst
    else
      kernel=$ACTIOND_TEST_KERNEL_ARM64 initramfs=$shared/initramfs-arm64.cpio.zst
    fi
    step "e2e: stress workspace through serve-vm ($mode)"
    KERNEL="$kernel" INITRAMFS="$initramfs" RUNTIME_IMAGE_ARM64="$shared/runtimes-arm64.sqfs" \
      STRESS_SUMMARY_OUT="$shared/stress-$mode" e2e/stress.sh "$mode"
    for part in outputs ac; do
      if ! diff -u "$shared/stress-root.$part" "$shared/stress-$mode.$part"; then
        echo "test_all: FAIL: the stress build's $part differ between linux mode and $mode (diff above)" >&2
        exit 1
      fi
    done
    echo "identical to linux mode: $(wc -l <"$shared/stress-$mode.outputs") output entries, $(wc -l <"$shared/stress-$mode.ac") action results"
  done
  step "e2e: serve-vm restart: SIGTERM, restart from cache, SIGKILL, restart (vm_restart.sh)"
  KERNEL="$ACTIOND_TEST_KERNEL_X86_64" INITRAMFS="$shared/initramfs-amd64.cpio.zst" e2e/vm_restart.sh

  step "e2e: the standalone linux_actiond (e2e/release.sh) serves and boots with nothing but itself"
  e2e/standalone.sh

  step "toolchain runtime images (gcc12 rootfs, amd64 and arm64, resolved with cmd/deb_lock)"
  e2e/build_local_runtimes.sh --toolchain gcc12 "$shared/toolchain-amd64.sqfs"
  e2e/build_local_runtimes.sh --arch arm64 --toolchain gcc12 "$shared/toolchain-arm64.sqfs"
  for mode in linux vm vm-arm64; do
    step "e2e: Bazel's autodetected C++ toolchain remotely in the gcc12 rootfs ($mode)"
    image=$shared/toolchain-amd64.sqfs kernel=$ACTIOND_TEST_KERNEL_X86_64 initramfs=$shared/initramfs-amd64.cpio.zst
    if [ "$mode" = vm-arm64 ]; then
      image=$shared/toolchain-arm64.sqfs kernel=$ACTIOND_TEST_KERNEL_ARM64 initramfs=$shared/initramfs-arm64.cpio.zst
    fi
    TOOLCHAIN_IMAGE="$image" KERNEL="$kernel" INITRAMFS="$initramfs" e2e/toolchain.sh "$mode"
  done

  step "e2e: smoke, short (libtomcrypt from apt-get source and Go std packages, local vs actiond, outputs identical)"
  SMOKE_SHORT=1 RUNTIME_IMAGE="$shared/toolchain-amd64.sqfs" e2e/smoke.sh
fi

echo
echo "test_all: PASS"
