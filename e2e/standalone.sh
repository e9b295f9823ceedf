#!/usr/bin/env bash
# End-to-end test of the standalone linux_actiond that e2e/release.sh builds
# (runtime image, guest kernel and initramfs embedded as ELF sections):
#   1. `version` lists the three payloads;
#   2. `serve` with no --runtime-image extracts the runtime image into
#      ROOT/embedded, and a second start on the same root extracts nothing
#      (its log says so and the file keeps its modification time); a file
#      altered there is detected by its hash and replaced;
#   3. the stress workspace through `serve` and through `serve-vm`, neither
#      given --runtime-image, --kernel or --initramfs, with libc= set
#      (e2e/stress.sh with RUNTIME_IMAGE=embedded and KERNEL=embedded).
#
# Usage: e2e/standalone.sh [STANDALONE_BINARY]
# Without an argument it builds one with `e2e/release.sh --arch amd64`.
# Runs as root (the VM part boots QEMU; release.sh builds the kernel).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

e2e_init standalone
bin=${1:-}
if [ -z "$bin" ]; then
  e2e_log "building the standalone binary (e2e/release.sh --arch amd64)"
  "$E2E_REPO/e2e/release.sh" --arch amd64 "$E2E_WORK/release" >&2
  bin=$E2E_WORK/release/linux_actiond-linux-amd64
fi

e2e_log "version lists the payloads"
"$bin" version >"$E2E_WORK/version.txt"
cat "$E2E_WORK/version.txt" >&2
for name in kernel initramfs runtimes; do
  grep -q "^embedded: $name [0-9]* bytes.*sha256:[0-9a-f]\{64\}" "$E2E_WORK/version.txt" ||
    e2e_die "version does not list the embedded $name"
done

# serve_once ROOT LOG: starts serve on ROOT with no runtime flag, waits until
# it serves, stops it.
serve_once() {
  e2e_start_daemon "$bin" "$1"
  e2e_stop_daemon
}
extracted() { grep '"msg":"embedded payload"' "$1" | tail -n1 | sed -n 's/.*"extracted":\([a-z]*\).*/\1/p'; }

e2e_log "serve extracts the runtime image once"
root=$E2E_WORK/root
serve_once "$root"
image=$(echo "$root"/embedded/runtimes-*)
[ -f "$image" ] || e2e_die "no runtime image extracted into $root/embedded"
[ "$(extracted "$root.log")" = true ] || e2e_die "the first start did not log extracted=true"
grep -q '"msg":"runtimes".*glibc2.36' "$root.log" || e2e_die "the daemon did not load the embedded runtimes (glibc2.36)"
before=$(stat -c %Y.%i "$image")
: >"$root.log"
serve_once "$root"
[ "$(extracted "$root.log")" = false ] || e2e_die "the second start extracted the runtime image again"
[ "$(stat -c %Y.%i "$image")" = "$before" ] || e2e_die "the second start rewrote $image"
e2e_log "an altered extracted file is replaced"
printf 'X' | dd of="$image" bs=1 seek=4096 conv=notrunc status=none
: >"$root.log"
serve_once "$root"
grep -q '"msg":"embedded payload".*"replaced":true' "$root.log" || e2e_die "an altered $image was not replaced"
sha256sum "$image" | grep -q "${image##*-}" || e2e_die "the replaced $image does not match its hash"

e2e_log "stress workspace through serve, runtime image embedded"
ACTIOND_BIN=$bin RUNTIME_IMAGE=embedded "$E2E_REPO/e2e/stress.sh" linux
e2e_log "stress workspace through serve-vm, kernel, initramfs and runtime image embedded"
ACTIOND_BIN=$bin RUNTIME_IMAGE=embedded KERNEL=embedded "$E2E_REPO/e2e/stress.sh" vm
echo "standalone.sh: PASS: payloads listed; extracted once, reused, altered copy replaced; stress build through serve and serve-vm with embedded files"
