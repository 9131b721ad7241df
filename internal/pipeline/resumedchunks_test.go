package pipeline

import (
	"reflect"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// A job stopped after its first chunk of results, whose next owner has
// more than two chunks left to publish: each chunk of the resumed job
// writes the slice's open entry again, as the journal had it (the whole
// slice, not the part of it the resumed job still held), with every
// offset published so far, the first instance's included; the last
// closes the whole slice. Each event has one result, from the one job.
func TestResumedJobKeepsItsSliceOpenAcrossChunks(t *testing.T) {
	inBothDeliveryModes(t, testResumedJobAcrossChunks)
}

func testResumedJobAcrossChunks(t *testing.T, exactlyOnce bool) {
	const n = 3*settleChunk + 1000
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	// The records are all there before the job's buffer opens, so that it
	// takes them all (the end of a backlog reached halfway seals it), and
	// the results topic is, so that results are cut from the first.
	w.produce(insertRecords("R", n)...)
	w.createTopic(testTopics.Success, 1<<20)
	refused := stopBetweenChunks(t, w, w.journalOptions("resumed-chunks", insertRoute, exactlyOnce, n), nil)
	refused.Store(-1) // results go out again
	results := w.runExpectingEachOnce(t, w.journalOptions("resumed-chunks", insertRoute, exactlyOnce, n), 30*time.Second, n, "R", n)
	words := journalOfTheJob(t, w, eventsByJob(results))
	whole := [][2]int64{{0, n - 1}}
	if len(words) != 5 {
		t.Fatalf("the job's journal entries: %+v, want open, then open with 1, 2 and 3 chunks published, then closed", words)
	}
	for k, e := range words[1:4] {
		if published := [][2]int64{{0, int64(k+1)*settleChunk - 1}}; e.State != journal.Open || !reflect.DeepEqual(e.Offsets, whole) || !reflect.DeepEqual(e.Published, published) {
			t.Errorf("the entry of chunk %d: %s %v, published %v; want open %v, published %v", k+1, e.State, e.Offsets, e.Published, whole, published)
		}
	}
	if e := words[4]; e.State != journal.Closed || !reflect.DeepEqual(e.Offsets, whole) {
		t.Errorf("the last entry: %s %v, want closed %v", e.State, e.Offsets, whole)
	}
}
