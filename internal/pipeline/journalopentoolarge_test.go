package pipeline

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// A job whose open entry is more than the journal topic takes (half its
// size, uncompressed): the job is never created, since no job for its
// events could be journaled; every event fails at once, in its first
// attempt, with an error that names the entry, its size, the limit and
// what mends it. Not a request reaches Salesforce for them, nothing
// loops, and offsets are committed to the end. Before, a job was created,
// uploaded and aborted for each of retry.max_attempts attempts.
func TestJournalOpenEntryTooLargeFailsItsEvents(t *testing.T) {
	inBothDeliveryModes(t, testJournalOpenEntryTooLarge)
}

func testJournalOpenEntryTooLarge(t *testing.T, exactlyOnce bool) {
	const accounts = 1000
	w, opts, open := openEntryWorld(t, exactlyOnce, "journal-open-too-large", kgo.NoCompression())
	w.createTopic(testJournal, recordSize(open.Record(testJournal))/2)
	rr := w.readResults()
	w.produce(accountsAndTombstones("S", accounts)...) // a backlog: one job of every event
	run := w.start(opts)
	rr.waitFor(t, 2*accounts, 20*time.Second)
	run.shutdown(t)

	if jobs := ingestJobs(t, opts.Salesforce); len(jobs) != 0 {
		t.Errorf("%d jobs created (%v), want none: the entry was too large before any was", len(jobs), jobs)
	}
	results, _ := rr.snapshot()
	if len(results) != 2*accounts {
		t.Errorf("%d events have results, want %d", len(results), 2*accounts)
	}
	for src, rs := range results {
		if src.Offset%2 == 1 {
			continue // a tombstone, skipped
		}
		if len(rs) != 1 || rs[0].Success || rs[0].Attempts != 1 || rs[0].JobID != "" ||
			!strings.Contains(rs[0].Error, "would refuse the open entry of crm.accounts/0") || !strings.Contains(rs[0].Error, "max.message.bytes") {
			t.Fatalf("%v: %+v, want one failure, in the first attempt and of no job, that names the refused entry and max.message.bytes", src, rs)
		}
	}
	w.committedAtEnd("journal-open-too-large", "crm.accounts")
}

// An open entry over the journal topic's limit as it is, but not once
// compressed with the producer's codec, is taken by Kafka: its job runs.
// Fails when the entry is judged uncompressed.
func TestJournalOpenEntryTakenCompressed(t *testing.T) {
	const accounts = 1000
	w, opts, open := openEntryWorld(t, false, "journal-open-compressed", kgo.SnappyCompression())
	entry := open.Record(testJournal)
	limit := 3 * recordSize(entry) / 4 // snappy makes the entry's bitmap a third of it
	if batchHeaderBytes+len(recordWire(entry)) <= limit {
		t.Fatalf("the entry takes %d bytes in a batch, the limit is %d: it is not over it", batchHeaderBytes+len(recordWire(entry)), limit)
	}
	w.createTopic(testJournal, limit)
	rr := w.readResults()
	w.produce(accountsAndTombstones("S", accounts)...)
	run := w.start(opts)
	rr.waitFor(t, 2*accounts, 20*time.Second)
	run.shutdown(t)

	results, _ := rr.snapshot()
	for src, rs := range results {
		if len(rs) != 1 || !rs[0].Success {
			t.Fatalf("%v: %+v, want one success", src, rs)
		}
	}
	if rows := len(w.emu.Records("Account")); rows != accounts {
		t.Errorf("%d rows inserted, want %d", rows, accounts)
	}
	w.committedAtEnd("journal-open-compressed", "crm.accounts")
}

// An open entry that the journal topic refuses although it was judged to
// fit (the topic's limit was lowered since it was described): its job is
// aborted before its close, and its events fail at once, in that attempt,
// with the refusal; no second job is tried, since its entry would be
// refused alike. Before, jobs were tried until retry.max_attempts.
func TestJournalOpenEntryRefusedIsNotRetried(t *testing.T) {
	const first, accounts = 10, 1000
	w, opts, open := openEntryWorld(t, false, "journal-open-refused", kgo.NoCompression())
	w.createTopic(testJournal, 1<<20)
	rr := w.readResults()
	run := w.start(opts)
	w.produce(accountsAndTombstones("F", first)...) // a job that fits, after which the limit is known
	rr.waitFor(t, 2*first, 20*time.Second)
	before := ingestJobs(t, opts.Salesforce)
	limit := strconv.Itoa(recordSize(open.Record(testJournal)) / 2)
	resp, err := kadm.NewClient(w.client()).AlterTopicConfigs(context.Background(),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &limit}}, testJournal)
	if err == nil {
		var r kadm.AlterConfigsResponse
		if r, err = resp.On(testJournal, nil); err == nil {
			err = r.Err
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	w.produce(accountsAndTombstones("S", accounts)...)
	rr.waitFor(t, 2*(first+accounts), 20*time.Second)
	run.shutdown(t)

	if jobs := ingestJobs(t, opts.Salesforce); len(jobs) != len(before)+1 {
		t.Errorf("%d jobs created for the refused entry's events, want 1", len(jobs)-len(before))
	}
	results, _ := rr.snapshot()
	for src, rs := range results {
		if src.Offset < 2*first || src.Offset%2 == 1 {
			continue // of the first job, or a tombstone
		}
		if len(rs) != 1 || rs[0].Success || rs[0].Attempts != 1 || rs[0].JobID == "" ||
			!strings.Contains(rs[0].Error, "refused the entry") || !strings.Contains(rs[0].Error, "max.message.bytes") {
			t.Fatalf("%v: %+v, want one failure of a job, in the first attempt, that names the refused entry and max.message.bytes", src, rs)
		}
	}
	if rows := len(w.emu.Records("Account")); rows != first {
		t.Errorf("%d rows inserted, want %d: the refused entry's job was never closed", rows, first)
	}
	w.committedAtEnd("journal-open-refused", "crm.accounts")
}

// openEntryWorld returns a world of one source partition, the options of a
// pipeline with a journal whose buffers take 1,000 accounts (each a job),
// producing with codec, and the open entry of a job of 1,000 accounts
// every other record.
func openEntryWorld(t *testing.T, exactlyOnce bool, group string, codec kgo.CompressionCodec) (*world, Options, journal.Entry) {
	const accounts, attempts = 1000, 3
	open := journal.Entry{JobID: "7508c0000000001AAA", Object: "Account", Operation: "insert", Attempt: 1, Topic: "crm.accounts", State: journal.Open,
		Offsets: everyOther(accounts)}
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	route := Route{Topics: []string{"crm.accounts"}, Decoder: event.NewJSONDecoder(event.Defaults{Object: "Account", Operation: event.Insert, Tombstones: event.TombstonesSkip})}
	opts := w.options(group, route)
	opts.Journal, opts.ExactlyOnce, opts.MaxAttempts = testJournal, exactlyOnce, attempts
	opts.Batch.MaxRecords, opts.Batch.MaxAge = accounts, time.Second
	opts.Kafka = append(opts.Kafka, kgo.ProducerBatchCompression(codec))
	return w, opts, open
}

// accountsAndTombstones returns n account inserts, each followed by a
// tombstone of its key: the inserts are every other record.
func accountsAndTombstones(prefix string, n int) []*kgo.Record {
	records := make([]*kgo.Record, 0, 2*n)
	for _, r := range insertRecords(prefix, n) {
		records = append(records, r, &kgo.Record{Topic: "crm.accounts", Key: r.Key})
	}
	return records
}

// ingestJobs returns the ids of the ingest jobs Salesforce knows.
func ingestJobs(t *testing.T, sf *bulk.Client) []string {
	t.Helper()
	var ids []string
	for job, err := range sf.ListIngestJobs(context.Background(), bulk.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, job.ID)
	}
	return ids
}
