package guest

import (
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"
)

// BootConfig is what the host tells the guest on the kernel command line.
type BootConfig struct {
	// CASDevice and RuntimeDevice are block devices (/dev/...); empty means
	// probe (see Probe).
	CASDevice     string
	RuntimeDevice string
	// Channel is how the host reaches the daemon.
	Channel Channel
	// FormatCAS allows formatting the CAS disk when it is empty. A disk
	// that holds anything is never formatted, whatever this says.
	FormatCAS bool
	// LogLevel is the daemon's log level.
	LogLevel slog.Level
	// Jobs is how many actions run at once; 0 means one per CPU.
	Jobs int
}

// Kernel command line keys read by the guest. Every other actiond.* key is
// an error (a typo must not be ignored); keys outside actiond.* belong to
// the kernel and are left alone.
const (
	keyCASDevice     = "actiond.cas_device"
	keyRuntimeDevice = "actiond.runtime_device"
	keyChannel       = "actiond.channel"
	keyFormatCAS     = "actiond.format_cas"
	keyLogLevel      = "actiond.log_level"
	keyJobs          = "actiond.jobs"
)

// ParseCmdline reads the actiond.* parameters of a kernel command line (the
// text of /proc/cmdline). actiond.channel is required.
func ParseCmdline(cmdline string) (BootConfig, error) {
	cfg := BootConfig{LogLevel: slog.LevelInfo}
	seen := map[string]bool{}
	for _, word := range strings.Fields(cmdline) {
		if !strings.HasPrefix(word, "actiond.") {
			continue
		}
		key, value, ok := strings.Cut(word, "=")
		if !ok {
			return BootConfig{}, fmt.Errorf("%s has no value: write %s=VALUE", key, key)
		}
		if seen[key] {
			return BootConfig{}, fmt.Errorf("%s is given twice", key)
		}
		seen[key] = true
		var err error
		switch key {
		case keyCASDevice:
			cfg.CASDevice, err = parseDevice(key, value)
		case keyRuntimeDevice:
			cfg.RuntimeDevice, err = parseDevice(key, value)
		case keyChannel:
			cfg.Channel, err = ParseChannel(value)
			if err != nil {
				err = fmt.Errorf("%s=%q: %w", key, value, err)
			}
		case keyFormatCAS:
			switch value {
			case "1":
				cfg.FormatCAS = true
			case "0":
			default:
				err = fmt.Errorf("%s=%q: want 1 or 0", key, value)
			}
		case keyLogLevel:
			if uerr := cfg.LogLevel.UnmarshalText([]byte(value)); uerr != nil {
				err = fmt.Errorf("%s=%q: want debug, info, warn or error", key, value)
			}
		case keyJobs:
			n, perr := strconv.Atoi(value)
			if perr != nil || n < 1 {
				err = fmt.Errorf("%s=%q: want a positive number", key, value)
			}
			cfg.Jobs = n
		default:
			err = fmt.Errorf("unknown parameter %s (known: %s, %s, %s, %s, %s, %s)", key,
				keyCASDevice, keyRuntimeDevice, keyChannel, keyFormatCAS, keyLogLevel, keyJobs)
		}
		if err != nil {
			return BootConfig{}, err
		}
	}
	if !seen[keyChannel] {
		return BootConfig{}, fmt.Errorf("%s is missing: the host must give virtio-serial:NAME or vsock:PORT", keyChannel)
	}
	if cfg.CASDevice != "" && cfg.CASDevice == cfg.RuntimeDevice {
		return BootConfig{}, fmt.Errorf("%s and %s are both %s", keyCASDevice, keyRuntimeDevice, cfg.CASDevice)
	}
	return cfg, nil
}

// parseDevice accepts a clean absolute path under /dev.
func parseDevice(key, value string) (string, error) {
	if !strings.HasPrefix(value, "/dev/") || path.Clean(value) != value || strings.Contains(value, "..") {
		return "", fmt.Errorf("%s=%q: want a device path such as /dev/vda", key, value)
	}
	return value, nil
}
