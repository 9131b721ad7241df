package bulkemu

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestDuplicateRowsAgainstAMap checks duplicateRows against counting the
// keys in a map, on jobs where keys repeat often, rarely or never, with
// rows without a key among them.
func TestDuplicateRowsAgainstAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 63, 64, 65, 1000, 30_000} {
		for _, distinct := range []int{1, 10, n/2 + 1, 4 * n} {
			keys := make([]string, n)
			count := map[string]int{}
			for i := range keys {
				if rng.IntN(10) > 0 {
					keys[i] = fmt.Sprintf("k-%d", rng.IntN(distinct+1))
					count[keys[i]]++
				}
			}
			dup := duplicateRows(keys)
			if len(dup) != n {
				t.Fatalf("n=%d: %d results", n, len(dup))
			}
			for i, k := range keys {
				if want := k != "" && count[k] > 1; dup[i] != want {
					t.Fatalf("n=%d distinct=%d: row %d key %q: duplicate %v, want %v", n, distinct, i, k, dup[i], want)
				}
			}
		}
	}
	if duplicateRows(nil) != nil {
		t.Fatal("a job without keys has duplicates")
	}
}
