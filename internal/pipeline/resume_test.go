package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/oauth2"

	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

const testJournal = "bulkstream.journal"

var insertRoute = Route{Topics: []string{"crm.accounts"}, Decoder: event.NewJSONDecoder(event.Defaults{Object: "Account", Operation: event.Insert})}

// insertRecords makes n inserts of accounts named prefix-i, one partition.
func insertRecords(prefix string, n int) []*kgo.Record {
	out := make([]*kgo.Record, n)
	for i := range out {
		out[i] = &kgo.Record{Topic: "crm.accounts", Partition: 0, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf(`{"Name":"%s-%d"}`, prefix, i))}
	}
	return out
}

// runJobBehindThePipeline loads rows into the emulator as a crashed
// instance would have, and returns the job id.
func runJobBehindThePipeline(t *testing.T, w *world, csv string, close bool) string {
	t.Helper()
	sf, err := bulk.New(w.sfURL, staticToken(w))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	job, err := sf.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert})
	if err != nil {
		t.Fatal(err)
	}
	if err := sf.UploadJobData(ctx, job.ID, strings.NewReader(csv)); err != nil {
		t.Fatal(err)
	}
	if close {
		if _, err := sf.CloseIngestJob(ctx, job.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := sf.WaitIngestJob(ctx, job.ID); err != nil {
			t.Fatal(err)
		}
	}
	return job.ID
}

func writeJournal(t *testing.T, w *world, entries ...journal.Entry) {
	t.Helper()
	cl := w.client()
	if err := journal.Create(context.Background(), cl, testJournal, -1); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := cl.ProduceSync(context.Background(), e.Record(testJournal)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// After a crash, the new owner of a partition re-attaches to the jobs the
// journal says were running, instead of loading their rows again (inserts
// would be duplicated); jobs that were never closed are aborted and their
// events loaded again; events whose results are out are passed over.
func TestResumeFromTheJournal(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	records := insertRecords("R", 9)
	w.produce(records...)
	// Events 0-2 ran in a job that finished; 3-5 were uploaded to a job
	// never closed; 6-8 had their results published already.
	done := runJobBehindThePipeline(t, w, "Name\nR-0\nR-1\nR-2\n", true)
	unclosed := runJobBehindThePipeline(t, w, "Name\nR-3\nR-4\nR-5\n", false)
	writeJournal(t, w,
		journal.Entry{JobID: done, Object: "Account", Operation: "insert", Attempt: 1, Topic: "crm.accounts", Partition: 0, State: journal.Open, Offsets: [][2]int64{{0, 2}}},
		journal.Entry{JobID: unclosed, Object: "Account", Operation: "insert", Attempt: 1, Topic: "crm.accounts", Partition: 0, State: journal.Open, Offsets: [][2]int64{{3, 5}}},
		journal.Entry{JobID: "7508c0000000099AAA", Topic: "crm.accounts", Partition: 0, State: journal.Closed, Offsets: [][2]int64{{6, 8}}},
	)
	rr := w.readResults()
	opts := w.options("resume", insertRoute)
	opts.Journal, opts.ExactlyOnce = testJournal, true
	run := w.start(opts)
	rr.waitFor(t, 6, 30*time.Second)
	time.Sleep(500 * time.Millisecond) // results for 6-8 would come now, if wrongly
	run.shutdown(t)

	results, _ := rr.snapshot()
	if len(results) != 6 {
		t.Fatalf("%d events have results, want 6 (0-5): %v", len(results), results)
	}
	for off := int64(0); off < 6; off++ {
		rs := results[Source{Topic: "crm.accounts", Partition: 0, Offset: off}]
		if len(rs) != 1 || !rs[0].Success {
			t.Fatalf("offset %d: %+v", off, rs)
		}
		if off < 3 && rs[0].JobID != done {
			t.Errorf("offset %d reported from job %s, want the re-attached %s", off, rs[0].JobID, done)
		}
		if off >= 3 && (rs[0].JobID == unclosed || rs[0].JobID == done) {
			t.Errorf("offset %d reported from job %s, want a new job", off, rs[0].JobID)
		}
	}
	names := map[string]int{}
	for _, r := range w.emu.Records("Account") {
		names[r.Fields["Name"]]++
	}
	for i := 0; i < 6; i++ {
		if n := names[fmt.Sprintf("R-%d", i)]; n != 1 {
			t.Errorf("R-%d is in the org %d times, want once", i, n)
		}
	}
	if names["R-6"] != 0 {
		t.Errorf("an event whose result was out was loaded again")
	}
	w.committedAtEnd("resume", "crm.accounts")
}

func staticToken(w *world) oauth2.TokenSource {
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: w.emu.Token()})
}

// A zombie (an instance that lost a partition but still runs) cannot
// publish results for the partition once the new owner took over its
// transactional id.
func TestZombieProducerIsFenced(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts", testTopics.Success)
	writeJournal(t, w)
	opts := w.options("zombie", insertRoute)
	opts.Journal, opts.ExactlyOnce = testJournal, true
	old, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	heir, _ := New(opts)
	ctx := context.Background()
	tp := topicPartition{"crm.accounts", 0}
	record := func(v string) []*kgo.Record { return []*kgo.Record{{Topic: testTopics.Success, Value: []byte(v)}} }
	if err := old.producers.fence(ctx, tp); err != nil {
		t.Fatal(err)
	}
	defer old.producers.closeAll()
	if err := old.producers.publishTx(ctx, tp, record("before")); err != nil {
		t.Fatalf("the owner could not publish: %v", err)
	}
	if err := heir.producers.fence(ctx, tp); err != nil {
		t.Fatal(err)
	}
	defer heir.producers.closeAll()
	if err := old.producers.publishTx(ctx, tp, record("zombie")); err == nil {
		t.Fatal("the previous owner published after the new owner took the partition over")
	}
	if err := heir.producers.publishTx(ctx, tp, record("after")); err != nil {
		t.Fatalf("the new owner could not publish: %v", err)
	}
	cl := w.client(kgo.ConsumeTopics(testTopics.Success), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < 2 {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fetches := cl.PollFetches(pctx)
		cancel()
		if pctx.Err() != nil && fetches.NumRecords() == 0 {
			break
		}
		fetches.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if strings.Join(got, ",") != "before,after" {
		t.Fatalf("read_committed sees %v, want [before after]", got)
	}
}

// Once the group has committed past a job's events, its journal entries
// are cleared with tombstones, so the journal stays small.
func TestJournalEntriesAreClearedOnceCommitted(t *testing.T) {
	w := newWorld(t, 2, bulkemu.Options{}, "crm.accounts")
	writeJournal(t, w)
	rr := w.readResults()
	opts := w.options("journal-gc", accountRoute)
	opts.Journal = testJournal
	run := w.start(opts)
	w.produce(accountRecords(0, 500)...)
	rr.waitFor(t, 500, 30*time.Second)
	parts := map[string][]int32{"crm.accounts": {0, 1}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		entries, err := journal.Read(context.Background(), []kgo.Opt{kgo.SeedBrokers(w.brokers...)}, testJournal, parts, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d journal entries left after the commits, e.g. %+v", len(entries), *entries[0])
		}
		time.Sleep(200 * time.Millisecond)
	}
	run.shutdown(t)
}
