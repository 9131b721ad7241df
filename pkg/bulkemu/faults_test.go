package bulkemu

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func accountsCSV(n int, prefix string) string {
	var b strings.Builder
	b.WriteString("Name,External_Id__c\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "Account %d,%s-%d\n", i, prefix, i)
	}
	return b.String()
}

// Faults hit the same requests and rows for the same seed, whatever the
// timing, and a share close to the rate.
func TestHTTPErrorsAreDeterministic(t *testing.T) {
	statuses := func() string {
		o := newOrg(t, Options{Faults: Faults{Seed: 7, HTTPErrorRate: 0.3}})
		var b strings.Builder
		for i := 0; i < 200; i++ {
			r := o.do("GET", "/limits", "", "")
			switch r.status {
			case 200:
				b.WriteByte('.')
			case 500:
				r.wantError(t, 500, "UNKNOWN_EXCEPTION", "An unexpected error occurred")
				b.WriteByte('5')
			case 503:
				r.wantError(t, 503, "SERVER_UNAVAILABLE", "Service temporarily unavailable")
				b.WriteByte('3')
			default:
				t.Fatalf("status %d", r.status)
			}
		}
		return b.String()
	}
	first, second := statuses(), statuses()
	if first != second {
		t.Fatalf("same seed, different faults:\n%s\n%s", first, second)
	}
	if n := 200 - strings.Count(first, "."); n < 40 || n > 80 {
		t.Fatalf("%d of 200 requests failed at rate 0.3: %s", n, first)
	}
}

func TestSessionsExpireOnDemand(t *testing.T) {
	o := newOrg(t, Options{Faults: Faults{Seed: 3, ExpireSessionRate: 0.5}})
	expired := 0
	for i := 0; i < 20; i++ {
		r := o.do("GET", "/limits", "", "")
		if r.status == http.StatusUnauthorized {
			r.wantError(t, 401, "INVALID_SESSION_ID", "Session expired or invalid")
			expired++
			// The revoked token stays revoked.
			o.do("GET", "/limits", "", "").wantError(t, 401, "INVALID_SESSION_ID", "")
			o.token = o.emu.Token()
		}
	}
	if expired == 0 {
		t.Fatal("no session expired at rate 0.5")
	}
}

func TestRowFaults(t *testing.T) {
	o := newOrg(t, Options{Faults: Faults{Seed: 11, LockErrorRate: 0.1, UnprocessedRate: 0.05}})
	id, info := o.load(`{"object":"Account","operation":"insert"}`, accountsCSV(1000, "F"))
	locked := strings.Count(o.results(id, "failedResults"), "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--")
	unprocessed := strings.Count(o.results(id, "unprocessedrecords"), "\n") - 1
	ok := strings.Count(o.results(id, "successfulResults"), "\n") - 1
	if locked < 60 || locked > 140 || unprocessed < 25 || unprocessed > 80 || ok+locked+unprocessed != 1000 {
		t.Fatalf("locked %d, unprocessed %d, succeeded %d", locked, unprocessed, ok)
	}
	if info["state"] != "Failed" || !strings.HasPrefix(info["errorMessage"].(string), "TooManyLockFailure") {
		t.Fatalf("a job with unprocessed rows must fail: %v", info)
	}
	if info["numberRecordsProcessed"] != float64(ok+locked) || info["numberRecordsFailed"] != float64(locked) {
		t.Fatalf("counters %v for %d ok, %d locked", info, ok, locked)
	}
	if n := len(o.emu.Records("Account")); n != ok {
		t.Fatalf("%d records stored, %d reported", n, ok)
	}
}

func TestWholeJobFailure(t *testing.T) {
	o := newOrg(t, Options{Faults: Faults{Seed: 1, JobFailureRate: 1}})
	id, info := o.load(`{"object":"Account","operation":"insert"}`, accountsCSV(10, "J"))
	if info["state"] != "Failed" || info["errorMessage"] == "" || info["numberRecordsProcessed"] != 0.0 {
		t.Fatalf("job: %v", info)
	}
	if got := strings.Count(o.results(id, "unprocessedrecords"), "\n"); got != 11 {
		t.Fatalf("unprocessed rows: %d lines", got)
	}
	if len(o.emu.Records("Account")) != 0 {
		t.Fatal("a failed job wrote records")
	}
}

// Slow processing keeps a job InProgress with a count growing batch by
// batch (of 200 rows here), and an abort stops it: the rows not reached
// are unprocessed.
func TestSlowProcessingAndAbort(t *testing.T) {
	o := newOrg(t, Options{BatchSize: 200, Faults: Faults{RowsPerSecond: 2000}})
	id := o.createJob(`{"object":"Account","operation":"insert"}`)
	o.do("PUT", "/jobs/ingest/"+id+"/batches", "text/csv", accountsCSV(2000, "S"))
	o.do("PATCH", "/jobs/ingest/"+id, "application/json", `{"state":"UploadComplete"}`)
	time.Sleep(150 * time.Millisecond)
	info := o.do("GET", "/jobs/ingest/"+id, "", "").json(t)
	if n := info["numberRecordsProcessed"].(float64); info["state"] != "InProgress" || n == 0 || n == 2000 {
		t.Fatalf("after 150ms at 2000 rows/s: state %v, %v rows processed", info["state"], n)
	}
	if r := o.do("PATCH", "/jobs/ingest/"+id, "application/json", `{"state":"Aborted"}`); r.status != 200 {
		t.Fatalf("abort: %d %s", r.status, r.body)
	}
	time.Sleep(50 * time.Millisecond)
	stored := len(o.emu.Records("Account"))
	unprocessed := strings.Count(o.results(id, "unprocessedrecords"), "\n") - 1
	if stored == 0 || stored >= 2000 || stored+unprocessed != 2000 {
		t.Fatalf("after abort: %d stored, %d unprocessed", stored, unprocessed)
	}
}

// Two jobs whose rows share a parent run at the same time; the second
// cannot lock the parent while the first holds it and fails those rows
// with UNABLE_TO_LOCK_ROW, as concurrent Salesforce batches do.
func TestConcurrentBatchesContendForParentLocks(t *testing.T) {
	o := newOrg(t, Options{LockWait: 5 * time.Millisecond, Faults: Faults{RowsPerSecond: 1000}})
	o.load(`{"object":"Account","operation":"insert"}`, "Name,External_Id__c\nParent,P-1\n")
	contacts := func(n int) string {
		var b strings.Builder
		b.WriteString("LastName,Account.External_Id__c\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "C%d,P-1\n", i)
		}
		return b.String()
	}
	var wg sync.WaitGroup
	ids := make([]string, 2)
	for k := range ids {
		ids[k] = o.createJob(`{"object":"Contact","operation":"insert"}`)
		o.do("PUT", "/jobs/ingest/"+ids[k]+"/batches", "text/csv", contacts(400))
	}
	for k := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.do("PATCH", "/jobs/ingest/"+ids[k], "application/json", `{"state":"UploadComplete"}`)
		}()
	}
	wg.Wait()
	locked := 0
	for _, id := range ids {
		o.wait("/jobs/ingest/" + id)
		locked += strings.Count(o.results(id, "failedResults"), "UNABLE_TO_LOCK_ROW")
	}
	if locked == 0 {
		t.Fatal("no lock contention between two slow jobs on one parent")
	}
}

func TestDailyRecordLimit(t *testing.T) {
	o := newOrg(t, Options{DailyRecordLimit: 500})
	_, info := o.load(`{"object":"Account","operation":"insert"}`, accountsCSV(400, "L1"))
	if info["state"] != "JobComplete" {
		t.Fatalf("first job: %v", info)
	}
	id, info := o.load(`{"object":"Account","operation":"insert"}`, accountsCSV(400, "L2"))
	if info["state"] != "Failed" || !strings.HasPrefix(info["errorMessage"].(string), "ExceededQuota") {
		t.Fatalf("second job: %v", info)
	}
	if n := strings.Count(o.results(id, "unprocessedrecords"), "\n") - 1; n != 400 {
		t.Fatalf("unprocessed rows past the limit: %d", n)
	}
}

// A batch waiting for a record lock when its job is aborted leaves its
// rows unprocessed: it must not take the lock once the other job lets it
// go and apply its rows after the abort was answered. Job A holds the
// parent's lock for a ChunkTime; job B, aborted while it waits, would get
// the lock well within LockWait.
func TestAbortWhileWaitingForALock(t *testing.T) {
	o := newOrg(t, Options{LockWait: 5 * time.Second, Speed: Speed{Workers: 2, ChunkTime: 200 * time.Millisecond}})
	o.load(`{"object":"Account","operation":"insert"}`, "Name,External_Id__c\nParent,P-1\n")
	start := func(name string) string {
		id := o.createJob(`{"object":"Contact","operation":"insert"}`)
		o.do("PUT", "/jobs/ingest/"+id+"/batches", "text/csv", "LastName,Account.External_Id__c\n"+name+",P-1\n")
		o.do("PATCH", "/jobs/ingest/"+id, "application/json", `{"state":"UploadComplete"}`)
		for o.do("GET", "/jobs/ingest/"+id, "", "").json(t)["state"] != "InProgress" {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // its chunk takes or waits for the lock
		return id
	}
	a := start("A")
	b := start("B")
	if r := o.do("PATCH", "/jobs/ingest/"+b, "application/json", `{"state":"Aborted"}`); r.status != http.StatusOK {
		t.Fatalf("abort: %d %s", r.status, r.body)
	}
	if info := o.wait("/jobs/ingest/" + a); info["numberRecordsProcessed"] != float64(1) {
		t.Fatalf("job A: %v", info)
	}
	unprocessed := o.results(b, "unprocessedrecords")
	if !strings.Contains(unprocessed, "B,P-1") {
		t.Fatalf("B's row is not unprocessed: %q", unprocessed)
	}
	for _, r := range o.emu.Records("Contact") {
		if r.Fields["LastName"] == "B" {
			t.Fatal("the aborted job's row was applied")
		}
	}
}
