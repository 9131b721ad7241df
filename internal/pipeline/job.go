package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
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
//
// The rule that keeps rows from being loaded twice: once a job's journal
// entry is written and its close is sent, the job stands for its rows until
// Salesforce says it ended without processing any (Aborted or Failed with no
// row processed) or that it was never closed (Open). Until then it is asked
// about, waited for and its results read for as long as it takes, through
// outages, 5xx and refused sessions; it is never replaced by a second upload.
type submitter struct {
	client  *bulk.Client
	log     *slog.Logger
	metrics *metrics.Pipeline
	// retryBase and retryMax bound the pause between attempts: pauses
	// start at retryBase, double, and stop growing at retryMax.
	retryBase, retryMax time.Duration
	// maxAttempts bounds the jobs a row, or a buffer whose job fails as a
	// whole, goes through. Requests that fail on the way (an outage, a 5xx,
	// a refused session) are not attempts: they are repeated until the
	// context ends, so an outage pauses the pipeline and loses nothing.
	maxAttempts int
	// journal records a job's slices before the job is closed; an error
	// gives the attempt up (the job is aborted).
	journal func(ctx context.Context, jobID string, b *batch.Buffer, attempt int) error
	// journalFits judges, before a job is created, whether the journal
	// would take its open entries (see openFit); an error, a
	// *journalTooLargeError, fails the job's events without creating it.
	journalFits func(ctx context.Context, b *batch.Buffer, attempt int) error
	pacer       *pacer.Pacer // counts records; nil when not pacing
	// stalls counts the calls that cannot get through to Salesforce now;
	// the main loop pauses while there are any.
	stalls *stalls
	// owned says which events' partitions moved to another instance
	// meanwhile; those are not loaded here.
	owned *ownership
	watch *watch // what Observe shows
	pace  jobPace
}

// verdict writes the outcome of event i of a job's buffer into o, built
// when asked (from the job's results and the buffer), so that a job's
// outcomes are never all in memory at once and each is built where it is
// published from (an outcome is some 340 bytes: copies of it were a
// noticeable part of settling). It reads the buffer: call it before the
// buffer is closed.
type verdict func(i int, o *outcome) error

// errStopped is returned when the context ended before the job's results
// were read; the buffer's events then have no result and stay uncommitted.
var errStopped = errors.New("stopped before the job finished")

// splitError is a job that failed as a whole because of some of its rows
// (see rowCaused): the caller narrows the buffer down to them.
type splitError struct{ job *bulk.JobError }

func (e *splitError) Error() string { return e.job.Error() }
func (e *splitError) Unwrap() error { return e.job }

// run submits b as attempt number attempt until its results are read, and
// returns the verdict on b's events. A job that Salesforce
// fails as a whole is tried again, up to maxAttempts, unless its error is
// one that no retry mends; then every event gets the job's error, or, when
// the failure is caused by some of b's rows, a *splitError. A failure
// before the job was closed (an outage, a refused upload) is tried again
// with a new job for as long as it is transient. Events whose partitions
// are lost to cl before their job is journaled are left out of it, with
// an empty outcome (see settle).
func (s *submitter) run(ctx context.Context, b *batch.Buffer, attempt int, cl claim) (verdict, error) {
	var stall stall
	defer func() { stall.end() }()
	for tries := 0; ; tries++ {
		stall.end() // the pause lasts while the next try is not made
		if lost := s.owned.lostEvents(cl, b); len(lost) > 0 {
			return s.runOwned(ctx, b, lost, attempt, cl)
		}
		outcomes, jobID, err := s.attempt(ctx, b, attempt, cl)
		s.watch.ended(jobID, err)
		var je *bulk.JobError
		isJobFailure := errors.As(err, &je)
		var closed *closedJobError
		switch {
		case err == nil:
			s.metrics.JobAttempts.WithLabelValues("ok").Inc()
			return outcomes, nil
		case ctx.Err() != nil:
			return nil, errStopped
		case isJobFailure && rowCaused(je) && len(b.Rows) > 1:
			s.metrics.JobAttempts.WithLabelValues("split").Inc()
			s.log.Warn("job failed because of some of its rows; narrowing them down", "buffer", b.Key.String(), "job", jobID, "rows", len(b.Rows), "error", err)
			return nil, &splitError{je}
		case isJobFailure && (permanentJobError(je) || attempt >= s.maxAttempts), errors.As(err, &closed):
			s.metrics.JobAttempts.WithLabelValues("failed").Inc()
			s.log.Warn("job failed; its events fail", "buffer", b.Key.String(), "job", jobID, "attempt", attempt, "error", err)
			return failAll(b, jobID, attempt, err)
		case isJobFailure:
			s.metrics.RowRetries.WithLabelValues(je.Code).Add(float64(len(b.Rows)))
			attempt++
		case isJournalTooLarge(err):
			// The journal topic refused the job's open entry, or would
			// have (see openFit): a new job's entry would be as large.
			s.metrics.JobAttempts.WithLabelValues("failed").Inc()
			s.log.Warn("job's journal entry too large; its events fail", "buffer", b.Key.String(), "job", jobID, "error", err)
			return failAll(b, jobID, attempt, err)
		case jobID == "" && stallReason(err) == "":
			// Creating the job was refused (an unknown object, a bad
			// external id field): no other job would fare better.
			s.metrics.JobAttempts.WithLabelValues("failed").Inc()
			s.log.Warn("job refused; its events fail", "buffer", b.Key.String(), "error", err)
			return failAll(b, jobID, attempt, err)
		case errors.Is(err, errLost):
			continue // the next try leaves the lost events out
		case stallReason(err) == "":
			// The job was never closed, so it was never processed:
			// another job may carry the rows, a bounded number of times.
			if attempt >= s.maxAttempts {
				s.metrics.JobAttempts.WithLabelValues("failed").Inc()
				return failAll(b, jobID, attempt, err)
			}
			attempt++
		default:
			stall.begin(s.stalls, stallReason(err))
			if bulk.IsRequestLimitExceeded(err) && s.pacer != nil {
				s.pacer.Exhausted()
			}
		}
		s.metrics.JobAttempts.WithLabelValues("retry").Inc()
		pause := s.pause(tries + 1)
		s.log.Warn("job not run; trying again with a new job", "buffer", b.Key.String(), "job", jobID, "attempt", attempt, "pause", pause, "error", err)
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

// rowCaused says whether a failed job may have failed because of some of
// its rows or columns rather than all of them: InvalidBatch is Salesforce's
// answer to a column it cannot place ("Field name not found", "Unable to
// find relationship"), a header row too long, too many columns, and a CSV it
// cannot parse.
func rowCaused(je *bulk.JobError) bool { return je.Code == "InvalidBatch" }

// closedJobError is a job that was closed but whose outcome could not be
// had, for a reason no retry mends (the job is gone): its rows may have
// been written, so they are not loaded again; they fail with this error.
type closedJobError struct{ err error }

func (e *closedJobError) Error() string { return e.err.Error() }
func (e *closedJobError) Unwrap() error { return e.err }

// attempt runs b as one job: create, upload (streamed from the buffer),
// journal, close, wait, read the results. A job whose journal entry would
// be refused is not created (see openFit). Before the close, a failure
// aborts the job (it was never processed) and returns; after it, the job is
// seen through (see submitter).
func (s *submitter) attempt(ctx context.Context, b *batch.Buffer, attempt int, cl claim) (verdict, string, error) {
	start := time.Now()
	if err := s.journalFits(ctx, b, attempt); err != nil {
		return nil, "", err
	}
	spec := bulk.IngestJobSpec{Object: b.Key.Object, Operation: bulk.Operation(b.Key.Operation), ExternalIDFieldName: b.Key.ExternalIDField}
	job, err := s.client.CreateIngestJob(ctx, spec)
	if err != nil {
		return nil, "", fmt.Errorf("create job: %w", err)
	}
	s.watch.started(job.ID, b, attempt)
	s.metrics.RowsSubmitted.WithLabelValues(b.Key.Object, string(b.Key.Operation)).Add(float64(len(b.Rows)))
	failpoint("before-upload")
	if err := s.upload(ctx, job.ID, b); err != nil {
		s.abort(ctx, job.ID)
		return nil, job.ID, fmt.Errorf("upload: %w", err)
	}
	if s.pacer != nil {
		s.pacer.RecordsSubmitted(len(b.Rows))
	}
	failpoint("before-close")
	if err := s.journalOwned(ctx, job.ID, b, attempt, cl); err != nil {
		s.abort(ctx, job.ID)
		return nil, job.ID, err
	}
	if err := s.close(ctx, job.ID); err != nil {
		if !errors.Is(err, errStopped) { // confirmed Open: never processed
			s.abort(ctx, job.ID)
		}
		return nil, job.ID, err
	}
	failpoint("after-close")
	outcomes, err := s.finish(ctx, b, job.ID, attempt, false)
	if err != nil {
		return nil, job.ID, err
	}
	s.metrics.JobDuration.WithLabelValues(b.Key.Object, string(b.Key.Operation)).Observe(time.Since(start).Seconds())
	return outcomes, job.ID, nil
}

// finish sees a closed job through: it waits until the job ends and reads
// its results, for as long as it takes; part says that b holds only some
// of the job's rows (see collect). It returns the job's *bulk.JobError
// when the job ended without processing a row (its rows may run again), a
// *closedJobError when Salesforce no longer knows the job, or errStopped.
// The wait looks when jobs like it ended (see jobPace).
func (s *submitter) finish(ctx context.Context, b *batch.Buffer, jobID string, attempt int, part bool) (verdict, error) {
	op := string(b.Key.Operation)
	expect := s.pace.expect(b.Key.Object, op, len(b.Rows)) // WaitIngestJobFor bounds it from below
	var info *bulk.JobInfo
	waited := time.Now()
	err := s.persist(ctx, "wait for job", jobID, func() (err error) {
		info, err = s.client.WaitIngestJobFor(ctx, jobID, expect)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.pace.observe(b.Key.Object, op, len(b.Rows), expect, s.client.WaitPolicy().Initial, time.Since(waited))
	failpoint("before-results")
	s.metrics.Jobs.WithLabelValues(b.Key.Object, string(b.Key.Operation), string(info.State)).Inc()
	s.watch.finished(b, info, attempt)
	if (info.State == bulk.StateAborted || info.State == bulk.StateFailed) && info.NumberRecordsProcessed == 0 {
		return nil, info.Err()
	}
	var outcomes verdict
	rewrite := false
	err = s.persist(ctx, "read results", jobID, func() (err error) {
		if rewrite { // a partial read used up matches: start afresh
			if err := b.WriteCSV(io.Discard); err != nil {
				return err
			}
		}
		rewrite = true
		outcomes, err = s.collect(ctx, b, info, attempt, part)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.Debug("job done", "job", jobID, "buffer", b.Key.String(), "rows", len(b.Rows), "events", len(b.Events),
		"processed", info.NumberRecordsProcessed, "failed", info.NumberRecordsFailed, "state", info.State)
	return outcomes, nil
}

// close moves the job to UploadComplete. The answer to a close can be lost
// while the close itself went through, so a close that fails is followed by
// a look at the job, repeated until Salesforce answers: a job past Open is
// closed. It returns nil once the job is closed, errStopped, or the close's
// error when Salesforce shows the job still Open and refuses to close it
// for good.
func (s *submitter) close(ctx context.Context, jobID string) error {
	return s.persist(ctx, "close job", jobID, func() error {
		_, err := s.client.CloseIngestJob(ctx, jobID)
		if err == nil || ctx.Err() != nil {
			return err
		}
		info, gerr := s.client.GetIngestJob(ctx, jobID)
		switch {
		case gerr != nil:
			return gerr
		case info.State != bulk.StateOpen:
			return nil
		case stallReason(err) == "":
			return &permanent{fmt.Errorf("close job: %w", err)}
		}
		return err
	})
}

// permanent marks an error that persist must not retry although its cause
// would be, because what failed has been checked and is known.
type permanent struct{ err error }

func (e *permanent) Error() string { return e.err.Error() }
func (e *permanent) Unwrap() error { return e.err }

// persist calls f until it succeeds, ctx ends (errStopped), or f fails for
// good: with a *permanent error (returned unwrapped), or an error that is
// neither transient nor refused credentials (see stallReason), which it
// returns as a *closedJobError, since persist only carries calls about a
// closed job. While f fails, the call counts as a stall, which pauses
// the pipeline and says why (bulkstream_paused{reason}); the pause between
// tries grows from retryBase to retryMax.
func (s *submitter) persist(ctx context.Context, what, jobID string, f func() error) error {
	var stall stall
	defer func() { stall.end() }()
	for tries := 1; ; tries++ {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errStopped
		}
		if p, ok := errors.AsType[*permanent](err); ok {
			return p.err
		}
		reason := stallReason(err)
		if reason == "" {
			return &closedJobError{fmt.Errorf("%s: %w", what, err)}
		}
		stall.begin(s.stalls, reason)
		if bulk.IsRequestLimitExceeded(err) && s.pacer != nil {
			s.pacer.Exhausted()
		}
		pause := s.pause(tries)
		s.log.Warn("Salesforce did not answer about a closed job; asking again", "step", what, "job", jobID, "reason", reason, "pause", pause, "error", err)
		if !sleep(ctx, pause) {
			return errStopped
		}
	}
}

// resume re-attaches b, the events of a job that ran before a crash or a
// rebalance, to that job. The job is found again by its id, for as long as
// that takes: a job still Open (its close never happened) is aborted, and
// one that ended without processing a row, or that Salesforce no longer
// knows, runs again as a new job; any other is waited for and its results
// read.
func (s *submitter) resume(ctx context.Context, b *batch.Buffer, jobID string, attempt int, cl claim) (verdict, error) {
	if len(s.owned.lostEvents(cl, b)) > 0 { // a slice is one partition: the new owner re-attaches
		return func(_ int, o *outcome) error {
			*o = outcome{}
			return nil
		}, nil
	}
	// The rows are not uploaded again, but results are matched to them as
	// they would have been written.
	if err := b.WriteCSV(io.Discard); err != nil {
		return nil, err
	}
	var info *bulk.JobInfo
	err := s.persist(ctx, "find job of the journal", jobID, func() (err error) {
		info, err = s.client.GetIngestJob(ctx, jobID)
		if err == nil && info.State == bulk.StateOpen {
			// Aborted before anything else: a previous owner still
			// alive cannot close it any more.
			info, err = s.client.AbortIngestJob(ctx, jobID)
			if err != nil && stallReason(err) == "" {
				info, err = s.client.GetIngestJob(ctx, jobID) // it moved on meanwhile
			}
		}
		return err
	})
	var closed *closedJobError
	switch {
	case errors.As(err, &closed) && isNotFound(err):
		s.log.Warn("a job of the journal is gone; running its events again", "job", jobID)
		return s.run(ctx, b, attempt+1, cl)
	case err != nil:
		return nil, err
	case info.State == bulk.StateAborted && info.NumberRecordsProcessed == 0:
		s.log.Info("a job of the journal was never processed; running its events again", "job", jobID)
		return s.run(ctx, b, attempt+1, cl)
	}
	outcomes, err := s.finish(ctx, b, jobID, attempt, true) // a slice, maybe without its published events
	if _, ok := errors.AsType[*bulk.JobError](err); ok {
		s.log.Warn("a job of the journal failed as a whole; running its events again", "job", jobID, "error", err)
		return s.run(ctx, b, attempt+1, cl)
	}
	if err == nil {
		s.log.Info("re-attached to a job of the journal", "job", jobID, "events", len(b.Events))
	}
	return outcomes, err
}

// errLost: a partition of the job's events moved to another instance
// before the job was journaled; the job was aborted.
var errLost = errors.New("a partition of the job's events moved to another instance")

// journalOwned writes the job's journal entry while none of b's partitions
// can be revoked, unless one is lost to cl already (errLost): the new
// owner of a partition reads the journal after the revoke, so it sees
// every entry written for its events, and nothing is written after.
func (s *submitter) journalOwned(ctx context.Context, jobID string, b *batch.Buffer, attempt int, cl claim) error {
	lost, release := s.owned.hold(cl, b)
	defer release()
	if lost {
		return errLost
	}
	return s.journal(ctx, jobID, b, attempt)
}

// runOwned runs the events of b that are not lost (lost are the others)
// and returns b's outcomes, empty ones for the lost events. It is rare (a
// partition moved while the job waited), so its outcomes are built at once.
func (s *submitter) runOwned(ctx context.Context, b *batch.Buffer, lost []int, attempt int, cl claim) (verdict, error) {
	outcomes := make([]outcome, len(b.Events))
	all := func(i int, o *outcome) error {
		*o = outcomes[i]
		return nil
	}
	if len(lost) == len(b.Events) {
		return all, nil
	}
	var keep []int
	for i := range b.Events {
		if _, gone := slices.BinarySearch(lost, i); !gone {
			keep = append(keep, i)
		}
	}
	owned, err := b.Retry(keep, 0)
	if err != nil {
		return nil, err
	}
	defer owned[0].Close()
	sub, err := s.run(ctx, owned[0], attempt, cl)
	if err != nil {
		return nil, err
	}
	for j, i := range keep { // Retry keeps the events' order
		if err := sub(j, &outcomes[i]); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// isJournalTooLarge says whether err is a job's open journal entry refused
// as too large (see journalTooLargeError).
func isJournalTooLarge(err error) bool {
	_, ok := errors.AsType[*journalTooLargeError](err)
	return ok
}

// isNotFound says whether err is Salesforce's answer about a job it does
// not know (deleted, or of another org).
func isNotFound(err error) bool {
	ae, ok := errors.AsType[*bulk.APIError](err)
	return ok && ae.ErrorCode == bulk.CodeNotFound
}

// abort stops a job this attempt gives up on before closing it, so it is
// never processed. Best effort, bounded by a few seconds: a job left Open
// is never processed either (Salesforce removes it after a day).
func (s *submitter) abort(ctx context.Context, jobID string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := s.client.AbortIngestJob(actx, jobID); err != nil {
		s.log.Debug("abort job", "job", jobID, "error", err)
	}
}

// upload streams the buffer's CSV into the job, never holding it whole. The
// writer is joined before upload returns, so a later attempt never writes
// the buffer's matcher while this one still does.
func (s *submitter) upload(ctx context.Context, jobID string, b *batch.Buffer) error {
	pr, pw := io.Pipe()
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		pw.CloseWithError(b.WriteCSV(pw))
	}()
	err := s.client.UploadJobData(ctx, jobID, pr)
	pr.CloseWithError(io.ErrClosedPipe) // stops the writer if the upload ended early
	<-wrote
	return err
}

// collect reads the result files of a finished job (those that may hold
// some of b's rows) and gives every event the outcome of its row. A row
// Salesforce reports nothing about fails with BULKSTREAM_NO_RESULT, so no
// event is ever left without one.
//
// The job's counts are about all its rows. They tell whether the
// successful and failed files have rows and, when b is the whole job,
// whether some of b's rows were left unprocessed. When b is a part of the
// job (part: a resumed slice, without the other partitions' rows and the
// events whose results are out), a job that processed more rows than b
// holds may still have left some of b's unprocessed: the
// unprocessedrecords file is read whenever the job did not end
// JobComplete (one that did processed every row).
func (s *submitter) collect(ctx context.Context, b *batch.Buffer, info *bulk.JobInfo, attempt int, part bool) (verdict, error) {
	rows := make([]rowResult, len(b.Rows))
	// The rows' sf__Ids are copied out, one after another, and the rows
	// share one string of them: the reader lends a line's strings only
	// until it reads the next (BorrowStrings), and a string apiece would
	// cost an allocation a row.
	ids := make([]byte, 0, 18*len(b.Rows))
	// A failed row's error code and message are copied out too, for the
	// same reason, once each: a job's failed rows share a few of them.
	// Messages that name a row's values may all differ: past
	// maxInternedErrors distinct ones, each is a copy of its own, and the
	// map, garbage once collect returns, stays small.
	interned := map[string]string{}
	intern := func(s string) string {
		if c, ok := interned[s]; ok {
			return c
		}
		c := strings.Clone(s)
		if len(interned) < maxInternedErrors {
			interned[c] = c
		}
		return c
	}
	unprocessed := "Salesforce did not process the row: " + info.ErrorMessage
	readers := []struct {
		name string
		open func(context.Context, *bulk.JobInfo) (*bulk.ResultReader, error)
		some bool // the file may hold some of b's rows
	}{
		{"successful", s.client.SuccessfulResults, info.NumberRecordsProcessed > info.NumberRecordsFailed},
		{"failed", s.client.FailedResults, info.NumberRecordsFailed > 0},
		{"unprocessed", s.client.UnprocessedRecords, info.NumberRecordsProcessed < int64(len(b.Rows)) || (part && info.State != bulk.StateJobComplete)},
	}
	for _, r := range readers {
		if !r.some { // an API request saved
			continue
		}
		rr, err := r.open(ctx, info)
		if err != nil {
			return nil, fmt.Errorf("read %s results: %w", r.name, err)
		}
		rr.BorrowStrings() // matching keeps none of them; Ids and errors are copied out below
		err = readResults(rr, b, func(row int, res bulk.Result) {
			out := rowResult{read: true}
			if len(res.ID) <= math.MaxUint8 { // always: an Id is 15 or 18 characters
				out.idAt, out.idLen = uint32(len(ids)), uint8(len(res.ID))
				ids = append(ids, res.ID...)
			} else {
				out.id = strings.Clone(res.ID)
			}
			switch {
			case r.name == "successful":
				out.success, out.created = true, res.Created
			case r.name == "failed" && res.Err != nil:
				out.code, out.message = intern(res.Err.Code), intern(res.Err.Message)
			default:
				out.code, out.message = CodeUnprocessed, unprocessed
			}
			rows[row] = out
		})
		rr.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s results: %w", r.name, err)
		}
	}
	all := string(ids) // one allocation for the job's Ids
	for i := range rows {
		if row := &rows[i]; row.idLen > 0 {
			row.id = all[row.idAt:][:row.idLen]
		}
	}
	return func(i int, o *outcome) error {
		row := &rows[b.Events[i].Row]
		res := &o.result
		*res = Result{Success: row.success, Created: row.created, Object: b.Key.Object, Operation: string(b.Key.Operation),
			ErrorCode: row.code, Error: row.message, JobID: info.ID, Attempts: attempt}
		switch {
		case !row.read:
			res.ErrorCode, res.Error = CodeNoResult, "Salesforce returned no result for this row"
		case row.id != "":
			res.ID = &row.id // shared by the row's events, and read only
		}
		var err error
		if o.src, err = b.Source(i, !res.Success); err != nil { // only a dead-letter copy needs the value
			return err
		}
		res.Source = sourceOf(&o.src)
		return nil
	}, nil
}

// maxInternedErrors is how many distinct error codes and messages collect
// shares among a job's failed rows.
const maxInternedErrors = 1000

// rowResult is what a job's result files say of one of its rows; collect
// keeps one per row, in one slice, and builds each event's Result from it.
type rowResult struct {
	read             bool // a result file has the row
	success, created bool
	idLen            uint8  // id's length and place in collect's Ids, until
	idAt             uint32 // collect sets id (in what padding leaves free)
	id               string // sf__Id; "" when there is none
	code, message    string // the row's error
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
func failAll(b *batch.Buffer, jobID string, attempt int, err error) (verdict, error) {
	code, message := errorCode(err), err.Error()
	if b.Key.Operation == event.HardDelete && strings.EqualFold(code, "FEATURENOTENABLED") {
		message = `hardDelete needs the "Bulk API Hard Delete" permission (a system permission, given by a profile or permission set) for the connector's user, which does not have it: ` + message
	}
	return func(i int, o *outcome) error {
		var err error
		if o.src, err = b.Source(i, true); err != nil {
			return err
		}
		o.result = Result{Object: b.Key.Object, Operation: string(b.Key.Operation),
			ErrorCode: code, Error: message, JobID: jobID, Attempts: attempt, Source: sourceOf(&o.src)}
		return nil
	}, nil
}

// errorCode returns Salesforce's code of an error: the errorCode of an API
// error, the error name of a failed job; CodeJournalTooLarge for a job
// whose open journal entry Kafka refuses, and CodeJobFailed for any other.
func errorCode(err error) string {
	var ae *bulk.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode
	}
	var je *bulk.JobError
	if errors.As(err, &je) && je.Code != "" {
		return je.Code
	}
	if isJournalTooLarge(err) {
		return CodeJournalTooLarge
	}
	return CodeJobFailed
}

// decodeErrorCode tells a record that cannot be decoded from one whose
// schema the registry could not give.
func decodeErrorCode(err error) string {
	var re *event.RegistryError
	if errors.As(err, &re) {
		return CodeSchemaRegistry
	}
	if _, ok := errors.AsType[*truncatedError](err); ok {
		return CodeTruncated
	}
	return CodeDecode
}

// decodeFailure is the outcome of a record that could not be turned into a
// change, or that can never be uploaded.
func decodeFailure(src event.Source, code, message string) outcome {
	return outcome{src: src, result: Result{ErrorCode: code, Error: message, Source: sourceOf(&src)}}
}

// skipped is the outcome of an event that needs no write (see
// event.IsSkip).
func skipped(src event.Source, reason string) outcome {
	return outcome{src: src, result: Result{Success: true, Status: StatusSkipped, SkipReason: reason, Source: sourceOf(&src)}}
}
