package vm

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// maxLineBytes bounds a console line; a longer run without a newline is
// cut into lines of this size.
const maxLineBytes = 4096

// Console turns a console byte stream into log records, one per line, and
// keeps the last lines for error reports (a guest that dies or never
// answers is explained by what it printed last). It is safe for concurrent
// use.
type Console struct {
	logger *slog.Logger
	msg    string
	keep   int

	mu      sync.Mutex
	partial []byte
	escape  bool // inside an ANSI escape sequence
	lines   []string
}

// NewConsole logs each line as a record with message msg and the line in
// the "line" attribute, and keeps the last keep lines.
func NewConsole(logger *slog.Logger, msg string, keep int) *Console {
	return &Console{logger: logger, msg: msg, keep: keep}
}

// Write logs the complete lines in p and buffers the rest. Terminal control
// (firmware screen clears, colours, carriage returns) is dropped.
func (c *Console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range p {
		switch {
		case c.escape:
			// CSI sequences end with a letter; "ESC c" and the like are
			// one letter long.
			if b >= 0x40 && b <= 0x7e && b != '[' {
				c.escape = false
			}
		case b == 0x1b:
			c.escape = true
		case b == '\n':
			c.flush()
		case b == '\t' || b >= 0x20 && b != 0x7f:
			c.partial = append(c.partial, b)
			if len(c.partial) >= maxLineBytes {
				c.flush()
			}
		}
	}
	return len(p), nil
}

// Close logs a final line left without a newline (a panic message is often
// one).
func (c *Console) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flush()
	return nil
}

func (c *Console) flush() {
	line := strings.TrimRight(string(c.partial), " \t")
	c.partial = c.partial[:0]
	if line == "" {
		return
	}
	c.logger.LogAttrs(context.Background(), slog.LevelInfo, c.msg, slog.String("line", line))
	if c.keep <= 0 {
		return
	}
	if len(c.lines) == c.keep {
		copy(c.lines, c.lines[1:])
		c.lines = c.lines[:c.keep-1]
	}
	c.lines = append(c.lines, line)
}

// Tail returns the last lines, oldest first.
func (c *Console) Tail() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// FormatTail renders lines for an error message, or says there were none.
func FormatTail(what string, lines []string) string {
	if len(lines) == 0 {
		return what + " printed nothing"
	}
	return what + "'s last lines:\n  " + strings.Join(lines, "\n  ")
}
