package pipeline

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// Replay makes a pipeline read a dead-letter topic instead of its routes'
// topics, and send the original records of its dead-letter copies through
// the pipeline again: the route is the one of the original topic (the
// copy's __connect.errors.topic header), the decoding the same. Each
// replayed event gets a new result whose source is the original position
// (from the headers) and whose replayOf is the dead-letter position; if it
// fails again, a new dead-letter copy is written, for a later replay. A
// truncated copy (HeaderTruncated) is not sent: it fails with
// CodeTruncated.
//
// The replay reads up to the end offsets the topic has when Run starts,
// under its own consumer group (Options.Group), whose committed offsets are
// dead-letter positions: an interrupted replay resumes where it stopped,
// and a finished one does not repeat. Run returns once every dead-letter
// record up to those ends has a result or was passed over by the filter
// (Keep). A record passed over is written again, unchanged, at the end of
// the dead-letter topic before its offset advances (see passOver), so that
// a later replay, with other filters, still sees it. Copies written after
// the start, the replay's own among them, are left for the next replay.
type Replay struct {
	Topic string // the dead-letter topic
	// Keep says whether to replay a record; nil replays every one. It runs
	// in the main loop and must be quick.
	Keep func(*ReplayRecord) bool
	// Limit, when positive, ends the replay once that many records were
	// kept: the records read after it stay uncommitted, for the next replay.
	Limit int
}

// ReplayRecord is a dead-letter record as Replay.Keep sees it.
type ReplayRecord struct {
	DeadLetter Source // the record's position in the dead-letter topic
	Original   Source // the original record's position (__connect.errors.* headers)
	// Timestamp is the record's timestamp: the original record's, which
	// the dead-letter copy keeps.
	Timestamp time.Time
	ErrorCode string // the sf.error.code header
	// Change is the original record decoded by its route, nil when it does
	// not decode (or no route takes its topic).
	Change *event.Change
}

// The headers of a dead-letter copy that are about the failure, not the
// original record.
var deadLetterHeaders = regexp.MustCompile(`^(__connect\.errors\..*|sf\.error\.code|sf\.job\.id|bulkstream\.carried\.from)$`)

// HeaderCarriedFrom is on a dead-letter record that a replay passed over
// and wrote again (see pollHandled): the position of the record it
// copies in the dead-letter topic, as partition/offset in decimal. A
// replay that reads that position too drops the copy (see
// CarriedDuplicate): it was written by a replay that stopped before its
// position moved past the record.
const HeaderCarriedFrom = "bulkstream.carried.from"

// CarriedDuplicate reports whether the dead-letter record dl is a copy
// carried forward from a record that a replay reads itself: one at or
// after start[partition], the first offset the replay reads of each
// partition of the dead-letter topic.
func CarriedDuplicate(dl *event.Source, start map[int32]int64) bool {
	partition, offset, ok := strings.Cut(headerValue(dl, HeaderCarriedFrom), "/")
	if !ok {
		return false
	}
	p, perr := strconv.ParseInt(partition, 10, 32)
	o, oerr := strconv.ParseInt(offset, 10, 64)
	from, known := start[int32(p)]
	return perr == nil && oerr == nil && known && o >= from
}

// DeadLetterOrigin returns the original record of a dead-letter copy: its
// key, value and timestamp, its headers without those about the failure,
// and its position from the __connect.errors.topic, .partition and .offset
// headers; and the copy's sf.error.code. ok is false when the position
// headers are missing or malformed.
func DeadLetterOrigin(dl *event.Source) (orig event.Source, errorCode string, ok bool) {
	orig = event.Source{Timestamp: dl.Timestamp, Key: dl.Key, Value: dl.Value}
	var topic, partition, offset bool
	for _, h := range dl.Headers {
		switch h.Key {
		case "__connect.errors.topic":
			orig.Topic, topic = string(h.Value), len(h.Value) > 0
		case "__connect.errors.partition":
			p, err := strconv.ParseInt(string(h.Value), 10, 32)
			orig.Partition, partition = int32(p), err == nil
		case "__connect.errors.offset":
			o, err := strconv.ParseInt(string(h.Value), 10, 64)
			orig.Offset, offset = o, err == nil
		case "sf.error.code":
			errorCode = string(h.Value)
		}
		if !deadLetterHeaders.MatchString(h.Key) {
			orig.Headers = append(orig.Headers, h)
		}
	}
	return orig, errorCode, topic && partition && offset
}

// Truncated returns what a dead-letter copy lacks of its original record,
// from its HeaderTruncated: TruncatedValue or TruncatedReference; "" for a
// whole copy. A replay does not send a truncated copy (CodeTruncated).
func Truncated(dl *event.Source) string { return headerValue(dl, HeaderTruncated) }

// headerValue returns the value of src's header key, "" without one.
func headerValue(src *event.Source, key string) string {
	for _, h := range src.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// refuseTruncated is a route's decoder in a replay: it refuses a truncated
// dead-letter copy, whose value is not the original record's, and decodes
// the others with the route's own decoder.
type refuseTruncated struct{ event.Decoder }

func (d refuseTruncated) Decode(src event.Source) (*event.Change, error) {
	what := Truncated(&src)
	if what == "" {
		return d.Decoder.Decode(src)
	}
	orig, _, _ := DeadLetterOrigin(&src)
	return nil, &truncatedError{fmt.Sprintf("the dead-letter copy does not hold the whole original record (%s: %s, %s: %s), so it is not replayed; "+
		"the original is at %s/%d/%d", HeaderTruncated, what, HeaderOriginalSize, headerValue(&src, HeaderOriginalSize), orig.Topic, orig.Partition, orig.Offset)}
}

// truncatedError is refuseTruncated's refusal; its events fail with
// CodeTruncated (see decodeErrorCode).
type truncatedError struct{ message string }

func (e *truncatedError) Error() string { return e.message }

// replayProgress follows a replay to the end offsets taken at its start.
// The main loop writes it (consumed, completed); the watcher goroutine
// reads it; mu guards it.
type replayProgress struct {
	topic string
	end   map[int32]int64 // partitions left to read, with their end offsets; fixed at start
	start map[int32]int64 // every partition's first offset to read; fixed at start

	mu       sync.Mutex
	left     map[int32]bool  // partitions not finished yet
	next     map[int32]int64 // the position reached: every record before it has a result
	pending  map[int32]int   // consumed records without a result
	activity time.Time       // the last record consumed or completed
	limit    int             // Replay.Limit
	kept     int             // records kept so far

	// passed are the records of the poll being handled that the filter
	// passed over, to carry forward; the main loop owns it.
	passed []event.Source
}

// startReplay takes the dead-letter topic's end offsets and the replay
// group's committed ones, and returns the progress to follow, or nil when
// nothing is left to replay. It makes the routes' decoders refuse truncated
// copies (refuseTruncated).
func (p *Pipeline) startReplay(ctx context.Context) (*replayProgress, error) {
	cl, err := kgo.NewClient(p.opts.Kafka...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topic := p.opts.Replay.Topic
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	committed, err := adm.FetchOffsets(ctx, p.opts.Group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		err = nil // a first replay: nothing committed yet
	}
	if err != nil {
		return nil, fmt.Errorf("committed offsets of %s: %w", p.opts.Group, err)
	}
	rp := &replayProgress{topic: topic, end: map[int32]int64{}, start: map[int32]int64{}, left: map[int32]bool{}, next: map[int32]int64{},
		pending: map[int32]int{}, activity: time.Now(), limit: p.opts.Replay.Limit}
	ends.Each(func(o kadm.ListedOffset) {
		from := int64(0)
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok {
			from = s.Offset
		}
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.At > from {
			from = c.At
		}
		rp.start[o.Partition] = from
		if o.Offset > from {
			rp.end[o.Partition], rp.left[o.Partition], rp.next[o.Partition] = o.Offset, true, from
		}
	})
	p.log.Info("replay", "topic", topic, "group", p.opts.Group, "partitions_to_read", len(rp.end))
	if len(rp.end) == 0 {
		return nil, nil
	}
	routes := make([]Route, len(p.opts.Routes)) // the caller's stay as they are
	for i, r := range p.opts.Routes {
		r.Decoder = refuseTruncated{r.Decoder}
		routes[i] = r
	}
	p.opts.Routes = routes
	return rp, nil
}

// pattern is the dead-letter topic alone.
func (rp *replayProgress) pattern() string { return "^" + regexp.QuoteMeta(rp.topic) + "$" }

// decodesAhead is false: a dead-letter record is routed by its origin's
// topic, and the filter decides whether it is decoded at all.
func (rp *replayProgress) decodesAhead() bool { return false }

// replays is true: results are about the original records.
func (rp *replayProgress) replays() bool { return true }

// admit routes a dead-letter record by the topic of its origin, when the
// filter keeps it. A record without the headers of its origin is passed
// over (its offset advances without a result), as is one the filter leaves
// out (carried forward, see passOver).
func (rp *replayProgress) admit(p *Pipeline, src event.Source) (string, bool) {
	orig, code, ok := DeadLetterOrigin(&src)
	if !ok {
		p.log.Warn("replay: a record without the __connect.errors headers of its origin is passed over", "partition", src.Partition, "offset", src.Offset)
		p.completed(completion{sources: []Source{sourceOf(&src)}})
		return "", false
	}
	rec := &ReplayRecord{DeadLetter: sourceOf(&src), Original: sourceOf(&orig), Timestamp: src.Timestamp, ErrorCode: code}
	if !rp.keep(p, rec, src) {
		rp.passOver(p, src)
		return "", false
	}
	return orig.Topic, true
}

// keep applies the replay's filter to a dead-letter record, decoded by the
// route of its origin for the filter's sake.
func (rp *replayProgress) keep(p *Pipeline, rec *ReplayRecord, src event.Source) bool {
	if CarriedDuplicate(&src, rp.start) {
		return false // dropped by passOver
	}
	if keep := p.opts.Replay.Keep; keep != nil {
		if route := p.route(rec.Original.Topic); route != nil {
			rec.Change, _ = route.Decoder.Decode(src)
		}
		if !keep(rec) {
			return false
		}
	}
	rp.keeping()
	return true
}

// takes reports whether the record is part of the replay (below the end
// offset taken at start, within the limit), and counts it.
func (rp *replayProgress) takes(src *event.Source) bool {
	partition, offset := src.Partition, src.Offset
	end, ok := rp.end[partition]
	if !ok || offset >= end {
		return false
	}
	rp.mu.Lock()
	if rp.limit > 0 && rp.kept >= rp.limit {
		rp.mu.Unlock()
		return false // the limit is reached: left for the next replay
	}
	rp.pending[partition]++
	rp.activity = time.Now()
	rp.mu.Unlock()
	return true
}

// keeping counts a record the filter kept.
func (rp *replayProgress) keeping() {
	rp.mu.Lock()
	rp.kept++
	rp.mu.Unlock()
}

// completed counts the results of the given dead-letter records, and the
// position each partition of the topic reached (marks).
func (rp *replayProgress) completed(sources []Source, marks map[string]map[int32]kgo.EpochOffset) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	for _, s := range sources {
		if s.Topic == rp.topic {
			rp.pending[s.Partition]--
		}
	}
	for partition, m := range marks[rp.topic] {
		rp.next[partition] = m.Offset
	}
	rp.activity = time.Now()
}

// watchReplay ends the replay (stop) once every partition is read to its
// end, or the limit is reached and every record taken has a result. A
// partition is finished when its position reaches the end offset, or, since
// the last offsets of a topic written in transactions are commit markers
// and not records, when nothing is pending, the pipeline has been quiet for
// a second, and a fetch from the position finds no record before the end.
func (p *Pipeline) watchReplay(ctx context.Context, rp *replayProgress, stop context.CancelFunc) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		type probe struct {
			partition int32
			from      int64
		}
		var probes []probe
		rp.mu.Lock()
		if rp.limit > 0 && rp.kept >= rp.limit {
			for partition := range rp.left {
				if rp.pending[partition] == 0 {
					delete(rp.left, partition) // nothing more is taken
				}
			}
		}
		for partition := range rp.left {
			switch {
			case rp.next[partition] >= rp.end[partition]:
				delete(rp.left, partition)
			case rp.pending[partition] == 0 && time.Since(rp.activity) > time.Second:
				probes = append(probes, probe{partition, rp.next[partition]})
			}
		}
		rp.mu.Unlock()
		for _, pr := range probes {
			if p.recordsBefore(ctx, rp.topic, pr.partition, pr.from, rp.end[pr.partition]) {
				continue
			}
			rp.mu.Lock()
			if rp.pending[pr.partition] == 0 && rp.next[pr.partition] == pr.from {
				delete(rp.left, pr.partition)
			}
			rp.mu.Unlock()
		}
		rp.mu.Lock()
		finished := len(rp.left) == 0
		rp.mu.Unlock()
		if finished {
			p.log.Info("replay: the dead-letter topic is read to the end offsets taken at start", "topic", rp.topic)
			stop()
			return
		}
	}
}

// recordsBefore reports whether partition has a committed record at or
// after from and before end; it errs on yes when it cannot tell.
func (p *Pipeline) recordsBefore(ctx context.Context, topic string, partition int32, from, end int64) bool {
	cl, err := kgo.NewClient(append(p.opts.Kafka[:len(p.opts.Kafka):len(p.opts.Kafka)],
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		return true
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for pctx.Err() == nil {
		fetches := cl.PollFetches(pctx)
		found, beyond := false, false
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset < end {
				found = true
			} else {
				beyond = true
			}
		})
		if found {
			return true
		}
		if beyond {
			return false
		}
	}
	return ctx.Err() != nil
}

// passOver takes a dead-letter record the replay's filter leaves out: it is
// carried forward (see pollHandled) with the others of its poll, unless
// it is a duplicate (CarriedDuplicate), which is dropped: its offset
// advances without a result. Run by the main loop.
func (rp *replayProgress) passOver(p *Pipeline, src event.Source) {
	if CarriedDuplicate(&src, rp.start) {
		p.log.Info("replay: a copy carried forward by an earlier replay that stopped is dropped: this replay reads its record", "partition", src.Partition,
			"offset", src.Offset, HeaderCarriedFrom, headerValue(&src, HeaderCarriedFrom))
		p.completed(completion{sources: []Source{sourceOf(&src)}})
		return
	}
	rp.passed = append(rp.passed, src)
}

// pollHandled writes the records of the poll that the filter passed
// over again, unchanged (key, value, headers, timestamp), at the end of the
// dead-letter topic, from a task, and then lets their offsets advance:
// those records are not replayed by this replay (the copies are past its
// end offsets) but stay for a later one, whatever its filters. Writing is
// retried until it succeeds or the pipeline stops; then the offsets stay
// where they are, to be read again. Run by the main loop.
func (rp *replayProgress) pollHandled(p *Pipeline) {
	if len(rp.passed) == 0 {
		return
	}
	passed := rp.passed
	rp.passed = nil
	p.spawn(func() {
		records := make([]*kgo.Record, len(passed))
		c := completion{sources: make([]Source, len(passed))}
		for i := range passed {
			src := &passed[i]
			r := &kgo.Record{Topic: src.Topic, Key: src.Key, Value: src.Value, Timestamp: src.Timestamp}
			for _, h := range src.Headers {
				if h.Key != HeaderCarriedFrom {
					r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
				}
			}
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderCarriedFrom,
				Value: []byte(strconv.Itoa(int(src.Partition)) + "/" + strconv.FormatInt(src.Offset, 10))})
			records[i], c.sources[i] = r, sourceOf(src)
		}
		for pause := 100 * time.Millisecond; ; pause = min(pause*2, 10*time.Second) {
			err := p.produceRecords(p.background, records)
			if err == nil {
				break
			}
			p.log.Warn("replay: carrying records passed over forward failed; retrying", "records", len(records), "error", err)
			if !sleep(p.background, pause) {
				p.report(completion{err: err})
				return
			}
		}
		p.report(c)
	})
}
