package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Result topics of the connector's defaults.
const (
	SuccessTopic    = "bulkstream.success"
	FailureTopic    = "bulkstream.failure"
	DeadLetterTopic = "bulkstream.dlq"
)

// Source is where an event was read: its topic, partition and offset.
type Source struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

func (s Source) String() string { return fmt.Sprintf("%s/%d@%d", s.Topic, s.Partition, s.Offset) }

// SourceOf is where a produced record went.
func SourceOf(r *kgo.Record) Source {
	return Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
}

// Result is a result record, as the README's Results section defines it
// (the fields the suites look at).
type Result struct {
	Success   bool   `json:"success"`
	ErrorCode string `json:"errorCode"`
	Error     string `json:"error"`
	JobID     string `json:"jobId"`
	Attempts  int    `json:"attempts"`
	Source    Source `json:"source"`
}

func (r Result) String() string {
	if r.Success {
		return fmt.Sprintf("%s: success (job %s, %d attempts)", r.Source, r.JobID, r.Attempts)
	}
	msg := r.Error
	if len(msg) > 300 {
		msg = msg[:300] + fmt.Sprintf("… (%d bytes)", len(msg))
	}
	return fmt.Sprintf("%s: %s %q (job %s, %d attempts)", r.Source, r.ErrorCode, msg, r.JobID, r.Attempts)
}

// Accounts are n json events for an Account route, keyed by their number,
// whose Names (prefix-0, prefix-1, ...) mark their rows in the org.
func Accounts(topic, prefix string, n int) []*kgo.Record {
	records := make([]*kgo.Record, n)
	for i := range records {
		records[i] = &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)),
			Value: fmt.Appendf(nil, `{"Name":"%s-%d","NumberOfEmployees":%d}`, prefix, i, i)}
	}
	return records
}

// Produce produces the records and waits for them to be written; each then
// holds its partition and offset. opts are added to the producer's.
func Produce(t testing.TB, broker string, records []*kgo.Record, opts ...kgo.Opt) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(broker)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), records...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// Events maps each produced record to the Name in its value, the marker of
// its row in the org.
func Events(t testing.TB, records []*kgo.Record) map[Source]string {
	t.Helper()
	events := make(map[Source]string, len(records))
	for _, r := range records {
		var v struct{ Name string }
		if err := json.Unmarshal(r.Value, &v); err != nil || v.Name == "" {
			t.Fatalf("record %s has no Name: %v", SourceOf(r), err)
		}
		events[SourceOf(r)] = v.Name
	}
	return events
}

// Reader reads topics from their start with read_committed, in the
// background, until Stop or the end of the test. Its goroutine owns the
// client; mu guards what it has read.
type Reader struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	records []*kgo.Record
	results []Result       // the records that are result records
	sources map[Source]int // results per source
}

// Read starts reading topics. A topic may not exist yet (the connector
// creates the result topics on start): it is read once it does.
func Read(t testing.TB, broker string, topics ...string) *Reader {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topics...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.MetadataMinAge(250*time.Millisecond), kgo.MetadataMaxAge(time.Second), kgo.FetchMaxBytes(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Reader{cancel: cancel, done: make(chan struct{}), sources: map[Source]int{}}
	go func() {
		defer close(r.done)
		defer cl.Close()
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(r.add)
		}
	}()
	t.Cleanup(r.Stop)
	return r
}

func (r *Reader) add(rec *kgo.Record) {
	var res Result
	isResult := json.Unmarshal(rec.Value, &res) == nil && res.Source.Topic != ""
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
	if isResult {
		r.results = append(r.results, res)
		r.sources[res.Source]++
	}
}

// Stop stops reading; what was read stays.
func (r *Reader) Stop() {
	r.cancel()
	<-r.done
}

// Records are the records read so far.
func (r *Reader) Records() []*kgo.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*kgo.Record(nil), r.records...)
}

// Results are the result records read so far.
func (r *Reader) Results() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Result(nil), r.results...)
}

// WithResults is how many sources have at least one result.
func (r *Reader) WithResults() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sources)
}

// WaitResults waits until n sources have results, then reads for settle
// more (a duplicate would come now). It gives up after timeout, or once
// every one of running has exited (none given: it never gives up on that).
func (r *Reader) WaitResults(n int, timeout, settle time.Duration, running ...*Connector) error {
	deadline := time.Now().Add(timeout)
	for {
		got := r.WithResults()
		if got >= n {
			time.Sleep(settle)
			return nil
		}
		if len(running) > 0 && exited(running) {
			time.Sleep(settle)
			return fmt.Errorf("%d of %d events have results, and the connector exited (%v)", r.WithResults(), n, running[len(running)-1].Err())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d events have results after %v", got, n, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func exited(cs []*Connector) bool {
	for _, c := range cs {
		select {
		case <-c.Done():
		default:
			return false
		}
	}
	return true
}

// WaitForCommits waits until the group has committed every partition to its
// end, or timeout passes; it returns the lag it last saw when not.
func WaitForCommits(broker, group string, timeout time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for deadline := time.Now().Add(timeout); ; time.Sleep(200 * time.Millisecond) {
		lags, err := adm.Lag(context.Background(), group)
		if err == nil {
			total := int64(0)
			lags.Each(func(l kadm.DescribedGroupLag) { total += l.Lag.Total() })
			if total == 0 {
				return nil
			}
			err = fmt.Errorf("group %s: lag %d after %v", group, total, timeout)
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}
