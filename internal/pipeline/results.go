package pipeline

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/reuse"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// Result is the outcome of one source event, published as the JSON value of
// a record on the success or the failure topic, keyed by the source
// record's key. Its field names are a contract other programs parse; see the
// README.
type Result struct {
	// Success is true when nothing failed: the row was written, or the
	// event needed no write (Status StatusSkipped).
	Success bool `json:"success"`
	// Status is StatusSuccess, StatusFailure or StatusSkipped. Set by the
	// pipeline when it publishes; empty in results read from before it
	// existed, where Success says success or failure.
	Status string `json:"status"`
	// SkipReason says why a skipped event needed no write; "" otherwise.
	SkipReason string  `json:"skipReason,omitempty"`
	Created    bool    `json:"created"`
	ID         *string `json:"id"` // Salesforce Id, or null
	Object     string  `json:"object"`
	Operation  string  `json:"operation"`
	ErrorCode  string  `json:"errorCode"` // Salesforce's errorCode or a BULKSTREAM_* code; "" on success
	Error      string  `json:"error"`     // the message; "" on success
	JobID      string  `json:"jobId"`     // the Bulk API job; "" when none ran
	Attempts   int     `json:"attempts"`  // jobs the event's row went through
	Source     Source  `json:"source"`
	// ReplayOf is the dead-letter record a replay sent the event from;
	// absent outside replays.
	ReplayOf *Source `json:"replayOf,omitempty"`
	// SourceTimestamp is the source record's timestamp, in milliseconds
	// since the Unix epoch (Kafka's); absent (0) when the record has none.
	SourceTimestamp int64 `json:"sourceTimestamp,omitempty"`
	// SourceHeaders are the source record's headers, in their order
	// (traceparent, correlation ids); absent when it has none.
	SourceHeaders []Header `json:"sourceHeaders,omitempty"`
}

// Header is a Kafka record header in a result. Its value is bytes; JSON
// writes it as a string (invalid UTF-8 as U+FFFD), Avro as bytes.
type Header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Source is the position of the event a result is about.
type Source struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// The statuses of a Result.
const (
	StatusSuccess = "success" // the row was written
	StatusFailure = "failure" // the event failed; see ErrorCode
	// StatusSkipped: the event needed no write (a Debezium tombstone
	// after its delete, a heartbeat or schema-change record): a result on
	// the success topic, no dead-letter copy.
	StatusSkipped = "skipped"
)

// status returns r's Status, from Success when it is not set.
func (r *Result) status() string {
	switch {
	case r.Status != "":
		return r.Status
	case r.Success:
		return StatusSuccess
	}
	return StatusFailure
}

// Error codes of failures that Bulkstream itself reports.
const (
	CodeDecode      = event.DecodeErrorCode    // the record could not be decoded
	CodeTooLarge    = "BULKSTREAM_TOO_LARGE"   // one change is larger than batch.max_bytes
	CodeNoResult    = "BULKSTREAM_NO_RESULT"   // Salesforce returned no result row for the event
	CodeUnprocessed = "BULKSTREAM_UNPROCESSED" // Salesforce did not process the row
	// CodeSchemaRegistry: the record's schema could not be had from the
	// schema registry (it was down, or does not know the id). The record
	// itself may be fine: replay it (connector replay --error-code
	// BULKSTREAM_SCHEMA_REGISTRY) once the registry is back.
	CodeSchemaRegistry = "BULKSTREAM_SCHEMA_REGISTRY"
	CodeNotFound       = "BULKSTREAM_NOT_FOUND" // a delete by external id names no record
	// CodeTruncated: a replay met a dead-letter copy that does not hold its
	// whole original record (see HeaderTruncated), and did not send it.
	// The original is in its source topic, at the position the copy's
	// __connect.errors.* headers give.
	CodeTruncated = "BULKSTREAM_TRUNCATED"
	// CodeBuffer: the change could not be written to its buffer's spill
	// file (a full or failing disk); the record is fine, replay it.
	CodeBuffer = "BULKSTREAM_BUFFER"
	// CodeJobFailed: the job failed for good with an error that carries
	// no Salesforce code (a refused upload after every attempt, an answer
	// that cannot be read); the message says what.
	CodeJobFailed = "BULKSTREAM_JOB_FAILED"
	// CodeJournalTooLarge: the job's open journal entry is larger than the
	// journal topic (its max.message.bytes) or the producer
	// (results.max_record_bytes) takes, so no job ran; the message names the
	// settings that mend it. Replay once mended.
	CodeJournalTooLarge = "BULKSTREAM_JOURNAL_TOO_LARGE"
)

// outcome is a Result waiting to be published, with what the dead-letter
// copy of a failure needs: the original record.
type outcome struct {
	result Result
	src    event.Source // the original record: key, value, headers, timestamp
}

func sourceOf(src *event.Source) Source {
	return Source{Topic: src.Topic, Partition: src.Partition, Offset: src.Offset}
}

// records returns the Kafka records that publish an outcome: the result on
// the success or failure topic and, for a failure, a dead-letter copy of the
// original record with Kafka Connect's error headers and Salesforce's. See
// recordWriter, which publish uses for a chunk of outcomes.
func (o *outcome) records(topics Topics, encode func(*Result) ([]byte, error), replay bool, limit int) ([]*kgo.Record, error) {
	w := recordWriter{topics: topics, encode: encode, replay: replay, limit: limit}
	return w.add(nil, o)
}

// recordWriter turns the outcomes of a chunk into their Kafka records,
// allocating for the chunk rather than for each event: the results come
// from a slab of records, a JSON value (encode nil: AppendJSON) is appended
// to a buffer shared with the values before it and handed out with its
// capacity cut to its length, so no value can grow into the next, and the
// Result being encoded is one the writer reuses. What add returns is the
// caller's and stays valid however the writer goes on; a writer is not safe
// for concurrent use.
type recordWriter struct {
	topics Topics
	encode func(*Result) ([]byte, error) // nil: AppendJSON into values
	replay bool
	limit  int

	json     jsonMiddles  // AppendJSON's work, shared by the chunk's values
	res      Result       // the result being encoded
	replayOf Source       // its ReplayOf, in a replay
	headers  []Header     // its SourceHeaders
	slab     []kgo.Record // records to hand out, from len on
	values   []byte       // JSON values, handed out up to len
	left     int          // results still to come, which sizes the slabs
	arena    *recordArena // where slabs and value buffers come from; nil: new ones
	// now is the timestamp of the result records, one clock reading a
	// chunk; zero: franz-go reads the clock for each record as it
	// produces it.
	now time.Time
}

// Sizes of a recordWriter's JSON values: they are appended to buffers of
// room for the results still to come at valueGuess bytes each (a success
// is about 260 bytes), of at most valueSlab bytes, a new one started when
// less than valueRoom is left.
const (
	valueGuess = 320
	valueSlab  = 64 << 10
	valueRoom  = 1 << 10
)

// add appends to out the records that publish o: the result on the success
// or failure topic and, for a failure, a dead-letter copy of the original
// record with Kafka Connect's error headers and Salesforce's. The error
// message is cut (cutMessage); a dead-letter copy larger than limit
// (recordSize) is cut to fit (see deadLetter).
//
// In a replay (replay), o.src is a dead-letter copy: the result names the
// original position as its source and the copy's as replayOf, and a new
// dead-letter copy is made of the original record. A replayed copy that was
// truncated fails with CodeTruncated: the routes' decoders refuse it (see
// refuseTruncated and decodeErrorCode), so no other outcome can come of it.
func (w *recordWriter) add(out []*kgo.Record, o *outcome) ([]*kgo.Record, error) {
	res, src := &w.res, &o.src
	*res = o.result
	if w.replay {
		if orig, _, ok := DeadLetterOrigin(&o.src); ok {
			w.replayOf = sourceOf(&o.src)
			res.ReplayOf, res.Source, src = &w.replayOf, sourceOf(&orig), &orig
		}
	}
	res.Error = cutMessage(res.Error, w.limit)
	res.Status = res.status()
	if !src.Timestamp.IsZero() {
		res.SourceTimestamp = src.Timestamp.UnixMilli()
	}
	if len(src.Headers) > 0 {
		w.headers = append(w.headers[:0], res.SourceHeaders...)
		for _, h := range src.Headers {
			w.headers = append(w.headers, Header{Key: h.Key, Value: string(h.Value)})
		}
		res.SourceHeaders = w.headers
	}
	value, err := w.value(res)
	if err == nil && len(res.SourceHeaders) > 0 && len(src.Key)+len(value) > w.limit {
		res.SourceHeaders = nil // headers that crowd the result out are the dead-letter copy's to keep
		value, err = w.value(res)
	}
	if err != nil {
		return out, fmt.Errorf("encode result: %w", err)
	}
	topic := w.topics.Success
	if !res.Success {
		topic = w.topics.Failure
	}
	r := w.record()
	r.Topic, r.Key, r.Value, r.Timestamp = topic, src.Key, value, w.now
	if recordSize(r) > w.limit { // a key of about the limit on its own
		if small := w.topics.reduced(r); small != nil {
			r = small
		}
	}
	out = append(out, r)
	if res.Success || w.topics.DeadLetter == "" {
		return out, nil
	}
	return append(out, deadLetter(w.topics, src, res, w.limit)), nil
}

// value encodes r with the writer's encoder, or appends its JSON to the
// values buffer.
func (w *recordWriter) value(r *Result) ([]byte, error) {
	if w.encode != nil {
		return w.encode(r)
	}
	if cap(w.values)-len(w.values) < valueRoom {
		w.values = w.arena.valueBuffer(min(max(w.left*valueGuess, valueRoom), valueSlab))
	}
	start := len(w.values)
	w.values = w.json.append(w.values, r)
	return w.values[start:len(w.values):len(w.values)], nil
}

// record returns a zero record from the slab, starting a new slab for the
// results still to come when it is used up (never growing it, which would
// move the records handed out).
func (w *recordWriter) record() *kgo.Record {
	if len(w.slab) == cap(w.slab) {
		w.slab = w.arena.recordSlab(max(w.left, 1))
	}
	w.left--
	w.slab = w.slab[:len(w.slab)+1]
	return &w.slab[len(w.slab)-1]
}

// recordArena is the memory of the records that one produce call makes
// (values and record slabs, see recordWriter), which the next call that
// takes the arena reuses: a chunk's results were a quarter of what a run
// of upserts allocated. It is reused only once the call that filled it has
// returned, after ProduceSync has returned, when franz-go keeps no
// reference to the records (it fails a record of an idempotent producer
// only once its request is answered, and serialises it when it sends it).
// An arena is handed out by recordArenas; it is not safe for concurrent
// use.
type recordArena struct {
	values [][]byte       // buffers of valueSlab bytes
	slabs  [][]kgo.Record // of arenaSlab records
	nv, ns int            // buffers and slabs handed out since reset
}

// arenaSlab is the number of records of an arena's slab.
const arenaSlab = 512

// valueBuffer returns an empty buffer of room for n bytes or more.
func (a *recordArena) valueBuffer(n int) []byte {
	if a == nil {
		return make([]byte, 0, n)
	}
	if a.nv == len(a.values) {
		a.values = append(a.values, make([]byte, 0, valueSlab))
	}
	a.nv++
	return a.values[a.nv-1][:0]
}

// recordSlab returns an empty slice of room for up to n records.
func (a *recordArena) recordSlab(n int) []kgo.Record {
	if a == nil {
		return make([]kgo.Record, 0, n)
	}
	if a.ns == len(a.slabs) {
		a.slabs = append(a.slabs, make([]kgo.Record, arenaSlab))
	}
	a.ns++
	return a.slabs[a.ns-1][:0]
}

// reset makes the arena's memory free to hand out again, the records
// cleared so that they keep nothing alive.
func (a *recordArena) reset() {
	for _, slab := range a.slabs[:a.ns] {
		clear(slab)
	}
	a.nv, a.ns = 0, 0
}

// bytes is about what the arena holds.
func (a *recordArena) bytes() int {
	return len(a.values)*valueSlab + len(a.slabs)*arenaSlab*int(unsafe.Sizeof(kgo.Record{}))
}

// recordArenas keeps the arenas that produce calls return, at most
// keptArenas of at most arenaMax bytes each, for the next calls of any
// goroutine; more and larger are left to the garbage collector, so memory
// stays bounded. It is a reuse.Spares, made with keptArenas as capacity.
type recordArenas reuse.Spares[*recordArena]

const (
	keptArenas = 2
	arenaMax   = 8 << 20
)

// get returns the arena kept longest, or a new one when none is kept.
func (ra recordArenas) get() *recordArena {
	if a, ok := reuse.Spares[*recordArena](ra).Get(); ok {
		return a
	}
	return new(recordArena)
}

// put keeps a once reset (its records cleared), unless it is larger than
// arenaMax or keptArenas are kept already.
func (ra recordArenas) put(a *recordArena) {
	a.reset()
	if a.bytes() > arenaMax {
		return
	}
	reuse.Spares[*recordArena](ra).Put(a)
}

// Headers of a dead-letter copy that does not hold its whole original
// record, because the copy would have been larger than the limit on the
// records Bulkstream produces (Options.MaxRecordBytes), or its topic
// refused it as too large. A replay refuses such a copy (CodeTruncated).
const (
	// HeaderTruncated says what the copy lacks: TruncatedValue or
	// TruncatedReference.
	HeaderTruncated = "bulkstream.truncated"
	// HeaderOriginalSize is the size in bytes of the original record's
	// value, in decimal.
	HeaderOriginalSize = "bulkstream.original.size"

	// TruncatedValue: the value is cut to its first bytes; the key and
	// the original headers are whole.
	TruncatedValue = "value"
	// TruncatedReference: the copy has no key, no value and none of the
	// original headers: only the headers about the failure, which give the
	// original record's position in its source topic.
	TruncatedReference = "reference"
)

// Sizes of the records Bulkstream produces.
const (
	// RecordOverhead is what a record batch of a single record takes
	// beyond the record's size as recordSize counts it: the batch header
	// (61 bytes, among them the offset and length that max.message.bytes
	// counts) and the record's own length prefixes and deltas (at most 40),
	// rounded up to 1 KiB. A topic whose max.message.bytes, and a producer
	// whose kgo.ProducerBatchMaxBytes, is MaxRecordBytes+RecordOverhead
	// takes every record of MaxRecordBytes.
	RecordOverhead = 1024
	// DefaultMaxRecordBytes is the default Options.MaxRecordBytes: Kafka's
	// default max.message.bytes (1048588) less RecordOverhead, so that the
	// result topics are created with Kafka's default.
	DefaultMaxRecordBytes = 1048588 - RecordOverhead

	// maxMessageBytes bounds an error message in a result and in the
	// __connect.errors.exception.message header, or an eighth of the
	// record limit if that is less (see cutMessage). Salesforce's messages
	// are short; a message that quotes a value (a decode error, or
	// STRING_TOO_LONG in some orgs) may not be.
	maxMessageBytes = 8 << 10
)

// recordSize is the size of r that Options.MaxRecordBytes bounds: its key,
// its value and its headers, each header counted with 10 bytes more for its
// two length prefixes (varints of at most 5 bytes).
func recordSize(r *kgo.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value) + 2*binary.MaxVarintLen32
	}
	return n
}

// cutMessage returns message cut, at a character boundary and ending in "…"
// when cut, to at most maxMessageBytes bytes or an eighth of limit, the
// record limit, if that is less: JSON writes a byte of the message as up to
// six (a control character or invalid UTF-8 as \u0001 or \ufffd), so the
// encoded result still fits the limit (at least 16 KiB in a configuration).
func cutMessage(message string, limit int) string {
	most := min(maxMessageBytes, limit/8)
	if len(message) <= most {
		return message
	}
	const ellipsis = "…"
	n := max(most-len(ellipsis), 0)
	for n > 0 && !utf8.RuneStart(message[n]) {
		n--
	}
	return message[:n] + ellipsis
}

// Kafka Connect's stages (__connect.errors.stage) of a dead-letter copy:
// a record that could not be read, or one the Bulk API job failed.
const (
	StageConverter = "VALUE_CONVERTER"
	StageTaskPut   = "TASK_PUT"
)

// failureKind returns what a dead-letter copy's __connect.errors.stage,
// .class.name and .exception.class.name say of a failure with code: the
// decoder refused the record (or could not have its schema), Bulkstream
// refused it, or Salesforce did.
func failureKind(code string) (stage, class, exception string) {
	switch code {
	case CodeDecode, CodeSchemaRegistry, CodeTruncated:
		return StageConverter, "github.com/bulkstream/bulkstream/pkg/event.Decoder", "io.bulkstream.DecodeError"
	case CodeTooLarge, CodeBuffer, CodeNoResult, CodeUnprocessed, CodeNotFound, CodeJobFailed, CodeJournalTooLarge:
		return StageTaskPut, "github.com/bulkstream/bulkstream/internal/pipeline.Pipeline", "io.bulkstream.BulkstreamError"
	}
	return StageTaskPut, "github.com/bulkstream/bulkstream/pkg/bulk.Client", "io.bulkstream.SalesforceError"
}

// deadLetter returns the dead-letter copy of src, which failed with res, for
// topics.DeadLetter: its key, value, headers and timestamp, plus the headers
// about the failure, Kafka Connect's full set (topics.Connector and
// topics.Task name the connector) and Salesforce's. A copy larger than limit
// has its value cut to fit (TruncatedValue) or, when its key and headers
// alone leave no room, becomes a reference (TruncatedReference);
// HeaderTruncated and HeaderOriginalSize say so.
func deadLetter(topics Topics, src *event.Source, res *Result, limit int) *kgo.Record {
	message := res.Error
	if res.ErrorCode != "" {
		message = res.ErrorCode + ": " + res.Error
	}
	message = cutMessage(message, limit)
	stage, class, exception := failureKind(res.ErrorCode)
	const failureHeaders = 12
	r := &kgo.Record{Topic: topics.DeadLetter, Key: src.Key, Value: src.Value, Timestamp: src.Timestamp,
		Headers: make([]kgo.RecordHeader, len(src.Headers), len(src.Headers)+failureHeaders)}
	for i, h := range src.Headers {
		r.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
	}
	// The values of the headers about the failure share one buffer, each
	// capped at its length.
	v := headerValues{b: make([]byte, 0, 2*len(message)+len(src.Topic)+len(topics.Connector)+len(topics.Task)+
		2*(len(stage)+len(class)+len(exception))+len(res.ErrorCode)+2*len(res.JobID)+96)}
	v.add(r, "__connect.errors.topic", append(v.b, src.Topic...))
	v.add(r, "__connect.errors.partition", strconv.AppendInt(v.b, int64(src.Partition), 10))
	v.add(r, "__connect.errors.offset", strconv.AppendInt(v.b, src.Offset, 10))
	v.add(r, "__connect.errors.connector.name", append(v.b, topics.Connector...))
	v.add(r, "__connect.errors.task.id", append(v.b, topics.Task...))
	v.add(r, "__connect.errors.stage", append(v.b, stage...))
	v.add(r, "__connect.errors.class.name", append(v.b, class...))
	v.add(r, "__connect.errors.exception.class.name", append(v.b, exception...))
	v.add(r, "__connect.errors.exception.message", append(v.b, message...))
	// Go errors carry no stack: the trace says where the event failed.
	trace := append(append(append(v.b, exception...), ": "...), message...)
	trace = append(append(append(append(append(trace, "\n\tat "...), stage...), " ("...), class...), ')')
	if res.JobID != "" {
		trace = append(append(append(trace, "\n\tin Bulk API job "...), res.JobID...), ", attempt "...)
		trace = strconv.AppendInt(trace, int64(res.Attempts), 10)
	}
	v.add(r, "__connect.errors.exception.stacktrace", trace)
	v.add(r, "sf.error.code", append(v.b, res.ErrorCode...))
	v.add(r, "sf.job.id", append(v.b, res.JobID...))
	if recordSize(r) <= limit {
		return r
	}
	cut := truncated(r, TruncatedValue)
	if room := limit - (recordSize(cut) - len(cut.Value)); room >= 0 {
		cut.Value = cut.Value[:min(room, len(cut.Value))]
		return cut
	}
	return truncated(r, TruncatedReference)
}

// headerValues is a buffer that header values are appended to.
type headerValues struct{ b []byte }

// add adds to r a header whose value is what b, v.b with a value appended
// (in the same array or, grown, a new one), holds past v.b, and keeps b.
func (v *headerValues) add(r *kgo.Record, key string, b []byte) {
	start := len(v.b)
	v.b = b
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: key, Value: b[start:len(b):len(b)]})
}

// truncated returns a copy of the dead-letter record r marked as lacking
// part of its original record (what: TruncatedValue or TruncatedReference):
// with its key, value and original headers for TruncatedValue, only the
// headers about the failure for TruncatedReference. The original size is
// the one r's HeaderOriginalSize gives, if r was cut already (a replay's new
// copy), else the size of r's value.
func truncated(r *kgo.Record, what string) *kgo.Record {
	size := strconv.Itoa(len(r.Value))
	out := &kgo.Record{Topic: r.Topic, Timestamp: r.Timestamp}
	if what == TruncatedValue {
		out.Key, out.Value = r.Key, r.Value
	}
	for _, h := range r.Headers {
		switch {
		case h.Key == HeaderOriginalSize:
			size = string(h.Value)
		case h.Key == HeaderTruncated:
		case what == TruncatedValue || deadLetterHeaders.MatchString(h.Key):
			out.Headers = append(out.Headers, h)
		}
	}
	out.Headers = append(out.Headers,
		kgo.RecordHeader{Key: HeaderTruncated, Value: []byte(what)},
		kgo.RecordHeader{Key: HeaderOriginalSize, Value: []byte(size)})
	return out
}

// reduced returns the smallest form of a record that a topic (or the
// producer's batch limit) refused as too large: a dead-letter copy becomes a
// reference (TruncatedReference), a result loses its key (the result's
// source still names the event). It returns nil when r has no smaller form:
// a reference already, a result without a key, a journal entry.
func (t Topics) reduced(r *kgo.Record) *kgo.Record {
	switch {
	case r.Topic == t.DeadLetter && deadLetterCopy(r):
		if ref := truncated(r, TruncatedReference); recordSize(ref) < recordSize(r) {
			return ref
		}
	case (r.Topic == t.Success || r.Topic == t.Failure) && len(r.Key) > 0:
		return &kgo.Record{Topic: r.Topic, Value: r.Value, Timestamp: r.Timestamp}
	}
	return nil
}

// deadLetterCopy reports whether r has the headers of a dead-letter copy.
func deadLetterCopy(r *kgo.Record) bool {
	for _, h := range r.Headers {
		if h.Key == "__connect.errors.offset" {
			return true
		}
	}
	return false
}

// Topics are the topics results go to, and the names a dead-letter copy
// gives its connector.
type Topics struct {
	Success    string
	Failure    string
	DeadLetter string // "" disables dead-letter copies
	// Connector and Task are the __connect.errors.connector.name and
	// .task.id headers of dead-letter copies: the connector's and this
	// instance's names (the consumer group, and kafka.instance_id or "0",
	// in connector run; by default Options.Group and "0").
	Connector, Task string
}
