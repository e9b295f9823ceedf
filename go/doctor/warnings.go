package doctor

import (
	"context"
	"log/slog"
	"sync"
)

// warnings is a slog.Handler keeping the attributes of the warnings logged
// by what the checks set up: the sandbox runner says there why limits are
// not enforced ("error", or "cgroup" and "missing_controllers").
type warnings struct {
	mu    sync.Mutex
	attrs map[string]string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.attrs == nil {
		w.attrs = map[string]string{}
	}
	r.Attrs(func(a slog.Attr) bool {
		w.attrs[a.Key] = a.Value.String()
		return true
	})
	return nil
}

// WithAttrs and WithGroup drop what they are given: the checks' loggers
// use neither.
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

// attr is the last value logged for key, or "".
func (w *warnings) attr(key string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.attrs[key]
}
