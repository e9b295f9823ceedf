"""standalone_binary: an executable that carries its payloads inside itself."""

load(":payloads.bzl", "PAYLOAD_FILES_DOC", "payload_files", "payload_labels")
load(":tool.bzl", "tool_attr")

def _standalone_binary_impl(ctx):
    binary = ctx.executable.binary
    payloads = payload_files(ctx, "payload_files")
    out = ctx.actions.declare_file(ctx.label.name)
    args = ctx.actions.args()
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")
    args.add("--format=" + ctx.attr.format)
    args.add("--compress=" + ctx.attr.compress)
    args.add("--in", binary)
    args.add("--out", out)
    args.add_all(["%s=%s" % (name, f.path) for name, f in payloads], before_each = "--payload")
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = depset([binary] + [f for _, f in payloads]),
        outputs = [out],
        mnemonic = "StandaloneBinary",
        progress_message = "Adding payloads to %{label}",
    )
    binary_runfiles = ctx.attr.binary[DefaultInfo].default_runfiles
    runfiles = ctx.runfiles(files = [out])
    if binary_runfiles:
        runfiles = runfiles.merge(binary_runfiles)
    return [DefaultInfo(
        executable = out,
        files = depset([out]),
        runfiles = runfiles,
    )]

_standalone_binary = rule(
    implementation = _standalone_binary_impl,
    executable = True,
    doc = "See standalone_binary.",
    attrs = {
        "binary": attr.label(
            doc = "The executable to add the payloads to.",
            mandatory = True,
            executable = True,
            allow_files = True,
            cfg = "target",
        ),
        "payload_files": attr.label_keyed_string_dict(
            doc = PAYLOAD_FILES_DOC,
            mandatory = True,
            allow_files = True,
        ),
        "format": attr.string(
            doc = "Where the payloads go: elf (sections) or trailer.",
            default = "elf",
            values = ["elf", "trailer"],
        ),
        "compress": attr.string(
            doc = "Compression of every payload: none or zstd.",
            default = "zstd",
            values = ["none", "zstd"],
        ),
        "_tool": tool_attr(Label("//cmd/payload_builder")),
    },
)

def standalone_binary(name, binary, payloads, format = "elf", compress = "zstd", **kwargs):
    """An executable carrying files (payloads) inside itself, for go/payload to find.

    Runs cmd/payload_builder (in the exec configuration, arguments in a
    params file) on `binary` and writes the executable `name`, which
    `bazel run` runs. The output is deterministic: the same inputs give the
    same bytes whatever the order of `payloads`.

    The darwin binary cannot be made this way: bytes added after linking
    break its code signature. It gets its payloads at link time, see
    payload_sections.

    Example:

        standalone_binary(
            name = "standalone",
            binary = ":linux_actiond",
            payloads = {
                "initramfs": "//vm:initramfs_x86_64",
                "kernel": "//kernel:kernel_x86_64",
                "runtimes": "//runtimes:runtimes_squashfs_x86_64",
            },
        )

    Args:
      name: the target, and the name of the output executable.
      binary: the executable: a go_binary, or any executable file.
      payloads: a dict of payload name (1 to 14 bytes of [a-z0-9_]; actiond
        reads "kernel", "initramfs" and "runtimes") to the label of exactly
        one file. Each file is one payload; a label may appear only once.
      format: "elf" adds one section ".actiond.<name>" per payload to a
        64-bit x86-64 or AArch64 ELF executable, leaving its loaded segments
        as they were; "trailer" appends the payloads, a manifest and a footer
        to any file.
      compress: "zstd" or "none". A payload that is compressed already (a
        bzImage, a zstd initramfs, a compressed SquashFS image) gains little
        from zstd and costs time at extraction: use "none" then.
      **kwargs: common attributes (visibility, tags, target_compatible_with).
    """
    _standalone_binary(
        name = name,
        binary = binary,
        payload_files = payload_labels("standalone_binary %s" % name, payloads),
        format = format,
        compress = compress,
        **kwargs
    )
