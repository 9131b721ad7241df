package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/oauth2"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/internal/metrics"
	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

var testTopics = Topics{Success: "bulkstream.success", Failure: "bulkstream.failure", DeadLetter: "bulkstream.dlq"}

// world is a Kafka broker (kfake over TCP) and a Salesforce org (the
// emulator over HTTP) for one test.
type world struct {
	t       testing.TB
	cluster *kfake.Cluster
	brokers []string
	emu     *bulkemu.Emulator
	sfURL   string
	// sfDown, while set, drops every connection to the org without an
	// answer, as an outage between the connector and Salesforce does; the
	// org itself goes on processing its jobs.
	sfDown atomic.Bool
}

// inBothDeliveryModes runs test as two subtests: at least once and exactly
// once.
func inBothDeliveryModes(t *testing.T, test func(t *testing.T, exactlyOnce bool)) {
	for _, exactlyOnce := range []bool{false, true} {
		t.Run(fmt.Sprintf("exactly_once=%v", exactlyOnce), func(t *testing.T) { test(t, exactlyOnce) })
	}
}

func newWorld(t testing.TB, partitions int32, emuOpts bulkemu.Options, topics ...string) *world {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	w := &world{t: t, cluster: cluster, brokers: cluster.ListenAddrs(), emu: bulkemu.New(emuOpts)}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if w.sfDown.Load() {
			panic(http.ErrAbortHandler)
		}
		w.emu.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	w.sfURL = srv.URL
	return w
}

// client is a plain Kafka client for producing input and reading output.
func (w *world) client(opts ...kgo.Opt) *kgo.Client {
	w.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(w.brokers...)}, opts...)...)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(cl.Close)
	return cl
}

// produce writes records and waits for them.
func (w *world) produce(records ...*kgo.Record) {
	w.t.Helper()
	cl := w.client(kgo.ProducerLinger(time.Millisecond))
	if err := cl.ProduceSync(context.Background(), records...).FirstErr(); err != nil {
		w.t.Fatal(err)
	}
}

// options returns pipeline options against this world with small, fast
// batches.
func (w *world) options(group string, routes ...Route) Options {
	token := w.emu.Token()
	sf, err := bulk.New(w.sfURL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
		bulk.WithWaitPolicy(bulk.WaitPolicy{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}),
		bulk.WithRetry(bulk.RetryPolicy{MaxAttempts: 2, Base: time.Millisecond, Cap: 10 * time.Millisecond}))
	if err != nil {
		w.t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("PIPELINE_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return Options{
		Kafka:           []kgo.Opt{kgo.SeedBrokers(w.brokers...), kgo.FetchMaxWait(100 * time.Millisecond)},
		Group:           group,
		Routes:          routes,
		Salesforce:      sf,
		Batch:           batch.Policy{MaxBytes: 1 << 20, MaxRecords: 500, MaxAge: 100 * time.Millisecond, SpillThreshold: 256 << 10, SpillDir: w.t.TempDir()},
		MaxJobsInFlight: 4,
		Results:         testTopics,
		ShutdownGrace:   10 * time.Second,
		RetryBase:       20 * time.Millisecond,
		RetryMax:        200 * time.Millisecond,
		ParentWait:      -1, // a missing parent fails at once, as the model expects; parents_test turns it on
		Logger:          log,
		Metrics:         metrics.New(prometheus.NewRegistry()),
	}
}

// running is a pipeline running in the background.
type running struct {
	p    *Pipeline
	stop context.CancelFunc
	done chan error
	once sync.Once
}

func (w *world) start(opts Options) *running {
	w.t.Helper()
	p, err := New(opts)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	w.t.Cleanup(func() { r.shutdown(w.t) })
	return r
}

// shutdown stops the pipeline gracefully and waits for Run to return.
func (r *running) shutdown(t testing.TB) {
	r.once.Do(func() {
		r.stop()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("pipeline did not stop within 30s")
		}
	})
}

// resultsReader collects the result records of the success and failure
// topics, read committed, in the background.
type resultsReader struct {
	mu      sync.Mutex
	results map[Source][]Result
	keys    map[Source][]byte
	dlq     []*kgo.Record
}

func (w *world) readResults() *resultsReader {
	rr := &resultsReader{results: map[Source][]Result{}, keys: map[Source][]byte{}}
	cl := w.client(kgo.ConsumeTopics(testTopics.Success, testTopics.Failure, testTopics.DeadLetter),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	w.t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			fetches := cl.PollFetches(ctx)
			fetches.EachRecord(func(r *kgo.Record) {
				rr.mu.Lock()
				defer rr.mu.Unlock()
				if r.Topic == testTopics.DeadLetter {
					rr.dlq = append(rr.dlq, r)
					return
				}
				var res Result
				if err := json.Unmarshal(r.Value, &res); err != nil {
					panic(fmt.Sprintf("result is not JSON: %s", r.Value))
				}
				if res.Success != (r.Topic == testTopics.Success) {
					panic(fmt.Sprintf("result %s on topic %s", r.Value, r.Topic))
				}
				rr.results[res.Source] = append(rr.results[res.Source], res)
				rr.keys[res.Source] = r.Key
			})
		}
	}()
	return rr
}

// waitFor waits until n distinct events have results.
func (rr *resultsReader) waitFor(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		rr.mu.Lock()
		got := len(rr.results)
		rr.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	t.Fatalf("%d of %d events have results after %v", len(rr.results), n, timeout)
}

func (rr *resultsReader) snapshot() (map[Source][]Result, []*kgo.Record) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	res := make(map[Source][]Result, len(rr.results))
	for k, v := range rr.results {
		res[k] = append([]Result(nil), v...)
	}
	return res, append([]*kgo.Record(nil), rr.dlq...)
}

// committedAtEnd checks that the group's committed offsets are at the end
// of every partition of the topics.
func (w *world) committedAtEnd(group string, topics ...string) {
	w.t.Helper()
	adm := kadm.NewClient(w.client())
	ctx := context.Background()
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		w.t.Fatal(err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		w.t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(o.Topic, o.Partition)
		if o.Offset > 0 && (!ok || c.At != o.Offset) {
			w.t.Errorf("%s/%d: committed %d (found %v), end %d", o.Topic, o.Partition, c.At, ok, o.Offset)
		}
	})
}

func envelope(object string, op event.Operation, ext string, fields map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"object": object, "operation": op, "externalIdField": ext, "fields": fields})
	return b
}

// journalOptions returns the options of a pipeline of group, on route,
// with a journal and delivering exactly once or not, whose buffers take n
// events: a backlog of n events is one job.
func (w *world) journalOptions(group string, route Route, exactlyOnce bool, n int) Options {
	opts := w.options(group, route)
	opts.Journal, opts.ExactlyOnce = testJournal, exactlyOnce
	opts.Batch.MaxRecords, opts.Batch.MaxAge = n, time.Second
	return opts
}

// runExpectingEachOnce runs a pipeline with opts until events events have
// results, within timeout, and stops it. It checks that each event has one
// result, a success, and that each of the inserts insertRecords(prefix,
// inserts) made is in the org once; it returns the results, read from the
// start of the result topics (those of earlier runs too).
func (w *world) runExpectingEachOnce(t *testing.T, opts Options, timeout time.Duration, events int, prefix string, inserts int) map[Source][]Result {
	t.Helper()
	rr := w.readResults()
	run := w.start(opts)
	rr.waitFor(t, events, timeout)
	run.shutdown(t)
	if n := len(run.p.journaled); n != 0 { // Run has returned: the main loop's state is ours to read
		t.Errorf("%d partitions still hold what the journal said of them, every event consumed", n)
	}
	results, _ := rr.snapshot()
	oneResultEach(t, results, events, "")
	insertsOnce(t, w, prefix, inserts)
	return results
}

// journalOfTheJob returns the journal entries of the one job in jobs
// (events by job, see eventsByJob), in order; it fails t when there are
// more.
func journalOfTheJob(t *testing.T, w *world, jobs map[string]int) []journal.Entry {
	t.Helper()
	if len(jobs) != 1 {
		t.Fatalf("results come from %d jobs (%v), want the one that loaded the rows", len(jobs), jobs)
	}
	for job := range jobs {
		return journalWords(t, w, job)
	}
	return nil
}
