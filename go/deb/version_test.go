package deb

import (
	"errors"
	"testing"
)

func TestCompareVersions(t *testing.T) {
	// Every expectation was checked with dpkg --compare-versions.
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "1.0-0", 0},
		{"1.0~rc1", "1.0", -1},
		{"1.0~~", "1.0~", -1},
		{"1.0~", "1.0", -1},
		{"1.0", "1.0+b1", -1},
		{"1:0.1", "2.0", 1},
		{"0:1.0", "1.0", 0},
		{"1.0a", "1.0", 1},
		{"1.0.1", "1.0a", 1},
		{"2.36-9+deb12u7", "2.36-9+deb12u14", -1},
		{"1.2.3-1", "1.2.3-1ubuntu1", -1},
		{"10", "9", 1},
		{"1.001", "1.1", 0},
		{"1.0-1", "1.0-1.1", -1},
		{"1.0+dfsg", "1.0", 1},
		{"1.0-a", "1.0-1", 1},
		{"12.2.0-14", "12.2.0-14+deb12u1", -1},
		{"1.0~rc1-1", "1.0-1", -1},
		{"a", "1", 1},
		{"1.0.a", "1.0a", 1},
		{"1:1.0-1", "1:1.0", 1},
		{"7.0", "7.0-0", 0},
	} {
		got, err := CompareVersions(tc.a, tc.b)
		if err != nil {
			t.Fatalf("CompareVersions(%q, %q): %v", tc.a, tc.b, err)
		}
		if got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if back, _ := CompareVersions(tc.b, tc.a); back != -tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.b, tc.a, back, -tc.want)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{in: "1:2.36-9+deb12u14", want: Version{1, "2.36", "9+deb12u14"}},
		{in: "1.2-3-4", want: Version{0, "1.2-3", "4"}},
		{in: "2:1.0:1-2", want: Version{2, "1.0:1", "2"}},
		{in: " 1.0 ", want: Version{0, "1.0", ""}},
		{in: "", wantErr: true},
		{in: "x:1.0", wantErr: true},
		{in: ":1.0", wantErr: true},
		{in: "1.0-", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "1.0 beta", wantErr: true},
		{in: "1_0", wantErr: true},
	} {
		got, err := ParseVersion(tc.in)
		if tc.wantErr {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseVersion(%q) = %v, %v; want ErrMalformed", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseVersion(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	if got := (Version{0, "1.0", "2"}).String(); got != "1.0-2" {
		t.Errorf("String() = %q", got)
	}
	if got := (Version{3, "1.0", ""}).String(); got != "3:1.0" {
		t.Errorf("String() = %q", got)
	}
}
