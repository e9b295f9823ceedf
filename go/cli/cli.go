// Package cli holds what actiond's binaries share on their command line:
// the version line, the default state directory and the logger the log
// flags describe.
package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
)

// Version is the version of every actiond binary.
const Version = "0.1.0"

// VersionLine names the binary, its version, the commit it was built from
// (when the build recorded it), the Go release and the platform.
func VersionLine(binary string) string {
	rev := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("%s %s (commit %s, %s, %s/%s)", binary, Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// DefaultRoot is $XDG_CACHE_HOME/actiond, else ~/.cache/actiond, else ""
// (no home: the caller then requires --root).
func DefaultRoot() string {
	if dir := os.Getenv("XDG_CACHE_HOME"); dir != "" {
		return filepath.Join(dir, "actiond")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "actiond")
	}
	return ""
}

// NewLogger builds the logger of --log-level (debug, info, warn, error)
// and --log-format (auto, json, text) writing to w; auto is text when w is
// a terminal, for a person, and JSON otherwise, for programs.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	format = LogFormat(format, w)
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want auto, json or text", format)
}

// LogFormat resolves --log-format: auto becomes text when w is a terminal
// and json otherwise; other values are returned as they are.
func LogFormat(format string, w io.Writer) string {
	if format != "auto" {
		return format
	}
	if f, ok := w.(*os.File); ok && Terminal(f) != nil {
		return "text"
	}
	return "json"
}
