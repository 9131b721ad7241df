package pipeline

import (
	"cmp"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
)

// tracker decides what may be committed: for each partition, the offset
// after the longest run of records, from the oldest one not yet committed,
// whose results are all published. A record with no result yet holds back
// every record after it, so a crash never skips an event. It also counts
// the memory that records without a result cost, for the memory budget.
// The main loop owns the tracker.
type tracker struct {
	parts map[topicPartition]*partitionTrack
	bytes int64 // what the records without a published result cost
	// last is the partition of the last record consumed or published, at
	// hand without a map lookup: records come in runs of one partition.
	last     *partitionTrack
	lastPart topicPartition
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
// are not committable yet, in consumption order (which is offset order), so
// an offset is found by binary search: no map entry per record.
type partitionTrack struct {
	pending []tracked // from head on; the slice is reused as it empties
	head    int
	next    int64 // the offset to commit: all before it are done; -1 if none yet
	// after is the index in pending after the last record published:
	// results come in runs of offsets (a job's rows are in consumption
	// order), so the next is most often there, found without a search.
	after int
}

// live is the records not committable yet.
func (p *partitionTrack) live() []tracked { return p.pending[p.head:] }

// tracked is a consumed record: its offset, what it costs until its result
// is published, and whether it is.
type tracked struct {
	offset int64
	cost   int64
	done   bool
}

func newTracker() *tracker { return &tracker{parts: map[topicPartition]*partitionTrack{}} }

// consumed registers a record that needs a result before its offset can be
// committed; size is its key, value and headers in bytes.
func (t *tracker) consumed(tp topicPartition, offset int64, size int) {
	p := t.part(tp)
	if p == nil {
		p = &partitionTrack{next: -1}
		t.parts[tp] = p
		t.last, t.lastPart = p, tp
	}
	e := tracked{offset: offset, cost: int64(size) + eventCost}
	if len(p.pending) == cap(p.pending) {
		switch {
		case p.head >= len(p.pending)/4: // room behind: use it rather than grow
			p.shift()
		case cap(p.pending) >= 1024:
			p.grow()
		}
	}
	p.pending = append(p.pending, e)
	t.bytes += e.cost
}

// published records that the result of a record is out. It returns the
// partition's new commit offset and whether it advanced.
func (t *tracker) published(tp topicPartition, offset int64) (next int64, advanced bool) {
	p := t.part(tp)
	if p == nil { // the partition was revoked meanwhile
		return 0, false
	}
	live := p.live()
	i, found := p.after-p.head, false
	if i >= 0 && i < len(live) && live[i].offset == offset {
		found = true
	} else {
		i, found = slices.BinarySearchFunc(live, offset, func(e tracked, o int64) int { return cmp.Compare(e.offset, o) })
	}
	if !found || live[i].done {
		return p.next, false
	}
	p.after = p.head + i + 1
	t.bytes -= live[i].cost
	live[i] = tracked{offset: offset, done: true}
	for p.head < len(p.pending) && p.pending[p.head].done {
		p.next = p.pending[p.head].offset + 1
		p.head++
		advanced = true
	}
	switch {
	case p.head == len(p.pending) && cap(p.pending) > keptTrack:
		p.pending, p.head, p.after = nil, 0, 0 // a drained backlog's room goes: partitions drain one after another
	case p.head == len(p.pending):
		p.pending, p.head, p.after = p.pending[:0], 0, 0
	case p.head >= 1024 && 2*p.head >= len(p.pending): // keep the dead part below half
		p.shift()
	}
	return p.next, advanced
}

// keptTrack is the most room (records) a partition with nothing in flight
// keeps: 96 KiB. A backlog drained partition by partition would otherwise
// leave each with room for its peak, outside the memory budget.
const keptTrack = 4096

// grow doubles pending's room, once it is of 1,024 records or more: append
// grows a slice this large (tens of thousands of records a partition) by a
// quarter at a time, each time into memory fresh from the system, a page
// fault a page. Smaller ones grow as append grows them, so that a
// partition of a few records in flight keeps room for a few. A partition
// keeps its room while it has records in flight, and up to keptTrack once
// it has none.
func (p *partitionTrack) grow() {
	grown := make([]tracked, len(p.pending), 2*cap(p.pending))
	copy(grown, p.pending)
	p.pending = grown
}

// shift moves the live records to the start of pending.
func (p *partitionTrack) shift() {
	n := copy(p.pending, p.pending[p.head:])
	p.pending, p.after, p.head = p.pending[:n], p.after-p.head, 0
}

// publishedAll records that the results of sources are out, and returns
// the commit offsets that advanced, by topic and partition.
func (t *tracker) publishedAll(sources []Source) map[string]map[int32]kgo.EpochOffset {
	marks := map[string]map[int32]kgo.EpochOffset{}
	var topic string                         // of the last mark: sources come in runs of a partition
	var topicMarks map[int32]kgo.EpochOffset // marks[topic]
	for _, s := range sources {
		next, advanced := t.published(topicPartition{s.Topic, s.Partition}, s.Offset)
		if !advanced {
			continue
		}
		if topicMarks == nil || s.Topic != topic {
			if topicMarks = marks[s.Topic]; topicMarks == nil {
				topicMarks = map[int32]kgo.EpochOffset{}
				marks[s.Topic] = topicMarks
			}
			topic = s.Topic
		}
		topicMarks[s.Partition] = kgo.EpochOffset{Epoch: -1, Offset: next}
	}
	return marks
}

// part returns the track of tp, nil if there is none.
func (t *tracker) part(tp topicPartition) *partitionTrack {
	if t.last != nil && tp == t.lastPart {
		return t.last
	}
	p := t.parts[tp]
	if p != nil {
		t.last, t.lastPart = p, tp
	}
	return p
}

// forget drops a partition that is no longer ours.
func (t *tracker) forget(tp topicPartition) {
	if tp == t.lastPart {
		t.last = nil
	}
	if p := t.parts[tp]; p != nil {
		for _, e := range p.live() {
			t.bytes -= e.cost
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
		n += len(p.live())
	}
	return n
}
