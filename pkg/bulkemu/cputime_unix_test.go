//go:build unix

package bulkemu

import (
	"syscall"
	"time"
)

// processCPU returns the user and system CPU time the test process has
// used so far, for benchmarks that report CPU per row: the emulator's
// batches run in parallel, so wall time per row understates it.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
