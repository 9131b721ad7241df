package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulkstream/bulkstream/internal/reuse"
	"github.com/bulkstream/bulkstream/internal/words"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// Key says which buffer a change goes into: one buffer, and so one Bulk
// API job, per object, operation and external id field.
type Key struct {
	Object          string
	Operation       event.Operation
	ExternalIDField string
}

func (k Key) String() string {
	if k.ExternalIDField == "" {
		return k.Object + "/" + string(k.Operation)
	}
	return k.Object + "/" + string(k.Operation) + "/" + k.ExternalIDField
}

// KeyOf returns the buffer key of a change. The external id field counts
// for upserts, where it is a property of the job, and for deletes by
// external id, whose buffer the pipeline resolves to Ids before its job
// (event.Change.ByExternalID); deletes by Id keep a buffer of their own.
func KeyOf(c *event.Change) Key {
	k := Key{Object: c.Object, Operation: c.Operation}
	if c.Operation == event.Upsert || c.ByExternalID() {
		k.ExternalIDField = c.ExternalIDField
	}
	return k
}

// Reason says which trigger sealed a buffer.
type Reason string

// The triggers of a roll-over.
const (
	ReasonBytes    Reason = "bytes"    // the next change would pass MaxBytes
	ReasonRecords  Reason = "records"  // the next change would pass MaxRecords
	ReasonAge      Reason = "age"      // the buffer is older than MaxAge
	ReasonShutdown Reason = "shutdown" // the pipeline is stopping
	ReasonRevoke   Reason = "revoke"   // a partition was revoked (flush rather than drop)
	// ReasonDependency: a change to one of the buffer's records came for
	// another buffer; this one goes first so the record's changes stay in
	// source order.
	ReasonDependency Reason = "dependency"
	// ReasonRetry: the buffer holds rows of a job to try again.
	ReasonRetry Reason = "retry"
	// ReasonResume: the buffer gathers the events of a job that ran before
	// a crash or a rebalance, to match its results to them.
	ReasonResume Reason = "resume"
	// ReasonMemory: the events in flight reached the pipeline's memory
	// budget, so fetching stopped, and the open buffers go to jobs rather
	// than wait for MaxAge while nothing new can join them; or the buffer
	// holds its share of the budget (a quarter), so that jobs take turns
	// with it instead of one job taking it all.
	ReasonMemory Reason = "memory"
	// ReasonCaughtUp: the consumer read to the end of a backlog, and the
	// open buffers are its tail (see pipeline's lag).
	ReasonCaughtUp Reason = "caught_up"
)

var (
	// errFull means the change does not fit and the buffer must roll over
	// first; Batcher handles it.
	errFull = errors.New("buffer full")
	// ErrTooLarge is a single change that is larger than MaxBytes on its
	// own; it can never be uploaded.
	ErrTooLarge = errors.New("change larger than the batch byte limit")
)

// Event is one source event in a buffer: its Kafka position, the row it
// was folded into, and where its data lies in the buffer's store. It holds
// no pointer (its topic is a number, see Topic), so a buffer's events,
// hundreds of thousands in flight, are memory the garbage collector
// neither scans nor guards with write barriers while it marks.
type Event struct {
	topic     uint32 // in topicNames
	Partition int32
	Offset    int64
	Row       int // index into Buffer.Rows

	off int64 // in the store
	n   int
}

// Topic is the event's topic.
func (e *Event) Topic() string {
	return (*topicNames.chunks.Load())[e.topic/topicChunk][e.topic%topicChunk]
}

// topicChunk is how many names a chunk of topicNames holds.
const topicChunk = 1024

// topicNames numbers the topics of events for Event, in the order they
// were first seen, and never forgets one: a buffer's events may hold any
// number given out. Batchers add to it, anything reads it.
//
// Its memory grows with the distinct topics the process has seen, not
// with the events, and is not given back until the process restarts: each
// topic keeps its name (at most 249 bytes, Kafka's limit) and about 100
// bytes of slot and map entry. A topic_regex route over many short-lived
// topics so costs about 36 MB a 100,000 topics of the longest names, 16 MB
// a 100,000 of 50 bytes. Numbering a new topic costs the same however many
// came before: names are kept in chunks of topicChunk that never move, and
// only the list of chunks (8 bytes a chunk) is copied, once a chunk: 4 MB
// copied in all over a million topics.
//
// chunks is replaced only under mu, and a name is written only under mu
// and into a slot no number yet names, so reads take no lock: whoever
// holds a number got it after its name was written.
var topicNames struct {
	mu     sync.Mutex
	number map[string]uint32
	chunks atomic.Pointer[[]*[topicChunk]string]
}

func init() {
	topicNames.number = map[string]uint32{}
	topicNames.chunks.Store(new([]*[topicChunk]string))
}

// topicNumber is the number of topic in topicNames, given it if new.
func topicNumber(topic string) uint32 {
	topicNames.mu.Lock()
	defer topicNames.mu.Unlock()
	if n, ok := topicNames.number[topic]; ok {
		return n
	}
	n := uint32(len(topicNames.number))
	if n%topicChunk == 0 {
		chunks := append(slices.Clip(*topicNames.chunks.Load()), new([topicChunk]string))
		topicNames.chunks.Store(&chunks)
	}
	// A copy, so that the table keeps the name and not the record it may
	// have been cut from.
	topic = strings.Clone(topic)
	(*topicNames.chunks.Load())[n/topicChunk][n%topicChunk] = topic
	topicNames.number[topic] = n
	return n
}

// Row is one CSV row of the upload: one Salesforce record, with every event
// folded into it in arrival order. The row's outcome is the outcome of each
// of its events.
type Row struct {
	RecordKey string // event.Change.RecordKey; "" for a plain insert
	// Identity names the Salesforce record across operations (an update
	// by Id and an upsert by external id of one record share it), as the
	// caller resolved it when the row's first event came, or the first
	// that came with one; "" when unknown.
	// The pipeline orders jobs by it.
	Identity string
	Events   []int // indexes into Buffer.Events, in arrival order
}

// Buffer collects the changes of one Key into the rows of one CSV upload.
// Changes to the same record are coalesced into one row, later fields over
// earlier ones, because Salesforce processes a job's rows in parallel and
// two rows of one record would race. A buffer is owned by one goroutine.
type Buffer struct {
	Key    Key
	Opened time.Time
	Reason Reason // set when sealed
	Rows   []Row
	Events []Event

	policy   Policy
	columns  []string // header, in first-seen spelling
	header   int64    // CSV bytes of the header, with its delimiters and line break
	fieldCol []int    // add's scratch: the column of each field, -1 for a new one
	// fieldFlags is add's scratch: the flags of each field's entry
	// (fieldNull, fieldQuoted).
	fieldFlags []byte
	// lastNames are the field names of the last change added, whose
	// columns fieldCol still holds: a change naming the same fields in the
	// same order, as most of a stream's do, finds them without a lookup.
	lastNames []string
	// lastTopic is the topic of the last change added, numbered lastTopicN
	// (see topicNumber) when topicKnown.
	lastTopic  string
	lastTopicN uint32
	topicKnown bool
	colIndex   map[string]int // lower-case column name → index
	colExact   map[string]int // column name as events spell it → index (saves folding case per field)
	records    recordIndex    // RecordKey → row
	store      *store
	entry      []byte // add's scratch: the entry of a change (see appendSource)
	// valueBytes bounds the CSV bytes of all rows without delimiters: the
	// escaped values of every event plus a line break per row. Coalesced
	// rows count every event's values, so the estimate errs on the large
	// side, which is the safe side of an upload limit.
	valueBytes int64
	sealed     bool
	matcher    *matcher // built by WriteCSV
	// parents are the identities of the records that rows of the buffer
	// refer to as their parents (an Account that a Contact names); nil
	// when none does.
	parents map[string]struct{}
	// parentCols are the columns that refer to parent records, as the
	// caller knows them (SetParentColumns); nil: told by their names.
	parentCols []string
	// aliases are identities that changes folded into a row came with
	// other than the row's Identity (see alias); the batcher's holder
	// names the buffer by them too.
	aliases []string
	// identities and parentList memoise Identities and Parents once the
	// buffer is sealed.
	identities, parentList []string
	memoised               bool
	eventSlab              []int // see rowEvents
}

// newBuffer returns an open buffer with room for size.
func newBuffer(k Key, p Policy, now time.Time, size bufferSize) *Buffer {
	b := &Buffer{Key: k, Opened: now, policy: p, colIndex: map[string]int{}, colExact: map[string]int{},
		store: newStore(p.SpillThreshold, p.SpillDir)}
	if s, ok := spares.Get(); ok && fits(cap(s.rows), size.rows) && fits(cap(s.events), size.events) {
		b.Rows, b.Events, b.records = s.rows, s.events, s.records
		return b
	}
	b.Rows, b.Events, b.records = make([]Row, 0, size.rows), make([]Event, 0, size.events), newRecordIndex(size.records)
	return b
}

// spare is what a closed buffer leaves for a new one: its rows, events and
// record index, emptied and cleared.
type spare struct {
	rows    []Row
	events  []Event
	records recordIndex
}

// spares holds up to two spares, for any batcher's goroutine: making them
// anew was a fifth of what the pipeline allocated in a run of upserts
// (rows, events and map of 30,000-row buffers, about 6 MB a buffer). A new
// buffer takes the one kept longest, and uses it if it fits its size; one
// that does not fit is dropped, as is a spare that finds two kept.
var spares = make(reuse.Spares[spare], 2)

// fits reports whether a spare's capacity c suits a need of n: enough,
// and not so much more that a small buffer (of a lull) keeps a large one's
// memory. A need is a guess a quarter above the last buffer's size (see
// withRoom): a spare as large as that size is enough, as the buffer grows it
// only if it holds more. Requiring all of n, a spare failed one new buffer
// in three in the end-to-end benchmark (buffers sealed by the memory
// budget vary by a few percent), and that buffer was made anew.
func fits(c, n int) bool { return c >= n-n/5 && c <= 2*n+1024 }

// recycle empties b into spares (if there is room), cleared so that a
// spare keeps no record key, identity or row alive; b has no rows and no
// events after it.
func (b *Buffer) recycle() {
	if b.Rows == nil || b.Events == nil {
		return
	}
	clear(b.Rows)
	clear(b.Events)
	b.records.reset()
	spares.Put(spare{b.Rows[:0], b.Events[:0], b.records})
	b.Rows, b.Events, b.records = nil, nil, recordIndex{}
}

// bufferSize is the size of a buffer: its rows, its events and the records
// it coalesces changes by.
type bufferSize struct{ rows, events, records int }

func (b *Buffer) size() bufferSize { return bufferSize{len(b.Rows), len(b.Events), b.records.n} }

// withRoom is s and a quarter more, rows and records no more than
// maxRows.
func (s bufferSize) withRoom(maxRows int) bufferSize {
	return bufferSize{min(s.rows+s.rows/4, maxRows), s.events + s.events/4, min(s.records+s.records/4, maxRows)}
}

// Size returns an upper bound of the CSV upload's bytes.
func (b *Buffer) Size() int64 {
	return csvSize(b.header, b.valueBytes, len(b.Rows), len(b.columns))
}

// csvSize is the size of a CSV file: its header, its values and line
// breaks, and a delimiter between every two columns of every row.
func csvSize(header, values int64, rows, cols int) int64 {
	return header + values + int64(rows)*int64(max(cols-1, 0))
}

// Columns returns the CSV header: the union of the fields of the rows.
func (b *Buffer) Columns() []string { return b.columns }

// Spilled reports whether the buffer's data went to a temporary file.
func (b *Buffer) Spilled() bool { return b.store.spilled() }

// add folds c into the buffer. It returns errFull, leaving the buffer as
// it was, when c would pass a limit of a non-empty buffer, and ErrTooLarge
// when c alone passes MaxBytes.
func (b *Buffer) add(c *event.Change, rk, identity string) error {
	if b.sealed {
		return fmt.Errorf("add to a sealed buffer %s", b.Key)
	}
	indexed := rk != "" && !b.policy.DisableCoalescing
	var row int
	var coalesce bool
	var at probe
	if indexed {
		row, coalesce, at = b.records.find(b.Rows, rk)
	}
	var headerGrowth, valueGrowth int64
	cols, texts := len(b.columns), 0
	same := sameNames(c.Fields, b.lastNames)
	if !same {
		b.fieldCol, b.lastNames = b.fieldCol[:0], b.lastNames[:0]
	}
	b.fieldFlags = b.fieldFlags[:0]
	for _, f := range c.Fields {
		texts += len(f.Value.Text)
		// The cell's length is csvLen's, taken apart so that the call a
		// field is needsQuotes alone.
		flags, n := byte(fieldNull), len(na)
		if !f.Value.Null {
			flags, n = 0, len(f.Value.Text)
			if needsQuotes(f.Value.Text) {
				flags, n = fieldQuoted, quotedLen(f.Value.Text)
			}
		}
		valueGrowth += int64(n)
		b.fieldFlags = append(b.fieldFlags, flags)
		if same {
			continue
		}
		col, ok := b.lookupColumn(f.Name)
		if !ok {
			col = -1
			cols++
			headerGrowth += int64(csvLen(f.Name)) + 1
		}
		b.fieldCol = append(b.fieldCol, col)
	}
	rows := len(b.Rows)
	if !coalesce {
		rows++
		valueGrowth++ // line break
	}
	if csvSize(b.header+headerGrowth, b.valueBytes+valueGrowth, rows, cols) > b.policy.MaxBytes {
		if len(b.Events) == 0 {
			return ErrTooLarge
		}
		return errFull
	}
	if !coalesce && len(b.Rows) >= b.policy.MaxRecords {
		return errFull
	}

	// The entry is written into the store's last block when it has room,
	// rather than into b.entry and copied there. Its bound counts every
	// number at its longest: 2 before the fields, 2 and a flag byte a
	// field, the source's, and the 4 bytes of the fields' size.
	bound := 2*binary.MaxVarintLen64 + len(c.Fields)*(2*binary.MaxVarintLen64+1) + texts + sourceBound(&c.Source) + 4
	part := b.store.tail(bound)
	scratch := part == nil
	if scratch {
		part = b.entry[:0]
	}
	part = binary.AppendUvarint(part, uint64(len(c.Fields)))
	part = binary.AppendUvarint(part, uint64(texts)) // for Change to make one string of them
	for k, f := range c.Fields {
		col := b.fieldCol[k]
		if col < 0 {
			col = b.column(f.Name)
			b.fieldCol[k] = col
		}
		// A column and a length below 128, nearly all, are a byte each
		// (as fold reads them): written with the flags in one append,
		// not three.
		if text := f.Value.Text; col < 0x80 && len(text) < 0x80 {
			part = append(append(part, byte(col), b.fieldFlags[k], byte(len(text))), text...)
		} else {
			part = binary.AppendUvarint(part, uint64(col))
			part = append(part, b.fieldFlags[k])
			part = appendString(part, text)
		}
	}
	fields := len(part)
	part = appendSource(part, &c.Source)
	part = binary.LittleEndian.AppendUint32(part, uint32(fields))
	if scratch {
		b.entry = part[:0] // kept as grown
	}
	off, err := b.store.appendTail(part)
	if err != nil {
		return err
	}
	if !coalesce {
		row = len(b.Rows)
		b.Rows = append(b.Rows, Row{RecordKey: rk, Identity: identity})
		if indexed {
			b.records.put(at, row)
		}
	} else if r := &b.Rows[row]; identity != "" && r.Identity != identity {
		b.alias(r, identity)
	}
	b.valueBytes += valueGrowth
	if r := &b.Rows[row]; r.Events == nil {
		r.Events = b.rowEvents(len(b.Events))
	} else {
		r.Events = append(r.Events, len(b.Events))
	}
	if !b.topicKnown || c.Source.Topic != b.lastTopic {
		b.lastTopic, b.lastTopicN, b.topicKnown = c.Source.Topic, topicNumber(c.Source.Topic), true
	}
	b.Events = append(b.Events, Event{topic: b.lastTopicN, Partition: c.Source.Partition, Offset: c.Source.Offset, Row: row, off: off, n: len(part)})
	if !same {
		for _, f := range c.Fields {
			// A copy: the name is cut from the event's value, which it
			// would keep alive, outside the memory budget.
			b.lastNames = append(b.lastNames, strings.Clone(f.Name))
		}
	}
	return nil
}

// sameNames reports whether fields are named names, in order, as a loop
// of == would. add asks it of every change, and a name of the change is
// never the same string as the one kept (see lastNames), so == would call
// the runtime's memequal once a field, about 30 instructions for a name of
// 4 to 17 bytes; this compares in line: 8 bytes at a time (the last word
// overlapping the one before), two overlapping 4-byte words for 4 to 7
// bytes, and the first, middle and last byte, which are all of them, below 4.
func sameNames(fields []event.Field, names []string) bool {
	if len(fields) != len(names) {
		return false
	}
	for k := range fields {
		a, b := fields[k].Name, names[k]
		n := len(a)
		if n != len(b) {
			return false
		}
		switch {
		case n >= 8:
			for i := 0; i < n-8; i += 8 {
				if words.LE64(a[i:]) != words.LE64(b[i:]) {
					return false
				}
			}
			if words.LE64(a[n-8:]) != words.LE64(b[n-8:]) {
				return false
			}
		case n >= 4:
			if words.LE32(a) != words.LE32(b) || words.LE32(a[n-4:]) != words.LE32(b[n-4:]) {
				return false
			}
		case n > 0:
			if a[0] != b[0] || a[n/2] != b[n/2] || a[n-1] != b[n-1] {
				return false
			}
		}
	}
	return true
}

// column returns the index of the column name (Salesforce's field names
// are case-insensitive), adding it if it is new.
func (b *Buffer) column(name string) int {
	if i, ok := b.lookupColumn(name); ok {
		return i
	}
	b.columns = append(b.columns, name)
	b.header += int64(csvLen(name)) + 1
	i := len(b.columns) - 1
	b.colIndex[strings.ToLower(name)], b.colExact[name] = i, i
	return i
}

// lookupColumn finds the column name without folding its case when it is
// spelt as before, which is nearly always.
func (b *Buffer) lookupColumn(name string) (int, bool) {
	if i, ok := b.colExact[name]; ok {
		return i, true
	}
	i, ok := b.colIndex[strings.ToLower(name)]
	if ok {
		b.colExact[name] = i
	}
	return i, ok
}

// NewBuffer returns an open buffer outside any batcher, for gathering the
// events of a job to resume. Add changes with Add, then Seal it.
func NewBuffer(k Key, p Policy, now time.Time) *Buffer {
	p.MaxBytes, p.MaxRecords = math.MaxInt64, math.MaxInt
	return newBuffer(k, p, now, bufferSize{})
}

// Add folds c into a buffer made by NewBuffer.
func (b *Buffer) Add(c *event.Change, identity string) error {
	return b.add(c, c.RecordKey(), identity)
}

// rowEventsSlab is how many rows' first events share one allocation.
const rowEventsSlab = 1024

// rowEvents returns a new row's Events holding event i: a slice of one
// of a slab shared by many rows (its capacity capped at 1, so a row that
// coalesces a second event moves to a slice of its own), since most rows
// hold one event and an allocation each cost a tenth of batching.
func (b *Buffer) rowEvents(i int) []int {
	if len(b.eventSlab) == cap(b.eventSlab) {
		b.eventSlab = make([]int, 0, rowEventsSlab)
	}
	n := len(b.eventSlab)
	b.eventSlab = append(b.eventSlab, i)
	return b.eventSlab[n : n+1 : n+1]
}

// Parents returns the identities of the parent records that the buffer's
// rows refer to (see Batcher.AddReferring), in no particular order. The
// slice of a sealed buffer is made once and shared: do not change it.
func (b *Buffer) Parents() []string {
	b.memoise()
	return b.parentList
}

// alias notes identity, which a change folded into r came with, as r's
// record's: r's Identity when it had none (unknown when its first change
// came), one of the buffer's aliases when it had another (a record named by
// Id, whose external identity the caller learned between two changes).
func (b *Buffer) alias(r *Row, identity string) {
	if r.Identity == "" {
		r.Identity = identity
		return
	}
	if n := len(b.aliases); n == 0 || b.aliases[n-1] != identity {
		b.aliases = append(b.aliases, identity)
	}
}

// Identities returns the record identities of the buffer's rows (those
// not ""), in row order, then the other identities their records came
// with (see alias). The slice of a sealed buffer is made once and shared:
// do not change it.
func (b *Buffer) Identities() []string {
	b.memoise()
	return b.identities
}

// memoise makes the lists of a sealed buffer once; an open buffer's are
// made anew at each call.
func (b *Buffer) memoise() {
	if b.memoised {
		return
	}
	b.identities, b.parentList = make([]string, 0, len(b.Rows)+len(b.aliases)), nil
	for _, r := range b.Rows {
		if r.Identity != "" {
			b.identities = append(b.identities, r.Identity)
		}
	}
	b.identities = append(b.identities, b.aliases...)
	for id := range b.parents {
		b.parentList = append(b.parentList, id)
	}
	b.memoised = b.sealed
}

// SetParentColumns names the columns of b that refer to parent records
// (from the org's describe: custom lookups such as Customer__c among them),
// for Policy.ParentOrder's sort; without it, names decide (X.Y and …Id
// columns). Buffers that Retry makes from b keep them.
func (b *Buffer) SetParentColumns(cols []string) { b.parentCols = cols }

// referTo notes that rows of b refer to the parent records ids.
func (b *Buffer) referTo(ids []string) {
	if len(ids) == 0 {
		return
	}
	if b.parents == nil {
		b.parents = make(map[string]struct{}, len(ids))
	}
	for _, id := range ids {
		b.parents[id] = struct{}{}
	}
}

// referToAll notes that rows of b refer to every parent that rows of from
// do: a buffer rebuilt from some of from's rows may keep a parent it no
// longer needs, which only makes it wait longer, never run too early.
func (b *Buffer) referToAll(from *Buffer) {
	for id := range from.parents {
		b.referTo([]string{id})
	}
}

// Seal closes a buffer made by NewBuffer to changes.
func (b *Buffer) Seal(reason Reason) { b.sealed, b.Reason = true, reason }

// Change reads event i back from the store: its fields and its original
// Kafka record (key, value, headers, timestamp), as the pipeline needs them
// for dead-letter copies and for rebuilding a buffer.
func (b *Buffer) Change(i int) (*event.Change, error) {
	ev := b.Events[i]
	var scratch []byte
	data, err := b.store.read(ev.off, ev.n, &scratch)
	if err != nil {
		return nil, err
	}
	d := decoder{b: data}
	n, size := d.uvarint(), d.uvarint()
	if n > uint64(len(data)) || size > uint64(len(data)) {
		return nil, fmt.Errorf("corrupt buffer entry %d", i)
	}
	c := &event.Change{Object: b.Key.Object, Operation: b.Key.Operation, ExternalIDField: b.Key.ExternalIDField,
		Fields: make([]event.Field, 0, n)}
	// The texts of the fields are cut from one string: written into a
	// builder of their size, which never moves what it holds.
	var texts strings.Builder
	texts.Grow(int(size))
	for k := uint64(0); k < n; k++ {
		col := d.uvarint()
		null := d.byte()&fieldNull != 0
		p := d.bytes()
		texts.Write(p)
		all := texts.String()
		text := all[len(all)-len(p):]
		if d.err == nil && col >= uint64(len(b.columns)) {
			return nil, fmt.Errorf("corrupt buffer entry %d", i)
		}
		if d.err == nil {
			c.Fields = append(c.Fields, event.Field{Name: b.columns[col], Value: event.Value{Text: text, Null: null}})
		}
	}
	c.Source = event.Source{Topic: ev.Topic(), Partition: ev.Partition, Offset: ev.Offset}
	d.source(&c.Source, true)
	if d.err != nil {
		return nil, fmt.Errorf("corrupt buffer entry %d: %w", i, d.err)
	}
	return c, nil
}

// Source reads back the original Kafka record of event i (its key,
// headers and timestamp, and its value when value is true), without its
// fields: what a result needs, and a dead-letter copy the value too.
func (b *Buffer) Source(i int, value bool) (event.Source, error) {
	ev := b.Events[i]
	src := event.Source{Topic: ev.Topic(), Partition: ev.Partition, Offset: ev.Offset}
	var scratch []byte
	data, err := b.store.read(ev.off, ev.n, &scratch)
	if err != nil {
		return src, err
	}
	if len(data) < 4 || int(binary.LittleEndian.Uint32(data[len(data)-4:])) > len(data)-4 {
		return src, fmt.Errorf("corrupt buffer entry %d", i)
	}
	d := decoder{b: data[binary.LittleEndian.Uint32(data[len(data)-4:]) : len(data)-4]}
	d.source(&src, value)
	if d.err != nil {
		return src, fmt.Errorf("corrupt buffer entry %d: %w", i, d.err)
	}
	return src, nil
}

// Retry returns sealed buffers (ReasonRetry) with the given events of b,
// their rows kept whole and in order, at most maxRows rows each (all in one
// when maxRows <= 0). The caller owns them; b stays as it is.
func (b *Buffer) Retry(events []int, maxRows int) ([]*Buffer, error) {
	var out []*Buffer
	var cur *Buffer
	lastRow := -1
	for _, i := range events {
		row := b.Events[i].Row
		if cur == nil || (row != lastRow && maxRows > 0 && len(cur.Rows) >= maxRows) {
			cur = newBuffer(b.Key, b.policy, b.Opened, bufferSize{})
			cur.referToAll(b)
			cur.parentCols = b.parentCols
			cur.sealed, cur.Reason = true, ReasonRetry
			cur.policy.MaxBytes, cur.policy.MaxRecords = math.MaxInt64, math.MaxInt
			out = append(out, cur)
		}
		lastRow = row
		c, err := b.Change(i)
		if err == nil {
			cur.sealed = false
			err = cur.add(c, b.Rows[row].RecordKey, b.Rows[row].Identity)
			cur.sealed = true
		}
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, fmt.Errorf("rebuild rows to retry: %w", err)
		}
	}
	return out, nil
}

// Close releases the buffer's memory and temporary file. The buffer is
// unusable afterwards: it has no rows and no events, and Identities and
// Parents give what they gave before (see memoise).
func (b *Buffer) Close() error {
	b.memoise()
	b.memoised = true
	b.recycle()
	return b.store.close()
}

// The flags of a field in its entry in the store. add scans a value for
// the bytes that make its cell need quotes once, to bound the upload's
// size, and WriteCSV takes the answer from the flag instead of scanning
// every cell again.
const (
	fieldNull   = 1 << 0 // the value is null: its cell is #N/A
	fieldQuoted = 1 << 1 // the cell must be quoted (needsQuotes)
)

// csvLen is the length of v as a CSV cell: quoted, with quotes doubled,
// when it holds a delimiter, a quote or a line break.
func csvLen(v string) int {
	if !needsQuotes(v) {
		return len(v)
	}
	return quotedLen(v)
}

// quotedLen is the length of v as a quoted CSV cell, its quotes doubled.
func quotedLen(v string) int { return len(v) + 2 + strings.Count(v, `"`) }

// needsQuotes reports whether v holds a delimiter, a quote or a line break.
// add asks it of every value: it reads a value of 8 bytes or more a word
// of 8 at a time (quotedBytes), the last word overlapping the one before,
// one of 4 to 7 bytes as one word of two overlapping halves, and a shorter
// one byte by byte through the table (strings.ContainsAny costs more on
// short cells).
func needsQuotes(v string) bool {
	n := len(v)
	switch {
	case n < 4:
		for i := 0; i < n; i++ {
			if quoted[v[i]] {
				return true
			}
		}
		return false
	case n < 8:
		return quotedBytes(uint64(words.LE32(v))|uint64(words.LE32(v[n-4:]))<<32) != 0
	}
	for i := 0; i < n-8; i += 8 {
		if quotedBytes(words.LE64(v[i:])) != 0 {
			return true
		}
	}
	return quotedBytes(words.LE64(v[n-8:])) != 0
}

// quotedBytes returns 0 if none of the 8 bytes of w is one that quoted
// marks, else not 0. A byte equal to c is 0 in w ^ c*ones, and the only
// ASCII byte that taking 1 from makes 0x80 or more; the bytes that are not
// ASCII in w (&^ w) stay 0x80 or more after the XOR with an ASCII c and
// lose no more than 1, so they neither count nor borrow. A borrow from a 0
// may mark bytes above it as well, which changes nothing but which bytes
// are marked: never whether one is. TestQuotedBytesMatchesQuoted checks it
// against the table.
func quotedBytes(w uint64) uint64 {
	const ones, highs = words.Ones, words.Highs // see package words
	return (((w ^ ','*ones) - ones) | ((w ^ '"'*ones) - ones) | ((w ^ '\r'*ones) - ones) | ((w ^ '\n'*ones) - ones)) &^ w & highs
}

// quoted marks the bytes that make a CSV cell need quotes. quotedBytes
// must change with it.
var quoted = [256]bool{',': true, '"': true, '\r': true, '\n': true}
