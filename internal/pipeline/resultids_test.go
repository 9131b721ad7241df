package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// collectedJob is a finished Account upsert job of rows distinct records
// in the emulator, ready for collect. Without names, every row fails:
// Salesforce creates no Account without one (REQUIRED_FIELD_MISSING).
func collectedJob(tb testing.TB, rows int, named bool) (*submitter, *batch.Buffer, *bulk.JobInfo) {
	tb.Helper()
	w := newWorld(tb, 1, bulkemu.Options{})
	s := &submitter{client: w.options("g").Salesforce, log: slog.New(slog.DiscardHandler)}
	dec := event.NewEnvelopeDecoder(event.Defaults{})
	b := batch.NewBuffer(batch.Key{Object: "Account", Operation: event.Upsert, ExternalIDField: "External_Id__c"},
		batch.Policy{MaxBytes: 1 << 30, MaxRecords: rows, MaxAge: time.Hour, SpillThreshold: 1 << 30}, time.Now())
	tb.Cleanup(func() { b.Close() })
	for i := range rows {
		fields := map[string]any{"External_Id__c": fmt.Sprintf("EXT-%09d", i), "Industry": "Energy",
			"Phone": "+1 555 0100", "Website": "https://example.com/accounts"}
		if named {
			fields["Name"] = fmt.Sprintf("Account %d", i)
		}
		c, err := dec.Decode(event.Source{Topic: "crm.accounts", Offset: int64(i), Value: envelope("Account", event.Upsert, "External_Id__c", fields)})
		if err != nil {
			tb.Fatal(err)
		}
		if err := b.Add(c, ""); err != nil {
			tb.Fatal(err)
		}
	}
	b.Seal(batch.ReasonRecords)
	ctx := context.Background()
	job, err := s.client.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Account", Operation: bulk.Operation(event.Upsert), ExternalIDFieldName: "External_Id__c"})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.upload(ctx, job.ID, b); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.client.CloseIngestJob(ctx, job.ID); err != nil {
		tb.Fatal(err)
	}
	info, err := s.client.WaitIngestJobFor(ctx, job.ID, time.Millisecond)
	if err != nil {
		tb.Fatal(err)
	}
	failed := int64(0)
	if !named {
		failed = int64(rows)
	}
	if info.NumberRecordsProcessed != int64(rows) || info.NumberRecordsFailed != failed {
		tb.Fatalf("job %s: %d processed, %d failed; want %d, %d", info.State, info.NumberRecordsProcessed, info.NumberRecordsFailed, rows, failed)
	}
	return s, b, info
}

// verdictHeap returns the heap the verdict of collect holds (the heap
// after a collection with it alive, less the heap after one without it)
// and the bytes and allocations collect made.
func verdictHeap(tb testing.TB, s *submitter, b *batch.Buffer, info *bulk.JobInfo) (held, bytes, allocs uint64) {
	tb.Helper()
	if err := b.WriteCSV(io.Discard); err != nil { // collect uses up the matches
		tb.Fatal(err)
	}
	var before, after, alive, gone runtime.MemStats
	runtime.ReadMemStats(&before)
	outcomes, err := s.collect(context.Background(), b, info, 1, false)
	if err != nil {
		tb.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	for i := range b.Events {
		o, err := outcomes(i)
		switch {
		case err != nil:
			tb.Fatalf("event %d: %v", i, err)
		case o.result.Success && (o.result.ID == nil || len(*o.result.ID) != 18),
			!o.result.Success && (o.result.ErrorCode != "REQUIRED_FIELD_MISSING" || o.result.Error != "Required fields are missing: [Name]"):
			tb.Fatalf("event %d: %+v", i, o.result)
		}
	}
	runtime.GC() // twice: what a sync.Pool dropped goes in the second
	runtime.GC()
	runtime.ReadMemStats(&alive)
	runtime.KeepAlive(outcomes)
	runtime.GC()
	runtime.ReadMemStats(&gone)
	return alive.HeapAlloc - gone.HeapAlloc, after.TotalAlloc - before.TotalAlloc, after.Mallocs - before.Mallocs
}

// TestCollectKeepsNoResultLines checks that what a job's results say of
// its rows, kept for the job's life, does not hold the result lines it
// was read from: a row's sf__Id is copied out, and a failed row's error
// code and message are shared by the rows with the same. A 20,000-row job
// holds ~75 bytes a row (its rowResult and Id); each line it held would
// add ~150.
func TestCollectKeepsNoResultLines(t *testing.T) {
	for _, c := range []struct {
		name  string
		named bool
	}{{"successes", true}, {"failures", false}} {
		t.Run(c.name, func(t *testing.T) {
			const rows = 20_000
			s, b, info := collectedJob(t, rows, c.named)
			held, _, _ := verdictHeap(t, s, b, info)
			t.Logf("%d bytes a row", held/rows)
			if perRow := held / rows; perRow > 100 {
				t.Errorf("the job's results hold %d bytes a row (%d in all); want at most 100", perRow, held)
			}
		})
	}
}

// BenchmarkCollect measures what reading a 20,000-row upsert job's results
// costs and keeps: the bytes and allocations of collect, a row, and the
// heap its verdict holds for the job's life (see verdictHeap).
//
//	go test -run x -bench Collect -count 5 ./internal/pipeline/
func BenchmarkCollect(b *testing.B) {
	const rows = 20_000
	s, buf, info := collectedJob(b, rows, true)
	var held, bytes, allocs uint64
	n := 0
	for b.Loop() {
		h, by, a := verdictHeap(b, s, buf, info)
		held, bytes, allocs = held+h, bytes+by, allocs+a
		n += rows
	}
	b.ReportMetric(float64(bytes)/float64(n), "collect-B/row")
	b.ReportMetric(float64(allocs)/float64(n), "collect-allocs/row")
	b.ReportMetric(float64(held)/float64(n), "held-B/row")
}
