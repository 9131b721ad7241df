package bulkemu

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// csvReader reads the records of an uploaded CSV file the way Salesforce's
// ingest does: one configurable delimiter, RFC 4180 quoting (quoted values
// may hold delimiters, quotes written twice and line breaks), values never
// trimmed, and record terminators that must match the job's lineEnding.
// It works on the upload in memory and reports each record's byte range so
// that result files can echo the original row without a second copy.
type csvReader struct {
	data  []byte
	pos   int
	delim byte
	crlf  bool
	// upTo, when positive, is the most cells nextCells reports of a
	// record; 0 reports them all. A record is checked whole either way:
	// scan, which checks the upload before any row is processed, needs
	// only the upsert key's cell, and splitting the other cells of a
	// record without quotes was a third of its CPU, spent again when the
	// row is processed.
	upTo int
	// lastQuoted says whether the record nextCells read last held a
	// quote, so that its cells must be parsed again, not only split at
	// delimiters (see split).
	lastQuoted bool
}

// errLineEnding is returned when a record ends with the other line ending
// than the job declared; Salesforce fails the whole job for it.
var errLineEnding = errors.New("line ending mismatch")

// csvSyntaxError is a CSV file that cannot be parsed; the job fails with
// "InvalidBatch : Failed to parse CSV. <Reason>".
type csvSyntaxError struct {
	Offset int
	Reason string
}

func (e *csvSyntaxError) Error() string {
	return fmt.Sprintf("Failed to parse CSV. %s (at byte %d)", e.Reason, e.Offset)
}

func newCSVReader(data []byte, delim byte, crlf bool) *csvReader {
	return &csvReader{data: data, delim: delim, crlf: crlf}
}

// cell is where one value of a record lies in the data: the bytes
// [start, end), without the quotes around a quoted value. escaped says that
// they hold quotes written twice, which the value holds once. Cells let the
// emulator go through an upload without making a string of every value.
type cell struct {
	start, end int
	escaped    bool
}

// value returns the value of c in data as a string of its own.
func (c cell) value(data []byte) string {
	if c.escaped {
		return strings.ReplaceAll(string(data[c.start:c.end]), `""`, `"`)
	}
	return string(data[c.start:c.end])
}

// next reads one record into fields (reusing its storage) and returns the
// byte range [start, end) of the record without its line ending. Empty
// lines are skipped. At the end of the data it returns io.EOF.
func (r *csvReader) next(fields []string) (out []string, start, end int, err error) {
	var buf [16]cell
	cells, start, end, err := r.nextCells(buf[:0])
	if err != nil {
		return nil, 0, 0, err
	}
	out = fields[:0]
	for _, c := range cells {
		out = append(out, c.value(r.data))
	}
	return out, start, end, nil
}

// nextCells is next without making strings: it reads one record into cells
// (reusing their storage), at most upTo of them when upTo is positive.
func (r *csvReader) nextCells(cells []cell) (out []cell, start, end int, err error) {
	for r.pos < len(r.data) && r.atLineBreak(r.pos) {
		n, err := r.lineBreak(r.pos)
		if err != nil {
			return nil, 0, 0, err
		}
		r.pos += n
	}
	if r.pos >= len(r.data) {
		return nil, 0, 0, io.EOF
	}
	out = cells[:0]
	start = r.pos
	if out, end, ok, err := r.unquotedRecord(out); err != nil {
		return nil, 0, 0, err
	} else if ok {
		r.lastQuoted = false
		return out, start, end, nil
	}
	r.lastQuoted = true
	for {
		c, err := r.field()
		if err != nil {
			return nil, 0, 0, err
		}
		if r.upTo <= 0 || len(out) < r.upTo {
			out = append(out, c)
		}
		if r.pos >= len(r.data) {
			return out, start, r.pos, nil
		}
		if r.data[r.pos] == r.delim {
			r.pos++
			continue
		}
		// The field stopped at a line break.
		end = r.pos
		n, err := r.lineBreak(r.pos)
		if err != nil {
			return nil, 0, 0, err
		}
		r.pos += n
		return out, start, end, nil
	}
}

// unquotedRecord reads the record at r.pos when its line holds no quote,
// which is how most records are written: its cells are then the bytes
// between delimiters, found with bytes.IndexByte rather than byte by byte
// as field finds them. It reports ok false, having read nothing, for a line
// with a quote, which a quoted value may carry on past the line break.
func (r *csvReader) unquotedRecord(cells []cell) (out []cell, end int, ok bool, err error) {
	line := r.data[r.pos:]
	next := len(r.data) // where the next record starts
	nl := bytes.IndexByte(line, '\n')
	if nl >= 0 {
		line, next = line[:nl], r.pos+nl+1
	}
	if bytes.IndexByte(line, '"') >= 0 {
		return cells, 0, false, nil
	}
	if nl >= 0 {
		// A CR ends the line only right before its LF: elsewhere it is
		// data, as field reads it.
		cr := len(line) > 0 && line[len(line)-1] == '\r'
		if cr != r.crlf {
			return nil, 0, false, errLineEnding
		}
		if cr {
			line = line[:len(line)-1]
		}
	}
	end = r.pos + len(line)
	out = r.split(r.pos, end, cells)
	r.pos = next
	return out, end, true, nil
}

// split appends to cells the cells of data[start:end], a record without a
// quote: the bytes between delimiters, at most upTo cells in all when upTo
// is positive. It reads nothing else, so that a record already checked
// (see rowResult.plain) is split without being read again.
func (r *csvReader) split(start, end int, cells []cell) []cell {
	line := r.data[start:end]
	for r.upTo <= 0 || len(cells) < r.upTo {
		i := bytes.IndexByte(line, r.delim)
		if i < 0 {
			return append(cells, cell{start: start, end: end})
		}
		cells = append(cells, cell{start: start, end: start + i})
		start += i + 1
		line = line[i+1:]
	}
	return cells
}

func (r *csvReader) atLineBreak(i int) bool {
	return r.data[i] == '\n' || (r.data[i] == '\r' && i+1 < len(r.data) && r.data[i+1] == '\n')
}

// lineBreak checks the line break at i against the job's line ending and
// returns its length.
func (r *csvReader) lineBreak(i int) (int, error) {
	if r.data[i] == '\r' {
		if !r.crlf {
			return 0, errLineEnding
		}
		return 2, nil
	}
	if r.crlf {
		return 0, errLineEnding
	}
	return 1, nil
}

// field reads one value starting at r.pos and leaves r.pos on the delimiter,
// the line break or the end of the data that follows it.
func (r *csvReader) field() (cell, error) {
	if r.pos < len(r.data) && r.data[r.pos] == '"' {
		return r.quoted()
	}
	start := r.pos
	for r.pos < len(r.data) {
		c := r.data[r.pos]
		if c == r.delim || (c == '\n' || c == '\r') && r.atLineBreak(r.pos) {
			break
		}
		if c == '"' {
			return cell{}, &csvSyntaxError{Offset: r.pos, Reason: "Found unescaped quote"}
		}
		r.pos++
	}
	return cell{start: start, end: r.pos}, nil
}

func (r *csvReader) quoted() (cell, error) {
	open := r.pos
	r.pos++ // opening quote
	c := cell{start: r.pos}
	for {
		i := r.pos
		if n := bytes.IndexByte(r.data[i:], '"'); n >= 0 {
			i += n
		} else {
			return cell{}, &csvSyntaxError{Offset: open, Reason: "Reached the end of the data inside a quoted value"}
		}
		if i+1 < len(r.data) && r.data[i+1] == '"' {
			c.escaped = true
			r.pos = i + 2
			continue
		}
		// Closing quote: what follows must end the field.
		r.pos = i + 1
		if r.pos < len(r.data) && r.data[r.pos] != r.delim && !r.atLineBreak(r.pos) {
			return cell{}, &csvSyntaxError{Offset: r.pos, Reason: "Found unescaped quote"}
		}
		c.end = i
		return c, nil
	}
}
