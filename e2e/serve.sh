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
image="$root/runtimes.sqfs"
if [ ! -s "$image" ]; then
  echo "serve.sh: building the runtime image $image (once)" >&2
  "$here/e2e/build_local_runtimes.sh" "$image"
fi
exec "$root/bin/linux_actiond" serve --root="$root" --runtime-image="$image" "$@"
