"""Module extension declaring the repositories of .deb lock files.

    runtimes = use_extension("//rules:extensions.bzl", "runtimes")
    runtimes.lock(file = "//runtimes:debs.lock.json")
    use_repo(runtimes, "glibc2_35_x86_64", ...)

    runtimes.closure(name = "gcc12_x86_64", lock = "//:gcc12.amd64.lock.json", arch = "x86_64", runtime = "gcc12")
    use_repo(runtimes, "gcc12_x86_64")

Each runtime of a lock file (format in rules/private/lock.bzl and
runtimes/README.md) becomes a glibc_deb_runtime repository, named by its
key, whose `:runtime` target is the runtime's tar archive; each deb set a
deb_files repository whose `:debs` are its .deb files. Each closure tag is
a deb_closure repository of the packages a cmd/deb_lock lock pins: `:debs`,
and with `runtime` the rootfs runtime `:runtime`. Kept apart from
defs.bzl because module_extension does not exist in WORKSPACE-only Bazel.
"""

load("//rules/private:deb_closure.bzl", "deb_closure")
load("//rules/private:deb_files.bzl", "deb_files")
load("//rules/private:glibc_deb_runtime.bzl", "glibc_deb_runtime")
load("//rules/private:lock.bzl", "deb_sets_from_lock", "runtimes_from_lock")

_lock = tag_class(
    doc = "Declares every runtime and deb set of a lock file.",
    attrs = {
        "file": attr.label(
            doc = "The lock file, such as //runtimes:debs.lock.json.",
            mandatory = True,
        ),
    },
)

_closure = tag_class(
    doc = "Declares a deb_closure repository: the .debs of a cmd/deb_lock lock file, and optionally the rootfs runtime built from them.",
    attrs = {
        "name": attr.string(
            doc = "Repository name, such as \"gcc12_x86_64\".",
            mandatory = True,
        ),
        "lock": attr.label(
            doc = "The lock file cmd/deb_lock wrote, committed in the workspace.",
            mandatory = True,
        ),
        "arch": attr.string(
            doc = "Runtime architecture, \"x86_64\" or \"aarch64\"; the lock must be for amd64 or arm64 respectively.",
            mandatory = True,
        ),
        "runtime": attr.string(
            doc = "If set, the repository's `:runtime` is the rootfs runtime of this name (exec property runtime=NAME).",
        ),
        "archive": attr.string(
            doc = "Archive root URL for packages whose lock entry names none.",
        ),
    },
)

def _runtimes_impl(mctx):
    declared = {}  # repository name -> lock file label
    for mod in mctx.modules:
        for tag in mod.tags.lock:
            lock_name = str(tag.file)
            content = mctx.read(mctx.path(tag.file))
            for rule, repos in [
                (glibc_deb_runtime, runtimes_from_lock(content, lock_name)),
                (deb_files, deb_sets_from_lock(content, lock_name)),
            ]:
                for repo in repos:
                    if repo["name"] in declared:
                        fail("runtimes.lock: repository %r is in both %s and %s" % (repo["name"], declared[repo["name"]], lock_name))
                    declared[repo["name"]] = lock_name
                    rule(**repo)
        for tag in mod.tags.closure:
            lock_name = str(tag.lock)
            if tag.name in declared:
                fail("runtimes.closure: repository %r is declared by both %s and %s" % (tag.name, declared[tag.name], lock_name))
            declared[tag.name] = lock_name
            deb_closure(
                name = tag.name,
                lock = tag.lock,
                arch = tag.arch,
                runtime_name = tag.runtime,
                archive = tag.archive,
            )

    # Every download is pinned by sha256, so the result is reproducible.
    if hasattr(mctx, "extension_metadata"):
        return mctx.extension_metadata(reproducible = True)
    return None

runtimes = module_extension(
    implementation = _runtimes_impl,
    doc = "Declares runtime (glibc_deb_runtime) and deb set (deb_files) repositories from the lock files of `lock` tags, and package closure (deb_closure) repositories from `closure` tags.",
    tag_classes = {"closure": _closure, "lock": _lock},
)
