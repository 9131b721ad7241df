package pipeline

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// onRevoked runs in the group's goroutine when partitions are taken away:
// the main loop drops their buffered events (the new owner reads them
// again), then what is marked is committed.
func (p *Pipeline) onRevoked(ctx context.Context, cl *kgo.Client, parts map[string][]int32) {
	p.forward(parts)
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		p.log.Warn("commit on revoke failed", "error", err)
	}
}

// onLost is onRevoked without the commit, which would fail.
func (p *Pipeline) onLost(_ context.Context, _ *kgo.Client, parts map[string][]int32) {
	p.forward(parts)
}

func (p *Pipeline) forward(parts map[string][]int32) {
	if len(parts) == 0 {
		return
	}
	p.owned.revoke(parts)
	r := request{revoke: parts, ack: make(chan struct{})}
	select {
	case p.requests <- r:
		<-r.ack
	case <-p.loopEnded:
	}
}

func (p *Pipeline) revoke(parts map[string][]int32) {
	for topic, ps := range parts {
		for _, partition := range ps {
			if err := p.batcher.Drop(topic, partition); err != nil {
				p.log.Error("dropping a revoked partition's buffered events failed", "topic", topic, "partition", partition, "error", err)
			}
			tp := topicPartition{topic, partition}
			p.tracker.forget(tp)
			p.dropReady(tp)
			p.dropParked(tp)
			p.forgetPartition(tp)
			p.producers.drop(tp)
			p.submit.watch.revoked(tp)
			p.behind.forget(tp)
		}
	}
	p.log.Info("partitions revoked", "partitions", parts)
}

// dropReady removes the events of a revoked partition from the buffers that
// wait for a job slot, as the batcher drops them from its open buffers: the
// new owner reads them again. A buffer of a job of the journal is about one
// partition and goes whole.
func (p *Pipeline) dropReady(tp topicPartition) {
	kept := p.ready[:0]
	for _, b := range p.ready {
		var keep []int
		for i, ev := range b.Events {
			if ev.Topic() != tp.topic || ev.Partition != tp.partition {
				keep = append(keep, i)
			}
		}
		switch {
		case len(keep) == len(b.Events):
			kept = append(kept, b)
			continue
		case len(keep) > 0 && p.resumeJobs[b] == nil:
			rebuilt, err := b.Retry(keep, 0)
			if err != nil {
				p.log.Error("dropping a revoked partition's events from a waiting buffer failed; the buffer goes whole", "buffer", b.Key.String(), "error", err)
				kept = append(kept, b)
				continue
			}
			kept = append(kept, rebuilt...)
		}
		delete(p.resumeJobs, b)
		b.Close()
	}
	clear(p.ready[len(kept):])
	p.ready = kept
}
