package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// A job's last chunk leaves out the slice of a partition lost to its
// runner after the partition's events went into the chunk: this instance
// does not count the slice as closed, so it never writes the tombstone of
// a slice whose new owner (another instance, or this one again under a new
// claim, as here) has the word on it and may hold it open still. The
// other partition's slice is closed, and counted.
func TestLastChunkLeavesALostPartitionsSliceToItsNewOwner(t *testing.T) {
	inBothDeliveryModes(t, testLastChunkLeavesALostSlice)
}

func testLastChunkLeavesALostSlice(t *testing.T, exactlyOnce bool) {
	w := newWorld(t, 2, bulkemu.Options{}, "crm.accounts", testJournal)
	w.createTopic(testTopics.Success, 1<<20) // Run would create it
	opts := w.options("lost-slice", insertRoute)
	opts.Journal, opts.ExactlyOnce = testJournal, exactlyOnce
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := withLanes(t, w, p)
	kept, lost := topicPartition{"crm.accounts", 0}, topicPartition{"crm.accounts", 1}
	ours := func(tp topicPartition) {
		p.owned.assign(map[string][]int32{tp.topic: {tp.partition}})
		if exactlyOnce {
			if err := p.producers.fence(ctx, tp); err != nil {
				t.Fatal(err)
			}
		}
	}
	ours(kept)
	ours(lost)

	// The lost partition's events come first, in the job's one chunk.
	b := batch.NewBuffer(batch.Key{Object: "Account", Operation: event.Insert}, opts.Batch, time.Now())
	defer b.Close()
	for _, tp := range []topicPartition{lost, kept} {
		for off := range int64(3) {
			c := &event.Change{Object: "Account", Operation: event.Insert, Fields: []event.Field{{Name: "Name", Value: event.Text(fmt.Sprint(tp.partition, off))}},
				Source: event.Source{Topic: tp.topic, Partition: tp.partition, Offset: off}}
			if err := b.Add(c, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	b.Seal(batch.ReasonRecords)
	run := &jobRun{cl: p.owned.claim(b), started: time.Now(), lane: p.lane()}
	const job = "750xx0000000001AAA"
	outcomes := func(i int, o *outcome) error {
		src, err := b.Source(i, false)
		if err != nil {
			return err
		}
		if src.Partition == kept.partition && src.Offset == 0 { // after the lost partition's events
			p.owned.revoke(map[string][]int32{lost.topic: {lost.partition}})
			p.producers.drop(lost)
			ours(lost) // back to this instance, a new generation
		}
		*o = outcome{src: src, result: Result{Success: true, Object: "Account", Operation: "insert", JobID: job, Attempts: 1, Source: sourceOf(&src)}}
		return nil
	}
	if _, err := p.settle(b, b, nil, outcomes, 1, run); err != nil {
		t.Fatal(err)
	}
	if err := p.drained(ctx, run); err != nil {
		t.Fatal(err)
	}
	p.spent.mu.Lock()
	defer p.spent.mu.Unlock()
	if s := p.spent.m[lost]; len(s) > 0 {
		t.Errorf("this instance counts the lost partition's slice as closed: %d slices, last offset %d", len(s), s[0].last)
	}
	if s := p.spent.m[kept]; len(s) != 1 || s[0].last != 2 {
		t.Errorf("the kept partition's closed slices: %+v, want one up to offset 2", s)
	}
}
