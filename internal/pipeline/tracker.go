package pipeline

// tracker decides what may be committed: for each partition, the offset
// after the longest run of records, from the oldest one not yet committed,
// whose results are all published. A record with no result yet holds back
// every record after it, so a crash never skips an event. It also counts
// the memory that records without a result cost, for the memory budget.
// The main loop owns the tracker.
type tracker struct {
	parts map[topicPartition]*partitionTrack
	bytes int64 // what the records without a published result cost
}

// eventCost is what a record in flight costs besides its key, value and
// headers: its place in a buffer, the row it folds into, the tracker's
// entries, its result while it is published.
const eventCost = 512

type topicPartition struct {
	topic     string
	partition int32
}

// partitionTrack holds the offsets of a partition that were consumed and
// are not committable yet, in consumption order (which is offset order).
type partitionTrack struct {
	pending []int64         // offsets in order
	done    map[int64]bool  // offsets whose result is published
	cost    map[int64]int64 // offsets without a published result → their cost
	next    int64           // the offset to commit: all before it are done; -1 if none yet
}

func newTracker() *tracker { return &tracker{parts: map[topicPartition]*partitionTrack{}} }

// consumed registers a record that needs a result before its offset can be
// committed; size is its key, value and headers in bytes.
func (t *tracker) consumed(tp topicPartition, offset int64, size int) {
	p := t.parts[tp]
	if p == nil {
		p = &partitionTrack{done: map[int64]bool{}, cost: map[int64]int64{}, next: -1}
		t.parts[tp] = p
	}
	p.pending = append(p.pending, offset)
	p.cost[offset] = int64(size) + eventCost
	t.bytes += p.cost[offset]
}

// published records that the result of a record is out. It returns the
// partition's new commit offset and whether it advanced.
func (t *tracker) published(tp topicPartition, offset int64) (next int64, advanced bool) {
	p := t.parts[tp]
	if p == nil { // the partition was revoked meanwhile
		return 0, false
	}
	if c, ok := p.cost[offset]; ok {
		t.bytes -= c
		delete(p.cost, offset)
	}
	p.done[offset] = true
	for len(p.pending) > 0 && p.done[p.pending[0]] {
		delete(p.done, p.pending[0])
		p.next = p.pending[0] + 1
		p.pending = p.pending[1:]
		advanced = true
	}
	return p.next, advanced
}

// forget drops a partition that is no longer ours.
func (t *tracker) forget(tp topicPartition) {
	if p := t.parts[tp]; p != nil {
		for _, c := range p.cost {
			t.bytes -= c
		}
	}
	delete(t.parts, tp)
}

// inFlightBytes is what the records without a published result cost.
func (t *tracker) inFlightBytes() int64 { return t.bytes }

// outstanding returns the number of records without a published result.
func (t *tracker) outstanding() int {
	n := 0
	for _, p := range t.parts {
		n += len(p.pending)
	}
	return n
}
