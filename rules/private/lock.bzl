"""Reads a runtime lock file such as runtimes/debs.lock.json.

The format (runtimes/README.md) is JSON:

    {"version": 1, "runtimes": {"glibc2_35_x86_64": {
        "runtime": "glibc2.35", "kind": "libc", "arch": "x86_64",
        "debs": [{"name": "libc6", "arch": "amd64", "url": "http://...", "sha256": "48f2..."}]}}}

Plain Starlark with no repository or module context: the module
extension reads lock files with it, and defs.bzl re-exports it for
WORKSPACE users, who declare the repositories themselves (test/rules).
"""

load(":deb_runtime.bzl", "ARCHS", "KINDS")

LOCK_VERSION = 1

# Debian architecture of each runtime arch; "all" packages fit any.
_DEB_ARCHS = {"x86_64": "amd64", "aarch64": "arm64"}

_RUNTIME_FIELDS = ["runtime", "kind", "arch", "debs"]
_DEB_FIELDS = ["name", "arch", "url", "sha256"]

def _check_fields(what, value, fields):
    if type(value) != "dict":
        fail("%s: want an object, got %s" % (what, type(value)))
    for key in value:
        if key not in fields:
            fail("%s: unknown field %r (want %s)" % (what, key, ", ".join(fields)))
    for key in fields:
        if key not in value:
            fail("%s: missing field %r" % (what, key))

def runtimes_from_lock(content, lock_name):
    """Returns the runtime repositories a lock file pins.

    Args:
      content: the lock file's text.
      lock_name: the lock file as errors name it, such as its label.

    Returns:
      A list, sorted by repository name, of dicts holding the keyword
      arguments of glibc_deb_runtime: name, runtime_name, kind, arch and
      debs (.deb URL to sha256, in extraction order).
    """
    lock = json.decode(content)
    if type(lock) != "dict" or lock.get("version") != LOCK_VERSION:
        fail("%s: want a JSON object with \"version\": %d" % (lock_name, LOCK_VERSION))
    _check_fields(lock_name, lock, ["version", "runtimes"])
    runtimes = lock["runtimes"]
    if type(runtimes) != "dict":
        fail("%s: \"runtimes\" must map repository names to runtimes" % lock_name)
    repos = []
    for name in sorted(runtimes.keys()):
        what = "%s: runtime %r" % (lock_name, name)
        entry = runtimes[name]
        _check_fields(what, entry, _RUNTIME_FIELDS)
        if entry["kind"] not in KINDS:
            fail("%s: kind %r is not one of %s" % (what, entry["kind"], KINDS))
        if entry["arch"] not in ARCHS:
            fail("%s: arch %r is not one of %s" % (what, entry["arch"], ARCHS))
        if type(entry["debs"]) != "list" or not entry["debs"]:
            fail("%s: \"debs\" must be a non-empty list" % what)
        debs = {}
        for deb in entry["debs"]:
            _check_fields(what + " deb", deb, _DEB_FIELDS)
            deb_what = "%s: deb %r" % (what, deb["name"])
            if deb["arch"] not in [_DEB_ARCHS[entry["arch"]], "all"]:
                fail("%s: arch %r does not fit runtime arch %s" % (deb_what, deb["arch"], entry["arch"]))
            if not deb["url"].rsplit("/", 1)[-1].startswith(deb["name"] + "_"):
                fail("%s: url %s does not name a %s package" % (deb_what, deb["url"], deb["name"]))
            if deb["url"] in debs:
                fail("%s: url %s is listed twice" % (deb_what, deb["url"]))
            debs[deb["url"]] = deb["sha256"]
        repos.append({
            "name": name,
            "runtime_name": entry["runtime"],
            "kind": entry["kind"],
            "arch": entry["arch"],
            "debs": debs,
        })
    return repos
