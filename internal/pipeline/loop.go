package pipeline

import (
	"bytes"
	"context"
	"errors"
	"hash/maphash"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// pollRecords bounds the records of one poll; the main loop handles a poll
// at once, so this bounds how long a rebalance may wait for it. The memory
// budget may make a poll smaller (see pollSize).
const pollRecords = 5000

// poll is one poll's records, made ready by the poller (see ahead) and
// handed to the main loop, which closes handled when it no longer needs
// the poller to hold back rebalances.
type poll struct {
	records   []ahead
	positions map[topicPartition]position // of the poll's partitions (see lag.go)
	handled   chan struct{}
}

// ahead is a record made ready off the main loop: its source and, outside
// replays, the change its route decodes it to (decoded), or the error.
type ahead struct {
	src     event.Source
	size    int // key, value and headers, for the memory budget
	decoded bool
	c       *event.Change
	err     error
	// key is c's RecordKey, and identity its identity by external id
	// (see identities.of); "" for a record named by Id, whose identity
	// depends on the id cache, which the main loop owns.
	key, identity string
}

// decode decodes a's record with route's decoder, and finds its record's
// key and identity by external id: the part of dispatch that needs
// nothing of the main loop's, done where prepare runs it. reuse, if not
// nil, is a Change the decoder may decode into (event.ReusingDecoder).
func (a *ahead) decode(route *Route, reuse *event.Change) {
	if rd, ok := route.Decoder.(event.ReusingDecoder); ok && reuse != nil {
		a.c, a.err = rd.DecodeReusing(a.src, reuse)
	} else {
		a.c, a.err = route.Decoder.Decode(a.src)
	}
	a.decoded = true
	if a.err != nil {
		return
	}
	// One string holds both: the identity object/key, the key after the
	// slash (see identityByKey).
	var scratch [128]byte
	b := append(append(scratch[:0], a.c.Object...), '/')
	n := len(b)
	b = a.c.AppendRecordKey(b)
	switch {
	case len(b) == n: // a plain insert names no record
	case bytes.HasPrefix(b[n:], []byte("id=")):
		a.key = string(b[n:])
	default:
		a.identity = string(b)
		a.key = a.identity[n:]
	}
}

// decodeMin is the poll size from which records are decoded by several
// goroutines; below it, one is quicker.
const decodeMin = 256

// prepare turns a poll's records into sources and decodes them, on up to
// GOMAXPROCS goroutines that each take a contiguous run of records, so the
// records keep their order. In a replay the decoder depends on each
// record's headers and the replay's filter, so the main loop decodes.
// It fills and returns buf, grown if need be, and decodes into the
// Changes of changes where the decoder can (grown likewise): the poller
// hands the same slices to every poll, since the main loop is done with a
// poll's records and changes (it copies what it keeps: a buffer encodes a
// change, a parked record is decoded again) before the next one is taken.
func (p *Pipeline) prepare(records []*kgo.Record, buf []ahead, changes *[]event.Change) []ahead {
	clear(buf)
	out := buf[:0]
	if cap(out) < len(records) {
		out = make([]ahead, len(records))
	}
	out = out[:len(records)]
	if len(*changes) < len(records) {
		*changes = append(*changes, make([]event.Change, len(records)-len(*changes))...)
	}
	reuse := *changes
	work := func(from, to int) {
		for i := from; i < to; i++ {
			r := records[i]
			a := &out[i]
			a.src = event.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, Value: r.Value}
			if len(r.Headers) > 0 {
				a.src.Headers = make([]event.Header, len(r.Headers))
				for k, h := range r.Headers {
					a.src.Headers[k] = event.Header{Key: h.Key, Value: h.Value}
				}
			}
			a.size = recordSize(r)
			if route := p.route(r.Topic); route != nil && p.source.decodesAhead() {
				a.decode(route, &reuse[i])
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(records)/decodeMin)
	if workers <= 1 {
		work(0, len(records))
		return out
	}
	var wg sync.WaitGroup
	per := (len(records) + workers - 1) / workers
	for from := 0; from < len(records); from += per {
		wg.Go(func() { work(from, min(from+per, len(records))) })
	}
	wg.Wait()
	return out
}

// poller polls Kafka and hands each poll to the main loop. It polls only
// when the main loop has room for a poll (on room, the records it may
// take), so a paused or
// full pipeline stops fetching without holding anything: a rebalance waits
// at most for the poll in hand, never for the pause or an outage to end.
// Rebalances are blocked from a poll until the main loop has handled it
// (BlockRebalanceOnPoll), so the loop never sees records of a partition it
// was told it lost.
func (p *Pipeline) poller(ctx context.Context, room <-chan int, out chan<- poll) {
	defer close(out)
	var buf []ahead            // see prepare
	var changes []event.Change // see prepare
	for {
		var n int
		select {
		case n = <-room:
		case <-ctx.Done():
			return
		}
		fetches := p.client.PollRecords(ctx, n)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			p.client.AllowRebalance()
			return
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) {
				p.log.Warn("fetch error", "topic", topic, "partition", partition, "error", err)
			}
		})
		at := fetchedPositions(fetches)
		p.submit.watch.fetched(at)
		handled := make(chan struct{})
		records := fetches.Records()
		buf = p.prepare(records, buf, &changes)
		select {
		case out <- poll{buf, at, handled}:
			<-handled
		case <-ctx.Done():
		}
		if p.fetchPool != nil {
			// The main loop is done with them, and kept owned copies of
			// what it keeps.
			for _, r := range records {
				r.Recycle()
			}
		}
		p.client.AllowRebalance()
	}
}

// loop is the main loop. It owns the batcher, the tracker and the ready
// queue; job goroutines and group callbacks talk to it over channels.
// It lets the poller take a poll only while fewer than MaxJobsInFlight
// sealed buffers wait for a job slot and nothing pauses the pipeline, so
// memory stays bounded by the batch policy and the number of jobs, and a
// Salesforce outage stops consumption instead of filling memory; a poll it
// let the poller take is always accepted at once.
func (p *Pipeline) loop(ctx context.Context) {
	defer close(p.loopEnded)
	pollCtx, stopPolling := context.WithCancel(context.Background())
	defer stopPolling()
	polls := make(chan poll)
	room := make(chan int)
	p.spawn(func() { p.poller(pollCtx, room, polls) })
	granted := false // the poller may poll, or holds a poll for us

	// Jobs get their own context: it outlives ctx by the shutdown grace.
	jobCtx, stopJobs := context.WithCancel(context.Background())
	defer stopJobs()
	p.startLanes(jobCtx, p.opts.MaxJobsInFlight)

	age := time.NewTimer(time.Hour)
	defer age.Stop()
	var graceEnd <-chan time.Time
	stopping := false
	pause := time.NewTicker(250 * time.Millisecond) // re-reads the pause state
	defer pause.Stop()
	paused := ""
	for {
		paused = p.pauseState(paused)
		if paused == "" {
			p.launch(jobCtx)
		}
		p.opts.Metrics.PendingEvents.Set(float64(p.tracker.outstanding()))
		p.opts.Metrics.BufferedBytes.Set(float64(p.bufferedBytes()))
		if stopping && p.inFlight == 0 && p.napping == 0 && len(p.ready) == 0 {
			return
		}
		var grant chan<- int
		take := p.pollSize()
		if take == 0 && paused == "" && p.inFlight == 0 && len(p.ready) == 0 {
			// Nothing new can join the open buffers until results free
			// room, and no job will free it: waiting for their age would
			// idle the pipeline. While jobs run, the open buffers wait for
			// the room their results free, and grow to their share.
			p.enqueue(p.batcher.SealAll(batch.ReasonMemory))
		}
		if !granted && !stopping && paused == "" && len(p.ready) < p.opts.MaxJobsInFlight && take > 0 {
			grant = room
		}
		p.resetAgeTimer(age)
		select {
		case grant <- take:
			granted = true
		case pl, ok := <-polls:
			granted = false
			if !ok {
				polls = nil
				continue
			}
			p.handle(pl.records)
			close(pl.handled)
			p.enqueue(p.batcher.SealFrom(p.memoryShare(), batch.ReasonMemory))
			if p.behind.caughtUp(pl.positions) {
				p.enqueue(p.batcher.SealAll(batch.ReasonCaughtUp))
			}
		case c := <-p.done:
			p.completed(c)
		case w := <-p.wake:
			p.waking = append(p.waking, w)
		case d := <-p.described:
			p.refs.learn(d)
		case tp := <-p.registryBack:
			p.unpark(tp)
		case r := <-p.requests:
			if r.plan != nil {
				p.applyPlan(r.plan)
			} else {
				p.revoke(r.revoke)
			}
			if r.ack != nil {
				close(r.ack)
			}
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

// pollSize is how many records the next poll may take under MemoryBudget:
// as many as the room left would hold at eventCost each (records larger
// than that pass the budget by their excess, one poll's worth at most), up
// to pollRecords; 0 when the budget is spent. With nothing in flight a
// poll of one record is always allowed, so a budget smaller than a record
// slows the pipeline but never stops it.
func (p *Pipeline) pollSize() int {
	held := p.tracker.inFlightBytes()
	p.opts.Metrics.InFlightBytes.Set(float64(held))
	n := int(min(max((p.opts.MemoryBudget-held)/eventCost, 0), pollRecords))
	if held == 0 {
		n = max(n, 1)
	}
	return n
}

// memoryJobs is how many jobs share the memory budget: a buffer is sealed
// once its events cost a memoryJobs-th of it. With one job taking the whole
// budget, fetching would stop until its results are out, and Salesforce
// would idle while they are read and published and the next job queues;
// with several, the others keep it busy meanwhile.
const memoryJobs = 4

// memoryShare is the number of events that cost a memoryJobs-th of the
// memory budget, at the mean cost of the events in flight (eventCost plus
// their size); at least 1,000, so that a small budget does not make tiny
// jobs.
func (p *Pipeline) memoryShare() int {
	per := int64(eventCost + 256) // before anything is in flight: an event of 256 bytes
	if n := p.tracker.outstanding(); n > 0 {
		per = max(p.tracker.inFlightBytes()/int64(n), eventCost)
	}
	return int(max(p.opts.MemoryBudget/memoryJobs/per, 1000))
}

// bufferedBytes is the CSV size of the open and the waiting buffers.
func (p *Pipeline) bufferedBytes() int64 {
	n := p.batcher.Size()
	for _, b := range p.ready {
		n += b.Size()
	}
	return n
}

// pauseState says why fetching and new jobs pause now, or "": the pacer's
// reason, or a job runner stuck on Salesforce (see stalls). It logs and
// exports the changes; prev is the previous answer.
func (p *Pipeline) pauseState(prev string) string {
	now := p.submit.stalls.reason()
	if now == "" && p.opts.Pacer != nil {
		now = p.opts.Pacer.Paused()
	}
	if now == prev {
		return now
	}
	if prev != "" {
		p.opts.Metrics.Paused.WithLabelValues(prev).Set(0)
		p.log.Info("resuming", "paused_for", prev)
	}
	switch now {
	case "":
	case PausedSalesforce:
		p.log.Warn("pausing: Salesforce cannot be reached; fetching and new jobs wait, jobs in flight are asked about again with back-off", "reason", now)
	case PausedCredentials:
		p.log.Error("pausing: Salesforce refuses the connector's credentials (check the connected app, the user, the secret or key); calls are tried again now and then", "reason", now)
	default:
		used, max := p.opts.Pacer.Usage()
		p.log.Warn("pausing: the org's daily reserve is reached; fetching stops until the allocation returns", "reason", now,
			"api_requests_used", used, "api_requests_max", max)
	}
	if now != "" {
		p.opts.Metrics.Paused.WithLabelValues(now).Set(1)
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

// handle buffers the records of one poll. The poll's records that fail
// before a job are published together, by one task.
func (p *Pipeline) handle(records []ahead) {
	defer func() {
		p.publishAsync(p.failed)
		p.failed = nil
		p.source.pollHandled(p)
	}()
	consumed := map[string]int{}
	defer func() {
		n := 0
		for topic, k := range consumed {
			p.opts.Metrics.EventsConsumed.WithLabelValues(topic).Add(float64(k))
			n += k
		}
		p.count(func(s *Stats) { s.Consumed += int64(n) })
	}()
	now := time.Now() // the time a buffer opens at, for its max_age: one look a poll is close enough
	for i := range records {
		a := &records[i]
		if !p.source.takes(&a.src) {
			continue // a replay's: written after it started, or past its limit
		}
		p.tracker.consumed(topicPartition{a.src.Topic, a.src.Partition}, a.src.Offset, a.size)
		consumed[a.src.Topic]++
		p.dispatch(a, now)
	}
}

// dispatch takes a consumed record to its buffer, or to its result: a
// failure, a skip, a replay's filter. A record of a partition waiting for
// the schema registry waits behind it (see park). A buffer it opens is
// opened at now.
func (p *Pipeline) dispatch(a *ahead, now time.Time) {
	src := a.src
	tp := topicPartition{src.Topic, src.Partition}
	if q, ok := p.parked[tp]; ok {
		p.parked[tp] = append(q, ahead{src: owned(src), size: a.size}) // decoded again when it goes on
		return
	}
	topic, ok := p.source.admit(p, src)
	if !ok {
		return
	}
	route := p.route(topic)
	if route == nil { // the pattern matched but no route does: cannot happen, except in a replay
		p.failed = append(p.failed, decodeFailure(owned(src), CodeDecode, "no route for topic "+topic))
		return
	}
	if !a.decoded {
		a.decode(route, nil)
	}
	if event.IsRegistryUnavailable(a.err) {
		p.park(tp, *a, route, a.err)
		return
	}
	if p.intercept(src, a.c, a.err) {
		return
	}
	if reason, ok := event.IsSkip(a.err); ok {
		p.failed = append(p.failed, skipped(owned(src), reason))
		return
	}
	if a.err != nil {
		p.failed = append(p.failed, decodeFailure(owned(src), decodeErrorCode(a.err), a.err.Error()))
		return
	}
	identity := a.identity
	if id, ok := strings.CutPrefix(a.key, "id="); ok {
		identity = p.ids.ofID(a.c.Object, id)
	}
	var parents []string
	if p.opts.naive {
		identity = ""
	} else {
		parents = p.parents(a.c)
	}
	sealed, err := p.batcher.AddKeyed(a.c, a.key, identity, parents, now)
	p.enqueue(sealed)
	switch {
	case errors.Is(err, batch.ErrTooLarge):
		p.failed = append(p.failed, decodeFailure(owned(src), CodeTooLarge, "the change is larger than batch.max_bytes on its own"))
	case err != nil: // a spill file could not be written: fail the event rather than lose it
		p.failed = append(p.failed, decodeFailure(owned(src), CodeBuffer, err.Error()))
	}
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
	p.grantWaking()
	held := map[string]bool{} // records of the ready buffers passed over
	waiting := p.ready[:0]
	for _, b := range p.ready {
		if p.inFlight >= p.opts.MaxJobsInFlight || p.conflicts(b, held) || !p.busy.take(b.Identities()) {
			for _, id := range b.Identities() {
				held[id] = true
			}
			waiting = append(waiting, b)
			continue
		}
		ids := b.Identities()
		resume := p.resumeJobs[b]
		delete(p.resumeJobs, b)
		cached := p.cachedIDs(b)
		cl := p.owned.claim(b)
		b.SetParentColumns(p.refs.parentColumns(b.Key.Object, b.Columns()))
		p.addInFlight(1)
		p.count(func(s *Stats) { s.Jobs++ })
		p.spawn(func() { p.runJob(ctx, b, ids, resume, cached, cl) })
	}
	clear(p.ready[len(waiting):])
	p.ready = waiting
}

// conflicts reports whether b holds a record that an earlier waiting
// buffer (held) holds, or refers to a parent record that a running job,
// one of them or an open buffer holds: a child waits for its parent's
// result, on whichever route the parent came. Whether a running job holds
// one of b's records, busyRecords.take tells as it takes them.
func (p *Pipeline) conflicts(b *batch.Buffer, held map[string]bool) bool {
	if len(held) > 0 {
		for _, id := range b.Identities() {
			if held[id] {
				return true
			}
		}
	}
	for _, id := range b.Parents() {
		if held[id] || p.busy.holds(id) || p.batcher.Holds(id) {
			return true
		}
	}
	return false
}

// busyRecords tells which record identities the jobs in flight hold. The
// main loop owns it.
//
// A record is held by one job in flight at most (launch starts no buffer
// that holds a busy record), so each identity maps to the number of the
// last job that took it, and a job's end only drops its number from the
// running ones: no lookup and delete per record, each a cache miss in a
// table of the records in flight. The entries of ended jobs are swept, in
// the table's order, once the table holds more than twice the held ones
// and 4,096.
//
// Identities are kept as 64-bit hashes: the table is smaller, and a sweep
// deletes without hashing strings again. Two identities of one hash are
// one record to it: the second waits for the first's job, which is safe.
type busyRecords struct {
	seed    maphash.Seed
	mask    uint64            // all ones; tests narrow it to make hashes collide
	job     map[uint64]uint64 // hash of an identity → the last job that held it
	running map[uint64]int    // a job in flight → how many identities it took
	next    uint64            // the number of the next job
	held    int               // identities taken by the jobs in flight
}

func newBusyRecords() *busyRecords {
	return &busyRecords{seed: maphash.MakeSeed(), mask: ^uint64(0), job: map[uint64]uint64{}, running: map[uint64]int{}, next: 1}
}

func (br *busyRecords) hash(id string) uint64 { return maphash.String(br.seed, id) & br.mask }

// holds reports whether a job in flight holds the record identity id.
func (br *busyRecords) holds(id string) bool {
	j, ok := br.job[br.hash(id)]
	return ok && br.running[j] > 0
}

// take marks ids as held by a new job in flight, unless a job in flight
// holds one of them; it reports whether it took them. It looks each up as
// it marks it: one visit to the table a record, not two. What a refused
// take marked stays behind under a job number that never runs: free.
func (br *busyRecords) take(ids []string) bool {
	if len(ids) == 0 {
		return true
	}
	if len(br.job) > 2*br.held+4096 {
		br.sweep()
	}
	j := br.next
	br.next++
	for _, id := range ids {
		h := br.hash(id)
		if old, ok := br.job[h]; ok && br.running[old] > 0 {
			return false
		}
		br.job[h] = j
	}
	br.running[j] = len(ids)
	br.held += len(ids)
	return true
}

// remove ends the job that take gave ids: its records are free.
func (br *busyRecords) remove(ids []string) {
	if len(ids) == 0 {
		return
	}
	j := br.job[br.hash(ids[0])] // the job's own: no other in flight has held ids[0] since
	br.held -= br.running[j]
	delete(br.running, j)
}

// sweep drops the entries of jobs that ended.
func (br *busyRecords) sweep() {
	for h, j := range br.job {
		if br.running[j] == 0 {
			delete(br.job, h)
		}
	}
}
