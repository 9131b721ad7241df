// Package console is the operator console that `connector run` serves on
// http.listen, next to /metrics: HTML pages (Go templates and a little
// JavaScript, embedded in the binary, no build step and nothing fetched from
// elsewhere) about what the pipeline does, and the same data as JSON under
// /api/, which the pages read and scripts can too.
//
//	/               overview: events in and results out, lag, buffers, pauses, the org's API usage
//	/jobs           Bulk API jobs in flight and the last ones, linked to the org's Bulk Data Load Jobs page
//	/failures       failures by error code, with example rows and their source positions
//	/dead-letters   the dead-letter topic with connector replay's filters; a replay of a selection
//	/routes         the effective configuration, secrets masked
//
// Reading needs nothing. A replay writes (results, new dead-letter copies,
// rows in Salesforce): it is off unless Options.Token is set, and then
// needs it as "Authorization: Bearer TOKEN".
package console

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulkstream/bulkstream/internal/pipeline"
)

//go:embed web
var web embed.FS

var pages = template.Must(template.ParseFS(web, "web/page.html"))

// Observer is the pipeline as the console reads it.
type Observer interface {
	Observe() pipeline.Observation
}

// DeadLetters reads the dead-letter topic as `connector replay` would, and
// replays from it.
type DeadLetters interface {
	// Browse reads what a replay with filter f would read (from the
	// replay group's position to the topic's end) and returns up to max of
	// the records it keeps, with the counts of all it keeps and passes
	// over.
	Browse(ctx context.Context, f Filter, max int) (*Browse, error)
	// Replay replays the records f keeps, as `connector replay` does, and
	// returns once they have their results.
	Replay(ctx context.Context, f Filter) (*ReplaySummary, error)
}

// Filter is connector replay's filters; the zero value keeps every record.
type Filter struct {
	ErrorCode   string `json:"errorCode"`
	Object      string `json:"object"`
	SourceTopic string `json:"sourceTopic"`
	Since       string `json:"since"` // an RFC 3339 time or a dead-letter offset, inclusive
	Until       string `json:"until"` // exclusive
	Limit       int    `json:"limit"` // at most this many records; 0: all
}

// FilterError is a DeadLetters' refusal of a filter (a bad since or
// until): the console answers it with 400, other errors with 500.
type FilterError struct{ Err error }

func (e *FilterError) Error() string { return e.Err.Error() }
func (e *FilterError) Unwrap() error { return e.Err }

// DeadLetter is one dead-letter record.
type DeadLetter struct {
	Position  pipeline.Source   `json:"position"` // in the dead-letter topic
	Original  pipeline.Source   `json:"original"` // of the record that failed
	Timestamp time.Time         `json:"timestamp"`
	ErrorCode string            `json:"errorCode"`
	Error     string            `json:"error"`
	Object    string            `json:"object"` // of the decoded change; "" when it does not decode
	Operation string            `json:"operation"`
	Key       string            `json:"key"`
	Value     string            `json:"value"` // its first 4 KiB
	Headers   []pipeline.Header `json:"headers"`
	Truncated string            `json:"truncated,omitempty"` // bulkstream.truncated: not replayed
}

// Browse is what a replay with some filters would read.
type Browse struct {
	Topic      string         `json:"topic"`
	Group      string         `json:"group"`
	Records    []DeadLetter   `json:"records"`
	Kept       int            `json:"kept"`       // records the filters keep: a replay sends these
	PassedOver map[string]int `json:"passedOver"` // by the filter that leaves them out
}

// ReplaySummary is what a replay did.
type ReplaySummary struct {
	Read      int64 `json:"read"`
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
}

// Options configure the console.
type Options struct {
	Pipeline Observer
	// Metrics is the registry of /metrics: the console reads the pauses,
	// buffers and API usage from it.
	Metrics prometheus.Gatherer
	// Config is the effective configuration, shown on /routes with every
	// config.Secret and every password in a URL masked.
	Config any
	// InstanceURL is the org's, for links to its Bulk Data Load Jobs page.
	InstanceURL string
	// APIRequests returns the org's daily API requests used and allowed,
	// as Salesforce last reported them (max 0 until known); nil: unknown.
	APIRequests func() (used, max int64)
	// RecordLimit is the org's allocation of records in 24 hours
	// (limits.record_limit).
	RecordLimit int64
	// Records, when set, gives the records submitted in the last 24
	// hours as the pacer counts them (it pauses at its reserve).
	Records func() (used, limit int64)
	// DeadLetters, nil when there is no dead-letter topic.
	DeadLetters DeadLetters
	// Token, when set, allows replays from the console with
	// "Authorization: Bearer Token"; "" turns them off.
	Token  string
	Logger *slog.Logger
}

// Console serves the pages and the API. Safe for concurrent use; replays
// run one at a time.
type Console struct {
	opts     Options
	mux      *http.ServeMux
	replayMu sync.Mutex
}

// New returns the console; mount it at "/" (it answers 404 to paths that
// are not its own).
func New(opts Options) *Console {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{opts: opts, mux: http.NewServeMux()}
	static, _ := fs.Sub(web, "web/static")
	c.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	for path, title := range map[string]string{"/{$}": "Overview", "/jobs": "Jobs", "/failures": "Failures", "/dead-letters": "Dead letters", "/routes": "Routes"} {
		page := strings.Trim(strings.TrimSuffix(path, "{$}"), "/")
		if page == "" {
			page = "overview"
		}
		c.mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			pages.Execute(w, map[string]any{"Title": title, "Page": page, "Writes": c.opts.Token != ""})
		})
	}
	c.mux.HandleFunc("GET /api/overview", c.overview)
	c.mux.HandleFunc("GET /api/jobs", c.jobs)
	c.mux.HandleFunc("GET /api/failures", c.failures)
	c.mux.HandleFunc("GET /api/dead-letters", c.deadLetters)
	c.mux.HandleFunc("POST /api/replay", c.replay)
	c.mux.HandleFunc("GET /api/routes", c.routes)
	return c
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	c.mux.ServeHTTP(w, r)
}

// Overview is /api/overview.
type Overview struct {
	At time.Time `json:"at"`
	// Stats are the pipeline's counts. Its inFlight (the jobs that hold a
	// slot, bulkstream_jobs_in_flight) is the overview's one count of jobs
	// in flight; /api/jobs lists those jobs, and also any waiting out a
	// back-off between rounds without a slot.
	Stats pipeline.Stats `json:"stats"`
	// Paused is bulkstream_paused by reason: 1 while paused for it.
	Paused        map[string]float64      `json:"paused"`
	PendingEvents float64                 `json:"pendingEvents"`
	BufferedBytes float64                 `json:"bufferedBytes"`
	InFlightBytes float64                 `json:"inFlightBytes"`
	Lag           []pipeline.PartitionLag `json:"lag"`
	// APIUsage is the share of the org's daily API requests used, as
	// Salesforce last reported it; APIRequestsUsed and APIRequestsMax are
	// the counts (0 until known).
	APIUsage        float64 `json:"apiUsage"`
	APIRequestsUsed int64   `json:"apiRequestsUsed"`
	APIRequestsMax  int64   `json:"apiRequestsMax"`
	// RowsSubmitted counts the CSV rows uploaded since the start, retries
	// included, against RecordLimit, the org's allocation of records in
	// 24 hours.
	RowsSubmitted float64 `json:"rowsSubmitted"`
	RecordLimit   int64   `json:"recordLimit"`
	// Records24h is the records submitted in the last 24 hours, the
	// rolling count the pacer pauses by (limits.record_reserve); absent
	// without a pacer.
	Records24h *int64 `json:"records24h,omitempty"`
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	o := c.opts.Pipeline.Observe()
	ov := Overview{At: o.At, Stats: o.Stats, Paused: map[string]float64{}, Lag: nonNil(o.Lag),
		RecordLimit: c.opts.RecordLimit}
	if c.opts.APIRequests != nil {
		ov.APIRequestsUsed, ov.APIRequestsMax = c.opts.APIRequests()
	}
	if c.opts.Records != nil {
		used, limit := c.opts.Records()
		ov.Records24h, ov.RecordLimit = &used, limit
	}
	families, _ := c.opts.Metrics.Gather()
	for _, f := range families {
		for _, m := range f.Metric {
			v := m.GetGauge().GetValue()
			switch f.GetName() {
			case "bulkstream_paused":
				for _, l := range m.Label {
					if l.GetName() == "reason" {
						ov.Paused[l.GetValue()] = v
					}
				}
			case "bulkstream_pending_events":
				ov.PendingEvents = v
			case "bulkstream_buffered_bytes":
				ov.BufferedBytes = v
			case "bulkstream_in_flight_bytes":
				ov.InFlightBytes = v
			case "bulkstream_salesforce_api_usage_ratio":
				ov.APIUsage = v
			case "bulkstream_rows_submitted_total":
				ov.RowsSubmitted += m.GetCounter().GetValue()
			}
		}
	}
	writeJSON(w, http.StatusOK, ov)
}

// Jobs is /api/jobs.
type Jobs struct {
	InFlight []pipeline.JobView `json:"inFlight"`
	Recent   []pipeline.JobView `json:"recent"`
	// JobPage is the org's page of a job, with {id} for its id: its Bulk
	// Data Load Jobs page in Setup.
	JobPage string `json:"jobPage"`
}

func (c *Console) jobs(w http.ResponseWriter, r *http.Request) {
	o := c.opts.Pipeline.Observe()
	page := ""
	if c.opts.InstanceURL != "" {
		page = strings.TrimSuffix(c.opts.InstanceURL, "/") + "/lightning/setup/AsyncApiJobStatus/page?address=%2F{id}"
	}
	writeJSON(w, http.StatusOK, Jobs{InFlight: nonNil(o.InFlight), Recent: nonNil(o.Recent), JobPage: page})
}

func (c *Console) failures(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"failures": nonNil(c.opts.Pipeline.Observe().Failures)})
}

// browseMax bounds the records /api/dead-letters lists.
const browseMax = 200

func (c *Console) deadLetters(w http.ResponseWriter, r *http.Request) {
	if c.opts.DeadLetters == nil {
		writeError(w, http.StatusNotFound, "no dead-letter topic is configured (results.dead_letter_topic)")
		return
	}
	q := r.URL.Query()
	f := Filter{ErrorCode: q.Get("error-code"), Object: q.Get("object"), SourceTopic: q.Get("source-topic"), Since: q.Get("since"), Until: q.Get("until")}
	b, err := c.opts.DeadLetters.Browse(r.Context(), f, browseMax)
	if err != nil {
		writeError(w, errorStatus(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// ReplayRequest is the body of POST /api/replay.
type ReplayRequest struct {
	Filter
	// DryRun counts what the replay would send, and sends nothing.
	DryRun bool `json:"dryRun"`
}

// ReplayAnswer is the answer to POST /api/replay: the count of a dry run,
// or what the replay did.
type ReplayAnswer struct {
	DryRun     bool           `json:"dryRun"`
	Kept       int            `json:"kept"`
	PassedOver map[string]int `json:"passedOver,omitempty"`
	Replay     *ReplaySummary `json:"replay,omitempty"`
}

func (c *Console) replay(w http.ResponseWriter, r *http.Request) {
	if !c.authorized(w, r) {
		return
	}
	if c.opts.DeadLetters == nil {
		writeError(w, http.StatusNotFound, "no dead-letter topic is configured (results.dead_letter_topic)")
		return
	}
	// A misspelt filter must not widen the replay to every record: unknown
	// keys are refused, as the configuration's are, and so are a body that
	// is not an object (null decodes to no filter at all) and a key set to
	// null.
	var raw json.RawMessage
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := dec.Decode(&raw); err == io.EOF {
		writeError(w, http.StatusBadRequest, "the body is empty: send a replay request, a JSON object ({} replays every record)")
		return
	} else if err != nil {
		writeError(w, http.StatusBadRequest, "the body is not a replay request: "+err.Error())
		return
	}
	if _, err := dec.Token(); err != io.EOF { // a second request, or a typo after the first
		writeError(w, http.StatusBadRequest, "the body is not a replay request: more follows its JSON object")
		return
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil || keys == nil {
		writeError(w, http.StatusBadRequest, "the body is not a replay request: a JSON object is wanted ({} replays every record)")
		return
	}
	for k, v := range keys {
		if string(v) == "null" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s is null: leave a filter out rather than set it to null", k))
			return
		}
	}
	var req ReplayRequest
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "the body is not a replay request: "+err.Error())
		return
	}
	if req.Limit < 0 {
		writeError(w, http.StatusBadRequest, "limit must not be negative (0: no limit)")
		return
	}
	if req.DryRun {
		b, err := c.opts.DeadLetters.Browse(r.Context(), req.Filter, 0)
		if err != nil {
			writeError(w, errorStatus(err), err.Error())
			return
		}
		writeJSON(w, http.StatusOK, ReplayAnswer{DryRun: true, Kept: b.Kept, PassedOver: b.PassedOver})
		return
	}
	if !c.replayMu.TryLock() {
		writeError(w, http.StatusConflict, "a replay is running; try again when it is done")
		return
	}
	defer c.replayMu.Unlock()
	c.opts.Logger.Info("console: replay", "filter", req.Filter, "from", r.RemoteAddr)
	s, err := c.opts.DeadLetters.Replay(r.Context(), req.Filter)
	if err != nil {
		writeError(w, errorStatus(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, ReplayAnswer{Kept: int(s.Succeeded + s.Failed), Replay: s})
}

// authorized checks the bearer token of a request that writes, and answers
// it if it fails: 403 when writes are off, 401 without the token.
func (c *Console) authorized(w http.ResponseWriter, r *http.Request) bool {
	if c.opts.Token == "" {
		writeError(w, http.StatusForbidden, "replays from the console are off: set http.console_token")
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(c.opts.Token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="bulkstream console"`)
		writeError(w, http.StatusUnauthorized, "a replay needs the console token (Authorization: Bearer TOKEN)")
		return false
	}
	return true
}

func (c *Console) routes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, masked(c.opts.Config))
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// errorStatus is 400 for a refused filter, 500 for the rest (Kafka or
// Salesforce failed).
func errorStatus(err error) int {
	if _, ok := errors.AsType[*FilterError](err); ok {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"error": message})
}
