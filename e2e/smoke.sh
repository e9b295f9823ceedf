#!/usr/bin/env bash
# Real-world smoke benchmark: Bazel 4.2.3 builds real, unmodified open-source
# code through `linux_actiond serve` and, in the same run, with Bazel's
# `local` and `linux-sandbox` strategies, checks that every remote output is
# identical to the local build's, and writes the figures to e2e/RESULTS.md
# (newest first, earlier results kept below).
#
# Workloads (BUILD files generated here, nothing of them is committed):
#   cc   libtomcrypt (Debian bookworm's source package, `apt-get source`):
#        408 library sources, 25 test sources and 5 demos, each a compile
#        action, built with Bazel's autodetected C/C++ toolchain (/usr/bin/gcc)
#        and, remotely, the gcc12 toolchain rootfs (runtime=gcc12). Chosen
#        because it is plain C99 with no configure step (its makefile only
#        lists the sources and passes -DLTC_SOURCE), its compile actions are
#        many and small (where per-action overhead shows), and it needs the
#        toolchain's libc headers and, for the demos, its linker and crt files.
#   go   packages of the Go standard library compiled one by one, as rules_go
#        does: one genrule per package runs the SDK's `compile` (and `asm`
#        and `pack` where the package has assembly) with an importcfg naming
#        its dependencies' archives. Every action's inputs include the whole
#        SDK (src without tests and testdata, pkg/tool, pkg/include: about
#        5,700 files, 170 MB, through a new_local_repository of GOROOT):
#        this is where input materialization shows. Bazel 4.2.3's
#        linux-sandbox spends seconds per action making and deleting a
#        symlink forest that large, so the default set is modest: what `fmt`
#        needs (60 packages); SMOKE_GO="errors std" compiles all of std.
#
# Phases, per workload, with one Bazel server for all builds:
#   warm-up   remote only, fills the daemon's CAS: cc builds a library of
#             about half the sources (pk, misc, math, prngs, stream; its own
#             object paths, so other action keys); go builds the packages
#             `errors` needs (a subset of the measured targets, the SDK tree
#             included)
#   measured  after `bazel clean`, the full set (cc: libtomcrypt.a, the test
#             program and the demos; go: the packages `fmt` needs) with
#             local, then linux-sandbox, then remote with the warm CAS
# Remote builds pass --noremote_accept_cached: every action executes. Every
# output of each remote (and linux-sandbox) build must be identical to the
# local build's, and the remotely built libtomcrypt test program must pass.
#
# Usage: e2e/smoke.sh [linux]
#
# Environment:
#   RUNTIME_IMAGE=FILE.sqfs  an image with the gcc12 rootfs runtime (default:
#       built here from a deb_lock closure of gcc, g++, binutils, libc6-dev,
#       libstdc++-12-dev, bash and coreutils)
#   ACTIOND_BIN=FILE         use this linux_actiond instead of building it
#   JOBS=8                   Bazel --jobs
#   DAEMON_JOBS=$(nproc)     the daemon's --jobs (actions it runs at once)
#   SMOKE_WORKLOADS="cc go"  the workloads to run
#   SMOKE_GO="WARM MEASURED" the go workload's package patterns (default
#       "errors fmt")
#   SMOKE_STRATEGIES="local linux-sandbox remote"   the measured builds
#   SMOKE_SHORT=1            a short run for CI: cc measures libtomcrypt.a
#       only, go "internal/cpu errors", strategies "local remote" (3 to 4
#       minutes on 2 cores, most of it the cc builds)
#   SMOKE_RESULTS=FILE       where to add the results (default e2e/RESULTS.md,
#       with SMOKE_SHORT=1 "-": print them only)
#   ACTIOND_E2E_KEEP_TMP=1   keep the work directory (Bazel logs and profiles,
#       the daemon log)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mode=${1:-linux}
[ "$mode" = linux ] || {
  echo "usage: $0 [linux]" >&2
  exit 2
}
jobs=${JOBS:-8}
workloads=${SMOKE_WORKLOADS:-cc go}
results=${SMOKE_RESULTS:-$E2E_REPO/e2e/RESULTS.md}
if [ "${SMOKE_SHORT:-}" = 1 ]; then
  results=${SMOKE_RESULTS:--}
  read -r -a strategies <<<"${SMOKE_STRATEGIES:-local remote}"
else
  read -r -a strategies <<<"${SMOKE_STRATEGIES:-local linux-sandbox remote}"
fi

e2e_init smoke
script_start=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
e2e_need_bazel
if ! command -v gcc >/dev/null || ! command -v g++ >/dev/null; then
  [ "$(id -u)" = 0 ] || e2e_die "gcc and g++ are needed for the local builds: apt-get install -y gcc g++"
  e2e_log "installing gcc and g++ (the local baseline's toolchain)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc g++ >/dev/null || e2e_die "apt-get install gcc g++ failed"
fi
goroot=$(go env GOROOT)
[ -x "$goroot/pkg/tool/linux_amd64/compile" ] || e2e_die "no Go toolchain for linux/amd64 at $goroot"

e2e_log "building linux_actiond and parse_timings"
E2E_ACTIOND=${ACTIOND_BIN:-$E2E_WORK/linux_actiond}
[ -n "${ACTIOND_BIN:-}" ] || e2e_go_build "$E2E_ACTIOND" ./cmd/linux_actiond
e2e_go_build "$E2E_WORK/parse_timings" ./e2e/parse_timings

# --- the toolchain runtime ---------------------------------------------------
runtime_image=${RUNTIME_IMAGE:-}
if [ -z "$runtime_image" ]; then
  runtime_image="$E2E_WORK/runtimes.sqfs"
  if grep -q -- '--toolchain NAME' "$E2E_REPO/e2e/build_local_runtimes.sh"; then
    e2e_log "building the gcc12 toolchain runtime (build_local_runtimes.sh --toolchain)"
    "$E2E_REPO/e2e/build_local_runtimes.sh" --toolchain gcc12 "$runtime_image" >&2
  else
    e2e_log "building the gcc12 toolchain runtime (deb_lock, fetch, build_local_runtimes.sh --rootfs)"
    (cd "$E2E_REPO" && go run ./cmd/deb_lock --arch amd64 --include-essential --out "$E2E_WORK/gcc12.lock.json" \
      gcc g++ binutils libc6-dev libstdc++-12-dev bash coreutils &&
      go run ./cmd/deb_lock fetch --lock "$E2E_WORK/gcc12.lock.json" --out "$E2E_WORK/gcc12-debs") >&2
    "$E2E_REPO/e2e/build_local_runtimes.sh" --rootfs gcc12="$E2E_WORK/gcc12-debs" "$runtime_image" >&2
  fi
fi

# --- the workspace -----------------------------------------------------------
ws="$E2E_WORK/ws"
mkdir -p "$ws"

e2e_cc_shims "$E2E_WORK/shims"

cat >"$ws/WORKSPACE" <<EOF
workspace(name = "smoke")

new_local_repository(
    name = "go_sdk",
    path = "$goroot",
    build_file_content = """
# What rules_go gives its stdlib and compile actions: the sources without
# tests and test data, the tools and the assembler headers.
filegroup(
    name = "sdk",
    srcs = glob(
        ["src/**", "pkg/tool/linux_amd64/**", "pkg/include/**"],
        exclude = ["src/**/testdata/**", "src/**/*_test.go"],
    ),
    visibility = ["//visibility:public"],
)
""",
)
EOF
cat >"$ws/.bazelrc" <<EOF
build --nosandbox_debug --color=no --curses=no --show_progress_rate_limit=30
build --incompatible_strict_action_env
EOF
printf 'build %s\n' "${E2E_CC_SHIM_FLAGS[@]}" >>"$ws/.bazelrc"

# gen_cc fetches libtomcrypt's source package into $ws/tomcrypt and
# generates its BUILD file from the lists in its makefile.
gen_cc() {
  local apt="$E2E_WORK/apt" src="$E2E_WORK/src" uri
  e2e_log "fetching libtomcrypt with apt-get source (private APT configuration with deb-src)"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources.list.d" "$apt/preferences.d" "$src"
  uri=$(sed -n 's/^URIs: *\([^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${uri:-http://deb.debian.org/debian} bookworm main" >"$apt/sources.list"
  cat >"$apt/apt.conf" <<EOF
Dir::Etc::sourcelist "$apt/sources.list";
Dir::Etc::sourceparts "$apt/sources.list.d";
Dir::Etc::preferencesparts "$apt/preferences.d";
Dir::State::Lists "$apt/lists";
Dir::Cache "$apt/cache";
APT::Sandbox::User "$(id -un)";
EOF
  (
    export APT_CONFIG="$apt/apt.conf"
    apt-get update -qq && cd "$src" && apt-get source -qq libtomcrypt
  ) >"$E2E_WORK/apt-source.log" 2>&1 || {
    tail -n 20 "$E2E_WORK/apt-source.log" >&2
    e2e_die "apt-get source libtomcrypt failed"
  }
  cc_version=$(sed -n 's/^Version: //p' "$src"/libtomcrypt_*.dsc | head -n1)
  mv "$src"/libtomcrypt-*/ "$ws/tomcrypt"
  local mk="$ws/tomcrypt/makefile_include.mk"
  [ -f "$mk" ] || e2e_die "libtomcrypt $cc_version has no makefile_include.mk"
  # list VAR prints the .c files of the objects the makefile's VAR lists.
  list() { awk -v v="$1=" 'index($0, v) == 1 {f = 1} f {print} f && !/\\$/ {exit}' "$mk" |
    sed "s/^$1=//; s/\\\\//g" | tr -s ' \t' '\n' | grep '\.o$' | sed 's/\.o$/.c/'; }
  mapfile -t objects < <(list OBJECTS)
  mapfile -t tests < <(list TOBJECTS)
  # An object without a source of its name comes from another source with
  # its own defines (aes_enc.o is aes.c with -DENCRYPT_ONLY): the makefile's
  # rule for it says which (its first prerequisite, the recipe's -D flags);
  # it gets a library of its own.
  local variants=() f rule from defines
  for f in "${objects[@]}"; do
    [ ! -f "$ws/tomcrypt/$f" ] || continue
    rule=$(awk -v t="${f%.c}.o:" '$1 == t {print; getline; print; exit}' "$ws/tomcrypt/makefile")
    from=$(head -n 1 <<<"$rule" | awk '{print $2}')
    defines=$(tail -n 1 <<<"$rule" | grep -oE ' -D[A-Za-z0-9_=]+' | tr -d ' ' | tr '\n' ' ' || true)
    [ -n "$from" ] && [ -f "$ws/tomcrypt/$from" ] || e2e_die "libtomcrypt: no source for ${f%.c}.o"
    variants+=("$(basename "${f%.c}")|$from|$defines")
  done
  mapfile -t objects < <(for f in "${objects[@]}"; do [ ! -f "$ws/tomcrypt/$f" ] || echo "$f"; done)
  [ "${#objects[@]}" -ge 300 ] || e2e_die "libtomcrypt's makefile lists ${#objects[@]} objects, expected at least 300"
  # Sources some files #include (tables, test vectors) are inputs of every
  # compile action, not compiled on their own.
  mapfile -t included < <(cd "$ws/tomcrypt" && grep -rHo '#include "[^"]*\.c"' src tests demos |
    while IFS=: read -r file inc; do
      inc=${inc#\#include \"}
      realpath -m --relative-to=. "$(dirname "$file")/${inc%\"}"
    done | sort -u)
  # quote prints its arguments as a Starlark list body.
  quote() { printf '        "%s",\n' "$@"; }
  local half=()
  for f in "${objects[@]}"; do
    case $f in src/pk/* | src/misc/* | src/math/* | src/prngs/* | src/stream/*) half+=("$f") ;; esac
  done
  local demos=(constants hashsum ltcrypt sizes tv_gen) d
  {
    cat <<EOF
# Generated by actiond's e2e/smoke.sh from libtomcrypt $cc_version's
# makefile_include.mk (OBJECTS, TOBJECTS and the demos its makefile builds;
# "small" does not link as a PIE).
COPTS = [
    "-Itomcrypt/src/headers",
    "-DLTC_SOURCE",
    "-O2",
    "-Wall",
    "-Wsign-compare",
    "-Wshadow",
]

cc_library(
    name = "headers",
    hdrs = glob(["src/headers/*.h"]),
    textual_hdrs = [
$(quote "${included[@]}")
    ],
)

cc_library(
    name = "tomcrypt",
    srcs = [
$(quote "${objects[@]}")
    ],
    copts = COPTS,
    linkstatic = True,
    deps = [":headers"]$(printf ' + [":%s"]' "${variants[@]%%|*}"),
)
$(for v in "${variants[@]}"; do
    IFS='|' read -r name from defines <<<"$v"
    printf '\ncc_library(\n    name = "%s",\n    srcs = ["%s"],\n    copts = COPTS + [%s],\n    linkstatic = True,\n    deps = [":headers"],\n)\n' \
      "$name" "$from" "$(for d in $defines; do printf '"%s", ' "$d"; done | sed 's/, $//')"
  done)

# The warm-up: about half the sources, in a library of its own.
cc_library(
    name = "warmup_half",
    srcs = [
$(quote "${half[@]}")
    ],
    copts = COPTS,
    linkstatic = True,
    deps = [":headers"],
)

cc_binary(
    name = "test",
    srcs = glob(["tests/*.h"]) + [
$(quote "${tests[@]}")
    ],
    copts = COPTS + ["-Itomcrypt/tests"],
    deps = [":tomcrypt"],
)
EOF
    for d in "${demos[@]}"; do
      printf '\ncc_binary(\n    name = "%s",\n    srcs = ["demos/%s.c"],\n    copts = COPTS,\n    deps = [":tomcrypt"],\n)\n' "$d" "$d"
    done
    printf '\nfilegroup(\n    name = "warmup",\n    srcs = [":warmup_half"],\n)\n'
    if [ "${SMOKE_SHORT:-}" = 1 ]; then
      printf '\nfilegroup(\n    name = "all",\n    srcs = [":tomcrypt"],\n)\n'
    else
      printf '\nfilegroup(\n    name = "all",\n    srcs = [\n        ":tomcrypt",\n        ":test",\n%s    ],\n)\n' \
        "$(printf '        ":%s",\n' "${demos[@]}")"
    fi
  } >"$ws/tomcrypt/BUILD.bazel"
  cc_desc="libtomcrypt $cc_version: ${#objects[@]} library sources$([ "${SMOKE_SHORT:-}" = 1 ] || echo ", ${#tests[@]} test sources, ${#demos[@]} demos") (warm-up: ${#half[@]} sources in a library of their own)"
}

# gen_go generates $ws/gostd: a genrule per package of the Go standard
# library (the warm-up and measured package patterns and their
# dependencies) that compiles it with the SDK's own tools.
gen_go() {
  local warm measured
  read -r warm measured <<<"${SMOKE_GO:-errors fmt}"
  [ "${SMOKE_SHORT:-}" != 1 ] || read -r warm measured <<<"${SMOKE_GO:-internal/cpu errors}"
  e2e_log "generating the Go standard library genrules ($measured; warm-up: $warm)"
  mkdir -p "$ws/gostd"
  cat >"$ws/gostd/compile_pkg.sh" <<'EOF'
#!/bin/bash
# compile_pkg.sh OUT IMPORTPATH DIR COMPLETE "GOFILES" "SFILES" IMPORTCFG_LINE...
# compiles one standard library package with the SDK at external/go_sdk,
# as `go build` does: asm -gensymabis, compile, asm, pack. Paths in the
# archive are rewritten (-trimpath) so that it does not depend on where the
# execroot is.
set -euo pipefail
out=$1 pkg=$2 dir=$3 complete=$4 gofiles=$5 sfiles=$6
shift 6
sdk=$PWD/external/go_sdk
tool=$sdk/pkg/tool/linux_amd64
# The SDK no longer ships pack prebuilt (`go tool pack` builds it on
# demand): the script built it from the SDK's source next to this file.
pack=$(dirname "$0")/pack
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
{
  echo "# import config"
  printf '%s\n' "$@"
} >"$w/importcfg"
trim="$w=>;$sdk=>GOROOT"
files=()
for f in $gofiles; do files+=("$sdk/$dir/$f"); done
flags=(-p "$pkg" -lang=go1.26 -std -c=1 -nolocalimports -importcfg "$w/importcfg" -trimpath "$trim" -pack)
[ "$complete" = 0 ] || flags+=(-complete)
asmflags=(-p "$pkg" -trimpath "$trim" -I "$w" -I "$sdk/pkg/include" -I "$sdk/$dir" -D GOOS_linux -D GOARCH_amd64 -D GOAMD64_v1)
sources=()
for f in $sfiles; do sources+=("$sdk/$dir/$f"); done
if [ "${#sources[@]}" -gt 0 ]; then
  : >"$w/go_asm.h"
  "$tool/asm" "${asmflags[@]}" -gensymabis -o "$w/symabis" "${sources[@]}"
  flags+=(-symabis "$w/symabis" -asmhdr "$w/go_asm.h")
fi
"$tool/compile" "${flags[@]}" -o "$out" "${files[@]}"
if [ "${#sources[@]}" -gt 0 ]; then
  objs=()
  for f in "${sources[@]}"; do
    o=$w/$(basename "${f%.s}").o
    "$tool/asm" "${asmflags[@]}" -o "$o" "$f"
    objs+=("$o")
  done
  "$pack" r "$out" "${objs[@]}"
fi
EOF
  chmod 0755 "$ws/gostd/compile_pkg.sh"
  (cd "$ws" && CGO_ENABLED=0 go build -trimpath -o "$ws/gostd/pack" cmd/pack) || e2e_die "go build cmd/pack failed"
  local golang
  golang=$(go env GOVERSION | grep -oE '^go[0-9]+\.[0-9]+')
  sed -i "s/-lang=go1.26/-lang=$golang/" "$ws/gostd/compile_pkg.sh"
  # Which packages `go build` compiles with -complete (no bodyless
  # functions): those without assembly except a few it knows implement
  # functions elsewhere; its own plan says.
  local complete_list="$E2E_WORK/go-complete.txt"
  (cd "$ws" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOFLAGS=-buildvcs=false go build -n -a $measured 2>&1 >/dev/null) |
    grep -E '/compile .* -complete ' | sed -E 's/.* -p ([^ ]+) .*/\1/' | sort -u >"$complete_list"
  [ -s "$complete_list" ] || e2e_die "go build -n printed no compile commands"
  local tab="$E2E_WORK/go-list.tsv"
  # ImportPath, Dir relative to GOROOT, Go files, assembly files, imports,
  # importmap pairs, number of embedded files, error.
  (cd "$ws" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go list -e -deps \
    -f '{{.ImportPath}}	{{.Dir}}	{{join .GoFiles " "}}	{{join .SFiles " "}}	{{join .Imports " "}}	{{range $k, $v := .ImportMap}}{{$k}}={{$v}} {{end}}	{{len .EmbedFiles}}	{{if .Error}}error{{end}}' \
    $measured) >"$tab"
  mapfile -t warm_pkgs < <(cd "$ws" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go list -e -deps $warm)
  awk -F'\t' -v goroot="$goroot/" -v completes="$complete_list" -v warmlist="$(printf '%s ' "${warm_pkgs[@]}")" '
    BEGIN {
      while ((getline l < completes) > 0) complete[l] = 1
      n = split(warmlist, w, " "); for (i = 1; i <= n; i++) inwarm[w[i]] = 1
    }
    # Packages that compile nothing here (unsafe, cgo-only ones with
    # CGO_ENABLED=0), embed files or failed to load are left out, and so is
    # everything importing them.
    {
      skip = ($1 == "unsafe" || $3 == "" || $7 != "0" || $8 != "")
      n = split($5, imps, " ")
      for (i = 1; i <= n; i++) if (imps[i] != "unsafe" && !(imps[i] in built)) skip = 1
      if (skip) { skipped++; next }
      built[$1] = 1
      dir = substr($2, length(goroot) + 1)
      cfg = ""
      m = split($6, maps, " ")
      for (i = 1; i <= m; i++) cfg = cfg sprintf("        \"importmap %s\",\n", maps[i])
      deps = ""
      for (i = 1; i <= n; i++) {
        if (imps[i] == "unsafe") continue
        cfg = cfg sprintf("        \"packagefile %s=$(execpath :%s)\",\n", imps[i], imps[i])
        deps = deps sprintf("        \":%s\",\n", imps[i])
      }
      printf "\ngenrule(\n    name = \"%s\",\n    srcs = [\n        \"@go_sdk//:sdk\",\n%s    ],\n", $1, deps
      printf "    outs = [\"%s.a\"],\n", $1
      printf "    cmd = \" \".join([\n        \"$(execpath compile_pkg.sh) $@ %s %s %d\",\n        \"\\\"%s\\\"\",\n        \"\\\"%s\\\"\",\n", $1, dir, ($1 in complete), $3, $4
      printf "    ] + [\"\\\"%%s\\\"\" %% l for l in [\n%s    ]]),\n", cfg
      printf "    tools = [\n        \"compile_pkg.sh\",\n        \"pack\",\n    ],\n)\n"
      all = all sprintf("        \":%s\",\n", $1)
      if ($1 in inwarm) { warm = warm sprintf("        \":%s\",\n", $1); nwarm++ }
      nall++
    }
    END {
      printf "\nfilegroup(\n    name = \"warmup\",\n    srcs = [\n%s    ],\n)\n", warm
      printf "\nfilegroup(\n    name = \"all\",\n    srcs = [\n%s    ],\n)\n", all
      printf "%d %d %d\n", nall, nwarm, skipped > "/dev/stderr"
    }' "$tab" >"$ws/gostd/BUILD.bazel" 2>"$E2E_WORK/go-counts"
  read -r go_all go_warm go_skipped <"$E2E_WORK/go-counts"
  sed -i "1i # Generated by actiond's e2e/smoke.sh: $(go env GOVERSION)'s standard library ($measured), one genrule per package." "$ws/gostd/BUILD.bazel"
  go_desc="Go $(go env GOVERSION | sed s/^go//) standard library, \`$measured\` for linux/amd64 without cgo: $go_all packages ($go_skipped left out: unsafe, cgo-only or embedding files), warm-up: the $go_warm that \`$warm\` needs; inputs: the SDK ($(find -L "$goroot/src" "$goroot/pkg/tool/linux_amd64" "$goroot/pkg/include" -type f ! -path '*/testdata/*' ! -name '*_test.go' | wc -l) files)"
}

cc_desc=
go_desc=
for w in $workloads; do
  case $w in
    cc) gen_cc ;;
    go) gen_go ;;
    *) e2e_die "unknown workload $w (want cc, go)" ;;
  esac
done

# --- the builds --------------------------------------------------------------
cd "$ws"
sbazel() { bazel --output_user_root="$E2E_WORK/bazel" "$@"; }
trap 'sbazel shutdown >/dev/null 2>&1 || true; e2e_cleanup' EXIT

daemon_jobs=${DAEMON_JOBS:-$(nproc)}
e2e_start_daemon "$E2E_ACTIOND" "$E2E_WORK/root" "--jobs=$daemon_jobs" --runtime-image="$runtime_image"
E2E_EXEC_PROPS=(--remote_default_exec_properties=runtime=gcc12)
e2e_remote_flags "$E2E_DAEMON_PORT"
remote_flags=("${E2E_REMOTE_FLAGS[@]}")
declare -A wall procs elapsed critical

# build WORKLOAD PHASE STRATEGY runs `bazel clean` and one timed build of
# //PKG:PHASE (warmup or all), and keeps its wall time, Bazel's process
# summary, elapsed time and critical path, its outputs' manifest, its
# profile and, for remote builds, the daemon's "action done" lines.
build() {
  local w=$1 phase=$2 strategy=$3 pkg target key="$1-$2-$3" flags=() start end from=0 log
  case $w in
    cc) pkg=tomcrypt ;;
    go) pkg=gostd ;;
  esac
  target="//$pkg:$([ "$phase" = warm-up ] && echo warmup || echo all)"
  case $strategy in
    local) flags=(--spawn_strategy=local --genrule_strategy=local) ;;
    linux-sandbox) flags=(--spawn_strategy=linux-sandbox --genrule_strategy=linux-sandbox) ;;
    remote) flags=("${remote_flags[@]}") ;;
  esac
  log="$E2E_WORK/$key.log"
  sbazel clean >/dev/null 2>&1 || e2e_die "bazel clean failed"
  [ "$strategy" != remote ] || from=$(($(wc -l <"$E2E_DAEMON_LOG") + 1))
  e2e_log "$w $phase: $strategy, bazel build $target"
  start=$(date +%s.%N)
  if ! sbazel build "--jobs=$jobs" "--profile=$E2E_WORK/$key.profile.gz" "${flags[@]}" "$target" >"$log" 2>&1; then
    e2e_show_failure "$log"
    e2e_die "$w $phase build with $strategy failed"
  fi
  end=$(date +%s.%N)
  wall[$key]=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}')
  procs[$key]=$(grep -E 'INFO: [0-9]+ process' "$log" | tail -n 1 | sed -E 's/.*INFO: //; s/\.$//')
  elapsed[$key]=$(grep -oE 'Elapsed time: [0-9.]+s' "$log" | tail -n 1 | grep -oE '[0-9.]+' || echo "?")
  critical[$key]=$(grep -oE 'Critical Path: [0-9.]+s' "$log" | tail -n 1 | grep -oE '[0-9.]+' || echo "?")
  e2e_tree_manifest "bazel-bin/$pkg" >"$E2E_WORK/$key.manifest"
  if [ "$strategy" = remote ]; then
    sed -n "$from,\$p" "$E2E_DAEMON_LOG" | { grep '"msg":"action done"' || true; } >"$E2E_WORK/$key.actions"
    [ -s "$E2E_WORK/$key.actions" ] || e2e_die "$w $phase: the daemon logged no action"
  fi
  e2e_log "$w $phase $strategy: ${wall[$key]} s (${procs[$key]})"
}

# check_outputs WORKLOAD compares every remote build's outputs with the
# local build's: the measured build's exactly; the warm-up's must each be
# in the local build (cc: under the measured library's object directory).
check_outputs() {
  local w=$1 ref="$E2E_WORK/$1-measured-local.manifest" s
  for s in "${strategies[@]}"; do
    [ "$s" != local ] || continue
    if ! diff -u "$ref" "$E2E_WORK/$w-measured-$s.manifest" >"$E2E_WORK/$w-$s.diff"; then
      head -n 20 "$E2E_WORK/$w-$s.diff" >&2
      e2e_die "$w: the $s build's outputs differ from the local build's"
    fi
  done
  local warm="$E2E_WORK/$w-warm-up-remote.manifest" missing
  # cc: only the objects, moved to the measured library's directory (the
  # warm-up's archive has no counterpart); go: every package archive.
  missing=$(
    if [ "$w" = cc ]; then
      awk '$1 == "file" && $2 ~ /\.o$/' "$warm" | sed 's#/_objs/warmup_half/#/_objs/tomcrypt/#'
    else
      awk '$1 == "file"' "$warm"
    fi | LC_ALL=C sort | LC_ALL=C comm -23 - <(LC_ALL=C sort "$ref")
  )
  [ -n "$(awk '$1 == "file"' "$warm")" ] || e2e_die "$w: the warm-up made no output"
  [ -z "$missing" ] || e2e_die "$w: warm-up outputs differ from the local build's: $(head -n 5 <<<"$missing")"
  checked[$w]=$(grep -c '^file ' "$ref")
}
declare -A checked

for w in $workloads; do
  build "$w" warm-up remote
  for s in "${strategies[@]}"; do
    build "$w" measured "$s"
  done
  check_outputs "$w"
  if [ "$w" = cc ] && [ "${SMOKE_SHORT:-}" != 1 ]; then
    # The remotely built test program must pass, run here.
    (cd tomcrypt && ../bazel-bin/tomcrypt/test >"$E2E_WORK/tomcrypt-test.log" 2>&1) || {
      tail -n 20 "$E2E_WORK/tomcrypt-test.log" >&2
      e2e_die "libtomcrypt's test program (built remotely) failed"
    }
    grep -q '^SUCCESS' "$E2E_WORK/tomcrypt-test.log" || e2e_die "libtomcrypt's test program did not report SUCCESS"
  fi
done
e2e_stop_daemon
sbazel shutdown >/dev/null 2>&1 || true

# --- results -----------------------------------------------------------------
# ratio A B prints A/B with two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "–" }'; }
# p50 TABLE STAGE prints a stage's p50 from a parse_timings table.
p50() { awk -F'|' -v s="$2" '{ gsub(/ /, "", $2) } $2 == s { gsub(/ /, "", $5); print $5 }' <<<"$1"; }
# verdict VALUE OP LIMIT prints "met" or "missed".
verdict() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { ok = (op == "<=") ? v <= l : v < l; print (ok ? "met" : "missed") }'; }
has() { [[ " ${strategies[*]} " == *" $1 "* ]]; }

declare -A stages
for w in $workloads; do
  for phase in warm-up measured; do
    stages[$w-$phase]=$("$E2E_WORK/parse_timings" "$E2E_WORK/$w-$phase-remote.actions")
  done
done

rows=()
targets=()
for w in $workloads; do
  rows+=("| $w | warm-up | remote | ${wall[$w-warm-up-remote]} | ${elapsed[$w-warm-up-remote]} | ${critical[$w-warm-up-remote]} | ${procs[$w-warm-up-remote]} | | |")
  for s in "${strategies[@]}"; do
    k=$w-measured-$s
    vs_local=–
    vs_sandbox=–
    ! has local || vs_local=$(ratio "${wall[$k]}" "${wall[$w-measured-local]}")
    ! has linux-sandbox || vs_sandbox=$(ratio "${wall[$k]}" "${wall[$w-measured-linux-sandbox]}")
    rows+=("| $w | measured | $s | ${wall[$k]} | ${elapsed[$k]} | ${critical[$k]} | ${procs[$k]} | $vs_local | $vs_sandbox |")
  done
  case $w in
    cc)
      if has local; then
        r=$(ratio "${wall[cc-measured-remote]}" "${wall[cc-measured-local]}")
        targets+=("C/C++ remote/local $r (target ≤ 1.1: $(verdict "$r" "<=" 1.1))")
      fi
      if has linux-sandbox; then
        r=$(ratio "${wall[cc-measured-remote]}" "${wall[cc-measured-linux-sandbox]}")
        targets+=("C/C++ remote/linux-sandbox $r (target ≤ 0.9: $(verdict "$r" "<=" 0.9))")
      fi
      ;;
    go)
      r=$(p50 "${stages[go-measured]}" input)
      targets+=("heavy inputs: input materialization p50 $r ms per action (target < 1 ms: $(verdict "$r" "<" 1))")
      ;;
  esac
done

commit=$(git -C "$E2E_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git -C "$E2E_REPO" status --porcelain --untracked-files=no 2>/dev/null)" ] || commit="$commit+changes"
gcc_host=$(dpkg-query -W -f='${Version}' gcc-12 2>/dev/null || gcc -dumpversion)
section=$(
  cat <<ZZSECTION
## $(date -u '+%Y-%m-%d %H:%M UTC') · linux mode · actiond $commit

Machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), Linux $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME"); load average before the run $(tr ' ' / <<<"$load_before") (the machine may be shared). Bazel $(dpkg-query -W -f='${Version}' bazel-bootstrap 2>/dev/null || echo "?"), one server for every build, \`--jobs=$jobs\`; \`linux_actiond serve --jobs=$(nproc)\` with the gcc12 toolchain rootfs (\`runtime=gcc12\`; host gcc-12 $gcc_host). Whole run $(($(date +%s) - script_start)) s.

$([ -z "$cc_desc" ] || echo "- **cc**: $cc_desc.")$([ -z "$go_desc" ] || printf '\n%s' "- **go**: $go_desc.")

Each build follows \`bazel clean\`; remote builds pass \`--noremote_accept_cached\` (every action executes) and run against the CAS the warm-up filled. Wall is the \`bazel build\` call; "Elapsed" and "Critical path" are Bazel's. Ratios compare walls.

| Workload | Phase | Strategy | Wall (s) | Elapsed (s) | Critical path (s) | Bazel processes | vs local | vs linux-sandbox |
|---|---|---|---:|---:|---:|---|---:|---:|
$(printf '%s\n' "${rows[@]}")

Targets (measured phase, warm CAS): $(printf '%s; ' "${targets[@]}" | sed 's/; $//').
Outputs: every file of each measured build is identical to the local build's ($(for w in $workloads; do printf '%s: %s files; ' "$w" "${checked[$w]}"; done | sed 's/; $//')), and so is every warm-up output the local build also makes$([ -z "$cc_desc" ] || [ "${SMOKE_SHORT:-}" = 1 ] || echo "; libtomcrypt's test program, built remotely, passes").

$(for w in $workloads; do
    for phase in measured warm-up; do
      printf '### actiond stage times: %s %s (remote)\n\n%s\n\n' "$w" "$phase" "${stages[$w-$phase]}"
    done
  done)
ZZSECTION
)
if [ "$results" = - ]; then
  printf '%s\n' "$section"
  exit 0
fi
marker='<!-- e2e/smoke.sh adds each run below this line, newest first -->'
{
  if [ -f "$results" ] && grep -qF -- "$marker" "$results"; then
    awk -v m="$marker" '{ print } $0 == m { exit }' "$results"
    printf '\n%s\n' "$section"
    awk -v m="$marker" 'f { print } $0 == m { f = 1 }' "$results"
  else
    cat <<ZZHEAD
# Smoke benchmark results

Written by \`e2e/smoke.sh\`: Bazel 4.2.3 building real open-source code
through actiond and with Bazel's own \`local\` and \`linux-sandbox\`
strategies, in one run. Each run is added at the top, earlier ones are kept
below, so that regressions show. The stage tables come from the daemon's
\`action done\` log lines through \`e2e/parse_timings\`: queue is waiting for
one of the daemon's \`--jobs\` slots, input is making the action's input root,
setup the sandbox up to the fork of the command, spawn the command's fork and
exec, run the command, teardown killing and reaping what it left, output
storing its outputs; overhead is total − queue − spawn − run, the daemon's
own share.

$marker

$section
ZZHEAD
  fi
} >"$E2E_WORK/RESULTS.md"
cp "$E2E_WORK/RESULTS.md" "$results"
e2e_log "wrote $results"
printf '%s\n' "$section"
