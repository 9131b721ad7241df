package bulk_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

func TestNewValidates(t *testing.T) {
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})
	for _, tc := range []struct {
		url  string
		ts   oauth2.TokenSource
		opts []bulk.Option
	}{
		{url: "acme.my.salesforce.com", ts: ts},
		{url: "ftp://acme.my.salesforce.com", ts: ts},
		{url: "https://acme.my.salesforce.com/services", ts: ts},
		{url: "https://acme.my.salesforce.com", ts: nil},
		{url: "https://acme.my.salesforce.com", ts: ts, opts: []bulk.Option{bulk.WithAPIVersion("v62.0")}},
		{url: "https://acme.my.salesforce.com", ts: ts, opts: []bulk.Option{bulk.WithRetry(bulk.RetryPolicy{MaxAttempts: -1})}},
		{url: "https://acme.my.salesforce.com", ts: ts, opts: []bulk.Option{bulk.WithWaitPolicy(bulk.WaitPolicy{Multiplier: 0.5})}},
	} {
		if _, err := bulk.New(tc.url, tc.ts, tc.opts...); err == nil {
			t.Errorf("New(%q, %v, %d options) accepted", tc.url, tc.ts, len(tc.opts))
		}
	}
	c, err := bulk.New("https://acme.my.salesforce.com/", ts)
	if err != nil || c.InstanceURL() != "https://acme.my.salesforce.com" || c.APIVersion() != bulk.DefaultAPIVersion {
		t.Fatalf("New = %v, %v", c, err)
	}
}

func TestRequestsCarryVersionAndUserAgent(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t, bulk.WithAPIVersion("58.0"))
	job, err := c.CreateIngestJob(testContext(t), bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert})
	if err != nil {
		t.Fatal(err)
	}
	if job.APIVersion.String() != "58.0" {
		t.Errorf("apiVersion %s, want 58.0", job.APIVersion)
	}
	posts := o.wire.exchanges(http.MethodPost, "/services/data/v58.0/jobs/ingest")
	if len(posts) != 1 || posts[0].Request.Get("User-Agent") != "bulkstream/"+bulk.Version || !strings.HasPrefix(posts[0].Request.Get("Authorization"), "Bearer ") {
		t.Fatalf("create requests %+v", posts)
	}
}

func TestWrongCredentials(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	ctx := testContext(t)
	_, _, err := bulk.ClientCredentials(ctx, o.URL, "bulkstream", "wrong")
	wantCode(t, err, http.StatusBadRequest, "invalid_client")
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); !ok || re.Response.StatusCode != http.StatusBadRequest {
		t.Errorf("error %v does not unwrap to the *oauth2.RetrieveError", err)
	}
	if bulk.IsRetryable(err) {
		t.Error("wrong credentials classified retryable")
	}
	_, _, err = bulk.ClientCredentials(ctx, o.URL, "nobody", "bulkstream")
	if e := apiError(t, err); e.StatusCode != http.StatusBadRequest || e.ErrorCode == "" {
		t.Errorf("unknown client id: %v", err)
	}
}

// An expired session is replaced once, by one token request however many
// requests found it expired, and the requests go through.
func TestExpiredSessionIsRefreshed(t *testing.T) {
	o := newOrg(t, bulkemu.Options{TokenTTL: 300 * time.Millisecond})
	c := o.client(t)
	ctx := testContext(t)
	job, err := c.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	o.wire.reset()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := c.GetIngestJob(ctx, job.ID)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("GetIngestJob after the session expired: %v", err)
		}
	}
	if n := len(o.wire.exchanges(http.MethodPost, "/services/oauth2/token")); n != 1 {
		t.Errorf("%d token requests, want 1 for all the refused requests", n)
	}
	gets := o.wire.exchanges(http.MethodGet, job.ID)
	refused := 0
	for _, g := range gets {
		if g.Status == http.StatusUnauthorized {
			refused++
		}
	}
	if refused == 0 || len(gets) != 8+refused {
		t.Errorf("%d job requests, %d refused: want every refused one repeated once", len(gets), refused)
	}
}

// A session refused again right after a refresh (revoked on every call) is
// refreshed again under the retry policy's back-off, so a call survives
// sessions that keep being revoked; when the attempts are spent the 401 is
// the error, and a retryable one.
func TestSessionRefreshedUnderBackoff(t *testing.T) {
	o := newOrg(t, bulkemu.Options{Faults: bulkemu.Faults{Seed: 3, ExpireSessionRate: 1}})
	c := o.client(t)
	_, err := c.Limits(testContext(t))
	wantCode(t, err, http.StatusUnauthorized, bulk.CodeInvalidSessionID)
	if !bulk.IsRetryable(err) || bulk.IsCredentialsRefused(err) {
		t.Errorf("a refused session: retryable %v, credentials refused %v; want retryable only", bulk.IsRetryable(err), bulk.IsCredentialsRefused(err))
	}
	// The first try is refreshed for free, then each of the policy's
	// attempts refreshes and tries again.
	want := fastRetry.MaxAttempts + 1
	if n := len(o.wire.exchanges(http.MethodGet, "/limits")); n != want {
		t.Errorf("%d requests, want %d (the first, one after a free refresh, then the retry policy's attempts)", n, want)
	}
	if n := len(o.wire.exchanges(http.MethodPost, "/services/oauth2/token")); n != want+1 {
		t.Errorf("%d token requests, want %d (login and a refresh after each refused request)", n, want+1)
	}

	// A token source that cannot refresh is not asked twice for nothing.
	static, err := bulk.New(o.URL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: o.emu.Token()}), bulk.WithRetry(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	o.wire.reset()
	_, err = static.Limits(testContext(t))
	wantCode(t, err, http.StatusUnauthorized, bulk.CodeInvalidSessionID)
	if !bulk.IsCredentialsRefused(err) || bulk.IsRetryable(err) {
		t.Errorf("a static token refused: credentials refused %v, retryable %v; want refused only", bulk.IsCredentialsRefused(err), bulk.IsRetryable(err))
	}
	if n := len(o.wire.exchanges("", "/limits")); n != 1 {
		t.Errorf("%d requests with a static token, want 1", n)
	}
}

// A token endpoint that refuses the credentials (a revoked secret) ends a
// call at once, with an error that says so and that is not retryable.
func TestRevokedCredentialsAreNotRetried(t *testing.T) {
	o := newOrg(t, bulkemu.Options{Faults: bulkemu.Faults{Seed: 3, ExpireSessionRate: 1}})
	ctx := testContext(t)
	// The secret was rotated after the login: the token endpoint's own
	// answer to the old one is what every refresh gets.
	_, _, refused := bulk.ClientCredentials(ctx, o.URL, "bulkstream", "rotated")
	if refused == nil {
		t.Fatal("the token endpoint took a wrong secret")
	}
	first := true
	tokens := bulk.NewTokenCache(func(context.Context) (*oauth2.Token, error) {
		if first {
			first = false
			return &oauth2.Token{AccessToken: o.emu.Token()}, nil
		}
		return nil, refused
	})
	c, err := bulk.New(o.URL, tokens, bulk.WithRetry(fastRetry))
	if err != nil {
		t.Fatal(err)
	}
	o.wire.reset()
	_, err = c.Limits(ctx)
	if !bulk.IsCredentialsRefused(err) || bulk.IsRetryable(err) {
		t.Fatalf("refused credentials: %v (credentials refused %v, retryable %v)", err, bulk.IsCredentialsRefused(err), bulk.IsRetryable(err))
	}
	if n := len(o.wire.exchanges(http.MethodGet, "/limits")); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// With injected 500s and 503s the whole ingest cycle still succeeds,
// because every step of it may be repeated.
func TestTransientErrorsAreRetried(t *testing.T) {
	o := newOrg(t, bulkemu.Options{Faults: bulkemu.Faults{Seed: 42, HTTPErrorRate: 0.3}})
	c := o.client(t, bulk.WithRetry(bulk.RetryPolicy{MaxAttempts: 12, Base: time.Millisecond, Cap: 2 * time.Millisecond}))
	ctx := testContext(t)
	for i := range 4 {
		job := load(t, c, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert}, strings.NewReader(accounts(fmt.Sprint("tr", i), 50)))
		if job.State != bulk.StateJobComplete || job.NumberRecordsProcessed != 50 {
			t.Fatalf("job %+v", job)
		}
		if n := len(readResults(t, c.SuccessfulResults, job)); n != 50 {
			t.Errorf("%d results, want 50", n)
		}
		if n := len(readResults(t, c.FailedResults, job)); n != 0 {
			t.Errorf("%d failed results, want 0", n)
		}
		for _, err := range c.ListIngestJobs(ctx, bulk.ListOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := c.DeleteIngestJob(ctx, job.ID); err != nil {
			t.Fatal(err)
		}
	}
	var s500, s503 int
	for _, x := range o.wire.exchanges("", "/services/data/") {
		switch x.Status {
		case http.StatusInternalServerError:
			s500++
		case http.StatusServiceUnavailable:
			s503++
		}
	}
	if s500 == 0 || s503 == 0 {
		t.Errorf("%d 500s and %d 503s were injected; want some of each to have been retried", s500, s503)
	}
}

func TestRetriesStopAtMaxAttempts(t *testing.T) {
	o := newOrg(t, bulkemu.Options{Faults: bulkemu.Faults{Seed: 1, HTTPErrorRate: 1}})
	c := o.client(t)
	_, err := c.GetIngestJob(testContext(t), "750000000000001AAA")
	if e := apiError(t, err); e.StatusCode < 500 || !bulk.IsRetryable(err) {
		t.Fatalf("error %v: want a retryable 5xx", err)
	}
	if n := len(o.wire.exchanges(http.MethodGet, "/jobs/ingest/")); n != fastRetry.MaxAttempts {
		t.Errorf("%d tries, want %d", n, fastRetry.MaxAttempts)
	}
}

// A create of a query job, which runs as soon as it exists, is repeated
// after a 503 (refused) but not after a 500 (it may have run); an ingest
// create, which makes an inert Open job, is repeated after both.
func TestCreateRetriesOnlyWhatIsSafe(t *testing.T) {
	o := newOrg(t, bulkemu.Options{Faults: bulkemu.Faults{Seed: 5, HTTPErrorRate: 1}})
	c := o.client(t, bulk.WithRetry(bulk.RetryPolicy{MaxAttempts: 6, Base: time.Microsecond, Cap: time.Microsecond}))
	ctx := testContext(t)
	retried503 := false
	for range 10 { // the emulator answers 503 or 500 by a seeded hash of the request number
		o.wire.reset()
		if _, err := c.CreateQueryJob(ctx, bulk.QueryJobSpec{Query: "SELECT Id FROM Account"}); err == nil {
			t.Fatal("CreateQueryJob succeeded with every request failing")
		}
		tries := o.wire.exchanges(http.MethodPost, "/jobs/query")
		for i, x := range tries {
			if x.Status == http.StatusInternalServerError && i != len(tries)-1 {
				t.Fatalf("statuses %v: a query create was repeated after a 500", statuses(tries))
			}
			if x.Status == http.StatusServiceUnavailable && i == len(tries)-1 && len(tries) < 6 {
				t.Fatalf("statuses %v: retries stopped early after a 503", statuses(tries))
			}
			retried503 = retried503 || (x.Status == http.StatusServiceUnavailable && i < len(tries)-1)
		}
	}
	if !retried503 {
		t.Error("no query create was repeated after a 503")
	}
	o.wire.reset()
	if _, err := c.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert}); err == nil {
		t.Fatal("CreateIngestJob succeeded with every request failing")
	}
	if n := len(o.wire.exchanges(http.MethodPost, "/jobs/ingest")); n != 6 {
		t.Errorf("%d ingest create tries, want 6", n)
	}
}

func statuses(xs []exchange) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = x.Status
	}
	return out
}

// lostAnswer lets the emulator carry out the first request matching method
// and path, then answers 500 in its place: the work is done, the client
// does not know.
func lostAnswer(o *org, method, path string) {
	var fired atomic.Bool
	o.wire.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != method || !strings.Contains(r.URL.Path, path) || !fired.CompareAndSwap(false, true) {
			return false
		}
		o.emu.ServeHTTP(httptest.NewRecorder(), r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `[{"errorCode":"UNKNOWN_EXCEPTION","message":"answer lost"}]`)
		return true
	})
}

// A close or delete whose answer was lost is repeated; the repeat is
// refused because the first one worked, and the client recognises that.
func TestLostAnswersOfStateChanges(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	ctx := testContext(t)
	job := uploaded(t, c, accounts("la", 5))
	lostAnswer(o, http.MethodPatch, job.ID)
	closed, err := c.CloseIngestJob(ctx, job.ID)
	if err != nil {
		t.Fatalf("close whose first answer was lost: %v", err)
	}
	if closed.State == bulk.StateOpen || closed.State == bulk.StateAborted {
		t.Fatalf("closed job state %s", closed.State)
	}
	patches := o.wire.exchanges(http.MethodPatch, job.ID)
	if len(patches) != 2 || patches[1].Status != http.StatusBadRequest {
		t.Fatalf("close statuses %v: want the lost one and a refused repeat", statuses(patches))
	}
	if _, err := c.WaitIngestJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	// Without an earlier try that may have acted, the same refusal is an
	// error.
	_, err = c.CloseIngestJob(ctx, job.ID)
	wantCode(t, err, http.StatusBadRequest, bulk.CodeInvalidJobState)

	lostAnswer(o, http.MethodDelete, job.ID)
	if err := c.DeleteIngestJob(ctx, job.ID); err != nil {
		t.Fatalf("delete whose first answer was lost: %v", err)
	}
	_, err = c.GetIngestJob(ctx, job.ID)
	wantCode(t, err, http.StatusNotFound, bulk.CodeNotFound)
	wantCode(t, c.DeleteIngestJob(ctx, job.ID), http.StatusNotFound, bulk.CodeNotFound)
}

// A query create whose answer was lost is not repeated: the job exists and
// runs, and only listing the jobs can tell.
func TestLostAnswerOfQueryCreate(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	ctx := testContext(t)
	lostAnswer(o, http.MethodPost, "/jobs/query")
	_, err := c.CreateQueryJob(ctx, bulk.QueryJobSpec{Query: "SELECT Id FROM Account"})
	wantCode(t, err, http.StatusInternalServerError, "UNKNOWN_EXCEPTION")
	if n := len(o.wire.exchanges(http.MethodPost, "/jobs/query")); n != 1 {
		t.Errorf("%d query creates, want 1", n)
	}
	n := 0
	for _, err := range c.ListQueryJobs(ctx, bulk.ListOptions{JobType: "V2Query"}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("%d query jobs exist, want the 1 whose answer was lost", n)
	}
}

// failUpload answers the first upload 500 after reading its whole body.
func failUpload(o *org) {
	var fired atomic.Bool
	o.wire.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPut || !fired.CompareAndSwap(false, true) {
			return false
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `[{"errorCode":"UNKNOWN_EXCEPTION","message":"upload lost"}]`)
		return true
	})
}

// An upload is repeated only if its reader can be rewound.
func TestUploadRetryNeedsASeeker(t *testing.T) {
	for _, gz := range []bool{false, true} {
		name := "plain"
		if gz {
			name = "gzip"
		}
		t.Run(name, func(t *testing.T) {
			o := newOrg(t, bulkemu.Options{})
			c := o.client(t, bulk.WithGzipUpload(gz))
			ctx := testContext(t)
			spec := bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert}

			// A seeker is rewound to where it stood, not to its start.
			data := strings.NewReader("ignored prefix" + accounts("sk", 10))
			if _, err := data.Seek(int64(len("ignored prefix")), io.SeekStart); err != nil {
				t.Fatal(err)
			}
			failUpload(o)
			job := load(t, c, spec, data)
			if n := len(o.wire.exchanges(http.MethodPut, "/batches")); n != 2 {
				t.Errorf("%d uploads, want 2", n)
			}
			if job.State != bulk.StateJobComplete || job.NumberRecordsProcessed != 10 || job.NumberRecordsFailed != 0 {
				t.Fatalf("job %+v: want the 10 rows loaded from the rewound reader", job)
			}

			// A plain reader is not.
			o.wire.reset()
			failUpload(o)
			job2, err := c.CreateIngestJob(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			err = c.UploadJobData(ctx, job2.ID, io.MultiReader(strings.NewReader(accounts("ns", 10))))
			wantCode(t, err, http.StatusInternalServerError, "UNKNOWN_EXCEPTION")
			if n := len(o.wire.exchanges(http.MethodPut, "/batches")); n != 1 {
				t.Errorf("%d uploads from a reader that cannot be rewound, want 1", n)
			}
		})
	}
}

// refuseFirstPut is a transport whose first upload cannot connect: nothing
// of the body has been read, so even a plain reader can be sent again.
type refuseFirstPut struct{ refused atomic.Bool }

func (rt *refuseFirstPut) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && rt.refused.CompareAndSwap(false, true) {
		r.Body.Close()
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestUploadRetriedWhenNothingWasRead(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	rt := &refuseFirstPut{}
	c := o.client(t, bulk.WithHTTPClient(&http.Client{Transport: rt}))
	job := load(t, c, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert}, io.MultiReader(strings.NewReader(accounts("nr", 4))))
	if !rt.refused.Load() || job.NumberRecordsProcessed != 4 {
		t.Fatalf("job %+v after a refused connection", job)
	}
}

func TestRequestLimitExceeded(t *testing.T) {
	o := newOrg(t, bulkemu.Options{DailyAPIRequests: 3})
	var observed []bulk.LimitInfo
	var mu sync.Mutex
	const limitBackoff = 20 * time.Millisecond
	c := o.client(t,
		bulk.WithRetry(bulk.RetryPolicy{MaxAttempts: 3, Base: time.Millisecond, Cap: time.Millisecond, LimitBackoff: limitBackoff}),
		bulk.WithLimitObserver(func(l bulk.LimitInfo) { mu.Lock(); observed = append(observed, l); mu.Unlock() }))
	ctx := testContext(t)
	if _, ok := c.LastLimitInfo(); ok {
		t.Error("LastLimitInfo before any request reports something")
	}
	for range 3 {
		if _, err := c.Limits(ctx); err != nil {
			t.Fatal(err)
		}
	}
	o.wire.reset()
	start := time.Now()
	_, err := c.Limits(ctx)
	wantCode(t, err, http.StatusForbidden, bulk.CodeRequestLimitExceeded)
	if !bulk.IsRequestLimitExceeded(err) || !bulk.IsRetryable(err) {
		t.Errorf("REQUEST_LIMIT_EXCEEDED: IsRequestLimitExceeded %v, IsRetryable %v; want both", bulk.IsRequestLimitExceeded(err), bulk.IsRetryable(err))
	}
	if n := len(o.wire.exchanges("", "/limits")); n != 3 {
		t.Errorf("%d tries, want 3", n)
	}
	if elapsed := time.Since(start); elapsed < 2*limitBackoff {
		t.Errorf("3 tries took %v; the limit back-off of %v should have been waited twice", elapsed, limitBackoff)
	}
	last, ok := c.LastLimitInfo()
	if !ok || last.Max != 3 || last.Used != 3 || last.Remaining() != 0 {
		t.Errorf("LastLimitInfo = %+v, %v", last, ok)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(observed) != 6 || observed[0] != (bulk.LimitInfo{Used: 1, Max: 3}) {
		t.Errorf("observed %+v, want one report per answer, starting at 1/3", observed)
	}
}

func TestLimits(t *testing.T) {
	o := newOrg(t, bulkemu.Options{DailyAPIRequests: 5000})
	c := o.client(t)
	limits, err := c.Limits(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	api, ok := limits["DailyApiRequests"]
	if !ok || api.Max != 5000 || api.Remaining < 4990 || api.Remaining > 5000 {
		t.Errorf("DailyApiRequests = %+v, %v", api, ok)
	}
	if _, ok := limits["DailyBulkV2QueryJobs"]; !ok {
		t.Errorf("no DailyBulkV2QueryJobs in %v", limits)
	}
	if info, ok := c.LastLimitInfo(); !ok || info.Max != 5000 || info.Used < 1 {
		t.Errorf("LastLimitInfo = %+v, %v", info, ok)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	o := newOrg(t, bulkemu.Options{Faults: bulkemu.Faults{RowsPerSecond: 1}})
	c := o.client(t)
	ctx := testContext(t)
	job := uploaded(t, c, accounts("slow", 100))
	if _, err := c.CloseIngestJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	info, err := c.WaitIngestJob(short, job.ID)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitIngestJob: %v, want the deadline", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second { // the job itself needs 100 s
		t.Errorf("WaitIngestJob returned %v after its deadline of 100ms", elapsed)
	}
	if info == nil || info.State.Terminal() {
		t.Errorf("last info %+v: want the running job", info)
	}
	if bulk.IsRetryable(err) {
		t.Error("the caller's deadline classified retryable")
	}
	if _, err := c.AbortIngestJob(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
}

// A back-off between retries ends with the context.
func TestRetryBackoffHonoursContext(t *testing.T) {
	o := newOrg(t, bulkemu.Options{Faults: bulkemu.Faults{Seed: 2, HTTPErrorRate: 1}})
	c := o.client(t, bulk.WithRetry(bulk.RetryPolicy{MaxAttempts: 5, Base: 10 * time.Second, Cap: 10 * time.Second}))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetIngestJob(ctx, "750000000000001AAA")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v: want the deadline", err)
	}
	if _, ok := errors.AsType[*bulk.APIError](err); !ok {
		t.Errorf("error %v: want the last answer kept too", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second { // the back-offs alone are 10 s each
		t.Errorf("returned after %v", elapsed)
	}
}

// Many goroutines share one client.
func TestConcurrentLoads(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t, bulk.WithGzipUpload(true))
	ctx := testContext(t)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			ext := "cc" + string(rune('a'+i))
			job, err := loadJob(ctx, c, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpUpsert, ExternalIDFieldName: "External_Id__c"}, strings.NewReader(accounts(ext, 100)))
			if err != nil {
				t.Error(err)
				return
			}
			if job.NumberRecordsProcessed != 100 || job.NumberRecordsFailed != 0 {
				t.Errorf("job %+v", job)
			}
		})
	}
	wg.Wait()
}
