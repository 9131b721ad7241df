package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// `connector run` with a config file: logs in with client credentials,
// consumes, publishes results, serves /metrics and /readyz, and stops
// cleanly on cancel.
func TestRunCommand(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "crm.accounts"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	emu := bulkemu.New(bulkemu.Options{ClientID: "app", ClientSecret: "s3cret"})
	sf := httptest.NewServer(emu)
	defer sf.Close()
	httpAddr := freeAddr(t)
	cfg := fmt.Sprintf(`kafka:
  brokers: [%s]
  group: run-test
salesforce:
  login_url: %s
  auth:
    flow: client_credentials
    client_id: app
    client_secret: ${TEST_SF_SECRET}
routes:
  - topics: [crm.accounts]
    format: json
    object: Account
    operation: upsert
    external_id_field: External_Id__c
batch:
  max_age: 100ms
http:
  listen: %s
shutdown_grace: 5s
`, cluster.ListenAddrs()[0], sf.URL, httpAddr)
	path := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
	t.Setenv("TEST_SF_SECRET", "s3cret")

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("bulkstream.success", "bulkstream.failure"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < 20; i++ {
		v := fmt.Sprintf(`{"External_Id__c":"R-%d","Name":"Run %d"}`, i, i)
		if i == 7 {
			v = `{"External_Id__c":"R-7"}` // no Name: REQUIRED_FIELD_MISSING
		}
		cl.Produce(context.Background(), &kgo.Record{Topic: "crm.accounts", Value: []byte(v)}, nil)
	}
	cl.Flush(context.Background())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr lockedBuffer
	go func() { done <- run(ctx, []string{"run", "--config", path}, io.Discard, &stderr) }()

	results := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(results) < 20 && time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) { results[r.Topic+" "+string(r.Value)] = true })
		pcancel()
	}
	if len(results) != 20 {
		t.Fatalf("%d results of 20; log:\n%s", len(results), stderr.String())
	}
	failed := 0
	for k := range results {
		if strings.HasPrefix(k, "bulkstream.failure") {
			failed++
			if !strings.Contains(k, `"errorCode":"REQUIRED_FIELD_MISSING"`) {
				t.Errorf("failure result %s", k)
			}
		}
	}
	if failed != 1 {
		t.Errorf("%d failures, want 1", failed)
	}
	// The counters move just after the results reach Kafka: give them a
	// moment.
	for path, want := range map[string]string{"/readyz": "ready", "/healthz": "ok", "/metrics": `bulkstream_results_total{object="Account",operation="upsert",outcome="success"} 19`} {
		var (
			status int
			body   []byte
		)
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			resp, err := http.Get("http://" + httpAddr + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if status = resp.StatusCode; status == 200 && strings.Contains(string(body), want) {
				break
			}
		}
		if status != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, no %q in\n%.2000s", path, status, want, body)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; log:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
	if n := len(emu.Records("Account")); n != 19 {
		t.Fatalf("%d accounts in the org, want 19", n)
	}
}

func TestRunCommandRejectsABadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(path, []byte("kafka:\n  brokers: [x:1]\n  group: g\n  grup: typo\n"), 0o644)
	var stderr strings.Builder
	if code := run(context.Background(), []string{"run", "--config", path}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "config.yaml:4: kafka.grup: unknown key") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}
