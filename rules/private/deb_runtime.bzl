"""deb_runtime_tree: runs cmd/deb_runtime on .deb files at build time.

glibc_deb_runtime writes a BUILD file with one of these; it is rarely used
directly.
"""

load(":providers.bzl", "RuntimeInfo")

KINDS = ["libc", "shell"]
ARCHS = ["x86_64", "aarch64"]

def _deb_runtime_tree_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    args = ctx.actions.args()
    args.add("--name", ctx.attr.runtime_name)
    args.add("--kind", ctx.attr.kind)
    args.add("--arch", ctx.attr.arch)
    args.add("--out", out.path)
    args.add("--quiet")
    args.add_all(ctx.files.debs)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = depset(ctx.files.debs),
        outputs = [out],
        mnemonic = "DebRuntime",
        progress_message = "Building runtime tree %{label}",
        # The tree holds symlinks and hard links that only a local run
        # keeps exactly; it is a packaging step, not worth a remote trip.
        execution_requirements = {"no-remote": "1"},
    )
    return [
        DefaultInfo(files = depset([out])),
        RuntimeInfo(
            name = ctx.attr.runtime_name,
            kind = ctx.attr.kind,
            arch = ctx.attr.arch,
            dir = out,
            debs = ctx.files.debs,
        ),
    ]

deb_runtime_tree = rule(
    implementation = _deb_runtime_tree_impl,
    doc = "Extracts .deb files into a runtime directory (root/ + runtime_manifest.json) with cmd/deb_runtime.",
    attrs = {
        "debs": attr.label_list(
            doc = "The .deb files, extracted in this order.",
            allow_files = [".deb"],
            mandatory = True,
        ),
        "runtime_name": attr.string(
            doc = "Runtime name actions select it by, such as \"glibc2.35\" (libc) or \"bash\" (shell).",
            mandatory = True,
        ),
        "kind": attr.string(
            doc = "\"libc\" mounts lib, lib64 and usr/lib; \"shell\" mounts bin and usr/bin and names bash-static bash.",
            default = "libc",
            values = KINDS,
        ),
        "arch": attr.string(
            doc = "Architecture of the packages: \"x86_64\" or \"aarch64\".",
            mandatory = True,
            values = ARCHS,
        ),
        "_tool": attr.label(
            doc = "The deb_runtime tool.",
            default = Label("//cmd/deb_runtime"),
            executable = True,
            # Also a prebuilt file (test/rules runs without rules_go).
            allow_files = True,
            cfg = "exec",
        ),
    },
)
