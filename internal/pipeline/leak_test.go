package pipeline

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/bulkstream/bulkstream/internal/pacer"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// When Run returns, no goroutine of the pipeline is left: not the poller,
// not a job runner cut off by the shutdown grace, not a publisher of decode
// failures, not a planner of assigned partitions, not a watcher.
func TestRunLeavesNoGoroutine(t *testing.T) {
	t.Run("jobs cut off by the grace", func(t *testing.T) {
		records := accountRecords(0, 2000)
		records[7].Value = []byte("not json")
		runAndStop(t, records, func(opts Options) bool {
			return counterValue(t, opts.Metrics.Results.WithLabelValues("Account", "upsert", "success")) >= 100
		})
	})
	t.Run("decode failures being published", func(t *testing.T) {
		records := accountRecords(0, 3000)
		for _, r := range records[:2000] {
			r.Value = []byte("not json")
		}
		runAndStop(t, records, func(opts Options) bool {
			return counterValue(t, opts.Metrics.EventsConsumed.WithLabelValues("crm.accounts")) > 0
		})
	})
}

// runAndStop runs a pipeline over records until stop says so, stops it
// and checks that no goroutine of it is left.
func runAndStop(t *testing.T, records []*kgo.Record, stop func(Options) bool) {
	w := newWorld(t, 2, bulkemu.Options{Faults: bulkemu.Faults{RowsPerSecond: 200}}, "crm.accounts")
	producer, err := kgo.NewClient(kgo.SeedBrokers(w.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	if err := producer.ProduceSync(context.Background(), records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	producer.Close()
	// What exists before Run (the broker, the org's server) is not the
	// pipeline's, nor is the org's processing of a job the pipeline closed;
	// idle HTTP connections are the Salesforce client's, which the caller
	// owns.
	ignore := []goleak.Option{goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/bulkstream/bulkstream/pkg/bulkemu.(*Emulator).process"),
		goleak.IgnoreAnyFunction("github.com/bulkstream/bulkstream/pkg/bulkemu.(*batch).pace"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*conn).serve")}
	opts := w.options("leak", accountRoute)
	opts.Journal, opts.ExactlyOnce = testJournal, true
	opts.Pacer = pacer.New(pacer.Options{RequestReserve: 1})
	opts.ShutdownGrace = 200 * time.Millisecond // jobs are still running at the stop
	run := w.start(opts)
	for deadline := time.Now().Add(30 * time.Second); !stop(opts); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("not there in 30s")
		}
	}
	run.shutdown(t)
	// At once, no retry: no goroutine runs the pipeline's code any more.
	if stacks := pipelineGoroutines(); len(stacks) > 0 {
		t.Fatalf("%d goroutines of the pipeline left after Run returned:\n%s", len(stacks), strings.Join(stacks, "\n\n"))
	}
	// And none it started elsewhere (Kafka clients, timers) stays.
	goleak.VerifyNone(t, ignore...)
}

// pipelineGoroutines returns the stacks of the goroutines running code of
// the package (its tests' code aside).
func pipelineGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, line := range strings.Split(g, "\n") {
			line = strings.TrimSpace(line)
			if strings.Contains(line, "/internal/pipeline/") && strings.Contains(line, ".go:") && !strings.Contains(line, "_test.go:") {
				out = append(out, g)
				break
			}
		}
	}
	return out
}
