package pipeline

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// A job's open entries name, for each partition of its buffer, exactly
// its events' offsets as sorted, disjoint ranges: whatever the runs of
// partitions and topics, the gaps between offsets, and offsets that come
// out of order.
func TestOpenEntriesNameTheBuffersOffsets(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 200 {
		bt, err := batch.NewBatcher(batch.Policy{MaxRecords: 1000, MaxBytes: 1 << 20, MaxAge: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		want := map[topicPartition][]int64{}
		next := map[topicPartition]int64{}
		for i := range 1 + rng.IntN(300) {
			tp := topicPartition{[]string{"a", "b"}[rng.IntN(2)], int32(rng.IntN(3))}
			if rng.IntN(4) > 0 && i > 0 { // runs of one partition
				tp = topicPartition{"a", 0}
			}
			off := next[tp] + int64(rng.IntN(3)) // gaps
			next[tp] = off + 1
			if round%4 == 3 && rng.IntN(10) == 0 {
				off = -off - 1 // a distinct offset below the others: out of order
			}
			want[tp] = append(want[tp], off)
			c := &event.Change{Object: "Account", Operation: event.Insert, Fields: []event.Field{{Name: "Name", Value: event.Text(fmt.Sprint(i))}},
				Source: event.Source{Topic: tp.topic, Partition: tp.partition, Offset: off}}
			if _, err := bt.Add(c, "", time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		b := bt.SealAll(batch.ReasonShutdown)[0]
		got := openEntries("750x", b, 2)
		if len(got) != len(want) {
			t.Fatalf("round %d: entries of %d partitions, want %d", round, len(got), len(want))
		}
		for tp, offsets := range want {
			e := got[tp]
			if e == nil || e.Topic != tp.topic || e.Partition != tp.partition || e.State != journal.Open || e.JobID != "750x" || e.Attempt != 2 || e.Object != "Account" {
				t.Fatalf("round %d: entry of %v is %+v", round, tp, e)
			}
			if r := journal.Ranges(offsets); !slices.Equal(e.Offsets, r) {
				t.Fatalf("round %d: %v: ranges %v, want %v", round, tp, e.Offsets, r)
			}
		}
		b.Close()
	}
}
