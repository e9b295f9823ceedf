package payload

// DataRange returns where p's stored data lies in the executable.
func DataRange(p *Payload) (off, n int64) {
	_, off, n = p.data.Outer()
	return off, n
}
