package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// plan is what the journal says about newly assigned partitions: events
// whose results are already out, to pass over, and jobs that were running
// and that their events are to be re-attached to instead of being loaded
// again.
type plan struct {
	parts     map[string][]int32
	claimed   claim // the assignment the plan is for
	journaled map[topicPartition]*journaled
	attach    []*attachment // those waiting for events, with their buffers
	resumed   int           // jobs re-attached, for the log
}

// attachment gathers, as they are consumed again, the events of one slice
// of a job that ran before a crash or a rebalance. When all are in, or the
// partition's records went past those missing (compaction or retention
// removed them), the buffer goes to a job slot, where the job's results
// are read instead of the rows being loaded again.
type attachment struct {
	entry   *journal.Entry
	missing int64 // offsets not yet consumed again
	buffer  *batch.Buffer
}

// journaled is what the journal says about the offsets of one partition,
// from where its consumption starts to its end: sorted, disjoint ranges,
// each passed over (its events' results are out) or attached to a job. It
// holds a range, not an offset, apiece, so its memory follows the ranges
// of the journal's entries (see journal.MaxRanges), not the offsets they
// claim, which can be every offset of a partition in a few bytes. The main
// loop owns it.
//
// A partition's events are consumed in offset order (kgo gives a
// partition's records in order, and parked ones go on in order), so take
// goes on from the range where the offset before was: a look-up is
// constant in time, amortized.
type journaled struct {
	ranges []journaledRange
	next   int // the first range not behind the offset taken last
}

// journaledRange is offsets first to last of a partition, attached to a,
// or passed over when a is nil.
type journaledRange struct {
	first, last int64
	a           *attachment
}

// take reports whether the journal has a word on offset, and which:
// passed over (a nil attachment) or attached to a. It lets go of offset,
// and of the offsets before it, which are not consumed any more: an offset
// below one taken is not held. The attached offsets it lets go of without
// their event (gone from the partition: compacted, or deleted by
// retention) are told to gone, so many at a time, as they are never
// consumed.
func (j *journaled) take(offset int64, gone func(a *attachment, n int64)) (a *attachment, ok bool) {
	for j.next < len(j.ranges) && j.ranges[j.next].first < offset {
		r := &j.ranges[j.next]
		if r.a != nil {
			gone(r.a, min(r.last+1, offset)-r.first)
		}
		if r.last >= offset {
			r.first = offset
			break
		}
		j.next++
	}
	if j.next == len(j.ranges) || j.ranges[j.next].first > offset {
		return nil, false
	}
	r := &j.ranges[j.next]
	if r.first = offset + 1; r.first > r.last { // offset <= last, below the partition's end: no overflow
		j.next++
	}
	return r.a, true
}

// done reports whether every range has been taken.
func (j *journaled) done() bool { return j.next == len(j.ranges) }

// onAssigned runs in the group's goroutine when partitions are assigned,
// before any of their records is polled. It does no network I/O, so it
// never holds the rebalance up: it pauses fetching of the new partitions
// and leaves the rest to planAssigned, on a goroutine of its own.
func (p *Pipeline) onAssigned(_ context.Context, cl *kgo.Client, parts map[string][]int32) {
	p.submit.watch.assigned(parts)
	p.owned.assign(parts)
	if p.opts.Journal == "" || len(parts) == 0 {
		return
	}
	cl.PauseFetchPartitions(parts)
	claimed := p.owned.claimParts(parts)
	p.spawn(func() { p.planAssigned(cl, parts, claimed) })
}

// planAssigned makes the plan for newly assigned partitions while their
// fetching is paused, and hands it to the main loop, which resumes them:
// in exactly-once delivery it fences the previous owner's result producers,
// then it reads the journal. A journal that cannot be read is read again,
// with back-off, until it can, the partitions move on, or the pipeline
// stops: loading the events again instead would duplicate the inserts of
// jobs that ran.
func (p *Pipeline) planAssigned(cl *kgo.Client, parts map[string][]int32, claimed claim) {
	ctx := p.background
	if p.opts.ExactlyOnce {
		for tp := range claimed {
			if err := p.producers.fence(ctx, tp); err != nil {
				p.log.Error("cannot take over the result producer of a partition", "topic", tp.topic, "partition", tp.partition, "error", err)
			}
		}
	}
	var pl *plan
	for tries := 1; ; tries++ {
		var err error
		if pl, err = p.makePlan(ctx, cl, parts); err == nil {
			break
		}
		if p.owned.allLost(claimed) {
			return
		}
		pause := p.submit.pause(tries)
		p.log.Error("reading the job journal failed; reading it again", "partitions", parts, "pause", pause, "error", err)
		if !sleep(ctx, pause) {
			return
		}
	}
	pl.claimed = claimed
	select {
	case p.requests <- request{plan: pl}:
	case <-p.loopEnded:
	}
}

// makePlan reads the journal entries of parts. It asks only Kafka: what
// became of the jobs that were not closed is Salesforce's to say, and the
// job runner asks it (submitter.resume), for as long as that takes. It
// takes the client from the group callback: the callback may run before Run
// has stored p.client.
//
// An event open in several jobs (see package journal) is attached to the
// latest in the journal only: the earlier ones ended without processing
// its row, and re-attached to one of them it would be loaded again beside
// the later job. An event whose result is out is attached to none. The
// earlier jobs do not wait for it, and one left with no event is not
// re-attached. A slice still open with some of its results out (its job
// published them in chunks, and not the last) has those passed over and
// the others attached to its job, whose results are read again for them.
//
// Nothing below a partition's committed offset is attached or passed over:
// the group commits past an event only once its result is out (see
// tracker), and those events are not consumed again, so an attachment
// waiting for one would wait for ever. This is what makes it safe for the
// journal to hold an older word on a slice than its last chunk (a rewrite
// or a closing entry refused as too large is left out, see produceEntry):
// the chunks' events since are committed, or re-attached to the job and
// their results published again. A partition with no committed offset is
// consumed from where StartOffset says (see consumedFrom), and nothing
// before that is attached or passed over either.
//
// Nor is anything at or past a partition's end offset, as listed now: the
// journal's events were consumed, so they are below it, and an entry that
// claims more (a malformed one) is cut to the partition's records. The
// plan holds ranges, never offsets one by one (see journaled), so what it
// takes follows the entries' ranges, however many offsets they claim.
func (p *Pipeline) makePlan(ctx context.Context, cl *kgo.Client, parts map[string][]int32) (*plan, error) {
	entries, err := journal.Read(ctx, p.opts.Kafka, p.opts.Journal, parts, p.log)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	committed, err := adm.FetchOffsets(ctx, p.opts.Group)
	if err != nil {
		return nil, fmt.Errorf("committed offsets: %w", err)
	}
	topics := make([]string, 0, len(parts))
	for t := range parts {
		topics = append(topics, t)
	}
	starts, err := listed(adm.ListStartOffsets(ctx, topics...))
	if err != nil {
		return nil, fmt.Errorf("start offsets: %w", err)
	}
	ends, err := listed(adm.ListEndOffsets(ctx, topics...))
	if err != nil {
		return nil, fmt.Errorf("end offsets: %w", err)
	}
	pl := &plan{parts: parts, journaled: map[topicPartition]*journaled{}}
	var spent []*kgo.Record // entries behind the committed offsets: tombstones keep the journal small
	var open []*attachment  // of the open entries, in the order they were written
	words := map[topicPartition][]word{}
	for _, e := range entries { // in the order they were written
		tp := topicPartition{e.Topic, e.Partition}
		start, ok := starts.Lookup(e.Topic, e.Partition)
		if !ok {
			return nil, fmt.Errorf("start offsets: none listed for %s/%d", e.Topic, e.Partition)
		}
		end, ok := ends.Lookup(e.Topic, e.Partition)
		if !ok {
			return nil, fmt.Errorf("end offsets: none listed for %s/%d", e.Topic, e.Partition)
		}
		c, committedAt := committed.Lookup(e.Topic, e.Partition)
		committedAt = committedAt && c.At >= 0
		from := p.consumedFrom(c.At, committedAt, start.Offset, end.Offset)
		say := func(ranges [][2]int64, rank int) {
			for _, r := range within(ranges, from, end.Offset-1) {
				words[tp] = append(words[tp], word{r[0], r[1], rank})
			}
		}
		switch {
		case len(e.Offsets) == 0 && e.State == journal.Closed, // closed with nothing published: it says nothing
			committedAt && len(e.Offsets) > 0 && e.Offsets[len(e.Offsets)-1][1] < c.At:
			spent = append(spent, &kgo.Record{Topic: p.opts.Journal, Key: e.Key()})
		case e.State == journal.Closed:
			say(e.Offsets, passedOver)
		default:
			say(e.Offsets, len(open))
			say(e.Published, passedOver)
			open = append(open, &attachment{entry: e})
		}
	}
	for tp, ws := range words {
		j := &journaled{}
		for _, w := range settle(ws) {
			var a *attachment
			if w.rank != passedOver {
				a = open[w.rank]
				a.missing += w.last - w.first + 1
			}
			j.ranges = append(j.ranges, journaledRange{w.first, w.last, a})
		}
		pl.journaled[tp] = j
	}
	for _, a := range open {
		if a.missing == 0 {
			continue
		}
		e := a.entry
		a.buffer = batch.NewBuffer(batch.Key{Object: e.Object, Operation: event.Operation(e.Operation), ExternalIDField: e.ExternalIDField},
			p.opts.Batch, time.Now())
		pl.attach = append(pl.attach, a)
		pl.resumed++
	}
	if len(spent) > 0 {
		if err := cl.ProduceSync(ctx, spent...).FirstErr(); err != nil {
			p.log.Warn("clearing spent journal entries", "error", err)
		}
	}
	return pl, nil
}

// listed returns offsets listed without error.
func listed(offsets kadm.ListedOffsets, err error) (kadm.ListedOffsets, error) {
	if err == nil {
		err = offsets.Error()
	}
	return offsets, err
}

// consumedFrom returns the first offset of a partition that is consumed
// again, as the consumer starts: at the committed offset, if any; else, or
// when it is out of the partition's range (start to end, as the broker
// answers a fetch), where StartOffset says: the partition's start, or its
// end for the latest record. An end listed after the assignment is above
// every event of the journal that a previous owner consumed before it
// lost the partition, so with the latest record nothing of the journal is
// consumed again. Any other StartOffset (an offset, a time) is taken as
// the start: never above where the consumer starts, so nothing consumed is
// left out.
func (p *Pipeline) consumedFrom(committed int64, isCommitted bool, start, end int64) int64 {
	switch {
	case isCommitted && committed >= start && committed <= end:
		return committed
	case p.startOffset() == kgo.NewOffset().AtEnd():
		return end
	}
	return start
}

// word is what the journal says of offsets first to last of a partition:
// they are passed over (rank passedOver), or attached to the open entry
// ranked rank in the journal's order.
type word struct {
	first, last int64
	rank        int
}

// passedOver ranks above every open entry: an event whose result is out
// is attached to no job.
const passedOver = math.MaxInt

// settle returns the last word on each offset of words (in any order,
// overlapping or not) as sorted, disjoint ranges: the word of the highest
// rank among those holding it. It sweeps the words by first offset with a
// heap of those that hold the offset it is at, so it takes O(n log n) time
// for n words, whatever offsets they claim.
func settle(words []word) []word {
	slices.SortFunc(words, func(a, b word) int { return cmp.Compare(a.first, b.first) })
	var out []word
	var live rankHeap // words with first <= at, the highest rank on top; some may end before at
	for i, at := 0, int64(0); i < len(words) || len(live) > 0; {
		if len(live) == 0 {
			at = max(at, words[i].first)
		}
		for ; i < len(words) && words[i].first <= at; i++ {
			live.push(words[i])
		}
		for len(live) > 0 && live[0].last < at {
			live.pop()
		}
		if len(live) == 0 {
			continue
		}
		w := live[0] // holds at until it ends or a word of a higher rank may begin
		w.first = at
		if i < len(words) {
			w.last = min(w.last, words[i].first-1)
		}
		if n := len(out); n > 0 && out[n-1].rank == w.rank && out[n-1].last+1 == w.first {
			out[n-1].last = w.last
		} else {
			out = append(out, w)
		}
		at = w.last + 1 // offsets are cut below the partition's end, so no overflow
	}
	return out
}

// rankHeap is a max-heap of words by rank.
type rankHeap []word

func (h *rankHeap) push(w word) {
	s := append(*h, w)
	for i := len(s) - 1; i > 0 && s[(i-1)/2].rank < s[i].rank; i = (i - 1) / 2 {
		s[i], s[(i-1)/2] = s[(i-1)/2], s[i]
	}
	*h = s
}

func (h *rankHeap) pop() {
	s := *h
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	for i := 0; ; {
		top := i
		for _, c := range [2]int{2*i + 1, 2*i + 2} {
			if c < n && s[c].rank > s[top].rank {
				top = c
			}
		}
		if top == i {
			break
		}
		s[i], s[top] = s[top], s[i]
		i = top
	}
	*h = s
}

// within returns the parts of ranges, sorted and disjoint or not, that
// are in [first, last].
func within(ranges [][2]int64, first, last int64) [][2]int64 {
	var out [][2]int64
	for _, r := range ranges {
		if lo, hi := max(r[0], first), min(r[1], last); lo <= hi {
			out = append(out, [2]int64{lo, hi})
		}
	}
	return out
}

// applyPlan installs a plan in the main loop and resumes fetching of its
// partitions, except those that moved on while it was being made.
func (p *Pipeline) applyPlan(pl *plan) {
	resume := map[string][]int32{}
	for tp := range pl.claimed {
		if !p.owned.lost(pl.claimed, tp) {
			resume[tp.topic] = append(resume[tp.topic], tp.partition)
		}
	}
	passing := 0 // partitions with events passed over, for the log
	for tp, j := range pl.journaled {
		if p.owned.lost(pl.claimed, tp) {
			continue
		}
		// A partition is forgotten when it is revoked, before it can be
		// assigned again: there is no earlier word to keep.
		p.forgetPartition(tp)
		p.journaled[tp] = j
		if slices.ContainsFunc(j.ranges, func(r journaledRange) bool { return r.a == nil }) {
			passing++
		}
	}
	for _, a := range pl.attach {
		if p.owned.lost(pl.claimed, topicPartition{a.entry.Topic, a.entry.Partition}) {
			a.buffer.Close()
		}
	}
	if len(pl.journaled) > 0 {
		p.log.Info("journal read for assigned partitions", "partitions", pl.parts, "jobs_resumed", pl.resumed, "partitions_with_published_events", passing)
	}
	p.client.ResumeFetchPartitions(resume)
}

// intercept handles a consumed record (already counted by the tracker)
// that the journal knows about: an
// event whose result is out is passed over (its offset advances), an event
// of a running job joins its attachment. It reports whether it took the
// record.
func (p *Pipeline) intercept(src event.Source, c *event.Change, err error) bool {
	tp := topicPartition{src.Topic, src.Partition}
	j := p.journaled[tp]
	if j == nil {
		return false
	}
	a, ok := j.take(src.Offset, func(a *attachment, n int64) {
		if a.missing -= n; a.missing == 0 {
			p.resumeAttachment(a)
		}
	})
	if j.done() {
		delete(p.journaled, tp) // every attachment of it is complete: nothing to hold
	}
	switch {
	case !ok:
		return false
	case a == nil:
		p.completed(completion{sources: []Source{sourceOf(&src)}})
		return true
	}
	a.missing--
	if err == nil {
		err = a.buffer.Add(c, p.ids.of(c))
	}
	if err != nil { // it was in the job once, so this cannot happen; do not lose it
		p.failed = append(p.failed, decodeFailure(owned(src), decodeErrorCode(err), err.Error()))
	}
	if a.missing == 0 {
		p.resumeAttachment(a)
	}
	return true
}

// resumeAttachment hands the buffer of an attachment that waits for no
// more events to a job slot, to read the job's results for its events; a
// buffer with none (every event of the slice is gone from the partition)
// is closed: nobody waits for their results.
func (p *Pipeline) resumeAttachment(a *attachment) {
	if len(a.buffer.Events) == 0 {
		a.buffer.Close()
		a.buffer = nil
		return
	}
	a.buffer.Seal(batch.ReasonResume)
	p.resumeJobs[a.buffer] = a.entry
	p.enqueue([]*batch.Buffer{a.buffer})
}

// forgetPartition drops what the journal said about a partition that is no
// longer ours.
func (p *Pipeline) forgetPartition(tp topicPartition) {
	if j := p.journaled[tp]; j != nil {
		for _, r := range j.ranges {
			if a := r.a; a != nil && a.buffer != nil && a.missing > 0 {
				a.buffer.Close()
				a.buffer = nil
			}
		}
	}
	delete(p.journaled, tp)
}

// journalOpen writes the open entries of a job's slices, before the job is
// closed. An entry the journal topic refuses as too large (its events are
// very many and apart in their partition, even written compact, see
// package journal) is an error that names it, its size and the settings
// that mend it: the job is aborted before its close, never processed, and
// run fails every event with the error at once, since a new job's entry
// would be as large. Most such entries are judged before their job is
// created, and the job is not (see openFit).
func (p *Pipeline) journalOpen(ctx context.Context, jobID string, b *batch.Buffer, attempt int) error {
	if p.opts.Journal == "" {
		return nil
	}
	var records []*kgo.Record
	for _, e := range openEntries(jobID, b, attempt) {
		records = append(records, e.RecordAs(p.opts.Journal, p.opts.JournalForm))
	}
	for _, r := range p.client.ProduceSync(ctx, records...) {
		switch {
		case tooLarge(r.Err):
			return journalTooLarge("write the job journal: the journal topic %s refused the entry %s, of %d bytes, as too large; "+
				"raise the topic's max.message.bytes, or lower batch.max_records: %w", r.Record.Topic, r.Record.Key, recordSize(r.Record), r.Err)
		case r.Err != nil:
			return fmt.Errorf("write the job journal: %w", r.Err)
		}
	}
	return nil
}

// openEntries returns the open entries of the slices of job jobID, which
// runs b as attempt number attempt: one for each source partition of b's
// events.
func openEntries(jobID string, b *batch.Buffer, attempt int) map[topicPartition]*journal.Entry {
	out := map[topicPartition]*journal.Entry{}
	var e *journal.Entry // of the event before: a partition's events come in runs
	unsorted := map[*journal.Entry]bool{}
	for i := range b.Events {
		ev := &b.Events[i]
		if e == nil || e.Partition != ev.Partition || e.Topic != ev.Topic() {
			tp := topicPartition{ev.Topic(), ev.Partition}
			if e = out[tp]; e == nil {
				e = &journal.Entry{JobID: jobID, Object: b.Key.Object, Operation: string(b.Key.Operation), ExternalIDField: b.Key.ExternalIDField,
					Attempt: attempt, Topic: tp.topic, Partition: tp.partition, State: journal.Open}
				out[tp] = e
			}
		}
		// The offsets of a partition's events come in order, as
		// consumed, in all but the buffers of retried rows (Retry:
		// follow-ups, halves), whose events are grouped by row: ranges
		// are extended as they come, and sorted out only when they did
		// not.
		switch n := len(e.Offsets); {
		case n > 0 && e.Offsets[n-1][1]+1 == ev.Offset:
			e.Offsets[n-1][1] = ev.Offset
		case n > 0 && e.Offsets[n-1][1] >= ev.Offset:
			unsorted[e] = true
			fallthrough
		default:
			e.Offsets = append(e.Offsets, [2]int64{ev.Offset, ev.Offset})
		}
	}
	for e := range unsorted {
		var offsets []int64
		e.Each(func(o int64) { offsets = append(offsets, o) })
		e.Offsets = journal.Ranges(offsets)
	}
	return out
}

// closingEntries returns the journal records that close, for each source
// partition of closing, the slice of job jobID ("" for results of no job)
// with the offsets whose results are out (none for a slice of a job whose
// events all went on to a follow-up job; a slice of no job has some). A
// slice with an entry in open stays open instead: its entry is written
// again with those offsets as published (journal.Entry.Published).
func (p *Pipeline) closingEntries(jobID string, closing closedRanges, open map[topicPartition]*journal.Entry) map[topicPartition]*kgo.Record {
	if p.opts.Journal == "" || (jobID == "" && !p.opts.ExactlyOnce) {
		return nil
	}
	out := map[topicPartition]*kgo.Record{}
	for tp, ranges := range closing {
		e := journal.Entry{JobID: jobID, Topic: tp.topic, Partition: tp.partition, State: journal.Closed, Offsets: ranges}
		if o := open[tp]; o != nil {
			e = *o
			e.Published = ranges
		}
		out[tp] = e.RecordAs(p.opts.Journal, p.opts.JournalForm)
	}
	return out
}
