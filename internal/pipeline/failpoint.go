package pipeline

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// failpoints are the crash test's knives: BULKSTREAM_FAILPOINTS lists
// name=probability pairs (before-upload=0.1,after-close=0.05) and the
// process kills itself with SIGKILL at a named point with that probability.
// Unset, as in production, it costs a map lookup. Points: before-upload,
// before-close, after-close, before-results, before-publish, after-publish.
var failpoints = parseFailpoints(os.Getenv("BULKSTREAM_FAILPOINTS"))

func parseFailpoints(s string) map[string]float64 {
	out := map[string]float64{}
	for _, kv := range strings.Split(s, ",") {
		name, p, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if f, err := strconv.ParseFloat(p, 64); ok && err == nil {
			out[name] = f
		}
	}
	return out
}

// failpoint kills the process at point name when its dice say so.
func failpoint(name string) {
	if p, ok := failpoints[name]; ok && rand.Float64() < p {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
}
