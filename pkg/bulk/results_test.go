package bulk_test

import (
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
