"""payload_sections: payloads as Mach-O sections, added at link time."""

load(":payloads.bzl", "PAYLOAD_FILES_DOC", "payload_files", "payload_labels")
load(":tool.bzl", "tool_attr")

def _payload_sections_impl(ctx):
    blobs = []
    flags = []
    for name, src in payload_files(ctx, "payload_files"):
        blob = ctx.actions.declare_file("%s/%s.blob" % (ctx.label.name, name))
        args = ctx.actions.args()
        args.use_param_file("@%s", use_always = True)
        args.set_param_file_format("multiline")
        args.add("--format=section-content")
        args.add("--compress=" + ctx.attr.compress)
        args.add("--out", blob)
        args.add("--payload", "%s=%s" % (name, src.path))
        ctx.actions.run(
            executable = ctx.executable._tool,
            arguments = [args],
            inputs = [src],
            outputs = [blob],
            mnemonic = "PayloadSection",
            progress_message = "Writing payload section __%s of %%{label}" % name,
        )
        blobs.append(blob)

        # ld64: -sectcreate segname sectname file.
        flags.append("-Wl,-sectcreate,__ACTIOND,__%s,%s" % (name, blob.path))

    # The native cc_common and CcInfo, which Bazel 4.2.3 (test/standalone)
    # and Bazel 7 and 8 have and rules_cc 0.1 re-exports: loading them from
    # @rules_cc would make every WORKSPACE client fetch it.
    # buildifier: disable=native-cc-common
    linker_input = cc_common.create_linker_input(
        owner = ctx.label,
        user_link_flags = depset(flags),
        additional_inputs = depset(blobs),
    )

    # buildifier: disable=native-cc-common
    # buildifier: disable=native-cc-info
    return [
        DefaultInfo(files = depset(blobs)),
        CcInfo(linking_context = cc_common.create_linking_context(
            linker_inputs = depset([linker_input]),
        )),
    ]

_payload_sections = rule(
    implementation = _payload_sections_impl,
    doc = "See payload_sections.",
    attrs = {
        "payload_files": attr.label_keyed_string_dict(
            doc = PAYLOAD_FILES_DOC,
            mandatory = True,
            allow_files = True,
        ),
        "compress": attr.string(
            doc = "Compression of every payload: none or zstd.",
            default = "zstd",
            values = ["none", "zstd"],
        ),
        "_tool": tool_attr(Label("//cmd/payload_builder")),
    },
)

def payload_sections(name, payloads, compress = "zstd", **kwargs):
    """Payloads as Mach-O sections "__<name>" of segment "__ACTIOND", added at link time.

    A signed macOS binary cannot get bytes after linking (they break the
    code signature, and macOS kills an arm64 binary whose signature does not
    verify), so its payloads are sections the linker creates. For each
    payload this writes <name>/<payload>.blob with cmd/payload_builder
    --format=section-content (the blob go/payload reads: a header with name,
    compression, sizes and SHA-256, then the data), and returns a CcInfo
    whose linker input carries the blobs as additional inputs and, for each,
    the flag `-Wl,-sectcreate,__ACTIOND,__<payload>,<blob>`.

    Give the target to a linking rule's C dependencies: cc_binary's `deps`,
    or rules_go's `cdeps` of a go_binary with `cgo = True`. rules_go puts
    the linker inputs of cdeps among the GoLink action's inputs, and passes
    their flags to the external linker only through the cgo-generated code
    of a package with cgo sources (a file with `import "C"`), so the
    go_binary needs one in its own srcs; its gc_linkopts cannot name files
    ($(location) is not expanded there, and nothing would make them link
    inputs). The binary must link externally, which a darwin binary with
    cgo dependencies does. cmd/darwin_actiond/BUILD.bazel is the example;
    codesign the result afterwards (codesigned_binary).

    Args:
      name: the target.
      payloads: a dict of payload name (1 to 14 bytes of [a-z0-9_]) to the
        label of exactly one file, as in standalone_binary.
      compress: "zstd" or "none", for every payload.
      **kwargs: common attributes (visibility, tags, target_compatible_with).
    """
    _payload_sections(
        name = name,
        payload_files = payload_labels("payload_sections %s" % name, payloads),
        compress = compress,
        **kwargs
    )
