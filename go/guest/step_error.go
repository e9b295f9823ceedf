package guest

// StepError is a failed boot step; its text is what the console shows
// before the guest powers off.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return "actiond guest: " + e.Step + ": " + e.Err.Error() }

func (e *StepError) Unwrap() error { return e.Err }

// step runs fn and names its failure.
func step(name string, fn func() error) error {
	if err := fn(); err != nil {
		return &StepError{Step: name, Err: err}
	}
	return nil
}
