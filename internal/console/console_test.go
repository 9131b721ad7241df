package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulkstream/bulkstream/internal/config"
	"github.com/bulkstream/bulkstream/internal/pipeline"
)

// A replay is refused with 403 while no token is configured, and with 401
// without the configured one, before anything is read or written (the
// console here has no dead-letter topic at all).
func TestConsoleReplayNeedsTheToken(t *testing.T) {
	for _, tc := range []struct {
		configured, sent string
		code             int
	}{
		{"", "", http.StatusForbidden},
		{"", "x", http.StatusForbidden},
		{"tok", "", http.StatusUnauthorized},
		{"tok", "tok2", http.StatusUnauthorized},
		{"tok", "to", http.StatusUnauthorized},
		{"tok", "tok", http.StatusNotFound}, // past the check: no dead-letter topic
	} {
		srv := httptest.NewServer(New(Options{Token: tc.configured}))
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/replay", strings.NewReader(`{"dryRun":true}`))
		if tc.sent != "" {
			req.Header.Set("Authorization", "Bearer "+tc.sent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		srv.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("token %q, sent %q: %d, want %d", tc.configured, tc.sent, resp.StatusCode, tc.code)
		}
	}
	srv := httptest.NewServer(New(Options{Token: "tok"}))
	defer srv.Close()
	if resp, err := http.Get(srv.URL + "/api/replay"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/replay: %v %v", resp.StatusCode, err)
	}
}

// observation is a pipeline that always observes the same.
type observation pipeline.Observation

func (o observation) Observe() pipeline.Observation { return pipeline.Observation(o) }

// /api/overview counts the jobs in flight once, as the pipeline does
// (stats.inFlight: jobs that hold a slot, bulkstream_jobs_in_flight), and
// not again under a name of its own that could disagree with it: a job
// waiting out its back-off between rounds is listed on /api/jobs but
// holds no slot.
func TestConsoleOverviewCountsJobsInFlightOnce(t *testing.T) {
	o := observation{Stats: pipeline.Stats{Jobs: 5, InFlight: 1}, InFlight: []pipeline.JobView{{ID: "750a"}, {ID: "750b"}}}
	srv := httptest.NewServer(New(Options{Pipeline: o, Metrics: prometheus.NewRegistry()}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/overview")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ov map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&ov); err != nil {
		t.Fatal(err)
	}
	var stats struct {
		InFlight int64 `json:"inFlight"`
	}
	json.Unmarshal(ov["stats"], &stats)
	var others []string
	for k := range ov {
		if strings.Contains(strings.ToLower(k), "inflight") && k != "inFlightBytes" {
			others = append(others, k)
		}
	}
	if stats.InFlight != 1 || len(others) > 0 {
		t.Errorf("stats.inFlight %d, want 1; other counts of jobs in flight: %v", stats.InFlight, others)
	}
}

// A password written into a URL (https://user:password@host/) is masked
// wherever the configuration has one, on /api/routes (which the /routes
// page shows); the rest of the URL, the user name included, stays.
func TestConsoleMasksPasswordsInURLs(t *testing.T) {
	cfg := config.Default()
	cfg.Salesforce.LoginURL = "https://integration:login-secret@acme.my.salesforce.com"
	cfg.SchemaRegistry.URL = "http://registry:p%40ss-secret@127.0.0.1:8081/ccompat?x=1"
	cfg.Kafka.SASL.OAuth.TokenURL = "https://bulkstream:idp-secret@idp.example.com/oauth2/token"
	cfg.Kafka.Brokers = []string{"127.0.0.1:9092", "sasl_ssl://kafka:broker-secret@b-1.example.com:9096"}
	cfg.Salesforce.InstanceURL = "https://only-a-user@acme.my.salesforce.com" // no password: as it is
	srv := httptest.NewServer(New(Options{Config: cfg}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/routes")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Kafka struct {
			Brokers []string `json:"brokers"`
			SASL    struct {
				OAuth struct {
					TokenURL string `json:"token_url"`
				} `json:"oauth"`
			} `json:"sasl"`
		} `json:"kafka"`
		Salesforce struct {
			LoginURL    string `json:"login_url"`
			InstanceURL string `json:"instance_url"`
		} `json:"salesforce"`
		SchemaRegistry struct {
			URL string `json:"url"`
		} `json:"schema_registry"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, want string }{
		{got.Salesforce.LoginURL, "https://integration:<redacted>@acme.my.salesforce.com"},
		{got.SchemaRegistry.URL, "http://registry:<redacted>@127.0.0.1:8081/ccompat?x=1"},
		{got.Kafka.SASL.OAuth.TokenURL, "https://bulkstream:<redacted>@idp.example.com/oauth2/token"},
		{strings.Join(got.Kafka.Brokers, ","), "127.0.0.1:9092,sasl_ssl://kafka:<redacted>@b-1.example.com:9096"},
		{got.Salesforce.InstanceURL, "https://only-a-user@acme.my.salesforce.com"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// The configuration is shown with its YAML names, every secret masked,
// and durations and sizes as the file writes them.
func TestConsoleMasksSecrets(t *testing.T) {
	cfg := config.Default()
	cfg.Salesforce.Auth.ClientSecret = "sf-secret"
	cfg.HTTP.ConsoleToken = "tok-secret"
	cfg.Batch.MaxAge = 5 * time.Second
	b, err := json.Marshal(masked(cfg))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.Contains(s, "sf-secret") || strings.Contains(s, "tok-secret") || !strings.Contains(s, `"client_secret":"\u003credacted\u003e"`) ||
		!strings.Contains(s, `"console_token":"\u003credacted\u003e"`) || !strings.Contains(s, `"max_age":"5s"`) || !strings.Contains(s, `"memory_budget":"64MiB"`) {
		t.Errorf("masked configuration: %s", s)
	}
}

// deadLetters is a dead-letter topic as the console's handlers see it: it
// records the filters of the replays asked of it, and holds each replay
// until release is closed.
type deadLetters struct {
	replays chan Filter
	release chan struct{}
}

func (d *deadLetters) Browse(ctx context.Context, f Filter, max int) (*Browse, error) {
	return &Browse{Records: []DeadLetter{}, PassedOver: map[string]int{}}, nil
}

func (d *deadLetters) Replay(ctx context.Context, f Filter) (*ReplaySummary, error) {
	d.replays <- f
	<-d.release
	return &ReplaySummary{Read: 1, Succeeded: 1}, nil
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/api/replay", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A body that is not a replay request is refused with 400 and a message,
// and replays nothing: a misspelt filter key (which would otherwise leave
// the filter empty and replay every record), a negative limit, bad JSON,
// more after the request's object.
func TestConsoleReplayRefusesBadRequests(t *testing.T) {
	dl := &deadLetters{replays: make(chan Filter, 10), release: make(chan struct{})}
	close(dl.release)
	srv := httptest.NewServer(New(Options{Token: "tok", DeadLetters: dl}))
	defer srv.Close()
	for body, want := range map[string]string{
		`{"error_code":"INVALID_FIELD"}`: `unknown field \"error_code\"`,
		`{"limit":-1}`:                   "limit must not be negative",
		`{"errorCode":`:                  "not a replay request",
		`["INVALID_FIELD"]`:              "not a replay request",
		`{"limit":1} {"limit":2}`:        "more follows its JSON object",
		`{"dryRun":false}}`:              "more follows its JSON object",
		``:                               "the body is empty",
		`null`:                           "a JSON object is wanted",
		`"INVALID_FIELD"`:                "a JSON object is wanted",
		`{"errorCode":null}`:             "errorCode is null",
	} {
		if code, got := post(t, srv.URL, body); code != http.StatusBadRequest || !strings.Contains(got, want) {
			t.Errorf("%s: %d %s, want 400 with %q", body, code, got, want)
		}
	}
	select {
	case f := <-dl.replays:
		t.Errorf("a bad request replayed with %+v", f)
	default:
	}
	if code, got := post(t, srv.URL, `{"errorCode":"INVALID_FIELD","limit":2}`); code != http.StatusOK || (<-dl.replays != Filter{ErrorCode: "INVALID_FIELD", Limit: 2}) {
		t.Errorf("a good request: %d %s", code, got)
	}
}

// Replays run one at a time: another one asked for while one runs is
// refused with 409, and a dry run still answers.
func TestConsoleReplayOneAtATime(t *testing.T) {
	dl := &deadLetters{replays: make(chan Filter, 1), release: make(chan struct{})}
	srv := httptest.NewServer(New(Options{Token: "tok", DeadLetters: dl}))
	defer srv.Close()
	first := make(chan int, 1)
	go func() {
		code, _ := post(t, srv.URL, `{}`)
		first <- code
	}()
	<-dl.replays // the first replay runs
	if code, body := post(t, srv.URL, `{"errorCode":"X"}`); code != http.StatusConflict || !strings.Contains(body, "a replay is running") {
		t.Errorf("a second replay: %d %s", code, body)
	}
	if code, body := post(t, srv.URL, `{"dryRun":true}`); code != http.StatusOK {
		t.Errorf("a dry run while a replay runs: %d %s", code, body)
	}
	close(dl.release)
	if code := <-first; code != http.StatusOK {
		t.Errorf("the first replay: %d", code)
	}
	go func() { <-dl.replays }()
	if code, body := post(t, srv.URL, `{}`); code != http.StatusOK {
		t.Errorf("a replay after the first: %d %s", code, body)
	}
}
