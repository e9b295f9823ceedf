#!/usr/bin/env bash
# Benchmarks cmd/squashfs_builder (go/squashfs) against mksquashfs on the same
# trees in the same run: a runtime-like tree (the Debian libc6 and bash .debs,
# fetched with apt-get download and extracted with dpkg-deb -x) and a source
# tree (GOROOT/src). Both tools use the same compressor, zstd and gzip at their
# default levels (15 and 9); mksquashfs runs with -processors 1 -mkfs-time 0
# -all-time 0 -all-root -noappend. squashfs_builder runs with its default
# worker pool (GOMAXPROCS) and with GOMAXPROCS=1. Each contender runs
# BENCH_SQUASHFS_REPS times (default 2), interleaved, and the fastest run
# counts; the builder's runs must be byte-identical. Prints a Markdown table
# and writes it to e2e/out/bench_squashfs.md.
#
# Environment: BENCH_SQUASHFS_SRC (source tree, default $(go env GOROOT)/src),
# BENCH_SQUASHFS_REPS (runs per contender, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

out=e2e/out
mkdir -p "$out"
reps=${BENCH_SQUASHFS_REPS:-2}
src_tree=${BENCH_SQUASHFS_SRC:-$(go env GOROOT)/src}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench_squashfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
# apt-get download drops privileges to _apt, which must reach the directory.
chmod 0755 "$work"

command -v mksquashfs >/dev/null || { echo "bench_squashfs: mksquashfs missing (apt-get install -y squashfs-tools)" >&2; exit 1; }
command -v unsquashfs >/dev/null || { echo "bench_squashfs: unsquashfs missing (apt-get install -y squashfs-tools)" >&2; exit 1; }

go build -o "$work/squashfs_builder" ./cmd/squashfs_builder

echo "bench_squashfs: fetching and extracting libc6 and bash" >&2
mkdir -p "$work/debs" "$work/runtime"
(cd "$work/debs" && apt-get download -q libc6 bash >&2)
for deb in "$work/debs"/*.deb; do dpkg-deb -x "$deb" "$work/runtime"; done

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
tree_size() { du -sb --apparent-size "$1" | cut -f1; }
tree_files() { find "$1" | wc -l; }

# run_once IMAGE CMD... removes IMAGE, runs CMD and prints its wall time.
run_once() {
  local image=$1
  shift
  rm -f "$image"
  local start
  start=$(now)
  "$@" >/dev/null
  since "$start"
}

min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }

table=$work/table.md
{
  echo "| tree | compressor | tool | time (s) | size (bytes) | time / mksquashfs | size / mksquashfs |"
  echo "|---|---|---|---:|---:|---:|---:|"
} >"$table"

for tree in runtime src; do
  if [[ $tree == runtime ]]; then dir=$work/runtime; else dir=$src_tree; fi
  desc="$tree ($(tree_files "$dir") entries, $(($(tree_size "$dir") / 1000000)) MB)"
  # Warm the page cache so neither tool pays for the first read.
  tar -cf - -C "$dir" . >/dev/null
  for comp in zstd gzip; do
    echo "bench_squashfs: $desc, $comp" >&2
    mk=$work/mk.sqfs ours=$work/ours.sqfs ours1=$work/ours1.sqfs
    t_mk= t_ours= t_ours1= first_sum=
    for ((i = 0; i < reps; i++)); do
      t=$(run_once "$mk" mksquashfs "$dir" "$mk" -comp "$comp" -processors 1 -mkfs-time 0 -all-time 0 -all-root -noappend -quiet)
      t_mk=$(min "$t_mk" "$t")
      t=$(run_once "$ours" "$work/squashfs_builder" --output "$ours" --compression "$comp" --common-etc=false --map "=$dir")
      t_ours=$(min "$t_ours" "$t")
      sum=$(sha256sum "$ours" | cut -d' ' -f1)
      if [[ -n $first_sum && $sum != "$first_sum" ]]; then
        echo "bench_squashfs: FAIL: squashfs_builder output differs between runs" >&2
        exit 1
      fi
      first_sum=$sum
      t=$(GOMAXPROCS=1 run_once "$ours1" "$work/squashfs_builder" --output "$ours1" --compression "$comp" --common-etc=false --map "=$dir")
      t_ours1=$(min "$t_ours1" "$t")
      if ! cmp -s "$ours" "$ours1"; then
        echo "bench_squashfs: FAIL: squashfs_builder output depends on GOMAXPROCS" >&2
        exit 1
      fi
    done
    # Both images must list the same entries with the same types, modes,
    # owners, sizes and link targets (directory sizes depend on the layout).
    listing() { unsquashfs -lls "$1" | awk '/^d/ { $3 = "" } { print }'; }
    if ! diff <(listing "$mk") <(listing "$ours") >&2; then
      echo "bench_squashfs: FAIL: unsquashfs -lls differs between the mksquashfs and squashfs_builder images" >&2
      exit 1
    fi
    s_mk=$(stat -c %s "$mk") s_ours=$(stat -c %s "$ours")
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
    {
      echo "| $desc | $comp | mksquashfs -processors 1 | $t_mk | $s_mk | 1.000 | 1.000 |"
      echo "| $desc | $comp | squashfs_builder | $t_ours | $s_ours | $(ratio "$t_ours" "$t_mk") | $(ratio "$s_ours" "$s_mk") |"
      echo "| $desc | $comp | squashfs_builder GOMAXPROCS=1 | $t_ours1 | $s_ours | $(ratio "$t_ours1" "$t_mk") | $(ratio "$s_ours" "$s_mk") |"
    } >>"$table"
  done
done

{
  echo "# SquashFS writer benchmark"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(mksquashfs -version | head -1), best of $reps runs."
  echo
  echo "Both tools at their default levels: zstd 15 (squashfs_builder maps it onto klauspost/compress's"
  echo "best level, which compresses about like C zstd level 9) and gzip 9. squashfs_builder also packs"
  echo "file tails into fragments (mksquashfs only does with -always-use-fragments)."
  echo
  cat "$table"
} >"$out/bench_squashfs.md"
cat "$out/bench_squashfs.md"
