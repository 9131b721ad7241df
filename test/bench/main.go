//go:build bench

// Command bench measures `connector run` end to end, the way an operator
// would run it: the real binary with a default configuration, against
// `connector kafka` and `connector emulator` (full speed), each its own
// process, on a topic of envelope upserts. Its reference is a raw consume of
// the same topic in the same run: the figure that matters, the ratio of the
// two rates, depends less on the machine than either rate.
//
//	bash test/bench/run.sh
//	BULKSTREAM_BENCH_EVENTS=200000,1000000 BULKSTREAM_BENCH_RUNS=3 bash test/bench/run.sh
//
// BULKSTREAM_BENCH_EVENTS is a comma-separated list of event counts (default
// 200000), BULKSTREAM_BENCH_RUNS the runs of each (default 3).
// BULKSTREAM_BENCH_PROFILE=N also takes an N-second CPU profile of the
// connector from its /debug/pprof/ as soon as it serves, into the run's
// directory as cpu.pprof (which is then kept: it says where);
// BULKSTREAM_BENCH_HEAP=N a heap profile N seconds into the run (heap.pprof).
// BULKSTREAM_BENCH_KEEP=1 keeps the runs' directory (the connector's,
// emulator's and broker's logs: its "job finished" lines time every job).
//
// Each run starts a fresh broker and emulator and produces the events (4
// partitions, about 220 bytes each, each upserting an Account of its own, so
// nothing coalesces). Then it times a franz-go consumer reading the topic
// from its start until it has every record (no group, read_committed, the
// connector's fetch sizes): the raw consume. Then it starts `connector run`
// and times it from the process's start until bulkstream_results_total on
// its /metrics (read every 250 ms; a read costs the connector about a
// millisecond of CPU) reaches the count of events. At that moment it reads
// from /proc the connector's CPU time (utime+stime) and peak RSS (VmHWM),
// and the CPU time the emulator, the broker and the rest of the machine
// spent since the connector started; then it stops the connector (SIGTERM).
//
// The table gives the minimum, median and maximum over the runs of each
// figure; the ratio is taken per run. On a small machine the connector
// shares the CPUs with the emulator and the broker; "other CPU" (busy time
// of the machine that is none of theirs nor this program's, some of it
// their network interrupts) shows when something else was running too.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	topic      = "bench.accounts"
	partitions = 4
	// scrapeEvery is how often the connector's /metrics is read while the
	// end is far, traded against the CPU each scrape costs it. Towards the
	// end the pause is half the time the results still to come take at the
	// pace so far, down to scrapeLeast, so the connector's time is not
	// overstated by up to a pause (a quarter of a second was a tenth of a
	// run of 200,000 events).
	scrapeEvery = 250 * time.Millisecond
	scrapeLeast = 5 * time.Millisecond
	// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
	// and of /proc/stat: 100 on Linux on x86 and arm.
	clockTicks = 100
)

func main() {
	sizes, err := envInts("BULKSTREAM_BENCH_EVENTS", "200000")
	if err != nil {
		fail(err)
	}
	runs, err := envInts("BULKSTREAM_BENCH_RUNS", "3")
	if err != nil || len(runs) != 1 || runs[0] < 1 {
		fail(fmt.Errorf("BULKSTREAM_BENCH_RUNS: want one positive number, got %q", os.Getenv("BULKSTREAM_BENCH_RUNS")))
	}
	dir, err := os.MkdirTemp("", "bulkstream-bench-")
	if err != nil {
		fail(err)
	}
	if os.Getenv("BULKSTREAM_BENCH_KEEP") == "" {
		defer os.RemoveAll(dir)
	}
	bin := filepath.Join(dir, "connector")
	build := exec.Command("go", "build", "-o", bin, "github.com/bulkstream/bulkstream/cmd/connector")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fail(fmt.Errorf("build the connector: %w", err))
	}
	fmt.Printf("%s, %d CPUs, %s; %d run(s) of each size; logs in %s while running (kept with BULKSTREAM_BENCH_KEEP=1)\n", cpuModel(), runtime.NumCPU(), runtime.Version(), runs[0], dir)

	var rows []row
	for _, n := range sizes {
		var samples []sample
		for i := range runs[0] {
			s, err := measure(bin, filepath.Join(dir, fmt.Sprintf("%d-%d", n, i+1)), n)
			if err != nil {
				fail(fmt.Errorf("%d events, run %d: %w", n, i+1, err))
			}
			fmt.Printf("%d events, run %d: %s\n", n, i+1, s)
			samples = append(samples, s)
		}
		rows = append(rows, summarise(n, samples)...)
	}
	fmt.Println()
	printTable(os.Stdout, rows)
}

// envInts reads a comma-separated list of positive numbers from the
// environment variable name, or def when it is unset.
func envInts(name, def string) ([]int, error) {
	s := cmp.Or(os.Getenv(name), def)
	var ns []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: want positive numbers separated by commas, got %q", name, s)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// fail exits at once, leaving the run's directory (its logs and the binary)
// for a look at what went wrong; the processes of the run are ended by then.
func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// sample is what one run measured.
type sample struct {
	events        int
	valueBytes    float64            // mean size of an event's value
	raw           time.Duration      // the raw consume, client created → last record
	kcat          time.Duration      // kcat reading the topic to its end (0: no kcat on PATH)
	connector     time.Duration      // connector started → every event has a result
	firstConsumed time.Duration      // connector started → first event consumed, as of the scrape that saw it (up to scrapeEvery late)
	failures      float64            // failure results (0 expected)
	cpu           float64            // connector CPU seconds (user + system) until the last result
	emulatorCPU   float64            // emulator CPU seconds meanwhile
	brokerCPU     float64            // broker CPU seconds meanwhile
	peakRSS       float64            // connector VmHWM, MiB
	otherCPU      float64            // CPU seconds the rest of the machine spent meanwhile
	rollovers     map[string]float64 // buffers sealed, by reason
}

// scrapePause is how long to wait before the next scrape when done of n
// results are out after elapsed: half the time the rest takes at the pace so
// far, at least scrapeLeast and at most scrapeEvery.
func scrapePause(elapsed time.Duration, done, n float64) time.Duration {
	if done <= 0 {
		return scrapeEvery
	}
	rest := time.Duration(float64(elapsed) * (n - done) / done)
	return min(max(rest/2, scrapeLeast), scrapeEvery)
}

func (s sample) rawRate() float64        { return float64(s.events) / s.raw.Seconds() }
func (s sample) kcatRate() float64       { return float64(s.events) / s.kcat.Seconds() }
func (s sample) connectorRate() float64  { return float64(s.events) / s.connector.Seconds() }
func per100k(sec float64, n int) float64 { return sec / float64(n) * 100_000 }

func (s sample) String() string {
	return fmt.Sprintf("raw consume %v (%.0f events/s); connector %v (%.0f events/s, first event consumed after %v), ratio %.3f; "+
		"connector CPU %.1f s, peak RSS %.0f MiB; emulator CPU %.1f s, broker CPU %.1f s; other CPU %.1f s; %.0f failures; values %.0f B; buffers sealed by %s",
		s.raw.Round(time.Millisecond), s.rawRate(), s.connector.Round(time.Millisecond), s.connectorRate(), s.firstConsumed.Round(10*time.Millisecond),
		s.connectorRate()/s.rawRate(), s.cpu, s.peakRSS, s.emulatorCPU, s.brokerCPU, s.otherCPU, s.failures, s.valueBytes, s.sealed()) + s.kcatString()
}

// kcatString is the kcat reference of the run, or "" without kcat.
func (s sample) kcatString() string {
	if s.kcat == 0 {
		return ""
	}
	return fmt.Sprintf("; kcat %v (%.0f events/s), ratio to kcat %.3f", s.kcat.Round(time.Millisecond), s.kcatRate(), s.connectorRate()/s.kcatRate())
}

// sealed says how many buffers each limit sealed ("age 3, records 6").
func (s sample) sealed() string {
	var parts []string
	for _, reason := range slices.Sorted(maps.Keys(s.rollovers)) {
		parts = append(parts, fmt.Sprintf("%s %.0f", reason, s.rollovers[reason]))
	}
	return cmp.Or(strings.Join(parts, ", "), "none")
}

// measure makes one run of n events in dir: fresh services, produce, the
// raw consume, the connector. Every process it starts is ended when it
// returns.
func measure(bin, dir string, n int) (sample, error) {
	s := sample{events: n}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return s, err
	}
	kafka, broker, err := start(bin, filepath.Join(dir, "kafka.log"), `on ([0-9.:]+)`,
		"kafka", "--addr", "127.0.0.1:0", "--topics", topic, "--partitions", strconv.Itoa(partitions))
	if err != nil {
		return s, err
	}
	defer kill(kafka)
	emulator, sfURL, err := start(bin, filepath.Join(dir, "emulator.log"), `on (http://[0-9.:]+)`,
		"emulator", "--addr", "127.0.0.1:0", "--quiet")
	if err != nil {
		return s, err
	}
	defer kill(emulator)

	if s.valueBytes, err = produce(broker, n); err != nil {
		return s, fmt.Errorf("produce: %w", err)
	}
	if s.raw, err = rawConsume(broker, n); err != nil {
		return s, fmt.Errorf("raw consume: %w", err)
	}
	if s.kcat, err = kcatConsume(broker, n); err != nil {
		return s, fmt.Errorf("kcat: %w", err)
	}

	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, configYAML, broker, sfURL, topic), 0o644); err != nil {
		return s, err
	}
	before, err := readCPU(emulator.Process.Pid, kafka.Process.Pid)
	if err != nil {
		return s, err
	}
	started := time.Now()
	connector, metricsAddr, err := start(bin, filepath.Join(dir, "connector.log"), `serving /metrics.* address=([0-9.:]+)`,
		"run", "--config", config)
	if err != nil {
		return s, err
	}
	exited := make(chan struct{})
	go func() { connector.Wait(); close(exited) }()
	defer func() { connector.Process.Kill(); <-exited }()
	if secs := os.Getenv("BULKSTREAM_BENCH_PROFILE"); secs != "" {
		profiled := make(chan struct{})
		go profile(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%s", metricsAddr, secs), filepath.Join(dir, "cpu.pprof"), profiled)
		defer func() { <-profiled }()
	}
	if secs := os.Getenv("BULKSTREAM_BENCH_HEAP"); secs != "" {
		profiled := make(chan struct{})
		go func() {
			wait, _ := time.ParseDuration(secs + "s")
			select {
			case <-time.After(wait):
				profile(fmt.Sprintf("http://%s/debug/pprof/heap", metricsAddr), filepath.Join(dir, "heap.pprof"), profiled)
			case <-exited:
				close(profiled)
			}
		}()
		defer func() { <-profiled }()
	}

	deadline := time.Now().Add(2*time.Minute + time.Duration(n/1000)*time.Second)
	for {
		m, err := scrape("http://" + metricsAddr + "/metrics")
		if err != nil {
			select {
			case <-exited:
				return s, fmt.Errorf("connector exited; see %s", filepath.Join(dir, "connector.log"))
			default:
				return s, err
			}
		}
		if s.firstConsumed == 0 && m.consumed > 0 {
			s.firstConsumed = time.Since(started)
		}
		if m.results >= float64(n) {
			s.connector = time.Since(started)
			s.failures, s.rollovers = m.failures, m.rollovers
			break
		}
		select {
		case <-exited:
			return s, fmt.Errorf("connector exited with %d of %d results; see %s", int(m.results), n, filepath.Join(dir, "connector.log"))
		case <-time.After(scrapePause(time.Since(started), m.results, float64(n))):
		}
		if time.Now().After(deadline) {
			return s, fmt.Errorf("connector: %d of %d results after %v; see %s", int(m.results), n, time.Since(started).Round(time.Second), filepath.Join(dir, "connector.log"))
		}
	}
	if s.cpu, err = cpuSeconds(connector.Process.Pid); err != nil {
		return s, err
	}
	if s.peakRSS, err = peakRSS(connector.Process.Pid); err != nil {
		return s, err
	}
	after, err := readCPU(emulator.Process.Pid, kafka.Process.Pid)
	if err != nil {
		return s, err
	}
	s.emulatorCPU, s.brokerCPU = after.emulator-before.emulator, after.broker-before.broker
	s.otherCPU = max(0, after.machine-before.machine-s.cpu-s.emulatorCPU-s.brokerCPU-(after.bench-before.bench))

	connector.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		fmt.Fprintf(os.Stderr, "bench: the connector did not exit 60 s after SIGTERM; killed (see %s)\n", filepath.Join(dir, "connector.log"))
	}
	return s, nil
}

// configYAML is the smallest configuration derived from config.example.yaml
// that runs: the broker, the emulator's org and login, one envelope route.
// Everything else (batching, delivery, the journal, results, limits) is the
// default. Its verbs are the broker, the emulator's URL and the topic.
const configYAML = `kafka:
  brokers: [%s]
  group: bulkstream
salesforce:
  login_url: %s
  auth:
    client_id: bulkstream
    client_secret: bulkstream
routes:
  - topics: [%s]
    format: envelope
    object: Account
    operation: upsert
    external_id_field: External_Id__c
http:
  listen: 127.0.0.1:0
`

// envelope is the value of event i: an upsert of an Account of its own.
func envelope(i int) []byte {
	return fmt.Appendf(nil, `{"object":"Account","operation":"upsert","externalIdField":"External_Id__c",`+
		`"fields":{"External_Id__c":"BENCH-%08d","Name":"Bench Account %08d","Industry":"Energy",`+
		`"BillingCity":"Springfield","NumberOfEmployees":%d}}`, i, i, i%5000+1)
}

// produce writes n envelopes, keyed by their external id, and returns the
// mean size of a value.
func produce(broker string, n int) (float64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		bytes int
	)
	for i := range n {
		v := envelope(i)
		bytes += len(v)
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "BENCH-%08d", i), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	return float64(bytes) / float64(n), first
}

// rawConsume reads the topic from its start until it has n records, with
// the connector's isolation level and default fetch sizes
// (kafka.fetch_max_bytes, kafka.fetch_max_partition_bytes), and returns the
// time from creating the client to the last record.
func rawConsume(broker string, n int) (time.Duration, error) {
	started := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(8<<20), kgo.FetchMaxPartitionBytes(256<<10))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	got := 0
	for got < n {
		fetches := cl.PollFetches(ctx)
		if err := fetches.Err0(); err != nil {
			return 0, fmt.Errorf("after %d of %d records: %w", got, n, err)
		}
		got += fetches.NumRecords()
	}
	return time.Since(started), nil
}

// start starts `connector args...` with its stdout and stderr written to
// logPath, and returns the process and what pattern's group finds in the
// first line that matches it (the address it serves on).
func start(bin, logPath, pattern string, args ...string) (*exec.Cmd, string, error) {
	re := regexp.MustCompile(pattern)
	log, err := os.Create(logPath)
	if err != nil {
		return nil, "", err
	}
	r, w, err := os.Pipe()
	if err != nil {
		log.Close()
		return nil, "", err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		log.Close()
		return nil, "", err
	}
	found := make(chan string, 1)
	go func() {
		defer log.Close()
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		matched := false
		for sc.Scan() {
			fmt.Fprintln(log, sc.Text())
			if m := re.FindStringSubmatch(sc.Text()); m != nil && !matched {
				matched = true
				found <- m[1]
			}
		}
		io.Copy(log, r) // after a line too long to scan
		close(found)
	}()
	select {
	case addr, ok := <-found:
		if ok {
			return cmd, addr, nil
		}
	case <-time.After(30 * time.Second):
	}
	kill(cmd)
	return nil, "", fmt.Errorf("connector %s did not say where it serves; see %s", args[0], logPath)
}

// profile saves the profile at url into path, and closes done. A CPU
// profile is cut short (and still saved) when the connector stops first.
func profile(url, path string, done chan<- struct{}) {
	defer close(done)
	resp, err := http.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: profile:", err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err == nil {
		_, err = io.Copy(f, resp.Body)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: profile:", err)
		return
	}
	persistent, _ := filepath.Abs(filepath.Join(os.TempDir(), "bulkstream-bench-"+filepath.Base(filepath.Dir(path))+"-"+filepath.Base(path)))
	if os.Rename(path, persistent) == nil {
		fmt.Fprintf(os.Stderr, "bench: profile of the connector in %s\n", persistent)
	}
}

// kill ends a process at once and reaps it; one already reaped is left be.
func kill(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
}

// metrics are the sums over labels of the connector's counters the run
// follows.
type metrics struct {
	results, failures, consumed float64
	rollovers                   map[string]float64 // buffers sealed, by reason (records, bytes, age, ...)
}

var (
	scrapeClient   = &http.Client{Timeout: 10 * time.Second}
	rolloverReason = regexp.MustCompile(`reason="([^"]*)"`)
)

func scrape(url string) (metrics, error) {
	m := metrics{rollovers: map[string]float64{}}
	resp, err := scrapeClient.Get(url)
	if err != nil {
		return m, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		name, _, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		switch name {
		case "bulkstream_results_total":
			m.results += v
			if strings.Contains(line, `outcome="failure"`) {
				m.failures += v
			}
		case "bulkstream_events_consumed_total":
			m.consumed += v
		case "bulkstream_batch_rollovers_total":
			if r := rolloverReason.FindStringSubmatch(line); r != nil {
				m.rollovers[r[1]] += v
			}
		}
	}
	return m, sc.Err()
}

// cpuSeconds is the user and system time of a process, from fields 14 and
// 15 of /proc/<pid>/stat (counted after the command name, which may hold
// spaces).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	fields := strings.Fields(string(b[i+1:])) // fields[0] is field 3, the state
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return float64(utime+stime) / clockTicks, nil
}

// peakRSS is VmHWM of /proc/<pid>/status in MiB.
func peakRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmHWM", pid)
}

// cpuTimes are CPU seconds at one moment: of the emulator, of the broker,
// of this program, and of the whole machine (the busy time in /proc/stat).
type cpuTimes struct{ emulator, broker, bench, machine float64 }

func readCPU(emulator, broker int) (cpuTimes, error) {
	var t cpuTimes
	var err1, err2, err3, err4 error
	t.emulator, err1 = cpuSeconds(emulator)
	t.broker, err2 = cpuSeconds(broker)
	t.bench, err3 = cpuSeconds(os.Getpid())
	t.machine, err4 = machineBusy()
	return t, errors.Join(err1, err2, err3, err4)
}

// machineBusy is the time all CPUs spent on anything but idling or waiting
// for I/O, from the first line of /proc/stat: user, nice, system, irq,
// softirq and steal (guest time is counted in user).
func machineBusy() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: %q", line)
	}
	var busy int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		busy += v
	}
	return float64(busy) / clockTicks, nil
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return runtime.GOARCH
}

// row is one line of the table: a figure over the runs of one size.
type row struct {
	events, runs     int
	what, format     string
	min, median, max float64
}

func summarise(n int, samples []sample) []row {
	figure := func(what, format string, f func(sample) float64) row {
		v := make([]float64, len(samples))
		for i, s := range samples {
			v[i] = f(s)
		}
		slices.Sort(v)
		median := v[len(v)/2]
		if len(v)%2 == 0 {
			median = (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		return row{events: n, runs: len(samples), what: what, format: format, min: v[0], median: median, max: v[len(v)-1]}
	}
	rows := []row{
		figure("connector, events/s", "%.0f", sample.connectorRate),
		figure("raw consume, events/s", "%.0f", sample.rawRate),
		figure("ratio connector / raw consume", "%.3f", func(s sample) float64 { return s.connectorRate() / s.rawRate() }),
	}
	if !slices.ContainsFunc(samples, func(s sample) bool { return s.kcat == 0 }) {
		rows = append(rows,
			figure("kcat, events/s", "%.0f", sample.kcatRate),
			figure("ratio connector / kcat", "%.3f", func(s sample) float64 { return s.connectorRate() / s.kcatRate() }))
	}
	return append(rows,
		figure("connector CPU s per 100,000 events", "%.2f", func(s sample) float64 { return per100k(s.cpu, s.events) }),
		figure("connector peak RSS, MiB", "%.0f", func(s sample) float64 { return s.peakRSS }),
		figure("emulator CPU s per 100,000 events", "%.2f", func(s sample) float64 { return per100k(s.emulatorCPU, s.events) }),
		figure("broker CPU s per 100,000 events", "%.2f", func(s sample) float64 { return per100k(s.brokerCPU, s.events) }),
		figure("other CPU s on the machine meanwhile", "%.1f", func(s sample) float64 { return s.otherCPU }),
	)
}

// kcatConsume times kcat (librdkafka) reading the topic from its start to
// its end, read_committed, as the reference was measured; 0 when
// kcat is not on PATH (apt-get install kcat).
func kcatConsume(broker string, n int) (time.Duration, error) {
	path, err := exec.LookPath("kcat")
	if err != nil {
		return 0, nil
	}
	started := time.Now()
	out, err := exec.Command(path, "-b", broker, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
		"-X", "isolation.level=read_committed", "-f", "\n").Output()
	took := time.Since(started)
	if err != nil {
		return 0, err
	}
	if got := bytes.Count(out, []byte("\n")); got != n {
		return 0, fmt.Errorf("read %d records, want %d", got, n)
	}
	return took, nil
}

// printTable prints the rows as a Markdown table, ready for the README.
func printTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| events | runs | figure | min | median | max |")
	fmt.Fprintln(w, "|---:|---:|---|---:|---:|---:|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %d | %s | "+r.format+" | "+r.format+" | "+r.format+" |\n", r.events, r.runs, r.what, r.min, r.median, r.max)
	}
}
