package pipeline

import (
	"context"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/internal/reuse"
)

// The publisher stage. Job runners do not produce results: they hand each
// chunk of a job's outcomes to a publishing lane and go on reading the
// job's next results or running its next round, while the lane produces
// the chunk (results, dead-letter copies and the journal's entries that
// keep the job's slices open with what is published, or close them; see
// publish) and then tells the main loop, which marks
// the offsets. A lane is first in, first out, and a job runner keeps to one
// lane, so the end of a job (which frees its slot and its records) reaches
// the main loop after its last results are out, and a later job for the
// same records cannot publish before it. Each lane holds at most one
// chunk waiting (settleChunk outcomes) besides the one it produces, so a
// job runner waits when Kafka is slower than Salesforce; lanes are picked
// in turn, so a runner may also wait behind another runner's chunks. A
// runner waits for its lane to be drained before it journals a follow-up
// job (see drained).

// publication is one chunk of outcomes to publish, the journal slices its
// closing entries close (nil: the outcomes' own) and the job they are
// slices of ("" for outcomes of no job), and the completion to report once
// they are out (the Ids a job learned, the end of a job). A publication may
// close slices with no outcome at all: those of a job none of whose events
// in the partition have a result yet (all went on to a follow-up job).
type publication struct {
	outcomes []outcome
	closing  closedRanges
	// open holds the open entries of the slices of closing that stay open
	// (a chunk but the last: the job has more results to publish): they
	// are written again with closing's offsets as published, not closed.
	open map[topicPartition]*journal.Entry
	job  string
	// cl is the claim of the job's runner: no journal entry of a partition
	// lost to it is written (its new owner has the word on its slices);
	// nil for outcomes of no job.
	cl   claim
	then completion
	// published, when not nil, makes the publication a barrier: it carries
	// nothing else, and the lane closes it once what was handed before it
	// is published (see drained).
	published chan struct{}
}

// keptChunks bounds the published chunks the lanes keep for settle: 1.7 MB
// each, one a lane held 14 MB with 8 jobs in flight (a heap profile of a
// run of 10,000,000 events), where two serve the runners as well.
const keptChunks = 2

// lanes are the publisher stage's lanes, one goroutine each, started by the
// main loop and ended with it. free holds published chunks for settle to
// fill again (cleared, of capacity settleChunk: 1.7 MB, a few hundred bytes
// an event), at most keptChunks, kept while the pipeline runs: a sync.Pool,
// emptied by every other garbage collection, gave few of them back at the
// pace results are made.
type lanes struct {
	in   []chan publication
	next atomic.Uint32
	free reuse.Spares[[]outcome]
	// entryWarned is when a journal entry refused as too large was last
	// warned about (Unix nanoseconds; see entryLeftOut).
	entryWarned atomic.Int64
}

// chunk returns an empty slice for up to settleChunk outcomes, n of them
// expected: a published one, or a new one of room for n.
func (l *lanes) chunk(n int) []outcome {
	if c, ok := l.free.Get(); ok {
		return c
	}
	return make([]outcome, 0, min(n, settleChunk))
}

// recycle takes back a chunk once published; what it held is cleared, so
// the free list keeps no record alive. A chunk smaller than settleChunk, or
// one more than the list holds, is left to the garbage collector.
func (l *lanes) recycle(c []outcome) {
	if cap(c) != settleChunk {
		return
	}
	clear(c)
	l.free.Put(c[:0])
}

// startLanes starts n publishing lanes that produce with ctx (the jobs'
// context) until the main loop ends.
func (p *Pipeline) startLanes(ctx context.Context, n int) {
	p.lanes.in = make([]chan publication, max(n, 1))
	p.lanes.free = make(reuse.Spares[[]outcome], min(len(p.lanes.in), keptChunks))
	for i := range p.lanes.in {
		in := make(chan publication, 1)
		p.lanes.in[i] = in
		p.spawn(func() { p.publishLane(ctx, in) })
	}
}

// lane picks the lane of a new job runner, in turn.
func (p *Pipeline) lane() chan<- publication {
	return p.lanes.in[int(p.lanes.next.Add(1))%len(p.lanes.in)]
}

// publishLane publishes what its job runners hand it, in order, and
// reports each publication to the main loop; a publication that could not
// be published (ctx ended) is reported with its error, and its events stay
// uncommitted.
func (p *Pipeline) publishLane(ctx context.Context, in <-chan publication) {
	for {
		var pub publication
		select {
		case pub = <-in:
		case <-p.loopEnded:
			return
		}
		if pub.published != nil {
			close(pub.published)
			continue
		}
		c := pub.then
		if len(pub.outcomes) > 0 || len(pub.closing) > 0 {
			done := p.publish(ctx, pub.job, pub.outcomes, pub.closing, pub.open, pub.cl)
			c.sources, c.err = done.sources, done.err
			p.lanes.recycle(pub.outcomes)
		}
		p.report(c)
	}
}

// hand gives a publication to the job runner's lane; it waits while the
// lane is full, and gives up when the main loop has ended.
func (p *Pipeline) hand(run *jobRun, pub publication) {
	if len(pub.outcomes) > 0 || len(pub.closing) > 0 {
		run.handed = true
	}
	select {
	case run.lane <- pub:
	case <-p.loopEnded:
	}
}

// drained waits until the runner's lane has published the outcomes the
// runner handed it and the journal's closing entries. A runner waits so
// before it journals a follow-up job (a retry, an unfolded change), so that
// the journal never holds the follow-up's entry before the closing entry of
// the job before: a crash or a move between the two would find two jobs
// open for the same events, attach them in either order, and could load
// rows twice.
func (p *Pipeline) drained(ctx context.Context, run *jobRun) error {
	if !run.handed {
		return nil
	}
	published := make(chan struct{})
	p.hand(run, publication{published: published})
	select {
	case <-published:
		run.handed = false
		return nil
	case <-p.loopEnded:
		return errStopped
	case <-ctx.Done():
		return errStopped
	}
}

// clone is a copy of r that later adds to r leave alone.
func (r closedRanges) clone() closedRanges {
	out := maps.Clone(r)
	for tp, rs := range out {
		out[tp] = slices.Clone(rs)
	}
	return out
}
