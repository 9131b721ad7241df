package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// A publication that only closes a job's slices, with no result (every
// event of the job went on to a follow-up job), is waited for by drained
// like one with results: the follow-up's journal entry never comes before
// the closing entry of the job before it. Kafka is slowed so that the
// lane is still producing the entry when drained is called.
func TestDrainedWaitsForAJobClosedWithNoResult(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts", testJournal)
	opts := w.options("drained", insertRoute)
	opts.Journal = testJournal
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := withLanes(t, w, p)
	w.cluster.ControlKey(kmsg.Produce.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		w.cluster.KeepControl()
		time.Sleep(300 * time.Millisecond)
		return nil, nil, false
	})
	run := &jobRun{lane: p.lane()}
	tp := topicPartition{"crm.accounts", 0}
	p.hand(run, publication{job: "750xx0000000001AAA", closing: closedRanges{tp: {}}})
	if err := p.drained(ctx, run); err != nil {
		t.Fatal(err)
	}
	words := journalWords(t, w, "750xx0000000001AAA")
	if len(words) != 1 || words[0].State != journal.Closed || len(words[0].Offsets) != 0 {
		t.Errorf("the journal's entries of the job once drained: %+v, want one closing it empty", words)
	}
}

// withLanes readies p to publish without its main loop: one publishing
// lane, and the loop's part of taking the lane's reports. It returns the
// jobs' context; the lane ends with the test.
func withLanes(t *testing.T, w *world, p *Pipeline) context.Context {
	p.client, p.source = w.client(), routedTopics{p.opts.Routes}
	ctx, cancel := context.WithCancel(context.Background())
	p.startLanes(ctx, 1)
	go func() {
		for {
			select {
			case <-p.done:
			case <-p.loopEnded:
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		close(p.loopEnded)
		p.tasks.Wait()
		p.producers.closeAll()
	})
	return ctx
}
