package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// A buffer's events come in runs of one partition, and the verdict of a run
// is reused, but not across runs: events of a lost partition between and
// after runs of a kept one are all found.
func TestLostEventsInRunsOfPartitions(t *testing.T) {
	bt, err := batch.NewBatcher(batch.Policy{MaxRecords: 100, MaxBytes: 1 << 20, MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	parts := []int32{0, 0, 1, 1, 0, 1, 2, 2, 1}
	for i, part := range parts {
		c := &event.Change{Object: "Account", Operation: event.Insert, Fields: []event.Field{{Name: "Name", Value: event.Text(fmt.Sprint(i))}},
			Source: event.Source{Topic: "t", Partition: part, Offset: int64(i)}}
		if _, err := bt.Add(c, "", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	b := bt.SealAll(batch.ReasonShutdown)[0]
	defer b.Close()
	var o ownership
	o.assign(map[string][]int32{"t": {0, 1, 2}})
	c := o.claim(b)
	if len(c) != 3 {
		t.Fatalf("claim of %d partitions, want 3", len(c))
	}
	o.revoke(map[string][]int32{"t": {1}})
	if got, want := o.lostEvents(c, b), []int{2, 3, 5, 8}; !slices.Equal(got, want) {
		t.Errorf("lost events %v, want %v", got, want)
	}
	anyLost, release := o.hold(c, b)
	release()
	if !anyLost {
		t.Error("hold says no partition of the buffer is lost")
	}
}

// A job's runner that lost a partition writes no journal entry of it,
// however late its publication comes: the new owner read the journal when
// it took the partition and has the word on the slice since (a late entry
// of the old owner's could reopen a slice the new one closed).
func TestNoJournalEntryOfALostPartition(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, testJournal)
	p := &Pipeline{client: w.client()}
	tp := topicPartition{"crm.accounts", 0}
	p.owned.assign(map[string][]int32{tp.topic: {tp.partition}})
	cl := p.owned.claimParts(map[string][]int32{tp.topic: {tp.partition}})
	entry := func(job string) *kgo.Record {
		e := journal.Entry{JobID: job, Topic: tp.topic, Partition: tp.partition, State: journal.Closed, Offsets: [][2]int64{{0, 9}}}
		return e.Record(testJournal)
	}
	ctx := context.Background()
	if err := p.produceEntry(ctx, cl, tp, entry("owned")); err != nil {
		t.Fatal(err)
	}
	p.owned.revoke(map[string][]int32{tp.topic: {tp.partition}})
	p.owned.assign(map[string][]int32{tp.topic: {tp.partition}}) // back to this instance, a new generation
	if err := p.produceEntry(ctx, cl, tp, entry("lost")); err != nil {
		t.Fatal(err)
	}
	if err := p.produceEntry(ctx, nil, tp, entry("no-claim")); err != nil {
		t.Fatal(err)
	}
	var jobs []string
	read := w.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{testJournal: {0: kgo.NewOffset().AtStart()}}))
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for len(jobs) < 2 && rctx.Err() == nil {
		fs := read.PollFetches(rctx)
		fs.EachRecord(func(r *kgo.Record) { jobs = append(jobs, strings.SplitN(string(r.Key), "/", 2)[0]) })
	}
	if want := []string{"owned", "no-claim"}; !slices.Equal(jobs, want) {
		t.Errorf("journal entries of jobs %v, want %v", jobs, want)
	}
}

// A chunk of results handed to a lane before its partition was lost, and
// published after: the lost partition's results are not produced and not
// reported to the main loop (whose tracker may follow the partition again
// under a new claim and would commit past them); the other partition's
// are both. Exactly once, the partition came back to this instance, whose
// new producer of it (fenced for the new claim) would publish them.
func TestPublishLeavesALostPartitionsResultsToItsNewOwner(t *testing.T) {
	inBothDeliveryModes(t, testPublishLeavesALostPartitionsResults)
}

func testPublishLeavesALostPartitionsResults(t *testing.T, exactlyOnce bool) {
	w := newWorld(t, 2, bulkemu.Options{}, "crm.accounts", testJournal)
	w.createTopic(testTopics.Success, 1<<20) // Run would create it
	rr := w.readResults()
	opts := w.options("lost-results", insertRoute)
	opts.Journal, opts.ExactlyOnce = testJournal, exactlyOnce
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.producers.closeAll()
	p.client, p.source = w.client(), routedTopics{p.opts.Routes}
	parts := map[string][]int32{"crm.accounts": {0, 1}}
	// fence makes the producers of assigned partitions, as the planner
	// does before the main loop resumes them.
	fence := func(parts ...int32) {
		for _, part := range parts {
			if !exactlyOnce {
				return
			}
			if err := p.producers.fence(context.Background(), topicPartition{"crm.accounts", part}); err != nil {
				t.Fatal(err)
			}
		}
	}
	p.owned.assign(parts)
	fence(0, 1)
	cl := p.owned.claimParts(parts)
	p.owned.revoke(map[string][]int32{"crm.accounts": {1}})
	p.producers.drop(topicPartition{"crm.accounts", 1})
	p.owned.assign(map[string][]int32{"crm.accounts": {1}}) // back to this instance, a new generation
	fence(1)
	var outcomes []outcome
	for part := range int32(2) {
		for off := range int64(3) {
			src := event.Source{Topic: "crm.accounts", Partition: part, Offset: off, Key: []byte("k")}
			outcomes = append(outcomes, outcome{src: src,
				result: Result{Success: true, Object: "Account", Operation: "insert", Source: sourceOf(&src)}})
		}
	}
	c := p.publish(context.Background(), "", outcomes, closedRanges{}, nil, cl)
	if c.err != nil {
		t.Fatal(c.err)
	}
	for _, s := range c.sources {
		if s.Partition != 0 {
			t.Errorf("the main loop is told of %+v, of the lost partition", s)
		}
	}
	if len(c.sources) != 3 {
		t.Errorf("%d sources reported, want partition 0's 3", len(c.sources))
	}
	rr.waitFor(t, 3, 10*time.Second)
	time.Sleep(200 * time.Millisecond) // the lost partition's would come now, if wrongly
	results, _ := rr.snapshot()
	for src := range results {
		if src.Partition != 0 {
			t.Errorf("a result of the lost partition was published: %+v", src)
		}
	}
}
