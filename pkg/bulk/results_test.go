package bulk_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// With ReuseValues, each row's Values are what Next returns without it, in
// the slice of the row before (without it, in a new slice each row), and
// the strings read of a row, its ID and Values, outlive the rows after it.
func TestReuseValuesReadsTheSameRows(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	job := load(t, c, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpUpsert, ExternalIDFieldName: "External_Id__c"},
		strings.NewReader(accounts("reuse", 300)))
	want := readResults(t, c.SuccessfulResults, job)
	if len(want) != 300 {
		t.Fatalf("%d results, want 300", len(want))
	}
	for i := 1; i < len(want); i++ {
		if len(want[i].Values) == 0 || &want[i].Values[0] == &want[i-1].Values[0] {
			t.Fatalf("without ReuseValues, rows %d and %d share their Values: %q", i-1, i, want[i].Values)
		}
	}
	r, err := c.SuccessfulResults(testContext(t), job)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.ReuseValues()
	var ids []string
	var values [][]string // the strings of each row's Values, outside the reused slice
	var prev []string
	for i := 0; ; i++ {
		res, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(want) || res.ID != want[i].ID || res.Created != want[i].Created || !slices.Equal(res.Values, want[i].Values) ||
			!slices.Equal(res.Header().Names(), want[i].Header().Names()) {
			t.Fatalf("row %d with ReuseValues: %+v, without: %+v", i, res, want[min(i, len(want)-1)])
		}
		if i > 0 && &res.Values[0] != &prev[0] {
			t.Fatalf("row %d with ReuseValues: its Values are a new slice, not the one of row %d", i, i-1)
		}
		prev = res.Values
		ids = append(ids, res.ID)
		values = append(values, slices.Clone(res.Values))
	}
	for i, id := range ids {
		if id != want[i].ID || !slices.Equal(values[i], want[i].Values) {
			t.Fatalf("row %d = %q %q after the rows that followed it, want %q %q", i, id, values[i], want[i].ID, want[i].Values)
		}
	}
}

// With BorrowStrings, every result file reads as it does without it (each
// row copied at once, as a caller keeping it must), and reading makes no
// allocation a row: the rows' strings are the reader's bytes.
func TestBorrowStringsReadsTheSameRows(t *testing.T) {
	const rows = 2000
	o := newOrg(t, bulkemu.Options{Faults: bulkemu.Faults{Seed: 3, LockErrorRate: 0.2, UnprocessedRate: 0.1}})
	c := o.client(t)
	job := load(t, c, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpUpsert, ExternalIDFieldName: "External_Id__c"},
		strings.NewReader(accounts("borrow", rows)))
	files := map[string]func(context.Context, *bulk.JobInfo) (*bulk.ResultReader, error){
		"successful": c.SuccessfulResults, "failed": c.FailedResults, "unprocessed": c.UnprocessedRecords,
	}
	for name, open := range files {
		want := readResults(t, open, job)
		if len(want) == 0 {
			t.Fatalf("no %s results; the faults should leave some", name)
		}
		read := func(keep func(bulk.Result)) {
			r, err := open(testContext(t), job)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			r.BorrowStrings()
			for {
				res, err := r.Next()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				keep(res)
			}
		}
		var got []bulk.Result
		read(func(res bulk.Result) { got = append(got, cloneResult(res)) })
		if len(got) != len(want) {
			t.Fatalf("%s: %d rows with BorrowStrings, %d without", name, len(got), len(want))
		}
		for i := range want {
			if !sameResult(got[i], want[i]) {
				t.Fatalf("%s row %d with BorrowStrings: %+v (error %+v), without: %+v (error %+v)", name, i, got[i], got[i].Err, want[i], want[i].Err)
			}
		}
		// Reading alone: the request and response, a few a file; an error
		// is parsed into a RowError of its own.
		failed := 0
		allocs := testing.AllocsPerRun(1, func() {
			failed = 0
			read(func(res bulk.Result) {
				if res.Err != nil {
					failed++
				}
			})
		})
		if a := int(allocs) - 2*failed; a > 200 {
			t.Errorf("%s: reading %d rows with BorrowStrings took %.0f allocations (%d rows failed), want a few a file", name, len(want), allocs, failed)
		}
	}
}

// cloneResult copies every string of res out of the reader's bytes.
func cloneResult(res bulk.Result) bulk.Result {
	res.ID = strings.Clone(res.ID)
	res.Values = slices.Clone(res.Values)
	for i, v := range res.Values {
		res.Values[i] = strings.Clone(v)
	}
	if res.Err != nil {
		e := *res.Err
		e.Code, e.Message = strings.Clone(e.Code), strings.Clone(e.Message)
		e.Fields = slices.Clone(e.Fields)
		for i, f := range e.Fields {
			e.Fields[i] = strings.Clone(f)
		}
		res.Err = &e
	}
	return res
}

// sameResult tells whether a and b say the same.
func sameResult(a, b bulk.Result) bool {
	if a.ID != b.ID || a.Created != b.Created || !slices.Equal(a.Values, b.Values) || !slices.Equal(a.Header().Names(), b.Header().Names()) {
		return false
	}
	if a.Err == nil || b.Err == nil {
		return a.Err == b.Err
	}
	return a.Err.Code == b.Err.Code && a.Err.Message == b.Err.Message && slices.Equal(a.Err.Fields, b.Err.Fields)
}
