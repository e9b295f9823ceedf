package actionlog

import "testing"

func TestPercentile(t *testing.T) {
	s := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want float64
	}{{50, 5}, {95, 10}, {10, 1}, {11, 2}, {100, 10}, {0, 1}} {
		if got := Percentile(s, tc.p); got != tc.want {
			t.Errorf("percentile(1..10, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
}

func TestPercentileLeavesItsInputAlone(t *testing.T) {
	xs := []float64{3, 1, 2}
	if got := Percentile(xs, 50); got != 2 || xs[0] != 3 {
		t.Errorf("Percentile = %v, input now %v; want 2 and the input unsorted", got, xs)
	}
}
