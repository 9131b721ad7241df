package bulk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Header is the header row of a result or query CSV: column names as
// Salesforce wrote them, which for results are the names of the uploaded
// header.
type Header struct {
	names []string
	index map[string]int // exact names, then lower-cased ones
}

func newHeader(names []string) *Header {
	h := &Header{names: names, index: make(map[string]int, 2*len(names))}
	for i, n := range names {
		if _, dup := h.index[n]; !dup {
			h.index[n] = i
		}
	}
	for i, n := range names {
		if l := strings.ToLower(n); l != n {
			if _, dup := h.index[l]; !dup {
				h.index[l] = i
			}
		}
	}
	return h
}

// Names returns the column names in order. The slice must not be modified.
func (h *Header) Names() []string { return h.names }

// Index returns the position of the column named name, matched exactly or,
// failing that, ignoring case as Salesforce matches field names; -1 if there
// is none.
func (h *Header) Index(name string) int {
	if i, ok := h.index[name]; ok {
		return i
	}
	if i, ok := h.index[strings.ToLower(name)]; ok {
		return i
	}
	return -1
}

// Row is one CSV record with the header it belongs to.
type Row struct {
	Values []string // in the header's column order
	header *Header
}

// Header returns the row's header.
func (r Row) Header() *Header { return r.header }

// Get returns the value of the named column (see Header.Index) and whether
// there is such a column.
func (r Row) Get(column string) (string, bool) {
	if r.header == nil {
		return "", false
	}
	i := r.header.Index(column)
	if i < 0 || i >= len(r.Values) {
		return "", false
	}
	return r.Values[i], true
}

// Result is one row of an ingest job's results: the sf__ columns Salesforce
// added, and the row as uploaded (the values as Salesforce stored them).
type Result struct {
	// ID is sf__Id: the record's id. Empty in failed inserts and in
	// unprocessed records.
	ID string
	// Created is sf__Created: true if the row created a record (insert,
	// or upsert that inserted). Only in successful results.
	Created bool
	// Err is sf__Error, parsed. Only in failed results.
	Err *RowError
	Row
}

// RowError is a row's sf__Error, e.g.
// "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --".
type RowError struct {
	Code    string   // REQUIRED_FIELD_MISSING
	Message string   // Required fields are missing: [Name]
	Fields  []string // [Name]; empty when Salesforce names no field
}

func (e *RowError) Error() string { return e.Code + ": " + e.Message }

// Retryable reports whether loading the row again may succeed, as after
// UNABLE_TO_LOCK_ROW; errors in the data are not retryable.
func (e *RowError) Retryable() bool { return retryableCode(e.Code) }

// ParseRowError parses an sf__Error value: "CODE:message:Field1,Field2 --",
// where the field list is empty (":--") when no field is concerned. A value
// without that tail is all message.
func ParseRowError(s string) *RowError {
	code, rest, ok := strings.Cut(s, ":")
	if !ok {
		return &RowError{Message: s}
	}
	e := &RowError{Code: code, Message: rest}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 || !strings.HasSuffix(rest, "--") {
		return e
	}
	e.Message = rest[:i]
	for f := range strings.SplitSeq(strings.TrimSuffix(rest[i+1:], "--"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			e.Fields = append(e.Fields, f)
		}
	}
	return e
}

// ResultReader streams one of an ingest job's result files from the HTTP
// response, one row at a time; memory does not grow with the file. It is
// not safe for concurrent use. Close it when done.
type ResultReader struct {
	body    io.ReadCloser
	csv     *csvReader
	header  *Header // the uploaded columns
	cols    []int   // where the uploaded columns are in a record
	id      int     // where sf__Id is, or -1
	created int     // where sf__Created is, or -1
	errCol  int     // where sf__Error is, or -1
	err     error   // sticky
}

// SuccessfulResults streams the rows of job that were processed: sf__Id,
// sf__Created and the uploaded columns. Salesforce has them once the job is
// JobComplete or Failed; the order of rows is not the upload order. job
// must carry the job's ID and ColumnDelimiter, as the JobInfo of any call
// about the job does.
func (c *Client) SuccessfulResults(ctx context.Context, job *JobInfo) (*ResultReader, error) {
	return c.results(ctx, job, "successfulResults")
}

// FailedResults streams the rows of job that failed: sf__Id (empty for
// inserts), sf__Error and the uploaded columns. See SuccessfulResults.
func (c *Client) FailedResults(ctx context.Context, job *JobInfo) (*ResultReader, error) {
	return c.results(ctx, job, "failedResults")
}

// UnprocessedRecords streams the rows of job that were never processed,
// because the job was aborted or failed: the uploaded columns only. See
// SuccessfulResults.
func (c *Client) UnprocessedRecords(ctx context.Context, job *JobInfo) (*ResultReader, error) {
	return c.results(ctx, job, "unprocessedrecords")
}

// results requests a result file and reads its header. The request is
// retried like any read; a failure while the rows stream is returned by Next
// and not retried, since Salesforce does not promise the same row order
// twice.
func (c *Client) results(ctx context.Context, job *JobInfo, kind string) (*ResultReader, error) {
	if job == nil {
		return nil, errors.New("results: nil job")
	}
	delim, err := job.ColumnDelimiter.Byte()
	if err != nil {
		return nil, fmt.Errorf("%s of job %s: %w", kind, job.ID, err)
	}
	path, err := c.jobPath(ingestJobs, job.ID, kind)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	resp, err := c.do(ctx, &request{endpoint: "ingest.results", method: http.MethodGet, path: path, accept: "text/csv", retry: retryAlways})
	if err != nil {
		return nil, fmt.Errorf("%s of job %s: %w", kind, job.ID, err)
	}
	r := &ResultReader{body: resp.Body, csv: newCSVReader(resp.Body, delim), id: -1, created: -1, errCol: -1}
	names, err := r.csv.read()
	if err == io.EOF {
		r.header = newHeader(nil)
		return r, nil
	}
	if err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("%s of job %s: %w", kind, job.ID, err)
	}
	var uploaded []string
	for i, n := range names {
		switch n {
		case "sf__Id":
			r.id = i
		case "sf__Created":
			r.created = i
		case "sf__Error":
			r.errCol = i
		default:
			r.cols = append(r.cols, i)
			uploaded = append(uploaded, n)
		}
	}
	r.header = newHeader(uploaded)
	return r, nil
}

// Header returns the uploaded columns, without the sf__ ones. For an empty
// response it has no columns.
func (r *ResultReader) Header() *Header { return r.header }

// Next returns the next row, or io.EOF after the last. Any other error ends
// the reading: a broken connection, or CSV that cannot be parsed.
func (r *ResultReader) Next() (Result, error) {
	if r.err != nil {
		return Result{}, r.err
	}
	rec, err := r.csv.read()
	if err != nil {
		r.err = err
		return Result{}, err
	}
	res := Result{Row: Row{header: r.header}}
	if r.id >= 0 {
		res.ID = rec[r.id]
	}
	if r.created >= 0 {
		if res.Created, err = strconv.ParseBool(rec[r.created]); err != nil {
			r.err = fmt.Errorf("csv line %d: sf__Created: %w", r.csv.line, err)
			return Result{}, r.err
		}
	}
	if r.errCol >= 0 && rec[r.errCol] != "" {
		res.Err = ParseRowError(rec[r.errCol])
	}
	res.Values = pick(rec, r.cols)
	return res, nil
}

// pick returns rec's fields at cols (increasing positions), sharing rec
// when they are its tail, as they are in Salesforce's results.
func pick(rec []string, cols []int) []string {
	n := len(cols)
	if n == 0 {
		return nil
	}
	if cols[0] == len(rec)-n {
		return rec[cols[0]:]
	}
	out := make([]string, n)
	for i, c := range cols {
		out[i] = rec[c]
	}
	return out
}

// ReuseValues makes Next return the Values of each Result in the slice it
// returned the Values of the Result before, overwritten, rather than in a
// new one: they are then valid only until the next call of Next. The
// strings themselves, ID and Err stay valid. It saves an allocation a row
// to a caller that keeps no Values, as matching rows to uploads does.
func (r *ResultReader) ReuseValues() { r.csv.reuse = true }

// BorrowStrings makes Next return rows whose strings (ID, Values, and the
// Err's Code, Message and Fields) are the reader's own bytes, overwritten by the
// next call of Next, rather than a copy of each row: they are valid only
// until then, and a caller keeps what it needs with strings.Clone. It
// implies ReuseValues. It saves a row's worth of allocation (about the
// row's size) to a caller that keeps a few of its fields, as matching rows
// to uploads does.
func (r *ResultReader) BorrowStrings() { r.csv.reuse, r.csv.borrow = true, true }

// Close closes the response body.
func (r *ResultReader) Close() error { return r.body.Close() }
