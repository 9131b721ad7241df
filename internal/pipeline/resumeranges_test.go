package pipeline

import (
	"context"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// What the plan says of each offset, settled from random words (ranges of
// open entries of random ranks, and of passed over events, overlapping)
// and then taken in offset order (with gaps, repeats, offsets of no word),
// against a map of every offset: settle gives each offset the word of the
// highest rank holding it, and take finds it once, as the map would, and
// tells each attached offset it passes without its event as gone, so that
// an attachment's offsets taken and gone add up to all of them. It fails
// when settle lets a lower rank win, take skips a range, or an offset gone
// is not told (an attachment would wait for ever).
func TestJournaledAgainstAMap(t *testing.T) {
	for seed := range uint64(500) {
		r := rand.New(rand.NewPCG(seed, 2))
		opens := 1 + r.IntN(5)
		attachments := make([]*attachment, opens)
		for i := range attachments {
			attachments[i] = &attachment{}
		}
		var words []word
		model := map[int64]int{} // offset: the highest rank holding it
		for range r.IntN(12) {
			first := r.Int64N(200)
			w := word{first, first + r.Int64N(30), passedOver}
			if r.IntN(3) > 0 {
				w.rank = r.IntN(opens)
			}
			words = append(words, w)
			for o := w.first; o <= w.last; o++ {
				if rank, ok := model[o]; !ok || w.rank > rank {
					model[o] = w.rank
				}
			}
		}
		j := &journaled{}
		for _, w := range settle(words) {
			var a *attachment
			if w.rank != passedOver {
				a = attachments[w.rank]
			}
			if n := len(j.ranges); n > 0 && j.ranges[n-1].last >= w.first {
				t.Fatalf("seed %d: ranges %v out of order", seed, j.ranges)
			}
			j.ranges = append(j.ranges, journaledRange{w.first, w.last, a})
		}
		attached := map[*attachment]int64{} // offsets of each, taken or gone
		for _, rank := range model {
			if rank != passedOver {
				attached[attachments[rank]]++
			}
		}
		counted := map[*attachment]int64{}
		gone := func(a *attachment, n int64) { counted[a] += n }
		for o := int64(0); o < 240; o += step(r) {
			a, ok := j.take(o, gone)
			rank, want := model[o]
			delete(model, o)
			switch {
			case ok != want:
				t.Fatalf("seed %d: offset %d taken %v, want %v", seed, o, ok, want)
			case ok && rank == passedOver && a != nil, ok && rank != passedOver && a != attachments[rank]:
				t.Fatalf("seed %d: offset %d is of the wrong word", seed, o)
			}
			if ok && a != nil {
				counted[a]++
			}
		}
		if _, ok := j.take(1000, gone); ok || !j.done() { // past every range: the rest is gone
			t.Fatalf("seed %d: an offset past every range is taken (%v), or ranges are left (done %v)", seed, ok, j.done())
		}
		if !maps.Equal(counted, attached) {
			t.Fatalf("seed %d: offsets taken or gone by attachment %v, want %v", seed, counted, attached)
		}
	}
}

// step is the distance to the next offset consumed: 0 (a repeat), 1, or
// more (a gap, at times past several ranges).
func step(r *rand.Rand) int64 {
	if r.IntN(8) == 0 {
		return r.Int64N(40)
	}
	return r.Int64N(3)
}

// planUncommitted makes the plan of partition 0 of crm.accounts for group,
// which has committed an offset of crm.other only (a plan is made for a
// member of the group, which exists), with start as StartOffset, and the
// bytes it took.
func planUncommitted(t *testing.T, w *world, group string, start kgo.Offset) (*plan, uint64) {
	t.Helper()
	opts := w.options(group, insertRoute)
	opts.Journal, opts.StartOffset = testJournal, start
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var other kadm.Offsets
	other.Add(kadm.Offset{Topic: "crm.other", Partition: 0, At: 0, LeaderEpoch: -1})
	if err := kadm.NewClient(w.client()).CommitAllOffsets(context.Background(), opts.Group, other); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	pl, err := p.makePlan(context.Background(), w.client(), map[string][]int32{"crm.accounts": {0}})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	return pl, after.TotalAlloc - before.TotalAlloc
}

// An open entry and a closed one each claim every offset there is, on a
// partition of 300,000 records of which nothing is committed: the plan
// holds their word as one range of the partition, and takes about as
// much memory as one of a single offset. Before, it held each offset of
// the partition in maps (40 MB here, 130 bytes an offset): an entry of a
// few bytes, or a slice of 10,000,000 events written compact, took
// gigabytes on a partition of billions of records.
func TestHostileEntryOnAnUncommittedPartitionCostsItsRanges(t *testing.T) {
	const n = 300_000
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts", "crm.other")
	w.fill(n)
	entry := func(job, state string, last int64) journal.Entry {
		return journal.Entry{JobID: job, Object: "Account", Operation: "insert", Attempt: 1, Topic: "crm.accounts", State: state,
			Offsets: [][2]int64{{0, last}}}
	}
	writeJournal(t, w, entry("A", journal.Open, 0))
	_, small := planUncommitted(t, w, "hostile-baseline", kgo.NewOffset().AtStart())
	writeJournal(t, w, entry("A", journal.Open, math.MaxInt64-1), entry("B", journal.Closed, math.MaxInt64-1), entry("C", journal.Open, math.MaxInt64-1))
	pl, took := planUncommitted(t, w, "hostile", kgo.NewOffset().AtStart())
	if got, jobs := passedOverIn(pl, topicPartition{"crm.accounts", 0}), attached(pl); len(got) != n || len(jobs) != 0 {
		t.Fatalf("%d events passed over and %d jobs attached, want %d and none", len(got), len(jobs), n)
	}
	if took > small+8<<20 { // a kgo client's buffers vary by a few MB

		t.Errorf("the plan of entries claiming every offset of %d records took %d bytes, one of one offset %d", n, took, small)
	}
}

// A partition with nothing committed is consumed from where StartOffset
// says, and the plan attaches and passes over nothing before it: from the
// partition's start (its first 40 records are deleted) for the earliest
// record, nothing for the latest (every event of the journal is below the
// end). Before, the plan cut at offset 0, and the attachment waited for
// ever for events deleted, never consumed.
func TestPlanOfAnUncommittedPartitionStartsWhereItsConsumptionDoes(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts", "crm.other")
	w.fill(100)
	var below kadm.Offsets
	below.Add(kadm.Offset{Topic: "crm.accounts", Partition: 0, At: 40})
	deleted, err := kadm.NewClient(w.client()).DeleteRecords(context.Background(), below)
	if err == nil {
		err = deleted.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	writeJournal(t, w,
		journal.Entry{JobID: "A", Object: "Account", Operation: "insert", Attempt: 1, Topic: "crm.accounts", State: journal.Open,
			Offsets: [][2]int64{{0, 59}}, Published: [][2]int64{{30, 49}}},
	)
	pl, _ := planUncommitted(t, w, "earliest", kgo.NewOffset().AtStart())
	if got, want := attached(pl), map[string]map[int64]bool{"A": offsetSet([2]int64{50, 59})}; !reflect.DeepEqual(got, want) {
		t.Errorf("from the earliest record, attachments wait for\n%v\nwant\n%v", got, want)
	}
	if got, want := passedOverIn(pl, topicPartition{"crm.accounts", 0}), offsetSet([2]int64{40, 49}); !reflect.DeepEqual(got, want) {
		t.Errorf("from the earliest record, events passed over: %v, want %v", got, want)
	}
	pl, _ = planUncommitted(t, w, "latest", kgo.NewOffset().AtEnd())
	if len(pl.journaled) != 0 || len(pl.attach) != 0 {
		t.Errorf("from the latest record, the plan says %v of partitions and attaches %d jobs, want nothing", pl.journaled, len(pl.attach))
	}
}

// passedOverIn returns the offsets of tp that pl passes over.
func passedOverIn(pl *plan, tp topicPartition) map[int64]bool {
	var got map[int64]bool
	if j := pl.journaled[tp]; j != nil {
		for _, r := range j.ranges {
			if r.a == nil {
				got = joined(got, r)
			}
		}
	}
	return got
}

// joined returns set with the offsets of r added.
func joined(set map[int64]bool, r journaledRange) map[int64]bool {
	if set == nil {
		set = map[int64]bool{}
	}
	for o := r.first; o <= r.last; o++ {
		set[o] = true
	}
	return set
}
