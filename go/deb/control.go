package deb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Field is one field of a deb822 paragraph. Value keeps continuation lines
// joined by "\n", with their leading space removed.
type Field struct {
	Name  string
	Value string
}

// Control is one deb822 paragraph: the control file of a package, or one
// stanza of a Packages index. Fields keep their order of appearance.
type Control struct {
	Fields []Field
}

// Get returns the value of the field named name (compared case-insensitively,
// as Debian policy says), or "" if there is none.
func (c Control) Get(name string) string {
	for _, f := range c.Fields {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Package returns the Package field.
func (c Control) Package() string { return c.Get("Package") }

// Version returns the Version field.
func (c Control) Version() string { return c.Get("Version") }

// Architecture returns the Architecture field (Debian names: amd64, arm64).
func (c Control) Architecture() string { return c.Get("Architecture") }

// ParseControl parses a single deb822 paragraph, such as a package's
// control file. Blank lines around the paragraph are ignored; a second
// paragraph is an error.
func ParseControl(r io.Reader) (Control, error) {
	paragraphs, err := parseParagraphs(r)
	if err != nil {
		return Control{}, err
	}
	switch len(paragraphs) {
	case 0:
		return Control{}, fmt.Errorf("control file has no fields: %w", ErrMalformed)
	case 1:
		return paragraphs[0], nil
	default:
		return Control{}, fmt.Errorf("control file has %d paragraphs, want 1: %w", len(paragraphs), ErrMalformed)
	}
}

// ParseIndex parses a Debian Packages index (uncompressed) into its stanzas.
// Every stanza must have a Package field.
func ParseIndex(r io.Reader) ([]Control, error) {
	paragraphs, err := parseParagraphs(r)
	if err != nil {
		return nil, err
	}
	for i, p := range paragraphs {
		if p.Package() == "" {
			return nil, fmt.Errorf("index stanza %d has no Package field: %w", i+1, ErrMalformed)
		}
	}
	return paragraphs, nil
}

func parseParagraphs(r io.Reader) ([]Control, error) {
	var paragraphs []Control
	err := scanParagraphs(r, func(c Control) error {
		paragraphs = append(paragraphs, c)
		return nil
	})
	return paragraphs, err
}

// validFieldName says name can name a deb822 field: printable US-ASCII
// other than the colon, not starting with '#' or '-' (Debian Policy 5.1).
func validFieldName(name string) bool {
	if name == "" || name[0] == '#' || name[0] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x21 || c > 0x7e || c == ':' {
			return false
		}
	}
	return true
}

// scanParagraphs calls fn with each paragraph of r in order, so that an
// index of tens of megabytes never sits in memory whole. It stops at the
// first error fn returns.
func scanParagraphs(r io.Reader, fn func(Control) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		current    Control
		lineNumber int
	)
	flush := func() error {
		if len(current.Fields) == 0 {
			return nil
		}
		c := current
		current = Control{}
		return fn(c)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading line %d: %w", lineNumber+1, err)
		}
		if line == "" && err != nil {
			break
		}
		lineNumber++
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.TrimSpace(line) == "":
			if ferr := flush(); ferr != nil {
				return ferr
			}
		case line[0] == ' ' || line[0] == '\t':
			if len(current.Fields) == 0 {
				return fmt.Errorf("line %d: continuation line without a field: %w", lineNumber, ErrMalformed)
			}
			last := &current.Fields[len(current.Fields)-1]
			last.Value += "\n" + strings.TrimSpace(line)
		case line[0] == '#':
			// Comments are allowed in deb822 files written by hand.
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok || !validFieldName(name) {
				return fmt.Errorf("line %d: %q is not a field: %w", lineNumber, line, ErrMalformed)
			}
			current.Fields = append(current.Fields, Field{Name: name, Value: strings.TrimSpace(value)})
		}
		if err != nil {
			break
		}
	}
	return flush()
}
