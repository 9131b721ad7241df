package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

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
	var o outcome
	for i := range b.Events {
		err := outcomes(i, &o)
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

// shortIDs is an org that answers with 15-character Ids, the form
// Salesforce's case-sensitive Ids take in some orgs and tools: it cuts
// every sf__Id of a job's successful results to 15 characters, and notes
// each record's full Id by its external id.
type shortIDs struct {
	ids map[string]string // External_Id__c → the 18-character Id
}

func (s *shortIDs) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/successfulResults") || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" { // the client asks for it
		if body, err = gzip.NewReader(resp.Body); err != nil {
			return nil, err
		}
	}
	records, err := csv.NewReader(body).ReadAll()
	if err != nil {
		return nil, err
	}
	id, ext := slices.Index(records[0], "sf__Id"), slices.Index(records[0], "External_Id__c")
	for _, r := range records[1:] {
		s.ids[r[ext]] = r[id]
		r[id] = r[id][:15]
	}
	var cut bytes.Buffer
	if err := csv.NewWriter(&cut).WriteAll(records); err != nil {
		return nil, err
	}
	resp.Body, resp.ContentLength = io.NopCloser(&cut), int64(cut.Len())
	resp.Header.Del("Content-Length")
	resp.Header.Del("Content-Encoding")
	return resp, nil
}

// collect copies each row's sf__Id out whatever its length: 15-character
// Ids each keep their own 15 characters, and the failed rows of an insert,
// which have no Id, none (their events get no Id), between rows that have
// one.
func TestCollectCopiesShortAndMissingIDs(t *testing.T) {
	const rows = 300 // every third without a name: Salesforce creates no Account without one
	w := newWorld(t, 1, bulkemu.Options{})
	org := &shortIDs{ids: map[string]string{}}
	sf, err := bulk.New(w.sfURL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: w.emu.Token()}), bulk.WithHTTPClient(&http.Client{Transport: org}))
	if err != nil {
		t.Fatal(err)
	}
	s := &submitter{client: sf, log: slog.New(slog.DiscardHandler)}
	dec := event.NewEnvelopeDecoder(event.Defaults{})
	b := batch.NewBuffer(batch.Key{Object: "Account", Operation: event.Insert},
		batch.Policy{MaxBytes: 1 << 30, MaxRecords: rows, MaxAge: time.Hour, SpillThreshold: 1 << 30}, time.Now())
	defer b.Close()
	for i := range rows {
		fields := map[string]any{"External_Id__c": fmt.Sprintf("EXT-%09d", i)}
		if i%3 != 0 {
			fields["Name"] = fmt.Sprintf("Account %d", i)
		}
		c, err := dec.Decode(event.Source{Topic: "crm.accounts", Offset: int64(i), Value: envelope("Account", event.Insert, "", fields)})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Add(c, ""); err != nil {
			t.Fatal(err)
		}
	}
	b.Seal(batch.ReasonRecords)
	ctx := context.Background()
	job, err := sf.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Account", Operation: bulk.Operation(event.Insert)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.upload(ctx, job.ID, b); err != nil {
		t.Fatal(err)
	}
	if _, err := sf.CloseIngestJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	info, err := sf.WaitIngestJobFor(ctx, job.ID, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumberRecordsProcessed != rows || info.NumberRecordsFailed != rows/3 {
		t.Fatalf("job %s: %d processed, %d failed; want %d, %d", info.State, info.NumberRecordsProcessed, info.NumberRecordsFailed, rows, rows/3)
	}
	outcomes, err := s.collect(ctx, b, info, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	var o outcome
	for i := range b.Events {
		if err := outcomes(i, &o); err != nil {
			t.Fatal(err)
		}
		ext := fmt.Sprintf("EXT-%09d", i)
		switch full := org.ids[ext]; {
		case i%3 == 0 && (o.result.Success || o.result.ID != nil):
			t.Errorf("event %d, of a row that failed: success %v, Id %v; want a failure without an Id", i, o.result.Success, o.result.ID)
		case i%3 != 0 && (!o.result.Success || len(full) != 18 || o.result.ID == nil || *o.result.ID != full[:15]):
			t.Errorf("event %d: success %v, Id %v; want the 15 characters of its record's %q", i, o.result.Success, o.result.ID, full)
		}
	}
}
