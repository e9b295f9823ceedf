"""squashfs_image: packs runtime trees into a SquashFS image."""

load(":providers.bzl", "RuntimeInfo", "SquashfsImageInfo")

def _squashfs_image_impl(ctx):
    # (image path, directory File, origin label) for every source.
    sources = []
    for target in ctx.attr.runtimes:
        info = target[RuntimeInfo]
        sources.append(("%s/%s/%s" % (info.kind, info.name, info.arch), info.dir, str(target.label)))
    for target, image_path in ctx.attr.dirs.items():
        files = target.files.to_list()
        if len(files) != 1 or not files[0].is_directory:
            fail("squashfs_image %s: dirs key %s must be exactly one directory (tree artifact)" % (ctx.label, target.label))
        sources.append((image_path, files[0], str(target.label)))

    maps = {}  # image path -> directory File
    origins = {}  # image path -> label
    for image_path, directory, origin in sources:
        if image_path in maps:
            fail("squashfs_image %s: image path %s comes from both %s and %s" % (ctx.label, image_path, origins[image_path], origin))
        maps[image_path] = directory
        origins[image_path] = origin

    image_paths = sorted(maps.keys())
    out = ctx.actions.declare_file(ctx.label.name + ".sqfs")
    args = ctx.actions.args()
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    args.add("--output", out)
    args.add("--compression", ctx.attr.compression)
    args.add("--common-etc=" + ("true" if ctx.attr.common_etc else "false"))
    args.add_all(["%s=%s" % (p, maps[p].path) for p in image_paths], before_each = "--map")
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = depset([maps[p] for p in image_paths]),
        outputs = [out],
        mnemonic = "SquashfsImage",
        progress_message = "Writing SquashFS image %{label}",
        # The builder walks the trees and keeps their symlinks and hard
        # links; a sandbox would show it a forest of links to bazel-out.
        execution_requirements = {"no-sandbox": "1", "no-remote": "1"},
    )
    return [
        DefaultInfo(files = depset([out])),
        SquashfsImageInfo(image = out, image_paths = image_paths),
    ]

squashfs_image = rule(
    implementation = _squashfs_image_impl,
    doc = """Writes a deterministic SquashFS image with cmd/squashfs_builder.

Runtimes land at <kind>/<name>/<arch> (libc/glibc2.35/x86_64,
shell/bash/x86_64), which is the layout go/runtime reads; the image also
gets common/root/etc unless common_etc is False.""",
    attrs = {
        "runtimes": attr.label_list(
            doc = "Runtime trees (glibc_deb_runtime's :runtime targets) to include.",
            providers = [RuntimeInfo],
        ),
        "dirs": attr.label_keyed_string_dict(
            doc = "Other directories (tree artifacts) to include, mapped to their image path.",
            allow_files = True,
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
        "_tool": attr.label(
            doc = "The squashfs_builder tool.",
            default = Label("//cmd/squashfs_builder"),
            executable = True,
            # Also a prebuilt file (test/rules runs without rules_go).
            allow_files = True,
            cfg = "exec",
        ),
    },
)
