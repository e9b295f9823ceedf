#!/usr/bin/env bash
# Benchmarks the REAPI storage services (go/reapi over go/cas) on this
# machine: ByteStream write and read of a 1 GiB file in 16 MiB blobs,
# BatchUpdateBlobs of 10,000 small blobs and FindMissingBlobs of 10,000
# digests, next to sha256sum, openssl dgst -sha256 and cp of the same file
# on the same disk in the same run. Prints a Markdown table and writes it to
# e2e/out/bench_cas.md.
#
# Environment: BENCH_CAS_DIR (work dir, default e2e/out/bench_cas_work, on
# the disk being measured), BENCH_CAS_MIB (file size, default 1024),
# BENCH_CAS_KEEP=1 keeps the data file for the next run; BENCH_FS=ext4 (the
# default as root) puts the store on a journaled ext4 image (loop device)
# inside the work dir, BENCH_FS=tmpdir in the work dir itself;
# BASELINE_REV=REV also runs cas_bench as built from git revision REV, on
# the same disk in the same run, and reports its table below.
set -euo pipefail
cd "$(dirname "$0")/.."

out=e2e/out
work=${BENCH_CAS_DIR:-$out/bench_cas_work}
mib=${BENCH_CAS_MIB:-1024}
mkdir -p "$out" "$work"
work=$(cd "$work" && pwd)
data=$work/data

store=$work
fs_kind=${BENCH_FS:-ext4}
[ "$(id -u)" = 0 ] || fs_kind=tmpdir
cleanup() {
  if [ "$fs_kind" = ext4 ]; then umount "$work/fs" 2>/dev/null || true; fi
  rm -rf "$work/root" "$work/copy" "$work/fs" "$work/fs.img" "$work/baseline"
  if [[ "${BENCH_CAS_KEEP:-0}" != 1 ]]; then rm -f "$data"; fi
}
trap cleanup EXIT

if [[ ! -f "$data" || $(stat -c %s "$data") -ne $((mib << 20)) ]]; then
  echo "bench_cas: writing $mib MiB of random data to $data" >&2
  head -c "$((mib << 20))" /dev/urandom >"$data"
fi
go build -o "$work/cas_bench" ./cmd/cas_bench
if [ -n "${BASELINE_REV:-}" ]; then
  rm -rf "$work/baseline"
  git worktree add -q --detach "$work/baseline" "$BASELINE_REV"
  # This build's benchmark over the baseline's packages, so that both
  # tables time the same phases.
  cp cmd/cas_bench/main.go "$work/baseline/cmd/cas_bench/main.go"
  (cd "$work/baseline" && go build -o "$work/cas_bench.baseline" ./cmd/cas_bench)
  git worktree remove --force "$work/baseline"
fi
if [ "$fs_kind" = ext4 ]; then
  mkdir -p "$work/fs"
  truncate -s "$((3 * mib + 1024))M" "$work/fs.img"
  mkfs.ext4 -q -F "$work/fs.img"
  mount -o loop "$work/fs.img" "$work/fs"
  store=$work/fs
fi
store_fs=$(findmnt -no FSTYPE,OPTIONS -T "$store" | cut -c1-60)

# Every contender reads the file from the page cache: warm it once.
cat "$data" >/dev/null

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

echo "bench_cas: sha256sum" >&2
t=$(now)
sha256sum "$data" >/dev/null
sha=$(since "$t")

# coreutils sha256sum on Debian 12 does not use the CPU's SHA extensions;
# openssl (and Go's crypto/sha256) do, so it is the stricter reference.
ssl=0
if command -v openssl >/dev/null; then
  echo "bench_cas: openssl dgst -sha256" >&2
  t=$(now)
  openssl dgst -sha256 "$data" >/dev/null
  ssl=$(since "$t")
fi

# cp is timed with an fsync of its copy: the durability a blob gets before
# it is acknowledged where the CAS cannot run epochs.
echo "bench_cas: cp" >&2
rm -f "$work/copy"
t=$(now)
cp "$data" "$work/copy"
sync "$work/copy"
cps=$(since "$t")
rm -f "$work/copy"

"$work/cas_bench" -root "$store/root" -file "$data" \
  -sha256sum-seconds "$sha" -openssl-seconds "$ssl" -cp-seconds "$cps" -out "$work/this.md"
{
  echo "## CAS benchmark ($(date -u +%Y-%m-%dT%H:%MZ)), store on $store_fs"
  echo
  echo "### This build ($(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ', with uncommitted changes'))"
  echo
  cat "$work/this.md"
} >"$out/bench_cas.md"
if [ -n "${BASELINE_REV:-}" ]; then
  "$work/cas_bench.baseline" -root "$store/root" -file "$data" -out "$work/baseline.md"
  {
    echo
    echo "### Baseline ($BASELINE_REV), same disk, same run"
    echo
    cat "$work/baseline.md"
  } >>"$out/bench_cas.md"
fi
echo "bench_cas: wrote $out/bench_cas.md" >&2
