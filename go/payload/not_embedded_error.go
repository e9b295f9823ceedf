package payload

import "fmt"

// NotEmbeddedError is returned by [Set.Require] for a payload the
// executable does not carry; it matches [ErrNotEmbedded].
type NotEmbeddedError struct {
	// Name is the payload looked for, e.g. "kernel".
	Name string
	// Executable is the file searched.
	Executable string
	// Flag is the command-line flag that provides the file instead,
	// e.g. "--kernel".
	Flag string
}

func (e *NotEmbeddedError) Error() string {
	return fmt.Sprintf("no %s is embedded in %s: pass %s", e.Name, e.Executable, e.Flag)
}

// Is reports whether target is [ErrNotEmbedded].
func (e *NotEmbeddedError) Is(target error) bool { return target == ErrNotEmbedded }
