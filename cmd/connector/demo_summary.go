package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/pipeline"
)

// resultCollector reads the result and dead-letter topics from the start,
// read_committed, as a downstream consumer would, and joins each result to
// its source event by topic, partition and offset. Its goroutine owns the
// Kafka client's polling; the maps are shared with the demo under mu.
type resultCollector struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	bySource map[pipeline.Source][]delivery
	dlq      int                        // dead-letter copies
	next     map[string]map[int32]int64 // topic → partition → next offset to read
	strange  []string                   // records that are not results, or on the wrong topic
}

// delivery is one result record.
type delivery struct {
	result pipeline.Result
	key    string
	at     time.Time // the result record's timestamp: when the pipeline published it
}

func startCollector(bootstrap string) (*resultCollector, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ClientID("bulkstream-demo-results"),
		kgo.ConsumeTopics(demoResults.Success, demoResults.Failure, demoResults.DeadLetter),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &resultCollector{cl: cl, cancel: cancel, done: make(chan struct{}),
		bySource: map[pipeline.Source][]delivery{}, next: map[string]map[int32]int64{}}
	go c.poll(ctx)
	return c, nil
}

func (c *resultCollector) poll(ctx context.Context) {
	defer close(c.done)
	for ctx.Err() == nil {
		fetches := c.cl.PollFetches(ctx)
		c.mu.Lock()
		fetches.EachRecord(c.add)
		c.mu.Unlock()
	}
}

// add files one record; mu is held.
func (c *resultCollector) add(r *kgo.Record) {
	if c.next[r.Topic] == nil {
		c.next[r.Topic] = map[int32]int64{}
	}
	c.next[r.Topic][r.Partition] = r.Offset + 1
	if r.Topic == demoResults.DeadLetter {
		c.dlq++
		return
	}
	var res pipeline.Result
	if err := json.Unmarshal(r.Value, &res); err != nil || res.Success != (r.Topic == demoResults.Success) {
		c.strange = append(c.strange, fmt.Sprintf("%s/%d@%d: %.120s", r.Topic, r.Partition, r.Offset, r.Value))
		return
	}
	c.bySource[res.Source] = append(c.bySource[res.Source], delivery{result: res, key: string(r.Key), at: r.Timestamp})
}

func (c *resultCollector) close() {
	c.cancel()
	<-c.done
	c.cl.Close()
}

// missing counts the events without a result.
func (c *resultCollector) missing(events []produced) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range events {
		if len(c.bySource[e.source]) == 0 {
			n++
		}
	}
	return n
}

// waitFor waits until every event has a result. It gives up at deadline,
// when ctx ends, or when the pipeline stops (errPipelineStopped).
func (c *resultCollector) waitFor(ctx context.Context, events []produced, deadline time.Time, stopped <-chan struct{}) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	for {
		n := c.missing(events)
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stopped:
			return errPipelineStopped
		case <-timeout.C:
			return fmt.Errorf("timed out: %d of %d events have no result", n, len(events))
		case <-tick.C:
		}
	}
}

// drain waits, up to timeout, until the collector has read every record
// that the result topics hold now, so that a second result of an event
// cannot go unseen.
func (c *resultCollector) drain(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ends, err := kadm.NewClient(c.cl).ListEndOffsets(ctx, demoResults.Success, demoResults.Failure, demoResults.DeadLetter)
	if err != nil {
		return err
	}
	if err := ends.Error(); err != nil {
		return err
	}
	for {
		behind := 0
		c.mu.Lock()
		ends.Each(func(o kadm.ListedOffset) {
			if c.next[o.Topic][o.Partition] < o.Offset {
				behind++
			}
		})
		c.mu.Unlock()
		if behind == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d partitions not read to their end: %w", behind, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// demoReport is what the summary says.
type demoReport struct {
	env  *demoEnv
	seed uint64
	// up: everything stays up after the summary (--keep-running), so
	// its addresses can be tried.
	up     bool
	events []produced
	stats  pipeline.Stats

	perTopic            map[string]int
	succeeded, failed   int
	dlq                 int
	missing, duplicated []produced
	strange             []string
	byCode              map[string]*codeFailures
	wall                time.Duration // first produce to last result
	latencies           []time.Duration
	accounts, contacts  int
	linkedContacts      int
}

// codeFailures are the failures of one error code, with the first as an
// example.
type codeFailures struct {
	count   int
	example delivery
}

// newReport joins the produced events with their results.
func newReport(cfg demoConfig, env *demoEnv, events []produced, col *resultCollector, stats pipeline.Stats) *demoReport {
	r := &demoReport{env: env, seed: cfg.seed, up: cfg.keepRunning, events: events, stats: stats, perTopic: map[string]int{}, byCode: map[string]*codeFailures{}}
	col.mu.Lock()
	defer col.mu.Unlock()
	r.dlq, r.strange = col.dlq, col.strange
	var first, last time.Time
	for _, e := range events {
		r.perTopic[e.source.Topic]++
		if first.IsZero() || e.at.Before(first) {
			first = e.at
		}
		ds := col.bySource[e.source]
		switch {
		case len(ds) == 0:
			r.missing = append(r.missing, e)
			continue
		case len(ds) > 1:
			r.duplicated = append(r.duplicated, e)
		}
		d := ds[0]
		r.latencies = append(r.latencies, d.at.Sub(e.at))
		last = later(last, d.at)
		r.count(d)
	}
	if !last.IsZero() {
		r.wall = last.Sub(first)
	}
	slices.Sort(r.latencies)
	r.countRecords()
	return r
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// count adds the first result of an event to the outcome counts.
func (r *demoReport) count(d delivery) {
	if d.result.Success {
		r.succeeded++
		return
	}
	r.failed++
	f := r.byCode[d.result.ErrorCode]
	if f == nil {
		f = &codeFailures{example: d}
		r.byCode[d.result.ErrorCode] = f
	}
	f.count++
}

// countRecords counts the org's Accounts and Contacts.
func (r *demoReport) countRecords() {
	for _, rec := range r.env.emu.Records("Account") {
		if !rec.Deleted {
			r.accounts++
		}
	}
	for _, rec := range r.env.emu.Records("Contact") {
		if rec.Deleted {
			continue
		}
		r.contacts++
		if rec.Fields["AccountId"] != "" {
			r.linkedContacts++
		}
	}
}

// verdict is nil when every event has exactly one result.
func (r *demoReport) verdict() error {
	var problems []string
	if n := len(r.missing); n > 0 {
		problems = append(problems, fmt.Sprintf("%d events have no result (first: %s)", n, where(r.missing[0].source)))
	}
	if n := len(r.duplicated); n > 0 {
		problems = append(problems, fmt.Sprintf("%d events have more than one result (first: %s)", n, where(r.duplicated[0].source)))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

// write prints the summary: aligned plain text, readable at a glance.
func (r *demoReport) write(w io.Writer) {
	results := r.succeeded + r.failed
	fmt.Fprintf(w, "\nBulkstream demo: %s events, seed %d, %s from the first produce to the last result\n\n",
		thousands(len(r.events)), r.seed, r.wall.Round(time.Millisecond))
	row := func(label, value, note string) {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  %-16s %10s   %s", label, value, note), " "))
	}
	var topics []string
	for _, t := range []string{demoAccounts, demoContacts} {
		topics = append(topics, t+" "+thousands(r.perTopic[t]))
	}
	row("events in", thousands(len(r.events)), strings.Join(topics, " · "))
	row("results out", thousands(results), r.exactness())
	row("  success", thousands(r.succeeded), demoResults.Success)
	row("  failure", thousands(r.failed), fmt.Sprintf("%s (%s copies on %s)", demoResults.Failure, thousands(r.dlq), demoResults.DeadLetter))
	row("jobs run", thousands(int(r.stats.Jobs)), "Bulk API 2.0 ingest jobs")
	if r.wall > 0 {
		row("throughput", thousands(int(float64(results)/r.wall.Seconds())), "events/s, first produce to last result")
	}
	if len(r.latencies) > 0 {
		row("latency", "", "result record timestamp − source record timestamp")
		for _, q := range []struct {
			name string
			at   float64
		}{{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"max", 1}} {
			row("  "+q.name, fmtDuration(percentile(r.latencies, q.at)), "")
		}
	}
	r.writeFailures(w)
	fmt.Fprintf(w, "\nSalesforce (the emulator's org)\n")
	row("Account", thousands(r.accounts), "records")
	row("Contact", thousands(r.contacts), fmt.Sprintf("records, %s linked to their Account", thousands(r.linkedContacts)))
	r.writeWhereToLook(w)
}

// exactness says whether every event has exactly one result.
func (r *demoReport) exactness() string {
	var s []string
	if len(r.missing) == 0 && len(r.duplicated) == 0 {
		s = append(s, "exactly one per event")
	}
	if n := len(r.missing); n > 0 {
		s = append(s, fmt.Sprintf("MISSING for %s events", thousands(n)))
	}
	if n := len(r.duplicated); n > 0 {
		s = append(s, fmt.Sprintf("DUPLICATED for %s events", thousands(n)))
	}
	if n := len(r.strange); n > 0 {
		s = append(s, fmt.Sprintf("%d records are not valid results, e.g. %s", n, r.strange[0]))
	}
	return strings.Join(s, "; ")
}

// writeFailures lists the failures by error code, most frequent first,
// each with one example message and its source.
func (r *demoReport) writeFailures(w io.Writer) {
	if len(r.byCode) == 0 {
		return
	}
	codes := make([]string, 0, len(r.byCode))
	width := 0
	for code := range r.byCode {
		codes = append(codes, code)
		width = max(width, len(code))
	}
	slices.SortFunc(codes, func(a, b string) int {
		if d := r.byCode[b].count - r.byCode[a].count; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	fmt.Fprintf(w, "\nFailures by error code, one example each\n")
	for _, code := range codes {
		f := r.byCode[code]
		fmt.Fprintf(w, "  %-*s %7s   %s\n", width, code, thousands(f.count), clip(f.example.result.Error, 90))
		fmt.Fprintf(w, "  %-*s %7s   %s, key %s\n", width, "", "", where(f.example.result.Source), f.example.key)
	}
}

func (r *demoReport) writeWhereToLook(w io.Writer) {
	row := func(label, value string) { fmt.Fprintf(w, "  %-16s %s\n", label, value) }
	if r.up {
		fmt.Fprintf(w, "\nWhere to look\n")
	} else {
		fmt.Fprintf(w, "\nWhere it ran (stopped now; with --keep-running it stays up for other clients)\n")
	}
	row("Kafka bootstrap", r.env.kafka+"   (kfake; any Kafka client, no auth)")
	row("input topics", fmt.Sprintf("%s (envelope), %s (json), %d partitions each", demoAccounts, demoContacts, demoPartitions))
	row("result topics", strings.Join([]string{demoResults.Success, demoResults.Failure, demoResults.DeadLetter}, ", "))
	row("consumer group", demoGroup)
	row("metrics", orNone(r.env.metricsURL))
	row("Salesforce", fmt.Sprintf("%s   client credentials %s / %s", r.env.sfURL, demoClientID, demoClientSecret))
	if r.up {
		row("try", "kcat -b "+r.env.kafka+" -C -t "+demoResults.Failure+" -e")
	} else {
		row("try", "connector demo --keep-running, then kcat -b <its Kafka bootstrap> -C -t "+demoResults.Failure+" -e")
	}
}

// where formats a source position the way kcat prints one.
func where(s pipeline.Source) string {
	return fmt.Sprintf("%s [%d] at offset %d", s.Topic, s.Partition, s.Offset)
}

// percentile returns the nearest-rank q-quantile of sorted (0 < q ≤ 1).
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func fmtDuration(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + " s"
}

// thousands formats n with commas between groups of three digits.
func thousands(n int) string {
	if n < 0 {
		return "-" + thousands(-n)
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// clip shortens s to n runes, marking the cut.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
