package pipeline

import (
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// An insert job that Salesforce ends Failed with some of its rows left
// unprocessed, whose instance stops after the first chunk of results is out
// and before the second is: the next owner re-attaches the events whose
// results are not out, a part of the job's rows, and reads the job's
// unprocessedrecords file for them although the job's counts (the whole
// job's: 6,000 rows, most processed) do not say that any of that part was
// left. The unprocessed events run again in a follow-up job and succeed;
// each record is in the org once. Before, the file was read only when fewer
// rows were processed than the buffer held, and the unprocessed events
// failed with BULKSTREAM_NO_RESULT.
func TestResumedPartOfAFailedJobRetriesItsUnprocessedRows(t *testing.T) {
	const n = settleChunk + 1000
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	// About 300 rows: the job's other events fill the first chunk and
	// part of the second.
	w.emu.SetFaults(bulkemu.Faults{UnprocessedRate: 0.05})
	rr := w.readResults()
	options := func() Options {
		opts := w.options("resume-unprocessed", insertRoute)
		opts.Journal = testJournal
		opts.Batch.MaxRecords, opts.Batch.MaxAge = n, time.Second // one job
		return opts
	}
	refused := stopBetweenChunks(t, w, options(), insertRecords("U", n))
	rr.waitFor(t, settleChunk, 10*time.Second)
	results, _ := rr.snapshot()
	loaded := eventsByJob(results)
	if len(results) != settleChunk || len(loaded) != 1 {
		t.Fatalf("after the first instance %d events have results from jobs %v, want the first chunk's %d from one job", len(results), loaded, settleChunk)
	}
	w.emu.SetFaults(bulkemu.Faults{}) // the follow-up job processes every row
	refused.Store(-1)                 // results go out again
	run := w.start(options())
	rr.waitFor(t, n, 20*time.Second)
	run.shutdown(t)

	results, _ = rr.snapshot()
	noResult, retried := 0, 0
	for src, rs := range results {
		switch r := rs[0]; {
		case r.ErrorCode == CodeNoResult:
			if noResult++; noResult <= 5 {
				t.Errorf("%v: %s, want the row read from the unprocessed records and run again", src, r.ErrorCode)
			}
		case loaded[r.JobID] == 0:
			retried++
			if !r.Success || r.Attempts != 2 {
				t.Errorf("%v: %+v, want a success of the follow-up job (attempt 2)", src, r)
			}
		}
	}
	if noResult > 0 {
		t.Fatalf("%d events failed with %s", noResult, CodeNoResult)
	}
	if retried == 0 {
		t.Fatal("no event ran in a follow-up job: the job left no row unprocessed, the test shows nothing")
	}
	t.Logf("%d unprocessed events ran again", retried)
	oneResultEach(t, results, n, "")
	insertsOnce(t, w, "U", n)
	w.committedAtEnd("resume-unprocessed", "crm.accounts")
}
