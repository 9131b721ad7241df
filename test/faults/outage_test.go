//go:build faults

package faults

import (
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/test/harness"
)

// TestSalesforceDownMidJob: 10,000 inserts into an emulator slowed to 300
// rows a second per job, so jobs are in progress when Salesforce becomes
// unreachable (connections reset, then refused) for 60 seconds. A job
// closed before the outage must be waited for, not uploaded again.
func TestSalesforceDownMidJob(t *testing.T) {
	const topic, events = "crm.accounts", 10_000
	w := newWorld(t, topic, 3, nil, "--rows-per-second", "300")
	records := harness.Accounts(topic, "OUT", events)
	harness.Produce(t, w.broker, records)
	w.start(harness.Config{Topics: []string{topic}, MaxRecords: 1000, MaxAge: 500 * time.Millisecond, MaxJobsInFlight: 4})

	running := w.waitJobsUnderWay(60 * time.Second)
	w.proxy.Reset()
	w.proxy.Stop()
	t.Logf("Salesforce down for 60s with %d closed jobs running, %d of %d events with results", running, w.results.WithResults(), events)
	time.Sleep(60 * time.Second)
	if err := w.proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Salesforce back, %d of %d events with results", w.results.WithResults(), events)
	w.finish(harness.Want{Events: harness.Events(t, records)}, 90*time.Second)
}

// TestSalesforceDownDuringRebalance: two instances share 4 partitions; while
// their jobs run, Salesforce becomes unreachable and one instance is
// killed (SIGKILL). The survivor takes over its partitions once the
// session times out, and must re-attach to the dead instance's jobs from
// the journal, not load their events again, even though Salesforce does
// not answer yet; Salesforce comes back 25 seconds after it went.
func TestSalesforceDownDuringRebalance(t *testing.T) {
	const topic, events = "crm.accounts", 4000
	w := newWorld(t, topic, 4, nil, "--rows-per-second", "300")
	records := harness.Accounts(topic, "REB", events)
	harness.Produce(t, w.broker, records)
	cfg := harness.Config{Topics: []string{topic}, MaxRecords: 500, MaxAge: 500 * time.Millisecond, MaxJobsInFlight: 2}
	cfg.InstanceID = "rebalance-0"
	victim := w.start(cfg)
	cfg.InstanceID = "rebalance-1"
	w.start(cfg)

	running := w.waitJobsUnderWay(60 * time.Second)
	w.proxy.Stop()
	victim.Kill()
	t.Logf("Salesforce down and instance 0 killed with %d closed jobs running in the org, %d of %d events with results", running, w.results.WithResults(), events)
	time.Sleep(25 * time.Second)
	if err := w.proxy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Salesforce back, %d of %d events with results", w.results.WithResults(), events)
	w.finish(harness.Want{Events: harness.Events(t, records)}, 90*time.Second)
}
