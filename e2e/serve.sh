#!/usr/bin/env bash
# Runs linux_actiond with useful defaults: builds the daemon, builds a runtime
# image from this machine's Debian libc6 and bash-static on first use (cached
# in the root directory), and serves on 127.0.0.1:8980. Extra arguments go to
# `linux_actiond serve` (for example --listen or --jobs).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"
root=${ACTIOND_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/actiond}
mkdir -p "$root/bin"
(cd "$here" && go build -o "$root/bin/linux_actiond" ./cmd/linux_actiond)
# The image is named after the code that builds it, so a checkout that
# changes what images hold builds a new one instead of serving a stale one.
key=$(cd "$here" && find e2e/build_local_runtimes.sh cmd/deb_runtime cmd/squashfs_builder go/runtimes/builder go/squashfs go/deb \
  -name '*_test.go' -prune -o -type f \( -name '*.go' -o -name '*.sh' \) -print | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-12)
image="$root/runtimes-$key.sqfs"
if [ ! -s "$image" ]; then
  echo "serve.sh: building the runtime image $image (once per version of its builder)" >&2
  "$here/e2e/build_local_runtimes.sh" "$image.tmp"
  mv "$image.tmp" "$image"
  find "$root" -maxdepth 1 -name 'runtimes*.sqfs' ! -name "runtimes-$key.sqfs" -delete
fi
exec "$root/bin/linux_actiond" serve --root="$root" --runtime-image="$image" "$@"
