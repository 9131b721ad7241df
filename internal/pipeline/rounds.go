package pipeline

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// runJob runs one buffer through Salesforce and hands its results to its
// publishing lane (publisher.go); the end of the job, reported through the
// lane after them, frees its job slot and its records. It owns b and closes
// it; ids are b's record identities. The records stay held (busy) until
// every retry is done, so a later change to a record waits for its retry. A
// buffer of deletes by external id is resolved to Ids first (cached holds
// what the id cache knew, by row; see resolve.go).
func (p *Pipeline) runJob(ctx context.Context, b *batch.Buffer, ids []string, resume *journal.Entry, cached map[int]string, cl claim) {
	defer b.Close()
	attempt := 1
	if resume != nil {
		attempt = max(resume.Attempt, 1)
	}
	run := &jobRun{cl: cl, started: time.Now(), lane: p.lane()}
	err := p.resolved(ctx, b, cached, resume != nil, run, func(buf *batch.Buffer) error {
		return p.rounds(ctx, buf, attempt, resume, run)
	})
	p.hand(run, publication{then: completion{jobDone: true, records: ids, err: err, napping: run.slot.napping, waker: run.slot.waker}})
}

// jobRun is what the rounds of one job runner share: the claim on the
// partitions of its events, when it started (for ParentWait), its side of
// its job slot and its publishing lane.
type jobRun struct {
	cl      claim
	started time.Time
	slot    jobSlot
	lane    chan<- publication
	handed  bool // outcomes went to the lane since the last drained
}

// resolved calls run with b, or, when b holds deletes by external id, with
// the buffer of the deletes by Id they resolve to, after handing the
// results of those that resolve to no record to the run's lane.
func (p *Pipeline) resolved(ctx context.Context, b *batch.Buffer, cached map[int]string, recycled bool, jr *jobRun, run func(*batch.Buffer) error) error {
	if !needsIDs(b) {
		return run(b)
	}
	byID, missing, err := p.resolve(ctx, b, cached, recycled)
	if err != nil {
		return err
	}
	if byID != nil {
		defer byID.Close()
	}
	if len(missing) > 0 {
		p.hand(jr, publication{outcomes: missing})
	}
	if byID == nil {
		return nil
	}
	return run(byID)
}

// rounds runs b as job number attempt and then follow-up jobs, until every
// event of b has its result handed to the run's lane (a follow-up job is
// journaled only once the lane has published what came before, see
// drained):
//
//   - rows that failed for a retryable reason (a lock, a row left
//     unprocessed, a transient server error) go into the next round after a
//     back-off, up to MaxAttempts jobs a row, in smaller jobs when lock
//     errors repeat;
//   - a row that folded several changes and failed for good is unfolded:
//     its changes run again one per job, in source order, so that one bad
//     change fails alone, as it would have without coalescing.
//
// Events of partitions lost to cl (they moved to another instance) get no
// result here. The caller keeps owning b.
func (p *Pipeline) rounds(ctx context.Context, b *batch.Buffer, attempt int, resume *journal.Entry, run *jobRun) error {
	cl := run.cl
	round := []*batch.Buffer{b}
	defer func() { // the follow-up buffers are ours; b is the caller's
		for _, x := range round {
			if x != nil && x != b {
				x.Close()
			}
		}
	}()
	lockRounds := 0
	for ; ; attempt++ {
		var next []*batch.Buffer
		retryRows, lockRows := 0, 0
		for i := 0; i < len(round); i++ { // narrowing appends to round
			cur := round[i]
			var outcomes verdict
			var err error
			resumed := resume // the journal's entry of the job cur ran in
			if resume != nil {
				outcomes, err = p.submit.resume(ctx, cur, resume.JobID, attempt, cl)
				resume = nil
			} else if err = p.drained(ctx, run); err == nil { // the journal's order
				outcomes, err = p.submit.run(ctx, cur, attempt, cl)
			}
			over := cur // the buffer outcomes are about
			if se, ok := errors.AsType[*splitError](err); ok {
				var rest []*batch.Buffer
				over, rest, err = p.narrow(cur, se.job)
				round = append(round, rest...)
				switch {
				case err != nil:
				case over != nil:
					outcomes, err = failAll(over, se.job.JobID, attempt, se.job)
				default: // every row runs again: the job's slices close empty
					if none := p.unclosed(cur, cl, nil); len(none) > 0 {
						p.hand(run, publication{job: se.job.JobID, closing: none})
					}
				}
			}
			var left settled
			if err == nil && over != nil {
				left, err = p.settle(over, cur, resumed, outcomes, attempt, run)
			}
			if err == nil && len(left.unfold) > 0 {
				err = p.unfold(ctx, over, left.unfold, attempt+1, run)
			}
			if err == nil && len(left.retry) > 0 {
				retryRows, lockRows = retryRows+left.retryRows, lockRows+left.lockRows
				var more []*batch.Buffer
				more, err = over.Retry(left.retry, 0)
				next = append(next, more...)
			}
			if over != nil && over != cur {
				over.Close()
			}
			if err != nil {
				closeAll(next)
				return err
			}
			if cur != b {
				cur.Close()
			}
			round[i] = nil
		}
		if len(next) == 0 {
			return nil
		}
		if lockRows*2 >= retryRows {
			lockRounds++
			next = p.split(next, lockRounds)
		}
		round = next
		if !p.nap(ctx, &run.slot, p.submit.pause(attempt)) {
			return errStopped
		}
	}
}

// narrow takes apart b, whose job failed as a whole because of some of its
// rows (see rowCaused). When the job's message names a column ("Field name
// not found : X"), the rows that carry a value for it are bad, and fail
// with the job's error (a folded one is then unfolded, like any row that
// failed for good); the others are the rest, to run again without the
// column. Otherwise b is cut into halves, each run as a job of its own, so
// that a row that fails a job is found in about 2·log2(rows) jobs. The
// caller owns what narrow returns.
func (p *Pipeline) narrow(b *batch.Buffer, je *bulk.JobError) (bad *batch.Buffer, rest []*batch.Buffer, err error) {
	var badEvents, goodEvents []int
	if column := unknownColumn(je.Message); column != "" {
		for _, r := range b.Rows {
			carries := false
			for _, i := range r.Events {
				c, err := b.Change(i)
				if err != nil {
					return nil, nil, err
				}
				carries = carries || slices.ContainsFunc(c.Fields, func(f event.Field) bool { return strings.EqualFold(f.Name, column) })
			}
			if carries {
				badEvents = append(badEvents, r.Events...)
			} else {
				goodEvents = append(goodEvents, r.Events...)
			}
		}
	}
	if len(badEvents) == 0 { // no column named, or none of b's rows has it
		var all []int
		for _, r := range b.Rows {
			all = append(all, r.Events...)
		}
		rest, err = b.Retry(all, (len(b.Rows)+1)/2)
		return nil, rest, err
	}
	if len(goodEvents) > 0 {
		if rest, err = b.Retry(goodEvents, 0); err != nil {
			return nil, nil, err
		}
	}
	parts, err := b.Retry(badEvents, 0)
	if err != nil {
		closeAll(rest)
		return nil, nil, err
	}
	p.log.Warn("rows carry a field Salesforce does not know; they fail, the others run again", "buffer", b.Key.String(),
		"field", unknownColumn(je.Message), "failing_events", len(badEvents), "events_again", len(goodEvents))
	return parts[0], rest, nil
}

// unknownColumn returns the column a failed job's message names as not a
// field of the object ("InvalidBatch : Field name not found : X"), or "".
func unknownColumn(message string) string {
	const marker = "Field name not found : "
	i := strings.Index(message, marker)
	if i < 0 {
		return ""
	}
	name, _, _ := strings.Cut(strings.TrimSpace(message[i+len(marker):]), " ")
	return name
}

// unfold runs the changes of folded rows that failed for good once more,
// one per row and in layers: the first change of every such row, then the
// second, and so on, so each record's changes keep their source order.
func (p *Pipeline) unfold(ctx context.Context, b *batch.Buffer, rows [][]int, attempt int, run *jobRun) error {
	for layer := 0; ; layer++ {
		var events []int
		for _, evs := range rows {
			if layer < len(evs) {
				events = append(events, evs[layer])
			}
		}
		if len(events) == 0 {
			return nil
		}
		parts, err := b.Retry(events, 0)
		if err != nil {
			return err
		}
		for _, part := range parts {
			err = p.rounds(ctx, part, attempt, nil, run)
			part.Close()
			if err != nil {
				return err
			}
		}
	}
}

// settleChunk bounds the results published at once, so a job of 150,000
// rows never has all its result records in memory together.
const settleChunk = 5000

// settled is what settle leaves to do: events whose rows are to be tried
// again (retry; rows of them, and those that failed on a lock) and, for
// rows that folded several changes and failed for good, their events in
// order (unfold).
type settled struct {
	retry               []int
	unfold              [][]int
	retryRows, lockRows int
}

// settle hands the final outcomes of a job's events (as outcomes gives
// them) to the run's publishing lane, settleChunk at a time, and returns
// what is left (see settled); those events get their results later. Events of partitions lost
// to cl are passed over: their new owner reports them. journaled is the
// buffer the job ran (b, or the one b was narrowed from): with the last
// chunk, each of its slices is closed, those with no result out too, so
// that the journal closes the job before a follow-up job journals the same
// events. resumed is the journal's entry of the job when it was resumed
// (journaled holds the events of its slice whose results were not out):
// its published events are named again, by the entries that keep the slice
// open and the one that closes it.
func (p *Pipeline) settle(b, journaled *batch.Buffer, resumed *journal.Entry, outcomes verdict, attempt int, run *jobRun) (settled, error) {
	cl := run.cl
	var out settled
	var learned []learnedID // from successful rows, one per row
	var deleted []string    // Ids of records deleted
	unfolded := map[int]bool{}
	retried := map[int]bool{}
	var chunk []outcome
	// The journal's entries of each chunk name every event of the slice
	// published so far: an entry replaces the one before it. A chunk but
	// the last keeps the slice open (its events not yet published may be
	// in a later chunk: closed, a resume would load them again); the last
	// closes it, with nothing published too, unless its partition moved:
	// the entry before stays, and the new owner, which read it, writes the
	// next.
	closing := closedRanges{}
	job, jobAttempt := "", 0                   // the job the outcomes are of ("" when none ran) and its attempt
	var open map[topicPartition]*journal.Entry // the job's open entries, once a chunk needs them
	opened := func() map[topicPartition]*journal.Entry {
		switch {
		case open != nil:
		case resumed != nil && resumed.JobID == job:
			open = map[topicPartition]*journal.Entry{{resumed.Topic, resumed.Partition}: resumed}
		default:
			open = openEntries(job, journaled, jobAttempt)
		}
		return open
	}
	flush := func(last bool) {
		if len(chunk) == 0 && !last {
			return
		}
		pub := publication{outcomes: chunk, job: job, cl: cl}
		if len(chunk) > 0 || (last && job != "") {
			closing.sortOut()
			pub.closing = closing.clone()
		}
		switch {
		case job == "":
		case !last:
			pub.open = opened()
		default:
			for tp, none := range p.unclosed(journaled, cl, closing) {
				pub.closing[tp] = none
			}
			for tp := range pub.closing {
				if p.owned.lost(cl, tp) {
					delete(pub.closing, tp) // its new owner's word now: see produce
				}
			}
		}
		if last {
			pub.then = completion{object: b.Key.Object, learned: learned, deleted: deleted}
		}
		p.hand(run, pub)
		chunk = nil
	}
	var owned lostWatch
	var first outcome // built here while no chunk is taken: a job that settles nothing takes none
	for i := range b.Events {
		if owned.lost(&p.owned, cl, topicPartition{b.Events[i].Topic(), b.Events[i].Partition}) {
			continue
		}
		// The outcome is built in its place in the chunk, and taken back
		// out when the event is not settled yet; a chunk's first is copied
		// in once it settles.
		o := &first
		if chunk != nil {
			chunk = append(chunk, outcome{})
			o = &chunk[len(chunk)-1]
		}
		if err := outcomes(i, o); err != nil {
			return settled{}, err
		}
		if job == "" {
			job, jobAttempt = o.result.JobID, o.result.Attempts
			if resumed != nil && resumed.JobID == job && len(resumed.Published) > 0 {
				closing[topicPartition{resumed.Topic, resumed.Partition}] = slices.Clone(resumed.Published)
			}
		}
		row := b.Events[i].Row
		switch {
		case o.result.Success:
			switch {
			case o.result.ID == nil:
			case b.Key.Operation.IsDelete():
				if deleted == nil {
					deleted = make([]string, 0, len(b.Events)-i)
				}
				deleted = append(deleted, *o.result.ID)
			case b.Rows[row].Events[0] == i:
				if learned == nil {
					learned = make([]learnedID, 0, len(b.Rows)-row) // at most one a row
				}
				learned = append(learned, learnedID{*o.result.ID, b.Rows[row].Identity})
			}
		case attempt < p.opts.MaxAttempts && retryableRow(o.result.ErrorCode),
			missingParent(o.result) && time.Since(run.started) < p.opts.ParentWait:
			out.retry = append(out.retry, i)
			if !retried[row] {
				retried[row] = true
				out.retryRows++
				p.opts.Metrics.RowRetries.WithLabelValues(o.result.ErrorCode).Inc()
				if o.result.ErrorCode == "UNABLE_TO_LOCK_ROW" {
					out.lockRows++
				}
			}
			chunk = unsettle(chunk, o)
			continue
		case attempt < p.opts.MaxAttempts && len(b.Rows[row].Events) > 1 && o.result.JobID != "":
			if !unfolded[row] {
				unfolded[row] = true
				out.unfold = append(out.unfold, b.Rows[row].Events)
			}
			chunk = unsettle(chunk, o)
			continue
		}
		if o == &first {
			chunk = append(p.lanes.chunk(len(b.Events)-i), first)
			o, first = &chunk[0], outcome{} // first holds on to no record
		}
		closing.note(o.result.Source) // sorted out at the flush
		if len(chunk) == settleChunk {
			flush(false)
		}
	}
	flush(true)
	return out, nil
}

// unsettle takes o, the outcome last built, back out: cleared, so that
// neither the chunk's spare room nor settle's first holds on to a record,
// and off chunk when it is chunk's last.
func unsettle(chunk []outcome, o *outcome) []outcome {
	*o = outcome{}
	if len(chunk) > 0 && o == &chunk[len(chunk)-1] {
		return chunk[:len(chunk)-1]
	}
	return chunk
}

// unclosed returns an empty range list for each partition of b's events
// that is still b's (not lost to cl) and not in closing: the slices of b's
// job with no result out, which the journal closes empty.
func (p *Pipeline) unclosed(b *batch.Buffer, cl claim, closing closedRanges) closedRanges {
	out := closedRanges{}
	seen := map[topicPartition]bool{}
	for _, ev := range b.Events {
		tp := topicPartition{ev.Topic(), ev.Partition}
		if seen[tp] {
			continue
		}
		seen[tp] = true
		if _, done := closing[tp]; !done && !p.owned.lost(cl, tp) {
			out[tp] = [][2]int64{}
		}
	}
	return out
}

// retryableRow is the error taxonomy of rows: lock contention, rows
// Salesforce did not process, and transient server errors may succeed in a
// later job; every other error is the row's own and is final.
func retryableRow(code string) bool {
	switch code {
	case CodeUnprocessed, "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION", "REQUEST_RUNNING_TOO_LONG", "TooManyLockFailure":
		return true
	}
	return false
}

// missingParent says whether a row failed because the parent it names is
// not in Salesforce (yet): a relationship column's external id that no
// record has, or a lookup Id of no record. Within ParentWait of the job's
// start such a row is retried whatever its attempts, since the parent may
// still be on its way on another topic.
func missingParent(r Result) bool {
	switch r.ErrorCode {
	case "INVALID_CROSS_REFERENCE_KEY":
		return true
	case "INVALID_FIELD":
		return strings.Contains(r.Error, "Foreign key external ID")
	}
	return false
}

// split cuts retry buffers into jobs of at most max(200, rows/2^lockRounds)
// rows: when locks keep failing rows, smaller jobs contend less.
func (p *Pipeline) split(bs []*batch.Buffer, lockRounds int) []*batch.Buffer {
	var out []*batch.Buffer
	for _, b := range bs {
		size := max(200, len(b.Rows)>>lockRounds)
		if len(b.Rows) <= size {
			out = append(out, b)
			continue
		}
		var all []int // every event, grouped by row
		for _, r := range b.Rows {
			all = append(all, r.Events...)
		}
		parts, err := b.Retry(all, size)
		if err != nil {
			out = append(out, b) // keep the whole buffer rather than lose rows
			continue
		}
		b.Close()
		out = append(out, parts...)
	}
	return out
}

func closeAll(bs []*batch.Buffer) {
	for _, b := range bs {
		b.Close()
	}
}
