package main

import (
	"context"
	"log/slog"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/config"
	"github.com/bulkstream/bulkstream/internal/console"
	"github.com/bulkstream/bulkstream/internal/metrics"
	"github.com/bulkstream/bulkstream/internal/pipeline"
	"github.com/bulkstream/bulkstream/pkg/bulk"
)

// newConsole is the console of `connector run` (see internal/console),
// whose dead-letter pages read and replay results.dead_letter_topic as
// `connector replay` does, under the same replay group. A replay runs in
// the request that asks for it and stops when its context ends, which
// serveHTTP ends with the run and waits for.
func newConsole(cfg *config.Config, sf *bulk.Client, p *pipeline.Pipeline, reg prometheus.Gatherer, opts pipeline.Options, log *slog.Logger) *console.Console {
	apiRequests := func() (used, max int64) {
		l, _ := sf.LastLimitInfo()
		return l.Used, l.Max
	}
	var records func() (used, limit int64)
	if opts.Pacer != nil {
		records = opts.Pacer.Records
	}
	var dl console.DeadLetters
	if topic := cfg.Results.DeadLetterTopic; topic != "" {
		dl = &consoleDeadLetters{cfg: cfg, sf: sf, log: log, topic: topic, group: cfg.Kafka.Group + "-replay-" + topic, opts: opts}
	}
	return console.New(console.Options{Pipeline: p, Metrics: reg, Config: cfg, InstanceURL: sf.InstanceURL(), DeadLetters: dl,
		APIRequests: apiRequests, RecordLimit: cfg.Limits.RecordLimit, Records: records, Token: string(cfg.HTTP.ConsoleToken), Logger: log})
}

// consoleDeadLetters is console.DeadLetters on the dead-letter topic.
type consoleDeadLetters struct {
	cfg          *config.Config
	sf           *bulk.Client
	log          *slog.Logger
	topic, group string
	opts         pipeline.Options // of the pipeline: its Kafka options and routes
}

// filter turns the console's filter into the command line's.
func (d *consoleDeadLetters) filter(f console.Filter) (*replayFilter, error) {
	rf := &replayFilter{errorCode: f.ErrorCode, object: f.Object, sourceTopic: f.SourceTopic}
	var err error
	if rf.since, err = parseBound("since", f.Since); err != nil {
		return nil, &console.FilterError{Err: err}
	}
	if rf.until, err = parseBound("until", f.Until); err != nil {
		return nil, &console.FilterError{Err: err}
	}
	return rf, nil
}

// browseValue bounds the value shown of a record.
const browseValue = 4 << 10

// cutValue returns v's first n bytes, less a character cut at the end.
// Only the end is looked at: a binary value (Avro) keeps its n bytes.
func cutValue(v []byte, n int) []byte {
	if len(v) <= n {
		return v
	}
	v = v[:n]
	for i := 1; i < utf8.UTFMax && i <= len(v); i++ {
		if utf8.RuneStart(v[len(v)-i]) {
			if !utf8.FullRune(v[len(v)-i:]) {
				v = v[:len(v)-i]
			}
			break
		}
	}
	return v
}

func (d *consoleDeadLetters) Browse(ctx context.Context, f console.Filter, max int) (*console.Browse, error) {
	rf, err := d.filter(f)
	if err != nil {
		return nil, err
	}
	opts := d.opts
	opts.Group, opts.Replay = d.group, &pipeline.Replay{Topic: d.topic, Limit: f.Limit}
	b := &console.Browse{Topic: d.topic, Group: d.group, Records: []console.DeadLetter{}, PassedOver: map[string]int{}}
	_, err = readReplayable(ctx, opts, rf.passOver, func(r *kgo.Record, rec *pipeline.ReplayRecord, why string) {
		if why != "" {
			b.PassedOver[why]++
			return
		}
		b.Kept++
		if len(b.Records) >= max {
			return
		}
		l := console.DeadLetter{Position: rec.DeadLetter, Original: rec.Original, Timestamp: r.Timestamp, ErrorCode: rec.ErrorCode,
			Key: string(r.Key), Value: string(cutValue(r.Value, browseValue)), Truncated: truncatedHeader(r)}
		if rec.Change != nil {
			l.Object, l.Operation = rec.Change.Object, string(rec.Change.Operation)
		}
		for _, h := range r.Headers {
			l.Headers = append(l.Headers, pipeline.Header{Key: h.Key, Value: string(h.Value)})
			if h.Key == "__connect.errors.exception.message" {
				l.Error = string(h.Value)
			}
		}
		b.Records = append(b.Records, l)
	})
	return b, err
}

// Replay runs a replay as `connector replay` does, in this process, with
// metrics of its own (not on /metrics: its counts would mix with the
// pipeline's).
func (d *consoleDeadLetters) Replay(ctx context.Context, f console.Filter) (*console.ReplaySummary, error) {
	rf, err := d.filter(f)
	if err != nil {
		return nil, err
	}
	opts, err := pipelineOptions(d.cfg, d.sf, metrics.New(prometheus.NewRegistry()), d.log)
	if err != nil {
		return nil, err
	}
	opts.Group, opts.Replay = d.group, &pipeline.Replay{Topic: d.topic, Keep: rf.keep, Limit: f.Limit}
	p, err := pipeline.New(opts)
	if err != nil {
		return nil, err
	}
	if err := p.Run(ctx); err != nil {
		return nil, err
	}
	s := p.Stats()
	return &console.ReplaySummary{Read: s.Consumed, Succeeded: s.Succeeded, Failed: s.Failed}, nil
}
