package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/event"
)

var kerrTopicExists = kerr.TopicAlreadyExists

// pollRecords bounds the records of one poll; the main loop handles a poll
// at once, so this bounds how long a rebalance may wait for it.
const pollRecords = 5000

// poll is one poll's records, handed from the poller to the main loop,
// which closes handled when it no longer needs the poller to hold back
// rebalances.
type poll struct {
	fetches kgo.Fetches
	handled chan struct{}
}

// poller polls Kafka and hands each poll to the main loop. Rebalances are
// blocked from a poll until the main loop has handled it
// (BlockRebalanceOnPoll), so the loop never sees records of a partition it
// was told it lost.
func (p *Pipeline) poller(ctx context.Context, out chan<- poll) {
	defer close(out)
	for {
		fetches := p.client.PollRecords(ctx, pollRecords)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			p.client.AllowRebalance()
			return
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) {
				p.log.Warn("fetch error", "topic", topic, "partition", partition, "error", err)
			}
		})
		handled := make(chan struct{})
		select {
		case out <- poll{fetches, handled}:
			<-handled
		case <-ctx.Done():
		}
		p.client.AllowRebalance()
	}
}

// loop is the main loop. It owns the batcher, the tracker and the ready
// queue; job goroutines and group callbacks talk to it over channels.
// It takes a new poll only while fewer than MaxJobsInFlight sealed buffers
// wait for a job slot, so memory stays bounded by the batch policy and the
// number of jobs, and a Salesforce outage stops consumption instead of
// filling memory.
func (p *Pipeline) loop(ctx context.Context) {
	defer close(p.loopEnded)
	pollCtx, stopPolling := context.WithCancel(context.Background())
	defer stopPolling()
	polls := make(chan poll)
	go p.poller(pollCtx, polls)

	// Jobs get their own context: it outlives ctx by the shutdown grace.
	jobCtx, stopJobs := context.WithCancel(context.Background())
	defer stopJobs()

	age := time.NewTimer(time.Hour)
	defer age.Stop()
	var graceEnd <-chan time.Time
	stopping := false
	pause := time.NewTicker(250 * time.Millisecond) // re-reads the pacer while paused
	defer pause.Stop()
	paused := ""
	for {
		paused = p.pacerState(paused)
		if paused == "" {
			p.launch(jobCtx)
		}
		p.opts.Metrics.PendingEvents.Set(float64(p.tracker.outstanding()))
		p.opts.Metrics.BufferedBytes.Set(float64(p.bufferedBytes()))
		if stopping && p.inFlight == 0 && len(p.ready) == 0 {
			return
		}
		var accept chan poll
		if !stopping && paused == "" && len(p.ready) < p.opts.MaxJobsInFlight {
			accept = polls
		}
		p.resetAgeTimer(age)
		select {
		case pl, ok := <-accept:
			if !ok {
				polls = nil
				continue
			}
			p.handle(pl.fetches)
			close(pl.handled)
		case c := <-p.done:
			p.completed(c)
		case r := <-p.requests:
			if r.plan != nil {
				p.applyPlan(r.plan)
			} else {
				p.revoke(r.revoke)
			}
			close(r.ack)
		case <-age.C:
			p.enqueue(p.batcher.Due(time.Now()))
		case <-pause.C:
		case <-ctx.Done():
			if !stopping {
				stopping = true
				stopPolling()
				p.enqueue(p.batcher.SealAll(batch.ReasonShutdown))
				graceEnd = time.After(p.opts.ShutdownGrace)
				p.log.Info("stopping: finishing jobs in flight", "jobs", p.inFlight+len(p.ready), "grace", p.opts.ShutdownGrace)
			}
		case <-graceEnd:
			p.log.Warn("shutdown grace over: events of unfinished jobs stay uncommitted", "jobs", p.inFlight, "waiting", len(p.ready))
			stopJobs()
			for _, b := range p.ready {
				b.Close()
			}
			p.ready = nil
			graceEnd = nil
		}
	}
}

// bufferedBytes is the CSV size of the open and the waiting buffers.
func (p *Pipeline) bufferedBytes() int64 {
	n := p.batcher.Size()
	for _, b := range p.ready {
		n += b.Size()
	}
	return n
}

// pacerState asks the pacer whether to pause, and logs and exports the
// changes; prev is the previous answer.
func (p *Pipeline) pacerState(prev string) string {
	if p.opts.Pacer == nil {
		return ""
	}
	now := p.opts.Pacer.Paused()
	if now == prev {
		return now
	}
	used, max := p.opts.Pacer.Usage()
	if prev != "" {
		p.opts.Metrics.Paused.WithLabelValues(prev).Set(0)
		p.log.Info("resuming: the org's allocation is back", "api_requests_used", used, "api_requests_max", max)
	}
	if now != "" {
		p.opts.Metrics.Paused.WithLabelValues(now).Set(1)
		p.log.Warn("pausing: the org's daily reserve is reached; fetching stops until the allocation returns", "reason", now,
			"api_requests_used", used, "api_requests_max", max)
	}
	return now
}

// watchLimits reads /limits every LimitsInterval for the pacer, so that a
// pause ends when the allocation returns (a paused pipeline makes no other
// requests that would say so).
func (p *Pipeline) watchLimits(ctx context.Context) {
	t := time.NewTicker(p.opts.LimitsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		limits, err := p.opts.Salesforce.Limits(ctx)
		if err != nil {
			if bulk.IsRequestLimitExceeded(err) {
				p.opts.Pacer.Exhausted()
			}
			continue
		}
		if l, ok := limits["DailyApiRequests"]; ok && l.Max > 0 {
			p.opts.Pacer.ObserveRemaining(l.Max, l.Remaining)
			p.opts.Metrics.APIUsage.Set(float64(l.Max-l.Remaining) / float64(l.Max))
		}
	}
}

func (p *Pipeline) resetAgeTimer(t *time.Timer) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
	if due, ok := p.batcher.NextDue(); ok {
		t.Reset(max(time.Until(due), 0))
	} else {
		t.Reset(time.Hour)
	}
}

// handle decodes and buffers the records of one poll.
func (p *Pipeline) handle(fetches kgo.Fetches) {
	fetches.EachRecord(func(r *kgo.Record) {
		src := event.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp,
			Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			src.Headers = append(src.Headers, event.Header{Key: h.Key, Value: h.Value})
		}
		if p.replay != nil && !p.replay.takes(r.Partition, r.Offset) {
			return // written after the replay started: for the next one
		}
		p.tracker.consumed(topicPartition{r.Topic, r.Partition}, r.Offset)
		p.opts.Metrics.EventsConsumed.WithLabelValues(r.Topic).Inc()
		p.count(func(s *Stats) { s.Consumed++ })
		topic := r.Topic
		var replayed *ReplayRecord
		if p.replay != nil {
			orig, code, ok := DeadLetterOrigin(&src)
			if !ok {
				p.log.Warn("replay: a record without the __connect.errors headers of its origin is passed over", "partition", r.Partition, "offset", r.Offset)
				p.completed(completion{sources: []Source{sourceOf(&src)}})
				return
			}
			topic = orig.Topic
			replayed = &ReplayRecord{DeadLetter: sourceOf(&src), Original: sourceOf(&orig), Timestamp: r.Timestamp, ErrorCode: code}
		}
		route := p.route(topic)
		if replayed != nil && !p.keep(replayed, route, src) {
			p.completed(completion{sources: []Source{sourceOf(&src)}}) // filtered out: the offset advances without a result
			return
		}
		if route == nil { // the pattern matched but no route does: cannot happen, except in a replay
			p.publishAsync([]outcome{decodeFailure(src, CodeDecode, "no route for topic "+topic)})
			return
		}
		if p.intercept(src, route) {
			return
		}
		c, err := route.Decoder.Decode(src)
		if err != nil {
			p.publishAsync([]outcome{decodeFailure(src, CodeDecode, err.Error())})
			return
		}
		identity := p.ids.of(c)
		if p.opts.naive {
			identity = ""
		}
		sealed, err := p.batcher.Add(c, identity, time.Now())
		p.enqueue(sealed)
		switch {
		case errors.Is(err, batch.ErrTooLarge):
			p.publishAsync([]outcome{decodeFailure(src, CodeTooLarge, "the change is larger than batch.max_bytes on its own")})
		case err != nil: // a spill file could not be written: fail the event rather than lose it
			p.publishAsync([]outcome{decodeFailure(src, "BULKSTREAM_BUFFER", err.Error())})
		}
	})
}

// keep applies the replay's filter to a dead-letter record, decoded by its
// route for the filter's sake.
func (p *Pipeline) keep(rec *ReplayRecord, route *Route, src event.Source) bool {
	if p.opts.Replay.Keep != nil {
		if route != nil {
			rec.Change, _ = route.Decoder.Decode(src)
		}
		if !p.opts.Replay.Keep(rec) {
			return false
		}
	}
	p.replay.keeping()
	return true
}

func (p *Pipeline) route(topic string) *Route {
	for i := range p.opts.Routes {
		if p.opts.Routes[i].Matches(topic) {
			return &p.opts.Routes[i]
		}
	}
	return nil
}

func (p *Pipeline) enqueue(bs []*batch.Buffer) {
	for _, b := range bs {
		p.opts.Metrics.Rollovers.WithLabelValues(b.Key.Object, string(b.Key.Operation), string(b.Reason)).Inc()
		p.ready = append(p.ready, b)
	}
}

// launch starts jobs for ready buffers while there are free slots. One
// record, one job in flight: a buffer that holds a record also held by a
// running job (its retries included), or by an earlier ready buffer, waits,
// so changes to a record reach Salesforce in source order; buffers without
// such a record go ahead.
func (p *Pipeline) launch(ctx context.Context) {
	held := map[string]bool{} // records of the ready buffers passed over
	waiting := p.ready[:0]
	for _, b := range p.ready {
		if p.inFlight >= p.opts.MaxJobsInFlight || p.conflicts(b, held) {
			for _, id := range recordIdentities(b) {
				held[id] = true
			}
			waiting = append(waiting, b)
			continue
		}
		ids := recordIdentities(b)
		resume := p.resumeJobs[b]
		delete(p.resumeJobs, b)
		cached := p.cachedIDs(b)
		p.busy.add(ids)
		p.inFlight++
		p.opts.Metrics.JobsInFlight.Set(float64(p.inFlight))
		p.count(func(s *Stats) { s.Jobs++; s.InFlight++ })
		go p.runJob(ctx, b, ids, resume, cached)
	}
	clear(p.ready[len(waiting):])
	p.ready = waiting
}

// conflicts reports whether b holds a record that a running job or an
// earlier waiting buffer (held) holds.
func (p *Pipeline) conflicts(b *batch.Buffer, held map[string]bool) bool {
	for _, id := range recordIdentities(b) {
		if held[id] || p.busy[id] > 0 {
			return true
		}
	}
	return false
}

// busyRecords counts, per record identity, the jobs in flight that hold the
// record. The main loop owns it.
type busyRecords map[string]int

func (br busyRecords) add(ids []string) {
	for _, id := range ids {
		br[id]++
	}
}

func (br busyRecords) remove(ids []string) {
	for _, id := range ids {
		if br[id]--; br[id] <= 0 {
			delete(br, id)
		}
	}
}

// recordIdentities lists the record identities of b's rows.
func recordIdentities(b *batch.Buffer) []string {
	var ids []string
	for _, r := range b.Rows {
		if r.Identity != "" {
			ids = append(ids, r.Identity)
		}
	}
	return ids
}

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

// publishAsync publishes outcomes that did not need a job (decode
// failures) from a goroutine, so the main loop never waits on Kafka.
func (p *Pipeline) publishAsync(outcomes []outcome) {
	go func() { p.done <- p.publish(context.Background(), outcomes, false) }()
}

// publish produces the result (and dead-letter) records of outcomes and
// waits until Kafka has them. It retries until ctx ends: a result is never
// dropped.
func (p *Pipeline) publish(ctx context.Context, outcomes []outcome, jobDone bool) completion {
	published := map[topicPartition]bool{} // exactly-once: partitions whose transaction committed
	failpoint("before-publish")
	for pause := 100 * time.Millisecond; ; pause = min(pause*2, 10*time.Second) {
		err := p.produce(ctx, outcomes, published)
		if err == nil {
			break
		}
		if ctx.Err() != nil || errors.Is(err, errNotOurs) {
			return completion{jobDone: jobDone, err: err}
		}
		p.log.Warn("publishing results failed; retrying", "results", len(outcomes), "error", err)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return completion{jobDone: jobDone, err: ctx.Err()}
		}
	}
	failpoint("after-publish")
	c := completion{jobDone: jobDone, sources: make([]Source, len(outcomes))}
	now := time.Now()
	for i, o := range outcomes {
		c.sources[i] = o.result.Source
		outcome := "success"
		if !o.result.Success {
			outcome = "failure"
			p.opts.Metrics.RowErrors.WithLabelValues(o.result.Object, o.result.ErrorCode).Inc()
			if p.opts.Results.DeadLetter != "" {
				p.opts.Metrics.DeadLettered.Inc()
			}
		}
		p.opts.Metrics.Results.WithLabelValues(o.result.Object, o.result.Operation, outcome).Inc()
		p.count(func(s *Stats) {
			if o.result.Success {
				s.Succeeded++
			} else {
				s.Failed++
			}
		})
		if !o.src.Timestamp.IsZero() {
			p.opts.Metrics.EventToResult.Observe(now.Sub(o.src.Timestamp).Seconds())
		}
	}
	return c
}

// produce writes the records of outcomes and the journal entries that
// close their slices. At least once: the results, then the closing entries
// (so a closing entry never stands for results that are not out). Exactly
// once: per source partition, results and closing entry in one transaction
// of the partition's producer; partitions in published are done already.
func (p *Pipeline) produce(ctx context.Context, outcomes []outcome, published map[topicPartition]bool) error {
	jobID := ""
	if len(outcomes) > 0 {
		jobID = outcomes[0].result.JobID
	}
	closing := p.closingEntries(jobID, outcomes)
	if !p.opts.ExactlyOnce {
		records, err := p.resultRecords(outcomes)
		if err == nil {
			err = p.client.ProduceSync(ctx, records...).FirstErr()
		}
		for _, rec := range closing {
			if err == nil {
				err = p.client.ProduceSync(ctx, rec).FirstErr()
			}
		}
		return err
	}
	byPartition := map[topicPartition][]*kgo.Record{}
	for i := range outcomes {
		rs, err := outcomes[i].records(p.opts.Results, p.opts.EncodeResult, p.opts.Replay != nil)
		if err != nil {
			return err
		}
		tp := topicPartition{outcomes[i].result.Source.Topic, outcomes[i].result.Source.Partition}
		byPartition[tp] = append(byPartition[tp], rs...)
	}
	for tp, rec := range closing {
		byPartition[tp] = append(byPartition[tp], rec)
	}
	for _, tp := range sortedPartitions(byPartition) {
		if published[tp] {
			continue
		}
		if err := p.producers.publishTx(ctx, tp, byPartition[tp]); err != nil {
			return fmt.Errorf("publish results of %s/%d: %w", tp.topic, tp.partition, err)
		}
		published[tp] = true
	}
	return nil
}

// resultRecords encodes the records that publish outcomes.
func (p *Pipeline) resultRecords(outcomes []outcome) ([]*kgo.Record, error) {
	var records []*kgo.Record
	for i := range outcomes {
		rs, err := outcomes[i].records(p.opts.Results, p.opts.EncodeResult, p.opts.Replay != nil)
		if err != nil {
			return nil, err
		}
		records = append(records, rs...)
	}
	return records, nil
}

// completed marks the offsets of published results for commit.
func (p *Pipeline) completed(c completion) {
	if c.jobDone {
		p.inFlight--
		p.count(func(s *Stats) { s.InFlight-- })
		p.busy.remove(c.records)
		p.opts.Metrics.JobsInFlight.Set(float64(p.inFlight))
	}
	for id, identity := range c.learned {
		p.ids.learn(c.object, id, identity)
	}
	for _, id := range c.deleted {
		p.ids.forget(c.object, id)
	}
	if c.err != nil {
		p.log.Warn("results not published; their events stay uncommitted", "error", c.err)
		return
	}
	marks := map[string]map[int32]kgo.EpochOffset{}
	for _, s := range c.sources {
		next, advanced := p.tracker.published(topicPartition{s.Topic, s.Partition}, s.Offset)
		if !advanced {
			continue
		}
		if marks[s.Topic] == nil {
			marks[s.Topic] = map[int32]kgo.EpochOffset{}
		}
		marks[s.Topic][s.Partition] = kgo.EpochOffset{Epoch: -1, Offset: next}
	}
	if p.replay != nil {
		p.replay.completed(c.sources, marks[p.replay.topic])
	}
	if len(marks) > 0 {
		p.client.MarkCommitOffsets(marks)
		for topic := range marks {
			p.opts.Metrics.CommittedOffsets.WithLabelValues(topic).Inc()
		}
	}
}

// onRevoked runs in the group's goroutine when partitions are taken away:
// the main loop drops their buffered events (the new owner reads them
// again), then what is marked is committed.
func (p *Pipeline) onRevoked(ctx context.Context, cl *kgo.Client, parts map[string][]int32) {
	p.forward(parts)
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		p.log.Warn("commit on revoke failed", "error", err)
	}
}

// onLost is onRevoked without the commit, which would fail.
func (p *Pipeline) onLost(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	p.forward(parts)
}

func (p *Pipeline) forward(parts map[string][]int32) {
	if len(parts) == 0 {
		return
	}
	r := request{revoke: parts, ack: make(chan struct{})}
	select {
	case p.requests <- r:
		<-r.ack
	case <-p.loopEnded:
	}
}

func (p *Pipeline) revoke(parts map[string][]int32) {
	for topic, ps := range parts {
		for _, partition := range ps {
			if err := p.batcher.Drop(topic, partition); err != nil {
				p.log.Error("dropping a revoked partition's buffered events failed", "topic", topic, "partition", partition, "error", err)
			}
			tp := topicPartition{topic, partition}
			p.tracker.forget(tp)
			p.forgetPartition(tp)
			p.producers.drop(tp)
		}
	}
	p.log.Info("partitions revoked", "partitions", parts)
}
