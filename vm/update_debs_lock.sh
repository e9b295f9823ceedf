#!/usr/bin/env bash
# Writes or checks vm/debs.lock.json, the .debs of //vm:initramfs_x86_64 and
# //vm:initramfs_aarch64 (the packages of vm/debs.sh for amd64 and arm64):
#
#   vm/update_debs_lock.sh            # pin the archive's current versions
#   vm/update_debs_lock.sh --check    # download every pinned version, compare
#
# Each package is fetched with apt-get download, which checks it against
# the archive's signed index; the lock gets its pool URL and the sha256 of
# the downloaded file (which must equal the index's). --check downloads the
# versions the lock names and fails naming each entry whose URL or sha256
# differs, or that the archive no longer has (Debian removes superseded
# versions from its pool: then run without --check and commit the result).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
lock="$repo/vm/debs.lock.json"
mode=write
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# shellcheck source=vm/debs.sh
source "$repo/vm/debs.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/actiond-debs-lock.XXXXXX")"
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT

# pin DEB_ARCH BAZEL_ARCH: appends one deb set's entries (package, Debian
# arch, URL, sha256, tab-separated) to $work/entries.
pin() {
  local deb_arch=$1 arch=$2 dir="$work/$1" specs=() pkg
  mkdir -p "$dir/debs"
  # apt drops privileges to _apt for downloads; let it write here.
  chmod 0777 "$dir/debs"
  (
    apt_for_arch "$deb_arch" "$dir/apt"
    for pkg in "${initramfs_packages[@]}"; do
      if [[ $mode == check ]]; then
        specs+=("$pkg:$deb_arch=$(python3 -c 'import json,sys; l=json.load(open(sys.argv[1])); print(next(d["url"] for d in l["deb_sets"]["mke2fs_"+sys.argv[2]]["debs"] if d["name"]==sys.argv[3]).rsplit("/",1)[1].split("_")[1])' "$lock" "$arch" "$pkg")")
      else
        specs+=("$pkg:$deb_arch")
      fi
    done
    echo "downloading ${specs[*]}" >&2
    apt-get download --print-uris "${specs[@]}" >"$dir/uris"
    (cd "$dir/debs" && apt-get download -q "${specs[@]}" >&2)
    while read -r url file _ hash; do
      url=${url//\'/}
      url=${url//%2b/+}
      url=${url//%2B/+}
      got=$(sha256sum "$dir/debs/$file" | cut -d' ' -f1)
      [[ "SHA256:$got" == "$hash" ]] || { echo "$file: sha256 $got, the index says $hash" >&2; exit 1; }
      printf '%s\t%s\t%s\t%s\t%s\n' "$arch" "${file%%_*}" "$deb_arch" "$url" "$got"
    done <"$dir/uris" >>"$work/entries"
  )
}
pin amd64 x86_64
pin arm64 aarch64

python3 - "$work/entries" "$work/lock.json" <<'PY'
import json, sys
sets = {}
for line in open(sys.argv[1]):
    arch, name, deb_arch, url, sha = line.rstrip("\n").split("\t")
    sets.setdefault("mke2fs_" + arch, {"arch": arch, "debs": []})["debs"].append(
        {"name": name, "arch": deb_arch, "url": url, "sha256": sha})
for s in sets.values():
    s["debs"].sort(key=lambda d: d["name"])
with open(sys.argv[2], "w") as f:
    json.dump({"version": 1, "deb_sets": dict(sorted(sets.items()))}, f, indent=2)
    f.write("\n")
PY

if [[ $mode == check ]]; then
  if ! diff -u "$lock" "$work/lock.json" >&2; then
    echo "$lock differs from what the archive serves for its versions" >&2
    exit 1
  fi
  echo "ok: every entry of $lock downloads with its pinned sha256" >&2
else
  cp "$work/lock.json" "$lock"
  echo "wrote $lock" >&2
fi
