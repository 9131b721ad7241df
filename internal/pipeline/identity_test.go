package pipeline

import (
	"fmt"
	"runtime"
	"testing"
)

// The id cache costs what the README says per entry (about 250 bytes with
// external ids of 20-odd characters), and an entry keeps only its own Id,
// not the result line it was read from.
func TestIDCacheEntrySize(t *testing.T) {
	const n = 100_000
	per := int64(0)
	for range 3 { // the largest of three: garbage of the test itself can only hide bytes
		per = max(per, idCacheBytes(t, n)/n)
	}
	t.Logf("%d bytes per entry", per)
	if per > 320 {
		t.Fatalf("%d bytes per id cache entry; the README says about 250", per)
	}
}

// idCacheBytes is the heap that a cache of n entries holds.
func idCacheBytes(t *testing.T, n int) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	ids := newIdentities(n)
	for i := range n {
		line := fmt.Sprintf("001%012dAAA,true,%0200d", i, 0) // a result line: the Id is a slice of it
		ids.learn("Account", line[:18], fmt.Sprintf("Account/external_id__c=r-%d", i))
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if ids.order.Len() != n {
		t.Fatalf("%d entries, want %d", ids.order.Len(), n)
	}
	runtime.KeepAlive(ids)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}
