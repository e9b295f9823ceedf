#!/usr/bin/env bash
# Runs every test of the project on a fresh Debian 12 machine: installs what
# the tests need (Bazel 4.2.3 as the real REAPI client, squashfs-tools, QEMU),
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
  command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
  command -v setpriv >/dev/null || need+=(util-linux)
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

step "format: gofmt, gazelle, buildifier"
e2e/check_format.sh

step "go test"
go test -count=1 -timeout 20m ./...

step "e2e: remote cache with Bazel 4.2.3"
e2e/cache.sh
