package journal

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// layouts of a slice's events in their partition: every record, every
// other one (a tombstone or another object's event between two), and one
// record in ten at random.
var layouts = []struct {
	name string
	next func(r *rand.Rand, o int64) int64
}{
	{"dense", func(_ *rand.Rand, o int64) int64 { return o + 1 }},
	{"every_other", func(_ *rand.Rand, o int64) int64 { return o + 2 }},
	{"random_1_in_10", func(r *rand.Rand, o int64) int64 {
		for o++; r.IntN(10) != 0; o++ {
		}
		return o
	}},
}

// sparse returns the ranges of n events from offset first laid out by next.
func sparse(seed uint64, first int64, n int, next func(*rand.Rand, int64) int64) [][2]int64 {
	r := rand.New(rand.NewPCG(seed, 1))
	offsets := make([]int64, n)
	for i, o := 0, first; i < n; i, o = i+1, next(r, o) {
		offsets[i] = o
	}
	return Ranges(offsets)
}

func roundTrip(t *testing.T, e Entry) (Entry, string) {
	t.Helper()
	v := e.Record("j").Value
	var got Entry
	if err := json.Unmarshal(v, &got); err != nil {
		t.Fatalf("an entry written does not read: %v", err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("an entry reads back as another:\n%+v\nwant\n%+v", got, e)
	}
	return got, string(v)
}

// An entry of 150,000 events, its offsets and, as when its first chunk of
// results is out, its published ones: sparse ones take less than 2 bytes
// an event in each set, and such an entry fits in Kafka's default
// max.message.bytes (1048588). Pairs took about 20.
func TestSparseOffsetsAreCompact(t *testing.T) {
	const n = 150_000
	const first = 1_234_567_890 // ten digits, as in a partition with a long history
	most := map[string]float64{"dense": 0.01, "every_other": 0.34, "random_1_in_10": 1.7}
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			offsets := sparse(7, first, n, l.next)
			e := Entry{JobID: "7508c0000000001AAA", Object: "Account", Operation: "insert", Attempt: 1, Topic: "crm.accounts", State: Open, Offsets: offsets}
			_, v := roundTrip(t, e)
			pairs, _ := json.Marshal(offsets)
			perEvent := float64(len(v)) / n
			t.Logf("%s: %.3f bytes an event (%d bytes; pairs %.1f)", l.name, perEvent, len(v), float64(len(pairs))/n)
			if perEvent > most[l.name] {
				t.Errorf("%s offsets take %.3f bytes an event, want at most %.3f", l.name, perEvent, most[l.name])
			}
			e.Published = sparse(7, first, n-5000, l.next)
			if _, v = roundTrip(t, e); len(v) > 1048588-1024 {
				t.Errorf("an entry of %d events with published ones is %d bytes", n, len(v))
			}
		})
	}
}

// Offsets of a slice of one operation of one object are one range, or a
// few: they are written as pairs, which every version reads, up to 4 kB
// of pairs, as are sets that are not sorted and disjoint (kept as they
// are). Sets of every size and shape read back
// as they were.
func TestOffsetSetsReadBackAsWritten(t *testing.T) {
	small := Entry{JobID: "J", Topic: "t", State: Open, Offsets: [][2]int64{{1_000_000_000, 1_000_149_999}}, Published: [][2]int64{{1_000_000_000, 1_000_004_999}}}
	if _, v := roundTrip(t, small); v != `{"jobId":"J","topic":"t","partition":0,"state":"open","offsets":[[1000000000,1000149999]],"published":[[1000000000,1000004999]]}` {
		t.Errorf("a dense slice is written %s", v)
	}
	for _, n := range []int64{200, 400} { // offsets 1000 apart: pairs of 3.6 kB and 7.6 kB
		var apart [][2]int64
		for i := range n {
			apart = append(apart, [2]int64{i * 1000, i * 1000})
		}
		pairs, _ := json.Marshal(apart)
		_, v := roundTrip(t, Entry{Offsets: apart})
		if compact := strings.Contains(v, `"offsets":"runs:`); compact != (len(pairs) > compactAbove) {
			t.Errorf("%d offsets 1000 apart, pairs of %d bytes, are written %.60s…", n, len(pairs), v)
		}
	}
	unsorted := slicesRepeat([][2]int64{{5, 9}, {1, 2}}, 1000)
	roundTrip(t, Entry{Offsets: unsorted})
	r := rand.New(rand.NewPCG(3, 3))
	for range 500 {
		n := r.IntN(3000)
		first := r.Int64N(math.MaxInt64 / 2)
		if r.IntN(4) == 0 {
			first = r.Int64N(100)
		}
		l := layouts[r.IntN(len(layouts))]
		e := Entry{Offsets: sparse(r.Uint64(), first, n, func(r *rand.Rand, o int64) int64 { return l.next(r, o) + r.Int64N(3)*r.Int64N(300) })}
		if n > 0 {
			e.Published = e.Offsets[:r.IntN(len(e.Offsets))]
			if len(e.Published) == 0 {
				e.Published = nil
			}
		}
		roundTrip(t, e)
	}
	roundTrip(t, Entry{Offsets: [][2]int64{}}) // a slice closed empty
	for _, end := range []int64{math.MaxInt64 - 1, math.MaxInt64} {
		roundTrip(t, Entry{Offsets: sparse(1, end-2*999, 1000, layouts[1].next)})
	}
}

func slicesRepeat(s [][2]int64, n int) [][2]int64 {
	var out [][2]int64
	for range n {
		out = append(out, s...)
	}
	return out
}

// A compact set that is not one (bad base64, a prefix this version does
// not know, a varint cut short, offsets past the largest int64) is an
// error, which Read takes as an entry it cannot read.
func TestMalformedCompactOffsetsAreErrors(t *testing.T) {
	for _, offsets := range []string{
		`"runs:!!"`, `"gaps:AAk"`, `"runs:gA"`, `"runs:AP__________wE"`, `"bits:__________8B"`, `"bits:"`,
		`"bits:/v////////9/Ag"`, // the largest int64 past its first offset
		`7`,
	} {
		var e Entry
		if err := json.Unmarshal([]byte(`{"jobId":"J","topic":"t","state":"open","offsets":`+offsets+`}`), &e); err == nil {
			t.Errorf("offsets %s read as %v", offsets, e.Offsets)
		}
	}
}

// BenchmarkOffsetsJSON writes and reads the offsets of 150,000 events, and
// reports the bytes an event they take.
func BenchmarkOffsetsJSON(b *testing.B) {
	for _, l := range layouts {
		b.Run(l.name, func(b *testing.B) {
			e := Entry{JobID: "7508c0000000001AAA", Topic: "crm.accounts", State: Open, Offsets: sparse(7, 1_234_567_890, 150_000, l.next)}
			var size int
			for b.Loop() {
				v, err := json.Marshal(&e)
				if err != nil {
					b.Fatal(err)
				}
				var got Entry
				if err := json.Unmarshal(v, &got); err != nil {
					b.Fatal(err)
				}
				size = len(v)
			}
			b.ReportMetric(float64(size)/150_000, "bytes/event")
		})
	}
}

// In the Pairs form, an entry whose sets the Compact form writes compact
// is written as pairs only, as versions before the compact form read
// them, and reads back the same.
func TestPairsFormWritesOnlyPairs(t *testing.T) {
	offsets := sparse(3, 1_000, 10_000, func(r *rand.Rand, o int64) int64 { return o + 2 })
	e := Entry{JobID: "J", Topic: "t", State: Open, Offsets: offsets, Published: offsets[:len(offsets)/2]}
	if v := string(e.RecordAs("j", Compact).Value); !strings.Contains(v, `"offsets":"`) || !strings.Contains(v, `"published":"`) {
		t.Fatalf("the Compact form writes %.200s…, want both sets compact", v)
	}
	v := e.RecordAs("j", Pairs).Value
	var old struct { // an entry as versions before the compact form read it
		JobID     string     `json:"jobId"`
		Offsets   [][2]int64 `json:"offsets"`
		Published [][2]int64 `json:"published"`
	}
	if err := json.Unmarshal(v, &old); err != nil {
		t.Fatalf("the Pairs form writes what pairs do not read: %v", err)
	}
	if !reflect.DeepEqual(old.Offsets, e.Offsets) || !reflect.DeepEqual(old.Published, e.Published) {
		t.Fatal("the Pairs form's pairs are not the entry's offsets")
	}
	var got Entry
	if err := json.Unmarshal(v, &got); err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("the Pairs form reads back as %+v (%v)", got.JobID, err)
	}
}
