package batch

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// WriteCSV streams the buffer's upload to w: the header (the union of its
// rows' fields), then one line per row with its events merged, later
// fields over earlier ones. An absent field is an empty cell (Salesforce
// leaves it unchanged), a null is #N/A. Comma-delimited, LF line endings,
// values quoted only when they must be. With Policy.ParentOrder, rows are
// sorted by their parent reference columns. It also prepares Match. The
// buffer must be sealed.
func (b *Buffer) WriteCSV(w io.Writer) error {
	if !b.sealed {
		return fmt.Errorf("write CSV of an open buffer %s", b.Key)
	}
	order, err := b.rowOrder()
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	line := make([]byte, 0, 1<<10)
	for i, c := range b.columns {
		if i > 0 {
			line = append(line, ',')
		}
		line = appendCell(line, []byte(c), needsQuotes(c))
	}
	bw.Write(append(line, '\n'))
	b.matcher = newMatcher(b)
	m := newMerger(b)
	for _, ri := range order {
		if err := m.merge(ri); err != nil {
			return err
		}
		b.matcher.addRow(ri, m)
		line = m.appendLine(line[:0])
		bw.Write(line)
	}
	return bw.Flush()
}

// rowOrder returns the order rows are written in: as they came, or with
// Policy.ParentOrder sorted by their parent reference columns, so that the
// children of one parent sit together and land in one internal batch of
// Salesforce, which takes the parent's lock once instead of in many
// concurrent batches (UNABLE_TO_LOCK_ROW).
func (b *Buffer) rowOrder() ([]int, error) {
	order := make([]int, len(b.Rows))
	for i := range order {
		order[i] = i
	}
	var parents []int
	for i, c := range b.columns {
		if b.isParent(c) {
			parents = append(parents, i)
		}
	}
	if !b.policy.ParentOrder || len(parents) == 0 {
		return order, nil
	}
	// A row's key is its parent cells folded, each followed by a zero byte;
	// the keys are cut from one string.
	var keys []byte
	ends := make([]int, len(b.Rows))
	m := newMerger(b)
	for ri := range b.Rows {
		if err := m.merge(ri); err != nil {
			return nil, err
		}
		for _, c := range parents {
			keys = append(appendLower(keys, m.cell(c)), 0)
		}
		if ri == 0 { // keys are often all of one length
			keys = slices.Grow(keys, len(keys)*(len(b.Rows)-1))
		}
		ends[ri] = len(keys)
	}
	all := string(keys)
	rowKeys := make([]string, len(b.Rows))
	start := 0
	for ri, end := range ends {
		rowKeys[ri], start = all[start:end], end
	}
	// By key, then by arrival: the order of a stable sort, in the time of
	// an unstable one.
	slices.SortFunc(order, func(i, j int) int {
		if c := strings.Compare(rowKeys[i], rowKeys[j]); c != 0 {
			return c
		}
		return cmp.Compare(i, j)
	})
	return order, nil
}

// appendLower appends cell folded to lower case, as strings.ToLower folds.
func appendLower(b, cell []byte) []byte {
	for _, c := range cell {
		if c >= utf8.RuneSelf {
			return append(b, strings.ToLower(string(cell))...)
		}
	}
	for _, c := range cell {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// isParent says whether column c refers to a parent record: as the
// columns SetParentColumns named say (the org's describe), or else by its
// name (isParentColumn).
func (b *Buffer) isParent(c string) bool {
	if b.parentCols == nil {
		return isParentColumn(c)
	}
	return slices.ContainsFunc(b.parentCols, func(p string) bool { return strings.EqualFold(p, c) })
}

// isParentColumn says whether a column refers to a parent record: a
// relationship column (Account.External_Id__c, Parent__r.Code__c) or a
// standard lookup field (AccountId, ParentId, OwnerId).
func isParentColumn(name string) bool {
	if strings.Contains(name, ".") {
		return true
	}
	return len(name) > 2 && strings.HasSuffix(name, "Id") && !strings.EqualFold(name, "Id")
}

// merger folds a row's events into its cells, reusing its buffers: the
// cells are valid until the next merge. A cell is the CSV text of its
// value (#N/A for a null), or empty when no event of the row has the
// field. The cells of a row of one event lie in its entry in the store; a
// row of several events has its entries copied first, since a read may
// reuse the memory of the one before.
type merger struct {
	b *Buffer
	// data holds the row's entries, and cells says where each column's
	// cell lies in it: offsets, not slices, so that setting and clearing
	// them, 8 a row and more, stores no pointer (a write barrier each while
	// the collector marks).
	data    []byte
	cells   []span
	row     []byte // the entries of a row of several events
	ends    []int  // where each entry ends in row
	scratch []byte
}

// span is where a cell lies in merger.data, from start to end, and its
// entry's flags (fieldNull, fieldQuoted); the zero span is an empty cell.
type span struct {
	start, end int
	flags      byte
}

func newMerger(b *Buffer) *merger {
	return &merger{b: b, cells: make([]span, len(b.columns))}
}

// na is the cell of a null.
var na = []byte("#N/A")

// merge folds the events of row ri into the cells.
func (m *merger) merge(ri int) error {
	clear(m.cells)
	events := m.b.Rows[ri].Events
	if len(events) == 1 {
		ev := m.b.Events[events[0]]
		data, err := m.b.store.read(ev.off, ev.n, &m.scratch)
		if err != nil {
			return err
		}
		m.data = data
		return m.fold(events[0], 0, len(data))
	}
	m.row, m.ends = m.row[:0], m.ends[:0]
	for _, ei := range events {
		ev := m.b.Events[ei]
		data, err := m.b.store.read(ev.off, ev.n, &m.scratch)
		if err != nil {
			return err
		}
		m.row = append(m.row, data...)
		m.ends = append(m.ends, len(m.row))
	}
	m.data = m.row
	start := 0
	for k, ei := range events {
		if err := m.fold(ei, start, m.ends[k]); err != nil {
			return err
		}
		start = m.ends[k]
	}
	return nil
}

// fold sets the cells of the fields of event ei, whose entry is
// m.data[start:end].
func (m *merger) fold(ei, start, end int) error {
	d := decoder{b: m.data[start:end]}
	n := d.uvarint()
	d.uvarint() // the size of the texts
	for k := uint64(0); k < n && d.err == nil; k++ {
		// A field's column and its text's length are nearly always one
		// byte each: read here, without the decoder's calls, and by the
		// decoder otherwise (which also tells a short entry).
		if b, p := d.b, d.pos; p+3 <= len(b) && b[p] < 0x80 && b[p+2] < 0x80 && int(b[p+2]) <= len(b)-p-3 {
			col, flags, at := int(b[p]), b[p+1], p+3
			d.pos = at + int(b[p+2])
			if col < len(m.cells) {
				m.cells[col] = span{start + at, start + d.pos, flags}
			}
			continue
		}
		col := d.uvarint()
		flags := d.byte()
		text := d.bytes()
		if d.err == nil && col < uint64(len(m.cells)) {
			m.cells[col] = span{start + d.pos - len(text), start + d.pos, flags}
		}
	}
	if d.err != nil {
		return fmt.Errorf("corrupt buffer entry %d: %w", ei, d.err)
	}
	return nil
}

// cell returns the CSV text of column i's cell.
func (m *merger) cell(i int) []byte {
	c := m.cells[i]
	if c.flags&fieldNull != 0 {
		return na
	}
	return m.data[c.start:c.end]
}

// appendLine appends the row's CSV line to line. A line is made whole and
// written at once: a call to the bufio.Writer for each cell and delimiter
// cost more than the copy.
func (m *merger) appendLine(line []byte) []byte {
	for i := range m.cells {
		if i > 0 {
			line = append(line, ',')
		}
		line = appendCell(line, m.cell(i), m.cells[i].flags&fieldQuoted != 0)
	}
	return append(line, '\n')
}

// appendCell appends c to line, in quotes and with its quotes doubled
// when quoted (needsQuotes(c)).
func appendCell(line, c []byte, quoted bool) []byte {
	if !quoted {
		return append(line, c...)
	}
	line = append(line, '"')
	for {
		q := bytes.IndexByte(c, '"')
		if q < 0 {
			break
		}
		line = append(line, c[:q+1]...)
		line = append(line, '"') // doubled
		c = c[q+1:]
	}
	line = append(line, c...)
	return append(line, '"')
}

// matcher finds the row a result line belongs to. Salesforce returns
// results in no particular order and echoes each row's values, so a row is
// found by its external id (upsert), its Id (update, delete), or, for a
// plain insert, by a hash of its values; identical insert rows are handed
// out in turn.
type matcher struct {
	b *Buffer
	// byContent holds, by hash, the first and last rows of plain inserts
	// not matched yet; next[row] is the row after row of the same hash, or
	// -1.
	byContent map[uint64]contentRows
	next      []int

	// The result header the indexes are of (each file of results has one,
	// the same for all its lines): at[i] is the index of column i in it,
	// key that of the field that names the record, -1 when absent.
	header []string
	at     []int
	key    int
	cells  []string // Match's scratch
	// Match's probe: the change a result line names, and its record key.
	probe      event.Change
	probeField [1]event.Field
	rk         []byte
	// guess is the row Match tries before the record index: the row after
	// the one it matched last. Result files list rows in the order they
	// were uploaded (Salesforce's and the emulator's do, each file on its
	// own), so the guess is mostly right and costs a string comparison
	// where the map costs a lookup in a table of the buffer's size.
	guess int
}

type contentRows struct{ first, last int }

func newMatcher(b *Buffer) *matcher {
	n := 0
	for _, r := range b.Rows {
		if r.RecordKey == "" || b.policy.DisableCoalescing {
			n++
		}
	}
	return &matcher{b: b, byContent: make(map[uint64]contentRows, n), next: make([]int, len(b.Rows))}
}

// addRow notes row, whose cells merged holds, to be matched.
func (m *matcher) addRow(row int, merged *merger) {
	if m.b.Rows[row].RecordKey == "" || m.b.policy.DisableCoalescing {
		h := uint64(contentSeed)
		for i := range merged.cells {
			h = hashCell(h, merged.cell(i))
		}
		m.next[row] = -1
		if rows, ok := m.byContent[h]; ok {
			m.next[rows.last] = row
			m.byContent[h] = contentRows{rows.first, row}
		} else {
			m.byContent[h] = contentRows{row, row}
		}
	}
}

// takeContent returns the first row of content hash h not matched yet.
func (m *matcher) takeContent(h uint64) (int, bool) {
	rows, ok := m.byContent[h]
	if !ok {
		return 0, false
	}
	if m.next[rows.first] < 0 {
		delete(m.byContent, h)
	} else {
		m.byContent[h] = contentRows{m.next[rows.first], rows.last}
	}
	return rows.first, true
}

// index finds the buffer's columns and the field that names the record
// in header (regardless of case, the first of a name), unless header is
// the one it last did.
func (m *matcher) index(header []string, keyField string) {
	if m.at != nil && slices.Equal(header, m.header) {
		return
	}
	find := func(name string) int {
		for i, h := range header {
			if strings.EqualFold(h, name) {
				return i
			}
		}
		return -1
	}
	m.header = slices.Clone(header)
	m.at = make([]int, len(m.b.columns))
	for i, c := range m.b.columns {
		m.at[i] = find(c)
	}
	m.key = find(keyField)
}

// contentHash is the FNV-1a hash of the cells, each followed by a zero
// byte.
func contentHash(cells []string) uint64 {
	h := uint64(contentSeed)
	for _, c := range cells {
		h = hashCell(h, c)
	}
	return h
}

// contentSeed is the FNV-1a offset basis, the hash of no cell.
const contentSeed = 14695981039346656037

// hashCell is h, an FNV-1a hash, followed by c and a zero byte.
func hashCell[S string | []byte](h uint64, c S) uint64 {
	for i := 0; i < len(c); i++ {
		h = (h ^ uint64(c[i])) * 1099511628211
	}
	return h * 1099511628211 // the zero byte
}

// Match returns the row of a result line, given the original header and
// values that Salesforce echoed in the result file. A row of a plain insert
// is matched once; a second line with the same values takes the next
// identical row. ok is false when no row matches. Call it after WriteCSV.
// It keeps no string of header or values once it returns (they may be a
// reader's borrowed bytes, see bulk.ResultReader.BorrowStrings): the
// header is copied, a key is appended to bytes of its own.
func (b *Buffer) Match(header, values []string) (row int, ok bool) {
	if b.matcher == nil || len(header) != len(values) {
		return 0, false
	}
	m := b.matcher
	keyField := "Id"
	if b.Key.Operation == event.Upsert && !strings.EqualFold(b.Key.ExternalIDField, "Id") {
		keyField = b.Key.ExternalIDField
	}
	m.index(header, keyField)
	probe := &m.probe
	*probe = event.Change{Operation: b.Key.Operation, ExternalIDField: b.Key.ExternalIDField}
	if m.key >= 0 {
		m.probeField[0] = event.Field{Name: keyField, Value: event.Text(values[m.key])}
		probe.Fields = m.probeField[:]
	}
	m.rk = probe.AppendRecordKey(m.rk[:0])
	m.probeField[0], probe.Fields = event.Field{}, nil // values[m.key] is not kept
	if len(m.rk) > 0 && !b.policy.DisableCoalescing {
		if m.guess < len(b.Rows) && b.Rows[m.guess].RecordKey == string(m.rk) {
			row, ok = m.guess, true
		} else {
			row, ok = b.records.findBytes(b.Rows, m.rk)
		}
		if ok {
			m.guess = row + 1
		}
		return row, ok
	}
	// A plain insert, or rows that were not coalesced: match by content, in
	// the buffer's column order.
	m.cells = m.cells[:0]
	for _, i := range m.at {
		v := ""
		if i >= 0 {
			v = values[i]
		}
		m.cells = append(m.cells, v)
	}
	h := contentHash(m.cells)
	clear(m.cells) // the values are not kept
	return m.takeContent(h)
}
