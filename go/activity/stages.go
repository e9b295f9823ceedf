package activity

import "time"

// Stages is how long an action spent in each stage of the pipeline.
type Stages struct {
	Queue  time.Duration `json:"queue"`
	Input  time.Duration `json:"input"`
	Setup  time.Duration `json:"setup"`
	Spawn  time.Duration `json:"spawn"`
	Run    time.Duration `json:"run"`
	Output time.Duration `json:"output"`
}
