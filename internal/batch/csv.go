package batch

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"strings"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// WriteCSV streams the buffer's upload to w: the header (the union of its
// rows' fields), then one line per row with its events merged, later
// fields over earlier ones. An absent field is an empty cell (Salesforce
// leaves it unchanged), a null is #N/A. Comma-delimited, LF line endings,
// values quoted only when they must be. It also prepares Match. The buffer
// must be sealed.
func (b *Buffer) WriteCSV(w io.Writer) error {
	if !b.sealed {
		return fmt.Errorf("write CSV of an open buffer %s", b.Key)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	writeLine(bw, b.columns)
	b.matcher = newMatcher(b)
	values := make([]event.Value, len(b.columns))
	present := make([]bool, len(b.columns))
	cells := make([]string, len(b.columns))
	var scratch []byte
	for ri, row := range b.Rows {
		clear(present)
		for _, ei := range row.Events {
			ev := b.Events[ei]
			data, err := b.store.read(ev.off, ev.n, scratch)
			if err != nil {
				return err
			}
			scratch = data[:0]
			d := decoder{b: data}
			n := d.uvarint()
			for k := uint64(0); k < n && d.err == nil; k++ {
				col := d.uvarint()
				null := d.bool()
				text := d.bytes()
				if d.err == nil && col < uint64(len(values)) {
					values[col] = event.Value{Text: string(text), Null: null}
					present[col] = true
				}
			}
			if d.err != nil {
				return fmt.Errorf("corrupt buffer entry %d: %w", ei, d.err)
			}
		}
		for i := range cells {
			cells[i] = ""
			if present[i] {
				cells[i] = values[i].CSV()
			}
		}
		b.matcher.addRow(ri, cells)
		writeLine(bw, cells)
	}
	return bw.Flush()
}

func writeLine(w *bufio.Writer, cells []string) {
	for i, c := range cells {
		if i > 0 {
			w.WriteByte(',')
		}
		if !needsQuotes(c) {
			w.WriteString(c)
			continue
		}
		w.WriteByte('"')
		w.WriteString(strings.ReplaceAll(c, `"`, `""`))
		w.WriteByte('"')
	}
	w.WriteByte('\n')
}

// matcher finds the row a result line belongs to. Salesforce returns
// results in no particular order and echoes each row's values, so a row is
// found by its external id (upsert), its Id (update, delete), or, for a
// plain insert, by a hash of its values; identical insert rows are handed
// out in turn.
type matcher struct {
	b         *Buffer
	byContent map[uint64][]int
}

func newMatcher(b *Buffer) *matcher {
	return &matcher{b: b, byContent: map[uint64][]int{}}
}

func (m *matcher) addRow(row int, cells []string) {
	if m.b.Rows[row].RecordKey == "" {
		h := contentHash(cells)
		m.byContent[h] = append(m.byContent[h], row)
	}
}

func contentHash(cells []string) uint64 {
	h := fnv.New64a()
	for _, c := range cells {
		h.Write([]byte(c))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// Match returns the row of a result line, given the original header and
// values that Salesforce echoed in the result file. A row of a plain insert
// is matched once; a second line with the same values takes the next
// identical row. ok is false when no row matches. Call it after WriteCSV.
func (b *Buffer) Match(header, values []string) (row int, ok bool) {
	if b.matcher == nil || len(header) != len(values) {
		return 0, false
	}
	get := func(name string) (string, bool) {
		for i, h := range header {
			if strings.EqualFold(h, name) {
				return values[i], true
			}
		}
		return "", false
	}
	probe := event.Change{Operation: b.Key.Operation, ExternalIDField: b.Key.ExternalIDField}
	if b.Key.Operation == event.Upsert && !strings.EqualFold(b.Key.ExternalIDField, "Id") {
		if v, ok := get(b.Key.ExternalIDField); ok {
			probe.Fields = []event.Field{{Name: b.Key.ExternalIDField, Value: event.Text(v)}}
		}
	} else if v, ok := get("Id"); ok {
		probe.Fields = []event.Field{{Name: "Id", Value: event.Text(v)}}
	}
	if rk := probe.RecordKey(); rk != "" {
		row, ok = b.byRecord[rk]
		return row, ok
	}
	// A plain insert: match by content, in the buffer's column order.
	cells := make([]string, len(b.columns))
	for i, c := range b.columns {
		cells[i], _ = get(c)
	}
	h := contentHash(cells)
	rows := b.matcher.byContent[h]
	if len(rows) == 0 {
		return 0, false
	}
	b.matcher.byContent[h] = rows[1:]
	return rows[0], true
}
