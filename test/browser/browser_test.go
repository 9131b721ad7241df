//go:build browser

// Package browser is the end-to-end check of the operator console in a
// real browser: the real `connector run` binary (BULKSTREAM_BIN), against a
// Kafka broker (kfake over TCP) and the Salesforce emulator over HTTP,
// with headless Chromium driven over CDP (chromedp). The overview shows the
// counts, the jobs page lists the jobs, the failures page the error codes,
// and a replay from the dead-letters page gives the replayed records new
// results. A screenshot of each page goes to BROWSER_ARTIFACTS (default
// ./artifacts).
//
//	bash test/browser/run.sh
package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

const token = "browser-token"

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func overview(t *testing.T, base string) (consumed, succeeded, failed int) {
	resp, err := http.Get(base + "/api/overview")
	if err != nil {
		return 0, 0, 0
	}
	defer resp.Body.Close()
	var o struct {
		Stats struct{ Consumed, Succeeded, Failed int }
	}
	json.NewDecoder(resp.Body).Decode(&o)
	return o.Stats.Consumed, o.Stats.Succeeded, o.Stats.Failed
}

func TestConsoleInChromium(t *testing.T) {
	bin := os.Getenv("BULKSTREAM_BIN")
	if bin == "" {
		t.Skip("BULKSTREAM_BIN is not set: run test/browser/run.sh")
	}
	artifacts := os.Getenv("BROWSER_ARTIFACTS")
	if artifacts == "" {
		artifacts = "artifacts"
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "crm.accounts"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	emu := bulkemu.New(bulkemu.Options{ClientID: "bulkstream", ClientSecret: "bulkstream"})
	sf := httptest.NewServer(emu)
	defer sf.Close()
	addr := freeAddr(t)
	base := "http://" + addr
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`kafka:
  brokers: [%s]
  group: browser
salesforce:
  login_url: %s
  auth: {client_id: bulkstream, client_secret: bulkstream}
routes:
  - topics: [crm.accounts]
    format: json
    object: Account
    operation: upsert
    external_id_field: External_Id__c
batch:
  max_age: 200ms
http:
  listen: %s
  console_token: %s
shutdown_grace: 5s
`, cluster.ListenAddrs()[0], sf.URL, addr, token)), 0o600)

	// 200 accounts: every 10th has a number of employees Salesforce
	// refuses (INVALID_FIELD), every 25th does not decode.
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var records []*kgo.Record
	wantFailed := 0
	for i := range 200 {
		v := fmt.Sprintf(`{"External_Id__c":"B-%03d","Name":"Browser %d","NumberOfEmployees":%d}`, i, i, i)
		switch {
		case i%25 == 0:
			v, wantFailed = `{"External_Id__c":`, wantFailed+1
		case i%10 == 0:
			v, wantFailed = fmt.Sprintf(`{"External_Id__c":"B-%03d","Name":"Browser %d","NumberOfEmployees":"many"}`, i, i), wantFailed+1
		}
		records = append(records, &kgo.Record{Topic: "crm.accounts", Key: []byte(fmt.Sprintf("B-%03d", i)), Value: []byte(v),
			Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte(fmt.Sprintf("00-%032x-%016x-01", i, i))}}})
	}
	if err := cl.ProduceSync(context.Background(), records...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	log, err := os.Create(filepath.Join(artifacts, "connector.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(bin, "run", "--config", config)
	cmd.Stdout, cmd.Stderr = io.Discard, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if c, s, f := overview(t, base); c == len(records) && s+f == len(records) {
			if f != wantFailed {
				t.Fatalf("%d failures, want %d", f, wantFailed)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the connector did not publish %d results in 60s (see %s)", len(records), log.Name())
		}
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.NoSandbox, chromedp.WindowSize(1400, 1000))
	if path := os.Getenv("CHROMIUM"); path != "" {
		opts = append(opts, chromedp.ExecPath(path))
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()

	// The first Run starts the browser, with the test's context; the
	// steps are bounded by a timeout of their own.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(artifacts, name+".png"), png, 0o644)
		})
	}
	text := func(sel string) string {
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	// waitText waits until the element's text contains want.
	waitText := func(sel, want string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(document.querySelector(%q)?.textContent || "").includes(%q)`, sel, want),
			chromedp.WithPollingTimeout(30*time.Second))
	}

	// Overview: the counts, and a rate once two polls are in.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), waitText("#consumed", "200"), waitText("#failed", fmt.Sprint(wantFailed)),
		chromedp.Sleep(2500*time.Millisecond), shot("overview")); err != nil {
		t.Fatalf("overview: %v", err)
	}
	if s := text("#published"); !strings.Contains(s, "200") {
		t.Errorf("overview, results published: %q", s)
	}
	if s := text("#lag"); !strings.Contains(s, "crm.accounts") {
		t.Errorf("overview, lag: %q", s)
	}
	if s := text("#inflight"); strings.TrimSuffix(s, "jobs in flight") != "0" { // NaN if the script reads a name the API lacks
		t.Errorf("overview, jobs in flight once every job is done: %q", s)
	}

	// Jobs: JobComplete rows, linked to the org's job page.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/jobs"), waitText("#recent tbody", "JobComplete"), shot("jobs")); err != nil {
		t.Fatalf("jobs: %v", err)
	}
	links, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#recent tbody a")].map(a => a.href)`))
	if err != nil || len(links) == 0 || !strings.HasPrefix(links[0], sf.URL+"/lightning/setup/AsyncApiJobStatus/page?address=%2F750") {
		t.Errorf("job links %v, %v", links, err)
	}

	// Failures: both codes, with examples.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/failures"), waitText("#failures", "INVALID_FIELD"), waitText("#failures", "BULKSTREAM_DECODE"),
		shot("failures")); err != nil {
		t.Fatalf("failures: %v", err)
	}

	// Dead letters: filter INVALID_FIELD, dry run, replay.
	invalid := 0
	for i := range 200 {
		if i%10 == 0 && i%25 != 0 {
			invalid++
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/dead-letters"), waitText("#summary", "records a replay would send"),
		chromedp.SetValue(chromedp.CSS(`input[name=errorCode]`), "INVALID_FIELD"), chromedp.Click(chromedp.CSS(`#filter button`)),
		waitText("#summary", fmt.Sprintf("%d records a replay would send", invalid)),
		chromedp.SetValue(chromedp.CSS(`#token`), token), chromedp.Click(chromedp.CSS(`#dryrun`)),
		waitText("#replaystatus", fmt.Sprintf("%d records would be replayed", invalid)), shot("dead-letters"),
		chromedp.Click(chromedp.CSS(`#run`)), waitText("#replaystatus", "replayed "), shot("dead-letters-replayed")); err != nil {
		t.Fatalf("dead letters: %v", err)
	}
	if s := text("#replaystatus"); !strings.Contains(s, fmt.Sprintf("replayed %d of", invalid)) {
		t.Errorf("replay: %q", s)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/routes"), waitText("#config", "console_token"), shot("routes")); err != nil {
		t.Fatalf("routes: %v", err)
	}
	if s := text("#config"); strings.Contains(s, token) || !strings.Contains(s, "<redacted>") {
		t.Errorf("routes show a secret: %.500s", s)
	}

	// The replayed records have new results, naming their dead-letter copy.
	rd, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("bulkstream.failure"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	replayed := 0
	for deadline := time.Now().Add(10 * time.Second); replayed < invalid && time.Now().Before(deadline); {
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		rd.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			if strings.Contains(string(r.Value), `"replayOf":{"topic":"bulkstream.dlq"`) {
				replayed++
			}
		})
		pcancel()
	}
	if replayed != invalid {
		t.Errorf("%d new results of replayed records, want %d", replayed, invalid)
	}
}
