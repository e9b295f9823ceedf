//go:build !race

package channel_test

// raceEnabled is true under the race detector, which slows copying tenfold.
const raceEnabled = false
