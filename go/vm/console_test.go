package vm_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/actiond/actiond/go/vm"
)

func TestConsoleLinesAndTail(t *testing.T) {
	var logs bytes.Buffer
	c := vm.NewConsole(slog.New(slog.NewJSONHandler(&logs, nil)), "guest", 3)
	// Firmware screen control, CRLF line ends, a line split across writes
	// and a last line without a newline.
	for _, w := range []string{"\x1bc\x1b[?7l\x1b[2JSeaBIOS\r\n", "one\r\ntw", "o\n\n", "three\nfour", " and more"} {
		c.Write([]byte(w))
	}
	if got, want := c.Tail(), []string{"one", "two", "three"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Tail() before Close = %q, want %q", got, want)
	}
	c.Close()
	if got, want := c.Tail(), []string{"two", "three", "four and more"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Tail() = %q, want %q", got, want)
	}
	var lines []string
	for _, rec := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var r struct{ Msg, Line string }
		if err := json.Unmarshal([]byte(rec), &r); err != nil {
			t.Fatal(err)
		}
		if r.Msg != "guest" {
			t.Errorf("msg %q, want guest", r.Msg)
		}
		lines = append(lines, r.Line)
	}
	if want := []string{"SeaBIOS", "one", "two", "three", "four and more"}; !reflect.DeepEqual(lines, want) {
		t.Errorf("logged lines %q, want %q", lines, want)
	}
}
