package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// Build identifies the running binary: its version (a tag such as v1.2.3,
// or "devel"), the VCS revision it was built from (a commit hash, or
// "unknown"), and the Go release that compiled it.
type Build struct {
	Version   string
	Revision  string
	GoVersion string
}

// RegisterBuild registers bulkstream_build_info on reg: a gauge that is
// always 1, labelled with b, so that a query can join any other metric to
// the version that produced it (`* on (instance) group_left (version)
// bulkstream_build_info`) and a dashboard can show which versions run
// during a rolling update. An empty GoVersion is runtime.Version(). It
// panics if reg already holds the metric, as MustRegister does.
func RegisterBuild(reg prometheus.Registerer, b Build) {
	if b.GoVersion == "" {
		b.GoVersion = runtime.Version()
	}
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bulkstream_build_info",
		Help: "Always 1; its labels name the version and VCS revision of the binary and the Go release that built it."},
		[]string{"version", "revision", "go_version"})
	g.WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
	reg.MustRegister(g)
}
