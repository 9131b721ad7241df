package pipeline

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bulkstream/bulkstream/internal/batch"
)

// A job's open entries are written once its rows are uploaded (see
// journalOpen), and one the journal topic refuses as too large fails the
// job before its close. Whether Kafka would refuse one is known before the
// job is created: an entry's size hangs on its slice's events, not on
// anything Salesforce says, and a job id is always as long (18
// characters). So openFit judges the entries first, and a job whose entry
// would be refused is never created: its events fail at once, without a
// request to Salesforce, since any other job for them would have as large
// an entry.

// placeholderJobID stands for the id of a job not created yet: an entry
// judged with it is as long as the one written with the job's own id.
const placeholderJobID = "750000000000000AAA"

// batchHeaderBytes is the header of a record batch (magic 2): the part of
// a batch, besides its records, that max.message.bytes counts.
const batchHeaderBytes = 61

// producerBatchOverhead is what franz-go counts of a batch besides its
// records when it holds it to ProducerBatchMaxBytes (kgo's
// recordBatchOverhead): the header and the array length before it, 4
// bytes. (It counts a byte more while it does not know the produce
// request's version; the judgement leans to sending.)
const producerBatchOverhead = batchHeaderBytes + 4

// openFit judges, before a job is created, whether the producer and the
// journal topic take the open entries of its slices, each in a record
// batch of its own: the producer judges the batch as it is
// (kgo.ProducerBatchMaxBytes, results.max_record_bytes + 1 KiB by
// default), the broker compressed, with the producer's codec, against the
// topic's max.message.bytes. The judgement leans to sending: an entry is
// refused only when Kafka would surely refuse it (it may still refuse
// one judged to fit, when it batches two entries together, or when the
// topic's limit was lowered since it was described).
//
// The topic's max.message.bytes is described (DescribeConfigs) at the first
// judgement, and again whenever an entry is over the limit last described,
// so that a limit raised to mend a refusal counts at once. When it cannot
// be described, entries are not judged beforehand (a warning is logged
// once) and Kafka judges them when they are written. Safe for concurrent
// use: job runners share it.
type openFit struct {
	p      *Pipeline
	limit  atomic.Int64 // the journal topic's max.message.bytes as last described; 0 before
	warned atomic.Bool  // a description failed, and this was logged
}

// check returns nil when the open entries of a job running b as attempt
// number attempt are taken, or may be; otherwise a *journalTooLargeError,
// wrapping kerr.MessageTooLarge, that names the first entry refused, its
// size, the limit and the settings that mend it.
func (f *openFit) check(ctx context.Context, b *batch.Buffer, attempt int) error {
	p := f.p
	if p.opts.Journal == "" {
		return nil
	}
	producerMax := int64(-1)
	if fn, ok := p.client.OptValue(kgo.ProducerBatchMaxBytesFn).(func(string) int32); ok && fn != nil {
		producerMax = int64(fn(p.opts.Journal))
	}
	compressor, _ := p.client.OptValue(kgo.WithCompressor).(kgo.Compressor)
	described := false
	entries := openEntries(placeholderJobID, b, attempt)
	for _, tp := range slices.SortedFunc(maps.Keys(entries), func(a, b topicPartition) int {
		return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
	}) {
		r := entries[tp].RecordAs(p.opts.Journal, p.opts.JournalForm)
		wire := recordWire(r)
		plain := int64(batchHeaderBytes + len(wire))
		if producerMax >= 0 && int64(producerBatchOverhead+len(wire)) > producerMax {
			return journalTooLarge("write the job journal: the producer would refuse the open entry of %s/%d, of %d bytes (a record batch of %d), as too large: "+
				"it takes batches of at most %d bytes; raise results.max_record_bytes (and the journal topic's max.message.bytes with it), or lower batch.max_records: %w",
				tp.topic, tp.partition, recordSize(r), plain, producerMax, kerr.MessageTooLarge)
		}
		limit := f.limit.Load()
		if limit == 0 && !described { // once a check: a failed description is not asked again for each slice
			limit, described = f.describe(ctx), true
		}
		if limit <= 0 || plain <= limit {
			continue
		}
		packed := plain
		if compressor != nil {
			if z, codec := compressor.Compress(new(bytes.Buffer), wire); codec != kgo.CodecNone && codec != kgo.CodecError {
				packed = min(plain, int64(batchHeaderBytes+len(z)))
			}
		}
		if packed > limit && !described {
			limit, described = f.describe(ctx), true // raised since?
		}
		if limit > 0 && packed > limit {
			return journalTooLarge("write the job journal: the journal topic %s would refuse the open entry of %s/%d, of %d bytes (a record batch of %d, compressed), as too large: "+
				"it takes batches of at most %d bytes; raise the topic's max.message.bytes, or lower batch.max_records: %w",
				p.opts.Journal, tp.topic, tp.partition, recordSize(r), packed, limit, kerr.MessageTooLarge)
		}
	}
	return nil
}

// journalTooLargeError reports that the journal topic or the producer
// refuses, or would refuse, a job's open journal entry as too large (see
// openFit and journalOpen). The job's events fail with CodeJournalTooLarge
// at once, since a new job's entry would be as large; it is told by its
// type, not by the Kafka error it wraps, which a refused result record
// carries too.
type journalTooLargeError struct{ err error }

func (e *journalTooLargeError) Error() string { return e.err.Error() }
func (e *journalTooLargeError) Unwrap() error { return e.err }

// journalTooLarge formats a *journalTooLargeError as fmt.Errorf does.
func journalTooLarge(format string, a ...any) error {
	return &journalTooLargeError{fmt.Errorf(format, a...)}
}

// describe returns the journal topic's max.message.bytes, and keeps it for
// the judgements to come; 0 when it cannot be had.
func (f *openFit) describe(ctx context.Context) int64 {
	topic := f.p.opts.Journal
	limit, err := func() (int64, error) {
		rcs, err := kadm.NewClient(f.p.client).DescribeTopicConfigs(ctx, topic)
		if err != nil {
			return 0, err
		}
		rc, err := rcs.On(topic, nil)
		if err == nil {
			err = rc.Err
		}
		if err != nil {
			return 0, err
		}
		for _, c := range rc.Configs {
			if c.Key == "max.message.bytes" {
				return strconv.ParseInt(c.MaybeValue(), 10, 32)
			}
		}
		return 0, errors.New("max.message.bytes is not among its configs")
	}()
	if err != nil || limit <= 0 {
		if ctx.Err() == nil && !f.warned.Swap(true) {
			f.p.log.Warn("cannot describe the journal topic; the open entries of jobs are judged by Kafka only when they are written, after the jobs' rows are uploaded (logged once)",
				"topic", topic, "error", err)
		}
		return 0
	}
	f.limit.Store(limit)
	return limit
}

// recordWire returns r as it is written in a record batch of its own.
func recordWire(r *kgo.Record) []byte {
	rec := kmsg.Record{Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		rec.Headers = append(rec.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
	}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1) // with a length of 0, written in a byte
	return rec.AppendTo(nil)
}
