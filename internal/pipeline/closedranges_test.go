package pipeline

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/internal/journal"
)

// addRebuilding is closedRanges.add as it was before note and sortOut:
// every offset out of order rebuilt the partition's ranges from all their
// offsets. The ranges must come out the same.
func addRebuilding(r closedRanges, s Source) {
	tp := topicPartition{s.Topic, s.Partition}
	rs := r[tp]
	n := len(rs)
	switch {
	case n > 0 && s.Offset >= rs[n-1][0] && s.Offset <= rs[n-1][1]:
	case n > 0 && s.Offset == rs[n-1][1]+1:
		rs[n-1][1] = s.Offset
	case n == 0 || s.Offset > rs[n-1][1]:
		r[tp] = append(rs, [2]int64{s.Offset, s.Offset})
	default:
		var offsets []int64
		for _, x := range rs {
			for o := x[0]; o <= x[1]; o++ {
				offsets = append(offsets, o)
			}
		}
		r[tp] = journal.Ranges(append(offsets, s.Offset))
	}
}

// A job's closing ranges, noted as settle and publish note them and sorted
// out at random hand-offs, are those the ranges rebuilt at each offset out
// of order were: offsets in order,
// out of order (grouped by row), repeated, in several partitions, after a
// resumed entry's published ranges.
func TestClosedRangesAsRebuilt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 2000 {
		want, noted := closedRanges{}, closedRanges{}
		if rng.IntN(4) == 0 { // a resumed entry's published events, ranges that touch too
			tp := topicPartition{"t", 0}
			published := [][2]int64{{0, 2}, {3, 3}, {7, 9}}
			want[tp], noted[tp] = slices.Clone(published), slices.Clone(published)
		}
		var sources []Source
		for n, next := 1+rng.IntN(200), int64(0); len(sources) < n; {
			row := 1 + rng.IntN(4) // a row's events, as Retry lays them out
			partition := int32(rng.IntN(3))
			for range row {
				switch rng.IntN(8) {
				case 0: // a gap (compacted away, or another job's)
					next += 1 + int64(rng.IntN(3))
				case 1: // back, into events noted before
					next = max(0, next-int64(rng.IntN(6)))
				}
				sources = append(sources, Source{Topic: "t", Partition: partition, Offset: next + int64(rng.IntN(5))})
				next++
			}
		}
		if round%2 == 0 {
			rng.Shuffle(len(sources), func(i, j int) { sources[i], sources[j] = sources[j], sources[i] })
		}
		for i, s := range sources {
			addRebuilding(want, s)
			noted.note(s)
			if rng.IntN(10) == 0 || i == len(sources)-1 {
				noted.sortOut()
				if !rangesEqual(noted, want) {
					t.Fatalf("round %d: after noting %v and sorting out: %v, want %v", round, sources[:i+1], noted, want)
				}
			}
		}
	}
}

// settle journals a follow-up job whose events come grouped by row, every
// other offset out of order, with the sorted, disjoint ranges of a journal
// entry: the first chunk's entry keeps the slice open with that chunk's
// offsets published, the last closes it with all of them.
func TestSettleSortsOutARetriedJobsRanges(t *testing.T) {
	const records = 3000 // two events each, apart by records offsets
	w, p, tp := settlePipeline(t, "retried-ranges", true)
	consumed := upserts(t, p.opts.Batch, tp, 2*records, records)
	defer consumed.Close()
	var byRow []int // the events of failed rows, as settle's retries and unfolds list them
	for _, row := range consumed.Rows {
		byRow = append(byRow, row.Events...)
	}
	retried, err := consumed.Retry(byRow, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := retried[0]
	defer b.Close()
	if len(retried) != 1 || len(b.Rows) != records || b.Events[1].Offset != records {
		t.Fatalf("the follow-up: %d buffers, %d rows, second event at offset %d; want 1, %d, %d", len(retried), len(b.Rows), b.Events[1].Offset, records, records)
	}

	const job = "750xx0000000001AAA"
	run := &jobRun{cl: p.owned.claim(b), started: time.Now(), lane: p.lane()}
	var firstChunk []int64
	outcomes := func(i int, o *outcome) error {
		src, err := b.Source(i, false)
		if err != nil {
			return err
		}
		if i < settleChunk {
			firstChunk = append(firstChunk, src.Offset)
		}
		*o = outcome{src: src, result: Result{Success: true, Object: "Account", Operation: "upsert", JobID: job, Attempts: 2, Source: sourceOf(&src)}}
		return nil
	}
	if _, err := p.settle(b, b, nil, outcomes, 2, run); err != nil {
		t.Fatal(err)
	}
	if err := p.drained(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	words := journalWords(t, w, job)
	if len(words) != 2 {
		t.Fatalf("the job's journal entries: %s, want open with the first chunk published, closed", journalSummary(words))
	}
	if e := words[0]; e.State != journal.Open || !slices.Equal(e.Published, journal.Ranges(firstChunk)) {
		t.Errorf("the first chunk's entry: %s, published %s; want open, published %s", journalSummary(words[:1]), head(e.Published), head(journal.Ranges(firstChunk)))
	}
	if e := words[1]; e.State != journal.Closed || !slices.Equal(e.Offsets, [][2]int64{{0, 2*records - 1}}) {
		t.Errorf("the last entry: %s, offsets %s; want closed [[0 %d]]", journalSummary(words[1:]), head(e.Offsets), 2*records-1)
	}
}

// head shows the first ranges of rs and how many there are.
func head(rs [][2]int64) string {
	return fmt.Sprintf("%v… (%d ranges)", rs[:min(len(rs), 4)], len(rs))
}

func rangesEqual(a, b closedRanges) bool {
	return maps.EqualFunc(a, b, slices.Equal[[][2]int64])
}

// BenchmarkClosedRanges measures settle's bookkeeping of the journal's
// ranges for a follow-up job of 150,000 events whose rows hold two
// coalesced events each, laid out grouped by row as batch.Buffer.Retry
// does: every other offset comes out of order. Each chunk's hand-off sorts
// the ranges out and clones them, as settle's flush does.
func BenchmarkClosedRanges(b *testing.B) {
	const events, apart = 150_000, 1000 // a row's two events are apart offsets apart
	order := make([]int64, 0, events)
	for block := int64(0); block < events; block += 2 * apart {
		for o := block; o < block+apart; o++ {
			order = append(order, o, o+apart)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		closing := closedRanges{}
		for i, o := range order {
			closing.note(Source{Topic: "t", Partition: 0, Offset: o})
			if (i+1)%settleChunk == 0 || i == len(order)-1 {
				closing.sortOut()
				_ = closing.clone()
			}
		}
	}
}
