package batch

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// A recordIndex answers as a map of record keys to rows does, through its
// growth from empty and from a given room, and after a reset; a key given
// as bytes is found as the same key given as a string. With 150,000 keys,
// some share their 32-bit tag (about 2.6 pairs on average), so a hit is
// told from a tag collision by the row's key.
func TestRecordIndexAgainstAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := recordIndex{}
	for round, start := range []string{"empty", "room for 10", "reset"} {
		switch round {
		case 1:
			x = newRecordIndex(10)
		case 2:
			x.reset()
		}
		var rows []Row
		model := map[string]int{}
		for i := range 300_000 {
			key := fmt.Sprintf("external_id__c=k-%d", rng.IntN(150_000))
			row, ok, p := x.find(rows, key)
			want, wantOK := model[key]
			if ok != wantOK || ok && row != want {
				t.Fatalf("%s, step %d: find(%q) = %d, %v; want %d, %v", start, i, key, row, ok, want, wantOK)
			}
			if br, bok := x.findBytes(rows, []byte(key)); br != row || bok != ok {
				t.Fatalf("%s, step %d: findBytes(%q) = %d, %v; find says %d, %v", start, i, key, br, bok, row, ok)
			}
			if !ok {
				rows = append(rows, Row{RecordKey: key})
				x.put(p, len(rows)-1)
				model[key] = len(rows) - 1
			}
		}
		if x.n != len(model) {
			t.Fatalf("%s: %d keys held, want %d", start, x.n, len(model))
		}
		if len(x.slots)*3 < x.n*4 {
			t.Fatalf("%s: %d keys in %d slots, over three quarters", start, x.n, len(x.slots))
		}
	}
	x.reset()
	if _, ok, _ := x.find([]Row{{RecordKey: "external_id__c=k-1"}}, "external_id__c=k-1"); ok || x.n != 0 {
		t.Fatalf("after a reset, a key is found (%v) or keys are held (%d)", ok, x.n)
	}
}

// BenchmarkRecordIndex finds and indexes 30,000 new record keys, as a
// buffer of distinct upserts does.
//
//	go test -run '^$' -bench RecordIndex -benchmem ./internal/batch/
func BenchmarkRecordIndex(b *testing.B) {
	const n = 30_000
	rows := make([]Row, n)
	for i := range rows {
		rows[i].RecordKey = fmt.Sprintf("external_id__c=bench-%08d", i)
	}
	x := newRecordIndex(n)
	for b.Loop() {
		x.reset()
		for i := range rows {
			if _, ok, p := x.find(rows, rows[i].RecordKey); !ok {
				x.put(p, i)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
}
