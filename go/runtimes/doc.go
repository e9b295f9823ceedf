// Package runtimes is the executor's view of runtime images: read-only
// SquashFS images holding the shared libraries, shells and whole root file
// systems that actions may ask for through exec properties (libc=glibc2.36,
// requires-bash, runtime=gcc12).
//
// An image has this layout (see runtimes/README.md for the manifest format):
//
//	common/root/etc/{hosts,nsswitch.conf,passwd,group}  always mounted at /etc
//	libc/<name>/<arch>/runtime_manifest.json   one per libc runtime
//	libc/<name>/<arch>/root/...
//	shell/bash/<arch>/runtime_manifest.json    the static bash
//	shell/bash/<arch>/root/...
//	rootfs/<name>/<arch>/runtime_manifest.json one per rootfs runtime
//	rootfs/<name>/<arch>/root/...              its whole / but dev, proc, tmp, etc
//
// Open scans an unpacked or mounted image for the host architecture and
// returns a Catalog; Catalog.Mounts turns an action's properties into bind
// mounts. MountImage loop-mounts an image (as root); UnpackImage unpacks it
// with squashfs.Reader for rootless use.
package runtimes
