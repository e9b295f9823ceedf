package actionlog

import (
	"math"
	"slices"
)

// Percentile is the nearest-rank percentile p (0 to 100) of xs, or 0 for
// none; xs is left as it is.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	k := int(math.Ceil(float64(len(s)) * p / 100))
	return s[max(0, min(k, len(s))-1)]
}
