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
			p.forgetPartition(tp)
			p.producers.drop(tp)
		}
	}
	p.log.Info("partitions revoked", "partitions", parts)
}
