package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/internal/metrics"
	"github.com/bulkstream/bulkstream/internal/pacer"
	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// Route sends the records of some topics through a decoder.
type Route struct {
	Topics     []string       // exact topic names
	TopicRegex *regexp.Regexp // or a pattern (matched against the whole name)
	Decoder    event.Decoder
}

// Matches reports whether the route takes the records of topic.
func (r *Route) Matches(topic string) bool {
	for _, t := range r.Topics {
		if t == topic {
			return true
		}
	}
	return r.TopicRegex != nil && r.TopicRegex.MatchString(topic)
}

// DefaultMemoryBudget is Options.MemoryBudget's default: 64 MiB.
const DefaultMemoryBudget = 64 << 20

// Options configure a pipeline.
type Options struct {
	// Kafka is the client configuration (brokers, TLS, SASL). The pipeline
	// adds the consumer group and its own consuming options.
	Kafka []kgo.Opt
	Group string // consumer group id
	// StartOffset is where a partition without a committed offset starts;
	// default the earliest record.
	StartOffset kgo.Offset
	Routes      []Route
	Salesforce  *bulk.Client
	Batch       batch.Policy
	// MaxJobsInFlight bounds the Bulk API jobs running at once. Default 8.
	MaxJobsInFlight int
	// MemoryBudget bounds, in bytes, what the events consumed and not yet
	// published may cost: their keys, values and headers and a fixed
	// amount each for the pipeline's bookkeeping. Fetching stops at the
	// budget and goes on when results free room, so memory follows this
	// setting, not the backlog. Default DefaultMemoryBudget.
	MemoryBudget int64
	Results      Topics
	// MaxRecordBytes bounds the records the pipeline produces, results and
	// dead-letter copies, as recordSize counts them: key, value and
	// headers. Default DefaultMaxRecordBytes (1047564). A dead-letter copy
	// that would be larger has its value cut to fit, or keeps only the
	// reference to its source record (HeaderTruncated says which); error
	// messages are cut at 8 KiB, or an eighth of MaxRecordBytes if that is
	// less. Missing result topics are created with
	// max.message.bytes = MaxRecordBytes+RecordOverhead, and the pipeline's
	// producers batch as much (kgo.ProducerBatchMaxBytes, unless Kafka sets
	// it). A record refused as too large all
	// the same, by the client or by a topic whose max.message.bytes is
	// smaller, is published in its smaller form instead (a dead-letter copy
	// as a reference), with a warning logged once per topic.
	MaxRecordBytes int
	// EncodeResult encodes the value of a result record. Nil (the
	// default): EncodeJSON's bytes, appended into reused arenas (see
	// recordArena); EncodeJSON itself gives the same bytes in a new slice
	// each. An error (a schema registry that cannot be reached) is retried
	// like a failed produce: results are never dropped.
	EncodeResult func(*Result) ([]byte, error)
	// TopicPartitions and ReplicationFactor are used to create missing
	// result topics on start. Defaults 3 and -1 (the broker's default).
	TopicPartitions   int32
	ReplicationFactor int16
	// ShutdownGrace bounds how long Run waits, once its context ends, for
	// jobs in flight to finish and publish. Events of jobs that do not
	// finish in time stay uncommitted, to be read again. Default 30s.
	ShutdownGrace time.Duration
	// MaxAttempts bounds the jobs a row goes through when it fails for a
	// retryable reason (lock contention, left unprocessed, a transient
	// server error), and the attempts of a job Salesforce fails as a whole.
	// Default 5.
	MaxAttempts int
	// RetryBase and RetryMax bound the pause between attempts: it starts
	// at RetryBase and doubles up to RetryMax. Defaults 1s and 1m.
	RetryBase, RetryMax time.Duration
	// ParentWait is how long after its job started a row that failed for
	// a missing parent (INVALID_CROSS_REFERENCE_KEY, or INVALID_FIELD
	// "Foreign key external ID: … not found") is tried again, with the
	// back-off above and whatever its attempts, before that failure is its
	// result: the parent may still be on its way on a topic that lags.
	// Its event's offset stays uncommitted meanwhile. Default 2m;
	// negative: none, such a row fails at once.
	ParentWait time.Duration
	// Described are descriptions of objects already read (by the start-up
	// check), by object name in lower case: the pipeline learns their
	// parent columns from them instead of describing them again. Objects
	// not here are described when first seen.
	Described map[string]*bulk.ObjectDescription
	// IDCacheSize bounds the Salesforce Ids whose record identity (external
	// id) the pipeline remembers, learned from upsert and insert results, to
	// order changes by Id after changes by external id and to resolve
	// deletes by external id without a query. Default 100,000; an entry
	// takes about 170 bytes, about 210 while as many Ids learned wait to be
	// put in (external ids of 20-odd characters; TestIDCacheEntrySize), so
	// the default holds about 21 MB at most.
	IDCacheSize int
	Logger      *slog.Logger
	Metrics     *metrics.Pipeline // required

	// Journal is the compacted topic of the job journal, created on start;
	// "" turns the journal off (at-least-once without re-attaching to
	// running jobs after a crash: inserts may be duplicated).
	Journal string
	// JournalForm is how journal entries write their offsets: compact when
	// that is smaller (journal.Compact, the default) or always as pairs
	// (journal.Pairs), which versions before the compact form read, for
	// a rolling upgrade from such a version or a safe rollback to one.
	JournalForm journal.Form
	// ExactlyOnce publishes each partition's results, dead-letter copies
	// and journal closing entries in one Kafka transaction, by a producer
	// whose transactional id belongs to the partition (which fences a
	// previous owner still alive), so a read_committed consumer sees each
	// outcome once, also across crashes. It needs the journal.
	ExactlyOnce bool

	// Pacer, when set, keeps the pipeline within the org's daily API
	// requests and records: while it says so, fetching and new jobs pause.
	// Feed it the client's usage (bulk.WithLimitObserver). LimitsInterval
	// is how often /limits is read for it; default 1m.
	Pacer          *pacer.Pacer
	LimitsInterval time.Duration

	// Replay, when set, makes the pipeline replay a dead-letter topic (see
	// Replay) instead of reading the routes' topics, which then only
	// choose the decoder; Run returns when the replay is done. Group should
	// be the replay's own.
	Replay *Replay

	// naive turns ordering off: no record identities, so no dependency
	// between buffers or jobs. Only for the comparison test that shows why
	// ordering is needed.
	naive bool
}

// Pipeline consumes change events, runs them through Bulk API 2.0 jobs and
// publishes one result per event. See doc.go for the life of an event.
type Pipeline struct {
	opts   Options
	log    *slog.Logger
	submit *submitter

	// Owned by the main loop (Run's goroutine).
	batcher  *batch.Batcher
	tracker  *tracker
	ready    []*batch.Buffer // sealed, waiting for a job slot, oldest first
	inFlight int             // jobs running (see slots.go)
	napping  int             // job runners between rounds, without a slot
	waking   []chan struct{} // of napping runners that asked for a slot back, first first
	busy     *busyRecords
	arenas   recordArenas // for produce calls, on any goroutine
	// fetchPool recycles fetched records' memory (see poller); nil in a
	// replay, whose filter and carried copies keep dead-letter records.
	fetchPool *fetchPool
	refs      *references
	parked    map[topicPartition][]ahead // partitions waiting for the schema registry (parked.go)
	failed    []outcome                  // of the poll being handled: records that fail (or are skipped) before a job
	ids       *identities
	source    source // routedTopics, or a replay's replayProgress (set by Run)
	behind    lag    // how far the consumer is from the end of each partition

	// What the journal said about assigned partitions; the main loop owns
	// these.
	journaled  map[topicPartition]*journaled
	resumeJobs map[*batch.Buffer]*journal.Entry

	client *kgo.Client
	owned  ownership // the partitions this instance owns
	// tasks are the pipeline's goroutines (poller, job runners,
	// publishers, planners, watchers), started by spawn: Run waits for all
	// of them before it returns, so none outlives it. background is their
	// context; it ends when Run does. closing, under spawnMu, is set once
	// Run waits, when no task may start.
	tasks        sync.WaitGroup
	background   context.Context
	spawnMu      sync.Mutex
	closing      bool
	producers    *producers           // exactly-once result producers
	spent        spentSlices          // closed journal slices, until committed
	done         chan completion      // job and publish goroutines → main loop
	requests     chan request         // group callbacks → main loop
	wake         chan chan struct{}   // napping job runners → main loop: a slot back, please
	described    chan describedObject // describe tasks → main loop
	registryBack chan topicPartition  // registry probes → main loop: a parked partition can go on
	loopEnded    chan struct{}        // closed when the main loop returns
	lanes        lanes                // the publisher stage (publisher.go)

	consuming atomic.Bool // the client is up and the result topics exist
	tooLarge  sync.Map    // topics that refused a record as too large: warned once
	statsMu   sync.Mutex
	stats     Stats
}

// Stats counts what the pipeline did; see (*Pipeline).Stats.
type Stats struct {
	Consumed  int64 `json:"consumed"`  // records consumed
	Succeeded int64 `json:"succeeded"` // success results published, skipped ones included
	Skipped   int64 `json:"skipped"`   // of those, events that needed no write
	Failed    int64 `json:"failed"`    // failure results published
	Jobs      int64 `json:"jobs"`      // buffers run as jobs
	InFlight  int64 `json:"inFlight"`  // jobs running now
}

// completion reports that a buffer's (or a failed decode's) results are
// published, or that they could not be (err).
type completion struct {
	sources []Source
	jobDone bool     // the last of a job: frees its slot and its records
	records []string // the job's record identities, now free
	// napping and waker: the job ended between rounds, without a slot
	// (see jobSlot).
	napping bool
	waker   chan struct{}
	nap     bool // a job runner gives its slot up between rounds
	// learned pairs Salesforce Ids of object with record identities, from
	// successful rows.
	object  string
	learned []learnedID
	deleted []string // Ids of object deleted by successful rows, to forget
	err     error
}

// learnedID is a Salesforce Id and the identity of its record.
type learnedID struct{ id, identity string }

// request is a group callback's errand to the main loop: forget revoked
// partitions, or install the journal's plan for assigned ones. The main
// loop closes ack when done.
type request struct {
	revoke map[string][]int32
	plan   *plan
	ack    chan struct{}
}

// New checks opts and returns a pipeline; Run starts it.
func New(opts Options) (*Pipeline, error) {
	if opts.Group == "" {
		return nil, errors.New("pipeline: a consumer group is required")
	}
	if len(opts.Routes) == 0 {
		return nil, errors.New("pipeline: at least one route is required")
	}
	if opts.Salesforce == nil || opts.Metrics == nil {
		return nil, errors.New("pipeline: a Salesforce client and metrics are required")
	}
	if opts.Results.Success == "" || opts.Results.Failure == "" {
		return nil, errors.New("pipeline: success and failure topics are required")
	}
	if opts.ExactlyOnce && opts.Journal == "" {
		return nil, errors.New("pipeline: exactly-once delivery needs the job journal")
	}
	if opts.MaxJobsInFlight <= 0 {
		opts.MaxJobsInFlight = 8
	}
	if opts.MemoryBudget <= 0 {
		opts.MemoryBudget = DefaultMemoryBudget
	}
	if opts.TopicPartitions <= 0 {
		opts.TopicPartitions = 3
	}
	if opts.ReplicationFactor == 0 {
		opts.ReplicationFactor = -1
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 30 * time.Second
	}
	opts.Results.Connector = cmp.Or(opts.Results.Connector, opts.Group)
	opts.Results.Task = cmp.Or(opts.Results.Task, "0")
	if opts.LimitsInterval <= 0 {
		opts.LimitsInterval = time.Minute
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.IDCacheSize <= 0 {
		opts.IDCacheSize = 100_000
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = time.Minute
	}
	if opts.ParentWait == 0 {
		opts.ParentWait = 2 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = DefaultMaxRecordBytes
	}
	// The producers must batch a record of the limit; options given
	// later win, so a caller's own setting stays.
	opts.Kafka = append([]kgo.Opt{kgo.ProducerBatchMaxBytes(int32(opts.MaxRecordBytes + RecordOverhead))}, opts.Kafka...)
	bt, err := batch.NewBatcher(opts.Batch)
	if err != nil {
		return nil, fmt.Errorf("pipeline: batch policy: %w", err)
	}
	p := &Pipeline{
		opts:    opts,
		log:     opts.Logger,
		batcher: bt,
		tracker: newTracker(),
		busy:    newBusyRecords(),
		arenas:  make(recordArenas, keptArenas),
		ids:     newIdentities(opts.IDCacheSize),
		submit: &submitter{client: opts.Salesforce, log: opts.Logger, metrics: opts.Metrics,
			retryBase: opts.RetryBase, retryMax: opts.RetryMax, maxAttempts: opts.MaxAttempts, stalls: &stalls{}},
		journaled:    map[topicPartition]*journaled{},
		resumeJobs:   map[*batch.Buffer]*journal.Entry{},
		done:         make(chan completion),
		requests:     make(chan request),
		wake:         make(chan chan struct{}),
		described:    make(chan describedObject),
		loopEnded:    make(chan struct{}),
		refs:         newReferences(),
		parked:       map[topicPartition][]ahead{},
		registryBack: make(chan topicPartition),
	}
	p.producers = &producers{p: p, m: map[topicPartition]*txnProducer{}}
	p.spent.m = map[topicPartition][]spentSlice{}
	p.submit.journal = p.journalOpen
	p.submit.journalFits = (&openFit{p: p}).check
	p.submit.pacer = opts.Pacer
	p.submit.owned = &p.owned
	p.submit.watch = newWatch(p)
	return p, nil
}

// Ready reports whether the pipeline is consuming. Safe for concurrent use.
func (p *Pipeline) Ready() bool { return p.consuming.Load() }

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (p *Pipeline) Stats() Stats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	return p.stats
}

func (p *Pipeline) count(f func(*Stats)) {
	p.statsMu.Lock()
	f(&p.stats)
	p.statsMu.Unlock()
}

// Run consumes until ctx ends (or a replay is done), then stops fetching, submits what is
// buffered, waits up to ShutdownGrace for jobs in flight to finish and
// publish, commits, and returns nil. It returns an error only when it cannot
// start or Kafka fails for good.
func (p *Pipeline) Run(ctx context.Context) error {
	background, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	p.background = background
	defer p.awaitTasks(stopBackground)
	p.source = routedTopics{p.opts.Routes}
	if p.opts.Replay != nil {
		rp, err := p.startReplay(ctx)
		if err != nil || rp == nil {
			return err // nil: nothing to replay
		}
		p.source = rp
		var stop context.CancelFunc
		ctx, stop = context.WithCancel(ctx)
		defer stop()
		p.spawn(func() { p.watchReplay(ctx, rp, stop) })
	}
	opts := append([]kgo.Opt{
		kgo.ConsumerGroup(p.opts.Group),
		kgo.ConsumeRegex(),
		kgo.ConsumeTopics(p.source.pattern()),
		kgo.ConsumeResetOffset(p.startOffset()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		kgo.AutoCommitCallback(p.onCommit),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(p.onAssigned),
		kgo.OnPartitionsRevoked(p.onRevoked),
		kgo.OnPartitionsLost(p.onLost),
		kgo.ProducerLinger(5 * time.Millisecond),
	}, p.opts.Kafka...)
	if p.opts.Replay == nil {
		p.fetchPool = &fetchPool{}
		opts = append(opts, kgo.WithPools(p.fetchPool))
	}
	// The topics exist before the group is joined: assignment reads the
	// journal.
	if err := p.createTopics(ctx); err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	p.client = cl
	defer cl.Close()
	defer p.producers.closeAll()
	p.consuming.Store(true)
	defer p.consuming.Store(false)
	if p.opts.Pacer != nil {
		p.spawn(func() { p.watchLimits(p.background) })
	}
	p.spawn(func() { p.submit.watch.refreshLag(p.background, cl) })
	p.log.Info("pipeline started", "group", p.opts.Group, "topics", p.source.pattern(), "max_jobs_in_flight", p.opts.MaxJobsInFlight)
	p.loop(ctx)
	if err := cl.CommitMarkedOffsets(context.Background()); err != nil {
		p.log.Warn("final commit failed", "error", err)
	}
	p.awaitTasks(stopBackground) // before the Kafka clients close: tasks use them
	p.log.Info("pipeline stopped", "consumed", p.Stats().Consumed, "outstanding", p.tracker.outstanding())
	return nil
}

// awaitTasks ends the background context and waits for every goroutine of
// the pipeline; no task starts afterwards.
func (p *Pipeline) awaitTasks(stopBackground context.CancelFunc) {
	p.spawnMu.Lock()
	p.closing = true
	p.spawnMu.Unlock()
	stopBackground()
	p.tasks.Wait()
}

// spawn runs f as a task of the pipeline, unless Run is ending.
func (p *Pipeline) spawn(f func()) {
	p.spawnMu.Lock()
	defer p.spawnMu.Unlock()
	if !p.closing {
		p.tasks.Go(f)
	}
}

func (p *Pipeline) startOffset() kgo.Offset {
	var zero kgo.Offset
	if p.opts.StartOffset == zero {
		return kgo.NewOffset().AtStart()
	}
	return p.opts.StartOffset
}

// createTopics creates the journal and the result topics that do not exist
// yet, the result topics with a max.message.bytes that takes records of
// MaxRecordBytes. Topics that exist are left as they are.
func (p *Pipeline) createTopics(ctx context.Context) error {
	cl, err := kgo.NewClient(p.opts.Kafka...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	if p.opts.Journal != "" {
		if err := journal.Create(ctx, cl, p.opts.Journal, p.opts.ReplicationFactor); err != nil {
			return err
		}
	}
	adm := kadm.NewClient(cl)
	var topics []string
	for _, t := range []string{p.opts.Results.Success, p.opts.Results.Failure, p.opts.Results.DeadLetter} {
		if t != "" {
			topics = append(topics, t)
		}
	}
	maxMessageBytes := strconv.Itoa(p.opts.MaxRecordBytes + RecordOverhead)
	resp, err := adm.CreateTopics(ctx, p.opts.TopicPartitions, p.opts.ReplicationFactor,
		map[string]*string{"max.message.bytes": &maxMessageBytes}, topics...)
	if err != nil {
		return fmt.Errorf("create result topics: %w", err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create result topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}
