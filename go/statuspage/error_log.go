package statuspage

import (
	"fmt"
	"log/slog"
)

// slogErrorLog passes promhttp's errors to the daemon's log.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) {
	l.log.Warn("serving metrics", "error", fmt.Sprint(v...))
}
