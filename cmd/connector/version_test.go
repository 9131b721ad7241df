package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulkstream/bulkstream/internal/metrics"
)

// TestVersionStamps: the ldflags stamps are what `connector version` and
// `connector --version` print and what bulkstream_build_info reports.
// deploy/ci.sh checks the same on a binary built with -X flags.
func TestVersionStamps(t *testing.T) {
	defer func(v, c, d string) { version, commit, date = v, c, d }(version, commit, date)
	version, commit, date = "v1.2.3", "0123456789abcdef0123456789abcdef01234567", "2026-12-07T06:00:00Z"
	want := "bulkstream v1.2.3 (commit 0123456789abcdef0123456789abcdef01234567, built 2026-12-07T06:00:00Z) " + runtime.Version()
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		var stdout bytes.Buffer
		if code := run(context.Background(), args, &stdout, io.Discard); code != 0 || !strings.HasPrefix(stdout.String(), want) {
			t.Errorf("%v: exit %d, %q; want %q", args, code, stdout.String(), want)
		}
	}

	reg := prometheus.NewPedanticRegistry()
	metrics.RegisterBuild(reg, buildMetric())
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := []string{}
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			got = append(got, fmt.Sprintf("%s{%s} %g", f.GetName(), strings.Join(labels, ","), m.GetGauge().GetValue()))
		}
	}
	wantMetric := "bulkstream_build_info{go_version=" + runtime.Version() + ",revision=0123456789abcdef0123456789abcdef01234567,version=v1.2.3} 1"
	if len(got) != 1 || got[0] != wantMetric {
		t.Errorf("gathered %q; want %q", got, wantMetric)
	}
}

// TestVersionUnstamped: without stamps (go test builds with -buildvcs=false
// here, so Go records no revision either) the version says so rather than
// printing empty fields.
func TestVersionUnstamped(t *testing.T) {
	defer func(v, c, d string) { version, commit, date = v, c, d }(version, commit, date)
	version, commit, date = "", "", ""
	s := buildStamps()
	if s.version == "" || s.commit == "" || s.date == "" {
		t.Errorf("stamps %+v: want devel/unknown or Go's build info, never empty", s)
	}
}
