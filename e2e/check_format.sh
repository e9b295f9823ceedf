#!/usr/bin/env bash
# Fails when gofmt, gazelle or buildifier would change anything in the tree.
set -euo pipefail
cd "$(dirname "$0")/.."

GAZELLE=github.com/bazelbuild/bazel-gazelle/cmd/gazelle@v0.53.0
BUILDIFIER=github.com/bazelbuild/buildtools/buildifier@v0.0.0-20260904073137-eaa4d125b423

status=0
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "check_format: gofmt would change:" >&2
  echo "$unformatted" >&2
  status=1
fi

if ! out=$(go run "$GAZELLE" -repo_root "$PWD" -go_prefix github.com/actiond/actiond -mode diff 2>&1); then
  echo "check_format: gazelle would change BUILD files (run: go run $GAZELLE -repo_root \$PWD):" >&2
  echo "$out" >&2
  status=1
fi

mapfile -t starlark < <(git ls-files '*.bzl' '*.bazel' 'BUILD' '*/BUILD' 'WORKSPACE' '*/WORKSPACE' 'MODULE.bazel')
if [ "${#starlark[@]}" -gt 0 ] && ! out=$(go run "$BUILDIFIER" -mode=check -lint=warn "${starlark[@]}" 2>&1); then
  echo "check_format: buildifier reports (run: go run $BUILDIFIER -lint=fix <files>):" >&2
  echo "$out" >&2
  status=1
fi
exit "$status"
