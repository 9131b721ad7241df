package bulk

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"unsafe"
)

// csvReader reads the CSV of result and query downloads: RFC 4180 records
// with a one-byte delimiter, ended by LF or CRLF outside quotes. Unlike
// encoding/csv it keeps quoted values byte for byte, so a CRLF inside a
// quoted text area survives the trip. Empty lines are skipped. Every record
// must have as many fields as the first.
type csvReader struct {
	br     *bufio.Reader
	delim  byte
	line   int    // number of the last line read, from 1
	fields int    // fields per record, from the first record
	long   []byte // a line longer than br's buffer
	buf    []byte // unescaped bytes of the current record
	ends   []int  // end of each field of the current record in buf
	// reuse: read returns rec again, overwritten, instead of a new slice.
	// borrow (which implies reuse): the strings of rec are buf's bytes,
	// overwritten by the next read, rather than a copy.
	reuse, borrow bool
	rec           []string
}

func newCSVReader(r io.Reader, delim byte) *csvReader {
	return &csvReader{br: bufio.NewReaderSize(r, 64<<10), delim: delim}
}

// read returns the next record, or io.EOF after the last one. The fields of
// a record share one string allocation. With reuse, the slice is the one
// read returned before, valid until the next call; the strings stay valid.
// With borrow, the strings too are valid only until the next call.
func (r *csvReader) read() ([]string, error) {
	line, err := r.readLine()
	for err == nil && isLineBreak(line) {
		line, err = r.readLine()
	}
	if err != nil {
		return nil, err
	}
	first := r.line
	r.buf, r.ends = r.buf[:0], r.ends[:0]
	pos := 0
	for {
		if pos < len(line) && line[pos] == '"' {
			if line, pos, err = r.quoted(line, pos+1, first); err != nil {
				return nil, err
			}
			r.ends = append(r.ends, len(r.buf))
			rest := line[pos:]
			if len(rest) > 0 && rest[0] == r.delim {
				pos++
				continue
			}
			if len(rest) == 0 || isLineBreak(rest) {
				break
			}
			return nil, fmt.Errorf("csv line %d: %q after a closing quote", r.line, rest[0])
		}
		if i := bytes.IndexByte(line[pos:], r.delim); i >= 0 {
			r.buf = append(r.buf, line[pos:pos+i]...)
			r.ends = append(r.ends, len(r.buf))
			pos += i + 1
			continue
		}
		r.buf = append(r.buf, trimLineBreak(line[pos:])...)
		r.ends = append(r.ends, len(r.buf))
		break
	}
	if r.fields == 0 {
		r.fields = len(r.ends)
	} else if len(r.ends) != r.fields {
		return nil, fmt.Errorf("csv line %d: %d fields, want %d", first, len(r.ends), r.fields)
	}
	var s string
	if r.borrow {
		s = unsafe.String(unsafe.SliceData(r.buf), len(r.buf))
	} else {
		s = string(r.buf)
	}
	rec := r.rec[:0]
	if !r.reuse || cap(rec) < len(r.ends) {
		rec = make([]string, len(r.ends))
	}
	rec = rec[:len(r.ends)]
	if r.reuse {
		r.rec = rec
	}
	start := 0
	for i, end := range r.ends {
		rec[i] = s[start:end]
		start = end
	}
	return rec, nil
}

// quoted appends the value of a quoted field that starts at line[pos] (just
// after the opening quote) to r.buf, reading more lines while the quotes
// stay open. It returns the line and position just after the closing quote.
func (r *csvReader) quoted(line []byte, pos, first int) ([]byte, int, error) {
	for {
		i := bytes.IndexByte(line[pos:], '"')
		if i < 0 {
			r.buf = append(r.buf, line[pos:]...)
			var err error
			if line, err = r.readLine(); err != nil {
				if err == io.EOF {
					err = fmt.Errorf("csv line %d: quoted field not closed", first)
				}
				return nil, 0, err
			}
			pos = 0
			continue
		}
		r.buf = append(r.buf, line[pos:pos+i]...)
		pos += i + 1
		if pos < len(line) && line[pos] == '"' {
			r.buf = append(r.buf, '"')
			pos++
			continue
		}
		return line, pos, nil
	}
}

// readLine returns the next line with its line break, valid until the next
// call.
func (r *csvReader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.long = append(r.long[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = r.br.ReadSlice('\n')
			r.long = append(r.long, line...)
		}
		line = r.long
	}
	if len(line) > 0 && err == io.EOF {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	r.line++
	return line, nil
}

func isLineBreak(b []byte) bool {
	return (len(b) == 1 && b[0] == '\n') || (len(b) == 2 && b[0] == '\r' && b[1] == '\n')
}

func trimLineBreak(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}
