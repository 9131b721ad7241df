//go:build faults

package faults

import (
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/test/harness"
)

// TestSessionRevoked: the emulator revokes the session on 30% of API calls
// (401 INVALID_SESSION_ID), so a call often meets two 401s in a row. A 401
// is transient: the connector fetches a new token and calls again, at start
// (the start-up check) as in the pipeline, and no event fails for it.
func TestSessionRevoked(t *testing.T) {
	const topic, events = "crm.accounts", 3000
	w := newWorld(t, topic, 3, nil, "--expire-session-rate", "0.3")
	records := harness.Accounts(topic, "SES", events)
	harness.Produce(t, w.broker, records)
	w.start(harness.Config{Topics: []string{topic}, MaxRecords: 500, MaxAge: 500 * time.Millisecond})
	w.finish(harness.Want{Events: harness.Events(t, records)}, 90*time.Second)
}

// TestAllEmulatorFaults: every fault switch of the emulator at once, at
// modest rates, with 5 ms of latency per chunk on the way. Rows and jobs
// that fail for a retryable reason are retried (up to 10 attempts, so none
// runs out of attempts by bad luck: 0.2^10 per row), requests that fail are
// repeated; no event may fail and no row may be written twice.
func TestAllEmulatorFaults(t *testing.T) {
	const topic, events = "crm.accounts", 8000
	w := newWorld(t, topic, 3, nil,
		"--http-error-rate", "0.05", "--expire-session-rate", "0.05", "--lock-error-rate", "0.05",
		"--job-failure-rate", "0.1", "--unprocessed-rate", "0.05")
	w.proxy.Delay(5 * time.Millisecond)
	records := harness.Accounts(topic, "ALL", events)
	harness.Produce(t, w.broker, records)
	w.start(harness.Config{Topics: []string{topic}, MaxRecords: 1000, MaxAge: 500 * time.Millisecond, RetryMaxAttempts: 10})
	w.finish(harness.Want{Events: harness.Events(t, records)}, 120*time.Second)
	retried := 0
	for _, r := range w.results.Results() {
		if r.Attempts > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Errorf("no event needed a second job: the emulator's faults did not bite")
	}
	t.Logf("%d events needed more than one job", retried)
}
