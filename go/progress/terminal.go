package progress

import (
	"io"
	"os"
)

// Terminal returns w when it is a terminal (an *os.File on a character
// device), else nil, so that progress lines reach a person and never a log
// file or a pipe.
func Terminal(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return f
}
