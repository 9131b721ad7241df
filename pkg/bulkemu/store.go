package bulkemu

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// store is the in-memory org data: one table per object. One RWMutex guards
// all tables: a row operation takes it for a few microseconds, a query holds
// the read lock while it selects rows. Rows are never moved, so a record's
// index (its id's counter minus one) stays valid for the life of the emulator.
type store struct {
	schema *Schema

	mu     sync.RWMutex
	tables map[*Object]*table
}

func newStore(s *Schema) *store {
	st := &store{schema: s, tables: map[*Object]*table{}}
	for _, o := range s.objects {
		t := &table{obj: o}
		for _, f := range o.Fields {
			if f.ExternalID || f.Unique {
				t.unique = append(t.unique, uniqueIndex{field: f, seed: maphash.MakeSeed()})
			}
		}
		st.tables[o] = t
	}
	return st
}

// table holds the records of one object. Records are kept sparse (only the
// fields that have a value) so that a million Accounts fit in a few hundred
// megabytes.
type table struct {
	obj *Object

	pages  [][]row       // the records, rowPage a page; see add
	n      int           // number of records
	arena  valueArena    // the values of the records
	unique []uniqueIndex // of each unique or external-id field, in field order
	// scratch holds a record's values while a change is made to them, and
	// oldUnique its unique values from before (see uniqueValues).
	scratch   []fieldValue
	oldUnique []uniqueValue
}

// rowPage is the number of records of a page of a table. A table keeps its
// records in pages of their own so that adding one never copies the others:
// appending to one slice of a million records copied all of them at every
// growth, which cost more CPU than storing them.
const rowPage = 4096

// row returns the record at index i.
func (t *table) row(i int32) *row { return &t.pages[i/rowPage][i%rowPage] }

// len returns the number of records, deleted and hard-deleted ones included.
func (t *table) len() int { return t.n }

// add appends a record and returns its index. The first page grows as
// records come, so that the small tables of an org take little memory;
// the others are made whole.
func (t *table) add(r row) int32 {
	if t.n%rowPage == 0 {
		var page []row
		if t.n > 0 {
			page = make([]row, 0, rowPage)
		}
		t.pages = append(t.pages, page)
	}
	p := &t.pages[len(t.pages)-1]
	*p = append(*p, r)
	t.n++
	return int32(t.n - 1)
}

// uniqueIndexOf returns the index of f, nil when f is not unique.
func (t *table) uniqueIndexOf(f *Field) *uniqueIndex {
	for i := range t.unique {
		if t.unique[i].field == f {
			return &t.unique[i]
		}
	}
	return nil
}

// row is one record. Its Id is derived from its index, never stored, and
// its values are in the table's arena. It holds no pointer, so that the
// pages of a million records are never scanned by the garbage collector.
// Its 32 bytes are a record's fixed cost: state fills the padding after
// vals, where after modified it made a row 40 bytes, a fifth more memory
// for every record to take from the system and fault in.
type row struct {
	vals     valuesRef // null fields are absent
	state    rowState
	created  int64 // Unix milliseconds
	modified int64 // Unix milliseconds
}

type rowState uint8

const (
	rowLive        rowState = iota
	rowDeleted              // in the recycle bin: queryAll sees it, query does not
	rowHardDeleted          // gone for good
)

// value returns the value of field f of record idx; ok is false when the
// field is null.
func (t *table) value(idx int32, f *Field) (string, bool) {
	return valueOf(t.arena.encoding(t.row(idx).vals), f.index)
}

// values appends the values of record idx to dst, in field order.
func (t *table) values(idx int32, dst []fieldValue) []fieldValue {
	return decodeValues(t.arena.encoding(t.row(idx).vals), dst)
}

// setValues replaces the values of record idx by vals, sorted by field and
// without repeats. When the arena then holds more garbage than values, the
// table copies its records' values into a new arena.
func (t *table) setValues(idx int32, vals []fieldValue) {
	r := t.row(idx)
	t.arena.drop(r.vals)
	r.vals = t.arena.put(vals)
	if t.arena.compactable() {
		t.compact()
	}
}

// compact copies the values of the records into a new arena, leaving the
// old one to the strings that still point into it. It clears the scratch
// slice up to its capacity: the strings there, past its length too, point
// into the old arena and would keep its pages alive until other records'
// values overwrote them. (setValues has written the values it was given,
// which may be the scratch slice, before it compacts.) oldUnique is left:
// the change being made reads it after, and the next change overwrites all
// of it.
func (t *table) compact() {
	var fresh valueArena
	for i := range int32(t.n) {
		r := t.row(i)
		r.vals = fresh.putEncoding(t.arena.encoding(r.vals))
	}
	t.arena = fresh
	clear(t.scratch[:cap(t.scratch)])
}

// foldKey is how unique and external-id values are compared: case-insensitively.
func foldKey(v string) string { return strings.ToLower(v) }

// foldedEqual reports whether foldKey(v) == folded, without making the
// folded copy of an ASCII value.
func foldedEqual(v, folded string) bool {
	if len(v) != len(folded) {
		return foldKey(v) == folded // folding changed the length: not ASCII
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= utf8.RuneSelf {
			return foldKey(v) == folded
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != folded[i] {
			return false
		}
	}
	return true
}

// appendFolded appends foldKey(v) to dst, without making a folded copy of
// an ASCII value.
func appendFolded[S string | []byte](dst []byte, v S) []byte {
	for i := 0; i < len(v); i++ {
		if v[i] >= utf8.RuneSelf {
			return append(dst, foldKey(string(v))...)
		}
	}
	n := len(dst)
	dst = slices.Grow(dst, len(v))[:n+len(v)]
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst[n+i] = c
	}
	return dst
}

// appendFoldedCell appends foldKey of the value of c in data to dst.
func appendFoldedCell(dst, data []byte, c cell) []byte {
	if c.escaped {
		return append(dst, foldKey(c.value(data))...)
	}
	return appendFolded(dst, data[c.start:c.end])
}

// lookup finds the live record whose unique field f holds value: the
// unique indexes hold only live records (see reindex), so a deleted or
// hard-deleted record is not found, as its value is free for a new record.
// The caller holds the store's lock.
func (t *table) lookup(f *Field, value string) (int32, bool) {
	return t.lookupFolded(f, foldKey(value))
}

// lookupFolded is lookup of a value already folded.
func (t *table) lookupFolded(f *Field, folded string) (int32, bool) {
	u := t.uniqueIndexOf(f)
	if u == nil {
		return 0, false
	}
	return u.get(t, folded)
}

// recordID returns the 18-character id of the record at index i.
func (t *table) recordID(i int32) string {
	var buf [18]byte
	return string(t.appendRecordID(buf[:0], i))
}

// appendRecordID appends recordID(i) to dst, for result files that write an
// id a row without making a string of each. The id's counter is the index
// plus one: the first record is 1, as index reads it back.
func (t *table) appendRecordID(dst []byte, i int32) []byte {
	return appendID(dst, t.obj.KeyPrefix, int64(i)+1)
}

// index resolves an id of this table's object to a row index. ok is false
// for an id of another object or a record that never existed.
func (t *table) index(id string) (idx int32, ok bool, err error) {
	prefix, n, err := parseID(id)
	if err != nil {
		return 0, false, err
	}
	if prefix != t.obj.KeyPrefix || n < 1 || n > int64(t.len()) {
		return 0, false, nil
	}
	return int32(n - 1), true, nil
}

// view returns a read-only view of the record at index i for the query
// engine. The caller holds the store's read lock.
func (s *store) view(t *table, i int32) recordView {
	return recordView{store: s, table: t, idx: i}
}

// recordView is one record as the SOQL evaluator sees it. Values are in
// their canonical text form (see canonical in values.go); a null field
// reports ok == false.
type recordView struct {
	store *store
	table *table
	idx   int32
}

// Value returns the value of a field of the record, or of its parent when
// p.Rel is set (Account.Name on a Contact).
func (v recordView) Value(p fieldPath) (string, bool) {
	if p.Rel == nil {
		return v.own(p.Field)
	}
	pv, ok := v.parent(p.Rel)
	if !ok {
		return "", false
	}
	return pv.own(p.Field)
}

// parent returns the record that the reference field rel points to, if it
// exists and is not hard-deleted.
func (v recordView) parent(rel *Field) (recordView, bool) {
	parentID, ok := v.own(rel)
	if !ok {
		return recordView{}, false
	}
	pt := v.store.tables[v.store.schema.Object(rel.ReferenceTo)]
	i, ok, err := pt.index(parentID)
	if err != nil || !ok || pt.row(i).state == rowHardDeleted {
		return recordView{}, false
	}
	return recordView{store: v.store, table: pt, idx: i}, true
}

func (v recordView) own(f *Field) (string, bool) {
	r := v.table.row(v.idx)
	switch f.Name {
	case "Id":
		return v.table.recordID(v.idx), true
	case "IsDeleted":
		return formatBool(r.state == rowDeleted), true
	case "CreatedDate":
		return formatMillis(r.created), true
	case "LastModifiedDate", "SystemModstamp":
		return formatMillis(r.modified), true
	}
	return v.table.value(v.idx, f)
}

// fieldPath names a column of a query: a field of the queried object, or,
// with Rel set, a field of the parent that the reference field Rel points to.
type fieldPath struct {
	Rel   *Field
	Field *Field
}

func formatBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// formatMillis renders Unix milliseconds as Salesforce renders a dateTime in
// query results and CSV: 2024-01-02T03:04:05.000Z.
func formatMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}
