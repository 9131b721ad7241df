package bulk_test

import (
	"io"
	"strings"
	"testing"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// BenchmarkResultReader reads the successful results of a job of 10,000
// upserted accounts: copying each row, with ReuseValues, and with
// BorrowStrings; bytes and allocations include the HTTP response's.
//
//	go test -run x -bench ResultReader -benchmem ./pkg/bulk/
func BenchmarkResultReader(b *testing.B) {
	const rows = 10_000
	o := newOrg(b, bulkemu.Options{})
	c := o.client(b)
	job := load(b, c, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpUpsert, ExternalIDFieldName: "External_Id__c"},
		strings.NewReader(accounts("bench", rows)))
	for _, mode := range []string{"copy", "reuse", "borrow"} {
		b.Run(mode, func(b *testing.B) {
			ctx := testContext(b)
			b.ReportAllocs()
			for b.Loop() {
				r, err := c.SuccessfulResults(ctx, job)
				if err != nil {
					b.Fatal(err)
				}
				switch mode {
				case "reuse":
					r.ReuseValues()
				case "borrow":
					r.BorrowStrings()
				}
				n := 0
				for ; ; n++ {
					if _, err := r.Next(); err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
				}
				r.Close()
				if n != rows {
					b.Fatalf("%d rows, want %d", n, rows)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	}
}
