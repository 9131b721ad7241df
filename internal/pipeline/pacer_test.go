package pipeline

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/oauth2"

	"github.com/bulkstream/bulkstream/internal/pacer"
	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// With a small daily API allocation, consumption pauses at the reserve,
// nothing is lost, and it resumes when the allocation is raised; the
// bulkstream_paused metric shows it.
func TestPausesAtTheDailyLimitAndResumes(t *testing.T) {
	const n = 2000
	w := newWorld(t, 2, bulkemu.Options{DailyAPIRequests: 60}, "crm.accounts")
	rr := w.readResults()
	opts := w.options("limits", accountRoute)
	pc := paced(t, w, &opts)
	opts.Batch.MaxRecords = 100 // many jobs: the allocation runs out mid-stream
	run := w.start(opts)
	w.produce(accountRecords(0, n)...)

	deadline := time.Now().Add(30 * time.Second)
	for gaugeValue(t, opts.Metrics.Paused.WithLabelValues(pacer.APIRequests)) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the pipeline never paused")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The jobs in flight when it paused finish (on a slow machine that
	// takes a while); then nothing more comes.
	before := -1
	for settled := time.Now().Add(15 * time.Second); ; {
		time.Sleep(500 * time.Millisecond)
		results, _ := rr.snapshot()
		if len(results) == before || time.Now().After(settled) {
			break
		}
		before = len(results)
	}
	if before >= n {
		t.Fatalf("all %d events went through a 60-request allocation", n)
	}
	time.Sleep(500 * time.Millisecond)
	if results, _ := rr.snapshot(); len(results) != before {
		t.Fatalf("results kept coming while paused: %d then %d", before, len(results))
	}
	if pc.Paused() != pacer.APIRequests {
		t.Fatalf("pacer: %q", pc.Paused())
	}
	w.emu.SetDailyAPIRequests(1_000_000)
	rr.waitFor(t, n, 60*time.Second)
	if v := gaugeValue(t, opts.Metrics.Paused.WithLabelValues(pacer.APIRequests)); v != 0 {
		t.Fatalf("bulkstream_paused still %v after resuming", v)
	}
	time.Sleep(300 * time.Millisecond)
	run.shutdown(t)
	results, _ := rr.snapshot()
	everyEventHasAResult(t, results, n, 1)
	t.Logf("paused after %d of %d events; resumed when the allocation was raised", before, n)
}

func gaugeValue(t testing.TB, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// paced gives opts a pacer that keeps 20 daily API requests in reserve, fed
// by a Salesforce client of w's org, and returns it.
func paced(t testing.TB, w *world, opts *Options) *pacer.Pacer {
	t.Helper()
	pc := pacer.New(pacer.Options{RequestReserve: 20})
	sf, err := bulk.New(w.sfURL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: w.emu.Token()}),
		bulk.WithWaitPolicy(bulk.WaitPolicy{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}),
		bulk.WithRetry(bulk.RetryPolicy{MaxAttempts: 2, Base: time.Millisecond, Cap: 10 * time.Millisecond, LimitBackoff: 50 * time.Millisecond}),
		bulk.WithLimitObserver(func(l bulk.LimitInfo) { pc.ObserveUsage(l.Used, l.Max) }))
	if err != nil {
		t.Fatal(err)
	}
	opts.Salesforce, opts.Pacer, opts.LimitsInterval = sf, pc, 100*time.Millisecond
	return pc
}
