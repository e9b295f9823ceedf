"""link_flags: stands in for a linking rule that takes C dependencies."""

def _link_flags_impl(ctx):
    # What rules_go's cgo_configure takes from each of cdeps.
    flags = []
    inputs = []
    for dep in ctx.attr.deps:
        # buildifier: disable=native-cc-info
        for linker_input in dep[CcInfo].linking_context.linker_inputs.to_list():
            flags.extend(linker_input.user_link_flags)
            inputs.extend(linker_input.additional_inputs)
    out = ctx.actions.declare_file(ctx.label.name + ".txt")

    # Each flag ends with the file it names, which must be among the inputs.
    ctx.actions.run_shell(
        command = 'out=$1; shift; for f in "$@"; do p=${f##*,}; [ -f "$p" ] || { echo "no $p" >&2; exit 1; }; echo "$f $(wc -c <"$p")"; done >"$out"',
        arguments = [out.path] + flags,
        inputs = inputs,
        outputs = [out],
        mnemonic = "LinkFlags",
    )
    return [DefaultInfo(files = depset([out]))]

link_flags = rule(
    implementation = _link_flags_impl,
    doc = "Writes <name>.txt: each linker flag of `deps`, and the size of the file it ends with.",
    # buildifier: disable=native-cc-info
    attrs = {"deps": attr.label_list(providers = [CcInfo])},
)
