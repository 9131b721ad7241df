package pipeline

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/pkg/bulk"
)

// What the watch keeps: the last jobs that ended, a few examples of each
// error code, and its counts by minute for the last hour.
const (
	watchedJobs     = 300
	failureExamples = 3
	failureMinutes  = 60
)

// JobView is a Bulk API job as an operator sees it: one attempt of a
// buffer.
type JobView struct {
	ID        string    `json:"id"` // Salesforce's job id
	Object    string    `json:"object"`
	Operation string    `json:"operation"`
	Rows      int       `json:"rows"`    // rows uploaded
	Attempt   int       `json:"attempt"` // the attempt of its rows: 1 for a first job
	State     string    `json:"state"`   // InProgress until it ends, then its final state
	Started   time.Time `json:"started"`
	Ended     time.Time `json:"ended,omitzero"`
	Seconds   float64   `json:"seconds"`         // from creation to its end, or to now
	Failed    int64     `json:"failed"`          // rows Salesforce failed
	Error     string    `json:"error,omitempty"` // why it ended without results
}

// FailureCount counts the failure results of one error code since the
// start, with the latest examples.
type FailureCount struct {
	Code  string    `json:"code"`
	Count int64     `json:"count"`
	Last  time.Time `json:"last"`
	// PerMinute counts them by minute over the last hour, oldest first,
	// the current minute last.
	PerMinute []int64          `json:"perMinute"`
	Examples  []FailureExample `json:"examples"`
}

// failureTally is a FailureCount with its counts by minute: a ring of
// failureMinutes, each with the minute (Unix time / 60) it counts.
type failureTally struct {
	FailureCount
	minute [failureMinutes]int64
	count  [failureMinutes]int64
}

// FailureExample is one failure result.
type FailureExample struct {
	Object    string    `json:"object"`
	Operation string    `json:"operation"`
	Error     string    `json:"error"`
	JobID     string    `json:"jobId"`
	Key       string    `json:"key"`
	Source    Source    `json:"source"`
	At        time.Time `json:"at"`
}

// PartitionLag is how many records of a partition are not consumed yet,
// as of its latest fetch: its last stable offset less the next offset to
// consume.
type PartitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Lag       int64  `json:"lag"`
}

// Observation is a snapshot of what the pipeline does: see
// (*Pipeline).Observe.
type Observation struct {
	At       time.Time      `json:"at"`
	Stats    Stats          `json:"stats"`
	InFlight []JobView      `json:"inFlight"` // oldest first
	Recent   []JobView      `json:"recent"`   // the last jobs that ended, latest first
	Failures []FailureCount `json:"failures"` // most first, then by code
	Lag      []PartitionLag `json:"lag"`      // by topic and partition
}

// watch records jobs, failures and lag for Observe, and logs a line per
// job that ends. Job runners, publishers and the poller write it; any
// goroutine reads it; mu guards it, for a few map and slice operations.
type watch struct {
	p *Pipeline

	mu       sync.Mutex
	running  map[string]*JobView
	recent   []JobView // a ring of watchedJobs; next is where the next goes
	next     int
	failures map[string]*failureTally
	lag      map[topicPartition]watchedLag
}

// watchedLag is a partition's lag, the position it is measured from and
// when it was measured (see refreshLag).
type watchedLag struct {
	position
	at time.Time
}

func newWatch(p *Pipeline) *watch {
	return &watch{p: p, running: map[string]*JobView{}, failures: map[string]*failureTally{}, lag: map[topicPartition]watchedLag{}}
}

// Observe returns what the pipeline does now: the jobs in flight, the last
// that ended, failures by error code and the consumer lag of each
// partition. Safe for concurrent use.
func (p *Pipeline) Observe() Observation {
	w := p.submit.watch
	now := time.Now()
	o := Observation{At: now, Stats: p.Stats()}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, j := range w.running {
		v := *j
		v.Seconds = now.Sub(v.Started).Seconds()
		o.InFlight = append(o.InFlight, v)
	}
	slices.SortFunc(o.InFlight, func(a, b JobView) int { return a.Started.Compare(b.Started) })
	for i := range len(w.recent) {
		o.Recent = append(o.Recent, w.recent[(w.next-1-i+2*len(w.recent))%len(w.recent)])
	}
	for _, f := range w.failures {
		c := f.FailureCount
		c.Examples = slices.Clone(f.Examples)
		c.PerMinute = make([]int64, failureMinutes)
		minute := now.Unix() / 60
		for i := range failureMinutes {
			m := minute - int64(failureMinutes-1-i)
			if f.minute[m%failureMinutes] == m {
				c.PerMinute[i] = f.count[m%failureMinutes]
			}
		}
		o.Failures = append(o.Failures, c)
	}
	// Codes of equal counts by name, so that the console's list does not
	// reorder them at every refresh (map order).
	slices.SortFunc(o.Failures, func(a, b FailureCount) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code)) })
	for tp, l := range w.lag {
		o.Lag = append(o.Lag, PartitionLag{tp.topic, tp.partition, l.lag})
	}
	slices.SortFunc(o.Lag, func(a, b PartitionLag) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return o
}

// started records a job created for b.
func (w *watch) started(jobID string, b *batch.Buffer, attempt int) {
	w.mu.Lock()
	w.running[jobID] = &JobView{ID: jobID, Object: b.Key.Object, Operation: string(b.Key.Operation), Rows: len(b.Rows),
		Attempt: attempt, State: string(bulk.StateInProgress), Started: time.Now()}
	w.mu.Unlock()
}

// finished records that Salesforce says the job ended (info), and logs it.
func (w *watch) finished(b *batch.Buffer, info *bulk.JobInfo, attempt int) {
	w.mu.Lock()
	j := w.running[info.ID]
	if j == nil { // re-attached from the journal
		j = &JobView{ID: info.ID, Object: b.Key.Object, Operation: string(b.Key.Operation), Rows: len(b.Rows), Attempt: attempt, Started: info.CreatedDate}
	}
	j.State, j.Failed = string(info.State), info.NumberRecordsFailed
	w.end(j)
	w.mu.Unlock()
	w.p.log.Info("job finished", "object", j.Object, "operation", j.Operation, "rows", j.Rows, "failures", j.Failed,
		"state", j.State, "job", j.ID, "attempt", j.Attempt, "duration", time.Duration(j.Seconds*float64(time.Second)).Round(time.Millisecond))
}

// The states of a job that the watch saw end without Salesforce's final
// state: the pipeline stopped while it ran (the journal re-attaches to it
// after the restart), or Salesforce no longer knows it.
const (
	StateUnfinished = "Unfinished"
	StateUnknown    = "Unknown"
)

// ended records that an attempt that created job jobID is over with err;
// a job that did not finish (finished) ends here: aborted before its
// close, StateUnfinished or StateUnknown after it.
func (w *watch) ended(jobID string, err error) {
	if jobID == "" || err == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	j := w.running[jobID]
	if j == nil {
		return
	}
	j.State, j.Error = string(bulk.StateAborted), err.Error()
	if errors.Is(err, errStopped) {
		j.State = StateUnfinished
	} else if _, ok := errors.AsType[*closedJobError](err); ok {
		j.State = StateUnknown
	}
	w.end(j)
}

// end moves j from the running jobs to the ring of recent ones; w.mu is
// held.
func (w *watch) end(j *JobView) {
	delete(w.running, j.ID)
	j.Ended = time.Now()
	j.Seconds = j.Ended.Sub(j.Started).Seconds()
	if len(w.recent) < watchedJobs {
		w.recent = append(w.recent, *j)
		w.next = len(w.recent) % watchedJobs
		return
	}
	w.recent[w.next] = *j
	w.next = (w.next + 1) % watchedJobs
}

// failed counts a published failure result.
func (w *watch) failed(o *outcome) {
	r := &o.result
	w.mu.Lock()
	defer w.mu.Unlock()
	f := w.failures[r.ErrorCode]
	if f == nil {
		f = &failureTally{FailureCount: FailureCount{Code: r.ErrorCode}}
		w.failures[r.ErrorCode] = f
	}
	f.Count++
	f.Last = time.Now()
	minute := f.Last.Unix() / 60
	if i := minute % failureMinutes; f.minute[i] != minute {
		f.minute[i], f.count[i] = minute, 0
	}
	f.count[minute%failureMinutes]++
	// The message and the key are cut to 512 bytes: a key may be as large
	// as a record, and the examples stay for as long as the process runs.
	ex := FailureExample{Object: r.Object, Operation: r.Operation, Error: cutMessage(r.Error, 4096), JobID: r.JobID,
		Key: cutMessage(string(o.src.Key), 4096), Source: r.Source, At: f.Last}
	if len(f.Examples) == failureExamples {
		f.Examples = append(f.Examples[:0], f.Examples[1:]...)
	}
	f.Examples = append(f.Examples, ex)
}

// fetched notes each fetched partition's lag (bulkstream_consumer_lag; see
// fetchedPositions).
func (w *watch) fetched(polled map[topicPartition]position) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for tp, at := range polled {
		w.setLag(tp, watchedLag{at, now})
	}
}

// setLag notes a partition's lag, in Observe and in the metric; w.mu held.
func (w *watch) setLag(tp topicPartition, l watchedLag) {
	w.lag[tp] = l
	w.p.opts.Metrics.ConsumerLag.WithLabelValues(tp.topic, strconv.Itoa(int(tp.partition))).Set(float64(l.lag))
}

// lagRefresh is how old a partition's lag may get before refreshLag asks
// the broker for the partition's end.
const lagRefresh = 10 * time.Second

// refreshLag keeps the lag of partitions current while no poll measures it
// (the pipeline is paused, or fetching waits for the memory budget, or the
// partition has had nothing new): every lagRefresh it asks the broker for
// the end (the last stable offset) of partitions whose lag is older than
// that, and measures from the position the last poll left. It returns
// when ctx ends.
func (w *watch) refreshLag(ctx context.Context, cl *kgo.Client) {
	t := time.NewTicker(lagRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			w.refreshOnce(ctx, cl, now)
		}
	}
}

// refreshOnce is one round of refreshLag at now. A failed request is left
// for the next round.
func (w *watch) refreshOnce(ctx context.Context, cl *kgo.Client, now time.Time) {
	stale := map[topicPartition]watchedLag{}
	var topics []string
	w.mu.Lock()
	for tp, l := range w.lag {
		if now.Sub(l.at) >= lagRefresh {
			stale[tp] = l
			if !slices.Contains(topics, tp.topic) {
				topics = append(topics, tp.topic)
			}
		}
	}
	w.mu.Unlock()
	if len(stale) == 0 {
		return
	}
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for tp, l := range stale {
		end, ok := ends.Lookup(tp.topic, tp.partition)
		if cur, mine := w.lag[tp]; !ok || end.Err != nil || !mine || cur != l {
			continue // unknown, or revoked or measured by a poll meanwhile
		}
		l.lag, l.at = max(end.Offset-l.next, 0), now
		w.setLag(tp, l)
	}
}

// assigned logs partitions assigned to this instance.
func (w *watch) assigned(parts map[string][]int32) {
	if len(parts) > 0 {
		w.p.log.Info("partitions assigned", "partitions", parts)
	}
}

// revoked forgets the lag of a partition this instance no longer owns.
func (w *watch) revoked(tp topicPartition) {
	w.p.opts.Metrics.ConsumerLag.DeleteLabelValues(tp.topic, strconv.Itoa(int(tp.partition)))
	w.mu.Lock()
	delete(w.lag, tp)
	w.mu.Unlock()
}
