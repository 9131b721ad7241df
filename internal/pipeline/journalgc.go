package pipeline

import (
	"bytes"
	"cmp"
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
// in consumption order), which extends the last range in place; in the
// buffers of retried rows (batch.Buffer.Retry: follow-ups, halves,
// narrowed buffers) events are grouped by row, and when rows hold several
// coalesced events about every other offset comes out of order. note
// appends those as they come, and sortOut puts the ranges in order once,
// before they are read: rebuilt at each offset out of order, a job of
// 150,000 such events would spend minutes on it.
type closedRanges map[topicPartition][][2]int64

// note adds s's offset to its partition's ranges and reports whether they
// are still in order. Until sortOut, ranges out of order may overlap or
// repeat offsets.
func (r closedRanges) note(s Source) (inOrder bool) {
	tp := topicPartition{s.Topic, s.Partition}
	rs := r[tp]
	switch n := len(rs); {
	case n > 0 && s.Offset >= rs[n-1][0] && s.Offset <= rs[n-1][1]:
	case n > 0 && s.Offset == rs[n-1][1]+1:
		rs[n-1][1] = s.Offset
	default:
		r[tp] = append(rs, [2]int64{s.Offset, s.Offset})
		return n == 0 || s.Offset > rs[n-1][1]
	}
	return true
}

// sortOut puts back in order the ranges of each partition that note left
// out of order. A partition's ranges are out of order exactly when one
// starts at or before the end of the one before it: note appends a range
// only after the last or, out of order, before its start (ranges that only
// touch, as a resumed entry's published ones may, are left as they are).
func (r closedRanges) sortOut() {
	for tp, rs := range r {
		for i := 1; i < len(rs); i++ {
			if rs[i][0] <= rs[i-1][1] {
				r[tp] = mergeRanges(rs)
				break
			}
		}
	}
}

// mergeRanges returns the sorted, disjoint ranges of the offsets rs holds,
// in rs's memory: those journal.Ranges makes of them.
func mergeRanges(rs [][2]int64) [][2]int64 {
	slices.SortFunc(rs, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	out := rs[:0]
	for _, x := range rs {
		if n := len(out); n > 0 && x[0] <= out[n-1][1]+1 {
			out[n-1][1] = max(out[n-1][1], x[1])
			continue
		}
		out = append(out, x)
	}
	return out
}
