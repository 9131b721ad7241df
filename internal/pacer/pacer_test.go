package pacer

import (
	"testing"
	"time"
)

func TestPausesAtTheReserveAndResumes(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := New(Options{RequestReserve: 100, RecordLimit: 1000, RecordReserve: 100, Now: func() time.Time { return now }})
	if r := p.Paused(); r != "" {
		t.Fatalf("paused before any usage is known: %s", r)
	}
	p.ObserveUsage(899, 1000)
	if r := p.Paused(); r != "" {
		t.Fatalf("paused with 101 requests left over a reserve of 100: %s", r)
	}
	p.ObserveUsage(900, 1000)
	if r := p.Paused(); r != APIRequests {
		t.Fatalf("not paused at the reserve: %q", r)
	}
	p.ObserveRemaining(5000, 4000) // the allocation was raised
	if r := p.Paused(); r != "" {
		t.Fatalf("still paused after the allocation returned: %s", r)
	}
	p.Exhausted()
	if r := p.Paused(); r != APIRequests {
		t.Fatalf("REQUEST_LIMIT_EXCEEDED did not pause: %q", r)
	}
	p.ObserveRemaining(5000, 4000)

	q := New(Options{RequestReserveRatio: 0.1})
	if q.ObserveUsage(899, 1000); q.Paused() != "" {
		t.Fatal("paused with 10.1% left over a 10% reserve")
	}
	if q.ObserveUsage(900, 1000); q.Paused() != APIRequests {
		t.Fatal("not paused at a 10% reserve")
	}

	p.RecordsSubmitted(899)
	if r := p.Paused(); r != "" {
		t.Fatalf("paused with 101 records left: %s", r)
	}
	p.RecordsSubmitted(1)
	if r := p.Paused(); r != Records {
		t.Fatalf("not paused at the record reserve: %q", r)
	}
	if used, limit := p.Records(); used != 900 || limit != 1000 {
		t.Fatalf("Records() = %d of %d, want 900 of 1000", used, limit)
	}
	now = now.Add(24*time.Hour + time.Minute) // the window rolled past those records
	if r := p.Paused(); r != "" {
		t.Fatalf("still paused a day later: %s", r)
	}
	if used, _ := p.Records(); used != 0 {
		t.Fatalf("Records() = %d a day later, want 0", used)
	}
}

// The record allocation is checked with no reserve configured too (the
// default): the pipeline pauses when the rolling 24 hours have used all of
// it, rather than sending jobs whose rows Salesforce would leave
// unprocessed.
func TestRecordAllocationIsCheckedWithoutAReserve(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := New(Options{RecordLimit: 1000, Now: func() time.Time { return now }})
	p.RecordsSubmitted(999)
	if r := p.Paused(); r != "" {
		t.Fatalf("paused with 1 record left and no reserve: %s", r)
	}
	p.RecordsSubmitted(1)
	if r := p.Paused(); r != Records {
		t.Fatalf("not paused with the allocation used up: %q", r)
	}
}
