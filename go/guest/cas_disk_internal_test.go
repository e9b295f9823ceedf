package guest

import (
	"strings"
	"testing"
)

func TestCASPlan(t *testing.T) {
	tests := []struct {
		fs          Filesystem
		format      bool
		wantFormat  bool
		wantErrPart string
	}{
		{fs: Ext, format: false},
		{fs: Ext, format: true}, // never reformatted
		{fs: Empty, format: true, wantFormat: true},
		{fs: Empty, format: false, wantErrPart: "is empty and actiond.format_cas=1 was not given"},
		{fs: XFS, format: true, wantErrPart: "holds a xfs filesystem that is not ext4; actiond never reformats a disk: give it an empty image or an ext4 one"},
		{fs: SquashFS, format: true, wantErrPart: "holds a squashfs filesystem that is not ext4"},
		{fs: GPT, format: true, wantErrPart: "holds a gpt partition table filesystem"},
		{fs: Unknown, format: true, wantErrPart: "holds data with no file system signature; actiond never reformats a disk"},
	}
	for _, tt := range tests {
		name := string(tt.fs)
		if tt.fs == Empty {
			name = "empty"
		}
		name = strings.ReplaceAll(name, "/", "") + "_format=" + map[bool]string{true: "1", false: "0"}[tt.format]
		t.Run(name, func(t *testing.T) {
			got, err := casPlan("/dev/vda", tt.fs, tt.format)
			if tt.wantErrPart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrPart) {
					t.Fatalf("casPlan = %v, %v; want an error containing %q", got, err, tt.wantErrPart)
				}
				return
			}
			if err != nil || got != tt.wantFormat {
				t.Fatalf("casPlan = %v, %v; want %v, nil", got, err, tt.wantFormat)
			}
		})
	}
}
