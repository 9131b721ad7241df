package pipeline

import (
	"math/rand/v2"
	"testing"
)

// A lostWatch answers as lost does at every moment: over runs of one
// partition, and when a partition is revoked or assigned again in the
// middle of a run.
func TestLostWatchAnswersAsLost(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var o ownership
	all := map[string][]int32{"a": {0, 1, 2}, "b": {0}}
	o.assign(all)
	c := o.claimParts(all)
	var w lostWatch
	tp := topicPartition{"a", 0}
	for i := range 20_000 {
		switch r := rng.IntN(100); {
		case r < 10: // a new run
			topic := []string{"a", "b"}[rng.IntN(2)]
			tp = topicPartition{topic, int32(rng.IntN(3))}
		case r < 12:
			o.revoke(map[string][]int32{tp.topic: {tp.partition}})
		case r < 14: // assigned again: a new generation, still lost to c
			o.assign(map[string][]int32{tp.topic: {tp.partition}})
		case r == 14: // a fresh claim, and a watch of its own
			c, w = o.claimParts(all), lostWatch{}
		}
		if got, want := w.lost(&o, c, tp), o.lost(c, tp); got != want {
			t.Fatalf("step %d, %v: lostWatch says lost=%v, lost says %v", i, tp, got, want)
		}
	}
}
