package executor

// held is what a run acquired and must release once its response is out.
type held struct {
	slot bool // a job slot
	root Root // the input root, nil before it was prepared
}
