package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/bulkstream/bulkstream/internal/metrics"
)

// The release stamps, set at build time by deploy/ci.sh and deploy/Dockerfile:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD) -X main.date=2026-12-07T06:00:00Z"
//
// An empty stamp falls back to what Go recorded in the binary (see
// buildStamps), so that `go install` and `go build` inside a checkout still
// say where they came from.
var (
	version = "" // a tag such as v1.2.3
	commit  = "" // the full VCS revision
	date    = "" // the commit's or the build's time, RFC 3339 in UTC
)

// stamps are the version, revision and date of this binary, each never
// empty.
type stamps struct{ version, commit, date string }

// buildStamps returns the ldflags stamps, filling the empty ones from Go's
// build info: the module version (for `go install …@v1.2.3`), and
// vcs.revision and vcs.time (for a build inside a git checkout without
// -buildvcs=false; "+dirty" marks uncommitted changes). What neither
// provides is "devel" or "unknown".
func buildStamps() stamps {
	s := stamps{version, commit, date}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = &debug.BuildInfo{}
	}
	vcs := map[string]string{}
	for _, kv := range info.Settings {
		vcs[kv.Key] = kv.Value
	}
	if s.version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		s.version = info.Main.Version
	}
	if s.commit == "" && vcs["vcs.revision"] != "" {
		s.commit = vcs["vcs.revision"]
		if vcs["vcs.modified"] == "true" {
			s.commit += "+dirty"
		}
	}
	if s.date == "" {
		s.date = vcs["vcs.time"]
	}
	s.version, s.commit, s.date = orElse(s.version, "devel"), orElse(s.commit, "unknown"), orElse(s.date, "unknown")
	return s
}

func orElse(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// buildMetric is what bulkstream_build_info reports about this binary.
func buildMetric() metrics.Build {
	s := buildStamps()
	return metrics.Build{Version: s.version, Revision: s.commit, GoVersion: runtime.Version()}
}

// runVersion is `connector version` (and `connector --version`): one line
// with the version, commit, build date, Go release and platform.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	s := buildStamps()
	fmt.Fprintf(stdout, "bulkstream %s (commit %s, built %s) %s %s/%s\n", s.version, s.commit, s.date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
