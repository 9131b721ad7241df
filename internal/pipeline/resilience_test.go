package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

var accountRoute = Route{Topics: []string{"crm.accounts"}, Decoder: event.NewJSONDecoder(event.Defaults{Object: "Account", Operation: event.Upsert, ExternalIDField: "External_Id__c"})}

// accountRecords makes n upserts of distinct accounts.
func accountRecords(from, n int) []*kgo.Record {
	out := make([]*kgo.Record, n)
	for i := range out {
		k := from + i
		out[i] = &kgo.Record{Topic: "crm.accounts", Key: []byte(fmt.Sprint(k)), Value: []byte(fmt.Sprintf(`{"External_Id__c":"R-%d","Name":"Account %d"}`, k, k))}
	}
	return out
}

// everyEventHasAResult checks that each of n events of crm.accounts (all
// partitions) has at least one result, and at most max.
func everyEventHasAResult(t *testing.T, results map[Source][]Result, n, max int) {
	t.Helper()
	if len(results) != n {
		t.Fatalf("%d events with results, want %d", len(results), n)
	}
	for src, rs := range results {
		if len(rs) == 0 || len(rs) > max {
			t.Fatalf("%v: %d results", src, len(rs))
		}
		for _, r := range rs {
			if !r.Success {
				t.Fatalf("%v failed: %+v", src, r)
			}
		}
	}
}

// Stopping in the middle of the stream loses nothing: what was not
// published stays uncommitted and is read again by the next run.
func TestShutdownMidStreamLosesNothing(t *testing.T) {
	const n = 3000
	w := newWorld(t, 3, bulkemu.Options{Faults: bulkemu.Faults{RowsPerSecond: 500}}, "crm.accounts")
	w.produce(accountRecords(0, n)...)
	rr := w.readResults()
	opts := w.options("shutdown", accountRoute)
	opts.ShutdownGrace = 200 * time.Millisecond // shorter than the jobs in flight need
	first := w.start(opts)
	rr.waitFor(t, 100, 30*time.Second)
	first.shutdown(t)
	results, _ := rr.snapshot()
	if len(results) >= n {
		t.Fatalf("the first run finished all %d events; the test needs it stopped mid-stream", n)
	}
	t.Logf("first run: %d of %d events had results when it stopped", len(results), n)

	w.emu.SetFaults(bulkemu.Faults{})
	second := w.start(w.options("shutdown", accountRoute))
	rr.waitFor(t, n, 60*time.Second)
	second.shutdown(t)
	time.Sleep(300 * time.Millisecond) // let duplicates, if any, arrive
	results, _ = rr.snapshot()
	// At-least-once: an event whose job finished but whose offset was not
	// committed before the stop may be reported twice, never not at all.
	everyEventHasAResult(t, results, n, 2)
	w.committedAtEnd("shutdown", "crm.accounts")
	if got := len(w.emu.Records("Account")); got != n {
		t.Fatalf("%d accounts in the org, want %d", got, n)
	}
}

// Two instances in one group share the partitions; one leaves mid-stream
// and the other takes over its partitions. Every event gets a result.
func TestRebalanceBetweenTwoInstances(t *testing.T) {
	const n = 4000
	w := newWorld(t, 6, bulkemu.Options{Faults: bulkemu.Faults{RowsPerSecond: 20000}}, "crm.accounts")
	rr := w.readResults()
	a := w.start(w.options("rebalance", accountRoute))
	w.produce(accountRecords(0, n/2)...)
	rr.waitFor(t, 200, 30*time.Second)
	b := w.start(w.options("rebalance", accountRoute))
	w.produce(accountRecords(n/2, n/4)...)
	rr.waitFor(t, n/2, 30*time.Second)
	a.shutdown(t) // b takes over a's partitions
	w.produce(accountRecords(3*n/4, n/4)...)
	rr.waitFor(t, n, 60*time.Second)
	time.Sleep(300 * time.Millisecond)
	results, _ := rr.snapshot()
	everyEventHasAResult(t, results, n, 2)
	b.shutdown(t)
	w.committedAtEnd("rebalance", "crm.accounts")
	if sa, sb := a.p.Stats(), b.p.Stats(); sa.Consumed == 0 || sb.Consumed == 0 {
		t.Fatalf("one instance did no work: a %+v, b %+v", sa, sb)
	}
}

// A Salesforce outage (every request answered 503) pauses the pipeline;
// when Salesforce is back, it resumes and every event gets exactly one
// result.
func TestSalesforceOutagePausesAndResumes(t *testing.T) {
	const n = 1000
	w := newWorld(t, 2, bulkemu.Options{}, "crm.accounts")
	rr := w.readResults()
	run := w.start(w.options("outage", accountRoute))
	w.produce(accountRecords(0, n/2)...)
	rr.waitFor(t, n/2, 30*time.Second)

	w.emu.SetFaults(bulkemu.Faults{Seed: 1, HTTPErrorRate: 1})
	w.produce(accountRecords(n/2, n/2)...)
	time.Sleep(time.Second)
	if results, _ := rr.snapshot(); len(results) != n/2 {
		t.Fatalf("%d results during the outage, want %d", len(results), n/2)
	}
	w.emu.SetFaults(bulkemu.Faults{})
	rr.waitFor(t, n, 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	results, _ := rr.snapshot()
	everyEventHasAResult(t, results, n, 1)
	run.shutdown(t)
	w.committedAtEnd("outage", "crm.accounts")
}

// Each roll-over limit fires and is recorded.
func TestRollOverReasonsReachMetrics(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	rr := w.readResults()
	opts := w.options("rollover", accountRoute)
	opts.Batch.MaxRecords = 100
	opts.Batch.MaxBytes = 1000
	opts.Batch.MaxAge = 300 * time.Millisecond
	run := w.start(opts)
	w.produce(accountRecords(0, 250)...) // ~20 bytes a row: the byte limit fires before 100 records
	small := make([]*kgo.Record, 150)
	for i := range small {
		small[i] = &kgo.Record{Topic: "crm.accounts", Value: []byte(fmt.Sprintf(`{"External_Id__c":"%d","Name":"x"}`, i))}
	}
	w.produce(small...) // ~6 bytes a row: the record limit fires first
	rr.waitFor(t, 400, 30*time.Second)
	run.shutdown(t)
	for _, reason := range []string{"bytes", "records", "age"} {
		if v := counterValue(t, opts.Metrics.Rollovers.WithLabelValues("Account", "upsert", reason)); v == 0 {
			t.Errorf("no roll-over by %s", reason)
		}
	}
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
