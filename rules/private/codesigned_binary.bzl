"""codesigned_binary: a macOS executable signed with entitlements."""

def _codesigned_binary_impl(ctx):
    binary = ctx.executable.binary
    out = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.run_shell(
        command = 'cp "$1" "$4" && chmod u+w "$4" && /usr/bin/codesign --sign "$3" --force --entitlements "$2" "$4"',
        arguments = [binary.path, ctx.file.entitlements.path, ctx.attr.identity, out.path],
        inputs = [binary, ctx.file.entitlements],
        outputs = [out],
        # codesign is the Mac's own; a remote executor (Linux) has none,
        # and it is not among the files a sandbox maps in.
        execution_requirements = {
            "no-remote": "1",
            "no-sandbox": "1",
        },
        mnemonic = "Codesign",
        progress_message = "Signing %{label}",
    )
    return [DefaultInfo(
        executable = out,
        files = depset([out]),
        runfiles = ctx.runfiles(files = [out]).merge(ctx.attr.binary[DefaultInfo].default_runfiles),
    )]

codesigned_binary = rule(
    implementation = _codesigned_binary_impl,
    executable = True,
    doc = """A copy of a macOS executable signed by /usr/bin/codesign with entitlements.

`codesign --sign IDENTITY --force --entitlements ENTITLEMENTS` on a copy of
`binary`: the action runs on the Mac that builds (no-remote, no-sandbox),
so give the target `target_compatible_with = ["@platforms//os:macos"]`.
Sign last: anything written into the file after this breaks the signature.
With the ad-hoc identity "-" the signature holds no time, so the output is
as deterministic as the input.""",
    attrs = {
        "binary": attr.label(
            doc = "The executable to sign.",
            mandatory = True,
            executable = True,
            allow_files = True,
            cfg = "target",
        ),
        "entitlements": attr.label(
            doc = "The entitlements property list, such as cmd/darwin_actiond/actiond.entitlements.",
            mandatory = True,
            allow_single_file = [".entitlements", ".plist"],
        ),
        "identity": attr.string(
            doc = "The signing identity; \"-\" (the default) signs ad hoc, which needs no certificate.",
            default = "-",
        ),
    },
)
