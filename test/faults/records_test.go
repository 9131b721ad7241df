//go:build faults

package faults

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/test/harness"
)

// TestUnknownField: one of 500 events carries a field the org does not
// have, so the CSV of its job has a column Salesforce refuses and the job
// fails as a whole (InvalidBatch : Field name not found : NoSuchField__c).
// Only that event may fail, with the job's error; the others, batched with
// it, must be written and reported successful.
func TestUnknownField(t *testing.T) {
	const topic, events, bad = "crm.accounts", 500, 250
	w := newWorld(t, topic, 3, nil)
	records := harness.Accounts(topic, "UNK", events)
	records[bad].Value = fmt.Appendf(nil, `{"Name":"UNK-%d","NumberOfEmployees":%d,"NoSuchField__c":"x"}`, bad, bad)
	harness.Produce(t, w.broker, records)
	w.start(harness.Config{Topics: []string{topic}, MaxRecords: events, MaxAge: time.Second})
	w.finish(harness.Want{Events: harness.Events(t, records), Bad: map[harness.Source]func(harness.Result) error{
		harness.SourceOf(records[bad]): func(r harness.Result) error {
			if !strings.EqualFold(r.ErrorCode, "InvalidBatch") || !strings.Contains(r.Error, "NoSuchField__c") {
				return fmt.Errorf("want InvalidBatch naming NoSuchField__c")
			}
			return nil
		},
	}}, 60*time.Second)
}

// TestTenMegabyteRecord: a 10 MB event (a Description of 10 MiB of random
// letters, which no field takes) between 300 good ones, on a topic that
// allows 16 MiB records, while the result and dead-letter topics are the
// connector's own. The good events batched with it must be written and get
// success results; the big one gets a failure result and one dead-letter
// record, either its full copy or one marked truncated, never a publish
// retried without end that holds every result back.
func TestTenMegabyteRecord(t *testing.T) {
	const topic, events, big = "crm.big", 300, 150
	w := newWorld(t, topic, 1, map[string]string{"max.message.bytes": strconv.Itoa(16 << 20)})
	dlq := harness.Read(t, w.broker, harness.DeadLetterTopic)
	records := harness.Accounts(topic, "BIG", events)
	rng := rand.New(rand.NewPCG(12, 0))
	description := make([]byte, 10<<20)
	for i := range description {
		description[i] = 'a' + byte(rng.IntN(26))
	}
	records[big].Value = fmt.Appendf(nil, `{"Name":"BIG-%d","NumberOfEmployees":%d,"Description":"%s"}`, big, big, description)
	harness.Produce(t, w.broker, records, kgo.ProducerBatchMaxBytes(16<<20))
	w.start(harness.Config{Topics: []string{topic}, MaxRecords: events, MaxAge: time.Second})
	bigSource := harness.SourceOf(records[big])
	w.finish(harness.Want{Events: harness.Events(t, records), Bad: map[harness.Source]func(harness.Result) error{bigSource: nil}}, 60*time.Second)

	dlq.Stop()
	var copies []*kgo.Record
	for _, r := range dlq.Records() {
		if header(r, "__connect.errors.topic") == bigSource.Topic && header(r, "__connect.errors.partition") == strconv.Itoa(int(bigSource.Partition)) &&
			header(r, "__connect.errors.offset") == strconv.FormatInt(bigSource.Offset, 10) {
			copies = append(copies, r)
		}
	}
	if len(copies) != 1 {
		t.Fatalf("%d dead-letter records for the 10 MB event (%d records on %s), want 1", len(copies), len(dlq.Records()), harness.DeadLetterTopic)
	}
	c := copies[0]
	truncated := false
	for _, h := range c.Headers {
		truncated = truncated || strings.Contains(strings.ToLower(h.Key), "truncat") || strings.Contains(strings.ToLower(string(h.Value)), "truncat")
	}
	if !truncated && !bytes.Equal(c.Value, records[big].Value) {
		t.Errorf("the dead-letter copy of the 10 MB event has %d bytes of its %d and no header that says it is truncated", len(c.Value), len(records[big].Value))
	}
}

// header is the value of r's last header named key, or "".
func header(r *kgo.Record, key string) string {
	v := ""
	for _, h := range r.Headers {
		if h.Key == key {
			v = string(h.Value)
		}
	}
	return v
}
