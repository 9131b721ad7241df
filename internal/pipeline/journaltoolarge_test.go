package pipeline

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// A job of two chunks of results whose events are every other record of
// their partition (the others are tombstones, skipped without a job): its
// offsets are a range an event, and the entry that keeps its slice open
// after the first chunk (Offsets and Published, about 125 kB) is more than
// the journal topic takes (96 kB), while the open entry and the closing
// one (about 66 kB each) are not. The refused entry is left out, and
// publishing goes on: every event has one result, inserted once, offsets
// are committed to the end, and the journal holds the job's open entry and
// its closing one. Before, the first chunk was published again and again,
// its entry refused each time (at least once: duplicate results), and the
// partition never got further.
func TestJournalEntryTooLargeIsLeftOut(t *testing.T) {
	inBothDeliveryModes(t, testJournalEntryTooLarge)
}

func testJournalEntryTooLarge(t *testing.T, exactlyOnce bool) {
	const accounts = settleChunk + 500
	const n = 2 * accounts
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	w.createTopic(testJournal, 96_000)
	rr := w.readResults()
	route := Route{Topics: []string{"crm.accounts"}, Decoder: event.NewJSONDecoder(event.Defaults{Object: "Account", Operation: event.Insert, Tombstones: event.TombstonesSkip})}
	opts := w.options("journal-too-large", route)
	opts.Journal, opts.ExactlyOnce = testJournal, exactlyOnce
	opts.Batch.MaxRecords, opts.Batch.MaxAge = accounts, time.Second // one job
	// The broker measures batches as they come, compressed; uncompressed,
	// the entries' sizes are the ones above.
	opts.Kafka = append(opts.Kafka, kgo.ProducerBatchCompression(kgo.NoCompression()))
	records := make([]*kgo.Record, 0, n)
	for i, r := range insertRecords("S", accounts) {
		records = append(records, r, &kgo.Record{Topic: "crm.accounts", Key: []byte(fmt.Sprint(i))})
	}
	w.produce(records...) // a backlog, so that no buffer is sealed at its end before the last event
	run := w.start(opts)
	rr.waitFor(t, n, 8*time.Second)
	run.shutdown(t)

	results, _ := rr.snapshot()
	oneResultEach(t, results, n, "")
	insertsOnce(t, w, "S", accounts)
	w.committedAtEnd("journal-too-large", "crm.accounts")
	jobs := eventsByJob(results)
	delete(jobs, "") // the tombstones
	if len(jobs) != 1 {
		t.Fatalf("results come from %d jobs (%v), want one", len(jobs), jobs)
	}
	for job := range jobs {
		words := journalWords(t, w, job)
		if len(words) != 2 || words[0].State != journal.Open || words[1].State != journal.Closed || len(words[1].Offsets) != accounts {
			t.Errorf("the job's journal entries: %d %+v, want the open one and the closing one of %d events", len(words), words, accounts)
		}
	}
}

// Open entries holding offsets below the partition's committed offset (the
// journal's word on a slice older than its last chunk, whose rewrite was
// refused as too large): the group committed past those events, so their
// results are out and they are not consumed again. Only the offsets from
// the committed one on are attached or passed over; an attachment left
// with nothing is not attached. Before, the plan attached them too, and
// the attachment waited for ever for events that never came.
func TestPlanLeavesOutWhatIsBelowTheCommittedOffset(t *testing.T) {
	const committedAt = 10
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	entry := func(job, state string, offsets [][2]int64, published ...[2]int64) journal.Entry {
		return journal.Entry{JobID: job, Object: "Account", Operation: "insert", Attempt: 1, Topic: "crm.accounts", State: state,
			Offsets: offsets, Published: published}
	}
	writeJournal(t, w,
		entry("A", journal.Open, [][2]int64{{0, 19}}, [2]int64{0, 4}, [2]int64{12, 13}), // straddles the committed offset
		entry("B", journal.Closed, [][2]int64{{5, 6}, {30, 31}}),
		entry("E", journal.Open, [][2]int64{{7, 9}, {40, 41}}, [2]int64{40, 41}), // what is left is published
	)
	pl := planAt(t, w, "plan-committed", committedAt)
	offsets := offsetSet
	if got, want := attached(pl), map[string]map[int64]bool{"A": offsets([2]int64{10, 11}, [2]int64{14, 19})}; !reflect.DeepEqual(got, want) {
		t.Errorf("attachments wait for\n%v\nwant\n%v", got, want)
	}
	if pl.resumed != 1 {
		t.Errorf("%d jobs resumed, want 1", pl.resumed)
	}
	if skip, want := pl.skip[topicPartition{"crm.accounts", 0}], offsets([2]int64{12, 13}, [2]int64{30, 31}, [2]int64{40, 41}); !reflect.DeepEqual(skip, want) {
		t.Errorf("events passed over: %v, want %v", skip, want)
	}
}
