package bulk_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

func TestQueryReadsAllPages(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	ctx := testContext(t)
	load(t, c, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert}, strings.NewReader(accounts("q", 25)))

	job, err := c.CreateQueryJob(ctx, bulk.QueryJobSpec{Query: "SELECT Id, Name, NumberOfEmployees FROM Account"})
	if err != nil {
		t.Fatal(err)
	}
	if job.Operation != bulk.OpQuery || job.Object != "Account" || (job.State != bulk.StateUploadComplete && job.State != bulk.StateInProgress) {
		t.Fatalf("created query job %+v", job)
	}
	done, err := c.WaitQueryJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.State != bulk.StateJobComplete || done.NumberRecordsProcessed != 25 || done.JobType != "V2Query" {
		t.Fatalf("finished query job %+v", done)
	}

	o.wire.reset()
	rows, q := readRows(t, c, done, bulk.QueryResultsOptions{MaxRecords: 10})
	if len(rows) != 25 {
		t.Fatalf("%d rows, want 25", len(rows))
	}
	if got := q.Header().Names(); !slices.Equal(got, []string{"Id", "Name", "NumberOfEmployees"}) {
		t.Errorf("header %q", got)
	}
	var names []string
	for _, r := range rows {
		if id, _ := r.Get("Id"); len(id) != 18 {
			t.Errorf("row %v: bad Id", r.Values)
		}
		name, _ := r.Get("Name")
		names = append(names, name)
	}
	var want []string
	for i := 1; i <= 25; i++ {
		want = append(want, fmt.Sprintf("Account q %d", i))
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("names %q, want %q", names, want)
	}
	pages := o.wire.exchanges(http.MethodGet, "/results")
	if q.Pages() != 3 || len(pages) != 3 {
		t.Fatalf("%d pages (%d requests), want 3", q.Pages(), len(pages))
	}
	for i, p := range pages {
		if !strings.Contains(p.Query, "maxRecords=10") || strings.Contains(p.Query, "locator=") != (i > 0) {
			t.Errorf("page %d query %q: want maxRecords=10 and a locator after the first", i+1, p.Query)
		}
	}
	if pages[2].Response.Get("Sforce-Locator") != "null" {
		t.Errorf("last page's Sforce-Locator = %q", pages[2].Response.Get("Sforce-Locator"))
	}

	// Without maxRecords one page holds everything.
	rows, q = readRows(t, c, done, bulk.QueryResultsOptions{})
	if len(rows) != 25 || q.Pages() != 1 {
		t.Errorf("%d rows in %d pages, want 25 in 1", len(rows), q.Pages())
	}

	// A finished query cannot be aborted; it can be deleted.
	_, err = c.AbortQueryJob(ctx, job.ID)
	wantCode(t, err, http.StatusBadRequest, bulk.CodeInvalidJobState)
	if err := c.DeleteQueryJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetQueryJob(ctx, job.ID)
	wantCode(t, err, http.StatusNotFound, bulk.CodeNotFound)
}

func TestQueryDelimiterAndEmptyResult(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	ctx := testContext(t)
	load(t, c, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert},
		strings.NewReader("Name,Description\n\"Caret ^ Co\",\"line one\nline two\"\n"))

	job, err := c.CreateQueryJob(ctx, bulk.QueryJobSpec{Query: "SELECT Name, Description FROM Account", ColumnDelimiter: bulk.DelimiterCaret, LineEnding: bulk.LineEndingCRLF})
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.WaitQueryJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.ColumnDelimiter != bulk.DelimiterCaret || done.LineEnding != bulk.LineEndingCRLF {
		t.Fatalf("query job %+v: want CARET and CRLF", done)
	}
	rows, _ := readRows(t, c, done, bulk.QueryResultsOptions{})
	if len(rows) != 1 || rows[0].Values[0] != "Caret ^ Co" || rows[0].Values[1] != "line one\nline two" {
		t.Fatalf("rows %v", rows)
	}

	none, err := c.CreateQueryJob(ctx, bulk.QueryJobSpec{Query: "SELECT Id FROM Contact", Operation: bulk.OpQueryAll})
	if err != nil {
		t.Fatal(err)
	}
	if none, err = c.WaitQueryJob(ctx, none.ID); err != nil {
		t.Fatal(err)
	}
	q, err := c.QueryResults(ctx, none, bulk.QueryResultsOptions{MaxRecords: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Next(); err != io.EOF {
		t.Fatalf("Next of an empty result: %v, want io.EOF", err)
	}
	if none.Operation != bulk.OpQueryAll {
		t.Errorf("operation %s, want queryAll", none.Operation)
	}
}

func TestQueryRequestErrors(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	ctx := testContext(t)

	_, err := c.CreateQueryJob(ctx, bulk.QueryJobSpec{Query: "SELECT Nope__c FROM Account"})
	if e := apiError(t, err); e.StatusCode != http.StatusBadRequest || e.ErrorCode == "" || bulk.IsRetryable(err) {
		t.Fatalf("bad SOQL: %v; want a permanent 400 with an error code", err)
	}
	_, err = c.GetQueryJob(ctx, "750000000000000AAA")
	wantCode(t, err, http.StatusNotFound, bulk.CodeNotFound)
	_, err = c.QueryResults(ctx, &bulk.JobInfo{ID: "750000000000000AAA"}, bulk.QueryResultsOptions{})
	wantCode(t, err, http.StatusNotFound, bulk.CodeNotFound)

	// An ingest job is not a query job.
	ingest, err := c.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetQueryJob(ctx, ingest.ID)
	wantCode(t, err, http.StatusNotFound, bulk.CodeNotFound)
}

func TestListQueryJobs(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	ctx := testContext(t)
	want := map[string]bool{}
	for range 3 {
		job, err := c.CreateQueryJob(ctx, bulk.QueryJobSpec{Query: "SELECT Id FROM Lead"})
		if err != nil {
			t.Fatal(err)
		}
		want[job.ID] = true
	}
	ingest, err := c.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Lead", Operation: bulk.OpInsert})
	if err != nil {
		t.Fatal(err)
	}
	for job, err := range c.ListQueryJobs(ctx, bulk.ListOptions{JobType: "V2Query"}) {
		if err != nil {
			t.Fatal(err)
		}
		if !want[job.ID] {
			t.Errorf("listed %s (%s), not one of the query jobs", job.ID, job.JobType)
		}
		delete(want, job.ID)
	}
	if len(want) != 0 {
		t.Errorf("query jobs not listed: %v", want)
	}
	all := 0
	for job, err := range c.ListQueryJobs(ctx, bulk.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if job.ID == ingest.ID {
			all++
		}
	}
	if all != 1 {
		t.Errorf("the unfiltered query listing has the ingest job %d times, want once (it lists all jobs)", all)
	}
}
