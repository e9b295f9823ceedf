package doctor

// State is the outcome of one check.
type State int

const (
	// OK: the host has what the check looks for.
	OK State = iota
	// Missing: the host lacks it; Check.Impact says what that costs.
	Missing
	// Skipped: the check could not be tried (for want of something another
	// check reports); it costs no mode anything by itself.
	Skipped
)

func (s State) String() string {
	switch s {
	case OK:
		return "ok"
	case Missing:
		return "MISSING"
	case Skipped:
		return "skipped"
	}
	return "unknown"
}

// Impact is what a missing check costs one mode.
type Impact int

const (
	// Unaffected: the mode does not need it.
	Unaffected Impact = iota
	// Degrades: the mode works without it, losing what Check.Without says.
	Degrades
	// Blocks: the mode cannot work without it.
	Blocks
)

// Check is one thing looked for on the host and what was found.
type Check struct {
	// Name is short and says what is wanted ("pid namespace").
	Name  string
	State State
	// Detail is what was found, one line.
	Detail string
	// Fix is one line saying how to get it, when Missing.
	Fix string
	// Impact is, per mode name, what Missing costs that mode; modes not
	// listed are Unaffected.
	Impact map[string]Impact
	// Without says what a mode it Degrades loses ("memory, cpu and pids
	// limits are not enforced; actions still run").
	Without string
}

// costs is what c, as found, costs mode.
func (c Check) costs(mode string) Impact {
	if c.State != Missing {
		return Unaffected
	}
	return c.Impact[mode]
}
