package deb

import (
	"errors"
	"reflect"
	"testing"
)

func mustVersion(t *testing.T, s string) Version {
	t.Helper()
	v, err := ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseRelations(t *testing.T) {
	v := func(s string) Version { return mustVersion(t, s) }
	for _, tc := range []struct {
		in   string
		want []Alternatives
	}{
		{"", nil},
		{"libc6 (>= 2.34)", []Alternatives{{{Name: "libc6", Op: OpGreaterEq, Version: v("2.34")}}}},
		{"a, b | c (<< 1:2.0-1)", []Alternatives{
			{{Name: "a"}},
			{{Name: "b"}, {Name: "c", Op: OpLess, Version: v("1:2.0-1")}},
		}},
		{"a (<= 1), b (= 2), c (>> 3), d(>=4)", []Alternatives{
			{{Name: "a", Op: OpLessEq, Version: v("1")}},
			{{Name: "b", Op: OpEq, Version: v("2")}},
			{{Name: "c", Op: OpGreater, Version: v("3")}},
			{{Name: "d", Op: OpGreaterEq, Version: v("4")}},
		}},
		{"old (< 1), older (> 2)", []Alternatives{
			{{Name: "old", Op: OpLessEq, Version: v("1")}},
			{{Name: "older", Op: OpGreaterEq, Version: v("2")}},
		}},
		{"perl:any, python3:native (>= 3.11), libc6:arm64", []Alternatives{
			{{Name: "perl", ArchQual: "any"}},
			{{Name: "python3", ArchQual: "native", Op: OpGreaterEq, Version: v("3.11")}},
			{{Name: "libc6", ArchQual: "arm64"}},
		}},
		{"foo [amd64 arm64] <!nocheck>, bar (>= 1) [!i386] <!nocheck> <cross>", []Alternatives{
			{{Name: "foo", Arches: []string{"amd64", "arm64"}}},
			{{Name: "bar", Op: OpGreaterEq, Version: v("1"), Arches: []string{"!i386"}}},
		}},
		{"libgcc-s1 (>= 3.0),\n libc6\n (>= 2.36)", []Alternatives{
			{{Name: "libgcc-s1", Op: OpGreaterEq, Version: v("3.0")}},
			{{Name: "libc6", Op: OpGreaterEq, Version: v("2.36")}},
		}},
	} {
		got, err := ParseRelations(tc.in)
		if err != nil {
			t.Errorf("ParseRelations(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseRelations(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseRelationsErrors(t *testing.T) {
	for _, in := range []string{
		"a,,b",
		"a,",
		"a (>= 1",
		"a (1.0)",
		"a (>= )",
		"a (>= 1) (<< 2)",
		"a [amd64 !i386]",
		"a []",
		"a:",
		"(>= 1)",
		"a b",
		"a | ",
		"a_b",
	} {
		if got, err := ParseRelations(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseRelations(%q) = %+v, %v; want ErrMalformed", in, got, err)
		}
	}
}

func TestRelationSatisfiedByAndAppliesTo(t *testing.T) {
	for _, tc := range []struct {
		rel, version string
		want         bool
	}{
		{"a (>= 1.1)", "1.0", false},
		{"a (>= 1.1)", "1.1", true},
		{"a (>> 1.1)", "1.1", false},
		{"a (>> 1.1)", "1.1+b1", true},
		{"a (<< 1.1)", "1.1~rc1", true},
		{"a (<= 1.1)", "1.1-0", true},
		{"a (= 1:1.1)", "1.1", false},
		{"a", "0", true},
	} {
		r, err := ParseRelation(tc.rel)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.SatisfiedBy(mustVersion(t, tc.version)); got != tc.want {
			t.Errorf("%q satisfied by %s = %v, want %v", tc.rel, tc.version, got, tc.want)
		}
	}
	for _, tc := range []struct {
		rel, arch string
		want      bool
	}{
		{"a", "amd64", true},
		{"a [amd64]", "amd64", true},
		{"a [amd64]", "arm64", false},
		{"a [!amd64]", "amd64", false},
		{"a [!amd64 !i386]", "arm64", true},
		{"a [linux-any]", "arm64", true},
		{"a [any-arm64]", "arm64", true},
		{"a [!any-arm64]", "arm64", false},
	} {
		r, err := ParseRelation(tc.rel)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppliesTo(tc.arch); got != tc.want {
			t.Errorf("%q applies to %s = %v, want %v", tc.rel, tc.arch, got, tc.want)
		}
	}
}
