#!/usr/bin/env bash
# Writes the stress workspace's source inputs into inputs/ (gitignored):
#   inputs/bare/file_NNNN.txt                               160 files
#   inputs/source_dir/pkg_DDD/source_NNNN.txt               8 dirs x 32 files
#   inputs/nested_files/group_NNN/foo/bar/baz/file_NNNN.txt 8 groups x 96 files
# The content is a pure function of the path, so every run (and every
# machine) produces the same bytes. A stamp file makes reruns free.
set -euo pipefail

ws=$(cd "$(dirname "$0")" && pwd)
out="$ws/inputs"
version=1
stamp="$out/.generated-v$version"
[ -f "$stamp" ] && exit 0

tmp=$(mktemp -d "$ws/.inputs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# emit PATH N writes N+1 lines that name PATH, so sizes differ a little.
emit() {
  local path=$1 lines=$2 i
  {
    for ((i = 0; i <= lines; i++)); do
      printf 'stress input %s line %d\n' "$path" "$i"
    done
  } >"$tmp/$path"
}

mkdir -p "$tmp/bare"
for ((d = 0; d < 8; d++)); do
  mkdir -p "$tmp/$(printf 'source_dir/pkg_%03d' "$d")" "$tmp/$(printf 'nested_files/group_%03d/foo/bar/baz' "$d")"
done
for ((i = 0; i < 160; i++)); do
  emit "$(printf 'bare/file_%04d.txt' "$i")" $((i % 7))
done
for ((d = 0; d < 8; d++)); do
  for ((i = 0; i < 32; i++)); do
    emit "$(printf 'source_dir/pkg_%03d/source_%04d.txt' "$d" "$i")" $(((d + i) % 5))
  done
done
for ((g = 0; g < 8; g++)); do
  for ((i = 0; i < 96; i++)); do
    emit "$(printf 'nested_files/group_%03d/foo/bar/baz/file_%04d.txt' "$g" "$i")" $(((g * i) % 3))
  done
done

touch "$tmp/.generated-v$version"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
