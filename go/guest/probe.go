package guest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// probeCandidates are the device names tried first, in order, as the
// reference design does: virtio-blk, then SCSI/SATA, then NVMe.
var probeCandidates = []string{"vda", "vdb", "vdc", "vdd", "sda", "sdb", "nvme0n1"}

// Disks are the devices the guest mounts.
type Disks struct {
	CAS string
	// Runtime is empty when no SquashFS disk was found and none was given.
	Runtime string
}

// Probe finds the disks the command line did not name. It looks at
// devDir/<name> for the names above, then for every entry of sysBlock
// (/sys/block) that is not a loop, RAM or optical device. The runtime disk
// is the first one holding SquashFS ("hsqs" at offset 0), the CAS disk the
// first one that does not. Given devices are used as they are.
func Probe(devDir, sysBlock string, given Disks) (Disks, error) {
	out := given
	if out.CAS != "" && out.Runtime != "" {
		return out, nil
	}
	names := slices.Clone(probeCandidates)
	if entries, err := os.ReadDir(sysBlock); err == nil {
		for _, e := range entries {
			n := e.Name()
			if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "zram") || strings.HasPrefix(n, "sr") {
				continue
			}
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	for _, n := range names {
		dev := filepath.Join(devDir, n)
		if dev == given.CAS || dev == given.Runtime {
			continue
		}
		squash, err := isSquashFS(dev)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return Disks{}, fmt.Errorf("probing %s: %w", dev, err)
		}
		switch {
		case squash && out.Runtime == "":
			out.Runtime = dev
		case !squash && out.CAS == "":
			out.CAS = dev
		}
	}
	if out.CAS == "" {
		return Disks{}, fmt.Errorf("no CAS disk found (tried %s/{%s} and %s): give %s=", devDir, strings.Join(names, ","), sysBlock, keyCASDevice)
	}
	return out, nil
}

// isSquashFS reports whether the device starts with the SquashFS magic.
func isSquashFS(dev string) (bool, error) {
	f, err := os.Open(dev)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		return false, err
	}
	return string(magic[:]) == "hsqs", nil
}
