package pipeline

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// BenchmarkDecodeBatchEncode measures the per-event hot path without I/O:
// decode an envelope, fold it into a buffer, and write the buffer's CSV
// when it rolls over (every 10,000 records).
func BenchmarkDecodeBatchEncode(b *testing.B) {
	dec := event.NewEnvelopeDecoder(event.Defaults{})
	bt, err := batch.NewBatcher(batch.Policy{MaxBytes: 100 << 20, MaxRecords: 10000, MaxAge: time.Hour, SpillThreshold: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	values := make([][]byte, 1000)
	for i := range values {
		values[i] = envelope("Account", event.Upsert, "External_Id__c", map[string]any{
			"External_Id__c": fmt.Sprintf("EXT-%06d", i), "Name": fmt.Sprintf("Account %d", i), "Industry": "Energy",
			"AnnualRevenue": 1234567.5, "NumberOfEmployees": i, "Phone": "+1 555 0100", "Website": "https://example.com", "Description": nil})
	}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src := event.Source{Topic: "crm.accounts", Offset: int64(i), Value: values[i%len(values)]}
		c, err := dec.Decode(src)
		if err != nil {
			b.Fatal(err)
		}
		for k := range c.Fields { // distinct records: no coalescing
			if c.Fields[k].Name == "External_Id__c" {
				c.Fields[k].Value.Text = fmt.Sprintf("EXT-%09d", i)
			}
		}
		sealed, err := bt.Add(c, "", now)
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range sealed {
			if err := s.WriteCSV(io.Discard); err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	}
}

// BenchmarkEndToEnd measures throughput from topic to published results:
// 50,000 account upserts on 4 partitions through kfake, the pipeline and the
// emulator at full speed, reported as events/s.
func BenchmarkEndToEnd(b *testing.B) {
	const n = 50_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w := newWorld(b, 4, bulkemu.Options{}, "crm.accounts")
		records := make([]*kgo.Record, n)
		for k := range records {
			records[k] = &kgo.Record{Topic: "crm.accounts", Key: []byte(fmt.Sprint(k)),
				Value: []byte(fmt.Sprintf(`{"External_Id__c":"B-%d","Name":"Account %d","Industry":"Energy","NumberOfEmployees":%d}`, k, k, k))}
		}
		w.produce(records...)
		rr := w.readResults()
		opts := w.options(fmt.Sprintf("bench-%d", i), accountRoute)
		opts.Batch = batch.Policy{MaxBytes: 100 << 20, MaxRecords: 10000, MaxAge: 200 * time.Millisecond, SpillThreshold: 8 << 20, SpillDir: b.TempDir()}
		opts.MaxJobsInFlight = 8
		b.StartTimer()
		start := time.Now()
		run := w.start(opts)
		rr.waitFor(b, n, 120*time.Second)
		elapsed := time.Since(start)
		b.StopTimer()
		run.shutdown(b)
		b.ReportMetric(n/elapsed.Seconds(), "events/s")
		limits, err := opts.Salesforce.Limits(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		used := limits["DailyApiRequests"].Max - limits["DailyApiRequests"].Remaining - 1 // less this call
		b.ReportMetric(float64(used)*1e6/n, "api-calls/1M-events")
	}
}

// BenchmarkOrderingFigures measures what coalescing and parent-aware order
// save, for the README: a stream of Contact upserts with heavy key
// repetition (2,000 events over 400 contacts, 20 parent accounts) through
// jobs of several internal batches (the emulator's batches of 250 rows run
// concurrently and hold real record locks while slowed to 20,000 rows/s).
// It reports rows sent to Salesforce per source event and rows retried per
// event, with parent order on and off.
func BenchmarkOrderingFigures(b *testing.B) {
	for _, parentOrder := range []bool{true, false} {
		b.Run(fmt.Sprintf("parent_order=%v", parentOrder), func(b *testing.B) {
			var rows, retries, events float64
			for i := 0; i < b.N; i++ {
				r, rt, ev := orderingRun(b, int64(i), parentOrder)
				rows, retries, events = rows+r, retries+rt, events+ev
			}
			b.ReportMetric(rows/events, "rows/event")
			b.ReportMetric(retries/events, "retries/event")
		})
	}
}

func orderingRun(b *testing.B, seed int64, parentOrder bool) (rows, retries, events float64) {
	const n, contacts, parents = 2000, 400, 20
	w := newWorld(b, 4, bulkemu.Options{BatchSize: 250, LockWait: 2 * time.Millisecond, Faults: bulkemu.Faults{Seed: seed, RowsPerSecond: 20000}},
		"crm.accounts", "crm.contacts")
	rr := w.readResults()
	route := Route{Topics: []string{"crm.accounts", "crm.contacts"}, Decoder: event.NewEnvelopeDecoder(event.Defaults{})}
	opts := w.options(fmt.Sprintf("figures-%d-%v", seed, parentOrder), route)
	opts.Batch = batch.Policy{MaxBytes: 100 << 20, MaxRecords: 10000, MaxAge: 300 * time.Millisecond, SpillThreshold: 8 << 20,
		SpillDir: b.TempDir(), ParentOrder: parentOrder}
	opts.MaxAttempts = 20
	opts.RetryBase, opts.RetryMax = time.Millisecond, 20*time.Millisecond
	run := w.start(opts)
	var setup []*kgo.Record
	for p := 0; p < parents; p++ {
		setup = append(setup, &kgo.Record{Topic: "crm.accounts", Value: envelope("Account", event.Upsert, "External_Id__c",
			map[string]any{"External_Id__c": fmt.Sprintf("P-%d", p), "Name": fmt.Sprintf("Parent %d", p)})})
	}
	w.produce(setup...)
	rr.waitFor(b, parents, 30*time.Second)
	rng := rand.New(rand.NewPCG(uint64(seed), 99))
	stream := make([]*kgo.Record, n)
	for i := range stream {
		c := rng.IntN(contacts)
		stream[i] = &kgo.Record{Topic: "crm.contacts", Key: []byte(fmt.Sprint(c)), Value: envelope("Contact", event.Upsert, "External_Id__c",
			map[string]any{"External_Id__c": fmt.Sprintf("C-%d", c), "LastName": fmt.Sprintf("Contact %d", i),
				"Account.External_Id__c": fmt.Sprintf("P-%d", c%parents)})}
	}
	w.produce(stream...)
	rr.waitFor(b, parents+n, 60*time.Second)
	run.shutdown(b)
	rows = counterValue(b, opts.Metrics.RowsSubmitted.WithLabelValues("Contact", "upsert"))
	retries = counterValue(b, opts.Metrics.RowRetries.WithLabelValues("UNABLE_TO_LOCK_ROW"))
	return rows, retries, n
}
