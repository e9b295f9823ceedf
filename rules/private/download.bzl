"""Downloading pinned .deb files in a repository rule."""

def _basename(url):
    # Debian's pool names carry "+", which apt writes as "%2b" in URLs.
    return url.rsplit("/", 1)[-1].replace("%2b", "+").replace("%2B", "+")

def download_debs(rctx, what, debs):
    """Downloads each .deb of debs into the repository's root, checking its sha256.

    Args:
      rctx: the repository context.
      what: the repository as errors name it.
      debs: dict of .deb URL to its lowercase hex sha256.

    Returns:
      The file names, in the order of debs.
    """
    if not debs:
        fail("%s: debs is empty; give at least one {url: sha256}" % what)
    files = []
    for url, sha256 in debs.items():
        name = _basename(url)
        if not name.endswith(".deb"):
            fail("%s: %s does not name a .deb file" % (what, url))
        if name in files:
            fail("%s: two URLs end in %s" % (what, name))
        if len(sha256) != 64 or sha256.lower() != sha256:
            fail("%s: sha256 %r of %s is not 64 lowercase hex digits" % (what, sha256, url))

        # Download with the pin first, so the repository cache applies. On
        # failure, fetch once more without it to tell a moved archive from a
        # wrong pin and name the URL either way.
        result = rctx.download(url = url, output = name, sha256 = sha256, allow_fail = True)
        if not result.success:
            unpinned = rctx.download(url = url, output = name, allow_fail = True)
            if unpinned.success:
                fail("%s: sha256 mismatch for %s: downloaded %s, pinned %s" % (what, url, unpinned.sha256, sha256))
            fail("%s: could not download %s" % (what, url))
        files.append(name)
    return files
