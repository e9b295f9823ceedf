"""deb_runtime: runs cmd/deb_runtime on .deb files at build time.

glibc_deb_runtime writes a BUILD file with one of these, and so does
deb_closure (kind "rootfs") when given a runtime name.
"""

load(":providers.bzl", "RuntimeInfo")
load(":tool.bzl", "tool_attr")

KINDS = ["libc", "shell", "rootfs"]
ARCHS = ["x86_64", "aarch64"]

# The attributes that say which runtime is built, shared with the
# glibc_deb_runtime repository rule that writes a deb_runtime target.
RUNTIME_ATTRS = {
    "runtime_name": attr.string(
        doc = "Runtime name actions select it by, such as \"glibc2.35\" (libc) or \"bash\" (shell).",
        mandatory = True,
    ),
    "kind": attr.string(
        doc = "\"libc\" mounts lib, lib64 and usr/lib; \"shell\" mounts bin and usr/bin and names bash-static bash; \"rootfs\" is a whole root file system (a package closure, usually deb_closure's) that actions select with runtime=NAME.",
        default = "libc",
        values = KINDS,
    ),
    "arch": attr.string(
        doc = "Architecture of the packages: \"x86_64\" or \"aarch64\".",
        mandatory = True,
        values = ARCHS,
    ),
}

def _deb_runtime_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".tar")
    args = ctx.actions.args()
    args.add("--name", ctx.attr.runtime_name)
    args.add("--kind", ctx.attr.kind)
    args.add("--arch", ctx.attr.arch)
    args.add("--tar", out)
    args.add("--quiet")
    args.add_all(ctx.files.debs)
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = depset(ctx.files.debs),
        outputs = [out],
        mnemonic = "DebRuntime",
        progress_message = "Building runtime archive %{label}",
    )
    return [
        DefaultInfo(files = depset([out])),
        RuntimeInfo(
            name = ctx.attr.runtime_name,
            kind = ctx.attr.kind,
            arch = ctx.attr.arch,
            tar = out,
            debs = ctx.files.debs,
        ),
    ]

deb_runtime = rule(
    implementation = _deb_runtime_impl,
    doc = """Builds one runtime from .deb files with cmd/deb_runtime.

The output, <name>.tar, is a deterministic tar archive of root/ and
runtime_manifest.json (runtimes/README.md) that squashfs_image packs. One
plain file per runtime, like a container image layer, so the action runs
sandboxed or remotely and its output caches like any other.""",
    attrs = dict(RUNTIME_ATTRS, **{
        "debs": attr.label_list(
            doc = "The .deb files, extracted in this order.",
            allow_files = [".deb"],
            mandatory = True,
        ),
        "_tool": tool_attr(Label("//cmd/deb_runtime")),
    }),
)
