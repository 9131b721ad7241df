package pipeline

import (
	"context"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/internal/journal"
)

// runJob runs one buffer through Salesforce and publishes its results,
// then frees its job slot and its records. It owns b and closes it; ids are
// b's record identities. The records stay held (busy) until every retry is
// done, so a later change to a record waits for its retry. A buffer of
// deletes by external id is resolved to Ids first (cached holds what the id
// cache knew, by row; see resolve.go).
func (p *Pipeline) runJob(ctx context.Context, b *batch.Buffer, ids []string, resume *journal.Entry, cached map[int]string) {
	defer b.Close()
	attempt := 1
	if resume != nil {
		attempt = max(resume.Attempt, 1)
	}
	err := p.resolved(ctx, b, cached, resume != nil, func(run *batch.Buffer) error {
		return p.rounds(ctx, run, attempt, resume)
	})
	p.done <- completion{jobDone: true, records: ids, err: err}
}

// resolved calls run with b, or, when b holds deletes by external id, with
// the buffer of the deletes by Id they resolve to, after publishing the
// results of those that resolve to no record.
func (p *Pipeline) resolved(ctx context.Context, b *batch.Buffer, cached map[int]string, recycled bool, run func(*batch.Buffer) error) error {
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
		c := p.publish(ctx, missing, false)
		if c.err != nil {
			return c.err
		}
		p.done <- c
	}
	if byID == nil {
		return nil
	}
	return run(byID)
}

// rounds runs b as job number attempt and then follow-up jobs, until every
// event of b has a published result:
//
//   - rows that failed for a retryable reason (a lock, a row left
//     unprocessed, a transient server error) go into the next round after a
//     back-off, up to MaxAttempts jobs a row, in smaller jobs when lock
//     errors repeat;
//   - a row that folded several changes and failed for good is unfolded:
//     its changes run again one per job, in source order, so that one bad
//     change fails alone, as it would have without coalescing.
//
// The caller keeps owning b.
func (p *Pipeline) rounds(ctx context.Context, b *batch.Buffer, attempt int, resume *journal.Entry) error {
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
		for i, cur := range round {
			var outcomes []outcome
			var err error
			if resume != nil {
				outcomes, err = p.submit.resume(ctx, cur, resume.JobID, attempt)
				resume = nil
			} else {
				outcomes, err = p.submit.run(ctx, cur, attempt)
			}
			var retry []int
			var unfold [][]int
			if err == nil {
				retry, unfold, err = p.settle(ctx, cur, outcomes, attempt)
			}
			if err == nil && len(unfold) > 0 {
				err = p.unfold(ctx, cur, unfold, attempt+1)
			}
			if err == nil && len(retry) > 0 {
				rows, locks := p.countRetries(cur, retry, outcomes)
				retryRows, lockRows = retryRows+rows, lockRows+locks
				var more []*batch.Buffer
				more, err = cur.Retry(retry, 0)
				next = append(next, more...)
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
		if !sleep(ctx, p.submit.pause(attempt)) {
			return errStopped
		}
	}
}

// unfold runs the changes of folded rows that failed for good once more,
// one per row and in layers: the first change of every such row, then the
// second, and so on, so each record's changes keep their source order.
func (p *Pipeline) unfold(ctx context.Context, b *batch.Buffer, rows [][]int, attempt int) error {
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
			err = p.rounds(ctx, part, attempt, nil)
			part.Close()
			if err != nil {
				return err
			}
		}
	}
}

// settle publishes the final outcomes of a job's events. It returns the
// events whose rows are to be tried again (retry) and, for rows that
// folded several changes and failed for good, their events in order
// (unfold); those get their results later.
func (p *Pipeline) settle(ctx context.Context, b *batch.Buffer, outcomes []outcome, attempt int) (retry []int, unfold [][]int, err error) {
	final := make([]outcome, 0, len(outcomes))
	learned := map[string]string{} // Id → identity, from successful rows
	var deleted []string           // Ids of records deleted
	unfolded := map[int]bool{}
	for i, o := range outcomes {
		row := b.Events[i].Row
		switch {
		case o.result.Success:
			switch {
			case o.result.ID == nil:
			case b.Key.Operation.IsDelete():
				deleted = append(deleted, *o.result.ID)
			default:
				learned[*o.result.ID] = b.Rows[row].Identity
			}
		case attempt < p.opts.MaxAttempts && retryableRow(o.result.ErrorCode):
			retry = append(retry, i)
			continue
		case attempt < p.opts.MaxAttempts && len(b.Rows[row].Events) > 1 && o.result.JobID != "":
			if !unfolded[row] {
				unfolded[row] = true
				unfold = append(unfold, b.Rows[row].Events)
			}
			continue
		}
		final = append(final, o)
	}
	if len(final) > 0 {
		c := p.publish(ctx, final, false)
		if c.err != nil {
			return nil, nil, c.err
		}
		c.object, c.learned, c.deleted = b.Key.Object, learned, deleted
		p.done <- c
	}
	return retry, unfold, nil
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

// countRetries counts the rows of events, and those of them that failed on
// a lock, and records each row's retry in the metrics.
func (p *Pipeline) countRetries(b *batch.Buffer, events []int, outcomes []outcome) (rows, locks int) {
	seen := map[int]bool{}
	for _, i := range events {
		row := b.Events[i].Row
		if seen[row] {
			continue
		}
		seen[row] = true
		rows++
		p.opts.Metrics.RowRetries.WithLabelValues(outcomes[i].result.ErrorCode).Inc()
		if outcomes[i].result.ErrorCode == "UNABLE_TO_LOCK_ROW" {
			locks++
		}
	}
	return rows, locks
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
