package bulkemu

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// org is an emulator behind a real HTTP server, with a token, for tests
// that check the wire format byte by byte.
type org struct {
	t     testing.TB
	emu   *Emulator
	url   string
	token string
}

func newOrg(t testing.TB, opts Options) *org {
	t.Helper()
	emu := New(opts)
	// Cleanups run last first: the server closes, then the emulator,
	// which waits for its job goroutines. Without it a test that fails
	// mid-job leaves them running into the next test, and
	// TestCloseStopsEveryJobGoroutine, which looks at every goroutine,
	// fails too.
	t.Cleanup(emu.Close)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &org{t: t, emu: emu, url: srv.URL, token: emu.Token()}
}

// response is what a test looks at: status, headers and the body as text.
type response struct {
	status int
	header http.Header
	body   string
}

// do sends one request to the API (path relative to /services/data/v62.0)
// with the org's token.
func (o *org) do(method, path, contentType, body string) response {
	o.t.Helper()
	return o.send(method, o.url+"/services/data/v62.0"+path, contentType, body, nil)
}

func (o *org) send(method, url, contentType, body string, header http.Header) response {
	o.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		o.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+o.token)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		o.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// json decodes the response body into a map.
func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// wantError checks a Salesforce error answer: the status and the
// [{"errorCode","message"}] body.
func (r response) wantError(t *testing.T, status int, code string, messagePart string) {
	t.Helper()
	var errs []struct {
		ErrorCode string `json:"errorCode"`
		Message   string `json:"message"`
	}
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), &errs); err != nil || len(errs) != 1 {
		t.Fatalf("error body is not a one-element JSON array: %s", r.body)
	}
	if errs[0].ErrorCode != code || !strings.Contains(errs[0].Message, messagePart) {
		t.Fatalf("error %s %q, want %s containing %q", errs[0].ErrorCode, errs[0].Message, code, messagePart)
	}
}

// createJob creates an ingest job from a JSON body and returns its id.
func (o *org) createJob(body string) string {
	o.t.Helper()
	r := o.do("POST", "/jobs/ingest", "application/json", body)
	if r.status != http.StatusOK {
		o.t.Fatalf("create job: %d %s", r.status, r.body)
	}
	return r.json(o.t)["id"].(string)
}

// load runs an ingest job to its end: create, upload csv, close, wait. It
// returns the job id and its final info.
func (o *org) load(jobJSON, csv string) (string, map[string]any) {
	o.t.Helper()
	id := o.createJob(jobJSON)
	if r := o.do("PUT", "/jobs/ingest/"+id+"/batches", "text/csv", csv); r.status != http.StatusCreated {
		o.t.Fatalf("upload: %d %s", r.status, r.body)
	}
	if r := o.do("PATCH", "/jobs/ingest/"+id, "application/json", `{"state":"UploadComplete"}`); r.status != http.StatusOK {
		o.t.Fatalf("close: %d %s", r.status, r.body)
	}
	return id, o.wait("/jobs/ingest/" + id)
}

// wait polls a job until it is terminal and returns its info.
func (o *org) wait(path string) map[string]any {
	o.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		info := o.do("GET", path, "", "").json(o.t)
		if terminal(info["state"].(string)) {
			return info
		}
		time.Sleep(5 * time.Millisecond)
	}
	o.t.Fatalf("%s did not finish in 20s", path)
	return nil
}

// results returns a result file of an ingest job.
func (o *org) results(id, kind string) string {
	o.t.Helper()
	r := o.do("GET", "/jobs/ingest/"+id+"/"+kind, "", "")
	if r.status != http.StatusOK {
		o.t.Fatalf("%s: %d %s", kind, r.status, r.body)
	}
	return r.body
}

// query runs a query job and returns all its result pages joined (the
// header once).
func (o *org) query(operation, soql string) string {
	o.t.Helper()
	body, _ := json.Marshal(map[string]string{"operation": operation, "query": soql})
	r := o.do("POST", "/jobs/query", "application/json", string(body))
	if r.status != http.StatusOK {
		o.t.Fatalf("create query: %d %s", r.status, r.body)
	}
	id := r.json(o.t)["id"].(string)
	if info := o.wait("/jobs/query/" + id); info["state"] != stateJobComplete {
		o.t.Fatalf("query job ended %v", info)
	}
	var out strings.Builder
	locator := ""
	for pages := 0; ; pages++ {
		path := "/jobs/query/" + id + "/results"
		if locator != "" {
			path += "?locator=" + locator
		}
		page := o.do("GET", path, "", "")
		if page.status != http.StatusOK || page.header.Get("Sforce-NumberOfRecords") == "" {
			o.t.Fatalf("query results: %d %v %s", page.status, page.header, page.body)
		}
		body := page.body
		if pages > 0 { // every page repeats the header row
			_, body, _ = strings.Cut(body, "\n")
		}
		out.WriteString(body)
		if locator = page.header.Get("Sforce-Locator"); locator == "null" {
			return out.String()
		}
	}
}
