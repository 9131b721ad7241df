package pipeline

// The transactional result producers of exactly-once delivery: one per
// source partition, fenced when the partition is assigned (see
// planAssigned) and used by publishPartition.

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// errNotOurs: the partition went to another instance, which publishes the
// results of its events instead.
var errNotOurs = errors.New("the partition is not ours any more")

// producers are the transactional result producers of exactly-once
// delivery, one per source partition this instance owns, with the
// transactional id "<group>-<topic>-<partition>": the next owner of a
// partition takes the id over, which fences a previous owner that is still
// alive (a zombie) from publishing results of that partition. Each
// producer's mutex serialises its transactions; the map's mutex guards the
// map.
type producers struct {
	p  *Pipeline
	mu sync.Mutex
	m  map[topicPartition]*txnProducer
}

type txnProducer struct {
	mu sync.Mutex
	cl *kgo.Client
}

func (ps *producers) transactionalID(tp topicPartition) string {
	return ps.p.opts.Group + "-" + tp.topic + "-" + strconv.Itoa(int(tp.partition))
}

// fence makes the producer of tp and initialises its transactional id,
// which aborts whatever a previous owner left open and fences it.
func (ps *producers) fence(ctx context.Context, tp topicPartition) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.TransactionalID(ps.transactionalID(tp)), kgo.ProducerLinger(time.Millisecond)},
		ps.p.opts.Kafka...)...)
	if err != nil {
		return err
	}
	// A transaction with one aborted record is what makes kgo obtain the
	// producer id, the step that fences.
	if err := cl.BeginTransaction(); err != nil {
		cl.Close()
		return err
	}
	cl.Produce(ctx, &kgo.Record{Topic: ps.p.opts.Journal, Key: []byte("fence/" + ps.transactionalID(tp))}, nil)
	if err := cl.Flush(ctx); err != nil {
		cl.Close()
		return err
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		cl.Close()
		return err
	}
	ps.mu.Lock()
	old := ps.m[tp]
	ps.m[tp] = &txnProducer{cl: cl}
	ps.mu.Unlock()
	if old != nil {
		old.cl.Close()
	}
	return nil
}

// drop closes the producer of a partition no longer ours.
func (ps *producers) drop(tp topicPartition) {
	ps.mu.Lock()
	old := ps.m[tp]
	delete(ps.m, tp)
	ps.mu.Unlock()
	if old != nil {
		ps.p.spawn(func() { // a transaction may be running: let it fail on its own
			old.mu.Lock()
			defer old.mu.Unlock()
			old.cl.Close()
		})
	}
}

func (ps *producers) closeAll() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for tp, pr := range ps.m {
		pr.cl.Close()
		delete(ps.m, tp)
	}
}

// publishTx publishes records of one source partition, with the slice's
// journal entry (kept open with what is published, or closing), in one
// transaction. A transaction that Kafka refused as
// too large fails with a *refusedError.
func (ps *producers) publishTx(ctx context.Context, tp topicPartition, records []*kgo.Record) error {
	ps.mu.Lock()
	pr := ps.m[tp]
	ps.mu.Unlock()
	if pr == nil {
		return errNotOurs
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if err := pr.cl.BeginTransaction(); err != nil {
		return err
	}
	var err error
	var refused []*kgo.Record
	for _, r := range pr.cl.ProduceSync(ctx, records...) {
		if r.Err != nil && err == nil {
			err = r.Err
		}
		if tooLarge(r.Err) {
			refused = append(refused, r.Record)
		}
	}
	commit := kgo.TryCommit
	if err != nil {
		commit = kgo.TryAbort
	}
	if endErr := pr.cl.EndTransaction(ctx, commit); err == nil {
		err = endErr
	}
	if len(refused) > 0 && tooLarge(err) {
		err = &refusedError{records: refused, err: err}
	}
	return err
}

// refusedError is a transaction Kafka refused as too large, with the
// records it refused so: those of the batches that were too large, or were
// themselves.
type refusedError struct {
	records []*kgo.Record
	err     error
}

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// sortedPartitions orders partitions for deterministic publishing.
func sortedPartitions(m map[topicPartition][]*kgo.Record) []topicPartition {
	out := make([]topicPartition, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out
}
