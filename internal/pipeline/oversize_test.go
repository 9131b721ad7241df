package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// letters returns n random letters: data that snappy, franz-go's default
// compression, cannot shrink below a topic's limit.
func letters(n int) string {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + rng.IntN(26))
	}
	return string(b)
}

// createTopic creates a one-partition topic with the given
// max.message.bytes.
func (w *world) createTopic(topic string, maxMessageBytes int) {
	w.t.Helper()
	v := strconv.Itoa(maxMessageBytes)
	resp, err := kadm.NewClient(w.client()).CreateTopic(context.Background(), 1, -1, map[string]*string{"max.message.bytes": &v}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		w.t.Fatal(err)
	}
}

// maxMessageBytes returns a topic's max.message.bytes.
func (w *world) maxMessageBytes(topic string) string {
	w.t.Helper()
	rcs, err := kadm.NewClient(w.client()).DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		w.t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		w.t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == "max.message.bytes" {
			return c.MaybeValue()
		}
	}
	return ""
}

// waitForDeadLetters waits until n dead-letter copies are out.
func (rr *resultsReader) waitForDeadLetters(t testing.TB, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, dlq := rr.snapshot(); len(dlq) >= n {
			return dlq
		}
	}
	t.Fatalf("fewer than %d dead-letter copies after %v", n, timeout)
	return nil
}

// goodAndBad produces, in one batch on one partition, four good account
// upserts and, third, one whose value has a Description of size letters
// and, if invalid, a NumberOfEmployees that is not a number. It returns the
// bad record's value.
func (w *world) goodAndBad(size int, invalid bool) []byte {
	w.t.Helper()
	bad := fmt.Sprintf(`{"External_Id__c":"R-BIG","Name":"Big","Description":%q`, letters(size))
	if invalid {
		bad += `,"NumberOfEmployees":"many"`
	}
	bad += "}"
	records := accountRecords(0, 4)
	records = append(records[:2], append([]*kgo.Record{{Topic: "crm.accounts", Key: []byte("big"), Value: []byte(bad)}}, records[2:]...)...)
	cl := w.client(kgo.ProducerBatchMaxBytes(16<<20), kgo.ProducerLinger(10*time.Millisecond))
	if err := cl.ProduceSync(context.Background(), records...).FirstErr(); err != nil {
		w.t.Fatal(err)
	}
	return []byte(bad)
}

// runGoodAndBad runs opts until the five events of goodAndBad have results
// and the bad one a dead-letter copy, and checks that the four good events
// succeeded and the bad one (offset 2) failed with code, each with one
// result. It returns the bad event's result and its dead-letter copy.
func (w *world) runGoodAndBad(rr *resultsReader, opts Options, code string) (Result, *kgo.Record) {
	t := w.t
	t.Helper()
	run := w.start(opts)
	rr.waitFor(t, 5, 90*time.Second) // a 10 MB record takes 30 s under the race detector
	dlq := rr.waitForDeadLetters(t, 1, 10*time.Second)
	run.shutdown(t)

	results, _ := rr.snapshot()
	if len(results) != 5 {
		t.Fatalf("%d events with results, want 5", len(results))
	}
	for src, rs := range results {
		bad := src.Offset == 2
		if len(rs) != 1 || rs[0].Success == bad || (bad && rs[0].ErrorCode != code) {
			t.Fatalf("%v: %+v", src, rs)
		}
	}
	if len(dlq) != 1 {
		t.Fatalf("%d dead-letter copies, want 1", len(dlq))
	}
	return results[Source{Topic: "crm.accounts", Offset: 2}][0], dlq[0]
}

// A 10 MB event on a topic that allows it, batched with good events, fails
// in Salesforce with a message that quotes its value. Its result's message
// is cut, its dead-letter copy holds the first bytes of its value with
// headers that say so, the good events get their results, and the offsets
// are committed: nothing waits for a record Kafka will not take.
func TestOversizedFailureIsCut(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{})
	w.createTopic("crm.accounts", 16<<20)
	big := w.goodAndBad(10<<20, false) // Description is at most 32,000 characters
	rr := w.readResults()
	opts := w.options("oversize", accountRoute)
	opts.Batch.MaxBytes = 32 << 20 // the big event goes into the job with the others
	opts.Kafka = append(opts.Kafka, kgo.ProducerBatchMaxBytes(DefaultMaxRecordBytes+RecordOverhead))
	res, d := w.runGoodAndBad(rr, opts, "STRING_TOO_LONG")
	if len(res.Error) > maxMessageBytes || !strings.HasSuffix(res.Error, "…") {
		t.Errorf("the failure's message has %d bytes, want it cut to %d: %.100s", len(res.Error), maxMessageBytes, res.Error)
	}
	if header(d, HeaderTruncated) != TruncatedValue || header(d, HeaderOriginalSize) != strconv.Itoa(len(big)) ||
		string(d.Key) != "big" || len(d.Value) == 0 || !bytes.HasPrefix(big, d.Value) ||
		header(d, "__connect.errors.offset") != "2" || header(d, "sf.error.code") != "STRING_TOO_LONG" {
		t.Errorf("dead-letter copy: key %q, %d bytes of value, headers %.300v", d.Key, len(d.Value), d.Headers)
	}
	if n := recordSize(d); n > DefaultMaxRecordBytes || n < DefaultMaxRecordBytes-100 {
		t.Errorf("the copy takes %d bytes, want the most that fits %d", n, DefaultMaxRecordBytes)
	}
	w.committedAtEnd("oversize", "crm.accounts")
	for _, topic := range []string{testTopics.Success, testTopics.Failure, testTopics.DeadLetter} {
		if got := w.maxMessageBytes(topic); got != strconv.Itoa(DefaultMaxRecordBytes+RecordOverhead) {
			t.Errorf("%s was created with max.message.bytes %s, want %d", topic, got, DefaultMaxRecordBytes+RecordOverhead)
		}
	}
}

// A dead-letter topic whose max.message.bytes is below the connector's
// limit refuses a copy (MESSAGE_TOO_LARGE): the copy is published as a
// reference to its source record instead of being retried for ever, and
// the other results of the batch are published, in both delivery modes.
func TestDeadLetterRefusedAsTooLarge(t *testing.T) {
	for _, exactlyOnce := range []bool{false, true} {
		t.Run(fmt.Sprintf("exactly_once=%v", exactlyOnce), func(t *testing.T) {
			w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
			w.createTopic(testTopics.DeadLetter, 4096)
			big := w.goodAndBad(20_000, true)
			rr := w.readResults()
			opts := w.options("refused", accountRoute)
			if exactlyOnce {
				opts.Journal, opts.ExactlyOnce = testJournal, true
			}
			res, d := w.runGoodAndBad(rr, opts, "INVALID_FIELD")
			if header(d, HeaderTruncated) != TruncatedReference || header(d, HeaderOriginalSize) != strconv.Itoa(len(big)) ||
				d.Key != nil || d.Value != nil || header(d, "__connect.errors.topic") != "crm.accounts" ||
				header(d, "__connect.errors.offset") != "2" || header(d, "sf.error.code") != res.ErrorCode {
				t.Errorf("dead-letter copy: key %q, value %.50q, headers %v", d.Key, d.Value, d.Headers)
			}
			w.committedAtEnd("refused", "crm.accounts")
		})
	}
}

// A replay does not send a truncated copy as if it were the original
// record: it fails with BULKSTREAM_TRUNCATED, naming where the original
// is, and its new dead-letter copy is still marked truncated.
func TestReplayRefusesTruncatedCopies(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts", testTopics.DeadLetter)
	// A copy cut so that what is left is a valid upsert: sent, it would
	// write a record that the original did not.
	cut := []byte(`{"External_Id__c":"R-CUT","Name":"Cut"}`)
	w.produce(&kgo.Record{Topic: testTopics.DeadLetter, Key: []byte("k"), Value: cut, Headers: []kgo.RecordHeader{
		{Key: "__connect.errors.topic", Value: []byte("crm.accounts")},
		{Key: "__connect.errors.partition", Value: []byte("0")},
		{Key: "__connect.errors.offset", Value: []byte("41")},
		{Key: "sf.error.code", Value: []byte("STRING_TOO_LONG")},
		{Key: HeaderTruncated, Value: []byte(TruncatedValue)},
		{Key: HeaderOriginalSize, Value: []byte("10485760")},
	}})
	rr := w.readResults()
	opts := w.options("replay-cut", accountRoute)
	opts.Replay = &Replay{Topic: testTopics.DeadLetter}
	w.start(opts).waitDone(t, 30*time.Second)
	rr.waitFor(t, 1, 10*time.Second)
	rr.waitForDeadLetters(t, 2, 10*time.Second)

	results, dlq := rr.snapshot()
	rs := results[Source{Topic: "crm.accounts", Offset: 41}]
	if len(rs) != 1 || rs[0].Success || rs[0].ErrorCode != CodeTruncated || !strings.Contains(rs[0].Error, "crm.accounts/0/41") {
		t.Fatalf("results %+v, want one BULKSTREAM_TRUNCATED failure naming crm.accounts/0/41", rs)
	}
	if n := len(w.emu.Records("Account")); n != 0 {
		t.Errorf("the replay wrote %d accounts", n)
	}
	if len(dlq) != 2 || header(dlq[1], HeaderTruncated) != TruncatedValue || header(dlq[1], HeaderOriginalSize) != "10485760" ||
		header(dlq[1], "sf.error.code") != CodeTruncated {
		t.Errorf("the replay's dead-letter copy: %+v", dlq[len(dlq)-1].Headers)
	}
}

// The dead-letter copy of a record is cut to the limit in the order that
// keeps the most: whole, its value cut, or a reference when the key and
// headers alone do not fit; the error message is cut at 8 KiB, or an eighth
// of a smaller limit.
func TestDeadLetterCopyFitsTheLimit(t *testing.T) {
	source := func(key string) *event.Source {
		return &event.Source{Topic: "crm.accounts", Partition: 1, Offset: 7, Key: []byte(key), Value: []byte(letters(20_000)),
			Headers: []event.Header{{Key: "origin", Value: []byte("crm")}}}
	}
	long := &Result{ErrorCode: "X", Error: letters(20_000)}
	whole := deadLetter(Topics{DeadLetter: "dlq"}, source("key"), &Result{ErrorCode: "X", Error: "short"}, 100_000)
	if header(whole, HeaderTruncated) != "" || string(whole.Value) != letters(20_000) || header(whole, "origin") != "crm" {
		t.Errorf("a copy within the limit was changed: key %q, headers %.200v", whole.Key, whole.Headers)
	}
	for _, tc := range []struct {
		key  string
		what string
	}{{"key", TruncatedValue}, {letters(20_000), TruncatedReference}} {
		const limit = 16_000
		d := deadLetter(Topics{DeadLetter: "dlq"}, source(tc.key), long, limit)
		if n := recordSize(d); n > limit || (tc.what == TruncatedValue && n < limit-100) || header(d, HeaderTruncated) != tc.what || header(d, HeaderOriginalSize) != "20000" {
			t.Errorf("%s: %d bytes, %s %q", tc.what, n, HeaderTruncated, header(d, HeaderTruncated))
		}
		if m := header(d, "__connect.errors.exception.message"); len(m) > limit/8 {
			t.Errorf("%s: a message of %d bytes", tc.what, len(m))
		}
		switch tc.what {
		case TruncatedValue:
			if string(d.Key) != "key" || !strings.HasPrefix(letters(20_000), string(d.Value)) || header(d, "origin") != "crm" {
				t.Errorf("value cut: key %q, value %.20q, origin %q", d.Key, d.Value, header(d, "origin"))
			}
		case TruncatedReference:
			if d.Key != nil || d.Value != nil || header(d, "origin") != "" || header(d, "__connect.errors.offset") != "7" {
				t.Errorf("reference: key %.20q, value %d bytes, origin %q", d.Key, len(d.Value), header(d, "origin"))
			}
		}
	}
	if m := cutMessage(strings.Repeat("é", maxMessageBytes), DefaultMaxRecordBytes); len(m) > maxMessageBytes || !strings.HasSuffix(m, "é…") {
		t.Errorf("a message is cut inside a character: %q", m[len(m)-8:])
	}
}

// A message of control characters, which JSON writes six bytes each, still
// leaves the result within the smallest limit a configuration allows.
func TestEscapedMessageFitsTheLimit(t *testing.T) {
	const limit = 16 << 10
	o := outcome{src: event.Source{Topic: "crm.accounts", Key: []byte("k")}, result: Result{ErrorCode: "X", Error: strings.Repeat("\x01", 20_000)}}
	rs, err := o.records(testTopics, EncodeJSON, false, limit)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if n := recordSize(r); n > limit {
			t.Errorf("%s: %d bytes, over the limit %d", r.Topic, n, limit)
		}
	}
}
