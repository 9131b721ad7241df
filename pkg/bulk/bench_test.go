package bulk_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// generatedCSV returns about size bytes of Account rows.
func generatedCSV(size int) []byte {
	var b bytes.Buffer
	b.Grow(size + 256)
	b.WriteString("Name,External_Id__c,Industry,AnnualRevenue,NumberOfEmployees,Phone,Website,Description\n")
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "Account %d,ext-%d,Technology,%d.50,%d,+1-555-%04d,https://example.com/%d,\"A description, with a comma, for row %d\"\n",
			i, i, i*1000, i%5000, i%10000, i, i)
	}
	return b.Bytes()
}

// BenchmarkUpload streams a 10 MB CSV to an ingest job of the emulator,
// as it is and gzip-compressed. In the "emulator" runs the allocations
// include the emulator's own copy of the upload; in the "drained" runs the
// emulator reads the body and drops it, which leaves what the client
// allocates.
//
//	go test -run x -bench Upload -benchmem ./pkg/bulk/
func BenchmarkUpload(b *testing.B) {
	data := generatedCSV(10 << 20)
	for _, server := range []string{"emulator", "drained"} {
		for _, gz := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/gzip=%v", server, gz), func(b *testing.B) {
				o := newOrg(b, bulkemu.Options{})
				if server == "drained" {
					o.wire.setIntercept(func(w http.ResponseWriter, r *http.Request) bool {
						if r.Method != http.MethodPut {
							return false
						}
						io.Copy(io.Discard, r.Body)
						w.WriteHeader(http.StatusCreated)
						return true
					})
				}
				c := o.client(b, bulk.WithGzipUpload(gz))
				ctx := testContext(b)
				r := bytes.NewReader(data)
				b.SetBytes(int64(len(data)))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					job, err := c.CreateIngestJob(ctx, bulk.IngestJobSpec{Object: "Account", Operation: bulk.OpInsert})
					if err != nil {
						b.Fatal(err)
					}
					r.Reset(data)
					b.StartTimer()
					if err := c.UploadJobData(ctx, job.ID, r); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if _, err := c.AbortIngestJob(ctx, job.ID); err != nil {
						b.Fatal(err)
					}
					if err := c.DeleteIngestJob(ctx, job.ID); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
		}
	}
}
