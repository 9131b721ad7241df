package bulk_test

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// With ReuseValues, each row's Values are what Next returns without it, and
// its ID outlives the rows after it.
func TestReuseValuesReadsTheSameRows(t *testing.T) {
	o := newOrg(t, bulkemu.Options{})
	c := o.client(t)
	job := load(t, c, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpUpsert, ExternalIDFieldName: "External_Id__c"},
		strings.NewReader(accounts("reuse", 300)))
	want := readResults(t, c.SuccessfulResults, job)
	if len(want) != 300 {
		t.Fatalf("%d results, want 300", len(want))
	}
	r, err := c.SuccessfulResults(testContext(t), job)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.ReuseValues()
	var ids []string
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
		ids = append(ids, res.ID)
	}
	for i, id := range ids {
		if id != want[i].ID {
			t.Fatalf("ID of row %d = %q after the rows that followed it, want %q", i, id, want[i].ID)
		}
	}
}
