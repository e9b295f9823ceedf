package progress_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/actiond/actiond/go/progress"
)

// openPTY opens a pseudo-terminal pair: the side a program writes to
// (tty) and the side a terminal emulator reads (ptmx).
func openPTY(t *testing.T) (ptmx, tty *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("opening /dev/pts/%d: %v", n, err)
	}
	t.Cleanup(func() { tty.Close() })
	return ptmx, tty
}

func TestTerminal(t *testing.T) {
	ptmx, tty := openPTY(t)
	if progress.Terminal(tty) == nil {
		t.Fatalf("Terminal(%s) = nil, want the pty", tty.Name())
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, f := range []*os.File{w, file} {
		if got := progress.Terminal(f); got != nil {
			t.Errorf("Terminal(%s) = %v, want nil", f.Name(), got)
		}
	}

	// What a Reporter on the pty prints reaches the terminal.
	rep := progress.New(progress.Terminal(tty), progress.Options{Label: "unpacking the runtime image", Items: 3, Noun: "entries"})
	rep.AddItems(3)
	rep.Finish(nil)
	line, err := bufio.NewReader(ptmx).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if want := "unpacking the runtime image: done in "; !strings.Contains(line, want) || !strings.Contains(line, "(3 entries)") {
		t.Errorf("the terminal got %q, want %q... (3 entries)", line, want)
	}
}
