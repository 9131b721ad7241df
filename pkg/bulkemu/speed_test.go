package bulkemu

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// resultKeys returns the External_Id__c column of a result file, in file
// order.
func resultKeys(t *testing.T, o *org, id, kind string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(o.results(id, kind), "\n"), "\n")
	col := slices.Index(strings.Split(lines[0], ","), "External_Id__c")
	var out []string
	for _, l := range lines[1:] {
		f, _, _, err := newCSVReader([]byte(l), ',', false).next(nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f[col])
	}
	return out
}

// Result files list rows internal batch by internal batch, the batches in
// a seeded order that is not the upload's; the same seed gives the same
// order, and every row is there once.
func TestResultsInBatchOrder(t *testing.T) {
	load := func(seed int64) []string {
		o := newOrg(t, Options{BatchSize: 10, Faults: Faults{Seed: seed}})
		id, info := o.load(`{"object":"Account","operation":"upsert","externalIdFieldName":"External_Id__c"}`, accountsCSV(100, "R"))
		if info["numberRecordsProcessed"] != 100.0 {
			t.Fatalf("job: %v", info)
		}
		return resultKeys(t, o, id, "successfulResults")
	}
	got := load(7)
	upload := make([]string, 100)
	for i := range upload {
		upload[i] = fmt.Sprintf("R-%d", i)
	}
	if slices.Equal(got, upload) {
		t.Fatal("successfulResults in upload order")
	}
	if sorted := slices.Sorted(slices.Values(got)); !slices.Equal(sorted, slices.Sorted(slices.Values(upload))) {
		t.Fatalf("successfulResults hold %v, want each uploaded row once", got)
	}
	for b := 0; b < 10; b++ { // a batch's rows stay together and in order
		first := slices.Index(got, got[b*10])
		for i := 1; i < 10; i++ {
			if got[first+i] != upload[slices.Index(upload, got[first])+i] {
				t.Fatalf("batch starting at %s is split: %v", got[first], got)
			}
		}
	}
	if again := load(7); !slices.Equal(again, got) {
		t.Fatalf("seed 7 gave two orders:\n%v\n%v", got, again)
	}
	if other := load(8); slices.Equal(other, got) {
		t.Fatalf("seeds 7 and 8 gave the same order %v", got)
	}
}

// Under a speed model a closed job waits in the queue (UploadComplete),
// its counters grow batch by batch while it runs, and one worker processes
// two jobs' batches one after the other.
func TestSpeedModel(t *testing.T) {
	speed := Speed{QueueDelay: 500 * time.Millisecond, Workers: 1, ChunkTime: 40 * time.Millisecond, RowTime: 300 * time.Microsecond}
	if c := speed.Capacity(); c < 1999.99 || c > 2000.01 {
		t.Fatalf("capacity %v rows/s, want 2,000 (a chunk of 200 rows in 100 ms)", c)
	}
	if c := OrgSpeed().Capacity(); c < 4999.99 || c > 5000.01 {
		t.Fatalf("OrgSpeed's capacity %v rows/s, want the documented 5,000", c)
	}
	o := newOrg(t, Options{BatchSize: 200, Speed: speed})
	start := time.Now()
	var ids []string
	for _, prefix := range []string{"P", "Q"} {
		id := o.createJob(`{"object":"Account","operation":"insert"}`)
		o.do("PUT", "/jobs/ingest/"+id+"/batches", "text/csv", accountsCSV(1000, prefix))
		closed := time.Now()
		o.do("PATCH", "/jobs/ingest/"+id, "application/json", `{"state":"UploadComplete"}`)
		// Asked at once, not after the second job's upload: a loaded
		// machine (the race detector in CI) may take longer than the
		// delay over that. A state read after the delay proves nothing.
		info := o.do("GET", "/jobs/ingest/"+id, "", "").json(t)
		if info["state"] != stateUploadComplete && time.Since(closed) < speed.QueueDelay {
			t.Fatalf("during the queue delay: %v", info["state"])
		}
		ids = append(ids, id)
	}
	seen := map[float64]bool{}
	for {
		info := o.do("GET", "/jobs/ingest/"+ids[1], "", "").json(t)
		n := info["numberRecordsProcessed"].(float64)
		if int(n)%200 != 0 {
			t.Fatalf("numberRecordsProcessed %v is not a whole number of batches", n)
		}
		seen[n] = true
		if info["state"] == stateJobComplete {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("second job not done in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// 10 batches of one chunk of 100 ms on one worker, after the queue.
	// Which job the worker serves first depends on which job's queue delay
	// ends first, milliseconds apart: the test waits for both.
	if info := o.wait("/jobs/ingest/" + ids[0]); info["state"] != stateJobComplete {
		t.Fatalf("first job: %v", info)
	}
	if took, want := time.Since(start), speed.QueueDelay+time.Second; took < want {
		t.Fatalf("two jobs of 1,000 rows on one worker took %v, want at least %v", took, want)
	}
	if len(seen) < 3 {
		t.Fatalf("progress seen %v, want counts between 0 and 1,000", seen)
	}
	if n := len(o.emu.Records("Account")); n != 2000 {
		t.Fatalf("%d records, want 2000", n)
	}
}

// Under a speed model chunks hold their locks for their time, and a row
// waits for a lock as long as Salesforce does (10 s) unless told: two jobs
// whose Contacts share one Account both succeed, one after the other.
func TestSpeedModelWaitsForLocks(t *testing.T) {
	o := newOrg(t, Options{Speed: Speed{Workers: 2, ChunkTime: 150 * time.Millisecond}})
	o.load(`{"object":"Account","operation":"insert"}`, "Name,External_Id__c\nParent,L-1\n")
	var ids []string
	for _, name := range []string{"A", "B"} {
		id := o.createJob(`{"object":"Contact","operation":"insert"}`)
		o.do("PUT", "/jobs/ingest/"+id+"/batches", "text/csv", "LastName,Account.External_Id__c\n"+name+",L-1\n")
		ids = append(ids, id)
	}
	for _, id := range ids {
		o.do("PATCH", "/jobs/ingest/"+id, "application/json", `{"state":"UploadComplete"}`)
	}
	for _, id := range ids {
		if info := o.wait("/jobs/ingest/" + id); info["numberRecordsFailed"] != 0.0 {
			t.Fatalf("job %s: %v\n%s", id, info, o.results(id, "failedResults"))
		}
	}
}

// Close aborts the jobs an org still queues or runs and returns once their
// goroutines have ended: jobs waiting out an hour's queue delay, and jobs
// whose chunks take an hour or whose batches wait for the one busy worker.
func TestCloseStopsEveryJobGoroutine(t *testing.T) {
	for _, speed := range []Speed{{Workers: 1, QueueDelay: time.Hour}, {Workers: 1, ChunkTime: time.Hour}} {
		emu := New(Options{BatchSize: 10, Speed: speed})
		srv := httptest.NewServer(emu)
		o := &org{t: t, emu: emu, url: srv.URL, token: emu.Token()}
		var ids []string
		for _, name := range []string{"A", "B"} {
			id := o.createJob(`{"object":"Account","operation":"insert"}`)
			o.do("PUT", "/jobs/ingest/"+id+"/batches", "text/csv", accountsCSV(30, name))
			if r := o.do("PATCH", "/jobs/ingest/"+id, "application/json", `{"state":"UploadComplete"}`); r.status != http.StatusOK {
				t.Fatalf("close: %d %s", r.status, r.body)
			}
			ids = append(ids, id)
		}
		if speed.QueueDelay == 0 {
			for o.do("GET", "/jobs/ingest/"+ids[0], "", "").json(t)["state"] != "InProgress" {
				time.Sleep(5 * time.Millisecond)
			}
		}
		srv.Close()

		done := make(chan struct{})
		go func() { emu.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%+v: Close did not return within 10s", speed)
		}
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if strings.Contains(stacks, "bulkemu.(*Emulator).process") || strings.Contains(stacks, "bulkemu.(*batch)") {
			t.Fatalf("%+v: job goroutines left after Close:\n%s", speed, stacks)
		}
		for _, id := range ids {
			if j := emu.jobs.get(id); j.state != stateAborted {
				t.Fatalf("%+v: job %s %s after Close, want Aborted", speed, id, j.state)
			}
		}
	}
}
