package pipeline

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// Results carry the source record's timestamp and headers; dead-letter
// copies carry Kafka Connect's whole set of error headers, with the stage
// that failed: the converter for a record that does not decode, the task's
// put for a row Salesforce refused.
func TestResultSourceAndDeadLetterHeaders(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	rr := w.readResults()
	at := time.UnixMilli(1_700_000_123_456)
	trace := []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}, {Key: "corr", Value: []byte("c-1")}}
	w.produce(
		&kgo.Record{Topic: "crm.accounts", Key: []byte("ok"), Timestamp: at, Headers: trace,
			Value: envelope("Account", event.Upsert, "External_Id__c", map[string]any{"External_Id__c": "A-1", "Name": "Acme"})},
		&kgo.Record{Topic: "crm.accounts", Key: []byte("bad"), Timestamp: at, Headers: trace,
			Value: envelope("Account", event.Upsert, "External_Id__c", map[string]any{"External_Id__c": "A-2", "NumberOfEmployees": "many"})},
		&kgo.Record{Topic: "crm.accounts", Key: []byte("garbled"), Timestamp: at, Value: []byte(`{"object":`)},
	)
	opts := w.options("sources", Route{Topics: []string{"crm.accounts"}, Decoder: event.NewEnvelopeDecoder(event.Defaults{})})
	opts.Results.Task = "pod-7"
	w.start(opts)
	rr.waitFor(t, 3, 30*time.Second)
	results, _ := rr.snapshot()
	for offset := int64(0); offset < 3; offset++ {
		r := results[Source{"crm.accounts", 0, offset}][0]
		if r.SourceTimestamp != at.UnixMilli() {
			t.Errorf("offset %d: sourceTimestamp %d, want %d", offset, r.SourceTimestamp, at.UnixMilli())
		}
		wantHeaders := 2
		if offset == 2 {
			wantHeaders = 0
		}
		if len(r.SourceHeaders) != wantHeaders || (wantHeaders > 0 && (r.SourceHeaders[0] != Header{"traceparent", string(trace[0].Value)} || r.SourceHeaders[1].Key != "corr")) {
			t.Errorf("offset %d: sourceHeaders %+v", offset, r.SourceHeaders)
		}
	}
	var dlq []*kgo.Record
	for deadline := time.Now().Add(10 * time.Second); len(dlq) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, dlq = rr.snapshot()
	}
	if len(dlq) != 2 {
		t.Fatalf("%d dead-letter copies, want 2", len(dlq))
	}
	for _, d := range dlq {
		stage, exception := StageTaskPut, "io.bulkstream.SalesforceError"
		if string(d.Key) == "garbled" {
			stage, exception = StageConverter, "io.bulkstream.DecodeError"
		}
		for key, want := range map[string]string{
			"__connect.errors.connector.name":       "sources",
			"__connect.errors.task.id":              "pod-7",
			"__connect.errors.stage":                stage,
			"__connect.errors.exception.class.name": exception,
		} {
			if got := header(d, key); got != want {
				t.Errorf("%s: %s %q, want %q", d.Key, key, got, want)
			}
		}
		if header(d, "__connect.errors.class.name") == "" || header(d, "__connect.errors.exception.stacktrace") == "" {
			t.Errorf("%s: headers %v", d.Key, d.Headers)
		}
		if orig, _, ok := DeadLetterOrigin(&event.Source{Headers: headersOf(d)}); !ok || len(orig.Headers) != len(d.Headers)-12 {
			t.Errorf("%s: the original headers are not told from the failure's: %v", d.Key, orig.Headers)
		}
	}
}

func headersOf(r *kgo.Record) []event.Header {
	var hs []event.Header
	for _, h := range r.Headers {
		hs = append(hs, event.Header{Key: h.Key, Value: h.Value})
	}
	return hs
}

// A result leaves out the source headers that would make it larger than
// the limit, and keeps the rest of itself; the dead-letter copy keeps them.
func TestResultLeavesOutHeadersOverTheLimit(t *testing.T) {
	const limit = 16 << 10
	for _, tc := range []struct {
		name  string
		value string
		kept  bool
	}{
		{"small", "00-abc-01", true},
		// 3,000 control characters: JSON writes each as \u0001, 18,000 bytes.
		{"escaped past the limit", strings.Repeat("\x01", 3000), false},
	} {
		o := outcome{src: event.Source{Topic: "crm.accounts", Partition: 1, Offset: 7, Key: []byte("k"), Value: []byte(`{"x":1}`),
			Headers: []event.Header{{Key: "traceparent", Value: []byte(tc.value)}}},
			result: Result{ErrorCode: "INVALID_FIELD", Error: "bad", Object: "Account", Operation: "upsert"}}
		rs, err := o.records(testTopics, EncodeJSON, false, limit)
		if err != nil {
			t.Fatal(err)
		}
		var r Result
		if err := json.Unmarshal(rs[0].Value, &r); err != nil {
			t.Fatal(err)
		}
		if n := recordSize(rs[0]); n > limit || string(rs[0].Key) != "k" || r.ErrorCode != "INVALID_FIELD" || r.Object != "Account" ||
			(len(r.SourceHeaders) == 1) != tc.kept {
			t.Errorf("%s: result of %d bytes, sourceHeaders kept %v, want %v: %.200s", tc.name, n, len(r.SourceHeaders) == 1, tc.kept, rs[0].Value)
		}
		if len(rs) != 2 || header(rs[1], "traceparent") != tc.value || header(rs[1], HeaderTruncated) != "" {
			t.Errorf("%s: the dead-letter copy lost the header: %d records", tc.name, len(rs))
		}
	}
}
