package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// config is the parsed command line.
type config struct {
	scans          []string
	outFile        string
	outDir         string
	outCount       int
	outName        string
	outBytes       int
	outExtraFile   string
	symlinks       []string
	symlinkTargets []string
	exerciseFS     bool
	checks         []check
	// burnMiB is how many MiB the action hashes to use CPU (a CPU-bound
	// action); sleepMs how long it waits (one that waits on I/O).
	burnMiB int
	sleepMs int
}

// parseFlags accepts "--flag value" and "--flag=value"; unknown flags are
// errors. It is hand-written because the flag package has no repeatable
// string flags paired in order and no "=" free boolean handling we want.
func parseFlags(args []string) (*config, error) {
	cfg := &config{outName: "generated-%d.txt"}
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(args[i], "=")
		if !strings.HasPrefix(name, "--") {
			return nil, fmt.Errorf("unexpected argument %q: every argument must be a --flag", args[i])
		}
		name = strings.TrimPrefix(name, "--")
		if c, ok := checksByName[name]; ok {
			if hasValue {
				return nil, fmt.Errorf("--%s takes no value", name)
			}
			cfg.checks = append(cfg.checks, check{name: name, run: c})
			continue
		}
		if name == "exercise-filesystem" {
			if hasValue {
				return nil, fmt.Errorf("--%s takes no value", name)
			}
			cfg.exerciseFS = true
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("--%s needs a value", name)
			}
			i++
			value = args[i]
		}
		var err error
		switch name {
		case "scan":
			cfg.scans = append(cfg.scans, value)
		case "out-file":
			cfg.outFile = value
		case "out-dir":
			cfg.outDir = value
		case "out-count":
			cfg.outCount, err = nonNegative(name, value)
		case "out-name":
			cfg.outName = value
		case "out-bytes":
			cfg.outBytes, err = nonNegative(name, value)
		case "out-extra-file":
			cfg.outExtraFile = value
		case "out-symlink":
			cfg.symlinks = append(cfg.symlinks, value)
		case "out-symlink-target":
			cfg.symlinkTargets = append(cfg.symlinkTargets, value)
		case "burn-mib":
			cfg.burnMiB, err = nonNegative(name, value)
		case "sleep-ms":
			cfg.sleepMs, err = nonNegative(name, value)
		default:
			return nil, fmt.Errorf("unknown flag --%s", name)
		}
		if err != nil {
			return nil, err
		}
	}
	return cfg, cfg.validate()
}

func (c *config) validate() error {
	if len(c.symlinks) != len(c.symlinkTargets) {
		return fmt.Errorf("got %d --out-symlink but %d --out-symlink-target; they pair up in order", len(c.symlinks), len(c.symlinkTargets))
	}
	if c.outCount > 0 && c.outDir == "" {
		return errors.New("--out-count needs --out-dir")
	}
	if c.outFile == "" && c.outDir == "" && c.outExtraFile == "" && len(c.symlinks) == 0 {
		return errors.New("no output requested: give --out-file, --out-dir, --out-extra-file or --out-symlink")
	}
	if n := fmt.Sprintf(c.outName, 7); strings.Count(c.outName, "%") != 1 || strings.Contains(n, "%!") || strings.Contains(n, "..") {
		return fmt.Errorf("--out-name %q must hold exactly one integer verb such as %%04d and no \"..\"", c.outName)
	}
	return nil
}

func nonNegative(name, value string) (int, error) {
	n, err := strconv.Atoi(value)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--%s: want a non-negative integer, got %q", name, value)
	}
	return n, nil
}
