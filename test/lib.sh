# Shared setup of the Bazel rule tests (test/*/run.sh), which run Bazel 4.2.3
# in WORKSPACE mode, offline, with --batch and a private output root. Source
# it: . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
#
# rules_test_init NAME installs Bazel 4.2.3 when it is missing (as root),
# makes the work directory $work and removes it on exit, after a
# `bazel clean --expunge` of the workspace $work/ws when $work/root (the
# output root) exists.

rules_test_init() {
  if ! command -v bazel >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q bazel-bootstrap >&2
  fi
  work="$(mktemp -d "${TMPDIR:-/tmp}/actiond-$1-test.XXXXXX")"
  chmod 0755 "$work"
  trap rules_test_cleanup EXIT
}

rules_test_cleanup() {
  if [[ -d "$work/root" ]]; then
    (cd "$work/ws" && bazel --batch --output_user_root="$work/root" clean --expunge >/dev/null 2>&1) || true
  fi
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

sha() { sha256sum "$1" | cut -d' ' -f1; }
