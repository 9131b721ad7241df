package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// settlePipeline returns a world and a pipeline of it, named name, whose
// publishing lanes run and which owns crm.accounts/0, the partition it
// returns; with
// journal, it writes the job journal (and the success topic is made, as
// Run would make it).
func settlePipeline(t *testing.T, name string, journal bool) (*world, *Pipeline, topicPartition) {
	t.Helper()
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts", testJournal)
	opts := w.options(name, insertRoute)
	if journal {
		w.createTopic(testTopics.Success, 1<<20)
		opts.Journal = testJournal
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	withLanes(t, w, p)
	tp := topicPartition{"crm.accounts", 0}
	p.owned.assign(map[string][]int32{tp.topic: {tp.partition}})
	return w, p, tp
}

// upserts returns a sealed buffer of events Account upserts on tp, event i
// (at offset i) naming record i % records; the caller closes it.
func upserts(t *testing.T, policy batch.Policy, tp topicPartition, events, records int) *batch.Buffer {
	t.Helper()
	b := batch.NewBuffer(batch.Key{Object: "Account", Operation: event.Upsert, ExternalIDField: "Ext__c"}, policy, time.Now())
	for off := range int64(events) {
		c := &event.Change{Object: "Account", Operation: event.Upsert, ExternalIDField: "Ext__c",
			Fields: []event.Field{{Name: "Ext__c", Value: event.Text(fmt.Sprint(off % int64(records)))}},
			Source: event.Source{Topic: tp.topic, Partition: tp.partition, Offset: off, Value: []byte("v")}}
		if err := b.Add(c, ""); err != nil {
			t.Fatal(err)
		}
	}
	b.Seal(batch.ReasonRecords)
	return b
}

// settleWorld returns a pipeline as settlePipeline makes it, a buffer of
// upserts on its partition (see upserts), and a job run whose
// publications go to the returned lane, which the test reads.
func settleWorld(t *testing.T, events, records int) (*Pipeline, *batch.Buffer, *jobRun, chan publication) {
	t.Helper()
	_, p, tp := settlePipeline(t, "settle", false)
	b := upserts(t, p.opts.Batch, tp, events, records)
	t.Cleanup(func() { b.Close() })
	lane := make(chan publication, 100)
	return p, b, &jobRun{cl: p.owned.claim(b), started: time.Now(), lane: lane}, lane
}

// settle publishes the outcomes of settled events only: no outcome of an
// event retried (a lock) or unfolded (a row of several events that failed)
// is in a chunk handed to the lane, nor in a chunk's room past its length,
// with chunks recycled and taken again.
func TestSettleHandsOnlySettledOutcomes(t *testing.T) {
	const events = 3 * settleChunk
	p, b, run, lane := settleWorld(t, events, events*2/3) // a third of the rows fold two events
	kept := map[int64]bool{}
	outcomes := func(i int, o *outcome) error {
		src, err := b.Source(i, true)
		if err != nil {
			return err
		}
		o.src = src
		o.result = Result{Success: true, Object: "Account", Operation: "upsert", JobID: "750xx0000000001AAA", Attempts: 1, Source: sourceOf(&src)}
		switch row := b.Events[i].Row; {
		case i%5 == 0 || i == events-1:
			o.result.Success, o.result.ErrorCode = false, "UNABLE_TO_LOCK_ROW" // retried
		case len(b.Rows[row].Events) > 1 && i%5 == 1:
			o.result.Success, o.result.ErrorCode = false, "INVALID_FIELD" // unfolded
		default:
			kept[src.Offset] = true
		}
		return nil
	}
	left, err := p.settle(b, b, nil, outcomes, 1, run)
	if err != nil {
		t.Fatal(err)
	}
	close(lane)
	published := 0
	for pub := range lane {
		for _, o := range pub.outcomes {
			if !kept[o.src.Offset] || !o.result.Success {
				t.Fatalf("published the outcome of the event at %d (success %v, %s), which was not settled", o.src.Offset, o.result.Success, o.result.ErrorCode)
			}
			published++
		}
		for k, o := range pub.outcomes[len(pub.outcomes):cap(pub.outcomes)] {
			if o.src.Value != nil || o.result.JobID != "" {
				t.Fatalf("a chunk keeps an outcome past its length (at %d)", len(pub.outcomes)+k)
			}
		}
		p.lanes.recycle(pub.outcomes)
	}
	if published != len(kept) || len(left.retry) == 0 || len(left.unfold) == 0 {
		t.Fatalf("published %d of %d settled; %d retried, %d unfolded", published, len(kept), len(left.retry), len(left.unfold))
	}
}

// A job none of whose events settle (every row retried, a lock storm)
// takes no chunk of outcomes: its publication closes its slices and holds
// none.
func TestSettleOfNothingTakesNoChunk(t *testing.T) {
	p, b, run, lane := settleWorld(t, settleChunk, settleChunk)
	outcomes := func(i int, o *outcome) error {
		o.result = Result{Object: "Account", Operation: "upsert", ErrorCode: "UNABLE_TO_LOCK_ROW", JobID: "750xx0000000001AAA", Attempts: 1,
			Source: Source{Topic: "crm.accounts", Partition: 0, Offset: int64(i)}}
		return nil
	}
	left, err := p.settle(b, b, nil, outcomes, 1, run)
	if err != nil {
		t.Fatal(err)
	}
	close(lane)
	for pub := range lane {
		if cap(pub.outcomes) != 0 {
			t.Errorf("a publication of %d outcomes holds a chunk of %d", len(pub.outcomes), cap(pub.outcomes))
		}
	}
	if len(left.retry) != settleChunk {
		t.Errorf("%d events to retry, want %d", len(left.retry), settleChunk)
	}
}
