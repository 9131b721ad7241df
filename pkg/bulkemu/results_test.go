package bulkemu

import (
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestAppendQuotedRowAsItsCells checks the values a result file writes of
// each row, quoted, and the cells rowCells finds again (from the row's
// outcome as scan makes it, and from one that leaves plain unset), against
// those of the row's cells as the reader first found them, on random rows
// with quoted cells (quotes, delimiters and line breaks in them) and
// without (spaces, carriage returns, non-ASCII, empty cells), with both
// delimiters a job may have of one byte.
func TestAppendQuotedRowAsItsCells(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, delim := range []byte{',', '|'} {
		var csv strings.Builder
		csv.WriteString("H\n")
		for r := 0; r < 2000; r++ {
			quoted := rng.IntN(3) == 0
			for c, n := 0, 1+rng.IntN(5); c < n; c++ {
				if c > 0 {
					csv.WriteByte(delim)
				}
				if quoted && rng.IntN(2) == 0 {
					csv.WriteByte('"')
					for k := rng.IntN(6); k > 0; k-- {
						csv.WriteString([]string{"a", `""`, string(delim), "\n", "é"}[rng.IntN(5)])
					}
					csv.WriteByte('"')
					continue
				}
				for k := rng.IntN(6); k > 0; k-- {
					csv.WriteString([]string{"a", "Z", " ", "\r", "é"}[rng.IntN(5)])
				}
				csv.WriteByte('x') // no CR before the line's LF
			}
			csv.WriteByte('\n')
		}
		data := &ingestData{csv: []byte(csv.String())}
		r := newCSVReader(data.csv, delim, false)
		if _, _, _, err := r.next(nil); err != nil {
			t.Fatal(err)
		}
		rows := 0
		for ; ; rows++ {
			cells, start, end, err := r.nextCells(nil)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			for k, c := range cells {
				if k > 0 {
					want = append(want, delim)
				}
				want = append(append(append(want, '"'), data.csv[c.start:c.end]...), '"')
			}
			rr := rowResult{start: uint32(start), end: uint32(end), plain: !r.lastQuoted}
			if r.lastQuoted != strings.Contains(string(data.csv[start:end]), `"`) {
				t.Fatalf("row %q: quoted %v", data.csv[start:end], r.lastQuoted)
			}
			got, _ := appendQuotedRow(nil, data, rr, delim, false, nil)
			if string(got) != string(want) {
				t.Fatalf("row %q: %q, want %q", data.csv[start:end], got, want)
			}
			if again := rowCells(data, rr, delim, false, nil); !slices.Equal(again, cells) {
				t.Fatalf("row %q: cells %v found again as %v", data.csv[start:end], cells, again)
			}
			// An outcome that does not say the row is plain is parsed.
			if again := rowCells(data, rowResult{start: rr.start, end: rr.end}, delim, false, nil); !slices.Equal(again, cells) {
				t.Fatalf("row %q without plain: cells %v found again as %v", data.csv[start:end], cells, again)
			}
		}
		if rows != 2000 {
			t.Fatalf("%d rows", rows)
		}
	}
}

// TestResultsOfAJobAbortedWhileRunning asks for the result files of jobs
// aborted right after they were closed, while their upload is scanned or
// their batches run: the files must be read only once processing has
// stopped writing the rows' outcomes. Each row is then in one file, and
// the successful ones are the rows the job counts as processed. Without
// the wait, the race detector failed every run, and most runs failed
// without it too (rows missing, or not yet counted).
func TestResultsOfAJobAbortedWhileRunning(t *testing.T) {
	const rows = 20_000 // a second's work at RowsPerSecond
	o := newOrg(t, Options{BatchSize: 200, Faults: Faults{RowsPerSecond: 20000}})
	csv := accountsCSV(rows, "R")
	for range 3 {
		id := o.createJob(`{"object":"Account","operation":"insert"}`)
		o.do("PUT", "/jobs/ingest/"+id+"/batches", "text/csv", csv)
		o.do("PATCH", "/jobs/ingest/"+id, "application/json", `{"state":"UploadComplete"}`)
		if r := o.do("PATCH", "/jobs/ingest/"+id, "application/json", `{"state":"Aborted"}`); r.status != http.StatusOK {
			t.Fatalf("abort: %d %s; the job must still run when it is aborted", r.status, r.body)
		}
		succeeded := strings.Count(o.results(id, "successfulResults"), "\n") - 1
		unprocessed := strings.Count(o.results(id, "unprocessedrecords"), "\n") - 1
		processed := o.do("GET", "/jobs/ingest/"+id, "", "").json(t)["numberRecordsProcessed"]
		if succeeded+unprocessed != rows || processed != float64(succeeded) {
			t.Fatalf("%d rows successful, %d unprocessed, %v processed; want %d in all, the successful processed", succeeded, unprocessed, processed, rows)
		}
	}
}
