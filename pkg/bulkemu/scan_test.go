package bulkemu

import (
	"fmt"
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

// scan folds the upsert key of each row into pages of keyPage bytes; a key
// keeps its value whatever comes after it: keys over several pages, keys
// that folding lengthens ("İ" is two bytes, its lower case three) past the
// end of a page, quoted keys, and rows without one.
func TestScanFoldsEachRowsKey(t *testing.T) {
	e := New(Options{})
	defer e.Close()
	account := e.schema.Object("Account")
	j := &job{object: account, operation: "upsert", externalID: account.Field("External_Id__c"), delimiter: "COMMA", lineEnding: "LF"}
	var (
		csv  strings.Builder
		want []string
	)
	csv.WriteString("Name,External_Id__c\n")
	for i := 0; len(want) < 3*keyPage/16; i++ {
		var key string
		switch i % 4 {
		case 0:
			key = fmt.Sprintf("Key-%09d", i)
		case 1:
			key = strings.Repeat("İ", 300+i%200) + fmt.Sprint(i)
		case 2:
			key = fmt.Sprintf(`"Q""%d"`, i)
		}
		fmt.Fprintf(&csv, "N%d,%s\n", i, key)
		switch {
		case i%4 == 2:
			want = append(want, foldKey(fmt.Sprintf(`Q"%d`, i)))
		default:
			want = append(want, foldKey(key))
		}
	}
	_, keys, err := e.scan(j, &ingestData{csv: []byte(csv.String())}, ',', false)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(want) {
		t.Fatalf("%d keys, want %d", len(keys), len(want))
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("row %d: key %.40q, want %.40q", i, keys[i], want[i])
		}
	}
}
