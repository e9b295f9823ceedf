"""Public API of actiond's Starlark rules.

This file only re-exports; everything is implemented in rules/private/,
which is not a stable interface. The module extension lives in
rules/extensions.bzl so that this file also loads under WORKSPACE-only
Bazel versions.

Runtime images: glibc_deb_runtime (libc and shell runtimes from pinned
URLs, usually declared from runtimes_from_lock), deb_closure (the packages
a cmd/deb_lock lock file pins; with runtime_name, `:runtime` is the rootfs
runtime built from them, checked against the lock's architecture),
deb_runtime (a runtime of kind libc, shell or rootfs from any .debs) and
squashfs_image (packs runtimes at <kind>/<name>/<arch>, so a rootfs lands
at rootfs/<name>/<arch>). runtimes/README.md shows how to generate, commit
and wire up a lock.
"""

load("//rules/private:closure_lock.bzl", _closure_from_lock = "closure_from_lock")
load("//rules/private:codesigned_binary.bzl", _codesigned_binary = "codesigned_binary")
load("//rules/private:deb_closure.bzl", _deb_closure = "deb_closure")
load("//rules/private:deb_files.bzl", _deb_files = "deb_files")
load("//rules/private:deb_runtime.bzl", _deb_runtime = "deb_runtime")
load("//rules/private:glibc_deb_runtime.bzl", _glibc_deb_runtime = "glibc_deb_runtime")
load("//rules/private:initramfs.bzl", _initramfs = "initramfs")
load("//rules/private:kernel_image.bzl", _kernel_image = "kernel_image")
load("//rules/private:lock.bzl", _deb_sets_from_lock = "deb_sets_from_lock", _runtimes_from_lock = "runtimes_from_lock")
load("//rules/private:payload_sections.bzl", _payload_sections = "payload_sections")
load("//rules/private:providers.bzl", _RuntimeInfo = "RuntimeInfo", _SquashfsImageInfo = "SquashfsImageInfo")
load("//rules/private:squashfs_image.bzl", _squashfs_image = "squashfs_image")
load("//rules/private:standalone_binary.bzl", _standalone_binary = "standalone_binary")

closure_from_lock = _closure_from_lock
codesigned_binary = _codesigned_binary
deb_closure = _deb_closure
deb_files = _deb_files
deb_runtime = _deb_runtime
deb_sets_from_lock = _deb_sets_from_lock
glibc_deb_runtime = _glibc_deb_runtime
initramfs = _initramfs
kernel_image = _kernel_image
payload_sections = _payload_sections
runtimes_from_lock = _runtimes_from_lock
squashfs_image = _squashfs_image
standalone_binary = _standalone_binary
RuntimeInfo = _RuntimeInfo
SquashfsImageInfo = _SquashfsImageInfo
