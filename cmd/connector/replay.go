package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/config"
	"github.com/bulkstream/bulkstream/internal/metrics"
	"github.com/bulkstream/bulkstream/internal/pipeline"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// runReplay is `connector replay --config FILE --from TOPIC`: it sends the
// original records of a dead-letter topic's copies through the pipeline
// again, with the configuration's routes, and exits when the topic is read
// to the end offsets it had at the start and every replayed event has a
// result (see pipeline.Replay). Its position is committed under its own
// consumer group, so an interrupted replay resumes and a finished one does
// not repeat.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	configPath := fs.String("config", "config.yaml", "the configuration file (see config.example.yaml)")
	from := fs.String("from", "", "the dead-letter topic to replay (default results.dead_letter_topic)")
	group := fs.String("group", "", "the replay's consumer group (default <kafka.group>-replay-<topic>)")
	var f replayFilter
	fs.StringVar(&f.errorCode, "error-code", "", "replay only records whose sf.error.code header is CODE")
	fs.StringVar(&f.object, "object", "", "replay only records whose change is about this Salesforce object")
	fs.StringVar(&f.sourceTopic, "source-topic", "", "replay only records that came from this topic (__connect.errors.topic)")
	since := fs.String("since", "", "replay only records from this RFC 3339 time (the record's timestamp) or dead-letter offset on, inclusive")
	until := fs.String("until", "", "replay only records before this RFC 3339 time or dead-letter offset, exclusive")
	limit := fs.Int("limit", 0, "replay at most N records; the rest stay for the next replay (0: no limit)")
	dryRun := fs.Bool("dry-run", false, "print what would be replayed, one line a record, and change nothing")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	var err error
	if f.since, err = parseBound("since", *since); err != nil {
		return err
	}
	if f.until, err = parseBound("until", *until); err != nil {
		return err
	}
	if *limit < 0 {
		return usageError{"--limit must not be negative"}
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	topic := *from
	if topic == "" {
		topic = cfg.Results.DeadLetterTopic
	}
	if topic == "" {
		return usageError{"--from is required: the configuration has no results.dead_letter_topic"}
	}
	if *group == "" {
		*group = cfg.Kafka.Group + "-replay-" + topic
	}
	log := newLogger(cfg.Log, stderr)

	m := metrics.New(prometheus.NewRegistry())
	sf, err := salesforceClient(ctx, cfg.Salesforce, log, &salesforceStatus{metrics: m})
	if err != nil {
		return err
	}
	opts, err := pipelineOptions(cfg, sf, m, log)
	if err != nil {
		return err
	}
	opts.Group = *group
	opts.Replay = &pipeline.Replay{Topic: topic, Keep: f.keep, Limit: *limit}
	if *dryRun {
		return dryRunReplay(ctx, opts, f.passOver, stdout)
	}
	go exitOnSecondSignal(ctx, log)
	p, err := pipeline.New(opts)
	if err != nil {
		return err
	}
	if err := p.Run(ctx); err != nil {
		return err
	}
	s := p.Stats()
	fmt.Fprintf(stdout, "replayed %d of %d dead-letter records read: %d succeeded, %d failed\n", s.Succeeded+s.Failed, s.Consumed, s.Succeeded, s.Failed)
	return nil
}

// bound is a --since or --until: a time or a dead-letter offset.
type bound struct {
	set    bool
	time   time.Time
	offset int64
	byTime bool
}

func parseBound(name, s string) (bound, error) {
	if s == "" {
		return bound{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return bound{set: true, time: t, byTime: true}, nil
	}
	if o, err := strconv.ParseInt(s, 10, 64); err == nil && o >= 0 {
		return bound{set: true, offset: o}, nil
	}
	return bound{}, usageError{fmt.Sprintf("--%s %q is neither an RFC 3339 time (2024-05-01T00:00:00Z) nor an offset", name, s)}
}

// before reports whether r is before b (by its timestamp, or its
// dead-letter offset).
func (b bound) before(r *pipeline.ReplayRecord) bool {
	if b.byTime {
		return r.Timestamp.Before(b.time)
	}
	return r.DeadLetter.Offset < b.offset
}

// replayFilter is the command line's filters; the zero value keeps all.
type replayFilter struct {
	errorCode, object, sourceTopic string
	since, until                   bound
}

func (f *replayFilter) keep(r *pipeline.ReplayRecord) bool { return f.passOver(r) == "" }

// passOver says which filter leaves r out ("--error-code INVALID_FIELD"),
// or "" when r is kept.
func (f *replayFilter) passOver(r *pipeline.ReplayRecord) string {
	switch {
	case f.errorCode != "" && r.ErrorCode != f.errorCode:
		return "--error-code " + f.errorCode
	case f.sourceTopic != "" && r.Original.Topic != f.sourceTopic:
		return "--source-topic " + f.sourceTopic
	case f.object != "" && (r.Change == nil || r.Change.Object != f.object):
		return "--object " + f.object
	case f.since.set && f.since.before(r):
		return "--since"
	case f.until.set && !f.until.before(r):
		return "--until"
	}
	return ""
}

// dryRunReplay reads what a replay would read, from the replay group's
// committed offsets to the topic's end offsets, without joining the group,
// prints each record the filters keep, and counts those they pass over
// (passOver says why), which stay for later replays.
func dryRunReplay(ctx context.Context, opts pipeline.Options, passOver func(*pipeline.ReplayRecord) string, w io.Writer) error {
	kept := 0
	passed := map[string]int{} // by the filter that passes over
	empty, err := readReplayable(ctx, opts, passOver, func(r *kgo.Record, rec *pipeline.ReplayRecord, why string) {
		if why != "" {
			passed[why]++
			return
		}
		kept++
		object, op := "?", "?"
		if rec.Change != nil {
			object, op = rec.Change.Object, string(rec.Change.Operation)
		}
		note := ""
		if t := truncatedHeader(r); t != "" {
			note = fmt.Sprintf("\ttruncated copy (%s: %s): fails with %s", pipeline.HeaderTruncated, t, pipeline.CodeTruncated)
		}
		fmt.Fprintf(w, "%s/%d/%d\tfrom %s/%d/%d\t%s\t%s %s\tkey %q%s\n", r.Topic, r.Partition, r.Offset,
			rec.Original.Topic, rec.Original.Partition, rec.Original.Offset, rec.ErrorCode, op, object, r.Key, note)
	})
	if err != nil {
		return err
	}
	if empty {
		fmt.Fprintf(w, "0 records would be replayed: the replay group %s has read %s to its end, and nothing was written since (another --group reads it from the start)\n", opts.Group, opts.Replay.Topic)
		return nil
	}
	fmt.Fprintf(w, "%d records would be replayed\n", kept)
	if len(passed) > 0 {
		var whys []string
		total := 0
		for why, n := range passed {
			whys = append(whys, fmt.Sprintf("%d by %s", n, why))
			total += n
		}
		slices.Sort(whys)
		fmt.Fprintf(w, "%d records passed over (%s); a replay writes them again at the end of %s, for later replays\n", total, strings.Join(whys, ", "), opts.Replay.Topic)
	}
	return nil
}

// readReplayable reads what a replay would read, from the replay group's
// committed offsets to the topic's end offsets, without joining the group,
// and calls visit with each record, as the replay sees it, and why the
// filters pass it over ("" when kept). It stops after opts.Replay.Limit
// kept records, when positive. empty reports that there was nothing to
// read.
func readReplayable(ctx context.Context, opts pipeline.Options, passOver func(*pipeline.ReplayRecord) string,
	visit func(r *kgo.Record, rec *pipeline.ReplayRecord, why string)) (empty bool, err error) {
	cl, err := kgo.NewClient(opts.Kafka...)
	if err != nil {
		return false, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topic := opts.Replay.Topic
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return false, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	committed, err := adm.FetchOffsets(ctx, opts.Group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return false, fmt.Errorf("committed offsets of %s: %w", opts.Group, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return false, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	start := map[int32]kgo.Offset{}
	from := map[int32]int64{} // the first offset read of each partition, as the replay takes it
	end := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		at := int64(0)
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok {
			at = s.Offset
		}
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.At > at {
			at = c.At
		}
		from[o.Partition] = at
		if o.Offset > at {
			start[o.Partition], end[o.Partition] = kgo.NewOffset().At(at), o.Offset
		}
	})
	if len(end) == 0 {
		return true, nil
	}
	reader, err := kgo.NewClient(append(opts.Kafka, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		return false, fmt.Errorf("kafka client: %w", err)
	}
	defer reader.Close()
	kept, limit := 0, opts.Replay.Limit
	for len(end) > 0 && (limit == 0 || kept < limit) {
		// The last offsets may be transaction markers, never returned: a
		// quiet second ends the read.
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fetches := reader.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		n := 0
		fetches.EachRecord(func(r *kgo.Record) {
			n++
			last, ok := end[r.Partition]
			if !ok || r.Offset >= last || (limit > 0 && kept >= limit) {
				return
			}
			if r.Offset == last-1 {
				delete(end, r.Partition)
			}
			rec, src, ok := replayRecord(opts, r)
			why := "no __connect.errors headers of its origin"
			switch {
			case ok && pipeline.CarriedDuplicate(&src, from):
				why = "being a copy carried forward of a record read before it (dropped)"
			case ok:
				why = passOver(rec)
			}
			if why == "" {
				kept++
			}
			visit(r, rec, why)
		})
		if n == 0 {
			break
		}
	}
	return false, nil
}

// replayRecord returns the dead-letter record r as the replay's filters see
// it, its change decoded by its route (not when the copy is truncated, as
// in the replay), and as the pipeline reads it; false when r lacks the
// headers of its origin.
func replayRecord(opts pipeline.Options, r *kgo.Record) (*pipeline.ReplayRecord, event.Source, bool) {
	src := event.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		src.Headers = append(src.Headers, event.Header{Key: h.Key, Value: h.Value})
	}
	orig, code, ok := pipeline.DeadLetterOrigin(&src)
	rec := &pipeline.ReplayRecord{DeadLetter: pipeline.Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset},
		Original: pipeline.Source{Topic: orig.Topic, Partition: orig.Partition, Offset: orig.Offset}, Timestamp: r.Timestamp, ErrorCode: code}
	if !ok {
		return rec, src, false
	}
	if pipeline.Truncated(&src) == "" {
		for i := range opts.Routes {
			if opts.Routes[i].Matches(orig.Topic) {
				rec.Change, _ = opts.Routes[i].Decoder.Decode(src)
				break
			}
		}
	}
	return rec, src, true
}

// truncatedHeader is r's bulkstream.truncated header, "" without one.
func truncatedHeader(r *kgo.Record) string {
	for _, h := range r.Headers {
		if h.Key == pipeline.HeaderTruncated {
			return string(h.Value)
		}
	}
	return ""
}
