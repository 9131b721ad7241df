package pipeline

import (
	"sync"
	"sync/atomic"

	"github.com/bulkstream/bulkstream/internal/batch"
)

// ownership tracks the partitions this instance owns, each with the
// generation of its assignment, so that a job started for events of a
// partition that has since moved to another instance does not load or
// report them: the new owner reads them again, or re-attaches to the job
// through the journal. The group callbacks assign and revoke; job runners
// check their claim. Safe for concurrent use.
type ownership struct {
	mu   sync.RWMutex
	gen  map[topicPartition]uint64 // owned partitions
	next uint64
	// changes counts the assignments and revocations, so that a lostWatch
	// knows when its answer may have changed without taking mu.
	changes atomic.Uint64
}

// claim is the generations of a job's partitions when the job was started;
// a partition whose generation changed (or that is gone) is lost to it.
type claim map[topicPartition]uint64

func (o *ownership) assign(parts map[string][]int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gen == nil {
		o.gen = map[topicPartition]uint64{}
	}
	for topic, ps := range parts {
		for _, partition := range ps {
			o.next++
			o.gen[topicPartition{topic, partition}] = o.next
		}
	}
	o.changes.Add(1)
}

// revoke takes partitions away. It waits for the job runners that hold
// their claim (see hold), so a journal entry being written when the
// partitions move is written before the new owner can read the journal.
func (o *ownership) revoke(parts map[string][]int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for topic, ps := range parts {
		for _, partition := range ps {
			delete(o.gen, topicPartition{topic, partition})
		}
	}
	o.changes.Add(1)
}

// claim returns the current generations of b's partitions.
func (o *ownership) claim(b *batch.Buffer) claim {
	o.mu.RLock()
	defer o.mu.RUnlock()
	c := claim{}
	var last topicPartition
	for i, ev := range b.Events {
		tp := topicPartition{ev.Topic(), ev.Partition}
		if i > 0 && tp == last { // events come in runs of one partition
			continue
		}
		last = tp
		if _, ok := c[tp]; !ok {
			c[tp] = o.gen[tp] // 0 when not owned: lost from the start
		}
	}
	return c
}

// claimParts returns the current generations of parts.
func (o *ownership) claimParts(parts map[string][]int32) claim {
	o.mu.RLock()
	defer o.mu.RUnlock()
	c := claim{}
	for topic, ps := range parts {
		for _, partition := range ps {
			tp := topicPartition{topic, partition}
			c[tp] = o.gen[tp]
		}
	}
	return c
}

// lostOf returns the partitions of c lost to it; none for a nil c.
func (o *ownership) lostOf(c claim) map[topicPartition]bool {
	if c == nil {
		return nil
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	var out map[topicPartition]bool
	for tp := range c {
		if o.lostLocked(c, tp) {
			if out == nil {
				out = map[topicPartition]bool{}
			}
			out[tp] = true
		}
	}
	return out
}

// allLost reports whether every partition of c is lost to it.
func (o *ownership) allLost(c claim) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	for tp := range c {
		if !o.lostLocked(c, tp) {
			return false
		}
	}
	return true
}

// lost reports whether tp is no longer owned under c's generation. Once
// lost, a partition stays lost to c.
func (o *ownership) lost(c claim, tp topicPartition) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.lostLocked(c, tp)
}

func (o *ownership) lostLocked(c claim, tp topicPartition) bool {
	g, ok := c[tp]
	return !ok || g == 0 || o.gen[tp] != g
}

// lostEvents returns the events of b whose partitions are lost to c.
func (o *ownership) lostEvents(c claim, b *batch.Buffer) []int {
	o.mu.RLock()
	defer o.mu.RUnlock()
	var out []int
	var m lostMemo
	for i, ev := range b.Events {
		if m.lost(o, c, topicPartition{ev.Topic(), ev.Partition}) {
			out = append(out, i)
		}
	}
	return out
}

// lostMemo answers lostLocked for a run of one partition's events with one
// look at the maps: a buffer's events come in such runs.
type lostMemo struct {
	tp         topicPartition
	known, was bool
}

func (m *lostMemo) lost(o *ownership, c claim, tp topicPartition) bool {
	if !m.known || tp != m.tp {
		m.tp, m.known, m.was = tp, true, o.lostLocked(c, tp)
	}
	return m.was
}

// lostWatch answers lost, for one claim, for a run of one partition's
// events without taking the lock for each, as long as no assignment or
// revocation came since its last look: the same answer as lost, at any
// moment. A claim needs a watch of its own.
type lostWatch struct {
	tp      topicPartition
	changes uint64
	known   bool
	was     bool
}

func (w *lostWatch) lost(o *ownership, c claim, tp topicPartition) bool {
	changes := o.changes.Load() // before the look: a change after it is seen next time
	if !w.known || tp != w.tp || changes != w.changes {
		w.tp, w.changes, w.known, w.was = tp, changes, true, o.lost(c, tp)
	}
	return w.was
}

// hold keeps every partition from being revoked until release is called,
// and reports whether one of b's partitions is lost to c already. A runner
// holds while it writes a job's journal entry, which is quick.
func (o *ownership) hold(c claim, b *batch.Buffer) (anyLost bool, release func()) {
	o.mu.RLock()
	var m lostMemo
	for _, ev := range b.Events {
		if m.lost(o, c, topicPartition{ev.Topic(), ev.Partition}) {
			anyLost = true
			break
		}
	}
	return anyLost, o.mu.RUnlock
}
