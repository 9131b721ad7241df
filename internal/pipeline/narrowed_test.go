package pipeline

import (
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// A job that fails as a whole because of one of its rows (a header row
// longer than Salesforce takes), with no column to tell which, is cut in
// halves that run again: with the journal on, each failed job's slice is
// closed with no offsets before its halves are journaled, so that no
// event is ever open in two jobs at once (a crash then would attach it to
// either, and the failed job's results, none, would load it again).
func TestNarrowedJobIsClosedEmptyBeforeItsHalves(t *testing.T) {
	inBothDeliveryModes(t, testNarrowedJobClosedEmpty)
}

func testNarrowedJobClosedEmpty(t *testing.T, exactlyOnce bool) {
	const n, bad = 40, 29
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	records := insertRecordsWithAWideOne("N", n, bad)
	w.produce(records...)
	rr := w.readResults()
	opts := w.options("narrowed", insertRoute)
	opts.Journal, opts.ExactlyOnce = testJournal, exactlyOnce
	opts.Batch.MaxRecords, opts.Batch.MaxAge = n, time.Second // one job
	run := w.start(opts)
	rr.waitFor(t, n, 60*time.Second)
	run.shutdown(t)
	results, _ := rr.snapshot()
	oneResultEach(t, results, n, "InvalidBatch", bad)
	insertsOnce(t, w, "N", n, bad)

	openIn := map[int64]string{} // event offset → the job whose open entry holds it
	closedEmpty := 0
	overlaps := map[[2]string]int{} // (job, job still open) → events
	for _, e := range readJournalInOrder(t, w) {
		switch {
		case e.JobID == "":
		case e.State == journal.Closed:
			for o, job := range openIn {
				if job == e.JobID {
					delete(openIn, o)
				}
			}
			if len(e.Offsets) == 0 {
				closedEmpty++
			}
		default:
			e.Each(func(o int64) {
				if other, ok := openIn[o]; ok && other != e.JobID {
					overlaps[[2]string{e.JobID, other}]++
				}
				openIn[o] = e.JobID
			})
		}
	}
	for jobs, events := range overlaps {
		t.Errorf("%d events journaled open in job %s while job %s still held them open", events, jobs[0], jobs[1])
	}
	if len(openIn) > 0 {
		t.Errorf("%d events left open in the journal", len(openIn))
	}
	if closedEmpty == 0 {
		t.Error("no job closed with no offsets, as each narrowed job should be")
	}
}
