package initproc

import (
	"encoding/binary"
	"errors"
)

// The config and reports use a tiny length-prefixed encoding instead of
// encoding/json: the init decodes its config on every action's critical
// path, and decoding JSON by reflection would be a sizeable part of the
// sandbox overhead.

var errTruncated = errors.New("truncated message")

type encoder struct{ b []byte }

func (e *encoder) int(v int64) { e.b = binary.AppendVarint(e.b, v) }

func (e *encoder) bool(v bool) {
	if v {
		e.int(1)
	} else {
		e.int(0)
	}
}

func (e *encoder) str(s string) {
	e.int(int64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) strs(ss []string) {
	e.int(int64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bool() bool { return d.int() != 0 }

func (d *decoder) str() string {
	n := d.int()
	if d.err != nil {
		return ""
	}
	if n < 0 || n > int64(len(d.b)) {
		d.err = errTruncated
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strs() []string {
	n := d.int()
	if d.err != nil || n < 0 || n > int64(len(d.b)) {
		d.err = errTruncated
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (c *Config) Marshal() []byte {
	var e encoder
	e.str(c.Root)
	e.strs(c.Args)
	e.strs(c.Env)
	e.str(c.Dir)
	e.int(int64(c.UID))
	e.int(int64(c.GID))
	e.bool(c.Rootless)
	e.str(c.Stdout)
	e.str(c.Stderr)
	e.int(int64(len(c.Mounts)))
	for _, m := range c.Mounts {
		e.int(int64(m.Kind))
		e.str(m.Source)
		e.str(m.Target)
		e.bool(m.ReadOnly)
		e.strs(m.Lower)
		e.str(m.Upper)
		e.str(m.Work)
		e.bool(m.LockInputs)
	}
	return e.b
}

func (c *Config) unmarshal(b []byte) error {
	d := decoder{b: b}
	c.Root = d.str()
	c.Args = d.strs()
	c.Env = d.strs()
	c.Dir = d.str()
	c.UID = int(d.int())
	c.GID = int(d.int())
	c.Rootless = d.bool()
	c.Stdout = d.str()
	c.Stderr = d.str()
	n := d.int()
	if d.err == nil && (n < 0 || n > int64(len(d.b))) {
		d.err = errTruncated
	}
	for i := int64(0); d.err == nil && i < n; i++ {
		var m Mount
		m.Kind = MountKind(d.int())
		m.Source = d.str()
		m.Target = d.str()
		m.ReadOnly = d.bool()
		m.Lower = d.strs()
		m.Upper = d.str()
		m.Work = d.str()
		m.LockInputs = d.bool()
		c.Mounts = append(c.Mounts, m)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("trailing bytes")
	}
	return d.err
}

func (r *Report) appendTo(b []byte) []byte {
	e := encoder{b: b}
	e.str(r.Kind)
	e.str(r.Error)
	e.int(r.Mono)
	e.int(r.Forked)
	e.int(r.Configured)
	e.int(r.Mounted)
	e.int(int64(r.ExitCode))
	e.int(int64(r.Signal))
	return e.b
}

// ParseReports decodes the report stream; a torn last report (the init was
// killed while writing it) is an error.
func ParseReports(b []byte) ([]Report, error) {
	var out []Report
	d := decoder{b: b}
	for len(d.b) > 0 && d.err == nil {
		r := Report{Kind: d.str(), Error: d.str(), Mono: d.int(), Forked: d.int(), Configured: d.int(), Mounted: d.int(), ExitCode: int(d.int()), Signal: int(d.int())}
		if d.err == nil {
			out = append(out, r)
		}
	}
	return out, d.err
}
