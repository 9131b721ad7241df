package bulkemu

// Record is a snapshot of one record of the emulated org, for tests that
// compare the org's final state with what they expect.
type Record struct {
	ID      string
	Deleted bool              // in the recycle bin
	Fields  map[string]string // non-null fields by API name, values in canonical form; system fields left out
}

// Records returns the records of object (any case) in creation order,
// including deleted ones (Deleted set) but not hard-deleted ones. It returns
// nil for an unknown object. The snapshot is consistent: it is taken under
// the org's read lock.
func (e *Emulator) Records(object string) []Record {
	o := e.schema.Object(object)
	if o == nil {
		return nil
	}
	e.store.mu.RLock()
	defer e.store.mu.RUnlock()
	t := e.store.tables[o]
	var (
		out  []Record
		vals []fieldValue
	)
	for i := range int32(t.len()) {
		r := t.row(i)
		if r.state == rowHardDeleted {
			continue
		}
		vals = t.values(i, vals[:0])
		rec := Record{ID: t.recordID(i), Deleted: r.state == rowDeleted, Fields: make(map[string]string, len(vals))}
		for _, v := range vals {
			rec.Fields[o.Fields[v.field].Name] = v.value
		}
		out = append(out, rec)
	}
	return out
}
