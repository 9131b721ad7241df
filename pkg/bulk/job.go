package bulk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Operation is what a job does with its rows. The values are case-sensitive
// on the wire.
type Operation string

// Ingest and query operations.
const (
	OpInsert     Operation = "insert"
	OpUpdate     Operation = "update"
	OpUpsert     Operation = "upsert" // needs IngestJobSpec.ExternalIDFieldName
	OpDelete     Operation = "delete" // CSV with only an Id column
	OpHardDelete Operation = "hardDelete"
	OpQuery      Operation = "query"
	OpQueryAll   Operation = "queryAll" // also returns deleted and archived records
)

// JobState is the state of a job. Ingest jobs go Open → UploadComplete →
// InProgress → JobComplete or Failed; query jobs start at UploadComplete. Any
// job that has not finished can be Aborted.
type JobState string

// Job states.
const (
	StateOpen           JobState = "Open"
	StateUploadComplete JobState = "UploadComplete"
	StateInProgress     JobState = "InProgress"
	StateJobComplete    JobState = "JobComplete"
	StateFailed         JobState = "Failed"
	StateAborted        JobState = "Aborted"
)

// Terminal reports whether the state is final: JobComplete, Failed or
// Aborted.
func (s JobState) Terminal() bool {
	return s == StateJobComplete || s == StateFailed || s == StateAborted
}

// ColumnDelimiter is the field separator of a job's CSV, both the uploaded
// data and the results. The empty value means COMMA.
type ColumnDelimiter string

// Column delimiters.
const (
	DelimiterComma     ColumnDelimiter = "COMMA"     // ,
	DelimiterTab       ColumnDelimiter = "TAB"       // \t
	DelimiterPipe      ColumnDelimiter = "PIPE"      // |
	DelimiterSemicolon ColumnDelimiter = "SEMICOLON" // ;
	DelimiterCaret     ColumnDelimiter = "CARET"     // ^
	DelimiterBackquote ColumnDelimiter = "BACKQUOTE" // `
)

// Byte returns the separator character.
func (d ColumnDelimiter) Byte() (byte, error) {
	switch d {
	case "", DelimiterComma:
		return ',', nil
	case DelimiterTab:
		return '\t', nil
	case DelimiterPipe:
		return '|', nil
	case DelimiterSemicolon:
		return ';', nil
	case DelimiterCaret:
		return '^', nil
	case DelimiterBackquote:
		return '`', nil
	}
	return 0, fmt.Errorf("unknown column delimiter %q", string(d))
}

// LineEnding is the record terminator of a job's CSV. The empty value means
// LF. Uploaded data must use the job's line ending, or the job fails with
// ClientInputError; the readers of this package accept both.
type LineEnding string

// Line endings.
const (
	LineEndingLF   LineEnding = "LF"
	LineEndingCRLF LineEnding = "CRLF"
)

// JobInfo describes an ingest or a query job as Salesforce reports it.
// Which fields are set depends on the kind of job, its state and the call:
// ContentURL only while an ingest job is Open, the counters and times only
// from GET, ErrorMessage only for failed jobs.
type JobInfo struct {
	ID                  string          `json:"id"`
	Operation           Operation       `json:"operation"`
	Object              string          `json:"object"`
	CreatedByID         string          `json:"createdById"`
	CreatedDate         time.Time       `json:"createdDate"`
	SystemModstamp      time.Time       `json:"systemModstamp"`
	State               JobState        `json:"state"`
	ExternalIDFieldName string          `json:"externalIdFieldName,omitempty"`
	ConcurrencyMode     string          `json:"concurrencyMode,omitempty"` // always Parallel
	ContentType         string          `json:"contentType,omitempty"`     // always CSV
	APIVersion          json.Number     `json:"apiVersion,omitempty"`      // a number on the wire: 62.0
	JobType             string          `json:"jobType,omitempty"`         // V2Ingest, V2Query, Classic, BigObjectIngest
	ContentURL          string          `json:"contentUrl,omitempty"`      // relative: services/data/v62.0/jobs/ingest/{id}/batches
	LineEnding          LineEnding      `json:"lineEnding,omitempty"`
	ColumnDelimiter     ColumnDelimiter `json:"columnDelimiter,omitempty"`
	AssignmentRuleID    string          `json:"assignmentRuleId,omitempty"`

	// NumberRecordsProcessed counts processed rows, failed ones included.
	NumberRecordsProcessed int64 `json:"numberRecordsProcessed"`
	NumberRecordsFailed    int64 `json:"numberRecordsFailed"`
	// Retries counts how often Salesforce retried a batch of the job.
	Retries int `json:"retries"`
	// Processing times, in milliseconds.
	TotalProcessingTime     int64 `json:"totalProcessingTime"`
	APIActiveProcessingTime int64 `json:"apiActiveProcessingTime"`
	ApexProcessingTime      int64 `json:"apexProcessingTime"`

	IsPkChunkingSupported bool   `json:"isPkChunkingSupported,omitempty"` // query jobs
	ErrorMessage          string `json:"errorMessage,omitempty"`          // "InvalidBatch : Field name not found : Foo"
}

// timeLayout is how Salesforce writes dates in job info:
// 2020-03-21T20:03:25.000+0000.
const timeLayout = "2006-01-02T15:04:05.000-0700"

// UnmarshalJSON decodes Salesforce's job JSON. Dates may be in Salesforce's
// layout or RFC 3339 (what MarshalJSON of a JobInfo writes).
func (j *JobInfo) UnmarshalJSON(b []byte) error {
	type plain JobInfo
	var v struct {
		*plain
		CreatedDate    string `json:"createdDate"`
		SystemModstamp string `json:"systemModstamp"`
	}
	v.plain = (*plain)(j)
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var err error
	if j.CreatedDate, err = parseTime(v.CreatedDate); err != nil {
		return fmt.Errorf("createdDate: %w", err)
	}
	if j.SystemModstamp, err = parseTime(v.SystemModstamp); err != nil {
		return fmt.Errorf("systemModstamp: %w", err)
	}
	return nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(timeLayout, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// Err returns a *JobError when the job ended Failed or Aborted, and nil
// otherwise. A failed ingest job may still have processed some rows; its
// results are worth reading.
func (j *JobInfo) Err() error {
	if j.State != StateFailed && j.State != StateAborted {
		return nil
	}
	code, _, found := strings.Cut(j.ErrorMessage, " : ")
	if !found {
		code = ""
	}
	return &JobError{JobID: j.ID, State: j.State, Code: code, Message: j.ErrorMessage}
}

// jobKind is the path segment of a kind of job.
type jobKind string

const (
	ingestJobs jobKind = "ingest"
	queryJobs  jobKind = "query"
)

func (c *Client) jobPath(kind jobKind, id string, rest ...string) (string, error) {
	if id == "" {
		return "", errors.New("empty job id")
	}
	p := c.apiPath("/jobs/" + string(kind) + "/" + url.PathEscape(id))
	for _, r := range rest {
		p += "/" + r
	}
	return p, nil
}

func (c *Client) getJob(ctx context.Context, kind jobKind, id string) (*JobInfo, error) {
	path, err := c.jobPath(kind, id)
	if err != nil {
		return nil, err
	}
	var info JobInfo
	if err := c.doJSON(ctx, &request{endpoint: string(kind) + ".get", method: http.MethodGet, path: path, retry: retryAlways}, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// setJobState PATCHes the job's state. The request is retried like any
// other: if an earlier try may have changed the state already, the retry is
// refused with INVALIDJOBSTATE, so the job is looked at before that refusal
// is believed.
func (c *Client) setJobState(ctx context.Context, kind jobKind, id string, state JobState) (*JobInfo, error) {
	path, err := c.jobPath(kind, id)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(map[string]JobState{"state": state})
	if err != nil {
		return nil, err
	}
	req := &request{endpoint: string(kind) + "." + stateVerb(state), method: http.MethodPatch, path: path, contentType: contentTypeJSON, body: bytesBody(body), retry: retryAlways}
	var info JobInfo
	err = c.doJSON(ctx, req, &info)
	if err == nil {
		return &info, nil
	}
	if req.ambiguous && hasCode(err, CodeInvalidJobState) {
		if cur, gerr := c.getJob(ctx, kind, id); gerr == nil && reached(cur.State, state) {
			return cur, nil
		}
	}
	return nil, err
}

// stateVerb names a state change for request observers: close, abort.
func stateVerb(state JobState) string {
	switch state {
	case StateUploadComplete:
		return "close"
	case StateAborted:
		return "abort"
	}
	return "state"
}

// reached reports whether a job in state cur has gone through target.
func reached(cur, target JobState) bool {
	if target == StateUploadComplete {
		return cur != StateOpen && cur != StateAborted
	}
	return cur == target
}

// deleteJob deletes a job. A retry after a try that may have deleted it
// already answers NOT_FOUND, which then counts as success.
func (c *Client) deleteJob(ctx context.Context, kind jobKind, id string) error {
	path, err := c.jobPath(kind, id)
	if err != nil {
		return err
	}
	req := &request{endpoint: string(kind) + ".delete", method: http.MethodDelete, path: path, retry: retryAlways}
	err = c.doJSON(ctx, req, nil)
	if err != nil && req.ambiguous && hasCode(err, CodeNotFound) {
		return nil
	}
	return err
}

// ListOptions filters a job listing. The zero value lists every job.
type ListOptions struct {
	// JobType keeps jobs of one type: V2Ingest, V2Query, Classic or
	// BigObjectIngest. Empty means all.
	JobType string
	// ConcurrencyMode keeps jobs of one mode (Parallel). Empty means all.
	ConcurrencyMode string
	// PkChunkingOnly keeps only jobs with PK chunking enabled.
	PkChunkingOnly bool
}

type jobPage struct {
	Done           bool      `json:"done"`
	Records        []JobInfo `json:"records"`
	NextRecordsURL string    `json:"nextRecordsUrl"`
}

// listJobs yields the jobs of all pages of a listing. Only the queryLocator
// of a page's nextRecordsUrl is used; the path stays ours, because the
// documentation shows query listings whose nextRecordsUrl names
// /jobs/ingest.
func (c *Client) listJobs(ctx context.Context, kind jobKind, opts ListOptions) iter.Seq2[*JobInfo, error] {
	return func(yield func(*JobInfo, error) bool) {
		query := url.Values{}
		if opts.JobType != "" {
			query.Set("jobType", opts.JobType)
		}
		if opts.ConcurrencyMode != "" {
			query.Set("concurrencyMode", opts.ConcurrencyMode)
		}
		if opts.PkChunkingOnly {
			query.Set("isPkChunkingEnabled", "true")
		}
		seen := map[string]bool{}
		for {
			var page jobPage
			req := &request{endpoint: string(kind) + ".list", method: http.MethodGet, path: c.apiPath("/jobs/" + string(kind)), query: query, retry: retryAlways}
			if err := c.doJSON(ctx, req, &page); err != nil {
				yield(nil, fmt.Errorf("list %s jobs: %w", kind, err))
				return
			}
			for i := range page.Records {
				if !yield(&page.Records[i], nil) {
					return
				}
			}
			if page.Done || page.NextRecordsURL == "" {
				return
			}
			locator, err := queryLocator(page.NextRecordsURL)
			if err == nil && seen[locator] {
				err = fmt.Errorf("nextRecordsUrl %q repeats", page.NextRecordsURL)
			}
			if err != nil {
				yield(nil, fmt.Errorf("list %s jobs: %w", kind, err))
				return
			}
			seen[locator] = true
			query = url.Values{"queryLocator": {locator}}
		}
	}
}

func queryLocator(next string) (string, error) {
	u, err := url.Parse(next)
	if err != nil {
		return "", fmt.Errorf("nextRecordsUrl: %w", err)
	}
	loc := u.Query().Get("queryLocator")
	if loc == "" {
		return "", fmt.Errorf("nextRecordsUrl %q has no queryLocator", next)
	}
	return loc, nil
}
