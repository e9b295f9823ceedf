"""initramfs: the VM's initramfs, with the guest agent built for the VM's platform."""

load(":tool.bzl", "tool_attr")

def _platform_transition_impl(_settings, attr):
    return {"//command_line_option:platforms": str(attr.platform)}

# An outgoing-edge transition: the guest is built for the VM (linux on the
# VM's CPU) whatever the target platform of the build is, so one build can
# make the x86_64 and the aarch64 initramfs, and a Mac can build the Linux
# guest. rules_go picks the Go toolchain from the platform; the guest's
# go_binary is pure, so no C toolchain for the platform is needed.
_platform_transition = transition(
    implementation = _platform_transition_impl,
    inputs = [],
    outputs = ["//command_line_option:platforms"],
)

def _single_file(what, target):
    files = target.files.to_list()
    if len(files) != 1:
        fail("%s must be exactly one file, got %d" % (what, len(files)))
    return files[0]

def _initramfs_impl(ctx):
    # An attribute with a Starlark transition is a list, even for a 1:1 one.
    guest = ctx.attr.guest[0] if type(ctx.attr.guest) == "list" else ctx.attr.guest
    init = guest[DefaultInfo].files_to_run.executable or _single_file("initramfs %s: guest" % ctx.label, guest)
    out = ctx.actions.declare_file(ctx.label.name + ".cpio.zst")
    args = ctx.actions.args()
    args.add("--init", init)
    args.add("--out", out)
    args.add_all(ctx.attr.exes, before_each = "--exe")
    args.add_all(ctx.files.debs, before_each = "--deb")
    ctx.actions.run(
        executable = ctx.executable._tool,
        arguments = [args],
        inputs = depset([init] + ctx.files.debs),
        outputs = [out],
        mnemonic = "Initramfs",
        progress_message = "Writing initramfs %{label}",
    )
    return [DefaultInfo(files = depset([out]))]

initramfs = rule(
    implementation = _initramfs_impl,
    doc = """Writes the VM's initramfs (a zstd-compressed newc cpio) with cmd/initramfs_builder.

The guest agent, built for `platform` through a transition, is /init; each
of `exes` is taken from `debs` with its shared libraries and loader. The
output, <name>.cpio.zst, is deterministic: the same inputs give the same
bytes.""",
    attrs = {
        "guest": attr.label(
            doc = "The guest agent (//cmd/linux_actiond_guest), built for `platform`.",
            mandatory = True,
            allow_files = True,
            cfg = _platform_transition,
        ),
        "platform": attr.label(
            doc = "The VM's platform, such as //platforms:linux_aarch64.",
            mandatory = True,
        ),
        "debs": attr.label_list(
            doc = "Debian packages of `platform`'s architecture holding `exes` and their libraries (a deb_files repository's :debs).",
            allow_files = [".deb"],
        ),
        "exes": attr.string_list(
            doc = "Executables inside `debs` to install with their libraries, such as /sbin/mke2fs.",
        ),
        "_tool": tool_attr(Label("//cmd/initramfs_builder")),
        # Bazel before 6 only runs Starlark transitions of rules that carry this.
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
)
