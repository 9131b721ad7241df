//go:build orgbench

// Package orgbench measures how well `connector run` keeps an org busy:
// the real binary with the product's default configuration (only the
// brokers, the org's URL and credentials, one json route of Account
// inserts, no HTTP listener) against `connector emulator --org-speed` (the
// speed model of bulkemu.OrgSpeed: a one-second queue, five org-wide
// workers, 200 ms per chunk of 200 rows, so at most 5,000 rows/s) and
// `connector kafka`, each its own process. A backlog of events is produced
// first; the figure is the connector's throughput, from its start to the
// last result on the result topics, as a ratio of the model's capacity.
// 1.0 would keep every worker busy from the first second to the last.
//
//	bash test/orgbench/run.sh             (BULKSTREAM_ORGBENCH_EVENTS=n, default 300000)
//
// BULKSTREAM_ORGBENCH_BATCH, a YAML flow mapping such as
// "{max_records: 10000, max_age: 1s}", replaces the default batch section,
// to compare a tuned configuration with the default one.
package orgbench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/test/harness"
)

const topic = "orgbench.accounts"

func BenchmarkOrgCapacity(b *testing.B) {
	events := 300_000
	if s := os.Getenv("BULKSTREAM_ORGBENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("BULKSTREAM_ORGBENCH_EVENTS=%q: want a positive number", s)
		}
		events = n
	}
	dir := b.TempDir()
	bin, err := harness.Build(dir)
	if err != nil {
		b.Fatal(err)
	}
	capacity := bulkemu.OrgSpeed().Capacity()
	var ratios []float64
	for run := 0; b.Loop(); run++ {
		broker := harness.StartKafka(b, bin, "--topics", topic, "--partitions", "4")
		sfURL := harness.StartEmulator(b, bin, "--org-speed")
		harness.Produce(b, broker, harness.Accounts(topic, fmt.Sprintf("run%d", run), events))
		config := filepath.Join(dir, fmt.Sprintf("run%d.yaml", run))
		yaml := fmt.Sprintf(`kafka:
  brokers: [%s]
  group: orgbench%d
salesforce:
  login_url: %s
  auth: {flow: client_credentials, client_id: bulkstream, client_secret: bulkstream}
routes:
  - topics: [%s]
    format: json
    object: Account
    operation: insert
http: {listen: ""}
log: {level: warn}
`, broker, run, sfURL, topic)
		if batch := os.Getenv("BULKSTREAM_ORGBENCH_BATCH"); batch != "" {
			yaml += "batch: " + batch + "\n"
		}
		if err := os.WriteFile(config, []byte(yaml), 0o644); err != nil {
			b.Fatal(err)
		}
		results := harness.Read(b, broker, "bulkstream.success", "bulkstream.failure")
		start, idle0 := time.Now(), machineIdle()
		c := harness.StartConnector(b, bin, config)
		if err := results.WaitResults(events, 20*time.Minute, 0, c); err != nil {
			b.Fatalf("%v\n%s", err, c.Tail(40))
		}
		elapsed := time.Since(start)
		cpu, idle := cpuSeconds(config), machineIdle()-idle0
		for _, r := range results.Results() {
			if !r.Success {
				b.Fatalf("an event failed: %v", r)
			}
		}
		c.Stop(30 * time.Second)
		rate := float64(events) / elapsed.Seconds()
		ratios = append(ratios, rate/capacity)
		b.Logf("run %d: %d events in %v: %.0f events/s, %.2f of the model's %.0f rows/s", run, events, elapsed.Round(100*time.Millisecond), rate, rate/capacity, capacity)
		b.Logf("run %d: %s; the connector used %.0f CPU-s (%.2f cores), the machine's %d CPUs were idle %.0f%% of the time, load average %s (a busy machine starves the connector, and the ratio drops)",
			run, timeline(b, sfURL, start), cpu, cpu/elapsed.Seconds(), runtime.NumCPU(), 100*idle/(elapsed.Seconds()*float64(runtime.NumCPU())), loadAverage())
	}
	var sum float64
	for _, r := range ratios {
		sum += r
	}
	b.ReportMetric(sum/float64(len(ratios)), "capacity-ratio")
	b.ReportMetric(sum/float64(len(ratios))*capacity, "events/s")
}

// timeline says where the time went, from the org's side: when the first
// job was created and the last one finished (job timestamps are whole
// seconds), how many jobs there were and their sizes.
func timeline(b *testing.B, sfURL string, start time.Time) string {
	b.Helper()
	resp, err := http.PostForm(sfURL+"/services/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"bulkstream"}, "client_secret": {"bulkstream"}})
	if err != nil {
		b.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	get := func(path string, v any) {
		req, _ := http.NewRequest("GET", sfURL+"/services/data/v62.0"+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			b.Fatal(err)
		}
	}
	var list struct {
		Records []struct {
			ID string `json:"id"`
		} `json:"records"`
	}
	get("/jobs/ingest", &list)
	const layout = "2006-01-02T15:04:05.000-0700"
	var first, last time.Time
	var sizes []int
	for _, j := range list.Records {
		var info struct {
			Created   string `json:"createdDate"`
			Modstamp  string `json:"systemModstamp"`
			Processed int    `json:"numberRecordsProcessed"`
		}
		get("/jobs/ingest/"+j.ID, &info)
		c, _ := time.Parse(layout, info.Created)
		m, _ := time.Parse(layout, info.Modstamp)
		if first.IsZero() || c.Before(first) {
			first = c
		}
		if m.After(last) {
			last = m
		}
		sizes = append(sizes, info.Processed)
	}
	return fmt.Sprintf("%d jobs of %v rows; first created %.0fs after the start, last finished at %.0fs",
		len(sizes), sizes, first.Sub(start.Truncate(time.Second)).Seconds(), last.Sub(start.Truncate(time.Second)).Seconds())
}

// loadAverage is the machine's load over the last minute, from
// /proc/loadavg, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's and /proc/stat's
// times: 100 on Linux on x86 and arm.
const clockTicks = 100

// cpuSeconds is the CPU time (utime+stime) of the processes whose command
// line holds marker, from /proc; 0 where there is no /proc.
func cpuSeconds(marker string) float64 {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var total float64
	for _, d := range dirs {
		cmd, err := os.ReadFile(d + "/cmdline")
		if err != nil || !strings.Contains(string(cmd), marker) {
			continue
		}
		stat, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name, which may hold spaces: state is
		// [0], utime [11], stime [12].
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 12 {
			u, _ := strconv.ParseFloat(f[11], 64)
			s, _ := strconv.ParseFloat(f[12], 64)
			total += (u + s) / clockTicks
		}
	}
	return total
}

// machineIdle is the idle CPU time of the whole machine in seconds, from
// the first line of /proc/stat (idle and iowait); 0 where there is none.
func machineIdle() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	if len(f) < 6 {
		return 0
	}
	idle, _ := strconv.ParseFloat(f[4], 64)
	iowait, _ := strconv.ParseFloat(f[5], 64)
	return (idle + iowait) / clockTicks
}
