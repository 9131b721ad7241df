package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

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
	w.runExpectingNoJob(t, opts, accounts, "would refuse the open entry of crm.accounts/0", "max.message.bytes")
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
		if !failedOnARefusedEntry(rs) {
			t.Fatalf("%v: %+v, want one failure of a job, in the first attempt, that names the refused entry and max.message.bytes", src, rs)
		}
	}
	if rows := len(w.emu.Records("Account")); rows != first {
		t.Errorf("%d rows inserted, want %d: the refused entry's job was never closed", rows, first)
	}
	w.committedAtEnd("journal-open-refused", "crm.accounts")
}

// An open entry the journal topic would take but the producer would not
// (a record batch over kgo.ProducerBatchMaxBytes, which results.max_record_bytes
// sets): as with the topic's limit, the job is never created and every
// event fails at once, in its first attempt, but the error names the
// setting that binds, results.max_record_bytes, not the topic's. Fails when
// only the topic's limit is judged beforehand: the job is created, and the
// producer refuses its entry.
func TestJournalOpenEntryOverTheProducersLimitFailsItsEvents(t *testing.T) {
	// An error message is cut at an eighth of results.max_record_bytes:
	// 2,048 keeps what mends it.
	const accounts, maxRecordBytes = 10000, 2048
	w, opts, _ := openEntryWorld(t, false, "journal-open-producer", kgo.NoCompression())
	opts.MaxRecordBytes, opts.Batch.MaxRecords = maxRecordBytes, accounts
	if batch := openEntryBatch(accounts); batch <= maxRecordBytes+RecordOverhead {
		t.Fatalf("the entry takes %d bytes in a batch, the producer takes %d: it is not over it", batch, maxRecordBytes+RecordOverhead)
	}
	w.createTopic(testJournal, 1<<20) // the topic takes it
	w.runExpectingNoJob(t, opts, accounts, "the producer would refuse the open entry of crm.accounts/0", "raise results.max_record_bytes")
}

// When the journal topic's max.message.bytes cannot be described (here
// DescribeConfigs is refused), open entries are not judged beforehand: a
// warning says so, once, and Kafka judges each entry when it is written,
// as before openFit. Each job is created, and as the topic refuses its
// entries (it takes less than any), aborted before its close, its events
// failing at once, in their first attempt, with the refusal. The topic is
// asked once a check, not once for each slice of the job. Fails when the
// warning is logged at each failed description, when entries are judged
// without a description, or when each slice asks again.
func TestJournalOpenEntryJudgedByKafkaWhenTheTopicCannotBeDescribed(t *testing.T) {
	const rounds, accounts = 2, 10 // a job each, with a slice in each partition
	w, opts, _ := openEntryWorldOf(t, 2, false, "journal-open-undescribed", kgo.NoCompression())
	w.createTopic(testJournal, openEntryBatch(1)/2)
	var describes atomic.Int32 // of the journal topic
	w.cluster.ControlKey(kmsg.DescribeConfigs.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		w.cluster.KeepControl()
		req := kreq.(*kmsg.DescribeConfigsRequest)
		if len(req.Resources) != 1 || req.Resources[0].ResourceName != testJournal {
			return nil, nil, false
		}
		describes.Add(1)
		resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
		r := kmsg.NewDescribeConfigsResponseResource()
		r.ResourceType, r.ResourceName, r.ErrorCode = req.Resources[0].ResourceType, testJournal, kerr.TopicAuthorizationFailed.Code
		resp.Resources = append(resp.Resources, r)
		return resp, nil, true
	})
	var logs syncBuffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	rr := w.readResults()
	run := w.start(opts)
	for i := range rounds {
		w.produce(accountsAndTombstones(strconv.Itoa(i), accounts)...)
		rr.waitFor(t, 2*accounts*(i+1), 20*time.Second)
	}
	run.shutdown(t)

	results, _ := rr.snapshot()
	jobSlices := map[[2]any]bool{} // (job, partition)
	for src, rs := range results {
		if len(rs) == 1 && rs[0].Status == StatusSkipped {
			continue // a tombstone
		}
		if !failedOnARefusedEntry(rs) {
			t.Fatalf("%v: %+v, want one failure of a job, in the first attempt, that names the refused entry and max.message.bytes", src, rs)
		}
		jobSlices[[2]any{rs[0].JobID, src.Partition}] = true
	}
	jobs := ingestJobs(t, opts.Salesforce)
	if len(jobs) < rounds || len(jobSlices) <= len(jobs) {
		t.Fatalf("%d jobs of %d jobSlices: want a job a round, and one with two jobSlices, for the counts below to tell", len(jobs), len(jobSlices))
	}
	if rows := len(w.emu.Records("Account")); rows != 0 {
		t.Errorf("%d rows inserted, want none: the jobs were never closed", rows)
	}
	if n := describes.Load(); int(n) != len(jobs) {
		t.Errorf("the journal topic was described %d times for %d jobs of %d jobSlices, want once a job", n, len(jobs), len(jobSlices))
	}
	if n := strings.Count(logs.String(), "cannot describe the journal topic"); n != 1 {
		t.Errorf("the warning that the journal topic cannot be described was logged %d times, want once", n)
	}
	w.committedAtEnd("journal-open-undescribed", "crm.accounts")
}

// failedOnARefusedEntry reports whether rs is one failure of a job, in its
// first attempt, with the journal topic's refusal of the job's open entry,
// which names max.message.bytes.
func failedOnARefusedEntry(rs []Result) bool {
	return len(rs) == 1 && !rs[0].Success && rs[0].Attempts == 1 && rs[0].JobID != "" && rs[0].ErrorCode == CodeJournalTooLarge &&
		strings.Contains(rs[0].Error, "refused the entry") && strings.Contains(rs[0].Error, "max.message.bytes")
}

// openEntryBatch returns the size of the record batch of the open entry
// of a job of n accounts every other record.
func openEntryBatch(n int) int {
	e := journal.Entry{JobID: placeholderJobID, Object: "Account", Operation: "insert", Attempt: 1, Topic: "crm.accounts", State: journal.Open,
		Offsets: everyOther(n)}
	return batchHeaderBytes + len(recordWire(e.Record(testJournal)))
}

// openEntryWorld returns a world of one source partition, the options of a
// pipeline with a journal whose buffers take 1,000 accounts (each a job),
// producing with codec, and the open entry of a job of 1,000 accounts
// every other record.
func openEntryWorld(t *testing.T, exactlyOnce bool, group string, codec kgo.CompressionCodec) (*world, Options, journal.Entry) {
	return openEntryWorldOf(t, 1, exactlyOnce, group, codec)
}

// openEntryWorldOf is openEntryWorld with partitions source partitions.
func openEntryWorldOf(t *testing.T, partitions int32, exactlyOnce bool, group string, codec kgo.CompressionCodec) (*world, Options, journal.Entry) {
	const accounts, attempts = 1000, 3
	open := journal.Entry{JobID: "7508c0000000001AAA", Object: "Account", Operation: "insert", Attempt: 1, Topic: "crm.accounts", State: journal.Open,
		Offsets: everyOther(accounts)}
	w := newWorld(t, partitions, bulkemu.Options{}, "crm.accounts")
	route := Route{Topics: []string{"crm.accounts"}, Decoder: event.NewJSONDecoder(event.Defaults{Object: "Account", Operation: event.Insert, Tombstones: event.TombstonesSkip})}
	opts := w.journalOptions(group, route, exactlyOnce, accounts)
	opts.MaxAttempts = attempts
	opts.Kafka = append(opts.Kafka, kgo.ProducerBatchCompression(codec))
	return w, opts, open
}

// runExpectingNoJob runs a pipeline with opts on a backlog (one buffer)
// of accounts inserts, each followed by a tombstone, until every event has
// a result, and checks that no job was created, that every insert failed
// at once, in its first attempt and of no job, with an error that says
// each of says, and that the group committed to the end.
func (w *world) runExpectingNoJob(t *testing.T, opts Options, accounts int, says ...string) {
	t.Helper()
	rr := w.readResults()
	w.produce(accountsAndTombstones("S", accounts)...)
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
		if len(rs) != 1 || rs[0].Success || rs[0].Attempts != 1 || rs[0].JobID != "" || rs[0].ErrorCode != CodeJournalTooLarge ||
			slices.ContainsFunc(says, func(s string) bool { return !strings.Contains(rs[0].Error, s) }) {
			t.Fatalf("%v: %+v, want one %s failure, in the first attempt and of no job, that says %q", src, rs, CodeJournalTooLarge, says)
		}
	}
	w.committedAtEnd(opts.Group, "crm.accounts")
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

// Only a refused open journal entry carries CodeJournalTooLarge: another
// error that wraps Kafka's MESSAGE_TOO_LARGE (a result record or a batch
// refused, say) is not the journal's, and is a plain failed job.
func TestOnlyTheJournalsRefusalIsJournalTooLarge(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{journalTooLarge("write the job journal: %w", kerr.MessageTooLarge), CodeJournalTooLarge},
		{fmt.Errorf("attempt: %w", journalTooLarge("write the job journal: %w", kerr.MessageTooLarge)), CodeJournalTooLarge},
		{fmt.Errorf("produce results: %w", kerr.MessageTooLarge), CodeJobFailed},
		{kerr.RecordListTooLarge, CodeJobFailed},
	} {
		if got := errorCode(c.err); got != c.want {
			t.Errorf("errorCode(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}
