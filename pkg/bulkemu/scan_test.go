package bulkemu

import (
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// An upsert whose one row has a Name of 2,000,000 line breaks (a quoted
// cell) makes room for its rows by a capped guess, not one row and key a
// line break: 96 MB for this upload, gigabytes for one of 100 MB. The row
// is still one row.
func TestLineBreaksInACellAreNotRows(t *testing.T) {
	o := newOrg(t, Options{})
	csv := "External_Id__c,Name\nX-1,\"" + strings.Repeat("\n", 2_000_000) + "\"\n"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, info := o.load(`{"object":"Account","operation":"upsert","externalIdFieldName":"External_Id__c"}`, csv)
	runtime.ReadMemStats(&after)
	if info["numberRecordsProcessed"].(float64) != 1 {
		t.Fatalf("job %v, want one row processed", info)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("the job allocated %d MB for an upload of 2 MB", grew>>20)
	}
}

// A row's outcome, kept for every row of a job until the job is deleted,
// takes 16 bytes: a failed row's error is kept apart, since most rows have
// none (as a string in each outcome, it took 32).
func TestRowOutcomeTakes16Bytes(t *testing.T) {
	if size := unsafe.Sizeof(rowResult{}); size != 16 {
		t.Fatalf("rowResult takes %d bytes", size)
	}
}
