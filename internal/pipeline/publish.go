package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/journal"
)

// publishAsync publishes outcomes that did not need a job (decode
// failures) from a goroutine of the pipeline's, so the main loop never
// waits on Kafka.
func (p *Pipeline) publishAsync(outcomes []outcome) {
	if len(outcomes) == 0 {
		return
	}
	p.spawn(func() { p.report(p.publish(p.background, "", outcomes, nil, nil, nil)) })
}

// report hands a completion to the main loop, unless the loop has ended
// (the pipeline is stopping; what was not reported stays uncommitted).
func (p *Pipeline) report(c completion) {
	select {
	case p.done <- c:
	case <-p.loopEnded:
	}
}

// publish produces the result (and dead-letter) records of outcomes and
// the journal entries that close job's slices of closing (nil: the events
// of outcomes; for a chunk of a job, the events of the chunks before it
// too, since each entry replaces the one before; a slice without offsets:
// none of its events has a result from the job), or that keep those with
// an entry in open open, with closing's offsets published (see
// closingEntries), and waits until Kafka has them. It retries until ctx
// ends: a result is never dropped, but for those of a partition lost to cl,
// which it leaves to the partition's new owner (see produce): they are
// neither reported to the main loop, whose tracker may follow the same
// partition again under a new claim and would commit past them, nor
// counted.
func (p *Pipeline) publish(ctx context.Context, job string, outcomes []outcome, closing closedRanges, open map[topicPartition]*journal.Entry, cl claim) completion {
	if closing == nil {
		closing = closedRanges{}
		for i := range outcomes {
			closing.note(outcomes[i].result.Source)
		}
		closing.sortOut()
	}
	published := map[topicPartition]bool{} // exactly-once: partitions whose transaction committed
	failpoint("before-publish")
	for pause := 100 * time.Millisecond; ; pause = min(pause*2, 10*time.Second) {
		err := p.produce(ctx, job, outcomes, closing, open, published, cl)
		if err == nil {
			p.closed(job, closing, open)
			break
		}
		if ctx.Err() != nil {
			return completion{err: err}
		}
		p.log.Warn("publishing results failed; retrying", "results", len(outcomes), "error", err)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return completion{err: ctx.Err()}
		}
	}
	failpoint("after-publish")
	return p.tally(outcomes, p.owned.lostOf(cl)) // a partition once lost to cl stays lost: it covers what produce left out
}

// tally counts published outcomes (metrics, Stats, the console's
// failures) but those of lost partitions, and returns the completion that
// tells the main loop their sources.
func (p *Pipeline) tally(outcomes []outcome, lost map[topicPartition]bool) completion {
	c := completion{sources: make([]Source, 0, len(outcomes))}
	now := time.Now()
	// Counters are added to once a run of outcomes of the same labels
	// (a chunk is most often one run): WithLabelValues hashes its labels
	// and looks them up under a lock, and was a fifth of publishing.
	results := labelRun{vec: p.opts.Metrics.Results, labels: 3}
	rowErrors := labelRun{vec: p.opts.Metrics.RowErrors, labels: 2}
	var tally Stats
	for i := range outcomes {
		o := &outcomes[i]
		if lost[topicPartition{o.result.Source.Topic, o.result.Source.Partition}] {
			continue
		}
		c.sources = append(c.sources, o.result.Source)
		outcome := o.result.status()
		if !o.result.Success {
			p.submit.watch.failed(o)
			rowErrors.count(o.result.Object, o.result.ErrorCode, "")
			tally.Failed++
		} else {
			tally.Succeeded++
			if outcome == StatusSkipped {
				tally.Skipped++
			}
		}
		results.count(o.result.Object, o.result.Operation, outcome)
		if !o.src.Timestamp.IsZero() {
			p.opts.Metrics.EventToResult.Observe(now.Sub(o.src.Timestamp).Seconds())
		}
	}
	results.flush()
	rowErrors.flush()
	if p.opts.Results.DeadLetter != "" && tally.Failed > 0 {
		p.opts.Metrics.DeadLettered.Add(float64(tally.Failed))
	}
	p.count(func(s *Stats) {
		s.Succeeded += tally.Succeeded
		s.Skipped += tally.Skipped
		s.Failed += tally.Failed
	})
	return c
}

// labelRun counts a run of events of the same label values for a counter
// vector of 2 or 3 labels, and adds the run to it at once: when the
// values change, and on flush.
type labelRun struct {
	vec     *prometheus.CounterVec
	labels  int // 2 or 3: the vector's
	a, b, c string
	n       int
}

// count counts an event of label values a, b and c (c unused with 2).
func (r *labelRun) count(a, b, c string) {
	if r.n > 0 && (r.a != a || r.b != b || r.c != c) {
		r.flush()
	}
	r.a, r.b, r.c = a, b, c
	r.n++
}

// flush adds the run counted so far to the vector.
func (r *labelRun) flush() {
	if r.n == 0 {
		return
	}
	if r.labels == 2 {
		r.vec.WithLabelValues(r.a, r.b).Add(float64(r.n))
	} else {
		r.vec.WithLabelValues(r.a, r.b, r.c).Add(float64(r.n))
	}
	r.n = 0
}

// produce writes the records of outcomes and the journal entries that
// close job's slices, or keep them open (see publish). At least once: the
// results, then the entries (so an entry never names results that are not
// out). Exactly once: per source partition, results and entry in one
// transaction of the partition's producer; partitions in published are
// done already.
// A slice closed with no result goes in a transaction of its own, with
// nothing to be atomic with: it is the partition's producer that writes
// it, so a previous owner fenced off cannot. A record refused as too large
// is published in a smaller form (see produceRecords and publishPartition)
// rather than retried as it is; a journal entry, which has none, is left
// out (entryLeftOut).
//
// A partition lost to cl (the runner's claim; nil: none) gets no result
// and no journal entry from here, however late the publication comes: its
// new owner publishes the results of its events, and it read
// the journal when it took the partition and has the word on its slices
// since; an entry written now could reopen a slice it closed and send its
// events to an old job again. At least once, an entry is written holding
// the ownership (a revoke waits for it, as for the open entry, see hold);
// exactly once, a lost partition's results and entry are left to its new
// owner, which the fencing of its producer ensures for another instance.
func (p *Pipeline) produce(ctx context.Context, job string, outcomes []outcome, closed closedRanges, open map[topicPartition]*journal.Entry, published map[topicPartition]bool, cl claim) error {
	closing := p.closingEntries(job, closed, open)
	w := p.recordWriter(len(outcomes))
	w.arena = p.arenas.get()
	defer p.arenas.put(w.arena) // every ProduceSync of the call has returned
	if !p.opts.ExactlyOnce {
		lost := p.owned.lostOf(cl)
		records := make([]*kgo.Record, 0, len(outcomes))
		for i := range outcomes {
			if src := outcomes[i].result.Source; lost[topicPartition{src.Topic, src.Partition}] {
				continue // its new owner publishes it
			}
			var err error
			if records, err = w.add(records, &outcomes[i]); err != nil {
				return err
			}
		}
		err := p.produceRecords(ctx, records)
		for tp, rec := range closing {
			if err == nil {
				err = p.produceEntry(ctx, cl, tp, rec)
			}
		}
		return err
	}
	byPartition := p.partitionSlices(outcomes, closing)
	for i := range outcomes {
		tp := topicPartition{outcomes[i].result.Source.Topic, outcomes[i].result.Source.Partition}
		rs, err := w.add(byPartition[tp], &outcomes[i])
		if err != nil {
			return err
		}
		byPartition[tp] = rs
	}
	for tp, rec := range closing {
		byPartition[tp] = append(byPartition[tp], rec)
	}
	for _, tp := range sortedPartitions(byPartition) {
		if published[tp] {
			continue
		}
		if cl != nil && p.owned.lost(cl, tp) {
			published[tp] = true // its new owner's, as errNotOurs below
			continue
		}
		err := p.publishPartition(ctx, tp, byPartition[tp])
		if err != nil && !errors.Is(err, errNotOurs) {
			return fmt.Errorf("publish results of %s/%d: %w", tp.topic, tp.partition, err)
		}
		// Published, or the partition moved: its new owner reports
		// these events, and the other partitions' results go on.
		published[tp] = true
	}
	return nil
}

// produceEntry writes the journal entry rec of partition tp unless tp is
// lost to cl (nil: no claim), holding the ownership while it does, for at
// most entryHold: a revoke waits for it, and a claim or a check of a lost
// partition behind the revoke. A write that takes longer fails and is
// tried again by publish, which looks at the ownership again. An entry
// refused as too large is left out (see entryLeftOut).
func (p *Pipeline) produceEntry(ctx context.Context, cl claim, tp topicPartition, rec *kgo.Record) error {
	if cl != nil {
		p.owned.mu.RLock()
		defer p.owned.mu.RUnlock()
		if p.owned.lostLocked(cl, tp) {
			return nil
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, entryHold)
		defer cancel()
	}
	err := p.client.ProduceSync(ctx, rec).FirstErr()
	if tooLarge(err) {
		p.entryLeftOut(rec, err)
		return nil
	}
	return err
}

// entryHold bounds how long produceEntry holds the ownership, and so how
// long it holds a revoke up: well under a group's rebalance timeout.
const entryHold = 5 * time.Second

// entryLeftOut warns, at most once a minute, that the journal entry rec,
// written with a chunk of a job's results, was refused as too large and
// left out. A job's offsets in a partition that carries several operations
// are sparse, a range an event, and the entry that keeps a slice open
// names them twice (Offsets and Published): it can outgrow the journal
// topic's max.message.bytes. Retried, it would be refused for ever, and
// each try would publish the chunk's results again.
//
// Leaving it out is safe: the journal keeps the slice's entry before it,
// open, which names fewer events published. After a crash or a move, the
// events of the chunks published since are either below the committed
// offset (the group commits past an event only once its result is out),
// which the plan leaves out (makePlan), or attached to the job again: its
// results are read and published again for them, duplicate results, never
// a duplicate insert. Only the publishing lane's entries are left out so;
// the open entry written before a job is closed (journalOpen) is what
// keeps its rows from being loaded twice, and is never dropped.
func (p *Pipeline) entryLeftOut(rec *kgo.Record, err error) {
	now := time.Now().UnixNano()
	last := p.lanes.entryWarned.Load()
	if last != 0 && now-last < int64(time.Minute) || !p.lanes.entryWarned.CompareAndSwap(last, now) {
		return
	}
	p.log.Warn("a journal entry was refused as too large and left out: the entry before it stays, and after a crash some results of its job "+
		"may be published twice; raise the journal topic's max.message.bytes (logged at most once a minute)",
		"topic", rec.Topic, "key", string(rec.Key), "bytes", recordSize(rec), "error", err)
}

// recordWriter returns a writer of the records that publish n outcomes,
// for one call of produce.
func (p *Pipeline) recordWriter(n int) *recordWriter {
	return &recordWriter{topics: p.opts.Results, encode: p.opts.EncodeResult, replay: p.source.replays(), limit: p.opts.MaxRecordBytes, left: n,
		now: time.Now()}
}

// partitionSlices returns, for each source partition of outcomes and of
// closing, an empty slice with room for its records (a result, a
// dead-letter copy of a failure, its closing entry), all carved from one
// array.
func (p *Pipeline) partitionSlices(outcomes []outcome, closing map[topicPartition]*kgo.Record) map[topicPartition][]*kgo.Record {
	counts := make(map[topicPartition]int, len(closing)+1)
	for i := range outcomes {
		n := 1
		if !outcomes[i].result.Success && p.opts.Results.DeadLetter != "" {
			n = 2
		}
		counts[topicPartition{outcomes[i].result.Source.Topic, outcomes[i].result.Source.Partition}] += n
	}
	for tp := range closing {
		counts[tp]++
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	all := make([]*kgo.Record, total)
	out := make(map[topicPartition][]*kgo.Record, len(counts))
	for tp, n := range counts {
		out[tp], all = all[:0:n], all[n:]
	}
	return out
}

// produceRecords produces records without a transaction and waits for
// them. A record refused as too large, by the broker (the topic's
// max.message.bytes) or by the client (kgo.ProducerBatchMaxBytes), is
// produced again on its own, since a batch of several records may be what
// was too large; refused again, it is replaced by its smaller form
// (Topics.reduced). Other errors are returned, for publish to try the
// whole again.
func (p *Pipeline) produceRecords(ctx context.Context, records []*kgo.Record) error {
	var refused []*kgo.Record
	for _, r := range p.client.ProduceSync(ctx, records...) {
		switch {
		case tooLarge(r.Err):
			refused = append(refused, r.Record)
		case r.Err != nil:
			return r.Err
		}
	}
	for _, r := range refused {
		for {
			err := p.client.ProduceSync(ctx, r).FirstErr()
			if !tooLarge(err) {
				if err != nil {
					return err
				}
				break
			}
			small := p.opts.Results.reduced(r)
			if small == nil {
				return err
			}
			p.refusedAsTooLarge(r, err)
			r = small
		}
	}
	return nil
}

// publishPartition publishes the records of one source partition in one
// transaction. A transaction refused because its journal entry was too
// large is tried again without it (see entryLeftOut for why that is safe;
// the entry is alone in its batch, so it is what was too large). One
// refused because a result or a dead-letter copy, or a batch of them, was
// too large says not which: it is tried again with the largest record that
// has a smaller form (Topics.reduced) in that form, until it goes through
// or no record is left to reduce.
func (p *Pipeline) publishPartition(ctx context.Context, tp topicPartition, records []*kgo.Record) error {
	for {
		err := p.producers.publishTx(ctx, tp, records)
		if !tooLarge(err) {
			return err
		}
		if refused, ok := errors.AsType[*refusedError](err); ok {
			if i := slices.IndexFunc(refused.records, func(r *kgo.Record) bool { return r.Topic == p.opts.Journal }); i >= 0 {
				entry := refused.records[i]
				p.entryLeftOut(entry, err)
				records = slices.DeleteFunc(records, func(r *kgo.Record) bool { return r == entry })
				continue
			}
		}
		largest, small := -1, (*kgo.Record)(nil)
		for i, r := range records {
			if s := p.opts.Results.reduced(r); s != nil && (largest < 0 || recordSize(r) > recordSize(records[largest])) {
				largest, small = i, s
			}
		}
		if largest < 0 {
			return err
		}
		p.refusedAsTooLarge(records[largest], err)
		records[largest] = small
	}
}

// tooLarge reports whether err is Kafka's refusal of a record or a batch
// for its size.
func tooLarge(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge)
}

// refusedAsTooLarge logs, once per topic, that a record of that size was
// refused and is published in a smaller form.
func (p *Pipeline) refusedAsTooLarge(r *kgo.Record, err error) {
	if _, warned := p.tooLarge.LoadOrStore(r.Topic, true); warned {
		return
	}
	p.log.Warn("a record was refused as too large and is published in a smaller form (a dead-letter copy without its value, a result without its key); "+
		"the topic's max.message.bytes or the producer's batch limit is below results.max_record_bytes (logged once per topic)",
		"topic", r.Topic, "bytes", recordSize(r), "error", err)
}

// completed marks the offsets of published results for commit.
func (p *Pipeline) completed(c completion) {
	if c.nap {
		p.napStarted()
	}
	if c.jobDone {
		if c.napping {
			p.napEnded(c.waker)
		} else {
			p.addInFlight(-1)
		}
		p.busy.remove(c.records)
	}
	for _, l := range c.learned {
		p.ids.learn(c.object, l.id, l.identity)
	}
	for _, id := range c.deleted {
		p.ids.forget(c.object, id)
	}
	if c.err != nil {
		p.log.Warn("results not published; their events stay uncommitted", "error", c.err)
		return
	}
	marks := p.tracker.publishedAll(c.sources)
	p.source.completed(c.sources, marks)
	if len(marks) > 0 {
		p.client.MarkCommitOffsets(marks)
		for topic := range marks {
			p.opts.Metrics.CommittedOffsets.WithLabelValues(topic).Inc()
		}
	}
}
