package bulk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// QueryJobSpec describes a query job to create.
type QueryJobSpec struct {
	// Query is the SOQL statement. Bulk queries take no GROUP BY, OFFSET,
	// TYPEOF, aggregate functions or parent-to-child subqueries.
	Query string `json:"query"`
	// Operation is OpQuery (the default) or OpQueryAll.
	Operation Operation `json:"operation"`
	// ColumnDelimiter of the results; default COMMA.
	ColumnDelimiter ColumnDelimiter `json:"columnDelimiter,omitempty"`
	// LineEnding of the results; default LF.
	LineEnding LineEnding `json:"lineEnding,omitempty"`
}

type queryCreate struct {
	QueryJobSpec
	ContentType string `json:"contentType"`
}

// CreateQueryJob creates a query job; Salesforce starts it at once (state
// UploadComplete). Wait for it with WaitQueryJob and read it with
// QueryResults. The SOQL is checked when the job is created; a bad query is
// an *APIError.
//
// A query job runs as soon as it exists and counts against the org's daily
// query jobs, so the request is retried only after failures that show
// Salesforce did not act on it (a refused token, 503,
// REQUEST_LIMIT_EXCEEDED, no connection).
func (c *Client) CreateQueryJob(ctx context.Context, spec QueryJobSpec) (*JobInfo, error) {
	if spec.Operation == "" {
		spec.Operation = OpQuery
	}
	body, err := jsonBody(queryCreate{spec, "CSV"})
	if err != nil {
		return nil, fmt.Errorf("create query job: %w", err)
	}
	req := &request{endpoint: "query.create", method: http.MethodPost, path: c.apiPath("/jobs/query"), contentType: contentTypeJSON, body: body, retry: retryUnlessActed}
	var info JobInfo
	if err := c.doJSON(ctx, req, &info); err != nil {
		return nil, fmt.Errorf("create query job: %w", err)
	}
	return &info, nil
}

// GetQueryJob returns the query job's current info. An unknown or deleted
// job is an *APIError with ErrorCode NOT_FOUND.
func (c *Client) GetQueryJob(ctx context.Context, jobID string) (*JobInfo, error) {
	info, err := c.getJob(ctx, queryJobs, jobID)
	if err != nil {
		return nil, fmt.Errorf("get query job %s: %w", jobID, err)
	}
	return info, nil
}

// AbortQueryJob aborts a query job that is UploadComplete or InProgress;
// aborting a finished one is refused with INVALIDJOBSTATE.
func (c *Client) AbortQueryJob(ctx context.Context, jobID string) (*JobInfo, error) {
	info, err := c.setJobState(ctx, queryJobs, jobID, StateAborted)
	if err != nil {
		return nil, fmt.Errorf("abort query job %s: %w", jobID, err)
	}
	return info, nil
}

// DeleteQueryJob deletes a query job and its results. Salesforce deletes
// only finished jobs (JobComplete, Aborted, Failed); others are refused with
// API_ERROR.
func (c *Client) DeleteQueryJob(ctx context.Context, jobID string) error {
	if err := c.deleteJob(ctx, queryJobs, jobID); err != nil {
		return fmt.Errorf("delete query job %s: %w", jobID, err)
	}
	return nil
}

// ListQueryJobs yields the org's jobs as the query listing reports them,
// fetching pages as it goes. Salesforce lists Bulk API jobs of every kind
// here; ListOptions.JobType "V2Query" keeps the query jobs. An error ends
// the sequence.
func (c *Client) ListQueryJobs(ctx context.Context, opts ListOptions) iter.Seq2[*JobInfo, error] {
	return c.listJobs(ctx, queryJobs, opts)
}

// QueryResultsOptions tunes QueryResults.
type QueryResultsOptions struct {
	// MaxRecords is the most rows per page (request). Zero leaves it to
	// Salesforce. Smaller pages cost more requests; each page is still
	// streamed, so memory does not depend on it.
	MaxRecords int
}

// QueryReader reads the rows of a finished query job across all its result
// pages, following Sforce-Locator until Salesforce answers "null". Every
// page repeats the header row; the reader checks that it does not change
// and yields data rows only. It is not safe for concurrent use. Close it
// when done.
type QueryReader struct {
	c          *Client
	ctx        context.Context
	job        string
	path       string
	delim      byte
	maxRecords int

	header *Header
	body   io.ReadCloser // current page; nil between pages
	csv    *csvReader
	next   string // locator of the next page; "" after the last
	pages  int
	err    error // sticky
}

// QueryResults opens the results of job, which must be JobComplete; job
// carries its ID and ColumnDelimiter. The first page is requested before
// QueryResults returns, the others as Next reaches them; ctx governs them
// all. A page request is retried like any read; a failure while a page
// streams is returned by Next.
func (c *Client) QueryResults(ctx context.Context, job *JobInfo, opts QueryResultsOptions) (*QueryReader, error) {
	if job == nil {
		return nil, errors.New("query results: nil job")
	}
	delim, err := job.ColumnDelimiter.Byte()
	if err != nil {
		return nil, fmt.Errorf("query results of job %s: %w", job.ID, err)
	}
	path, err := c.jobPath(queryJobs, job.ID, "results")
	if err != nil {
		return nil, fmt.Errorf("query results: %w", err)
	}
	if opts.MaxRecords < 0 {
		return nil, fmt.Errorf("query results: MaxRecords %d is negative", opts.MaxRecords)
	}
	q := &QueryReader{c: c, ctx: ctx, job: job.ID, path: path, delim: delim, maxRecords: opts.MaxRecords}
	if err := q.openPage(""); err != nil {
		return nil, err
	}
	return q, nil
}

// openPage requests the page at locator ("" for the first) and reads its
// header row.
func (q *QueryReader) openPage(locator string) error {
	query := url.Values{}
	if locator != "" {
		query.Set("locator", locator)
	}
	if q.maxRecords > 0 {
		query.Set("maxRecords", strconv.Itoa(q.maxRecords))
	}
	resp, err := q.c.do(q.ctx, &request{endpoint: "query.results", method: http.MethodGet, path: q.path, query: query, accept: "text/csv", retry: retryAlways})
	if err != nil {
		return fmt.Errorf("query results of job %s, page %d: %w", q.job, q.pages+1, err)
	}
	q.pages++
	next, ok := resp.Header["Sforce-Locator"]
	if !ok || len(next) == 0 {
		resp.Body.Close()
		return fmt.Errorf("query results of job %s, page %d: no Sforce-Locator header", q.job, q.pages)
	}
	q.next = next[0]
	if q.next == "null" {
		q.next = ""
	}
	q.body, q.csv = resp.Body, newCSVReader(resp.Body, q.delim)
	names, err := q.csv.read()
	switch {
	case err == io.EOF: // an empty page
		q.closePage()
		return nil
	case err != nil:
		q.closePage()
		return fmt.Errorf("query results of job %s, page %d: %w", q.job, q.pages, err)
	case q.header == nil:
		q.header = newHeader(names)
	case !slices.Equal(names, q.header.names):
		q.closePage()
		return fmt.Errorf("query results of job %s, page %d: header %q differs from the first page's %q", q.job, q.pages, names, q.header.names)
	}
	return nil
}

func (q *QueryReader) closePage() {
	if q.body != nil {
		q.body.Close()
		q.body, q.csv = nil, nil
	}
}

// Header returns the columns of the results, as the SOQL names them
// (Account.Name for a parent field). It is nil while no page has had any
// content, e.g. for a query without rows.
func (q *QueryReader) Header() *Header { return q.header }

// Next returns the next row, or io.EOF after the last row of the last page.
func (q *QueryReader) Next() (Row, error) {
	for q.err == nil {
		if q.csv != nil {
			rec, err := q.csv.read()
			if err == nil {
				return Row{Values: rec, header: q.header}, nil
			}
			q.closePage()
			if err != io.EOF {
				q.err = fmt.Errorf("query results of job %s, page %d: %w", q.job, q.pages, err)
				break
			}
		}
		if q.next == "" {
			q.err = io.EOF
			break
		}
		q.err = q.openPage(q.next)
	}
	return Row{}, q.err
}

// Pages returns how many result pages have been requested so far.
func (q *QueryReader) Pages() int { return q.pages }

// Close closes the current page's response body, if any.
func (q *QueryReader) Close() error {
	q.closePage()
	if q.err == nil {
		q.err = errors.New("query reader closed")
	}
	return nil
}
