package bulk_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

func TestIngestLifecycle(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	ctx := testContext(t)

	job, err := c.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert})
	if err != nil {
		t.Fatal(err)
	}
	if job.State != bulk.StateOpen || len(job.ID) != 18 || !strings.HasPrefix(job.ID, "750") {
		t.Fatalf("created job %+v: want an Open job with an 18-character 750 id", job)
	}
	if job.APIVersion.String() != "62.0" || job.ColumnDelimiter != bulk.DelimiterComma || job.CreatedDate.IsZero() {
		t.Errorf("created job %+v: want apiVersion 62.0, COMMA, a createdDate", job)
	}
	if job.ContentURL != "services/data/v62.0/jobs/ingest/"+job.ID+"/batches" {
		t.Errorf("contentUrl = %q", job.ContentURL)
	}
	data := "Name,Phone\nAcme,555-0100\n,555-0101\nGlobex,555-0102\n"
	if err := c.UploadJobData(ctx, job.ID, strings.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	closed, err := c.CloseIngestJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if closed.State != bulk.StateUploadComplete {
		t.Errorf("closed job state %s, want UploadComplete", closed.State)
	}
	done, err := c.WaitIngestJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.State != bulk.StateJobComplete || done.NumberRecordsProcessed != 3 || done.NumberRecordsFailed != 1 || done.Err() != nil {
		t.Fatalf("finished job %+v: want JobComplete, 3 processed, 1 failed", done)
	}

	ok := readResults(t, c.SuccessfulResults, done)
	if len(ok) != 2 {
		t.Fatalf("%d successful results, want 2", len(ok))
	}
	var names []string
	for _, r := range ok {
		if !r.Created || len(r.ID) != 18 || !strings.HasPrefix(r.ID, "001") || r.Err != nil {
			t.Errorf("successful result %+v: want created, an 18-character 001 id, no error", r)
		}
		name, _ := r.Get("Name")
		names = append(names, name)
		if phone, found := r.Get("phone"); !found || !strings.HasPrefix(phone, "555-") {
			t.Errorf("Get(phone) = %q, %v: want the phone, matched without case", phone, found)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"Acme", "Globex"}) {
		t.Errorf("successful names %q", names)
	}
	if got := ok[0].Header().Names(); !slices.Equal(got, []string{"Name", "Phone"}) {
		t.Errorf("result header %q, want the uploaded one without sf__ columns", got)
	}

	failed := readResults(t, c.FailedResults, done)
	if len(failed) != 1 {
		t.Fatalf("%d failed results, want 1", len(failed))
	}
	f := failed[0]
	if f.ID != "" || f.Err == nil || f.Err.Code != "REQUIRED_FIELD_MISSING" || !slices.Equal(f.Err.Fields, []string{"Name"}) || f.Err.Retryable() {
		t.Fatalf("failed result %+v (error %+v): want no id, REQUIRED_FIELD_MISSING on Name, not retryable", f, f.Err)
	}
	if phone, _ := f.Get("Phone"); phone != "555-0101" {
		t.Errorf("failed row's Phone = %q", phone)
	}

	if unprocessed := readResults(t, c.UnprocessedRecords, done); len(unprocessed) != 0 {
		t.Errorf("%d unprocessed records, want none", len(unprocessed))
	}

	got, err := c.GetIngestJob(ctx, job.ID)
	if err != nil || got.State != bulk.StateJobComplete || got.JobType != "V2Ingest" {
		t.Fatalf("GetIngestJob = %+v, %v", got, err)
	}
	if err := c.DeleteIngestJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetIngestJob(ctx, job.ID)
	wantCode(t, err, http.StatusNotFound, bulk.CodeNotFound)
	if bulk.IsRetryable(err) {
		t.Error("NOT_FOUND classified retryable")
	}
}

func TestUpsertReportsCreatedAndUpdated(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	spec := bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpUpsert, ExternalIDFieldName: "External_Id__c"}

	first := load(t, c, spec, strings.NewReader(accounts("up", 3)))
	for _, r := range readResults(t, c.SuccessfulResults, first) {
		if !r.Created {
			t.Errorf("first upsert of %v: sf__Created false, want true", r.Values)
		}
	}
	second := load(t, c, spec, strings.NewReader(accounts("up", 3)))
	res := readResults(t, c.SuccessfulResults, second)
	if len(res) != 3 {
		t.Fatalf("%d results of the second upsert, want 3", len(res))
	}
	for _, r := range res {
		if r.Created {
			t.Errorf("second upsert of %v: sf__Created true, want false", r.Values)
		}
	}
}

func TestMultipartCreate(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	ctx := testContext(t)

	job, err := c.CreateIngestJobWithData(ctx, bulk.IngestJobSpec{Object: "Contact", Operation: bulk.OpInsert}, []byte("LastName,Email\nLovelace,ada@example.com\nHopper,grace@example.com\n"))
	if err != nil {
		t.Fatal(err)
	}
	if job.State != bulk.StateUploadComplete {
		t.Fatalf("multipart job state %s, want UploadComplete", job.State)
	}
	posts := o.wire.exchanges(http.MethodPost, "/jobs/ingest")
	if len(posts) != 1 || !strings.HasPrefix(posts[0].Request.Get("Content-Type"), "multipart/form-data; boundary=") {
		t.Fatalf("create requests %+v: want one multipart/form-data POST", posts)
	}
	done, err := c.WaitIngestJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := readResults(t, c.SuccessfulResults, done); len(got) != 2 {
		t.Fatalf("%d successful results, want 2", len(got))
	}

	big := []byte(strings.Repeat("é", bulk.MaxMultipartChars+1)) // runes, not bytes, count
	o.wire.reset()
	if _, err := c.CreateIngestJobWithData(ctx, bulk.IngestJobSpec{Object: "Contact", Operation: bulk.OpInsert}, big); !errors.Is(err, bulk.ErrMultipartTooLarge) {
		t.Fatalf("oversized multipart create: %v, want ErrMultipartTooLarge", err)
	}
	if n := len(o.wire.exchanges("", "")); n != 0 {
		t.Errorf("oversized multipart create sent %d requests, want none", n)
	}
	fits := []byte("LastName\n" + strings.Repeat("é", 10) + "\n")
	if _, err := c.CreateIngestJobWithData(ctx, bulk.IngestJobSpec{Object: "Contact", Operation: bulk.OpInsert}, fits); err != nil {
		t.Fatalf("small multipart create with multi-byte runes: %v", err)
	}
}

// The results of a job are written with its delimiter and line ending;
// quoted values keep delimiters, quotes and line breaks.
func TestResultsHonourDelimiterAndLineEnding(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	for _, tc := range []struct {
		delim  bulk.ColumnDelimiter
		sep    string
		ending bulk.LineEnding
		eol    string
	}{
		{bulk.DelimiterPipe, "|", bulk.LineEndingCRLF, "\r\n"},
		{bulk.DelimiterSemicolon, ";", bulk.LineEndingLF, "\n"},
		{bulk.DelimiterTab, "\t", bulk.LineEndingCRLF, "\r\n"},
		{bulk.DelimiterCaret, "^", bulk.LineEndingLF, "\n"},
		{bulk.DelimiterBackquote, "`", bulk.LineEndingLF, "\n"},
	} {
		t.Run(string(tc.delim), func(t *testing.T) {
			description := `two lines` + tc.eol + `with a "quote" and a ` + tc.sep
			csv := "Name" + tc.sep + "Description" + tc.eol +
				`"Acme ` + tc.sep + ` Co"` + tc.sep + `"` + strings.ReplaceAll(description, `"`, `""`) + `"` + tc.eol +
				"Plain" + tc.sep + "short" + tc.eol
			job := load(t, c, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert, ColumnDelimiter: tc.delim, LineEnding: tc.ending}, strings.NewReader(csv))
			if job.State != bulk.StateJobComplete {
				t.Fatalf("job %+v", job)
			}
			res := readResults(t, c.SuccessfulResults, job)
			if len(res) != 2 {
				t.Fatalf("%d results, want 2", len(res))
			}
			byName := map[string]string{}
			for _, r := range res {
				name, _ := r.Get("Name")
				byName[name], _ = r.Get("Description")
			}
			if got := byName["Acme "+tc.sep+" Co"]; got != description {
				t.Errorf("Description = %q, want %q", got, description)
			}
			if got := byName["Plain"]; got != "short" {
				t.Errorf("Description = %q, want short", got)
			}
		})
	}
}

func TestGzipBothWays(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t, bulk.WithGzipUpload(true))
	ctx := testContext(t)

	job := load(t, c, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert}, strings.NewReader(accounts("gz", 500)))
	puts := o.wire.exchanges(http.MethodPut, "/batches")
	if len(puts) != 1 || puts[0].Request.Get("Content-Encoding") != "gzip" || puts[0].Status != http.StatusCreated {
		t.Fatalf("uploads %+v: want one gzip-encoded PUT answered 201", puts)
	}
	if job.NumberRecordsProcessed != 500 || job.NumberRecordsFailed != 0 {
		t.Fatalf("job %+v: want 500 rows processed without failures", job)
	}
	res := readResults(t, c.SuccessfulResults, job)
	if len(res) != 500 {
		t.Fatalf("%d results, want 500", len(res))
	}
	gets := o.wire.exchanges(http.MethodGet, "/successfulResults")
	if len(gets) != 1 || gets[0].Request.Get("Accept-Encoding") != "gzip" || gets[0].Response.Get("Content-Encoding") != "gzip" {
		t.Fatalf("result downloads %+v: want gzip asked for and used", gets)
	}
	if _, err := c.GetIngestJob(ctx, job.ID); err != nil { // JSON answers are compressed too
		t.Fatal(err)
	}
}

func TestListIngestJobsFollowsPages(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // 1,005 jobs: 10 s under the race detector, more on a busy machine
	defer cancel()
	const n = 1005 // the emulator, like Salesforce, lists 1,000 jobs a page
	created := map[string]bool{}
	for range n {
		job, err := c.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Lead", Operation: bulk.OpInsert})
		if err != nil {
			t.Fatal(err)
		}
		created[job.ID] = true
	}
	if _, err := c.CreateQueryJob(ctx, bulk.QueryJobSpec{Query: "SELECT Id FROM Lead"}); err != nil {
		t.Fatal(err)
	}
	o.wire.reset()
	seen := 0
	for job, err := range c.ListIngestJobs(ctx, bulk.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if !created[job.ID] || job.Object != "Lead" || job.JobType != "V2Ingest" {
			t.Fatalf("listed job %+v was not created here", job)
		}
		delete(created, job.ID)
		seen++
	}
	if seen != n || len(created) != 0 {
		t.Fatalf("listed %d jobs, want %d; %d missing", seen, n, len(created))
	}
	lists := o.wire.exchanges(http.MethodGet, "/jobs/ingest")
	if len(lists) != 2 || !strings.Contains(lists[1].Query, "queryLocator=") {
		t.Fatalf("list requests %+v: want two pages, the second by queryLocator", lists)
	}

	// Stopping early stops fetching.
	o.wire.reset()
	for range c.ListIngestJobs(ctx, bulk.ListOptions{}) {
		break
	}
	if got := len(o.wire.exchanges(http.MethodGet, "/jobs/ingest")); got != 1 {
		t.Errorf("a listing abandoned on its first job made %d requests, want 1", got)
	}
}

func TestAbortAndIllegalTransitions(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	ctx := testContext(t)

	job := uploaded(t, c, accounts("ab", 3))
	aborted, err := c.AbortIngestJob(ctx, job.ID)
	if err != nil || aborted.State != bulk.StateAborted {
		t.Fatalf("AbortIngestJob = %+v, %v", aborted, err)
	}
	je, ok := errors.AsType[*bulk.JobError](aborted.Err())
	if !ok || je.State != bulk.StateAborted || je.Retryable() {
		t.Errorf("Err() of an aborted job = %v, want a non-retryable *JobError", aborted.Err())
	}
	_, err = c.AbortIngestJob(ctx, job.ID)
	wantCode(t, err, http.StatusBadRequest, bulk.CodeInvalidJobState)
	_, err = c.CloseIngestJob(ctx, job.ID)
	wantCode(t, err, http.StatusBadRequest, bulk.CodeInvalidJobState)
	if bulk.IsRetryable(err) {
		t.Error("INVALIDJOBSTATE classified retryable")
	}
	unprocessed := readResults(t, c.UnprocessedRecords, aborted)
	if len(unprocessed) != 3 {
		t.Fatalf("%d unprocessed records of an aborted job, want 3", len(unprocessed))
	}
	if ext, _ := unprocessed[0].Get("External_Id__c"); !strings.HasPrefix(ext, "ab-") || unprocessed[0].ID != "" {
		t.Errorf("unprocessed record %+v", unprocessed[0])
	}
	if err := c.DeleteIngestJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}

	// An Open job can be neither deleted nor waited for.
	open, err := c.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, c.DeleteIngestJob(ctx, open.ID), http.StatusBadRequest, bulk.CodeAPIError)
	if info, err := c.WaitIngestJob(ctx, open.ID); !errors.Is(err, bulk.ErrJobOpen) || info == nil || info.State != bulk.StateOpen {
		t.Errorf("WaitIngestJob of an Open job = %+v, %v; want ErrJobOpen", info, err)
	}
}

func TestIngestRequestErrors(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	ctx := testContext(t)

	_, err := c.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "NoSuchObject__c", Operation: bulk.OpInsert})
	wantCode(t, err, http.StatusBadRequest, bulk.CodeInvalidJob)
	if e := apiError(t, err); !strings.Contains(e.Message, "NoSuchObject__c") {
		t.Errorf("message %q does not name the object", e.Message)
	}

	_, err = c.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Account", Operation: "INSERT"})
	wantCode(t, err, http.StatusBadRequest, bulk.CodeAPIError)

	_, err = c.GetIngestJob(ctx, "750000000000000AAA")
	wantCode(t, err, http.StatusNotFound, bulk.CodeNotFound)
	_, err = c.FailedResults(ctx, &bulk.JobInfo{ID: "750000000000000AAA"})
	wantCode(t, err, http.StatusNotFound, bulk.CodeNotFound)
	wantCode(t, c.UploadJobData(ctx, "750000000000000AAA", strings.NewReader("Name\nx\n")), http.StatusNotFound, bulk.CodeNotFound)

	job, err := c.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UploadJobData(ctx, job.ID, strings.NewReader("Name\nfirst\n")); err != nil {
		t.Fatal(err)
	}
	err = c.UploadJobData(ctx, job.ID, strings.NewReader("Name\nsecond\n"))
	wantCode(t, err, http.StatusBadRequest, bulk.CodeBulkAPIError)
	if puts := o.wire.exchanges(http.MethodPut, job.ID); len(puts) != 2 {
		t.Errorf("%d uploads, want 2: a refused upload is not retried", len(puts))
	}

	if _, err := c.GetIngestJob(ctx, ""); err == nil {
		t.Error("GetIngestJob with an empty id: no error")
	}
	if _, err := c.SuccessfulResults(ctx, &bulk.JobInfo{ID: job.ID, ColumnDelimiter: "COLON"}); err == nil {
		t.Error("results with an unknown delimiter: no error")
	}
}

// A job that fails as a whole reports its error; its rows are unprocessed.
func TestJobFailure(t *testing.T) {
	o := newOrg(t, bulkemu.Options{Faults: bulkemu.Faults{Seed: 1, JobFailureRate: 1}})
	c := o.client(t)
	job := load(t, c, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert}, strings.NewReader(accounts("jf", 4)))
	if job.State != bulk.StateFailed || job.ErrorMessage == "" {
		t.Fatalf("job %+v: want Failed with an errorMessage", job)
	}
	je, ok := errors.AsType[*bulk.JobError](job.Err())
	if !ok || je.JobID != job.ID || je.Message != job.ErrorMessage {
		t.Fatalf("Err() = %v, want a *JobError of the job", job.Err())
	}
	if n := len(readResults(t, c.UnprocessedRecords, job)); n != 4 {
		t.Errorf("%d unprocessed records, want 4", n)
	}
}

// Rows failing on locks carry UNABLE_TO_LOCK_ROW, which is retryable; rows
// left unprocessed come back as they were uploaded.
func TestRowFaults(t *testing.T) {
	o := newOrg(t, bulkemu.Options{Faults: bulkemu.Faults{Seed: 7, LockErrorRate: 0.2, UnprocessedRate: 0.2}})
	c := o.client(t)
	job := load(t, c, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert}, strings.NewReader(accounts("rf", 200)))

	ok := readResults(t, c.SuccessfulResults, job)
	failed := readResults(t, c.FailedResults, job)
	unprocessed := readResults(t, c.UnprocessedRecords, job)
	if len(failed) == 0 || len(unprocessed) == 0 {
		t.Fatalf("%d failed and %d unprocessed rows; the faults should hit some of each", len(failed), len(unprocessed))
	}
	if total := len(ok) + len(failed) + len(unprocessed); total != 200 {
		t.Errorf("%d + %d + %d results, want 200 in all", len(ok), len(failed), len(unprocessed))
	}
	for _, f := range failed {
		if f.Err.Code != bulk.CodeUnableToLockRow || !f.Err.Retryable() || !bulk.IsRetryable(f.Err) {
			t.Fatalf("failed row error %+v: want a retryable UNABLE_TO_LOCK_ROW", f.Err)
		}
	}
	for _, u := range unprocessed {
		if ext, _ := u.Get("External_Id__c"); !strings.HasPrefix(ext, "rf-") || len(u.Values) != 3 {
			t.Fatalf("unprocessed row %v", u.Values)
		}
	}
	if job.State != bulk.StateFailed {
		t.Errorf("a job with unprocessed rows ended %s, want Failed", job.State)
	}
}

// The reader is the request body: a reader that fails midway makes the
// upload fail without the job getting any data.
func TestUploadStreamsTheReader(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	ctx := testContext(t)
	job, err := c.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert})
	if err != nil {
		t.Fatal(err)
	}
	broken := io.MultiReader(strings.NewReader(accounts("br", 10)), errReader{errors.New("disk on fire")})
	if err := c.UploadJobData(ctx, job.ID, broken); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("upload from a failing reader: %v", err)
	}
	// The job got nothing, so a new upload is accepted.
	if err := c.UploadJobData(ctx, job.ID, strings.NewReader(accounts("br", 10))); err != nil {
		t.Fatalf("upload after a failed one: %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// A job is looked at with pauses that grow, but never past a quarter of
// the time waited so far: a job of 2.5 s is seen finished well before a
// pause that only grew (by 3 each time) would look again (at 7 s).
func TestWaitLooksAtMostAQuarterLate(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	o.emu.SetFaults(bulkemu.Faults{RowsPerSecond: 100})
	var mu sync.Mutex
	var looks []time.Time
	o.wire.setIntercept(func(_ http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.Count(r.URL.Path, "/") == 6 && strings.Contains(r.URL.Path, "/jobs/ingest/") {
			mu.Lock()
			looks = append(looks, time.Now())
			mu.Unlock()
		}
		return false
	})
	const initial = 20 * time.Millisecond
	c := o.client(t, bulk.WithWaitPolicy(bulk.WaitPolicy{Initial: initial, Max: 10 * time.Second, Multiplier: 3}))
	var csv strings.Builder
	csv.WriteString("Name\n")
	for i := range 250 {
		fmt.Fprintf(&csv, "Slow %d\n", i)
	}
	info := load(t, c, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert}, strings.NewReader(csv.String()))
	if info.State != bulk.StateJobComplete || info.NumberRecordsProcessed != 250 {
		t.Fatalf("job %+v", info)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(looks) < 3 {
		t.Fatalf("%d looks at the job", len(looks))
	}
	const slack = 300 * time.Millisecond // a loaded machine's late wake-ups
	for i := 1; i < len(looks); i++ {
		gap, waited := looks[i].Sub(looks[i-1]), looks[i-1].Sub(looks[0])
		if gap > max(waited/4, initial)+slack {
			t.Errorf("look %d came %v after the one before, %v into the wait: more than a quarter of it", i, gap.Round(time.Millisecond), waited.Round(time.Millisecond))
		}
	}
	t.Logf("%d looks over %v", len(looks), looks[len(looks)-1].Sub(looks[0]).Round(time.Millisecond))
}

// WaitIngestJobFor looks when the caller expects the job to end, sooner
// than the policy's first pause and not at once: a job of 100 ms is seen
// done at the one look, not after the first pause of 1 s; a guess too
// short costs a few looks more, at pauses that double from the guess, and
// the job is still seen done well before the policy's first pause. Without
// an expectation, the first look comes at once.
func TestWaitIngestJobForLooksWhenExpected(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	o.emu.SetFaults(bulkemu.Faults{RowsPerSecond: 1000})
	var mu sync.Mutex
	looks := 0
	o.wire.setIntercept(func(_ http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.Count(r.URL.Path, "/") == 6 && strings.Contains(r.URL.Path, "/jobs/ingest/") {
			mu.Lock()
			looks++
			mu.Unlock()
		}
		return false
	})
	const initial = time.Second
	c := o.client(t, bulk.WithWaitPolicy(bulk.WaitPolicy{Initial: initial, Max: 10 * time.Second}))
	ctx := testContext(t)
	wait := func(expect time.Duration) (int, time.Duration) {
		t.Helper()
		job, err := c.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.UploadJobData(ctx, job.ID, strings.NewReader(accounts("fast", 100))); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CloseIngestJob(ctx, job.ID); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		looks = 0
		mu.Unlock()
		start := time.Now()
		info, err := c.WaitIngestJobFor(ctx, job.ID, expect)
		if err != nil || info.State != bulk.StateJobComplete {
			t.Fatalf("wait: %+v, %v", info, err)
		}
		mu.Lock()
		defer mu.Unlock()
		return looks, time.Since(start)
	}
	// 100 rows at 1,000 a second: about 100 ms.
	if n, took := wait(400 * time.Millisecond); n != 1 || took >= initial {
		t.Errorf("expected in 400 ms: %d looks over %v, want 1 within %v", n, took.Round(time.Millisecond), initial)
	}
	// Looks at 10, 20, 40, 80, 160 ms; 320 and 640 ms on a loaded machine.
	if n, took := wait(bulk.MinFirstPause); n < 2 || n > 7 || took >= initial {
		t.Errorf("expected too soon: %d looks over %v, want 2 to 7 within the policy's first pause of %v", n, took.Round(time.Millisecond), initial)
	}
	if n, took := wait(0); n != 2 || took < initial {
		t.Errorf("no expectation: %d looks over %v, want 2 (at once, and after the policy's %v)", n, took.Round(time.Millisecond), initial)
	}
}
