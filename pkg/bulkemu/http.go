package bulkemu

import (
	"compress/flate"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	kgzip "github.com/klauspost/compress/gzip"
)

// Supported API versions. Bulk API 2.0 ingest exists from 41.0 and query
// from 47.0; 66.0 is Spring '26.
const (
	minIngestVersion = 41.0
	minQueryVersion  = 47.0
	maxVersion       = 66.0
)

var versionPattern = regexp.MustCompile(`^v(\d{2})\.0$`)

func (e *Emulator) routes() {
	e.mux = http.NewServeMux()
	e.mux.HandleFunc("/services/oauth2/token", e.token)
	e.mux.HandleFunc("/services/data", e.versions)
	e.mux.HandleFunc("/services/data/", e.api)
	e.mux.HandleFunc("/services/oauth2/userinfo", e.userinfo)
	e.mux.HandleFunc("/id/", e.identity)
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, errNotFound) })
}

// request is one authenticated API call, its path split into segments
// after /services/data/vXX.X/.
type request struct {
	w       http.ResponseWriter
	r       *http.Request
	version string // "62.0"
	seg     []string
}

// api serves everything under /services/data/: it checks the version, the
// session and the limits, injects faults, then dispatches on the path.
// Trailing slashes are ignored, as Salesforce ignores them.
func (e *Emulator) api(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/services/data/"), "/"), "/")
	if parts[0] == "" {
		e.versions(w, r)
		return
	}
	m := versionPattern.FindStringSubmatch(parts[0])
	if m == nil {
		writeError(w, errNotFound)
		return
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	if v < 31 {
		writeError(w, &apiError{Status: http.StatusGone, Code: "API_VERSION_RETIRED", Message: "The requested API version " + m[1] + ".0 has been retired"})
		return
	}
	if v > maxVersion {
		writeError(w, errNotFound)
		return
	}
	seq := e.requestSeq.Add(1)
	if err := e.auth.check(r, e.now()); err != nil {
		writeError(w, err)
		return
	}
	if e.hit(e.faults().ExpireSessionRate, "session", seq, 0) {
		e.auth.revoke(r)
		writeError(w, errInvalidSession)
		return
	}
	used := e.requests.Add(1)
	allocation := e.allocation.Load()
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", min(used, allocation), allocation))
	if used > allocation {
		e.requests.Add(-1) // refused requests do not count
		writeError(w, &apiError{Status: http.StatusForbidden, Code: "REQUEST_LIMIT_EXCEEDED", Message: "TotalRequests Limit exceeded."})
		return
	}
	if e.hit(e.faults().HTTPErrorRate, "http", seq, 0) {
		if e.hit(0.5, "http-503", seq, 0) {
			writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "SERVER_UNAVAILABLE", Message: "Service temporarily unavailable (fault injected by the emulator)"})
		} else {
			writeError(w, &apiError{Status: http.StatusInternalServerError, Code: "UNKNOWN_EXCEPTION", Message: fmt.Sprintf("An unexpected error occurred. Please include this ErrorId if you contact support: %d-%d (fault injected by the emulator)", seq, e.faults().Seed)})
		}
		return
	}
	body, err := decodedBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	r.Body = body
	gz := compressing(w, r)
	defer gz.Close()
	req := &request{w: gz, r: r, version: m[1] + ".0", seg: parts[1:]}
	if err := e.dispatch(req, v); err != nil {
		writeError(gz, err)
	}
}

func (e *Emulator) dispatch(q *request, version float64) error {
	seg := q.seg
	switch {
	case len(seg) == 0:
		return q.only("GET", e.versionRoot)
	case len(seg) == 1 && seg[0] == "query":
		return q.only("GET", func(q *request) error { return e.restQuery(q, false) })
	case len(seg) == 1 && seg[0] == "queryAll":
		return q.only("GET", func(q *request) error { return e.restQuery(q, true) })
	case len(seg) == 1 && seg[0] == "limits":
		return q.only("GET", e.limits)
	case len(seg) == 1 && seg[0] == "sobjects":
		return q.only("GET", e.globalDescribe)
	case len(seg) == 3 && seg[0] == "sobjects" && seg[2] == "describe":
		return q.only("GET", e.describe)
	case len(seg) == 3 && seg[0] == "sobjects":
		return q.only("GET", e.record)
	case len(seg) >= 2 && seg[0] == "jobs" && seg[1] == "ingest":
		if version < minIngestVersion {
			return errNotFound
		}
		return e.ingestRoutes(q)
	case len(seg) >= 2 && seg[0] == "jobs" && seg[1] == "query":
		if version < minQueryVersion {
			return errNotFound
		}
		return e.queryRoutes(q)
	}
	return errNotFound
}

// only runs h when the request's method is one of the allowed ones, and
// answers 405 METHOD_NOT_ALLOWED otherwise.
func (q *request) only(allowed string, h func(*request) error) error {
	for _, m := range strings.Split(allowed, ",") {
		if q.r.Method == m || (m == "GET" && q.r.Method == "HEAD") {
			return h(q)
		}
	}
	return &apiError{Status: http.StatusMethodNotAllowed, Code: "METHOD_NOT_ALLOWED",
		Message: "HTTP Method '" + q.r.Method + "' not allowed. Allowed are " + allowed}
}

// versions answers GET /services/data, which needs no session.
func (e *Emulator) versions(w http.ResponseWriter, r *http.Request) {
	type version struct {
		Label   string `json:"label"`
		URL     string `json:"url"`
		Version string `json:"version"`
	}
	var out []version
	for v := 31; v <= maxVersion; v++ {
		out = append(out, version{Label: fmt.Sprintf("API %d.0", v), URL: fmt.Sprintf("/services/data/v%d.0", v), Version: fmt.Sprintf("%d.0", v)})
	}
	writeJSON(w, http.StatusOK, out)
}

// decodedBody undoes a request's Content-Encoding (gzip or deflate), as
// Salesforce does before it reads a body.
func decodedBody(r *http.Request) (io.ReadCloser, error) {
	switch strings.ToLower(r.Header.Get("Content-Encoding")) {
	case "", "identity":
		return r.Body, nil
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, badRequest("API_ERROR", "The request body is not valid gzip data: "+err.Error())
		}
		return zr, nil
	case "deflate":
		return flate.NewReader(r.Body), nil
	}
	return nil, &apiError{Status: http.StatusUnsupportedMediaType, Code: "UNSUPPORTED_MEDIA_TYPE", Message: "Content-Encoding " + r.Header.Get("Content-Encoding") + " is not supported"}
}

// gzipWriters recycles the compressors of responses: each holds about a
// megabyte of state, which allocating and clearing for every response (a
// status poll as much as a result file) made a tenth of the emulator's CPU.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := kgzip.NewWriterLevel(nil, kgzip.BestSpeed)
	return zw
}}

// gzipWriter compresses a response when the client sent Accept-Encoding:
// gzip. Compression starts with the first byte written, so headers set
// before then still go out. It compresses at the fastest level: clients
// decompress what they get whatever the level, and the emulator shares its
// CPU with the clients it serves. On a successful results file of 30,000
// Accounts (4.5 MB) the default level took 63 ms, about 2 µs a row, and
// the fastest 19 ms, for a file no larger (560 KB). The compressor is
// klauspost/compress's (franz-go's already): at its fastest level it took
// 7.4 ms a file where the standard library's took 12.0 ms, for a file 4%
// larger (606 KB, 583 KB) that decompresses as fast.
type gzipWriter struct {
	http.ResponseWriter
	zw      *kgzip.Writer
	on      bool
	written bool
}

func compressing(w http.ResponseWriter, r *http.Request) *gzipWriter {
	on := false
	for _, enc := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		if strings.TrimSpace(strings.SplitN(enc, ";", 2)[0]) == "gzip" {
			on = true
		}
	}
	return &gzipWriter{ResponseWriter: w, on: on}
}

func (g *gzipWriter) WriteHeader(status int) {
	if g.on && status != http.StatusNoContent && status != http.StatusCreated && !g.written {
		g.Header().Set("Content-Encoding", "gzip")
		g.Header().Del("Content-Length")
		g.zw = gzipWriters.Get().(*kgzip.Writer)
		g.zw.Reset(g.ResponseWriter)
	}
	g.written = true
	g.ResponseWriter.WriteHeader(status)
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if !g.written {
		g.WriteHeader(http.StatusOK)
	}
	if g.zw != nil {
		return g.zw.Write(b)
	}
	return g.ResponseWriter.Write(b)
}

func (g *gzipWriter) Close() {
	if g.zw != nil {
		g.zw.Close()
		g.zw.Reset(nil) // drop the response writer before the pool keeps it
		gzipWriters.Put(g.zw)
		g.zw = nil
	}
}

// writeError answers err as Salesforce does: a JSON array with one
// {"errorCode", "message"} object.
func writeError(w http.ResponseWriter, err error) {
	e, ok := err.(*apiError)
	if !ok {
		e = &apiError{Status: http.StatusInternalServerError, Code: "UNKNOWN_EXCEPTION", Message: err.Error()}
	}
	writeJSON(w, e.Status, []map[string]string{{"errorCode": e.Code, "message": e.Message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`[{"errorCode":"UNKNOWN_EXCEPTION","message":"cannot encode the response"}]`)
	}
	writeRawJSON(w, status, b)
}

func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	w.Write(b)
}

// decodeJSON reads a request body strictly: a syntax error is
// JSON_PARSER_ERROR, a value of the wrong type or an unknown property
// API_ERROR / JSON_PARSER_ERROR as Salesforce reports them.
func decodeJSON(r *http.Request, v any) error {
	if ct := mediaType(r); ct != "application/json" {
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: "UNSUPPORTED_MEDIA_TYPE", Message: "Content-Type header specified in HTTP request is not supported: " + r.Header.Get("Content-Type")}
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			return badRequest("API_ERROR", fmt.Sprintf("Value does not match expected type at [line:1, column:%d]", typeErr.Offset))
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return badRequest("JSON_PARSER_ERROR", "Unrecognized field "+strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return badRequest("JSON_PARSER_ERROR", "The request body is not valid JSON: "+err.Error())
	}
	return nil
}

// mediaType returns the request's Content-Type without parameters, lower-case.
func mediaType(r *http.Request) string {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.ToLower(strings.TrimSpace(ct))
}
