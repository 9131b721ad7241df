package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/oauth2"

	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// The tests of this file put Salesforce, a record or the broker in trouble
// and check the outcome that counts: every event one result, the org's
// rows equal to the source (inserts, so a duplicate shows), and no good
// event reported failed. test/faults runs the same cases against the real
// binary.

// insertsOnce checks that each of the names prefix-0 … prefix-(n-1) is in
// the org once, except the names in absent, which are not at all.
func insertsOnce(t *testing.T, w *world, prefix string, n int, absent ...int) {
	t.Helper()
	names := map[string]int{}
	for _, r := range w.emu.Records("Account") {
		names[r.Fields["Name"]]++
	}
	skip := map[int]bool{}
	for _, i := range absent {
		skip[i] = true
	}
	bad := 0
	for i := range n {
		want := 1
		if skip[i] {
			want = 0
		}
		if got := names[fmt.Sprintf("%s-%d", prefix, i)]; got != want {
			if bad++; bad <= 5 {
				t.Errorf("%s-%d is in the org %d times, want %d", prefix, i, got, want)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d records in the org a wrong number of times (%d rows in all)", bad, n, len(w.emu.Records("Account")))
	}
}

// oneResultEach checks that each of n events of partition 0 has exactly one
// result, a success unless its offset is in failed, where it must fail
// with code.
func oneResultEach(t *testing.T, results map[Source][]Result, n int, code string, failed ...int64) {
	t.Helper()
	bad := map[int64]bool{}
	for _, o := range failed {
		bad[o] = true
	}
	if len(results) != n {
		t.Errorf("%d events have results, want %d", len(results), n)
	}
	for src, rs := range results {
		switch {
		case len(rs) != 1:
			t.Fatalf("%v: %d results, want 1: %+v", src, len(rs), rs)
		case bad[src.Offset] && (rs[0].Success || rs[0].ErrorCode != code):
			t.Errorf("%v: %+v, want a failure with %s", src, rs[0], code)
		case !bad[src.Offset] && !rs[0].Success:
			t.Fatalf("%v: a good event reported failed: %+v", src, rs[0])
		}
	}
}

// Salesforce unreachable while a job runs: the job was closed, so it is
// asked about again until Salesforce answers, and its rows are never
// uploaded a second time.
func TestOutageAfterCloseUploadsNothingTwice(t *testing.T) {
	const n = 600
	w := newWorld(t, 1, bulkemu.Options{Faults: bulkemu.Faults{RowsPerSecond: 300}}, "crm.accounts")
	w.produce(insertRecords("O", n)...)
	rr := w.readResults()
	run := w.start(w.options("outage-close", insertRoute))
	for deadline := time.Now().Add(20 * time.Second); len(w.emu.Records("Account")) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no row was processed in 20s")
		}
	}
	w.sfDown.Store(true) // the job goes on in the org
	time.Sleep(2 * time.Second)
	w.sfDown.Store(false)
	rr.waitFor(t, n, 60*time.Second)
	time.Sleep(300 * time.Millisecond) // let duplicates, if any, arrive
	run.shutdown(t)
	results, _ := rr.snapshot()
	oneResultEach(t, results, n, "")
	insertsOnce(t, w, "O", n)
	w.committedAtEnd("outage-close", "crm.accounts")
}

// Sessions revoked on 30 % of the calls, again and again right after a
// refresh: a refused session is refreshed and the call repeated for as
// long as it takes, so no row fails for it and none is loaded twice.
func TestRevokedSessionsFailNothing(t *testing.T) {
	const n = 1500
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	w.produce(insertRecords("S", n)...)
	rr := w.readResults()
	opts := w.options("sessions", insertRoute)
	tokens, _, err := bulk.ClientCredentials(context.Background(), w.sfURL, "bulkstream", "bulkstream")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Salesforce, err = bulk.New(w.sfURL, tokens,
		bulk.WithWaitPolicy(bulk.WaitPolicy{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}),
		bulk.WithRetry(bulk.RetryPolicy{MaxAttempts: 2, Base: time.Millisecond, Cap: 10 * time.Millisecond})); err != nil {
		t.Fatal(err)
	}
	opts.Batch.MaxRecords = 100
	w.emu.SetFaults(bulkemu.Faults{Seed: 7, ExpireSessionRate: 0.3})
	run := w.start(opts)
	rr.waitFor(t, n, 90*time.Second)
	time.Sleep(300 * time.Millisecond)
	run.shutdown(t)
	results, _ := rr.snapshot()
	oneResultEach(t, results, n, "")
	insertsOnce(t, w, "S", n)
}

// One event with a field the object does not have fails its job as a whole
// (InvalidBatch : Field name not found): that event fails with the job's
// message, and the 499 others batched with it are loaded without it.
func TestUnknownFieldFailsOnlyItsEvent(t *testing.T) {
	const n, bad = 500, 137
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	records := insertRecords("F", n)
	records[bad].Value = []byte(fmt.Sprintf(`{"Name":"F-%d","NoSuchField__c":"x"}`, bad))
	w.produce(records...)
	rr := w.readResults()
	opts := w.options("unknown-field", insertRoute)
	opts.Batch.MaxRecords, opts.Batch.MaxAge = n, time.Second // all in one job
	run := w.start(opts)
	rr.waitFor(t, n, 30*time.Second)
	run.shutdown(t)
	results, dlq := rr.snapshot()
	oneResultEach(t, results, n, "InvalidBatch", bad)
	if msg := results[Source{"crm.accounts", 0, bad}][0].Error; !strings.Contains(msg, "NoSuchField__c") {
		t.Errorf("the failure says %q; want Salesforce's message naming the field", msg)
	}
	if len(dlq) != 1 {
		t.Errorf("%d dead letters, want 1", len(dlq))
	}
	insertsOnce(t, w, "F", n, bad)
}

// One event whose fields make the header row longer than Salesforce takes
// (32,000 characters) fails alone; the job is cut in halves until it is
// found, and every other event is loaded.
func TestHeaderTooLongFailsOnlyItsEvent(t *testing.T) {
	const n, bad = 300, 211
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	records := insertRecordsWithAWideOne("H", n, bad)
	w.produce(records...)
	rr := w.readResults()
	opts := w.options("wide", insertRoute)
	opts.Batch.MaxRecords, opts.Batch.MaxAge = n, time.Second
	run := w.start(opts)
	rr.waitFor(t, n, 60*time.Second)
	run.shutdown(t)
	results, _ := rr.snapshot()
	oneResultEach(t, results, n, "InvalidBatch", bad)
	insertsOnce(t, w, "H", n, bad)
}

// jobOfTheJournal produces six inserts (prefix-0 to prefix-5) and runs
// the first three as a job behind the pipeline's back, which the journal
// names as open, as a crash would leave it; it returns the job's id.
func jobOfTheJournal(t *testing.T, w *world, prefix string) string {
	t.Helper()
	w.produce(insertRecords(prefix, 6)...)
	done := runJobBehindThePipeline(t, w, fmt.Sprintf("Name\n%[1]s-0\n%[1]s-1\n%[1]s-2\n", prefix), true)
	writeJournal(t, w, journal.Entry{JobID: done, Object: "Account", Operation: "insert", Attempt: 1,
		Topic: "crm.accounts", Partition: 0, State: journal.Open, Offsets: [][2]int64{{0, 2}}})
	return done
}

// runExpectingTheJobOfTheJournal runs a pipeline of group with a journal
// until the six events of jobOfTheJournal(prefix) have results, and checks
// that each has one, a success, and is in the org once, and that offset 0
// is reported from done, the job the journal names: re-attached to, not
// loaded again.
func (w *world) runExpectingTheJobOfTheJournal(t *testing.T, group, prefix, done string) {
	t.Helper()
	opts := w.options(group, insertRoute)
	opts.Journal = testJournal
	results := w.runExpectingEachOnce(t, opts, 60*time.Second, 6, prefix, 6)
	if r := results[Source{"crm.accounts", 0, 0}][0]; r.JobID != done {
		t.Errorf("offset 0 reported from job %s, want the re-attached %s", r.JobID, done)
	}
}

// A broker that answers the journal's fetches slowly: the journal is read
// to its end offset however long that takes, so a job that ran before is
// re-attached to, not loaded a second time.
func TestSlowJournalReadUploadsNothingTwice(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	done := jobOfTheJournal(t, w, "J")
	topics, err := kadm.NewClient(w.client()).ListTopics(context.Background(), testJournal)
	if err != nil {
		t.Fatal(err)
	}
	journalID := topics[testJournal].ID
	w.cluster.ControlKey(kmsg.Fetch.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		for _, topic := range req.(*kmsg.FetchRequest).Topics {
			if topic.Topic == testJournal || topic.TopicID == journalID {
				w.cluster.SleepControl(func() { time.Sleep(1500 * time.Millisecond) })
			}
		}
		return nil, nil, false
	})
	w.runExpectingTheJobOfTheJournal(t, "slow-journal", "J", done)
}

// A journal that cannot be read at all (the broker refuses to list its
// offsets, three times) is read again, with the partitions paused, until it
// can: the job that ran before is re-attached to, never loaded again as if
// the journal were empty.
func TestFailedJournalReadIsRetried(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	done := jobOfTheJournal(t, w, "F")
	var refused atomic.Int32
	w.cluster.ControlKey(kmsg.ListOffsets.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		r := req.(*kmsg.ListOffsetsRequest)
		if len(r.Topics) != 1 || r.Topics[0].Topic != testJournal || refused.Load() == 3 {
			return nil, nil, false
		}
		w.cluster.KeepControl()
		refused.Add(1)
		resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	w.runExpectingTheJobOfTheJournal(t, "failed-journal", "F", done)
	if n := refused.Load(); n != 3 {
		t.Errorf("the journal's offsets were refused %d times, want 3", n)
	}
}

// An instance paused by a Salesforce outage or by the pacer does not hold
// up a rebalance: a second instance that joins gets its share of the
// partitions within the rebalance timeout, while the first is still
// paused, and once the pause ends every event has one result and every row
// is in the org once.
func TestRebalanceWhilePausedIsNotBlocked(t *testing.T) {
	t.Run("Salesforce outage", func(t *testing.T) {
		rebalanceWhilePaused(t, nil, func(w *world) { w.sfDown.Store(true) }, func(w *world) { w.sfDown.Store(false) })
	})
	t.Run("pacer", func(t *testing.T) {
		rebalanceWhilePaused(t, func(w *world, opts *Options) { paced(t, w, opts) }, func(w *world) { w.emu.SetDailyAPIRequests(1) }, func(w *world) { w.emu.SetDailyAPIRequests(1_000_000) })
	})
}

func rebalanceWhilePaused(t *testing.T, configure func(*world, *Options), pause, resume func(*world)) {
	const n, partitions = 800, 4
	const group = "paused-rebalance"
	w := newWorld(t, partitions, bulkemu.Options{}, "crm.accounts")
	records := insertRecords("B", n)
	for i, r := range records {
		r.Partition = int32(i % partitions)
	}
	producer := w.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond))
	produce := func(rs []*kgo.Record) {
		if err := producer.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	rr := w.readResults()
	options := func() Options {
		opts := w.options(group, insertRoute)
		opts.Journal = testJournal
		opts.Kafka = append(opts.Kafka, kgo.RebalanceTimeout(4*time.Second), kgo.SessionTimeout(6*time.Second))
		if configure != nil {
			configure(w, &opts)
		}
		return opts
	}
	first := w.start(options())
	produce(records[:n/2])
	rr.waitFor(t, n/2, 30*time.Second)

	pause(w)
	produce(records[n/2 : 3*n/4])
	time.Sleep(time.Second)  // the first instance pauses
	produce(records[3*n/4:]) // fetched while paused, or not
	time.Sleep(300 * time.Millisecond)
	if results, _ := rr.snapshot(); len(results) == n {
		t.Fatal("every event had a result during the pause; the test needs the first instance paused")
	}
	second := w.start(options())
	adm := kadm.NewClient(w.client())
	deadline := time.Now().Add(4 * time.Second)
	for {
		groups, err := adm.DescribeGroups(context.Background(), group)
		g := groups[group]
		if err == nil && g.State == "Stable" && len(g.Members) == 2 && len(g.AssignedPartitions()["crm.accounts"]) == partitions &&
			!slices.ContainsFunc(g.Members, func(m kadm.DescribedGroupMember) bool {
				c, ok := m.Assigned.AsConsumer()
				return !ok || len(c.Topics) == 0
			}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the partitions did not move to the second instance within the rebalance timeout: group %+v (error %v)", g, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	resume(w)
	rr.waitFor(t, n, 60*time.Second)
	time.Sleep(300 * time.Millisecond)
	first.shutdown(t)
	second.shutdown(t)
	results, _ := rr.snapshot()
	oneResultEach(t, results, n, "")
	insertsOnce(t, w, "B", n)
}

// The memory budget, not the backlog, bounds what is consumed ahead of the
// results: with Salesforce down and 20,000 events waiting, the pipeline
// fetches up to its budget and stops; when Salesforce is back, every event
// gets its result.
func TestMemoryBudgetBoundsTheBacklogInFlight(t *testing.T) {
	const n, budget = 20_000, 1 << 20
	w := newWorld(t, 2, bulkemu.Options{}, "crm.accounts")
	w.produce(accountRecords(0, n)...)
	rr := w.readResults()
	opts := w.options("budget", accountRoute)
	opts.MemoryBudget = budget
	opts.Batch.MaxRecords = 100_000 // the budget, not the batch size, must be what stops fetching
	w.sfDown.Store(true)
	run := w.start(opts)
	time.Sleep(2 * time.Second)
	held := gaugeValue(t, opts.Metrics.InFlightBytes)
	consumed := counterValue(t, opts.Metrics.EventsConsumed.WithLabelValues("crm.accounts"))
	const biggest = 64 // bytes of the largest record of accountRecords, roughly
	if held > budget+pollRecords*biggest || consumed >= n {
		t.Fatalf("%v events consumed, %v bytes in flight during the outage; the budget is %d", consumed, held, budget)
	}
	t.Logf("during the outage: %v of %d events consumed, %v bytes in flight (budget %d)", consumed, n, held, budget)
	w.sfDown.Store(false)
	rr.waitFor(t, n, 90*time.Second)
	run.shutdown(t)
	results, _ := rr.snapshot()
	everyEventHasAResult(t, results, n, 1)
}

// A backlog larger than the memory budget runs as several jobs that share
// it, each sealed at a quarter of the budget's worth of events (never fewer
// than 1,000), rather than one job that takes the whole budget and holds
// fetching until its results are out.
func TestJobsShareTheMemoryBudget(t *testing.T) {
	const n, budget = 40_000, 16 << 20
	w := newWorld(t, 2, bulkemu.Options{}, "crm.accounts")
	w.produce(accountRecords(0, n)...)
	rr := w.readResults()
	opts := w.options("share", accountRoute)
	opts.MemoryBudget = budget
	opts.Batch.MaxRecords, opts.Batch.MaxAge = 100_000, time.Hour // the tail goes when the consumer catches up
	run := w.start(opts)
	rr.waitFor(t, n, 60*time.Second)
	run.shutdown(t)
	results, _ := rr.snapshot()
	everyEventHasAResult(t, results, n, 1)
	rows := eventsByJob(results)
	// A quarter of 16 MiB is under 8,192 events (each costs eventCost and
	// then some); a poll of up to pollRecords may come on top of it. One
	// job taking the whole budget would have about 28,000.
	biggest := 0
	for _, r := range rows {
		biggest = max(biggest, r)
	}
	if limit := budget/4/eventCost + pollRecords; biggest > limit || len(rows) < 3 {
		t.Errorf("%d jobs, the largest of %d events; want at least 3, none over %d", len(rows), biggest, limit)
	}
	t.Logf("%d jobs, the largest of %d events", len(rows), biggest)
}

// A job larger than settleChunk publishes its results in chunks: each
// chunk but the last writes the slice's open entry again with the events
// published so far, and the last closes the slice naming all of them, so
// the last word on the job's slice covers every event (a chunk's own
// offsets alone would leave the earlier ones to be loaded again after a
// crash).
func TestLargeJobClosesItsWholeSlice(t *testing.T) {
	const n = 2*settleChunk + 1000
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	w.produce(insertRecords("L", n)...)
	rr := w.readResults()
	opts := w.options("large-job", insertRoute)
	opts.Journal, opts.ExactlyOnce = testJournal, true
	opts.Batch.MaxRecords, opts.Batch.MaxAge = n, 2*time.Second // one job
	run := w.start(opts)
	rr.waitFor(t, n, 60*time.Second)
	run.shutdown(t)
	results, _ := rr.snapshot()
	oneResultEach(t, results, n, "")
	jobs := eventsByJob(results)
	if len(jobs) != 1 {
		t.Fatalf("%d jobs, want the %d events in one", len(jobs), n)
	}
	// The log as written (a tombstone may already follow the entry, once
	// the group has committed past it).
	cl := w.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{testJournal: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(context.Background(), testJournal)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(testJournal, 0)
	var last *journal.Entry
	for next := int64(0); next < end.Offset; {
		fetches := cl.PollFetches(context.Background())
		fetches.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			var e journal.Entry
			if !r.Attrs.IsControl() && r.Value != nil && json.Unmarshal(r.Value, &e) == nil && jobs[e.JobID] > 0 {
				last = &e
			}
		})
	}
	if last == nil || last.State != journal.Closed || len(last.Offsets) != 1 || last.Offsets[0] != [2]int64{0, n - 1} {
		t.Fatalf("the job's last journal entry: %+v, want closed [[0 %d]]", last, n-1)
	}
}

// Credentials that the token endpoint refuses (a rotated secret) pause the
// pipeline with a reason that says so; no event fails for it, and when the
// credentials are good again every event gets its result.
func TestRefusedCredentialsPauseWithoutFailing(t *testing.T) {
	const n = 300
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	_, _, refusal := bulk.ClientCredentials(context.Background(), w.sfURL, "bulkstream", "rotated")
	if !bulk.IsCredentialsRefused(refusal) {
		t.Fatalf("the token endpoint's answer to a wrong secret: %v", refusal)
	}
	var refused atomic.Bool
	tokens := bulk.NewTokenCache(func(context.Context) (*oauth2.Token, error) {
		if refused.Load() {
			return nil, refusal
		}
		return &oauth2.Token{AccessToken: w.emu.Token()}, nil
	})
	opts := w.options("credentials", insertRoute)
	var err error
	if opts.Salesforce, err = bulk.New(w.sfURL, tokens,
		bulk.WithWaitPolicy(bulk.WaitPolicy{Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}),
		bulk.WithRetry(bulk.RetryPolicy{MaxAttempts: 2, Base: time.Millisecond, Cap: 10 * time.Millisecond})); err != nil {
		t.Fatal(err)
	}
	refused.Store(true)
	w.emu.SetFaults(bulkemu.Faults{Seed: 1, ExpireSessionRate: 1}) // every session is refused, and so is every new token
	w.produce(insertRecords("C", n)...)
	rr := w.readResults()
	run := w.start(opts)
	paused := opts.Metrics.Paused.WithLabelValues(PausedCredentials)
	for deadline := time.Now().Add(20 * time.Second); gaugeValue(t, paused) != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the pipeline did not pause for refused credentials")
		}
	}
	time.Sleep(500 * time.Millisecond)
	if results, _ := rr.snapshot(); len(results) != 0 {
		t.Fatalf("%d results while the credentials were refused, want none (events must not fail for it): %v", len(results), results)
	}
	refused.Store(false)
	w.emu.SetFaults(bulkemu.Faults{})
	rr.waitFor(t, n, 120*time.Second)
	run.shutdown(t)
	results, _ := rr.snapshot()
	oneResultEach(t, results, n, "")
	insertsOnce(t, w, "C", n)
	if v := gaugeValue(t, paused); v != 0 {
		t.Errorf("bulkstream_paused{reason=%q} still %v after resuming", PausedCredentials, v)
	}
}

// insertRecordsWithAWideOne is insertRecords(prefix, n) with record bad
// naming 3,000 fields more: its CSV header row is longer than Salesforce
// takes (32,000 characters).
func insertRecordsWithAWideOne(prefix string, n, bad int) []*kgo.Record {
	records := insertRecords(prefix, n)
	var wide strings.Builder
	fmt.Fprintf(&wide, `{"Name":"%s-%d"`, prefix, bad)
	for i := range 3000 {
		fmt.Fprintf(&wide, `,"Wide_Field_%04d__c":"v"`, i)
	}
	wide.WriteString("}")
	records[bad].Value = []byte(wide.String())
	return records
}
