package deb

// Op is the version operator of a relation.
type Op string

// The relation operators of Debian policy section 7.1. The obsolete "<"
// and ">" parse as OpLessEq and OpGreaterEq, as dpkg reads them.
const (
	OpNone      Op = ""
	OpLess      Op = "<<"
	OpLessEq    Op = "<="
	OpEq        Op = "="
	OpGreaterEq Op = ">="
	OpGreater   Op = ">>"
)
