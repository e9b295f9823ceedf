package guest_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/guest"
)

func TestParseCmdline(t *testing.T) {
	const channel = " actiond.channel=virtio-serial:actiond"
	tests := []struct {
		name    string
		cmdline string
		want    guest.BootConfig
		wantErr string
	}{
		{
			name:    "everything",
			cmdline: "console=ttyS0 panic=-1 actiond.cas_device=/dev/vda actiond.runtime_device=/dev/vdb actiond.channel=virtio-serial:actiond actiond.format_cas=1 actiond.log_level=debug actiond.jobs=8 quiet\n",
			want: guest.BootConfig{CASDevice: "/dev/vda", RuntimeDevice: "/dev/vdb", FormatCAS: true, LogLevel: slog.LevelDebug, Jobs: 8,
				Channel: guest.Channel{Kind: guest.VirtioSerial, Name: "actiond"}},
		},
		{
			name:    "vsock and defaults",
			cmdline: "init=/init actiond.channel=vsock:5001",
			want:    guest.BootConfig{LogLevel: slog.LevelInfo, Channel: guest.Channel{Kind: guest.Vsock, Port: 5001}},
		},
		{
			name:    "format off and other kernel args tolerated",
			cmdline: `root=/dev/ram0 foo="a b" actiond=1 actiondx.y=2 actiond.format_cas=0` + channel,
			want:    guest.BootConfig{LogLevel: slog.LevelInfo, Channel: guest.Channel{Kind: guest.VirtioSerial, Name: "actiond"}},
		},
		{name: "zero jobs", cmdline: "actiond.jobs=0" + channel, wantErr: "actiond.jobs=\"0\": want a positive number"},
		{name: "jobs not a number", cmdline: "actiond.jobs=many" + channel, wantErr: "want a positive number"},
		{name: "missing channel", cmdline: "console=ttyS0", wantErr: "actiond.channel is missing"},
		{name: "channel without kind", cmdline: "actiond.channel=actiond", wantErr: "want virtio-serial:NAME or vsock:PORT"},
		{name: "unknown channel kind", cmdline: "actiond.channel=tcp:80", wantErr: `channel kind "tcp"`},
		{name: "empty port name", cmdline: "actiond.channel=virtio-serial:", wantErr: "virtio-serial port name"},
		{name: "bad port name", cmdline: "actiond.channel=virtio-serial:a/b", wantErr: "virtio-serial port name"},
		{name: "vsock port not a number", cmdline: "actiond.channel=vsock:x", wantErr: "vsock port"},
		{name: "vsock port zero", cmdline: "actiond.channel=vsock:0", wantErr: "vsock port"},
		{name: "vsock port any", cmdline: "actiond.channel=vsock:4294967295", wantErr: "vsock port"},
		{name: "vsock port too large", cmdline: "actiond.channel=vsock:4294967296", wantErr: "vsock port"},
		{name: "device not in dev", cmdline: "actiond.cas_device=vda" + channel, wantErr: "want a device path"},
		{name: "device escaping dev", cmdline: "actiond.cas_device=/dev/../etc/passwd" + channel, wantErr: "want a device path"},
		{name: "runtime device empty", cmdline: "actiond.runtime_device=" + channel, wantErr: "want a device path"},
		{name: "same device twice", cmdline: "actiond.cas_device=/dev/vda actiond.runtime_device=/dev/vda" + channel, wantErr: "are both /dev/vda"},
		{name: "format not 0 or 1", cmdline: "actiond.format_cas=yes" + channel, wantErr: "want 1 or 0"},
		{name: "format without value", cmdline: "actiond.format_cas" + channel, wantErr: "has no value"},
		{name: "bad log level", cmdline: "actiond.log_level=loud" + channel, wantErr: "want debug, info, warn or error"},
		{name: "unknown key", cmdline: "actiond.cas_devic=/dev/vda" + channel, wantErr: "unknown parameter actiond.cas_devic"},
		{name: "duplicate key", cmdline: "actiond.format_cas=1 actiond.format_cas=1" + channel, wantErr: "given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := guest.ParseCmdline(tt.cmdline)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCmdline(%q) = %+v, %v; want an error containing %q", tt.cmdline, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCmdline(%q): %v", tt.cmdline, err)
			}
			if got != tt.want {
				t.Errorf("ParseCmdline(%q) = %+v, want %+v", tt.cmdline, got, tt.want)
			}
		})
	}
}

func TestChannelStringRoundTrip(t *testing.T) {
	for _, s := range []string{"virtio-serial:actiond", "vsock:5001"} {
		c, err := guest.ParseChannel(s)
		if err != nil {
			t.Fatalf("ParseChannel(%q): %v", s, err)
		}
		if got := c.String(); got != s {
			t.Errorf("ParseChannel(%q).String() = %q", s, got)
		}
	}
}
