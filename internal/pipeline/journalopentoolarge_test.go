package pipeline

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// A job whose open entry, written before its close, is more than the
// journal topic takes (half its size): the job is aborted before its
// close, and so is each new job tried for its events, until their attempts
// are spent; then every event fails with an error that says which entry
// was refused and what mends it. Nothing is inserted, nothing loops, and
// offsets are committed to the end. Before, the error said only
// MESSAGE_TOO_LARGE.
func TestJournalOpenEntryTooLargeFailsItsEvents(t *testing.T) {
	inBothDeliveryModes(t, testJournalOpenEntryTooLarge)
}

func testJournalOpenEntryTooLarge(t *testing.T, exactlyOnce bool) {
	const accounts = 1000
	const n = 2 * accounts
	const attempts = 3
	open := journal.Entry{JobID: "7508c0000000001AAA", Object: "Account", Operation: "insert", Attempt: 1, Topic: "crm.accounts", State: journal.Open,
		Offsets: everyOther(accounts)}
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	w.createTopic(testJournal, recordSize(open.Record(testJournal))/2)
	rr := w.readResults()
	route := Route{Topics: []string{"crm.accounts"}, Decoder: event.NewJSONDecoder(event.Defaults{Object: "Account", Operation: event.Insert, Tombstones: event.TombstonesSkip})}
	opts := w.options("journal-open-too-large", route)
	opts.Journal, opts.ExactlyOnce, opts.MaxAttempts = testJournal, exactlyOnce, attempts
	opts.Batch.MaxRecords, opts.Batch.MaxAge = accounts, time.Second // one job
	opts.Kafka = append(opts.Kafka, kgo.ProducerBatchCompression(kgo.NoCompression()))
	records := make([]*kgo.Record, 0, n)
	for i, r := range insertRecords("S", accounts) {
		records = append(records, r, &kgo.Record{Topic: "crm.accounts", Key: []byte(fmt.Sprint(i))})
	}
	w.produce(records...) // a backlog: one job of every event
	run := w.start(opts)
	rr.waitFor(t, n, 20*time.Second)
	run.shutdown(t)

	results, _ := rr.snapshot()
	if len(results) != n {
		t.Errorf("%d events have results, want %d", len(results), n)
	}
	for src, rs := range results {
		if src.Offset%2 == 1 {
			continue // a tombstone, skipped
		}
		if len(rs) != 1 || rs[0].Success || rs[0].Attempts != attempts ||
			!strings.Contains(rs[0].Error, "refused the entry") || !strings.Contains(rs[0].Error, "max.message.bytes") {
			t.Fatalf("%v: %+v, want one failure after %d attempts that names the refused entry and max.message.bytes", src, rs, attempts)
		}
	}
	if rows := len(w.emu.Records("Account")); rows != 0 {
		t.Errorf("%d rows inserted, want none: no job was closed", rows)
	}
	w.committedAtEnd("journal-open-too-large", "crm.accounts")
}
