package pipeline

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// A job of two chunks of results whose events are every other record of
// their partition (the others are tombstones, skipped without a job): its
// offsets are a range an event, 66 kB as pairs, and the entry that keeps
// its slice open after the first chunk (Offsets and Published) was 125 kB.
// Written compact (package journal), they are 2 kB and 4 kB, and a journal
// topic of 96 kB takes every entry of the job: the open one, the one
// written with the first chunk, naming its events as published, and the
// closing one. Before, the second was refused and left out, and after a
// crash the first chunk's results would have been published again.
func TestSparseJournalEntriesFit(t *testing.T) {
	inBothDeliveryModes(t, func(t *testing.T, exactlyOnce bool) {
		words := runSparseJob(t, exactlyOnce, 96_000)
		if len(words) != 3 || words[0].State != journal.Open || words[1].State != journal.Open || words[2].State != journal.Closed ||
			!reflect.DeepEqual(words[1].Offsets, words[0].Offsets) || !reflect.DeepEqual(words[1].Published, everyOther(settleChunk)) ||
			!reflect.DeepEqual(words[2].Offsets, everyOther(sparseAccounts)) {
			t.Errorf("the job's journal entries: %s, want the open one, the one with the first chunk and the closing one", journalSummary(words))
		}
	})
}

// The same job with a journal topic that takes its open and closing entries
// but not the one that keeps its slice open after the first chunk, which
// names its events twice (Offsets and Published): the refused entry is
// left out, and publishing goes on: every event has one result, inserted
// once, offsets are committed to the end, and the journal holds the job's
// open entry and its closing one. Before, the first chunk was published
// again and again, its entry refused each time (at least once: duplicate
// results), and the partition never got further.
func TestJournalEntryTooLargeIsLeftOut(t *testing.T) {
	size := func(e journal.Entry) int {
		e.JobID, e.Object, e.Operation, e.Attempt, e.Topic = "7508c0000000001AAA", "Account", "insert", 1, "crm.accounts"
		return recordSize(e.Record(testJournal))
	}
	open := size(journal.Entry{State: journal.Open, Offsets: everyOther(sparseAccounts)})
	rewrite := size(journal.Entry{State: journal.Open, Offsets: everyOther(sparseAccounts), Published: everyOther(settleChunk)})
	if rewrite < open+1000 {
		t.Fatalf("the entry with the first chunk is %d bytes, the open one %d: too close for a topic to take one and not the other", rewrite, open)
	}
	inBothDeliveryModes(t, func(t *testing.T, exactlyOnce bool) {
		words := runSparseJob(t, exactlyOnce, (open+rewrite)/2) // a batch frames a record in under 100 bytes
		if len(words) != 2 || words[0].State != journal.Open || words[1].State != journal.Closed || len(words[1].Offsets) != sparseAccounts {
			t.Errorf("the job's journal entries: %s, want the open one and the closing one of %d ranges", journalSummary(words), sparseAccounts)
		}
	})
}

// sparseAccounts is the number of events of runSparseJob's job.
const sparseAccounts = settleChunk + 500

// everyOther returns the ranges of the first n even offsets.
func everyOther(n int) [][2]int64 {
	offsets := make([]int64, n)
	for i := range offsets {
		offsets[i] = 2 * int64(i)
	}
	return journal.Ranges(offsets)
}

// journalSummary says of each of words its state and how many ranges it names.
func journalSummary(words []journal.Entry) string {
	var out []string
	for _, e := range words {
		out = append(out, fmt.Sprintf("%s, %d ranges, %d published", e.State, len(e.Offsets), len(e.Published)))
	}
	return fmt.Sprintf("%d %q", len(words), out)
}

// runSparseJob runs one job of sparseAccounts inserts, every other record
// of their partition (tombstones between them), with a journal topic that
// takes records of up to maxMessageBytes bytes. It checks that every event
// has one result, each row is inserted once and the group committed to the
// end, and returns the journal entries of the job.
func runSparseJob(t *testing.T, exactlyOnce bool, maxMessageBytes int) []journal.Entry {
	const n = 2 * sparseAccounts
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	w.createTopic(testJournal, maxMessageBytes)
	route := Route{Topics: []string{"crm.accounts"}, Decoder: event.NewJSONDecoder(event.Defaults{Object: "Account", Operation: event.Insert, Tombstones: event.TombstonesSkip})}
	opts := w.journalOptions("journal-sparse", route, exactlyOnce, sparseAccounts)
	// The broker measures batches as they come, compressed; uncompressed,
	// the entries' sizes are the ones above.
	opts.Kafka = append(opts.Kafka, kgo.ProducerBatchCompression(kgo.NoCompression()))
	records := make([]*kgo.Record, 0, n)
	for i, r := range insertRecords("S", sparseAccounts) {
		records = append(records, r, &kgo.Record{Topic: "crm.accounts", Key: []byte(fmt.Sprint(i))})
	}
	w.produce(records...) // a backlog, so that no buffer is sealed at its end before the last event
	results := w.runExpectingEachOnce(t, opts, 8*time.Second, n, "S", sparseAccounts)
	w.committedAtEnd("journal-sparse", "crm.accounts")
	jobs := eventsByJob(results)
	delete(jobs, "") // the tombstones
	return journalOfTheJob(t, w, jobs)
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
	w.fill(50)
	pl := planAt(t, w, "plan-committed", committedAt)
	offsets := offsetSet
	if got, want := attached(pl), map[string]map[int64]bool{"A": offsets([2]int64{10, 11}, [2]int64{14, 19})}; !reflect.DeepEqual(got, want) {
		t.Errorf("attachments wait for\n%v\nwant\n%v", got, want)
	}
	if pl.resumed != 1 {
		t.Errorf("%d jobs resumed, want 1", pl.resumed)
	}
	if skip, want := passedOverIn(pl, topicPartition{"crm.accounts", 0}), offsets([2]int64{12, 13}, [2]int64{30, 31}, [2]int64{40, 41}); !reflect.DeepEqual(skip, want) {
		t.Errorf("events passed over: %v, want %v", skip, want)
	}
}

// A resume reads entries whose offsets are written compact, as the plan
// needs them: a sparse job open with its first chunk published has those
// passed over and the others attached, and a sparse slice closed has its
// events passed over.
func TestPlanReadsCompactEntries(t *testing.T) {
	const events, published = 3000, 1000
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	offsets, done := everyOther(events), everyOther(published)
	var closed [][2]int64 // the odd offsets, to the same end
	for _, r := range offsets {
		closed = append(closed, [2]int64{r[0] + 1, r[0] + 1})
	}
	entries := []journal.Entry{
		{JobID: "A", Object: "Account", Operation: "insert", Attempt: 1, Topic: "crm.accounts", State: journal.Open, Offsets: offsets, Published: done},
		{JobID: "B", Topic: "crm.accounts", State: journal.Closed, Offsets: closed},
	}
	for _, e := range entries {
		if v := string(e.Record(testJournal).Value); !strings.Contains(v, `"offsets":"`) {
			t.Fatalf("the entry of %s is not written compact: %.120s…", e.JobID, v)
		}
	}
	writeJournal(t, w, entries...)
	w.fill(2 * events)
	pl := planAt(t, w, "plan-compact", 0)
	want := map[int64]bool{}
	for _, r := range offsets[published:] {
		want[r[0]] = true
	}
	if got := attached(pl)["A"]; !reflect.DeepEqual(got, want) {
		t.Errorf("job A waits for %d events, want the %d not published", len(got), len(want))
	}
	skip := offsetSet(append(slices.Clone(done), closed...)...)
	if got := passedOverIn(pl, topicPartition{"crm.accounts", 0}); !reflect.DeepEqual(got, skip) {
		t.Errorf("%d events passed over, want %d", len(got), len(skip))
	}
}
