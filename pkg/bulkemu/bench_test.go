package bulkemu

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkInsertJob measures a whole insert job of 100,000 Accounts over
// HTTP: create, upload, close, processing, and reading the successful
// results. It reports rows per second.
func BenchmarkInsertJob(b *testing.B) {
	const rows = 100_000
	o := newOrg(b, Options{})
	csvs := make([]string, b.N)
	for i := range csvs {
		csvs[i] = accountRowsCSV(rows, fmt.Sprintf("B%d", i))
	}
	b.SetBytes(int64(len(csvs[0])))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id, info := o.load(`{"object":"Account","operation":"insert"}`, csvs[i])
		if info["numberRecordsFailed"] != 0.0 {
			b.Fatalf("failed rows: %v", info)
		}
		o.results(id, "successfulResults")
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// accountRowsCSV makes n Accounts with a few typical fields.
func accountRowsCSV(n int, prefix string) string {
	var sb strings.Builder
	sb.Grow(n * 80)
	sb.WriteString("Name,External_Id__c,Industry,AnnualRevenue,NumberOfEmployees,Phone\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "Account %s %d,%s-%d,Energy,%d.5,%d,+1 555 %07d\n", prefix, i, prefix, i, i*10, i%5000, i)
	}
	return sb.String()
}

// TestMillionAccountsFitInAGigabyte loads 1,000,000 Accounts through the
// HTTP API in ten jobs and checks that the emulator's live heap stays under
// 1 GiB with every record, upload and result kept.
func TestMillionAccountsFitInAGigabyte(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("loads a million rows; measures memory, which the race detector inflates")
	}
	o := newOrg(t, Options{})
	for i := 0; i < 10; i++ {
		_, info := o.load(`{"object":"Account","operation":"insert"}`, accountRowsCSV(100_000, fmt.Sprintf("M%d", i)))
		if info["numberRecordsFailed"] != 0.0 || info["numberRecordsProcessed"] != 100000.0 {
			t.Fatalf("job %d: %v", i, info)
		}
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	t.Logf("1,000,000 Accounts: heap in use %d MiB", m.HeapInuse>>20)
	if m.HeapInuse > 1<<30 {
		t.Fatalf("heap in use %d MiB, want under 1024", m.HeapInuse>>20)
	}
	if n := len(o.emu.store.tables[o.emu.schema.Object("Account")].rows); n != 1_000_000 {
		t.Fatalf("%d records", n)
	}
}
