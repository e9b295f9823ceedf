package cas

// unsettledExec is an executable variant handed out before a flush
// confirmed it: Store.settle drops it if its flush fails.
type unsettledExec struct {
	e   *entry
	dur *durability
}
