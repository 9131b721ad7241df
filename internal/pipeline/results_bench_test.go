package pipeline

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// benchOutcomes returns a chunk of settleChunk outcomes of an Account
// upsert job as collect builds them: all successful, or every fourth a
// failure (whose source record carries its value and a traceparent header,
// for the dead-letter copy).
func benchOutcomes(failures bool) []outcome {
	out := make([]outcome, settleChunk)
	ts := time.UnixMilli(1_700_000_000_000)
	for i := range out {
		id := fmt.Sprintf("001xx%013d", i)
		src := event.Source{Topic: "crm.accounts", Partition: int32(i % 4), Offset: int64(100_000 + i), Key: []byte(fmt.Sprint(i)), Timestamp: ts}
		res := Result{Success: true, Created: true, ID: &id, Object: "Account", Operation: "upsert", JobID: "750xx0000000001AAA", Attempts: 1,
			Source: sourceOf(&src)}
		if failures && i%4 == 0 {
			src.Value = fmt.Appendf(nil, `{"External_Id__c":"B-%d","Name":"Account %d","Industry":"Energy","NumberOfEmployees":%d}`, i, i, i)
			src.Headers = []event.Header{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}}
			res = Result{Object: "Account", Operation: "upsert", ErrorCode: "INVALID_FIELD",
				Error: "No such column 'Industri' on entity 'Account'. If you are attempting to use a custom field, be sure to append the '__c'",
				JobID: "750xx0000000001AAA", Attempts: 1, Source: sourceOf(&src)}
		}
		out[i] = outcome{result: res, src: src}
	}
	return out
}

// BenchmarkChunkRecords measures what a publishing lane does to a chunk
// before producing it: the result records (and dead-letter copies) of
// settleChunk outcomes, encoded with EncodeJSON. It reports time, bytes and
// allocations per event.
//
//	go test -run x -bench ChunkRecords -count 5 -benchmem ./internal/pipeline/
func BenchmarkChunkRecords(b *testing.B) {
	for _, failures := range []bool{false, true} {
		b.Run(fmt.Sprintf("failures=%v", failures), func(b *testing.B) {
			outcomes := benchOutcomes(failures)
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			n := 0
			for b.Loop() {
				records, err := benchChunkRecords(outcomes)
				if err != nil {
					b.Fatal(err)
				}
				n += len(outcomes)
				if len(records) < len(outcomes) {
					b.Fatalf("%d records for %d outcomes", len(records), len(outcomes))
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(n), "B/event")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(n), "allocs/event")
		})
	}
}

// benchChunkRecords builds the records of a chunk as produce does.
func benchChunkRecords(outcomes []outcome) ([]*kgo.Record, error) {
	w := &recordWriter{topics: testTopics, limit: DefaultMaxRecordBytes, left: len(outcomes)}
	records := make([]*kgo.Record, 0, len(outcomes))
	for i := range outcomes {
		var err error
		if records, err = w.add(records, &outcomes[i]); err != nil {
			return nil, err
		}
	}
	return records, nil
}
