package pipeline

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Offsets advance only up to the lowest record without a published result,
// whatever order results come in.
func TestTrackerCommitsOnlyUpToTheFirstGap(t *testing.T) {
	tr := newTracker()
	tp := topicPartition{"t", 0}
	for off := int64(10); off < 15; off++ {
		tr.consumed(tp, off, 100)
	}
	if got, want := tr.inFlightBytes(), int64(5*(100+eventCost)); got != want {
		t.Fatalf("%d bytes in flight, want %d", got, want)
	}
	steps := []struct {
		published int64
		next      int64
		advanced  bool
	}{
		{12, 0, false}, // 10 and 11 have no result yet
		{14, 0, false},
		{10, 11, true},
		{11, 13, true}, // 12 was already done: jump past it
		{13, 15, true},
	}
	for _, s := range steps {
		next, advanced := tr.published(tp, s.published)
		if advanced != s.advanced || (advanced && next != s.next) {
			t.Fatalf("published %d: next %d advanced %v; want %d %v", s.published, next, advanced, s.next, s.advanced)
		}
	}
	if tr.outstanding() != 0 || tr.inFlightBytes() != 0 {
		t.Fatalf("%d outstanding, %d bytes", tr.outstanding(), tr.inFlightBytes())
	}
	tr.consumed(tp, 15, 100)
	tr.forget(tp)
	if tr.inFlightBytes() != 0 {
		t.Fatalf("%d bytes in flight after the partition was forgotten", tr.inFlightBytes())
	}
	tr.forget(tp)
	if _, advanced := tr.published(tp, 20); advanced {
		t.Fatal("a result of a forgotten partition moved its offset")
	}
}

// The tracker reuses its slice as records are committed, and still finds
// each offset after it moved them down.
func TestTrackerReusesItsSlice(t *testing.T) {
	tr := newTracker()
	tp := topicPartition{"t", 3}
	for off := range int64(3000) {
		tr.consumed(tp, 100+off, 0)
	}
	for off := range int64(2000) { // past half: the rest is moved down
		tr.published(tp, 100+off)
	}
	tr.consumed(tp, 3100, 0)
	for off := int64(3100); off >= 2100; off-- { // newest first
		next, advanced := tr.published(tp, off)
		if want := off == 2100; advanced != want || (advanced && next != 3101) {
			t.Fatalf("published %d: next %d advanced %v", off, next, advanced)
		}
	}
	if tr.outstanding() != 0 || tr.inFlightBytes() != 0 {
		t.Fatalf("%d outstanding, %d bytes", tr.outstanding(), tr.inFlightBytes())
	}

	// A full slice with a quarter or more published at its head moves the
	// rest down rather than grow, while records flow through with 70% of
	// it in flight (published moves them down only past half).
	start := int64(4000)
	for ; ; start++ { // a slice of 1,000 records or more, full
		tr.consumed(tp, start, 0)
		if p := tr.parts[tp]; len(p.pending) >= 1000 && len(p.pending) == cap(p.pending) {
			break
		}
	}
	full := cap(tr.parts[tp].pending)
	for off := int64(4000); off <= start-int64(full)*7/10; off++ { // 70% in flight from here on
		tr.published(tp, off)
	}
	for off := start + 1; off < 4000+int64(10*full); off++ {
		tr.consumed(tp, off, 0)
		if back := off - int64(full)*7/10; back >= 4000 {
			tr.published(tp, back)
		}
	}
	if got := cap(tr.parts[tp].pending); got > full {
		t.Errorf("the slice grew from %d to %d with 70%% of it in flight", full, got)
	}
}

// A job's closing ranges grow in place as offsets come in order, and are
// sorted and disjoint once sorted out when one came out of order or twice.
func TestClosedRanges(t *testing.T) {
	r := closedRanges{}
	for _, o := range []int64{3, 4, 5, 9, 10, 7, 4, 8, 1} {
		r.note(Source{Topic: "t", Partition: 1, Offset: o})
	}
	r.note(Source{Topic: "t", Partition: 2, Offset: 0})
	r.sortOut()
	got := r[topicPartition{"t", 1}]
	want := [][2]int64{{1, 1}, {3, 5}, {7, 10}}
	if !slices.Equal(got, want) || len(r[topicPartition{"t", 2}]) != 1 {
		t.Fatalf("ranges %v (partition 2: %v), want %v", got, r[topicPartition{"t", 2}], want)
	}
}

// BenchmarkTracker measures the main loop's bookkeeping of an event: its
// record consumed, then its result published, in jobs of 5,000 that
// finish out of order (per event).
func BenchmarkTracker(b *testing.B) {
	const job = 5000
	tr := newTracker()
	tp := topicPartition{"t", 0}
	b.ReportAllocs()
	offset := int64(0)
	for b.Loop() {
		for i := range int64(2 * job) {
			tr.consumed(tp, offset+i, 200)
		}
		for _, first := range []int64{job, 0} { // the second job's results come first
			for i := range int64(job) {
				tr.published(tp, offset+first+i)
			}
		}
		offset += 2 * job
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*2*job), "ns/event")
}

// The track of the last partition is at hand without a lookup; a partition
// revoked and assigned again starts afresh, not from that track.
func TestTrackerForgetsThePartitionAtHand(t *testing.T) {
	tr := newTracker()
	tp := topicPartition{"t", 0}
	tr.consumed(tp, 10, 100)
	tr.consumed(tp, 11, 100)
	tr.forget(tp)
	if tr.inFlightBytes() != 0 {
		t.Fatalf("%d bytes in flight after forget", tr.inFlightBytes())
	}
	tr.consumed(tp, 50, 100) // assigned again, read from the committed offset
	if next, ok := tr.published(tp, 50); !ok || next != 51 {
		t.Errorf("published(50) = %d, %v; want 51, true (the revoked records hold nothing back)", next, ok)
	}
	if n := tr.outstanding(); n != 0 {
		t.Errorf("%d records outstanding, want 0", n)
	}
}

// The commit marks of a completion name each topic's partitions with the
// offset after their last published run, whatever the order of topics in
// the completion's sources.
func TestPublishedAllMarksEachTopic(t *testing.T) {
	tr := newTracker()
	for _, topic := range []string{"a", "b"} {
		for part := range int32(2) {
			for off := range int64(10) {
				tr.consumed(topicPartition{topic, part}, off, 100)
			}
		}
	}
	sources := []Source{{"a", 0, 0}, {"a", 0, 1}, {"b", 0, 0}, {"a", 1, 0}, {"b", 1, 0}, {"b", 1, 1}, {"a", 0, 2}, {"b", 0, 5}, {"b", 0, 1}}
	got := tr.publishedAll(sources)
	want := map[string]map[int32]kgo.EpochOffset{
		"a": {0: {Epoch: -1, Offset: 3}, 1: {Epoch: -1, Offset: 1}},
		"b": {0: {Epoch: -1, Offset: 2}, 1: {Epoch: -1, Offset: 2}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("marks %v, want %v", got, want)
	}
}

// A partition that had a few records in flight keeps room for a few, not
// for the thousand a large one doubles from, and a large one drained keeps
// no more than keptTrack: a consumer of many partitions keeps their tracks
// small.
func TestTrackerRoomFollowsThePartition(t *testing.T) {
	tr := newTracker()
	for part := range int32(100) {
		tp := topicPartition{"t", part}
		for off := range int64(5) {
			tr.consumed(tp, off, 100)
		}
		for off := range int64(5) {
			tr.published(tp, off)
		}
		if c := cap(tr.parts[tp].pending); c > 16 {
			t.Fatalf("partition %d keeps room for %d records after 5", part, c)
		}
	}
	big := topicPartition{"t", 1000}
	for off := range int64(5000) {
		tr.consumed(big, off, 100)
	}
	if c := cap(tr.parts[big].pending); c < 5000 || c > 2*5000 {
		t.Fatalf("a partition of 5,000 records in flight has room for %d", c)
	}
	// Drained, it gives the room back: a backlog drained partition by
	// partition leaves each with at most keptTrack.
	for off := range int64(5000) {
		tr.published(big, off)
	}
	if c := cap(tr.parts[big].pending); c > keptTrack {
		t.Fatalf("a drained partition keeps room for %d records", c)
	}
}

// Records consumed and published at random, in several partitions, with
// gaps between offsets, results out of order, repeated and of records never
// consumed, against a model: the commit offset is after the longest run of
// published records from the oldest, and the bytes in flight are those of
// the records without a result, through every growth, shift and reset of
// the tracks.
func TestTrackerAgainstAModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for round := range 100 {
		tr := newTracker()
		type rec struct {
			offset int64
			done   bool
		}
		model := map[int32][]rec{}
		next := map[int32]int64{}
		commit := map[int32]int64{}
		var bytes int64
		for step := range 6000 {
			part := int32(rng.IntN(3))
			tp := topicPartition{"t", part}
			if rng.IntN(3) > 0 || len(model[part]) == 0 {
				off := next[part] + int64(rng.IntN(3))
				next[part] = off + 1
				tr.consumed(tp, off, 100)
				model[part] = append(model[part], rec{offset: off})
				bytes += 100 + eventCost
			} else {
				recs := model[part]
				i := rng.IntN(len(recs))
				off := recs[i].offset
				if rng.IntN(10) == 0 {
					off = next[part] + 5 // never consumed
					i = -1
				}
				got, advanced := tr.published(tp, off)
				wantNext, wantAdvanced := commit[part], false
				if i >= 0 && !recs[i].done {
					recs[i].done = true
					bytes -= 100 + eventCost
					for len(recs) > 0 && recs[0].done {
						wantNext, wantAdvanced = recs[0].offset+1, true
						recs = recs[1:]
					}
					model[part] = recs
				}
				if wantAdvanced {
					commit[part] = wantNext
				}
				if advanced != wantAdvanced || (advanced && got != wantNext) {
					t.Fatalf("round %d, step %d: published(%v, %d) = %d, %v; want %d, %v", round, step, tp, off, got, advanced, wantNext, wantAdvanced)
				}
			}
			if tr.inFlightBytes() != bytes {
				t.Fatalf("round %d, step %d: %d bytes in flight, want %d", round, step, tr.inFlightBytes(), bytes)
			}
		}
	}
}
