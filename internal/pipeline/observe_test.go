package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/internal/metrics"
	"github.com/bulkstream/bulkstream/internal/pacer"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// syncBuffer is a log sink written by the pipeline's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gauges returns the values of a gauge vector's series, by their label
// values joined with "/".
func gauges(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetValue())
			}
			out[strings.Join(labels, "/")] = (&dto.Metric{Gauge: m.Gauge}).GetGauge().GetValue()
		}
	}
	return out
}

// bulkstream_paused has a series at 0 for every reason the pipeline can
// pause for, before any pause.
func TestPausedReasonsExportedFromTheStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics.New(reg)
	got := gauges(t, reg, "bulkstream_paused")
	for _, reason := range []string{pacer.APIRequests, pacer.Records, PausedSalesforce, PausedCredentials, PausedSchemaRegistry} {
		if v, ok := got[reason]; !ok || v != 0 {
			t.Errorf("bulkstream_paused{reason=%q}: %v (exported %v)", reason, v, ok)
		}
	}
}

// Observe shows the jobs that ran and the failures by code with examples;
// a line is logged per finished job and per assignment; the consumer lag
// of each partition is exported and falls to 0 once the pipeline caught
// up.
func TestObserveJobsFailuresLag(t *testing.T) {
	w := newWorld(t, 2, bulkemu.Options{}, "crm.accounts")
	rr := w.readResults()
	var records []*kgo.Record
	for i := range 40 {
		fields := map[string]any{"External_Id__c": "A-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), "Name": "Acme"}
		if i%10 == 0 {
			fields["NumberOfEmployees"] = "many"
		}
		records = append(records, &kgo.Record{Topic: "crm.accounts", Partition: int32(i % 2), Key: []byte(fields["External_Id__c"].(string)),
			Value: envelope("Account", event.Upsert, "External_Id__c", fields)})
	}
	w.produce(records...)
	opts := w.options("observe", Route{Topics: []string{"crm.accounts"}, Decoder: event.NewEnvelopeDecoder(event.Defaults{})})
	var logs syncBuffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	reg := prometheus.NewRegistry()
	opts.Metrics = metrics.New(reg)
	run := w.start(opts)
	rr.waitFor(t, len(records), 30*time.Second)

	o := run.p.Observe()
	if len(o.Recent) == 0 || o.Stats.Consumed != int64(len(records)) {
		t.Fatalf("observation: %d recent jobs, stats %+v", len(o.Recent), o.Stats)
	}
	rows := 0
	for _, j := range o.Recent {
		if j.ID == "" || j.Object != "Account" || j.Operation != "upsert" || j.State != "JobComplete" || j.Ended.IsZero() {
			t.Errorf("job %+v", j)
		}
		rows += j.Rows
	}
	if rows != len(records) {
		t.Errorf("the jobs hold %d rows, want %d", rows, len(records))
	}
	if len(o.Failures) != 1 || o.Failures[0].Code != "INVALID_FIELD" || o.Failures[0].Count != 4 || len(o.Failures[0].Examples) != failureExamples ||
		o.Failures[0].Examples[0].Key == "" || o.Failures[0].Examples[0].Source.Topic != "crm.accounts" ||
		len(o.Failures[0].PerMinute) != failureMinutes || o.Failures[0].PerMinute[failureMinutes-1]+o.Failures[0].PerMinute[failureMinutes-2] != 4 {
		t.Errorf("failures %+v", o.Failures)
	}
	lag := gauges(t, reg, "bulkstream_consumer_lag")
	if len(lag) != 2 || lag["0/crm.accounts"] != 0 || lag["1/crm.accounts"] != 0 || len(o.Lag) != 2 {
		t.Errorf("consumer lag %v, observed %+v", lag, o.Lag)
	}
	run.shutdown(t)
	text := logs.String()
	if n := strings.Count(text, `msg="job finished"`); n != len(o.Recent) {
		t.Errorf("%d job lines for %d jobs:\n%s", n, len(o.Recent), text)
	}
	if !strings.Contains(text, `msg="partitions assigned"`) || !strings.Contains(text, "job="+o.Recent[0].ID) {
		t.Errorf("log:\n%s", text)
	}
	if !slices.ContainsFunc(strings.Split(text, "\n"), func(l string) bool {
		return strings.Contains(l, "job finished") && strings.Contains(l, "object=Account") && strings.Contains(l, "failures=") && strings.Contains(l, "duration=")
	}) {
		t.Errorf("no job line names object, failures and duration:\n%s", text)
	}
}

// The watch keeps the last watchedJobs jobs that ended, latest first.
func TestWatchKeepsTheLastJobs(t *testing.T) {
	p := &Pipeline{log: slog.New(slog.DiscardHandler), submit: &submitter{}}
	p.submit.watch = newWatch(p)
	b := &batch.Buffer{}
	for i := range watchedJobs + 10 {
		id := fmt.Sprintf("750%05d", i)
		p.submit.watch.started(id, b, 1)
		p.submit.watch.ended(id, errors.New("aborted"))
	}
	p.submit.watch.started("750running", b, 1)
	p.submit.watch.started("750stopped", b, 1)
	p.submit.watch.ended("750stopped", errStopped)
	o := p.Observe()
	if o.Recent[0].ID != "750stopped" || o.Recent[0].State != StateUnfinished {
		t.Errorf("a job left at shutdown: %+v", o.Recent[0])
	}
	o.Recent = o.Recent[1:]
	if len(o.Recent) != watchedJobs-1 || o.Recent[0].ID != fmt.Sprintf("750%05d", watchedJobs+9) || o.Recent[watchedJobs-2].ID != "75000011" ||
		o.Recent[0].State != "Aborted" || o.Recent[0].Error != "aborted" {
		t.Errorf("%d recent jobs, first %+v, last %+v", len(o.Recent), o.Recent[0], o.Recent[len(o.Recent)-1])
	}
	if len(o.InFlight) != 1 || o.InFlight[0].ID != "750running" || o.InFlight[0].State != "InProgress" {
		t.Errorf("in flight %+v", o.InFlight)
	}
}

// The watch forgets a revoked partition's lag, in Observe and in
// bulkstream_consumer_lag, and keeps the others'.
func TestObserveLagForgottenOnRevoke(t *testing.T) {
	reg := prometheus.NewRegistry()
	p := &Pipeline{log: slog.New(slog.DiscardHandler), submit: &submitter{}}
	p.opts.Metrics = metrics.New(reg)
	p.submit.watch = newWatch(p)
	partition := func(n int32, hwm int64) kgo.FetchPartition {
		return kgo.FetchPartition{Partition: n, HighWatermark: hwm, Records: []*kgo.Record{{Topic: "crm.accounts", Partition: n, Offset: 4}}}
	}
	p.submit.watch.fetched(fetchedPositions(kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "crm.accounts", Partitions: []kgo.FetchPartition{partition(0, 10), partition(1, 5)}}}}}))
	if o := p.Observe(); len(o.Lag) != 2 || o.Lag[0] != (PartitionLag{"crm.accounts", 0, 5}) || o.Lag[1] != (PartitionLag{"crm.accounts", 1, 0}) {
		t.Errorf("lag %+v", o.Lag)
	}
	p.submit.watch.revoked(topicPartition{"crm.accounts", 0})
	if o, g := p.Observe(), gauges(t, reg, "bulkstream_consumer_lag"); len(o.Lag) != 1 || o.Lag[0].Partition != 1 || len(g) != 1 || g["1/crm.accounts"] != 0 {
		t.Errorf("after revoking partition 0: observed %+v, exported %v", o.Lag, g)
	}
}

// A partition's lag keeps up with its end while nothing is polled from it
// (a pause, a full memory budget): once the last poll's figure is
// lagRefresh old, the broker is asked for the end, and the lag is measured
// from where that poll left off; a revoked partition stays forgotten.
func TestLagRefreshedWhileNothingIsPolled(t *testing.T) {
	w := newWorld(t, 2, bulkemu.Options{}, "crm.accounts")
	w.produce(accountRecords(0, 40)...) // by key: both partitions get some
	cl := w.client()
	reg := prometheus.NewRegistry()
	p := &Pipeline{log: slog.New(slog.DiscardHandler), submit: &submitter{}}
	p.opts.Metrics = metrics.New(reg)
	watch := newWatch(p)
	p.submit.watch = watch
	p0, p1 := topicPartition{"crm.accounts", 0}, topicPartition{"crm.accounts", 1}
	watch.fetched(map[topicPartition]position{p0: {next: 5}, p1: {next: 1}})
	ctx := t.Context()
	watch.refreshOnce(ctx, cl, time.Now()) // too fresh: nothing asked
	if o := p.Observe(); o.Lag[0].Lag != 0 || o.Lag[1].Lag != 0 {
		t.Fatalf("lag refreshed before lagRefresh: %+v", o.Lag)
	}
	watch.revoked(p1)
	watch.refreshOnce(ctx, cl, time.Now().Add(lagRefresh))
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "crm.accounts")
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup("crm.accounts", 0)
	o, g := p.Observe(), gauges(t, reg, "bulkstream_consumer_lag")
	if want := end.Offset - 5; want <= 0 || len(o.Lag) != 1 || o.Lag[0] != (PartitionLag{"crm.accounts", 0, want}) || g["0/crm.accounts"] != float64(want) || len(g) != 1 {
		t.Errorf("after a refresh: observed %+v, exported %v; want partition 0 at %d behind, partition 1 gone", o.Lag, g, want)
	}
}

// Failures by code keep the latest examples, and count by minute only
// within the last hour: a minute of the ring an hour old counts as 0 and
// starts again from 0.
func TestObserveFailuresByMinute(t *testing.T) {
	p := &Pipeline{log: slog.New(slog.DiscardHandler), submit: &submitter{}}
	p.submit.watch = newWatch(p)
	fail := func(key string) {
		p.submit.watch.failed(&outcome{result: Result{ErrorCode: "INVALID_FIELD"}, src: event.Source{Key: []byte(key)}})
	}
	for i := range failureExamples + 2 {
		fail(fmt.Sprint("k", i))
	}
	o := p.Observe()
	if len(o.Failures) != 1 || o.Failures[0].Count != failureExamples+2 || len(o.Failures[0].Examples) != failureExamples ||
		o.Failures[0].Examples[0].Key != "k2" || o.Failures[0].Examples[failureExamples-1].Key != fmt.Sprint("k", failureExamples+1) {
		t.Fatalf("failures %+v", o.Failures)
	}
	fail(strings.Repeat("k", 1<<20))
	if ex := p.Observe().Failures[0].Examples; len(ex[failureExamples-1].Key) > 512 {
		t.Errorf("an example keeps a key of %d bytes", len(ex[failureExamples-1].Key))
	}
	// Make the counts an hour old (the same slot of the ring).
	f := p.submit.watch.failures["INVALID_FIELD"]
	for i := range f.minute {
		if f.minute[i] != 0 {
			f.minute[i] -= failureMinutes
		}
	}
	sum := func() (n int64) {
		for _, c := range p.Observe().Failures[0].PerMinute {
			n += c
		}
		return n
	}
	if n := sum(); n != 0 {
		t.Errorf("counts an hour old: %d in the last hour", n)
	}
	fail("again")
	if n := sum(); n != 1 || p.Observe().Failures[0].Count != failureExamples+4 {
		t.Errorf("after a new failure: %d in the last hour, %+v", n, p.Observe().Failures[0])
	}
}

// Codes with as many failures are listed by name, the same at every look.
func TestObserveFailuresOrder(t *testing.T) {
	p := &Pipeline{log: slog.New(slog.DiscardHandler), submit: &submitter{}}
	p.submit.watch = newWatch(p)
	for _, code := range []string{"C", "A", "B", "D", "B"} {
		p.submit.watch.failed(&outcome{result: Result{ErrorCode: code}})
	}
	for range 20 {
		var codes []string
		for _, f := range p.Observe().Failures {
			codes = append(codes, f.Code)
		}
		if got := strings.Join(codes, ","); got != "B,A,C,D" {
			t.Fatalf("failures in the order %s, want B,A,C,D", got)
		}
	}
}
