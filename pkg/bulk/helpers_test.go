package bulk_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// exchange is one request the emulator answered, as seen on the wire.
type exchange struct {
	Method, Path, Query string
	Status              int
	Request, Response   http.Header
}

// wire sits between the client and the emulator and writes down every
// exchange. Its intercept hook, when set, may answer a request in the
// emulator's place, as a broken proxy would; it returns true if it did.
type wire struct {
	next      http.Handler
	mu        sync.Mutex
	log       []exchange
	intercept func(w http.ResponseWriter, r *http.Request) bool
}

func (s *wire) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	s.mu.Lock()
	intercept := s.intercept
	s.mu.Unlock()
	if intercept == nil || !intercept(sw, r) {
		s.next.ServeHTTP(sw, r)
	}
	s.mu.Lock()
	s.log = append(s.log, exchange{r.Method, r.URL.Path, r.URL.RawQuery, sw.status, r.Header.Clone(), sw.Header().Clone()})
	s.mu.Unlock()
}

func (s *wire) setIntercept(f func(w http.ResponseWriter, r *http.Request) bool) {
	s.mu.Lock()
	s.intercept = f
	s.mu.Unlock()
}

// exchanges returns the exchanges so far whose method is method (any if
// empty) and whose path contains part.
func (s *wire) exchanges(method, part string) []exchange {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []exchange
	for _, x := range s.log {
		if (method == "" || x.Method == method) && strings.Contains(x.Path, part) {
			out = append(out, x)
		}
	}
	return out
}

func (s *wire) reset() {
	s.mu.Lock()
	s.log = nil
	s.mu.Unlock()
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// org is an emulated Salesforce org served over HTTP.
type org struct {
	URL  string
	emu  *bulkemu.Emulator
	wire *wire
}

func newOrg(t testing.TB, opts bulkemu.Options) *org {
	t.Helper()
	emu := bulkemu.New(opts)
	w := &wire{next: emu}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	return &org{URL: srv.URL, emu: emu, wire: w}
}

// fastRetry and fastWait keep tests quick; the behaviour is the same as
// with the defaults, only the pauses are shorter.
var (
	fastRetry = bulk.RetryPolicy{MaxAttempts: 4, Base: time.Millisecond, Cap: 5 * time.Millisecond, LimitBackoff: time.Millisecond}
	fastWait  = bulk.WaitPolicy{Initial: 2 * time.Millisecond, Max: 20 * time.Millisecond, Multiplier: 2}
)

// client logs in with the client credentials flow and returns a client of
// the org.
func (o *org) client(t testing.TB, opts ...bulk.Option) *bulk.Client {
	t.Helper()
	tokens, instanceURL, err := bulk.ClientCredentials(context.Background(), o.URL, "bulkstream", "bulkstream")
	if err != nil {
		t.Fatalf("ClientCredentials: %v", err)
	}
	if instanceURL != o.URL {
		t.Fatalf("instance_url = %q, want %q", instanceURL, o.URL)
	}
	c, err := bulk.New(instanceURL, tokens, append([]bulk.Option{bulk.WithRetry(fastRetry), bulk.WithWaitPolicy(fastWait)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// load runs an ingest job through create, upload, close and wait.
func load(t testing.TB, c *bulk.Client, spec bulk.IngestJobSpec, data io.Reader) *bulk.JobInfo {
	t.Helper()
	info, err := loadJob(testContext(t), c, spec, data)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func loadJob(ctx context.Context, c *bulk.Client, spec bulk.IngestJobSpec, data io.Reader) (*bulk.JobInfo, error) {
	job, err := c.CreateIngestJob(ctx, spec)
	if err != nil {
		return nil, err
	}
	if err := c.UploadJobData(ctx, job.ID, data); err != nil {
		return nil, err
	}
	if _, err := c.CloseIngestJob(ctx, job.ID); err != nil {
		return nil, err
	}
	return c.WaitIngestJob(ctx, job.ID)
}

// readResults reads all rows of a result file: open is SuccessfulResults,
// FailedResults or UnprocessedRecords of a client.
func readResults(t testing.TB, open func(context.Context, *bulk.JobInfo) (*bulk.ResultReader, error), job *bulk.JobInfo) []bulk.Result {
	t.Helper()
	r, err := open(testContext(t), job)
	if err != nil {
		t.Fatalf("open results: %v", err)
	}
	defer r.Close()
	var out []bulk.Result
	for {
		res, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("results: %v", err)
		}
		out = append(out, res)
	}
}

// readRows reads all rows of a query job's results.
func readRows(t testing.TB, c *bulk.Client, job *bulk.JobInfo, opts bulk.QueryResultsOptions) ([]bulk.Row, *bulk.QueryReader) {
	t.Helper()
	q, err := c.QueryResults(testContext(t), job, opts)
	if err != nil {
		t.Fatalf("QueryResults: %v", err)
	}
	defer q.Close()
	var out []bulk.Row
	for {
		row, err := q.Next()
		if err == io.EOF {
			return out, q
		}
		if err != nil {
			t.Fatalf("query rows: %v", err)
		}
		out = append(out, row)
	}
}

// accounts returns CSV of n accounts with external ids prefix-1 … prefix-n.
func accounts(prefix string, n int) string {
	var b strings.Builder
	b.WriteString("Name,External_Id__c,NumberOfEmployees\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "Account %s %d,%s-%d,%d\n", prefix, i, prefix, i, i)
	}
	return b.String()
}

// apiError returns err's *bulk.APIError or fails the test.
func apiError(t testing.TB, err error) *bulk.APIError {
	t.Helper()
	e, ok := errors.AsType[*bulk.APIError](err)
	if !ok {
		t.Fatalf("error %v (%T) is not an *APIError", err, err)
	}
	return e
}

func wantCode(t testing.TB, err error, status int, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %d %s", status, code)
	}
	e := apiError(t, err)
	if e.StatusCode != status || e.ErrorCode != code {
		t.Fatalf("error %v: got %d %s, want %d %s", err, e.StatusCode, e.ErrorCode, status, code)
	}
}

// uploaded creates an Account insert job and uploads csv to it, leaving it
// Open.
func uploaded(t testing.TB, c *bulk.Client, csv string) *bulk.JobInfo {
	t.Helper()
	ctx := testContext(t)
	job, err := c.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UploadJobData(ctx, job.ID, strings.NewReader(csv)); err != nil {
		t.Fatal(err)
	}
	return job
}
