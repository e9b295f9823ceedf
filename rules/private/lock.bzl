"""Reads a .deb lock file such as runtimes/debs.lock.json or vm/debs.lock.json.

The format (runtimes/README.md) is JSON; "runtimes" and "deb_sets" are
each optional:

    {"version": 1,
     "runtimes": {"glibc2_35_x86_64": {
        "runtime": "glibc2.35", "kind": "libc", "arch": "x86_64",
        "debs": [{"name": "libc6", "arch": "amd64", "url": "http://...", "sha256": "48f2..."}]}},
     "deb_sets": {"mke2fs_x86_64": {
        "arch": "x86_64",
        "debs": [{"name": "e2fsprogs", "arch": "amd64", "url": "http://...", "sha256": "fedd..."}]}}}

A runtime becomes a glibc_deb_runtime repository, a deb set a deb_files
repository (the .debs themselves, for rules such as initramfs).

Plain Starlark with no repository or module context: the module
extension reads lock files with it, and defs.bzl re-exports it for
WORKSPACE users, who declare the repositories themselves (test/rules).
"""

load(":deb_runtime.bzl", "ARCHS")

LOCK_VERSION = 1

# A rootfs is a resolved package closure: it comes from a cmd/deb_lock lock
# (deb_closure, closure_lock.bzl), not from a hand-made list of URLs.
_KINDS = ["libc", "shell"]

# Debian architecture of each runtime arch; "all" packages fit any.
_DEB_ARCHS = {"x86_64": "amd64", "aarch64": "arm64"}

_LOCK_FIELDS = ["version", "runtimes", "deb_sets"]
_RUNTIME_FIELDS = ["runtime", "kind", "arch", "debs"]
_DEB_SET_FIELDS = ["arch", "debs"]
_DEB_FIELDS = ["name", "arch", "url", "sha256"]

def _check_fields(what, value, fields, optional = []):
    if type(value) != "dict":
        fail("%s: want an object, got %s" % (what, type(value)))
    for key in value:
        if key not in fields:
            fail("%s: unknown field %r (want %s)" % (what, key, ", ".join(fields)))
    for key in fields:
        if key not in value and key not in optional:
            fail("%s: missing field %r" % (what, key))

def _entries(content, lock_name, key):
    """Returns the lock's "key" object (empty when absent), checking the top level."""
    lock = json.decode(content)
    if type(lock) != "dict" or lock.get("version") != LOCK_VERSION:
        fail("%s: want a JSON object with \"version\": %d" % (lock_name, LOCK_VERSION))
    _check_fields(lock_name, lock, _LOCK_FIELDS, optional = ["runtimes", "deb_sets"])
    entries = lock.get(key, {})
    if type(entries) != "dict":
        fail("%s: \"%s\" must map repository names to objects" % (lock_name, key))
    return entries

def _debs(what, arch, debs_list):
    """Checks a "debs" list of an entry of architecture arch; returns {url: sha256} in order."""
    if arch not in ARCHS:
        fail("%s: arch %r is not one of %s" % (what, arch, ARCHS))
    if type(debs_list) != "list" or not debs_list:
        fail("%s: \"debs\" must be a non-empty list" % what)
    debs = {}
    for deb in debs_list:
        _check_fields(what + " deb", deb, _DEB_FIELDS)
        deb_what = "%s: deb %r" % (what, deb["name"])
        if deb["arch"] not in [_DEB_ARCHS[arch], "all"]:
            fail("%s: arch %r does not fit arch %s" % (deb_what, deb["arch"], arch))
        if not deb["url"].rsplit("/", 1)[-1].startswith(deb["name"] + "_"):
            fail("%s: url %s does not name a %s package" % (deb_what, deb["url"], deb["name"]))
        if deb["url"] in debs:
            fail("%s: url %s is listed twice" % (deb_what, deb["url"]))
        debs[deb["url"]] = deb["sha256"]
    return debs

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
    runtimes = _entries(content, lock_name, "runtimes")
    repos = []
    for name in sorted(runtimes.keys()):
        what = "%s: runtime %r" % (lock_name, name)
        entry = runtimes[name]
        _check_fields(what, entry, _RUNTIME_FIELDS)
        if entry["kind"] not in _KINDS:
            hint = " (a rootfs comes from a cmd/deb_lock lock: deb_closure, runtimes.closure)" if entry["kind"] == "rootfs" else ""
            fail("%s: kind %r is not one of %s%s" % (what, entry["kind"], _KINDS, hint))
        repos.append({
            "name": name,
            "runtime_name": entry["runtime"],
            "kind": entry["kind"],
            "arch": entry["arch"],
            "debs": _debs(what, entry["arch"], entry["debs"]),
        })
    return repos

def deb_sets_from_lock(content, lock_name):
    """Returns the deb_files repositories a lock file pins.

    Args:
      content: the lock file's text.
      lock_name: the lock file as errors name it, such as its label.

    Returns:
      A list, sorted by repository name, of dicts holding the keyword
      arguments of deb_files: name and debs (.deb URL to sha256, in the
      lock's order).
    """
    sets = _entries(content, lock_name, "deb_sets")
    repos = []
    for name in sorted(sets.keys()):
        what = "%s: deb set %r" % (lock_name, name)
        entry = sets[name]
        _check_fields(what, entry, _DEB_SET_FIELDS)
        repos.append({"name": name, "debs": _debs(what, entry["arch"], entry["debs"])})
    return repos
