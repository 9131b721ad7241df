package pipeline

import (
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// The tail of a backlog goes to Salesforce as soon as the consumer has read
// to its end, not batch.max_age later.
func TestBacklogTailIsNotHeldForMaxAge(t *testing.T) {
	const n = 3 * backlogRecords
	w := newWorld(t, 2, bulkemu.Options{}, "crm.accounts")
	w.produce(accountRecords(0, n)...)
	rr := w.readResults()
	opts := w.options("tail", accountRoute)
	opts.Batch.MaxRecords, opts.Batch.MaxAge = 2*n, time.Hour // nothing fills
	run := w.start(opts)
	rr.waitFor(t, n, 60*time.Second)
	run.shutdown(t)
	results, _ := rr.snapshot()
	everyEventHasAResult(t, results, n, 1)
}

// A steady stream, never a backlog behind, is not sealed poll by poll: its
// buffers still fill until batch.max_age, so a caught-up consumer costs no
// more jobs.
func TestSteadyStreamFillsItsBuffers(t *testing.T) {
	const n, every = 600, 20
	w := newWorld(t, 2, bulkemu.Options{}, "crm.accounts")
	rr := w.readResults()
	opts := w.options("steady", accountRoute)
	opts.Batch.MaxAge = 2 * time.Second
	run := w.start(opts)
	records := accountRecords(0, n)
	started := time.Now()
	for i := 0; i < n; i += every {
		w.produce(records[i : i+every]...)
		time.Sleep(10 * time.Millisecond)
	}
	producing := time.Since(started)
	rr.waitFor(t, n, 60*time.Second)
	run.shutdown(t)
	results, _ := rr.snapshot()
	everyEventHasAResult(t, results, n, 1)
	jobs := eventsByJob(results)
	// 30 produce calls over about half a second (longer on a loaded
	// machine): a job or two for each max_age they took, not one a poll.
	if limit := 2 * (int(producing/opts.Batch.MaxAge) + 1); len(jobs) > limit {
		t.Errorf("%d jobs for %d events produced %d at a time over %v; want at most %d", len(jobs), n, every, producing, limit)
	}
}

// eventsByJob counts the events of each job, by the job of each event's
// first result.
func eventsByJob(results map[Source][]Result) map[string]int {
	jobs := map[string]int{}
	for _, rs := range results {
		jobs[rs[0].JobID]++
	}
	return jobs
}
