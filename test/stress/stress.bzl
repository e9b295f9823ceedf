"""Stress workload for actiond: the action shapes and the stress_workload macro.

Every action runs the static stress_action_tool (//tool:action-tool). The
Starlark rules below produce what a genrule cannot (tree artifacts, symlink
outputs) and pass their flags through a multiline params file; the
individual-file consumers and the aggregate are genrules, so /bin/bash runs
too (remote builds need the `requires-bash` exec property).

No rule here depends on the environment: outputs are byte-identical whether
actions run locally, in linux-sandbox or remotely. The tool's --expect-*
checks only fail an action when ACTIOND_EXPECT_SANDBOX=1 reaches it through
`--action_env`, which is why every action uses the default shell env.
"""

_TOOL = "//tool:action-tool"

_COMMON_ATTRS = {
    "checks": attr.string_list(
        doc = "Sandbox checks, e.g. \"network-blocked\", \"loopback\", " +
              "\"localhost-hosts\" (passed as --expect-<check>).",
    ),
    "srcs": attr.label_list(
        allow_files = True,
        doc = "Inputs the action reads and hashes (--scan each file or tree).",
    ),
    "tool": attr.label(
        default = _TOOL,
        executable = True,
        cfg = "exec",
        allow_single_file = True,
        doc = "The stress_action_tool binary.",
    ),
}

def _pad(n, width):
    """Zero-pads n to width digits (Starlark's % has no width flags)."""
    s = str(n)
    return "0" * (width - len(s)) + s

def _attrs(extra):
    attrs = dict(_COMMON_ATTRS)
    attrs.update(extra)
    return attrs

def _args(ctx):
    args = ctx.actions.args()
    args.use_param_file("@%s", use_always = True)
    args.set_param_file_format("multiline")

    # A tree artifact is scanned as one directory rather than file by file.
    args.add_all(ctx.files.srcs, before_each = "--scan", expand_directories = False)
    for check in ctx.attr.checks:
        args.add("--expect-" + check)
    return args

def _run(ctx, mnemonic, args, outputs):
    ctx.actions.run(
        executable = ctx.executable.tool,
        arguments = [args],
        inputs = ctx.files.srcs,
        outputs = outputs,
        mnemonic = mnemonic,
        progress_message = "%s %s" % (mnemonic, ctx.label),
        # Lets --action_env=ACTIOND_EXPECT_SANDBOX=1 reach the tool.
        use_default_shell_env = True,
    )
    return [DefaultInfo(files = depset(outputs))]

def _stress_tree_impl(ctx):
    manifest = ctx.actions.declare_file(ctx.label.name + ".manifest")
    tree = ctx.actions.declare_directory(ctx.label.name)
    args = _args(ctx)
    args.add("--out-extra-file", manifest)
    args.add("--out-dir", tree.path)
    args.add("--out-count", ctx.attr.files)
    args.add("--out-bytes", ctx.attr.bytes)
    return _run(ctx, "ActiondStressTree", args, [manifest, tree])

stress_tree = rule(
    implementation = _stress_tree_impl,
    doc = "Produces a tree artifact of `files` generated files plus a manifest of its inputs.",
    attrs = _attrs({
        "bytes": attr.int(default = 0, doc = "Minimum size of each generated file."),
        "files": attr.int(mandatory = True, doc = "Number of files in the tree."),
    }),
)

def _stress_consumer_impl(ctx):
    summary = ctx.actions.declare_file(ctx.label.name + ".summary")
    tree = ctx.actions.declare_directory(ctx.label.name + ".tree")
    args = _args(ctx)
    args.add("--out-file", summary)
    args.add("--out-dir", tree.path)
    args.add("--out-count", ctx.attr.files)
    return _run(ctx, "ActiondStressConsume", args, [summary, tree])

stress_consumer = rule(
    implementation = _stress_consumer_impl,
    doc = "Reads its inputs (files and trees) and writes a summary plus a tree of `files` files.",
    attrs = _attrs({
        "files": attr.int(mandatory = True, doc = "Number of files in the output tree."),
    }),
)

def _stress_files_impl(ctx):
    summary = ctx.actions.declare_file(ctx.label.name + ".summary")
    out_dir = ctx.attr.dir or ctx.label.name
    files = [
        ctx.actions.declare_file("%s/file_%s.txt" % (out_dir, _pad(i, 4)))
        for i in range(ctx.attr.files)
    ]
    args = _args(ctx)
    args.add("--out-file", summary)
    args.add("--out-dir", files[0].dirname)
    args.add("--out-count", ctx.attr.files)
    args.add("--out-name", "file_%04d.txt")
    return _run(ctx, "ActiondStressFiles", args, [summary] + files)

stress_files = rule(
    implementation = _stress_files_impl,
    doc = "Declares `files` individual outputs dir/file_NNNN.txt plus a summary.",
    attrs = _attrs({
        "dir": attr.string(doc = "Package-relative directory of the outputs (default: the target name)."),
        "files": attr.int(mandatory = True, doc = "Number of declared files (at least 1)."),
    }),
)

def _stress_symlinks_impl(ctx):
    name = ctx.label.name
    file = ctx.actions.declare_file(name + "/file.txt")
    file_link = ctx.actions.declare_file(name + "/file_link")
    tree = ctx.actions.declare_directory(name + "/tree")
    args = _args(ctx)
    args.add("--exercise-filesystem")
    args.add("--out-file", file)
    args.add("--out-dir", tree.path)
    args.add("--out-count", ctx.attr.files)
    args.add("--out-name", "sub/generated-%d.txt")

    # A file symlink as a declared output, and a file and a directory
    # symlink inside a tree artifact. All targets are relative and stay
    # inside the outputs, as Bazel requires.
    for link, target in [
        (file_link.path, "file.txt"),
        (tree.path + "/link_to_file", "sub/generated-0.txt"),
        (tree.path + "/link_to_dir", "sub"),
    ]:
        args.add("--out-symlink", link)
        args.add("--out-symlink-target", target)
    return _run(ctx, "ActiondStressSymlinks", args, [file, file_link, tree])

stress_symlinks = rule(
    implementation = _stress_symlinks_impl,
    doc = "Writes a file, a symlink to it, and a tree holding files, a file symlink " +
          "and a directory symlink; also exercises rename, links and chmod.",
    attrs = _attrs({
        "files": attr.int(default = 4, doc = "Number of files in tree/sub (at least 1)."),
    }),
)

def _tool_genrule(name, srcs, outs, flags, tool):
    """A genrule that scans every file in srcs (trees as directories)."""
    native.genrule(
        name = name,
        srcs = srcs,
        outs = outs,
        tools = [tool],
        cmd = "args=(); for f in $(SRCS); do args+=(--scan \"$$f\"); done; " +
              "\"$(location %s)\" \"$${args[@]}\" %s" % (tool, flags),
    )

def _individual_files(name, srcs, files, tool):
    """Genrule with `files` declared outputs name/file_NNNN.txt and a summary."""
    _tool_genrule(
        name = name,
        srcs = srcs,
        outs = [name + ".summary"] + ["%s/file_%s.txt" % (name, _pad(i, 4)) for i in range(files)],
        flags = "--out-file $(location %s.summary) --out-dir $(RULEDIR)/%s --out-count %d --out-name file_%%04d.txt" % (name, name, files),
        tool = tool,
    )

def _glob_inputs(pattern, want):
    files = native.glob([pattern])
    if len(files) != want:
        fail("stress_workload: %s matches %d files, want %d; run ./generate_inputs.sh first" % (pattern, len(files), want))
    return files

def stress_workload(name, tool = _TOOL):
    """Declares the stress targets and the aggregate `name` that builds them all.

    Inputs come from inputs/ (see generate_inputs.sh). The shapes follow the
    reference workload: 34 actions in total.

    Args:
      name: the aggregate target (a genrule writing name.txt).
      tool: label of the stress_action_tool binary.
    """
    bare = _glob_inputs("inputs/bare/*.txt", 160)
    source_dirs = _glob_inputs("inputs/source_dir/**/*.txt", 8 * 32)
    nested = [
        _glob_inputs("inputs/nested_files/group_%s/**/*.txt" % _pad(g, 3), 96)
        for g in range(8)
    ]

    stress_symlinks(
        name = "filesystem_regression",
        srcs = bare[:2],
        tool = tool,
    )
    stress_consumer(
        name = "symlink_input_consumer",
        srcs = [":filesystem_regression"],
        files = 2,
        tool = tool,
    )
    stress_tree(
        name = "shared_generated_tree",
        srcs = bare[:8],
        files = 256,
        bytes = 1024,
        tool = tool,
    )
    for i in range(1, 9):
        stress_consumer(
            name = "generated_tree_reuse_" + _pad(i, 2),
            srcs = [":shared_generated_tree"],
            files = 8,
            tool = tool,
        )
    for i in range(1, 5):
        stress_consumer(
            name = "source_dir_reuse_" + _pad(i, 2),
            srcs = source_dirs,
            files = 8,
            tool = tool,
        )
    for i in range(1, 9):
        _individual_files("nested_files_" + _pad(i, 2), nested[i - 1], 8, tool)
    for i in range(1, 5):
        _individual_files("bare_files_" + _pad(i, 2), bare, 8, tool)
    stress_files(
        name = "generated_file_set",
        srcs = nested[0][:8],
        dir = "generated_files/group_001/foo/bar/baz",
        files = 96,
        tool = tool,
    )
    for i in range(1, 5):
        _individual_files("generated_files_" + _pad(i, 2), [":generated_file_set"], 8, tool)
    stress_consumer(
        name = "mixed_all",
        srcs = bare + source_dirs + [f for group in nested for f in group] + [
            ":filesystem_regression",
            ":generated_file_set",
            ":shared_generated_tree",
        ],
        files = 64,
        checks = ["network-blocked", "loopback", "localhost-hosts"],
        tool = tool,
    )

    parts = ["filesystem_regression", "symlink_input_consumer", "shared_generated_tree", "generated_file_set", "mixed_all"]
    parts += ["generated_tree_reuse_" + _pad(i, 2) for i in range(1, 9)]
    parts += ["source_dir_reuse_" + _pad(i, 2) for i in range(1, 5)]
    parts += ["nested_files_" + _pad(i, 2) for i in range(1, 9)]
    parts += ["bare_files_" + _pad(i, 2) for i in range(1, 5)]
    parts += ["generated_files_" + _pad(i, 2) for i in range(1, 5)]
    _tool_genrule(
        name = name,
        srcs = [":" + p for p in parts],
        outs = [name + ".txt"],
        flags = "--expect-loopback --expect-network-blocked --out-file $@",
        tool = tool,
    )

def heavy_input_workload(name, actions = 100, tool = _TOOL):
    """Declares `actions` actions that each read the same 416 source files.

    The shape of a build whose many small actions share a large input set
    (compiles that each see every header): per-action input work, not the
    actions themselves, dominates. `name` is a filegroup of them all.

    Args:
      name: the aggregate target (a filegroup).
      actions: how many actions.
      tool: label of the stress_action_tool binary.
    """
    srcs = _glob_inputs("inputs/bare/*.txt", 160) + _glob_inputs("inputs/source_dir/**/*.txt", 8 * 32)
    _fan_out(name, actions, stress_consumer, srcs = srcs, files = 1, tool = tool)

def _fan_out(name, actions, make_rule, **kwargs):
    """Declares `actions` targets of make_rule and the filegroup `name`.

    Args:
      name: the filegroup; the targets are NAME_001, NAME_002 and so on.
      actions: how many targets.
      make_rule: the rule to declare them with.
      **kwargs: its other attributes.
    """
    parts = []
    for i in range(1, actions + 1):
        part = "%s_%s" % (name, _pad(i, 3))
        make_rule(name = part, **kwargs)
        parts.append(":" + part)
    native.filegroup(
        name = name,
        srcs = parts,
    )

def _stress_work_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".summary")
    args = _args(ctx)
    args.add("--out-file", out)
    args.add("--burn-mib", ctx.attr.burn_mib)
    args.add("--sleep-ms", ctx.attr.sleep_ms)
    return _run(ctx, "ActiondStressWork", args, [out])

stress_work = rule(
    implementation = _stress_work_impl,
    doc = "Hashes `burn_mib` MiB, waits `sleep_ms` ms and writes a summary.",
    attrs = _attrs({
        "burn_mib": attr.int(default = 0, doc = "MiB hashed: CPU work."),
        "sleep_ms": attr.int(default = 0, doc = "Milliseconds waited: an action waiting on I/O."),
    }),
)

def work_workload(name, actions, burn_mib = 0, sleep_ms = 0, tool = _TOOL):
    """Declares `actions` independent actions of fixed CPU work or waiting.

    For choosing how many actions a daemon runs at once: CPU-bound actions
    (burn_mib) gain nothing from running more of them than there are
    cores, actions that wait (sleep_ms) do. `name` is a filegroup of them.

    Args:
      name: the aggregate target (a filegroup).
      actions: how many actions.
      burn_mib: MiB each action hashes.
      sleep_ms: milliseconds each action waits.
      tool: label of the stress_action_tool binary.
    """
    _fan_out(name, actions, stress_work, burn_mib = burn_mib, sleep_ms = sleep_ms, tool = tool)
