"""kernel_image: the guest kernel, built by kernel/make_kernel.sh."""

# Bazel's name of each architecture -> (make_kernel.sh's, the image's name).
_ARCHS = {
    "x86_64": ("x86_64", "bzImage"),
    "aarch64": ("arm64", "Image"),
}

def _kernel_image_impl(ctx):
    script_arch, image_name = _ARCHS[ctx.attr.arch]
    image = ctx.actions.declare_file("%s/%s" % (ctx.label.name, image_name))
    config = ctx.actions.declare_file("%s/config" % ctx.label.name)
    args = ctx.actions.args()
    args.add(script_arch)
    args.add(ctx.file.tarball)
    args.add(image.dirname)
    args.add_all(ctx.files.fragments)
    ctx.actions.run(
        executable = ctx.executable._script,
        arguments = [args],
        inputs = depset([ctx.file.tarball] + ctx.files.fragments),
        outputs = [image, config],
        # The compilers, make, flex, bison and the libelf and OpenSSL
        # headers are the host's, which a remote executor need not have.
        use_default_shell_env = True,
        execution_requirements = {"no-remote": "1"},
        mnemonic = "KernelImage",
        progress_message = "Building the %s kernel %%{label}" % ctx.attr.arch,
    )
    return [
        DefaultInfo(files = depset([image])),
        OutputGroupInfo(config = depset([config])),
    ]

kernel_image = rule(
    implementation = _kernel_image_impl,
    doc = """Builds the guest kernel from a Linux source tarball with kernel/make_kernel.sh.

allnoconfig plus `fragments`, each of whose lines must survive into the
final .config; the output is <name>/bzImage (x86_64) or the uncompressed
<name>/Image (aarch64), and the `config` output group holds <name>/config.
The action runs on the host (no-remote) with its compilers: make, bc,
flex, bison, perl, xz-utils, libelf-dev, libssl-dev, and gcc or, for
aarch64 on another host, gcc-aarch64-linux-gnu.""",
    attrs = {
        "arch": attr.string(
            doc = "The kernel's architecture: \"x86_64\" or \"aarch64\".",
            mandatory = True,
            values = ["x86_64", "aarch64"],
        ),
        "tarball": attr.label(
            doc = "The source tarball, with one top-level directory, such as kernel.org's linux-6.1.N.tar.xz.",
            mandatory = True,
            allow_single_file = [".tar.xz", ".tar.gz", ".tar"],
        ),
        "fragments": attr.label_list(
            doc = "Kconfig fragments, in order: CONFIG_X=value lines.",
            mandatory = True,
            allow_files = True,
        ),
        "_script": attr.label(
            default = Label("//kernel:make_kernel.sh"),
            executable = True,
            allow_single_file = True,
            cfg = "exec",
        ),
    },
)
