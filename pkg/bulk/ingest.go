package bulk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"unicode/utf8"
)

// IngestJobSpec describes an ingest job to create.
type IngestJobSpec struct {
	// Object is the sObject's API name, e.g. Account. One object per job.
	Object string `json:"object"`
	// Operation is one of OpInsert, OpUpdate, OpUpsert, OpDelete and
	// OpHardDelete.
	Operation Operation `json:"operation"`
	// ExternalIDFieldName names the external id field that matches rows
	// to records; required for OpUpsert (Id also works).
	ExternalIDFieldName string `json:"externalIdFieldName,omitempty"`
	// ColumnDelimiter of the data and of the results; default COMMA.
	ColumnDelimiter ColumnDelimiter `json:"columnDelimiter,omitempty"`
	// LineEnding of the data; default LF. Data with other line endings
	// makes the job fail.
	LineEnding LineEnding `json:"lineEnding,omitempty"`
	// AssignmentRuleID is a Case or Lead assignment rule to apply.
	AssignmentRuleID string `json:"assignmentRuleId,omitempty"`
}

type ingestCreate struct {
	IngestJobSpec
	ContentType string `json:"contentType"`
}

// CreateIngestJob creates an ingest job in state Open. Upload its data with
// UploadJobData, then start it with CloseIngestJob.
//
// A create that failed may still have created a job. It is retried all the
// same, because a job left Open and empty does nothing: Salesforce neither
// processes it nor counts it against the record limits, and removes it after
// a day.
func (c *Client) CreateIngestJob(ctx context.Context, spec IngestJobSpec) (*JobInfo, error) {
	body, err := jsonBody(ingestCreate{spec, "CSV"})
	if err != nil {
		return nil, fmt.Errorf("create ingest job: %w", err)
	}
	req := &request{endpoint: "ingest.create", method: http.MethodPost, path: c.apiPath("/jobs/ingest"), contentType: contentTypeJSON, body: body, retry: retryAlways}
	var info JobInfo
	if err := c.doJSON(ctx, req, &info); err != nil {
		return nil, fmt.Errorf("create ingest job: %w", err)
	}
	return &info, nil
}

// MaxMultipartChars is the most characters of CSV that
// CreateIngestJobWithData takes, as Salesforce documents.
const MaxMultipartChars = 100_000

// ErrMultipartTooLarge is returned by CreateIngestJobWithData for data of
// more than MaxMultipartChars characters.
var ErrMultipartTooLarge = errors.New("too much data for a multipart job")

// CreateIngestJobWithData creates an ingest job and uploads csv in one
// multipart request; the job comes back UploadComplete and is processed
// without CloseIngestJob. It is meant for small loads: csv may have at most
// MaxMultipartChars characters (UTF-8 runes).
//
// Because the job is processed as soon as it exists, the request is retried
// only after failures that show Salesforce did not act on it (a refused
// token, 503, REQUEST_LIMIT_EXCEEDED, no connection); after a 500 or a
// broken connection the error is returned and the caller has to find out,
// e.g. with ListIngestJobs, whether the job exists.
func (c *Client) CreateIngestJobWithData(ctx context.Context, spec IngestJobSpec, csv []byte) (*JobInfo, error) {
	if n := utf8.RuneCount(csv); n > MaxMultipartChars {
		return nil, fmt.Errorf("create ingest job: %d characters of CSV: %w (at most %d)", n, ErrMultipartTooLarge, MaxMultipartChars)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := writePart(mw, `form-data; name="job"`, "application/json", func(w io.Writer) error {
		return json.NewEncoder(w).Encode(ingestCreate{spec, "CSV"})
	}); err != nil {
		return nil, fmt.Errorf("create ingest job: %w", err)
	}
	if err := writePart(mw, `form-data; name="content"; filename="content"`, "text/csv", func(w io.Writer) error {
		_, err := w.Write(csv)
		return err
	}); err != nil {
		return nil, fmt.Errorf("create ingest job: %w", err)
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("create ingest job: %w", err)
	}
	req := &request{
		endpoint: "ingest.create", method: http.MethodPost, path: c.apiPath("/jobs/ingest"),
		contentType: mw.FormDataContentType(), body: bytesBody(buf.Bytes()),
		retry: retryUnlessActed,
	}
	var info JobInfo
	if err := c.doJSON(ctx, req, &info); err != nil {
		return nil, fmt.Errorf("create ingest job: %w", err)
	}
	return &info, nil
}

func writePart(mw *multipart.Writer, disposition, contentType string, write func(io.Writer) error) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", disposition)
	h.Set("Content-Type", contentType)
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	return write(w)
}

// UploadJobData sends the job's CSV data, streamed from data: the first row
// is the header of field API names, the delimiter and line ending are the
// job's. Salesforce takes one upload per job, of at most 100 MB (150 MB
// after its base64 encoding). With WithGzipUpload the data is compressed on
// the way.
//
// data is read once, as the request body, and never held in memory. A
// failed upload is retried only if data is an io.Seeker whose Seek works
// (it is rewound to where it stood when UploadJobData was called) or if the
// failed try read nothing from it; otherwise the error is returned. If a try
// that failed had in fact been stored, the retry is refused with
// BULK_API_ERROR, and the job should be aborted and loaded again. If data is
// an io.Closer, UploadJobData does not close it.
func (c *Client) UploadJobData(ctx context.Context, jobID string, data io.Reader) error {
	path, err := c.jobPath(ingestJobs, jobID, "batches")
	if err != nil {
		return fmt.Errorf("upload job data: %w", err)
	}
	body, err := newStreamBody(data, c.gzipUp)
	if err != nil {
		return fmt.Errorf("upload job %s data: %w", jobID, err)
	}
	req := &request{endpoint: "ingest.upload", method: http.MethodPut, path: path, contentType: contentTypeCSV, body: body, retry: retryAlways}
	if c.gzipUp {
		req.contentEncoding = "gzip"
	}
	resp, err := c.do(ctx, req)
	if err != nil {
		return fmt.Errorf("upload job %s data: %w", jobID, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// CloseIngestJob marks the job's upload complete (state UploadComplete), so
// that Salesforce starts processing it. Without it the job is never
// processed. If a retried close is refused because an earlier try went
// through, the job's current info is returned with no error.
func (c *Client) CloseIngestJob(ctx context.Context, jobID string) (*JobInfo, error) {
	info, err := c.setJobState(ctx, ingestJobs, jobID, StateUploadComplete)
	if err != nil {
		return nil, fmt.Errorf("close ingest job %s: %w", jobID, err)
	}
	return info, nil
}

// AbortIngestJob aborts a job that has not finished (Open, UploadComplete or
// InProgress). Rows already processed stay processed; the others are
// reported by UnprocessedRecords. Aborting a finished job is refused with
// INVALIDJOBSTATE.
func (c *Client) AbortIngestJob(ctx context.Context, jobID string) (*JobInfo, error) {
	info, err := c.setJobState(ctx, ingestJobs, jobID, StateAborted)
	if err != nil {
		return nil, fmt.Errorf("abort ingest job %s: %w", jobID, err)
	}
	return info, nil
}

// DeleteIngestJob deletes a job and its data and results. Salesforce deletes
// only jobs in state UploadComplete, JobComplete, Aborted or Failed.
func (c *Client) DeleteIngestJob(ctx context.Context, jobID string) error {
	if err := c.deleteJob(ctx, ingestJobs, jobID); err != nil {
		return fmt.Errorf("delete ingest job %s: %w", jobID, err)
	}
	return nil
}

// GetIngestJob returns the job's current info. An unknown or deleted job is
// an *APIError with ErrorCode NOT_FOUND.
func (c *Client) GetIngestJob(ctx context.Context, jobID string) (*JobInfo, error) {
	info, err := c.getJob(ctx, ingestJobs, jobID)
	if err != nil {
		return nil, fmt.Errorf("get ingest job %s: %w", jobID, err)
	}
	return info, nil
}

// ListIngestJobs yields the org's ingest jobs, in no particular order,
// fetching pages of up to 1,000 jobs as it goes. An error ends the sequence.
//
//	for job, err := range c.ListIngestJobs(ctx, bulk.ListOptions{}) { ... }
func (c *Client) ListIngestJobs(ctx context.Context, opts ListOptions) iter.Seq2[*JobInfo, error] {
	return c.listJobs(ctx, ingestJobs, opts)
}
