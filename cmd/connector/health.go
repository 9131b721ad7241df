package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/bulkstream/bulkstream/internal/pipeline"
	"github.com/bulkstream/bulkstream/pkg/bulk"
)

// probeAfter is how old the latest Salesforce call must be, when it failed,
// before /readyz asks the org again (GET /limits, one API request) rather
// than report that old failure. It also bounds how often /readyz probes.
const probeAfter = 30 * time.Second

// readiness answers /readyz: ready when the pipeline consumes and
// Salesforce answered its latest request. The pipeline and the Salesforce
// status are read from any goroutine; mu guards the probe's time only.
type readiness struct {
	pipeline *pipeline.Pipeline
	status   *salesforceStatus
	sf       *bulk.Client

	mu        sync.Mutex
	lastProbe time.Time
}

// readyCheck is one line of /readyz.
type readyCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason"`
}

// healthz answers that the process serves; it checks nothing else, so that
// a liveness probe does not restart a connector waiting out an outage.
func healthz(w http.ResponseWriter, _ *http.Request) {
	writeStatus(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	checks := []readyCheck{rd.kafka(), rd.salesforce(r.Context())}
	ready := true
	for _, c := range checks {
		ready = ready && c.OK
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeStatus(w, status, struct {
		Ready  bool         `json:"ready"`
		Checks []readyCheck `json:"checks"`
	}{ready, checks})
}

func (rd *readiness) kafka() readyCheck {
	if !rd.pipeline.Ready() {
		return readyCheck{"kafka", false, "not consuming: connecting, creating the result topics or stopping"}
	}
	return readyCheck{"kafka", true, "consuming"}
}

func (rd *readiness) salesforce(ctx context.Context) readyCheck {
	last := rd.status.last.Load()
	if last != nil && !last.healthy() && time.Since(last.at) > probeAfter && rd.probeDue() {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rd.sf.Limits(ctx) // the status records the answer
		cancel()
		last = rd.status.last.Load()
	}
	if last == nil {
		return readyCheck{"salesforce", true, "no API call yet"}
	}
	answer := fmt.Sprintf("answered %d", last.status)
	if last.status == 0 {
		answer = "got no answer"
	}
	reason := fmt.Sprintf("the latest API call (%s) %s %s ago", last.endpoint, answer, time.Since(last.at).Round(time.Second))
	return readyCheck{"salesforce", last.healthy(), reason}
}

// probeDue reports whether a probe may be made now, and if so counts it.
func (rd *readiness) probeDue() bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if time.Since(rd.lastProbe) < probeAfter {
		return false
	}
	rd.lastProbe = time.Now()
	return true
}

func writeStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
