//go:build crash

// Package crash is the crash test of Bulkstream's delivery: the real
// `connector run` binary, against `connector kafka` and `connector
// emulator` running as their own processes, is killed with SIGKILL again
// and again (at random moments, and at failpoints before the upload, before
// and after closing a job, before reading results, before and after
// publishing), restarted each time, on an insert route (no external id to
// make duplicates harmless). At the end every source record exists in the
// org exactly once, every event has exactly one result on the result
// topics read with read_committed, and the group's offsets are at the end.
//
//	go test -tags crash -v ./test/crash/          (BULKSTREAM_CRASH_KILLS=n, default 25)
package crash

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/oauth2"

	"github.com/bulkstream/bulkstream/pkg/bulk"
)

const (
	events = 3000
	group  = "crash"
	topic  = "crm.accounts"
)

func TestCrashLoop(t *testing.T) {
	kills := 25
	if s := os.Getenv("BULKSTREAM_CRASH_KILLS"); s != "" {
		kills, _ = strconv.Atoi(s)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "connector")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/connector")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	broker := startService(t, bin, `on ([0-9.:]+)`, "kafka", "--addr", "127.0.0.1:0", "--topics", topic, "--partitions", "3")
	sfURL := startService(t, bin, `on (http://[0-9.:]+)`, "emulator", "--addr", "127.0.0.1:0", "--quiet", "--rows-per-second", "3000")

	produce(t, broker)
	config := filepath.Join(dir, "config.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`kafka:
  brokers: [%s]
  group: %s
  instance_id: crash-0
  session_timeout: 6s
salesforce:
  login_url: %s
  auth: {flow: client_credentials, client_id: bulkstream, client_secret: bulkstream}
  poll_interval: 50ms
  poll_max_interval: 500ms
routes:
  - topics: [%s]
    format: json
    object: Account
    operation: insert
batch: {max_records: 150, max_age: 150ms, max_jobs_in_flight: 4}
retry: {backoff: 100ms, max_backoff: 1s}
delivery: exactly_once
http: {listen: ""}
log: {level: warn}
shutdown_grace: 10s
`, broker, group, sfURL, topic)), 0o644)

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	failpoints := "before-upload=0.03,before-close=0.03,after-close=0.03,before-results=0.03,before-publish=0.03,after-publish=0.03"
	survived := 0
	for survived < kills {
		cmd := connector(bin, config, failpoints)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited: // a failpoint fired, or the run ended
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				survived++
				continue
			}
			t.Fatalf("connector exited on its own: %v", err)
		case <-time.After(time.Duration(200+rng.IntN(1800)) * time.Millisecond):
			cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			survived++
		}
	}

	// A last run without knives, to the end of the stream.
	cmd := connector(bin, config, "")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	results := waitForResults(t, broker, 120*time.Second)
	waitForCommits(t, broker, 60*time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the last run did not stop cleanly: %v", err)
	}

	dupResults := 0
	for src, n := range results {
		if n != 1 {
			dupResults++
			t.Errorf("%s has %d results", src, n)
		}
	}
	names := orgNames(t, sfURL)
	missing, dups := 0, 0
	for i := 0; i < events; i++ {
		switch n := names[fmt.Sprintf("CR-%d", i)]; {
		case n == 0:
			missing++
		case n > 1:
			dups++
		}
	}
	if missing > 0 || dups > 0 || len(results) != events {
		t.Fatalf("after %d kills: %d records missing, %d duplicated in the org; %d of %d events with results", survived, missing, dups, len(results), events)
	}
	fmt.Printf("crash test: survived %d kills (SIGKILL); %d events, each in the org once, each with one result; offsets at the end\n", survived, events)
}

// startService starts `connector <args>` and returns what its first line
// says its address is; the process ends with the test.
func startService(t *testing.T, bin, pattern string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: %v", args[0], err)
	}
	go io.Copy(io.Discard, out)
	m := regexp.MustCompile(pattern).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("%s said %q", args[0], line)
	}
	return m[1]
}

func connector(bin, config, failpoints string) *exec.Cmd {
	cmd := exec.Command(bin, "run", "--config", config)
	cmd.Env = append(os.Environ(), "BULKSTREAM_FAILPOINTS="+failpoints)
	cmd.Stderr = os.Stderr
	return cmd
}

func produce(t *testing.T, broker string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	records := make([]*kgo.Record, events)
	for i := range records {
		records[i] = &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: []byte(fmt.Sprintf(`{"Name":"CR-%d","NumberOfEmployees":%d}`, i, i))}
	}
	if err := cl.ProduceSync(context.Background(), records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// waitForResults reads the result topics with read_committed until every
// event has a result, and returns how many results each has.
func waitForResults(t *testing.T, broker string, timeout time.Duration) map[string]int {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("bulkstream.success", "bulkstream.failure"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	counts := map[string]int{}
	deadline := time.Now().Add(timeout)
	for len(counts) < events && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var res struct {
				Success bool            `json:"success"`
				Error   string          `json:"error"`
				Source  json.RawMessage `json:"source"`
			}
			json.Unmarshal(r.Value, &res)
			if !res.Success {
				t.Errorf("failure result: %s", r.Value)
			}
			counts[string(res.Source)]++
		})
		cancel()
	}
	// Read a little longer: a duplicate would arrive now.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
		var res struct {
			Source json.RawMessage `json:"source"`
		}
		json.Unmarshal(r.Value, &res)
		counts[string(res.Source)]++
	})
	cancel()
	if len(counts) < events {
		t.Fatalf("%d of %d events have results after %v", len(counts), events, timeout)
	}
	return counts
}

func waitForCommits(t *testing.T, broker string, timeout time.Duration) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for deadline := time.Now().Add(timeout); ; time.Sleep(200 * time.Millisecond) {
		lag, err := adm.Lag(context.Background(), group)
		if err == nil {
			total := int64(0)
			lag.Each(func(l kadm.DescribedGroupLag) { total += l.Lag.Total() })
			if total == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("group lag still %d", total)
			}
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
}

// orgNames counts the Accounts by Name, with a Bulk API query job.
func orgNames(t *testing.T, sfURL string) map[string]int {
	ctx := context.Background()
	tokens, instance, err := bulk.ClientCredentials(ctx, sfURL, "bulkstream", "bulkstream")
	if err != nil {
		t.Fatal(err)
	}
	sf, err := bulk.New(instance, oauth2.TokenSource(tokens))
	if err != nil {
		t.Fatal(err)
	}
	job, err := sf.CreateQueryJob(ctx, bulk.QueryJobSpec{Query: "SELECT Name FROM Account"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := sf.WaitQueryJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := sf.QueryResults(ctx, info, bulk.QueryResultsOptions{MaxRecords: 50000})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for {
		row, err := rows.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[strings.TrimSpace(row.Values[0])]++
	}
	return names
}
