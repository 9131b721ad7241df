//go:build race

package bulkemu

// raceEnabled is true under the race detector, which multiplies memory use:
// the memory test measures nothing useful there.
const raceEnabled = true
