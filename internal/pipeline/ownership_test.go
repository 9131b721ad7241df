package pipeline

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// A buffer's events come in runs of one partition, and the verdict of a run
// is reused, but not across runs: events of a lost partition between and
// after runs of a kept one are all found.
func TestLostEventsInRunsOfPartitions(t *testing.T) {
	bt, err := batch.NewBatcher(batch.Policy{MaxRecords: 100, MaxBytes: 1 << 20, MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	parts := []int32{0, 0, 1, 1, 0, 1, 2, 2, 1}
	for i, part := range parts {
		c := &event.Change{Object: "Account", Operation: event.Insert, Fields: []event.Field{{Name: "Name", Value: event.Text(fmt.Sprint(i))}},
			Source: event.Source{Topic: "t", Partition: part, Offset: int64(i)}}
		if _, err := bt.Add(c, "", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	b := bt.SealAll(batch.ReasonShutdown)[0]
	defer b.Close()
	var o ownership
	o.assign(map[string][]int32{"t": {0, 1, 2}})
	c := o.claim(b)
	if len(c) != 3 {
		t.Fatalf("claim of %d partitions, want 3", len(c))
	}
	o.revoke(map[string][]int32{"t": {1}})
	if got, want := o.lostEvents(c, b), []int{2, 3, 5, 8}; !slices.Equal(got, want) {
		t.Errorf("lost events %v, want %v", got, want)
	}
	anyLost, release := o.hold(c, b)
	release()
	if !anyLost {
		t.Error("hold says no partition of the buffer is lost")
	}
}
