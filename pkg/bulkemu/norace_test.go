//go:build !race

package bulkemu

const raceEnabled = false
