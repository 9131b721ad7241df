// Package event is Bulkstream's model of a change event, and the decoders
// that turn Kafka records into changes.
//
// A Change is one Kafka record decoded: the Salesforce object it targets,
// the operation, the record's identity (an external id field and value, or a
// Salesforce Id), an ordered set of field values in which null is distinct
// from absent, and the source position of the record.
package event

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/bulkstream/bulkstream/internal/words"
)

// Operation is a Bulk API 2.0 ingest operation, spelled as Salesforce
// spells it.
type Operation string

// The operations of Bulk API 2.0 ingest jobs.
const (
	Insert     Operation = "insert"
	Update     Operation = "update"
	Upsert     Operation = "upsert"
	Delete     Operation = "delete"
	HardDelete Operation = "hardDelete"
)

// operationNames are the operations, as strings.
var operationNames = [...]string{string(Insert), string(Update), string(Upsert), string(Delete), string(HardDelete)}

// ParseOperation returns the operation named s (exact spelling, as
// Salesforce requires) and whether it is one.
func ParseOperation(s string) (Operation, bool) {
	switch op := Operation(s); op {
	case Insert, Update, Upsert, Delete, HardDelete:
		return op, true
	}
	return "", false
}

// IsDelete reports whether the operation removes records by Id.
func (o Operation) IsDelete() bool { return o == Delete || o == HardDelete }

// Value is a field value in the text form a Salesforce CSV carries, or
// null. The zero Value is the empty string, which Salesforce reads as
// "leave unchanged"; decoders never produce it for a field that is present
// (an empty JSON string is sent as null, "#N/A").
type Value struct {
	Text string
	Null bool
}

// NullValue is a field explicitly set to null.
var NullValue = Value{Null: true}

// Text returns a non-null value.
func Text(s string) Value { return Value{Text: s} }

// CSV returns the value as it goes into a Bulk API CSV cell: #N/A for null.
func (v Value) CSV() string {
	if v.Null {
		return "#N/A"
	}
	return v.Text
}

// Field is one field of a change: an API name (or a relationship column
// such as Account.External_Id__c) and its value.
type Field struct {
	Name  string
	Value Value
}

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Source is where a change came from: its Kafka record.
type Source struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Change is one decoded change event.
type Change struct {
	Object    string    // Salesforce object API name, e.g. Account
	Operation Operation // what to do with the record
	// ExternalIDField names the field that identifies the record for an
	// upsert (its value is among Fields). An insert may carry one too, so
	// that its record can be recognised. A delete or hardDelete carries one
	// when it names its record by external id instead of Id (a delete by
	// external id, see ByExternalID); update and a delete by Id leave it
	// empty.
	ExternalIDField string
	// Fields in the order the event gave them. For delete and hardDelete
	// only Id, or only the external id field for a delete by external id,
	// which the pipeline resolves to the record's Id before the job. A
	// field absent here is left unchanged by Salesforce.
	Fields []Field
	Source Source
}

// Get returns the value of the field named name (case-insensitive, as
// Salesforce matches field names) and whether the change has it.
func (c *Change) Get(name string) (Value, bool) {
	for _, f := range c.Fields {
		if sameName(f.Name, name) {
			return f.Value, true
		}
	}
	return Value{}, false
}

// sameName reports whether two field names are equal regardless of case,
// exactly as strings.EqualFold does, for the look-ups of a name among a
// change's fields (Get and fieldIndex, for RecordKey, mappings, shapes and
// the decoder's checks of what an operation needs). A name is nearly
// always looked up as it is spelled there (the route's external id field,
// Id), which == answers in a few instructions (a length check inline, a
// memequal), where strings.EqualFold folds byte by byte; the names that
// differ go to it.
func sameName(a, b string) bool {
	return a == b || strings.EqualFold(a, b)
}

// ByExternalID reports whether c is a delete or hardDelete that names its
// record by an external id value rather than by Id. Bulk API 2.0 deletes by
// Id only, so such a change must be resolved to the record's Id first.
func (c *Change) ByExternalID() bool {
	return c.Operation.IsDelete() && c.ExternalIDField != "" && !strings.EqualFold(c.ExternalIDField, "Id")
}

// RecordKey identifies the Salesforce record a change is about, for
// coalescing and ordering: the folded external id value for an upsert (and
// for an insert that carries the route's external id, and a delete by
// external id), the Id for update and delete. So an upsert and a delete by
// the same external id value share a key. It is "" when the change names no
// record (a plain insert).
func (c *Change) RecordKey() string {
	var scratch [64]byte
	return string(c.AppendRecordKey(scratch[:0]))
}

// AppendRecordKey appends c's RecordKey to b, for a caller that makes one
// string of it and more (the pipeline's record identity, object/key).
func (c *Change) AppendRecordKey(b []byte) []byte {
	byExternalID := c.ExternalIDField != "" && !strings.EqualFold(c.ExternalIDField, "Id") &&
		(c.Operation == Upsert || c.Operation == Insert || c.Operation.IsDelete())
	if byExternalID {
		if v, ok := c.Get(c.ExternalIDField); ok && !v.Null && v.Text != "" {
			return appendLower(append(appendLower(b, c.ExternalIDField), '='), v.Text)
		}
		return b
	}
	// Update, delete, and upsert by Id are about the record with that Id.
	if v, ok := c.Get("Id"); ok && !v.Null && len(v.Text) >= 15 {
		return append(append(b, "id="...), v.Text[:15]...)
	}
	return b
}

// appendLower appends strings.ToLower(s) to b. It copies s and folds the
// copy's ASCII letters in place, 8 bytes at a time where it can (the last
// word of a copy of 8 bytes or more overlaps the one before, which folding
// twice leaves as it is), and finds in the same pass whether s is ASCII,
// as it nearly always is; if not, the copy is replaced by strings.ToLower's.
func appendLower(b []byte, s string) []byte {
	n := len(b)
	b = append(b, s...)
	t := b[n:]
	var bits uint64 // the bits of all of s's bytes
	if len(t) >= 8 {
		for i := 0; ; i += 8 {
			i = min(i, len(t)-8)
			w := words.LE64(t[i:])
			bits |= w
			binary.LittleEndian.PutUint64(t[i:], lowerWord(w))
			if i == len(t)-8 {
				break
			}
		}
	} else {
		for i, c := range t {
			bits |= uint64(c)
			t[i] = lowerASCII(c)
		}
	}
	if bits&highs != 0 {
		return append(b[:n], strings.ToLower(s)...)
	}
	return b
}
