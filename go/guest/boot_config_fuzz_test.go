package guest_test

import (
	"path"
	"strconv"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/guest"
)

// cmdline writes cfg back as the actiond.* words of a kernel command line.
func cmdline(cfg guest.BootConfig) string {
	words := []string{"actiond.channel=" + cfg.Channel.String(), "actiond.log_level=" + cfg.LogLevel.String()}
	if cfg.CASDevice != "" {
		words = append(words, "actiond.cas_device="+cfg.CASDevice)
	}
	if cfg.RuntimeDevice != "" {
		words = append(words, "actiond.runtime_device="+cfg.RuntimeDevice)
	}
	if cfg.FormatCAS {
		words = append(words, "actiond.format_cas=1")
	}
	if cfg.Jobs != 0 {
		words = append(words, "actiond.jobs="+strconv.Itoa(cfg.Jobs))
	}
	return strings.Join(words, " ")
}

// FuzzParseCmdline parses kernel command lines as the guest's /init does
// with /proc/cmdline, which the host (or whoever edits a boot entry)
// controls. An accepted line must name a usable channel, clean device
// paths under /dev that differ, a job count that is not negative, and
// must parse again to the same config when written back; the words that
// are not actiond.* must not matter.
func FuzzParseCmdline(f *testing.F) {
	for _, s := range []string{
		"console=ttyS0 actiond.channel=virtio-serial:actiond",
		"actiond.cas_device=/dev/vda actiond.runtime_device=/dev/vdb actiond.channel=vsock:5001 actiond.format_cas=1 actiond.log_level=debug actiond.jobs=8 quiet\n",
		"actiond.channel=vsock:4294967295",
		"actiond.channel=virtio-serial:a/b actiond.jobs=0",
		"actiond.cas_device=/dev/../etc/passwd actiond.channel=vsock:1",
		"actiond.cas_device=/dev/vda actiond.runtime_device=/dev/vda actiond.channel=vsock:1",
		"actiond.log_level=warn+2 actiond.jobs=+3 actiond.channel=virtio-serial:x.y_z-1",
		"actiond.format_cas actiond.channel=vsock:2",
		"actiond.channel=vsock:2 actiond.channel=vsock:3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cfg, err := guest.ParseCmdline(line)
		// Only actiond.* words count.
		var own []string
		for _, w := range strings.Fields(line) {
			if strings.HasPrefix(w, "actiond.") {
				own = append(own, w)
			}
		}
		cfg2, err2 := guest.ParseCmdline("console=ttyS0 " + strings.Join(own, "\t") + " init=/init")
		if (err == nil) != (err2 == nil) || cfg != cfg2 {
			t.Fatalf("ParseCmdline(%q) = %+v, %v; with only its actiond.* words: %+v, %v", line, cfg, err, cfg2, err2)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ParseCmdline(%q): empty error", line)
			}
			return
		}
		switch c := cfg.Channel; c.Kind {
		case guest.VirtioSerial:
			if c.Name == "" || strings.Trim(c.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" || c.Port != 0 {
				t.Fatalf("ParseCmdline(%q): channel %+v", line, c)
			}
		case guest.Vsock:
			if c.Port == 0 || c.Port == 1<<32-1 || c.Name != "" {
				t.Fatalf("ParseCmdline(%q): channel %+v", line, c)
			}
		default:
			t.Fatalf("ParseCmdline(%q): channel kind %q", line, c.Kind)
		}
		for _, dev := range []string{cfg.CASDevice, cfg.RuntimeDevice} {
			if dev != "" && (!strings.HasPrefix(dev, "/dev/") || path.Clean(dev) != dev || strings.Contains(dev, "..")) {
				t.Fatalf("ParseCmdline(%q): device %q is not a clean path under /dev", line, dev)
			}
		}
		if cfg.CASDevice != "" && cfg.CASDevice == cfg.RuntimeDevice {
			t.Fatalf("ParseCmdline(%q): one device %q for the CAS and the runtimes", line, cfg.CASDevice)
		}
		if cfg.Jobs < 0 {
			t.Fatalf("ParseCmdline(%q): %d jobs", line, cfg.Jobs)
		}
		back := cmdline(cfg)
		if again, err := guest.ParseCmdline(back); err != nil || again != cfg {
			t.Fatalf("ParseCmdline(%q) = %+v, written back as %q it parses to %+v, %v", line, cfg, back, again, err)
		}
	})
}
