"""Module extension declaring runtime repositories from MODULE.bazel.

    runtimes = use_extension("//rules:extensions.bzl", "runtimes")
    runtimes.deb(
        name = "glibc2_35_x86_64",
        runtime = "glibc2.35",
        arch = "x86_64",
        debs = {"https://.../libc6_2.35-0ubuntu3.13_amd64.deb": "48f2..."},
    )
    use_repo(runtimes, "glibc2_35_x86_64")

Each tag becomes a glibc_deb_runtime repository whose `:runtime` target is
the runtime tree. Kept apart from defs.bzl because module_extension does not
exist in WORKSPACE-only Bazel.
"""

load("//rules/private:glibc_deb_runtime.bzl", "glibc_deb_runtime")

_deb = tag_class(
    doc = "One runtime built from pinned .deb files.",
    attrs = {
        "name": attr.string(
            doc = "Repository name, such as \"glibc2_35_x86_64\"; use_repo it.",
            mandatory = True,
        ),
        "runtime": attr.string(
            doc = "Runtime name actions select it by: \"glibc2.35\", or \"bash\" for the shell.",
            mandatory = True,
        ),
        "kind": attr.string(
            doc = "\"libc\" or \"shell\".",
            default = "libc",
            values = ["libc", "shell"],
        ),
        "arch": attr.string(
            doc = "\"x86_64\" or \"aarch64\".",
            mandatory = True,
            values = ["x86_64", "aarch64"],
        ),
        "debs": attr.string_dict(
            doc = "Map of .deb URL to its lowercase hex sha256, extracted in this order.",
            mandatory = True,
        ),
    },
)

def _runtimes_impl(mctx):
    declared = {}
    for mod in mctx.modules:
        for tag in mod.tags.deb:
            if tag.name in declared:
                fail("runtimes.deb: repository %r is declared by both %s and %s" % (tag.name, declared[tag.name], mod.name))
            declared[tag.name] = mod.name
            glibc_deb_runtime(
                name = tag.name,
                runtime_name = tag.runtime,
                kind = tag.kind,
                arch = tag.arch,
                debs = tag.debs,
            )

    # Every download is pinned by sha256, so the result is reproducible.
    if hasattr(mctx, "extension_metadata"):
        return mctx.extension_metadata(reproducible = True)
    return None

runtimes = module_extension(
    implementation = _runtimes_impl,
    doc = "Declares runtime repositories (glibc_deb_runtime) from `deb` tags.",
    tag_classes = {"deb": _deb},
)
