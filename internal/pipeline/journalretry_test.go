package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// A job whose rows all fail on a lock publishes no result, yet its slice is
// closed (with no offset published) before the follow-up job that runs its
// events again is journaled: read in order, as a resume reads it, no event
// is ever open in two jobs at once. Before, such a slice stayed open beside
// its follow-up's, and a crash while the follow-up ran attached the events
// to either job: the older one's results (all to retry) loaded the rows a
// second time. With exactly-once delivery the empty closing entry is a
// transaction of its own.
func TestJobWithEveryRowRetriedIsClosedBeforeItsFollowUp(t *testing.T) {
	inBothDeliveryModes(t, testEveryRowRetried)
}

func testEveryRowRetried(t *testing.T, exactlyOnce bool) {
	const n = 20
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	w.emu.SetFaults(bulkemu.Faults{LockErrorRate: 1}) // every row of every job
	rr := w.readResults()
	opts := w.options("journal-retry", insertRoute)
	opts.Journal, opts.MaxAttempts, opts.ExactlyOnce = testJournal, 3, exactlyOnce
	run := w.start(opts)
	w.produce(insertRecords("L", n)...)
	rr.waitFor(t, n, 20*time.Second)
	run.shutdown(t)

	openIn := map[int64]string{} // event offset → the job whose open entry holds it
	attempts := map[string]int{} // job → its attempt
	closedEmpty := map[string]bool{}
	overlaps := map[[2]string]int{} // (job, job still open) → events
	for _, e := range readJournalInOrder(t, w) {
		if e.JobID == "" {
			continue
		}
		if e.State == journal.Closed { // replaces the job's open entry, as a resume reads it
			for o, job := range openIn {
				if job == e.JobID {
					delete(openIn, o)
				}
			}
			if len(e.Offsets) == 0 {
				closedEmpty[e.JobID] = true
			}
			continue
		}
		attempts[e.JobID] = e.Attempt
		e.Each(func(o int64) {
			if other, ok := openIn[o]; ok && other != e.JobID {
				overlaps[[2]string{e.JobID, other}]++
			}
			openIn[o] = e.JobID
		})
	}
	for jobs, events := range overlaps {
		t.Errorf("%d events journaled open in job %s (attempt %d) while job %s (attempt %d) still held them open",
			events, jobs[0], attempts[jobs[0]], jobs[1], attempts[jobs[1]])
	}
	for job, attempt := range attempts {
		if attempt < opts.MaxAttempts && !closedEmpty[job] {
			t.Errorf("job %s (attempt %d) had every row retried but no closing entry without offsets", job, attempt)
		}
	}
	if len(attempts) < opts.MaxAttempts {
		t.Fatalf("%d jobs journaled, want at least %d (a follow-up for each retry): the test shows nothing", len(attempts), opts.MaxAttempts)
	}
	results, _ := rr.snapshot()
	for src, rs := range results {
		if len(rs) != 1 || rs[0].Success || rs[0].ErrorCode != "UNABLE_TO_LOCK_ROW" || rs[0].Attempts != opts.MaxAttempts {
			t.Errorf("%v: %+v, want one UNABLE_TO_LOCK_ROW failure after %d attempts", src, rs, opts.MaxAttempts)
		}
	}
}

// readJournalInOrder returns the journal's entries as written, read
// committed, until the journal has no more.
func readJournalInOrder(t *testing.T, w *world) []journal.Entry {
	t.Helper()
	var out []journal.Entry
	for _, v := range journalValues(t, w) {
		var e journal.Entry
		if json.Unmarshal([]byte(v), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// A journal written before jobs with every row retried were closed holds
// an event open in two jobs, as does one where a job failed as a whole and
// its rows went to a new job. The plan attaches such an event to the
// latest job only, and to none when its result is out; the earlier jobs do
// not wait for it, and a job left with no event is not re-attached. A slice
// closed with nothing published tells nothing and is cleared.
func TestPlanAttachesAnEventOpenInTwoJobsToTheLatest(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	open := func(job string, first, last int64) journal.Entry {
		return journal.Entry{JobID: job, Object: "Account", Operation: "insert", Attempt: 1, Topic: "crm.accounts", State: journal.Open, Offsets: [][2]int64{{first, last}}}
	}
	closed := func(job string, offsets ...[2]int64) journal.Entry {
		return journal.Entry{JobID: job, Topic: "crm.accounts", State: journal.Closed, Offsets: offsets}
	}
	writeJournal(t, w,
		open("A", 0, 9), open("B", 0, 9), // every row of A retried in B
		open("C", 20, 29), open("D", 25, 34), // half of C's rows retried in D
		open("E", 40, 44), closed("F", [2]int64{40, 44}), // E failed as a whole, F published its rows
		open("G", 50, 54), closed("G"), open("H", 50, 54), // G closed empty before H
		open("I", 60, 69), open("J", 0, 0), // J's offset is B's, written after B
	)
	parts := map[string][]int32{"crm.accounts": {0}}
	w.fill(70)
	pl := planAt(t, w, "plan", 0)
	span := func(first, last int64) map[int64]bool { return offsetSet([2]int64{first, last}) }
	want := map[string]map[int64]bool{"B": span(1, 9), "C": span(20, 24), "D": span(25, 34), "H": span(50, 54), "I": span(60, 69), "J": span(0, 0)}
	if got := attached(pl); !reflect.DeepEqual(got, want) {
		t.Errorf("attachments wait for\n%v\nwant\n%v", got, want)
	}
	if pl.resumed != len(want) {
		t.Errorf("%d jobs resumed, want %d", pl.resumed, len(want))
	}
	if skip := passedOverIn(pl, topicPartition{"crm.accounts", 0}); !reflect.DeepEqual(skip, span(40, 44)) {
		t.Errorf("events passed over: %v, want 40-44", skip)
	}
	entries, err := journal.Read(context.Background(), []kgo.Opt{kgo.SeedBrokers(w.brokers...)}, testJournal, parts, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.JobID == "G" {
			t.Errorf("the slice G closed empty is still in the journal: %+v", *e)
		}
	}
}

// The case the plan guards against, end to end: insert job A had every row
// fail on a lock, its rows went to job B, which inserted them, and the
// instance stopped before B's results were out, with A's slice never
// closed (as a journal of an older version has it). The next owner reads
// B's results and inserts nothing again; re-attached to A, it would have
// run A's rows again (duplicates) and left B waiting for events that never
// came.
func TestResumeAttachesToTheFollowUpJob(t *testing.T) {
	const n = 10
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	w.produce(insertRecords("R", n)...)
	csv := "Name\n"
	for i := range n {
		csv += fmt.Sprintf("R-%d\n", i)
	}
	w.emu.SetFaults(bulkemu.Faults{LockErrorRate: 1})
	a := runJobBehindThePipeline(t, w, csv, true)
	w.emu.SetFaults(bulkemu.Faults{})
	b := runJobBehindThePipeline(t, w, csv, true)
	entry := func(job string, attempt int) journal.Entry {
		return journal.Entry{JobID: job, Object: "Account", Operation: "insert", Attempt: attempt, Topic: "crm.accounts", State: journal.Open, Offsets: [][2]int64{{0, n - 1}}}
	}
	entries := []journal.Entry{entry(a, 1), entry(b, 2)}
	for i := range 14 { // finished jobs of later events: read in the order of a map, A would follow B half the time
		entries = append(entries, journal.Entry{JobID: fmt.Sprintf("7508c00000000%02dZZZ", i), Topic: "crm.accounts", State: journal.Closed,
			Offsets: [][2]int64{{int64(n + i), int64(n + i)}}})
	}
	writeJournal(t, w, entries...)
	opts := w.options("resume-follow-up", insertRoute)
	opts.Journal = testJournal
	results := w.runExpectingEachOnce(t, opts, 10*time.Second, n, "R", n)
	for src, rs := range results {
		if rs[0].JobID != b {
			t.Errorf("%v: %+v, want a success from the follow-up job %s", src, rs, b)
		}
	}
	w.committedAtEnd("resume-follow-up", "crm.accounts")
}

// planAt makes the plan of partition 0 of crm.accounts from the journal,
// for a pipeline whose group (named) has committed offset committed: a
// plan is made for a member of the group, which exists.
func planAt(t *testing.T, w *world, group string, committed int64) *plan {
	t.Helper()
	opts := w.options(group, insertRoute)
	opts.Journal = testJournal
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var start kadm.Offsets
	start.Add(kadm.Offset{Topic: "crm.accounts", Partition: 0, At: committed, LeaderEpoch: -1})
	if err := kadm.NewClient(w.client()).CommitAllOffsets(context.Background(), opts.Group, start); err != nil {
		t.Fatal(err)
	}
	pl, err := p.makePlan(context.Background(), w.client(), map[string][]int32{"crm.accounts": {0}})
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// attached returns the offsets each job of pl waits for, and closes the
// attachments' buffers.
func attached(pl *plan) map[string]map[int64]bool {
	got := map[string]map[int64]bool{}
	for _, j := range pl.journaled {
		for _, r := range j.ranges {
			if r.a != nil {
				got[r.a.entry.JobID] = joined(got[r.a.entry.JobID], r)
			}
		}
	}
	for _, a := range pl.attach {
		a.buffer.Close()
	}
	return got
}

// offsetSet returns the offsets of ranges as a set.
func offsetSet(ranges ...[2]int64) map[int64]bool {
	m := map[int64]bool{}
	for _, r := range ranges {
		for o := r[0]; o <= r[1]; o++ {
			m[o] = true
		}
	}
	return m
}
