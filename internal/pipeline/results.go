package pipeline

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// Result is the outcome of one source event, published as the JSON value of
// a record on the success or the failure topic, keyed by the source
// record's key. Its field names are a contract other programs parse; see the
// README.
type Result struct {
	Success   bool    `json:"success"`
	Created   bool    `json:"created"`
	ID        *string `json:"id"` // Salesforce Id, or null
	Object    string  `json:"object"`
	Operation string  `json:"operation"`
	ErrorCode string  `json:"errorCode"` // Salesforce's errorCode or a BULKSTREAM_* code; "" on success
	Error     string  `json:"error"`     // the message; "" on success
	JobID     string  `json:"jobId"`     // the Bulk API job; "" when none ran
	Attempts  int     `json:"attempts"`  // jobs the event's row went through
	Source    Source  `json:"source"`
	// ReplayOf is the dead-letter record a replay sent the event from;
	// absent outside replays.
	ReplayOf *Source `json:"replayOf,omitempty"`
}

// Source is the position of the event a result is about.
type Source struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
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
// original record with Kafka Connect's error headers and Salesforce's.
//
// In a replay (replay), o.src is a dead-letter copy: the result names the
// original position as its source and the copy's as replayOf, and a new
// dead-letter copy is made of the original record.
func (o *outcome) records(topics Topics, encode func(*Result) ([]byte, error), replay bool) ([]*kgo.Record, error) {
	res, src := o.result, o.src
	if replay {
		if orig, _, ok := DeadLetterOrigin(&o.src); ok {
			dl := sourceOf(&o.src)
			res.ReplayOf, res.Source, src = &dl, sourceOf(&orig), orig
		}
	}
	value, err := encode(&res)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	topic := topics.Success
	if !res.Success {
		topic = topics.Failure
	}
	out := []*kgo.Record{{Topic: topic, Key: src.Key, Value: value}}
	if res.Success || topics.DeadLetter == "" {
		return out, nil
	}
	dlq := &kgo.Record{Topic: topics.DeadLetter, Key: src.Key, Value: src.Value, Timestamp: src.Timestamp}
	for _, h := range src.Headers {
		dlq.Headers = append(dlq.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	message := res.Error
	if res.ErrorCode != "" {
		message = res.ErrorCode + ": " + res.Error
	}
	dlq.Headers = append(dlq.Headers,
		kgo.RecordHeader{Key: "__connect.errors.topic", Value: []byte(src.Topic)},
		kgo.RecordHeader{Key: "__connect.errors.partition", Value: []byte(strconv.Itoa(int(src.Partition)))},
		kgo.RecordHeader{Key: "__connect.errors.offset", Value: []byte(strconv.FormatInt(src.Offset, 10))},
		kgo.RecordHeader{Key: "__connect.errors.exception.message", Value: []byte(message)},
		kgo.RecordHeader{Key: "sf.error.code", Value: []byte(res.ErrorCode)},
		kgo.RecordHeader{Key: "sf.job.id", Value: []byte(res.JobID)},
	)
	return append(out, dlq), nil
}

// EncodeJSON is the default encoding of result records: the JSON of Result.
func EncodeJSON(r *Result) ([]byte, error) { return json.Marshal(r) }

// Topics are the topics results go to.
type Topics struct {
	Success    string
	Failure    string
	DeadLetter string // "" disables dead-letter copies
}
