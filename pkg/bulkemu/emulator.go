package bulkemu

import (
	"crypto/rsa"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure an emulator. The zero value is a working org with the
// default schema, the client id and secret "bulkstream", no faults and
// Salesforce's default limits.
type Options struct {
	// ClientID and ClientSecret are the connected app's credentials that
	// the token endpoint accepts. Default "bulkstream" and "bulkstream".
	ClientID     string
	ClientSecret string
	// TokenTTL is how long an access token stays valid; afterwards requests
	// get 401 INVALID_SESSION_ID. Default 2 hours, Salesforce's default
	// session timeout.
	TokenTTL time.Duration
	// JWTPublicKey turns on the JWT bearer flow: the token endpoint takes
	// assertions signed with RS256 by the matching private key (the
	// certificate of a connected app), whose iss is ClientID. Default nil:
	// the flow is refused with unsupported_grant_type.
	JWTPublicKey *rsa.PublicKey
	// JWTUsername is the user a JWT assertion's sub must name; another is
	// refused with invalid_grant "user hasn't approved this consumer".
	// Default "": any user.
	JWTUsername string
	// JWTAudience is the aud a JWT assertion must carry; another is refused
	// with invalid_grant "audience is invalid". Default "": the emulator's
	// own base URL as the client reached it, https://login.salesforce.com
	// or https://test.salesforce.com.
	JWTAudience string
	// RefreshToken turns on the refresh token flow: the token endpoint
	// takes grant_type=refresh_token with this refresh token and ClientID
	// (and ClientSecret, if the client sends one). Default "": the flow is
	// refused with unsupported_grant_type.
	RefreshToken string
	// Username is the login name of the org's one user: the username the
	// password flow takes, and the one that userinfo, the identity URL and
	// the User record report. Default "emulator@bulkstream.example".
	Username string
	// Password turns on the username-password flow: the token endpoint
	// takes grant_type=password with Username and this password (a real
	// org's password followed by the user's security token, as one string)
	// and the client id and secret. Default "": the flow is refused with
	// unsupported_grant_type.
	Password string
	// Schema is the org's objects and fields. Default DefaultSchema().
	Schema *Schema
	// HardDeleteAllowed is the org setting behind hardDelete ("Bulk API
	// Hard Delete" permission). Without it, creating a hardDelete job fails
	// with FEATURENOTENABLED. Default false, as in a new org.
	HardDeleteAllowed bool
	// DailyAPIRequests is the org's daily API request allocation; requests
	// beyond it get 403 REQUEST_LIMIT_EXCEEDED. Default 1,000,000.
	DailyAPIRequests int64
	// DailyRecordLimit is the Bulk API 2.0 record allocation of the rolling
	// 24 hours; rows beyond it are left unprocessed and their job fails.
	// Default 150,000,000.
	DailyRecordLimit int64
	// QueryPageSize is the number of records per page of query results when
	// the client gives no maxRecords. Default 0: the server chooses, as an
	// org does: pages end at the first row past 1 MiB of CSV
	// (defaultPageBytes), so large results come in several pages. Salesforce
	// publishes no page size; it cuts pages by size too.
	QueryPageSize int
	// BatchSize is the number of rows of an internal batch; batches of one
	// job run concurrently, as in Salesforce. Default 10,000.
	BatchSize int
	// LockWait is how long a row waits for a record lock held by a
	// concurrent batch before it fails with UNABLE_TO_LOCK_ROW. Default
	// 50ms at full speed (Salesforce waits up to 10 seconds; tests want it
	// short), 10 seconds under a Speed model, whose chunks hold their locks
	// for their ChunkTime.
	LockWait time.Duration
	// MaxUploadMemory is the most memory, in bytes, that uploaded CSV may
	// take in all: the uploads kept with their jobs until the jobs are
	// deleted (DELETE /jobs/ingest/{id}) and those still being read. An
	// upload that would go beyond it is refused with 503
	// SERVER_UNAVAILABLE; nothing of it is kept and its job stays Open, so
	// the same upload succeeds once jobs were deleted. An upload's buffer
	// grows by doubling, so one sent without a Content-Length (chunked)
	// may take up to twice its size. Default 1 GiB.
	MaxUploadMemory int64
	// ReadHeaderTimeout is how long a client of the server that Server
	// returns may take to send a request's line and headers (and, over
	// TLS, to finish its handshake); a slower connection is closed.
	// Default 10 seconds.
	ReadHeaderTimeout time.Duration
	// StallTimeout is the longest a request body or a response may make no
	// progress: each read of the body and each write of the response must
	// finish within it. A client that sends or takes nothing for longer
	// has its connection closed, and the upload it was sending is dropped.
	// It bounds pauses, not requests, so a 100 MB upload over a slow link
	// finishes as long as data keeps coming. It holds under any
	// http.Server, since ServeHTTP sets the deadlines. Default 30 seconds.
	StallTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection of the server that
	// Server returns may wait for its next request before it is closed.
	// Default 2 minutes.
	IdleTimeout time.Duration
	// Speed is the model of how fast the org processes ingest jobs; see
	// Speed. Default: full speed.
	Speed Speed
	// Faults injects failures on demand; see Faults.
	Faults Faults
	// Logger receives one line per request. Default: no logging.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Faults injects failures, deterministically for a given Seed: whether a
// request or a row is hit depends only on the seed and on its position (the
// request's sequence number, the job's and the row's), not on timing. Rates
// are shares between 0 and 1.
type Faults struct {
	Seed int64
	// HTTPErrorRate is the share of API requests answered 500
	// UNKNOWN_EXCEPTION or 503 SERVER_UNAVAILABLE before they act.
	HTTPErrorRate float64
	// ExpireSessionRate is the share of API requests that find their
	// session expired: the token is revoked and the request gets 401
	// INVALID_SESSION_ID.
	ExpireSessionRate float64
	// LockErrorRate is the share of rows failing with UNABLE_TO_LOCK_ROW
	// (besides the real lock contention between concurrent batches).
	LockErrorRate float64
	// JobFailureRate is the share of ingest jobs that fail as a whole
	// before processing any row; all their rows are unprocessed.
	JobFailureRate float64
	// UnprocessedRate is the share of rows left unprocessed; a job with
	// such rows ends Failed after processing the others.
	UnprocessedRate float64
	// RowsPerSecond slows processing to this many rows per second per job.
	// 0 means as fast as possible.
	RowsPerSecond int
}

// Emulator is a Salesforce org that speaks Bulk API 2.0 over HTTP. It is an
// http.Handler, safe for concurrent use; jobs are processed by background
// goroutines, one per job.
type Emulator struct {
	opts    Options
	schema  *Schema
	store   *store
	jobs    registry
	uploads uploadMemory
	locks   rowLocks
	auth    sessions
	mux     *http.ServeMux

	directory *directory     // the Organization and the User
	running   sync.WaitGroup // the goroutines of jobs being processed, for Close
	workers   chan struct{}  // the org's batch workers under a Speed model; nil at full speed
	now       func() time.Time

	faultSet   atomic.Pointer[Faults] // the faults in force; SetFaults swaps them
	allocation atomic.Int64           // daily API requests; SetDailyAPIRequests changes it
	requests   atomic.Int64           // API requests today, for Sforce-Limit-Info and REQUEST_LIMIT_EXCEEDED
	records    atomic.Int64           // Bulk API 2.0 rows processed today
	batches    atomic.Int64           // internal batches today (DailyBulkApiBatches)
	queryJobs  atomic.Int64           // query jobs today (DailyBulkV2QueryJobs)
	requestSeq atomic.Int64           // every request, for deterministic faults
}

// New returns an emulator with opts' defaults filled in.
func New(opts Options) *Emulator {
	if opts.ClientID == "" {
		opts.ClientID = "bulkstream"
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "bulkstream"
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 2 * time.Hour
	}
	if opts.Username == "" {
		opts.Username = "emulator@bulkstream.example"
	}
	if opts.Schema == nil {
		opts.Schema = DefaultSchema()
	}
	if opts.DailyAPIRequests <= 0 {
		opts.DailyAPIRequests = 1_000_000
	}
	if opts.DailyRecordLimit <= 0 {
		opts.DailyRecordLimit = 150_000_000
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 10_000
	}
	if opts.LockWait <= 0 {
		opts.LockWait = 50 * time.Millisecond
		if opts.Speed.on() {
			opts.LockWait = 10 * time.Second
		}
	}
	if opts.MaxUploadMemory <= 0 {
		opts.MaxUploadMemory = 1 << 30
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = 10 * time.Second
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = 30 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 2 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Emulator{opts: opts, schema: opts.Schema, store: newStore(opts.Schema), now: opts.Now}
	e.directory = newDirectory(opts.Username, opts.Now())
	if opts.Speed.on() {
		e.workers = make(chan struct{}, opts.Speed.Workers)
	}
	e.uploads.limit = opts.MaxUploadMemory
	e.SetFaults(opts.Faults)
	e.allocation.Store(opts.DailyAPIRequests)
	e.auth.tokens = map[string]time.Time{}
	e.locks = newRowLocks()
	e.routes()
	return e
}

// startJob runs a job's processing on its own goroutine, one that Close
// waits for.
func (e *Emulator) startJob(run func()) {
	e.running.Add(1)
	go func() {
		defer e.running.Done()
		run()
	}()
}

// Close aborts the ingest jobs still queued or in progress, as a client's
// abort would, and returns once every goroutine the emulator started for
// its jobs (and their batches and timers) has ended, so that a test done
// with the emulator leaves nothing running. Call it once no request is
// served any more (after the server that serves the emulator is closed);
// a job closed during or after Close is not waited for. Records and jobs
// stay readable afterwards.
func (e *Emulator) Close() {
	for _, j := range e.jobs.list(true) {
		j.mu.Lock()
		if j.state == stateUploadComplete || j.state == stateInProgress {
			j.setState(stateAborted, e.now()) // closes j.abort, if its goroutine made it yet
		}
		j.mu.Unlock()
	}
	e.running.Wait()
}

// SetDailyAPIRequests changes the org's daily API request allocation, as
// an admin who buys more would; tests use it to end a limit-exceeded
// period. Safe for concurrent use.
func (e *Emulator) SetDailyAPIRequests(n int64) { e.allocation.Store(n) }

// SetFaults replaces the faults in force, for tests that switch an outage
// on and off while clients run. Safe for concurrent use.
func (e *Emulator) SetFaults(f Faults) { e.faultSet.Store(&f) }

func (e *Emulator) faults() *Faults { return e.faultSet.Load() }

// ServeHTTP answers one request of the OAuth token endpoint or the REST
// API, reading its body and writing its response under StallTimeout.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rc := http.NewResponseController(w)
	if r.ContentLength != 0 {
		// A copy, so that net/http still sees its own body in r and, when
		// a handler leaves a large body unread, closes the connection
		// instead of reading the rest.
		r = r.WithContext(r.Context())
		r.Body = newStallGuard(r.Body, rc, e.opts.StallTimeout, r.ContentLength < 0)
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK, rc: rc, stall: e.opts.StallTimeout}
	defer func() {
		// A bug must not take the emulator down with the test that found
		// it: answer 500 as Salesforce does and log the panic.
		if p := recover(); p != nil {
			if e.opts.Logger != nil {
				e.opts.Logger.Error("panic", "method", r.Method, "path", r.URL.RequestURI(), "panic", p, "stack", string(debug.Stack()))
			}
			writeError(rec, &apiError{Status: http.StatusInternalServerError, Code: "UNKNOWN_EXCEPTION", Message: fmt.Sprint("internal error: ", p)})
		}
	}()
	if strings.Contains(r.URL.Path, "//") {
		// Salesforce reads //services/data as /services/data; clients that
		// join an instance URL ending in a slash with an absolute path (the
		// Salesforce CLI) send such paths. http.ServeMux would redirect.
		r = r.WithContext(r.Context())
		u := *r.URL
		u.Path, u.RawPath = collapseSlashes(u.Path), ""
		r.URL = &u
	}
	e.mux.ServeHTTP(rec, r)
	if e.opts.Logger != nil {
		e.opts.Logger.Info("request", "method", r.Method, "path", r.URL.RequestURI(), "status", rec.status,
			"bytes", rec.bytes, "duration", time.Since(start).Round(time.Microsecond))
	}
}

// statusRecorder notes a response's status and size for the log, and gives
// each write StallTimeout to finish.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	rc     *http.ResponseController
	stall  time.Duration
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.rc.SetWriteDeadline(time.Now().Add(r.stall)) // not supported by an httptest.ResponseRecorder: no deadline needed there
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush lets streamed responses through.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// collapseSlashes replaces each run of slashes in path with one.
func collapseSlashes(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] == '/' && i > 0 && path[i-1] == '/' {
			continue
		}
		b.WriteByte(path[i])
	}
	return b.String()
}
