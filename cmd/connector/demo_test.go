package main

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// `connector demo` on free ports: every event gets exactly one result, and
// the summary says so, with the failures by error code and where to look.
func TestDemoCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"demo", "--events", "2000", "--kafka-addr", "127.0.0.1:0", "--salesforce-addr", "127.0.0.1:0",
		"--metrics-addr", "127.0.0.1:0", "--quiet"}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	out := stdout.String()
	for _, want := range []string{
		`(?m)^  events in +3,000   crm\.accounts 2,000 · crm\.contacts 1,000$`,
		`(?m)^  results out +3,000   exactly one per event$`,
		`(?m)^    failure +[1-9][0-9]*   bulkstream\.failure \([1-9][0-9]* copies on bulkstream\.dlq\)$`,
		`(?m)^  jobs run +[1-9]`,
		`(?m)^    p99 +[0-9.]+ m?s$`,
		`(?m)^Failures by error code`,
		`(?m)^  BULKSTREAM_DECODE +[0-9]+   decode: .*\n +crm\.accounts \[\d\] at offset \d+, key ACC-\d{6}$`,
		// Contacts of gone Accounts and values of the wrong type (Salesforce
		// codes both INVALID_FIELD); the example is the first of them.
		`(?m)^  INVALID_FIELD +[0-9]+   (Foreign key external ID: ACC-GONE-|Failed to deserialize field at col \d+)`,
		`(?m)^  REQUIRED_FIELD_MISSING +[0-9]+   Required fields are missing: \[Name\]`,
		`(?m)^  Contact +[1-9][0-9,]*   records, [1-9][0-9,]* linked to their Account$`,
		`(?m)^  metrics +http://127\.0\.0\.1:\d+/metrics$`,
		`(?m)^Where it ran \(stopped now; with --keep-running it stays up for other clients\)$`,
		`(?m)^  try +connector demo --keep-running, then kcat -b <its Kafka bootstrap> -C -t bulkstream\.failure -e$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("summary does not match %s:\n%s", want, out)
		}
	}
	if strings.Contains(stderr.String(), "demo:") {
		t.Errorf("--quiet printed progress:\n%s", &stderr)
	}
}

// With --keep-running everything stays up after the summary: an event
// produced by another client gets its result, /metrics and /healthz
// answer, and a stop (SIGINT, here a cancelled context) exits 0.
func TestDemoKeepRunning(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--keep-running", "--events", "200", "--kafka-addr", "127.0.0.1:0",
			"--salesforce-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}, stdout, stderr)
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stdout.String(), "Everything stays up"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no summary after 10s:\n%s\n%s", stdout, stderr)
		}
	}
	bootstrap := regexp.MustCompile(`Kafka bootstrap +(\S+)`).FindStringSubmatch(stdout.String())[1]
	if want := "try              kcat -b " + bootstrap + " -C -t bulkstream.failure -e"; !strings.Contains(stdout.String(), want) {
		t.Errorf("the summary of a demo that stays up does not say %q:\n%s", want, stdout)
	}
	metricsURL := regexp.MustCompile(`metrics +(http://\S+)`).FindStringSubmatch(stdout.String())[1]

	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics("bulkstream.success"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	value := `{"object":"Account","operation":"upsert","externalIdField":"External_Id__c","fields":{"External_Id__c":"LATE-1","Name":"Late"}}`
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "crm.accounts", Key: []byte("LATE-1"), Value: []byte(value)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := waitForKey(t, cl, "LATE-1", 10*time.Second); !strings.Contains(got, `"success":true`) {
		t.Errorf("result of LATE-1: %s", got)
	}
	for path, want := range map[string]string{"/metrics": "bulkstream_results_total", "/healthz": "ok"} {
		if body := get(t, strings.TrimSuffix(metricsURL, "/metrics")+path); !strings.Contains(body, want) {
			t.Errorf("GET %s: %.200s", path, body)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after stop:\n%s", code, stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop within 20s")
	}
}

func waitForKey(t *testing.T, cl *kgo.Client, key string, timeout time.Duration) string {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		var found string
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if string(r.Key) == key {
				found = string(r.Value)
			}
		})
		cancel()
		if found != "" {
			return found
		}
	}
	t.Fatalf("no result for %s within %v", key, timeout)
	return ""
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestDemoCommandLineErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--events", "0"}, "--events must be at least 1"},
		{[]string{"demo", "--timeout", "-1s"}, "--timeout must be positive"},
		{[]string{"demo", "extra"}, `unexpected argument "extra"`},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), c.args, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}

// The stream is the same for the same seed, and its shape is what the
// summary promises: about four events per account, a few percent invalid,
// and contacts that name the given parents.
func TestDemoStream(t *testing.T) {
	gen := func(seed uint64) streamGen { return streamGen{rng: rand.New(rand.NewPCG(seed, 0x5eed))} }
	a, b, c := gen(7), gen(7), gen(8)
	first, again, other := a.accounts(4000), b.accounts(4000), c.accounts(4000)
	same := func(x, y []draft) bool {
		return slices.EqualFunc(x, y, func(p, q draft) bool { return p.key == q.key && bytes.Equal(p.value, q.value) })
	}
	if !same(first, again) || same(first, other) {
		t.Fatal("the stream does not depend on the seed alone")
	}
	keys := map[string]bool{}
	invalid := 0
	for _, d := range first {
		keys[d.key] = true
		if !bytes.HasSuffix(d.value, []byte("}}")) || bytes.Contains(d.value, []byte(`"NumberOfEmployees":"`)) {
			invalid++
		}
	}
	if len(keys) != 1000 || invalid < 20 || invalid > 120 {
		t.Errorf("%d accounts (want 1000), %d invalid events of 4000 (want 1-3%%)", len(keys), invalid)
	}
	contacts := a.contacts(900, []string{"ACC-000001", "ACC-000002"})
	missing := 0
	for _, d := range contacts {
		if bytes.Contains(d.value, []byte(`"Account.External_Id__c":"ACC-GONE-`)) {
			missing++
		} else if bytes.Contains(d.value, []byte(`"Account.External_Id__c"`)) && !bytes.Contains(d.value, []byte(`"Account.External_Id__c":"ACC-00000`)) {
			t.Fatalf("contact names an account it was not given: %s", d.value)
		}
	}
	if missing == 0 || missing > 60 {
		t.Errorf("%d contacts of 900 name a missing account, want about 3%% of the creates", missing)
	}
}
