"""Providers of the runtime image rules."""

RuntimeInfo = provider(
    doc = "A runtime built from .deb files by cmd/deb_runtime.",
    fields = {
        "name": "Runtime name, such as \"glibc2.35\", \"bash\" or \"gcc12\".",
        "kind": "\"libc\", \"shell\" or \"rootfs\".",
        "arch": "\"x86_64\" or \"aarch64\".",
        "tar": "File: the runtime as a tar archive of root/ and runtime_manifest.json.",
        "debs": "List of the .deb Files the runtime was built from.",
    },
)

SquashfsImageInfo = provider(
    doc = "A runtime SquashFS image built by squashfs_image.",
    fields = {
        "image": "The image File.",
        "image_paths": "Sorted list of the image paths mapped into the image, such as \"libc/glibc2.35/x86_64\".",
    },
)
