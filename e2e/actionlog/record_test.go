package actionlog

import "testing"

func TestParseLine(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		ok         bool
		want       Record
	}{
		{"serve JSON", `{"msg":"action done","input_ms":0.25,"cached":false,"exit_code":0}`, true,
			Record{"input_ms": "0.25", "cached": "false", "exit_code": "0"}},
		{"large number stays decimal", `{"msg":"action done","run_ms":12345678}`, true, Record{"run_ms": "12345678"}},
		{"serve-vm guest line", `{"msg":"guest","line":"time=2026-12-07T10:12:54Z level=INFO msg=\"action done\" input_ms=2.25 error=\"a b\""}`, true,
			Record{"input_ms": "2.25", "error": "a b", "msg": "action done"}},
		{"other guest line", `{"msg":"guest","line":"level=INFO msg=serving"}`, false, nil},
		{"other record", `{"msg":"serving"}`, false, nil},
		{"not JSON", `SeaBIOS`, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseLine(tc.line)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}
