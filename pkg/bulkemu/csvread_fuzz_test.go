package bulkemu

import (
	"bytes"
	"io"
	"slices"
	"testing"
)

// FuzzCSVReader feeds arbitrary uploads to the CSV reader. It must never
// panic, every record's byte range must lie inside the data, a record
// written back with every value quoted must read back to the same values,
// and the cells of a record, copied between quotes as result files copy
// them, must give the same bytes as its values quoted. A reader that
// reports at most two cells of a record (as scan reads rows) must find the
// same records, the same errors, and the first two of their cells. Both
// must say of each record whether it holds a quote (lastQuoted), which
// decides whether its row is split at its delimiters or parsed again.
func FuzzCSVReader(f *testing.F) {
	for _, seed := range []string{
		"Name,Phone\nAcme,555\n",
		"\"a,b\",\"say \"\"hi\"\"\"\r\n\"multi\nline\",x\r\n",
		"a;b\n\n\nc;d",
		"\"unterminated\n",
		"a\"b\n",
		"\"x\" ,y\n",
		"\ufeffName\n",
		"",
	} {
		f.Add([]byte(seed), byte(','), false)
		f.Add([]byte(seed), byte(';'), true)
	}
	// Records of three cells, delimited by delims[0], a comma.
	f.Add([]byte("Name,Phone,City\nAcme,555,Springfield\n\"Beta\",1,x\n"), byte(0), false)
	f.Fuzz(func(t *testing.T, data []byte, delimSeed byte, crlf bool) {
		delims := []byte{',', ';', '|', '^', '`', '\t'}
		delim := delims[int(delimSeed)%len(delims)]
		r := newCSVReader(data, delim, crlf)
		cr := newCSVReader(data, delim, crlf)
		lr := newCSVReader(data, delim, crlf)
		lr.upTo = 2
		var (
			fields []string
			cells  []cell
			first  []cell
		)
		for i := 0; i < len(data)+1; i++ {
			var (
				start, end int
				err        error
			)
			fields, start, end, err = r.next(fields)
			var lStart, lEnd int
			var lErr error
			first, lStart, lEnd, lErr = lr.nextCells(first)
			if lStart != start || lEnd != end || (lErr == nil) != (err == nil) || lErr == io.EOF != (err == io.EOF) {
				t.Fatalf("reading two cells: [%d,%d) %v, reading all: [%d,%d) %v", lStart, lEnd, lErr, start, end, err)
			}
			if lErr != nil && err != nil && lErr.Error() != err.Error() {
				t.Fatalf("reading two cells: %v, reading all: %v", lErr, err)
			}
			if err != nil { // io.EOF or the error both readers stop at
				return
			}
			if start < 0 || end < start || end > len(data) {
				t.Fatalf("record range [%d,%d) outside %d bytes", start, end, len(data))
			}
			if hasQuote := bytes.IndexByte(data[start:end], '"') >= 0; r.lastQuoted != hasQuote || lr.lastQuoted != hasQuote {
				t.Fatalf("record %q: lastQuoted %v (two cells: %v), holds a quote %v", data[start:end], r.lastQuoted, lr.lastQuoted, hasQuote)
			}
			quoted := appendQuoted(nil, delim, fields...)
			if cells, _, _, err = cr.nextCells(cells); err != nil {
				t.Fatalf("cells of a record that reads as values: %v", err)
			}
			var copied []byte
			for k, c := range cells {
				if k > 0 {
					copied = append(copied, delim)
				}
				copied = append(append(append(copied, '"'), data[c.start:c.end]...), '"')
			}
			if !bytes.Equal(copied, quoted) {
				t.Fatalf("cells copied as %q, values quoted as %q", copied, quoted)
			}
			if !slices.Equal(first, cells[:min(2, len(cells))]) {
				t.Fatalf("first cells %v, want %v", first, cells[:min(2, len(cells))])
			}
			again, _, _, err := newCSVReader(quoted, delim, crlf).next(nil)
			if err != nil {
				t.Fatalf("quoted record %q does not read back: %v", quoted, err)
			}
			if len(again) != len(fields) {
				t.Fatalf("read back %d values, want %d (%q)", len(again), len(fields), quoted)
			}
			for k := range fields {
				if again[k] != fields[k] {
					t.Fatalf("value %d: %q read back as %q", k, fields[k], again[k])
				}
			}
		}
		t.Fatal("reader did not reach the end")
	})
}
