package pipeline

import (
	"bytes"
	"context"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bulkstream/bulkstream/internal/journal"
)

// spentSlices remembers the journal's slices closed, or written again as
// a job publishes in chunks, until the group has committed offsets past
// them; then nobody needs them any more and a tombstone clears them, so
// compaction keeps the journal small on an instance that runs for months
// without a rebalance. Publishing goroutines
// add slices, the commit callback (franz-go's goroutine) clears them; the
// mutex guards the map.
type spentSlices struct {
	mu sync.Mutex
	m  map[topicPartition][]spentSlice
}

type spentSlice struct {
	key  []byte
	last int64 // the slice's highest offset published, or of its events while it is kept open; -1 for none
}

// closed records the slices that the journal entries written for outcomes
// close, or keep open (those in open).
func (p *Pipeline) closed(jobID string, closing closedRanges, open map[topicPartition]*journal.Entry) {
	if p.opts.Journal == "" || (jobID == "" && !p.opts.ExactlyOnce) {
		return
	}
	p.spent.mu.Lock()
	defer p.spent.mu.Unlock()
	for tp, ranges := range closing {
		e := journal.Entry{JobID: jobID, Topic: tp.topic, Partition: tp.partition, Offsets: ranges}
		// A slice closed with nothing published tells a resume nothing
		// (its events went on to a follow-up job): spent at the next commit.
		s := spentSlice{key: e.Key(), last: -1}
		// A slice kept open holds events whose results are not out: it is
		// spent once the group has passed all its events, not the
		// published ones only (cleared before, it would leave the others
		// to be loaded again).
		if o := open[tp]; o != nil {
			ranges = o.Offsets
		}
		if len(ranges) > 0 {
			s.last = ranges[len(ranges)-1][1]
		}
		// A job published in chunks writes the same slice again with more
		// offsets: the slice is spent once the group has passed the last.
		if i := slices.IndexFunc(p.spent.m[tp], func(x spentSlice) bool { return bytes.Equal(x.key, s.key) }); i >= 0 {
			p.spent.m[tp][i].last = max(p.spent.m[tp][i].last, s.last)
			continue
		}
		p.spent.m[tp] = append(p.spent.m[tp], s)
	}
}

// onCommit runs after each autocommit: slices wholly behind a committed
// offset get their tombstones.
func (p *Pipeline) onCommit(cl *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	if err != nil {
		p.log.Warn("offset commit failed", "error", err)
		return
	}
	if p.opts.Journal == "" || req == nil || resp == nil {
		return
	}
	failed := map[topicPartition]bool{}
	for _, t := range resp.Topics {
		for _, part := range t.Partitions {
			if part.ErrorCode != 0 {
				failed[topicPartition{t.Topic, part.Partition}] = true
			}
		}
	}
	var tombstones []*kgo.Record
	p.spent.mu.Lock()
	for _, t := range req.Topics {
		for _, part := range t.Partitions {
			tp := topicPartition{t.Topic, part.Partition}
			if failed[tp] {
				continue
			}
			kept := p.spent.m[tp][:0]
			for _, s := range p.spent.m[tp] {
				if s.last < part.Offset {
					tombstones = append(tombstones, &kgo.Record{Topic: p.opts.Journal, Key: s.key})
				} else {
					kept = append(kept, s)
				}
			}
			p.spent.m[tp] = kept
		}
	}
	p.spent.mu.Unlock()
	for _, r := range tombstones {
		cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
			if err != nil {
				p.log.Debug("journal tombstone", "error", err)
			}
		})
	}
}

// closedRanges gathers, per source partition, the offsets of a job's
// events whose results are published, as the sorted, disjoint ranges of a
// journal entry. Offsets come mostly in ascending order (a job's events are
// in consumption order), which extends the last range in place.
type closedRanges map[topicPartition][][2]int64

func (r closedRanges) add(s Source) {
	tp := topicPartition{s.Topic, s.Partition}
	rs := r[tp]
	n := len(rs)
	switch {
	case n > 0 && s.Offset >= rs[n-1][0] && s.Offset <= rs[n-1][1]:
	case n > 0 && s.Offset == rs[n-1][1]+1:
		rs[n-1][1] = s.Offset
	case n == 0 || s.Offset > rs[n-1][1]:
		r[tp] = append(rs, [2]int64{s.Offset, s.Offset})
	default: // out of order: rare, so rebuilt
		var offsets []int64
		for _, x := range rs {
			for o := x[0]; o <= x[1]; o++ {
				offsets = append(offsets, o)
			}
		}
		r[tp] = journal.Ranges(append(offsets, s.Offset))
	}
}
