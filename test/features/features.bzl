"""Rules for the features workspace (see WORKSPACE)."""

def _tree_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    ctx.actions.run_shell(
        outputs = [out],
        command = """
set -eu
d=$1
mkdir -p "$d/a/b/c" "$d/empty_dir_sibling/x"
printf 'top\\n' > "$d/top.txt"
printf 'deep\\n' > "$d/a/b/c/deep.txt"
: > "$d/a/empty.txt"
printf '#!/bin/sh\\necho from the tree\\n' > "$d/a/b/run.sh"
chmod 0755 "$d/a/b/run.sh"
i=0
while [ $i -lt 40 ]; do
  printf 'file %s\\n' "$i" > "$d/empty_dir_sibling/x/f$i.txt"
  i=$((i + 1))
done
ln -s ../top.txt "$d/a/link_to_top"
""",
        arguments = [out.path],
        mnemonic = "MakeTree",
    )
    return [DefaultInfo(files = depset([out]))]

tree = rule(implementation = _tree_impl)

# The listing follows symlinks: Bazel 4.2.3 gives a symlink inside a tree
# artifact to a remote action as the file it points to (its input root has
# a FileNode there), but to a local action as the symlink.
def _tree_listing_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    tree = ctx.files.tree[0]
    ctx.actions.run_shell(
        inputs = [tree],
        outputs = [out],
        command = """
set -eu
cd "$1"
find . | LC_ALL=C sort | while read -r p; do
  if [ -d "$p" ]; then echo "dir $p"
  else echo "file $p $(sha256sum < "$p" | cut -c1-16) $( [ -x "$p" ] && echo x || echo -)"; fi
done > "$OLDPWD/$2"
./a/b/run.sh >> "$OLDPWD/$2"
""",
        arguments = [tree.path, out.path],
        mnemonic = "ListTree",
    )
    return [DefaultInfo(files = depset([out]))]

tree_listing = rule(
    implementation = _tree_listing_impl,
    attrs = {"tree": attr.label(mandatory = True)},
)

def _params_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    args = ctx.actions.args()
    args.add(out)
    args.add_all(["argument-%d-with-some-length" % i for i in range(ctx.attr.count)])
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    ctx.actions.run_shell(
        outputs = [out],
        command = """
set -eu
params=${1#@}
out=$(head -n 1 "$params")
n=$(($(wc -l < "$params") - 1))
{ echo "params: $n"; tail -n +2 "$params" | sha256sum | cut -c1-16; tail -n 1 "$params"; } > "$out"
""",
        arguments = [args],
        mnemonic = "Params",
    )
    return [DefaultInfo(files = depset([out]))]

params = rule(
    implementation = _params_impl,
    attrs = {"count": attr.int(default = 5000)},
)
