package cli

// EmbeddedFlag is a flag whose file a standalone binary may carry: the
// payload Name stands in for the flag Flag when *Value is empty.
type EmbeddedFlag struct {
	Name  string
	Flag  string
	Value *string
}
