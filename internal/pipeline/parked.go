package pipeline

import (
	"context"
	"time"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// PausedSchemaRegistry: the schema registry did not answer for a schema
// that records need (refused, timed out, 5xx, 429). Only the partitions of
// those records wait; it is the reason of bulkstream_paused while any does.
const PausedSchemaRegistry = "schema_registry"

// Waiting for the schema registry. A record whose schema the registry
// cannot give now (event.IsRegistryUnavailable) is not a failure: its
// partition is parked. The record and every later one of the partition wait
// in order, in memory (they count against the memory budget, and their
// offsets stay uncommitted), the partition's fetching is paused, and a
// prober decodes the first of them again with back-off until the registry
// answers; then the main loop takes them again in order and resumes the
// partition. Other partitions go on meanwhile. A schema id the registry says
// does not exist is a failure as before (BULKSTREAM_SCHEMA_REGISTRY). The
// main loop owns parked.

// registryProbe bounds the pause between two probes of a parked partition.
var registryProbe = struct{ first, max time.Duration }{time.Second, 30 * time.Second}

// park makes the record a (whose decoding failed with err) the first of
// partition tp to wait for the registry.
func (p *Pipeline) park(tp topicPartition, a ahead, route *Route, err error) {
	a = ahead{src: owned(a.src), size: a.size} // decoded again when it goes on
	p.parked[tp] = []ahead{a}
	p.client.PauseFetchPartitions(map[string][]int32{tp.topic: {tp.partition}})
	p.opts.Metrics.Paused.WithLabelValues(PausedSchemaRegistry).Set(1)
	p.log.Warn("the schema registry does not answer: the partition waits for it; other partitions go on", "topic", tp.topic, "partition", tp.partition,
		"offset", a.src.Offset, "reason", PausedSchemaRegistry, "error", err)
	src, dec := a.src, route.Decoder
	p.spawn(func() { p.probeRegistry(p.background, tp, src, dec) })
}

// probeRegistry decodes src again, with back-off, until the registry
// answers (whatever the decoding then says), and tells the main loop.
func (p *Pipeline) probeRegistry(ctx context.Context, tp topicPartition, src event.Source, dec event.Decoder) {
	pause := registryProbe.first
	for {
		if !sleep(ctx, pause) {
			return
		}
		if _, err := dec.Decode(src); !event.IsRegistryUnavailable(err) {
			break
		}
		pause = min(2*pause, registryProbe.max)
	}
	select {
	case p.registryBack <- tp:
	case <-p.loopEnded:
	}
}

// unpark takes the records of tp that waited for the registry again, in
// order, and resumes fetching the partition, unless one of them parks it
// again. A partition revoked meanwhile has nothing parked.
func (p *Pipeline) unpark(tp topicPartition) {
	q, ok := p.parked[tp]
	if !ok {
		return
	}
	delete(p.parked, tp)
	p.log.Info("the schema registry answers again: the partition goes on", "topic", tp.topic, "partition", tp.partition, "records", len(q))
	now := time.Now()
	for i := range q {
		p.dispatch(&q[i], now)
	}
	p.publishAsync(p.failed)
	p.failed = nil
	if _, again := p.parked[tp]; !again {
		p.client.ResumeFetchPartitions(map[string][]int32{tp.topic: {tp.partition}})
	}
	if len(p.parked) == 0 {
		p.opts.Metrics.Paused.WithLabelValues(PausedSchemaRegistry).Set(0)
	}
}

// dropParked forgets what a revoked partition parked: the new owner reads
// it again. Its fetching is resumed, since a pause outlives a revocation.
func (p *Pipeline) dropParked(tp topicPartition) {
	if _, ok := p.parked[tp]; !ok {
		return
	}
	delete(p.parked, tp)
	p.client.ResumeFetchPartitions(map[string][]int32{tp.topic: {tp.partition}})
	if len(p.parked) == 0 {
		p.opts.Metrics.Paused.WithLabelValues(PausedSchemaRegistry).Set(0)
	}
}
