package activity

// CASUsage is how full the CAS is.
type CASUsage struct {
	Bytes     int64 `json:"bytes"`
	MaxBytes  int64 `json:"max_bytes"`
	Blobs     int64 `json:"blobs"`
	Evictions int64 `json:"evictions"`
}
