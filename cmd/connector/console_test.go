package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// consoleToken is the http.console_token of the console tests.
const consoleToken = "console-s3cret"

// startConsoleRun runs `connector run` with the console on a free port,
// on 12 accounts of which 3 fail in Salesforce (INVALID_FIELD) and 2 do
// not decode, and waits for their 12 results. It returns the console's
// base URL, the login URL and the brokers.
func startConsoleRun(t *testing.T, token string) (base, sfURL, brokers string) {
	t.Helper()
	var records []*kgo.Record
	for i := range 12 {
		v := fmt.Sprintf(`{"External_Id__c":"C-%d","Name":"Console %d"}`, i, i)
		switch {
		case i%4 == 1:
			v = fmt.Sprintf(`{"External_Id__c":"C-%d","NumberOfEmployees":"many"}`, i)
		case i == 6 || i == 10:
			v = `{"External_Id__c":`
		}
		records = append(records, &kgo.Record{Topic: "crm.accounts", Partition: int32(i % 2), Key: []byte(fmt.Sprint("C-", i)), Value: []byte(v)})
	}
	return startConsoleRunOf(t, token, records)
}

// startConsoleRunOf is startConsoleRun on records of crm.accounts (JSON
// upserts of Account on External_Id__c, 2 partitions).
func startConsoleRunOf(t *testing.T, token string, records []*kgo.Record) (base, sfURL, brokers string) {
	t.Helper()
	brokers = newCluster(t, "crm.accounts")
	_, sfURL = newSalesforce(t, bulkemu.Options{})
	addr := freeAddr(t)
	tokenLine := ""
	if token != "" {
		tokenLine = "\n  console_token: " + token
	}
	path := writeConfig(t, brokers, sfURL, clientCredentials, fmt.Sprintf(`routes:
  - topics: [crm.accounts]
    format: json
    object: Account
    operation: upsert
    external_id_field: External_Id__c
batch:
  max_age: 100ms
http:
  listen: %s%s
shutdown_grace: 5s
`, addr, tokenLine))
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr lockedBuffer
	go func() { done <- run(ctx, []string{"run", "--config", path}, io.Discard, &stderr) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("run: exit %d\n%s", code, stderr.String())
		}
	})
	waitReady(t, addr, 30*time.Second, "with the console", &stderr)
	base = "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var ov struct {
			Stats struct{ Succeeded, Failed int }
		}
		getJSON(t, base+"/api/overview", &ov)
		if ov.Stats.Succeeded+ov.Stats.Failed == len(records) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%+v results after 30s:\n%s", ov.Stats, stderr.String())
		}
	}
	return base, sfURL, brokers
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, body := httpGet(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
}

func postReplay(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/api/replay", strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The console of `connector run`: its pages, and its JSON API on the
// pipeline's jobs, failures, dead letters and configuration; a replay needs
// the token, counts first in a dry run, and gives the replayed records new
// results.
func TestConsoleAPI(t *testing.T) {
	base, sfURL, brokers := startConsoleRun(t, consoleToken)

	for _, page := range []string{"/", "/jobs", "/failures", "/dead-letters", "/routes"} {
		if code, body := httpGet(t, base+page); code != 200 || !strings.Contains(body, `<script src="/static/console.js">`) {
			t.Errorf("%s: %d %.300s", page, code, body)
		}
	}
	if code, body := httpGet(t, base+"/static/console.js"); code != 200 || !strings.Contains(body, "/api/overview") {
		t.Errorf("console.js: %d", code)
	}
	for _, path := range []string{"/nothing-here", "/static/page.html"} {
		if code, _ := httpGet(t, base+path); code != 404 {
			t.Errorf("%s: %d, want 404", path, code)
		}
	}

	var ov struct {
		Stats  struct{ Consumed, Succeeded, Failed int }
		Paused map[string]float64 `json:"paused"`
		Lag    []struct {
			Topic string `json:"topic"`
			Lag   int64  `json:"lag"`
		} `json:"lag"`
		APIRequestsUsed int64  `json:"apiRequestsUsed"`
		APIRequestsMax  int64  `json:"apiRequestsMax"`
		RowsSubmitted   int64  `json:"rowsSubmitted"`
		RecordLimit     int64  `json:"recordLimit"`
		Records24h      *int64 `json:"records24h"`
	}
	getJSON(t, base+"/api/overview", &ov)
	if ov.Stats.Consumed != 12 || ov.Stats.Succeeded != 7 || ov.Stats.Failed != 5 || len(ov.Paused) != 5 || ov.Paused["salesforce_unavailable"] != 0 || len(ov.Lag) != 2 ||
		ov.APIRequestsUsed == 0 || ov.APIRequestsMax == 0 || ov.RowsSubmitted != 10 || ov.RecordLimit != 150_000_000 ||
		ov.Records24h == nil || *ov.Records24h != 10 {
		t.Errorf("overview %+v", ov)
	}

	var jobs struct {
		Recent []struct {
			ID, Object, State string
			Rows              int
			Failed            int
		} `json:"recent"`
		JobPage string `json:"jobPage"`
	}
	getJSON(t, base+"/api/jobs", &jobs)
	rows, failed := 0, 0
	for _, j := range jobs.Recent {
		rows, failed = rows+j.Rows, failed+j.Failed
		if j.ID == "" || j.Object != "Account" || j.State != "JobComplete" {
			t.Errorf("job %+v", j)
		}
	}
	if rows != 10 || failed != 3 || jobs.JobPage != sfURL+"/lightning/setup/AsyncApiJobStatus/page?address=%2F{id}" {
		t.Errorf("jobs: %d rows, %d failed, page %q: %+v", rows, failed, jobs.JobPage, jobs.Recent)
	}

	var fl struct {
		Failures []struct {
			Code      string  `json:"code"`
			Count     int     `json:"count"`
			PerMinute []int64 `json:"perMinute"`
			Examples  []struct {
				Key    string `json:"key"`
				Source struct{ Topic string }
			} `json:"examples"`
		} `json:"failures"`
	}
	getJSON(t, base+"/api/failures", &fl)
	codes := map[string]int{}
	for _, f := range fl.Failures {
		codes[f.Code] = f.Count
		if len(f.PerMinute) != 60 || f.PerMinute[59]+f.PerMinute[58] != int64(f.Count) || len(f.Examples) == 0 || f.Examples[0].Key == "" || f.Examples[0].Source.Topic != "crm.accounts" {
			t.Errorf("failure %+v", f)
		}
	}
	if codes["INVALID_FIELD"] != 3 || codes["BULKSTREAM_DECODE"] != 2 {
		t.Errorf("failures by code %v", codes)
	}

	// The dead letters, with replay's filters.
	var dl struct {
		Kept       int            `json:"kept"`
		PassedOver map[string]int `json:"passedOver"`
		Records    []struct {
			ErrorCode string `json:"errorCode"`
			Object    string `json:"object"`
			Headers   []struct{ Key, Value string }
		} `json:"records"`
	}
	for deadline := time.Now().Add(10 * time.Second); dl.Kept != 3 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		getJSON(t, base+"/api/dead-letters?error-code=INVALID_FIELD", &dl)
	}
	if dl.Kept != 3 || len(dl.Records) != 3 || dl.PassedOver["--error-code INVALID_FIELD"] != 2 || dl.Records[0].Object != "Account" || len(dl.Records[0].Headers) < 12 {
		t.Errorf("dead letters of INVALID_FIELD: %+v", dl)
	}
	if code, body := httpGet(t, base+"/api/dead-letters?since=yesterday"); code != 400 || !strings.Contains(body, "--since") {
		t.Errorf("a bad filter: %d %s", code, body)
	}

	// The configuration, secrets masked.
	code, body := httpGet(t, base+"/api/routes")
	if code != 200 || strings.Contains(body, consoleToken) || !strings.Contains(body, `"client_secret":"\u003credacted\u003e"`) || !strings.Contains(body, `"external_id_field":"External_Id__c"`) {
		t.Errorf("/api/routes: %d %s", code, body)
	}

	// A replay: the token, a dry run, then the replay.
	filter := `{"errorCode":"INVALID_FIELD","dryRun":true}`
	if code, body := postReplay(t, base, "", filter); code != 401 {
		t.Errorf("a replay without the token: %d %s", code, body)
	}
	if code, body := postReplay(t, base, "not-the-token", filter); code != 401 {
		t.Errorf("a replay with another token: %d %s", code, body)
	}
	// A bad request replays nothing (the replay below reads all 5).
	for body, want := range map[string]string{`{"error_code":"INVALID_FIELD"}`: "unknown field", `{"since":"yesterday"}`: "--since", `{"limit":-1}`: "negative"} {
		if code, got := postReplay(t, base, consoleToken, body); code != 400 || !strings.Contains(got, want) {
			t.Errorf("replay %s: %d %s, want 400 with %q", body, code, got, want)
		}
	}
	if code, body := postReplay(t, base, consoleToken, filter); code != 200 || body != `{"dryRun":true,"kept":3,"passedOver":{"--error-code INVALID_FIELD":2}}`+"\n" {
		t.Errorf("dry run: %d %s", code, body)
	}
	code, body = postReplay(t, base, consoleToken, `{"errorCode":"INVALID_FIELD"}`)
	if code != 200 || !strings.Contains(body, `"replay":{"read":5,"succeeded":0,"failed":3}`) {
		t.Fatalf("replay: %d %s", code, body)
	}
	// Each replayed record has a new result, naming its dead-letter copy.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics("bulkstream.failure"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	replayed := 0
	for deadline := time.Now().Add(10 * time.Second); replayed < 3 && time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if strings.Contains(string(r.Value), `"replayOf":{"topic":"bulkstream.dlq"`) {
				replayed++
			}
		})
		cancel()
	}
	if replayed != 3 {
		t.Errorf("%d results of replayed records, want 3", replayed)
	}
}

// Without http.console_token the console reads, and refuses replays.
func TestConsoleWithoutToken(t *testing.T) {
	base, _, _ := startConsoleRun(t, "")
	if code, body := postReplay(t, base, "anything", `{"dryRun":true}`); code != 403 || !strings.Contains(body, "http.console_token") {
		t.Errorf("a replay without a configured token: %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/dead-letters"); code != 200 || !strings.Contains(body, "Replays from the console are off") {
		t.Errorf("/dead-letters: %d %.300s", code, body)
	}
}

// A value shown on the dead-letters page is cut at 4 KiB, not inside a
// character; a binary value keeps its 4 KiB.
func TestConsoleValueCut(t *testing.T) {
	text := strings.Repeat("a", browseValue-1) + "é" + "tail"
	binary := make([]byte, 2*browseValue)
	for i := range binary {
		binary[i] = byte(0x80 + i%64) // continuation bytes: never valid UTF-8
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want int
	}{
		{"short", []byte("é"), 2},
		{"text cut inside é", []byte(text), browseValue - 1},
		{"text cut after é", []byte("é" + text), browseValue},
		{"binary", binary, browseValue},
	} {
		if got := cutValue(tc.in, browseValue); len(got) != tc.want || !bytes.HasPrefix(tc.in, got) {
			t.Errorf("%s: %d bytes, want %d", tc.name, len(got), tc.want)
		}
	}
}

// A request in flight when the run ends (a console replay) sees its
// context end with the run's, and stop waits for it: its caller gets its
// answer, and nothing it does outlives run.
func TestServeHTTPAnswersRequestsInFlightBeforeStopping(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started, answered := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()               // as a replay's pipeline sees the run end
		time.Sleep(200 * time.Millisecond) // and finishes its jobs
		io.WriteString(w, "replayed")
		close(answered)
	})
	addr := freeAddr(t)
	stop, err := serveHTTP(ctx, addr, prometheus.NewRegistry(), slow, slow, 5*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		resp, err := http.Post("http://"+addr+"/api/replay", "application/json", strings.NewReader("{}"))
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-started
	cancel()
	stop()
	select {
	case <-answered:
	default:
		t.Error("stop returned before the request in flight was answered")
	}
	if body := <-got; body != "replayed" {
		t.Errorf("the request in flight got %q, want its answer", body)
	}
}
