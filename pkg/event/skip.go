package event

import "errors"

// SkipError is a record that needs no write: neither a change nor a
// failure. A decoder returns it for a tombstone that the route skips
// (Debezium writes one after each delete event, which has done the delete
// already), a Debezium heartbeat, a schema change event and a transaction
// metadata event. Retrying it changes nothing.
//
// The pipeline reports it as a result with the status skipped and Reason,
// on the success topic, with no dead-letter copy; the record's offset may
// be committed like that of a success. Use IsSkip to recognise it.
type SkipError struct {
	// Reason says what the record is and why it needs no write, such as
	// "a Debezium heartbeat (io.debezium.connector.common.Heartbeat)".
	Reason string
}

func (e *SkipError) Error() string { return "skip: " + e.Reason }

// IsSkip reports whether err (or an error it wraps) is a *SkipError, and
// its reason.
func IsSkip(err error) (reason string, ok bool) {
	var s *SkipError
	if errors.As(err, &s) {
		return s.Reason, true
	}
	return "", false
}

func skipf(reason string) error { return &SkipError{Reason: reason} }

// Tombstones says what a route makes of a tombstone, a record whose value
// is null. The empty value is the format's default:
//
//   - debezium: TombstonesSkip, since Debezium writes a tombstone after
//     each delete event, which deletes the record;
//   - debezium_unwrapped: TombstonesDelete when the route has a key field
//     (ExtractNewRecordState's drop and tombstone modes leave a tombstone as
//     the only trace of a delete), else TombstonesFail;
//   - json: TombstonesDelete when the route has an external id field, else
//     TombstonesFail;
//   - envelope and salesforce_cdc: TombstonesFail.
type Tombstones string

// What a tombstone becomes.
const (
	// TombstonesSkip makes a tombstone a *SkipError.
	TombstonesSkip Tombstones = "skip"
	// TombstonesDelete makes a tombstone a delete by external id (a
	// hardDelete on a hardDelete route), named by the record key: the key
	// as text, a JSON string, a JSON object (in Kafka Connect's
	// {"schema", "payload"} wrapper or not) or, in the Avro decoder, an
	// Avro key in the Confluent wire format, whose member (the route's key
	// field, or the external id field for json) holds the value. It needs
	// the route's object and external id field.
	TombstonesDelete Tombstones = "delete"
	// TombstonesFail makes a tombstone a *DecodeError.
	TombstonesFail Tombstones = "fail"
)

// ParseTombstones returns the setting named s ("" for the default) and
// whether it is one.
func ParseTombstones(s string) (Tombstones, bool) {
	switch t := Tombstones(s); t {
	case "", TombstonesSkip, TombstonesDelete, TombstonesFail:
		return t, true
	}
	return "", false
}

// orDefault returns t, or def when t is the default.
func (t Tombstones) orDefault(def Tombstones) Tombstones {
	if t == "" {
		return def
	}
	return t
}

// keyReader reads the value of a column out of a record key: keyValue for
// JSON and text keys; the Avro decoder also reads Avro keys.
type keyReader func(key []byte, column string) (string, error)

// tombstone is a route's tombstone: a delete by external id whose value is
// the key's column, a skip for skipReason, or the failure fail.
func tombstone(t Tombstones, object string, op Operation, ext, column string, src Source, key keyReader, skipReason string, fail error) (*Change, error) {
	switch t {
	case TombstonesSkip:
		return nil, skipf(skipReason)
	case TombstonesDelete:
		return tombstoneDelete(object, op, ext, column, src, key)
	}
	return nil, fail
}
