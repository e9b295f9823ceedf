"""squashfs_image: packs runtimes (tar archives) into a SquashFS image."""

load(":providers.bzl", "RuntimeInfo", "SquashfsImageInfo")
load(":tool.bzl", "tool_attr")

def _squashfs_image_impl(ctx):
    # (image path, tar File, origin label) for every source.
    sources = []
    for target in ctx.attr.runtimes:
        info = target[RuntimeInfo]
        sources.append(("%s/%s/%s" % (info.kind, info.name, info.arch), info.tar, str(target.label)))
    for target, image_path in ctx.attr.tars.items():
        files = target.files.to_list()
        if len(files) != 1 or not files[0].basename.endswith(".tar"):
            fail("squashfs_image %s: tars key %s must be exactly one .tar file" % (ctx.label, target.label))
        sources.append((image_path, files[0], str(target.label)))

    tars = {}  # image path -> tar File
    origins = {}  # image path -> label
    for image_path, tar, origin in sources:
        if image_path in tars:
            fail("squashfs_image %s: image path %s comes from both %s and %s" % (ctx.label, image_path, origins[image_path], origin))
        tars[image_path] = tar
        origins[image_path] = origin

    image_paths = sorted(tars.keys())
    out = ctx.actions.declare_file(ctx.label.name + ".sqfs")
    args = ctx.actions.args()
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    args.add("--output", out)
    args.add("--compression", ctx.attr.compression)
    args.add("--common-etc=" + ("true" if ctx.attr.common_etc else "false"))
    args.add_all(["%s=%s" % (p, tars[p].path) for p in image_paths], before_each = "--tar")
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = depset([tars[p] for p in image_paths]),
        outputs = [out],
        mnemonic = "SquashfsImage",
        progress_message = "Writing SquashFS image %{label}",
    )
    return [
        DefaultInfo(files = depset([out])),
        SquashfsImageInfo(image = out, image_paths = image_paths),
    ]

squashfs_image = rule(
    implementation = _squashfs_image_impl,
    doc = """Writes a deterministic SquashFS image with cmd/squashfs_builder.

Runtimes land at <kind>/<name>/<arch> (libc/glibc2.35/x86_64,
shell/bash/x86_64), which is the layout go/runtimes reads; the image also
gets common/root/etc unless common_etc is False. Its inputs are tar
archives, plain files that a sandboxed or remote action sees as they are.""",
    attrs = {
        "runtimes": attr.label_list(
            doc = "Runtimes (glibc_deb_runtime's :runtime targets, or deb_runtime) to include.",
            providers = [RuntimeInfo],
        ),
        "tars": attr.label_keyed_string_dict(
            doc = "Other uncompressed tar archives to include, mapped to the image path their entries go under.",
            allow_files = [".tar"],
        ),
        "compression": attr.string(
            doc = "Compression of the image: zstd, gzip or none.",
            default = "zstd",
            values = ["zstd", "gzip", "none"],
        ),
        "common_etc": attr.bool(
            doc = "Add common/root/etc/{hosts,nsswitch.conf,passwd,group}, which the sandbox mounts at /etc.",
            default = True,
        ),
        "_tool": tool_attr(Label("//cmd/squashfs_builder")),
    },
)
