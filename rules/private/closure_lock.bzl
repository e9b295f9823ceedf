"""Reads a package closure lock: the JSON file cmd/deb_lock writes.

The format is go/deb's Lock (go/deb/lock.go, runtimes/README.md):

    {"version": 1, "arch": "amd64", "suites": ["bookworm"], "roots": ["bash"],
     "include_essential": true,
     "packages": [{"name": "bash", "version": "5.2.15-2+b13", "arch": "amd64",
        "suite": "bookworm", "archive": "http://deb.debian.org/debian",
        "filename": "pool/main/b/bash/bash_5.2.15-2+b13_amd64.deb",
        "size": 1490652, "sha256": "..."}],
     "excluded": []}

The checks are go/deb's Lock.Validate, so a lock that `deb_lock fetch`
accepts is accepted here and the other way round, plus the architecture the
runtime is built for. Plain Starlark with no repository context, so that
errors can be tested without downloading.
"""

load(":deb_runtime.bzl", "ARCHS")

CLOSURE_LOCK_VERSION = 1

# Debian architecture of each runtime arch.
DEB_ARCHS = {"x86_64": "amd64", "aarch64": "arm64"}

_FIELDS = ["version", "arch", "suites", "roots", "include_essential", "packages", "excluded"]
_PACKAGE_FIELDS = ["name", "version", "arch", "suite", "archive", "filename", "size", "sha256"]
_PACKAGE_OPTIONAL = ["suite", "archive"]

def _is_sha256(s):
    return type(s) == "string" and len(s) == 64 and not s.strip("0123456789abcdef")

def _is_clean_relative(p):
    if type(p) != "string" or not p:
        return False
    for part in p.split("/"):
        if part in ["", ".", ".."]:
            return False
    return True

def closure_from_lock(content, lock_name, arch, archive = ""):
    """Returns the packages a closure lock pins, checked for arch.

    Args:
      content: the lock file's text.
      lock_name: the lock file as errors name it, such as its label.
      arch: the runtime's architecture, "x86_64" or "aarch64"; the lock's
        Debian architecture must be the matching one.
      archive: archive root URL for packages whose lock entry names none
        (a lock resolved against an index given on deb_lock's command line),
        like `deb_lock fetch --archive`.

    Returns:
      A list of dicts, sorted by file name (the order of DEBDIR/*.deb in the
      C locale): name, version and arch (Debian's) of the package, url
      (archive + "/" + filename), file (the filename's last component) and
      sha256.
    """
    if arch not in ARCHS:
        fail("%s: runtime arch %r is not one of %s" % (lock_name, arch, ARCHS))
    lock = json.decode(content)
    if type(lock) != "dict":
        fail("%s: want a JSON object" % lock_name)

    # The version first: a newer format may have fields this code does not know.
    if lock.get("version") != CLOSURE_LOCK_VERSION:
        fail("%s: lock version %r, want %d (a lock of another cmd/deb_lock version? regenerate it)" % (lock_name, lock.get("version"), CLOSURE_LOCK_VERSION))
    for key in lock:
        if key not in _FIELDS:
            fail("%s: unknown field %r (want %s)" % (lock_name, key, ", ".join(_FIELDS)))
    for key in ["arch", "packages"]:
        if key not in lock:
            fail("%s: missing field %r" % (lock_name, key))
    if lock["arch"] != DEB_ARCHS[arch]:
        fail("%s: the lock is for Debian arch %r, but the runtime is %s, which needs %s packages (resolve with deb_lock --arch %s)" % (
            lock_name,
            lock["arch"],
            arch,
            DEB_ARCHS[arch],
            DEB_ARCHS[arch],
        ))
    if type(lock["packages"]) != "list" or not lock["packages"]:
        fail("%s: \"packages\" must be a non-empty list" % lock_name)

    by_file = {}
    for i, p in enumerate(lock["packages"]):
        what = "%s: package %d" % (lock_name, i + 1)
        if type(p) != "dict":
            fail("%s: want an object" % what)
        for key in p:
            if key not in _PACKAGE_FIELDS:
                fail("%s: unknown field %r (want %s)" % (what, key, ", ".join(_PACKAGE_FIELDS)))
        for key in _PACKAGE_FIELDS:
            if key not in p and key not in _PACKAGE_OPTIONAL:
                fail("%s: missing field %r" % (what, key))
        for key in ["name", "version", "arch"]:
            if type(p[key]) != "string" or not p[key]:
                fail("%s: %r must be a non-empty string" % (what, key))
        what = "%s (%s %s %s)" % (what, p["name"], p["version"], p["arch"])
        if p["arch"] not in [lock["arch"], "all"]:
            fail("%s: arch %r is neither the lock's %r nor \"all\"" % (what, p["arch"], lock["arch"]))
        if type(p["size"]) != "int" or p["size"] <= 0:
            fail("%s: size %r is not a positive integer" % (what, p["size"]))
        if not _is_sha256(p["sha256"]):
            fail("%s: sha256 %r is not 64 lower-case hex digits" % (what, p["sha256"]))
        filename = p["filename"]
        if not _is_clean_relative(filename) or not filename.endswith(".deb"):
            fail("%s: filename %r is not a clean relative path to a .deb" % (what, filename))
        file = filename.rsplit("/", 1)[-1]
        if file in by_file:
            fail("%s: file name %s is also %s's" % (what, file, by_file[file]["name"]))
        root = p.get("archive", "") or archive
        if not root:
            fail("%s: the lock names no archive and none was given (the archive attribute)" % what)
        if type(root) != "string":
            fail("%s: archive %r is not a string" % (what, root))
        by_file[file] = {
            "name": p["name"],
            "version": p["version"],
            "arch": p["arch"],
            "url": root.rstrip("/") + "/" + filename,
            "file": file,
            "sha256": p["sha256"],
        }
    return [by_file[f] for f in sorted(by_file.keys())]
