package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/internal/metrics"
	"github.com/bulkstream/bulkstream/internal/pacer"
	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// submitter runs sealed buffers as Bulk API 2.0 ingest jobs and turns their
// result files into one outcome per event. It is safe for concurrent use:
// each call works on its own buffer.
type submitter struct {
	client  *bulk.Client
	log     *slog.Logger
	metrics *metrics.Pipeline
	// retryBase and retryMax bound the pause between attempts: pauses
	// start at retryBase, double, and stop growing at retryMax.
	retryBase, retryMax time.Duration
	// maxAttempts bounds the jobs a row, or a buffer whose job fails as a
	// whole, goes through. Requests that fail on the way (an outage, a 5xx)
	// are not attempts: they are repeated until the context ends, so an
	// outage pauses the pipeline and loses nothing.
	maxAttempts int
	// journal records a job's slices before the job is closed; an error
	// gives the attempt up (the job is aborted).
	journal func(ctx context.Context, jobID string, b *batch.Buffer, attempt int) error
	pacer   *pacer.Pacer // counts records; nil when not pacing
}

// errStopped is returned when the context ended before the job's results
// were read; the buffer's events then have no result and stay uncommitted.
var errStopped = errors.New("stopped before the job finished")

// run submits b as attempt number attempt until its results are read, and
// returns one outcome per event of b, in event order. A job that Salesforce
// fails as a whole is tried again, up to maxAttempts, unless its error is
// one that no retry mends; then every event gets the job's error.
func (s *submitter) run(ctx context.Context, b *batch.Buffer, attempt int) ([]outcome, error) {
	for tries := 0; ; tries++ {
		outcomes, jobID, err := s.attempt(ctx, b, attempt)
		var je *bulk.JobError
		isJobFailure := errors.As(err, &je)
		switch {
		case err == nil:
			s.metrics.JobAttempts.WithLabelValues("ok").Inc()
			return outcomes, nil
		case ctx.Err() != nil:
			return nil, errStopped
		case isJobFailure && (permanentJobError(je) || attempt >= s.maxAttempts):
			s.metrics.JobAttempts.WithLabelValues("failed").Inc()
			s.log.Warn("job failed; its events fail", "buffer", b.Key.String(), "job", jobID, "attempt", attempt, "error", err)
			return failAll(b, jobID, attempt, err)
		case bulk.IsRequestLimitExceeded(err) && s.pacer != nil:
			s.pacer.Exhausted()
		case !isJobFailure && !bulk.IsRetryable(err):
			s.metrics.JobAttempts.WithLabelValues("failed").Inc()
			s.log.Warn("job refused; its events fail", "buffer", b.Key.String(), "error", err)
			return failAll(b, jobID, attempt, err)
		case isJobFailure:
			s.metrics.RowRetries.WithLabelValues(je.Code).Add(float64(len(b.Rows)))
			attempt++
		}
		s.metrics.JobAttempts.WithLabelValues("retry").Inc()
		pause := s.pause(tries + 1)
		s.log.Warn("job failed; trying again", "buffer", b.Key.String(), "job", jobID, "attempt", attempt, "pause", pause, "error", err)
		if !sleep(ctx, pause) {
			return nil, errStopped
		}
	}
}

// pause is the back-off before try n (1, 2, ...): exponential from
// retryBase up to retryMax, with jitter in its upper half.
func (s *submitter) pause(n int) time.Duration {
	d := s.retryBase
	for i := 1; i < n && d < s.retryMax; i++ {
		d *= 2
	}
	d = min(d, s.retryMax)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx ends; it reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// permanentJobError says whether a failed job failed for a reason no retry
// mends: the data or the job itself is wrong.
func permanentJobError(je *bulk.JobError) bool {
	switch je.Code {
	case "InvalidBatch", "ClientInputError", "InvalidJob", "FeatureNotEnabled", "InvalidOperation", "InvalidUser":
		return true
	}
	return false
}

// attempt runs b as one job: create, upload (streamed from the buffer),
// close, wait, read the results.
func (s *submitter) attempt(ctx context.Context, b *batch.Buffer, attempt int) ([]outcome, string, error) {
	start := time.Now()
	spec := bulk.IngestJobSpec{Object: b.Key.Object, Operation: bulk.Operation(b.Key.Operation), ExternalIDFieldName: b.Key.ExternalIDField}
	job, err := s.client.CreateIngestJob(ctx, spec)
	if err != nil {
		return nil, "", fmt.Errorf("create job: %w", err)
	}
	s.metrics.RowsSubmitted.WithLabelValues(b.Key.Object, string(b.Key.Operation)).Add(float64(len(b.Rows)))
	finished := false
	defer func() {
		if !finished {
			s.abort(ctx, job.ID)
		}
	}()
	failpoint("before-upload")
	if err := s.upload(ctx, job.ID, b); err != nil {
		return nil, job.ID, fmt.Errorf("upload: %w", err)
	}
	if s.pacer != nil {
		s.pacer.RecordsSubmitted(len(b.Rows))
	}
	failpoint("before-close")
	if err := s.journal(ctx, job.ID, b, attempt); err != nil {
		return nil, job.ID, err
	}
	if _, err := s.client.CloseIngestJob(ctx, job.ID); err != nil {
		return nil, job.ID, fmt.Errorf("close job: %w", err)
	}
	failpoint("after-close")
	info, err := s.client.WaitIngestJob(ctx, job.ID)
	if err != nil {
		return nil, job.ID, fmt.Errorf("wait for job: %w", err)
	}
	finished = true
	failpoint("before-results")
	s.metrics.Jobs.WithLabelValues(b.Key.Object, string(b.Key.Operation), string(info.State)).Inc()
	if info.State == bulk.StateAborted || (info.State == bulk.StateFailed && info.NumberRecordsProcessed == 0) {
		return nil, job.ID, info.Err()
	}
	outcomes, err := s.collect(ctx, b, info, attempt)
	if err != nil {
		return nil, job.ID, err
	}
	s.metrics.JobDuration.WithLabelValues(b.Key.Object, string(b.Key.Operation)).Observe(time.Since(start).Seconds())
	s.log.Debug("job done", "job", job.ID, "buffer", b.Key.String(), "rows", len(b.Rows), "events", len(b.Events),
		"processed", info.NumberRecordsProcessed, "failed", info.NumberRecordsFailed, "state", info.State)
	return outcomes, job.ID, nil
}

// resume re-attaches b, the events of a job that ran before a crash or a
// rebalance, to that job: it waits for the job and reads its results. A job
// that failed as a whole, or was aborted, runs again as a new job.
func (s *submitter) resume(ctx context.Context, b *batch.Buffer, jobID string, attempt int) ([]outcome, error) {
	// The rows are not uploaded again, but results are matched to them as
	// they would have been written.
	if err := b.WriteCSV(io.Discard); err != nil {
		return nil, err
	}
	info, err := s.client.WaitIngestJob(ctx, jobID)
	if err == nil && (info.State == bulk.StateAborted || (info.State == bulk.StateFailed && info.NumberRecordsProcessed == 0)) {
		err = info.Err()
	}
	if err == nil {
		var outcomes []outcome
		if outcomes, err = s.collect(ctx, b, info, attempt); err == nil {
			s.log.Info("re-attached to a job of the journal", "job", jobID, "events", len(b.Events))
			return outcomes, nil
		}
	}
	if ctx.Err() != nil {
		return nil, errStopped
	}
	s.log.Warn("cannot re-attach to a job of the journal; running its events again", "job", jobID, "error", err)
	return s.run(ctx, b, attempt+1)
}

// abort stops a job this attempt gives up on (the upload failed, or the
// pipeline is stopping), so it does not keep writing rows, and holding
// their locks, while the events are submitted again. Best effort, bounded
// by a few seconds: Salesforce may have finished the job meanwhile.
func (s *submitter) abort(ctx context.Context, jobID string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.client.AbortIngestJob(actx, jobID); err != nil {
		s.log.Debug("abort job", "job", jobID, "error", err)
	}
}

// upload streams the buffer's CSV into the job, never holding it whole.
func (s *submitter) upload(ctx context.Context, jobID string, b *batch.Buffer) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(b.WriteCSV(pw)) }()
	err := s.client.UploadJobData(ctx, jobID, pr)
	pr.CloseWithError(io.ErrClosedPipe) // stops the writer if the upload ended early
	return err
}

// collect reads the three result files of a finished job and gives every
// event the outcome of its row. A row Salesforce reports nothing about
// fails with BULKSTREAM_NO_RESULT, so no event is ever left without one.
func (s *submitter) collect(ctx context.Context, b *batch.Buffer, info *bulk.JobInfo, attempt int) ([]outcome, error) {
	rowResults := make([]*Result, len(b.Rows))
	base := Result{Object: b.Key.Object, Operation: string(b.Key.Operation), JobID: info.ID, Attempts: attempt}
	readers := []struct {
		name string
		open func(context.Context, *bulk.JobInfo) (*bulk.ResultReader, error)
	}{
		{"successful", s.client.SuccessfulResults},
		{"failed", s.client.FailedResults},
		{"unprocessed", s.client.UnprocessedRecords},
	}
	for _, r := range readers {
		rr, err := r.open(ctx, info)
		if err != nil {
			return nil, fmt.Errorf("read %s results: %w", r.name, err)
		}
		err = readResults(rr, b, func(row int, res bulk.Result) {
			out := base
			switch {
			case r.name == "successful":
				out.Success, out.Created = true, res.Created
			case r.name == "failed" && res.Err != nil:
				out.ErrorCode, out.Error = res.Err.Code, res.Err.Message
			default:
				out.ErrorCode, out.Error = CodeUnprocessed, "Salesforce did not process the row: "+info.ErrorMessage
			}
			if res.ID != "" {
				id := res.ID
				out.ID = &id
			}
			rowResults[row] = &out
		})
		rr.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s results: %w", r.name, err)
		}
	}
	outcomes := make([]outcome, len(b.Events))
	for i := range b.Events {
		c, err := b.Change(i)
		if err != nil {
			return nil, err
		}
		res := rowResults[b.Events[i].Row]
		if res == nil {
			res = &Result{Object: base.Object, Operation: base.Operation, JobID: info.ID, Attempts: attempt,
				ErrorCode: CodeNoResult, Error: "Salesforce returned no result for this row"}
		}
		outcomes[i] = outcome{result: *res, src: c.Source}
		outcomes[i].result.Source = sourceOf(&c.Source)
	}
	return outcomes, nil
}

func readResults(rr *bulk.ResultReader, b *batch.Buffer, f func(row int, res bulk.Result)) error {
	for {
		res, err := rr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if row, ok := b.Match(res.Header().Names(), res.Values); ok {
			f(row, res)
		}
	}
}

// failAll gives every event of b the job's error.
func failAll(b *batch.Buffer, jobID string, attempt int, err error) ([]outcome, error) {
	code, message := errorCode(err), err.Error()
	if b.Key.Operation == event.HardDelete && strings.EqualFold(code, "FEATURENOTENABLED") {
		message = `hardDelete needs the "Bulk API Hard Delete" permission (a system permission, given by a profile or permission set) for the connector's user, which does not have it: ` + message
	}
	outcomes := make([]outcome, len(b.Events))
	for i := range b.Events {
		c, rerr := b.Change(i)
		if rerr != nil {
			return nil, rerr
		}
		outcomes[i] = outcome{src: c.Source, result: Result{Object: b.Key.Object, Operation: string(b.Key.Operation),
			ErrorCode: code, Error: message, JobID: jobID, Attempts: attempt, Source: sourceOf(&c.Source)}}
	}
	return outcomes, nil
}

// errorCode returns Salesforce's code of an error: the errorCode of an API
// error, the error name of a failed job.
func errorCode(err error) string {
	var ae *bulk.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode
	}
	var je *bulk.JobError
	if errors.As(err, &je) && je.Code != "" {
		return je.Code
	}
	return "BULKSTREAM_JOB_FAILED"
}

// decodeErrorCode tells a record that cannot be decoded from one whose
// schema the registry could not give.
func decodeErrorCode(err error) string {
	var re *event.RegistryError
	if errors.As(err, &re) {
		return CodeSchemaRegistry
	}
	return CodeDecode
}

// decodeFailure is the outcome of a record that could not be turned into a
// change, or that can never be uploaded.
func decodeFailure(src event.Source, code, message string) outcome {
	return outcome{src: src, result: Result{ErrorCode: code, Error: message, Source: sourceOf(&src)}}
}
