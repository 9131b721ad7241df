package bulkemu

import (
	"slices"
	"strings"
	"unsafe"
)

// change is one CSV row turned into what it asks of the org. A batch reuses
// one change from row to row.
type change struct {
	id        string        // value of the Id column, if any
	key       string        // value of the upsert key column, if any
	hasKey    bool          // the upsert key column is present
	keyFolded string        // foldKey(key) when the caller had it, else ""
	set       []fieldChange // in column order; empty cells are left out
	missing   []*Field      // required fields given as #N/A
	folded    []byte        // what fold last returned; see fold
}

// fieldChange is the new value of one field; null sets it to null.
type fieldChange struct {
	field *Field
	value string
	null  bool
}

// get returns the change of field f, if the row changes it.
func (ch *change) get(f *Field) (fieldChange, bool) {
	for _, fc := range ch.set {
		if fc.field == f {
			return fc, true
		}
	}
	return fieldChange{}, false
}

// fold returns foldKey(v), without folding the upsert key again. The
// result is only good until the next call: it is folded into ch's buffer,
// since the unique indexes it is looked up in keep no copy of a value, and
// a string a call cost an insert two allocations a row.
func (ch *change) fold(v string) string {
	if ch.keyFolded != "" && v == ch.key {
		return ch.keyFolded
	}
	ch.folded = appendFolded(ch.folded[:0], v)
	return unsafe.String(unsafe.SliceData(ch.folded), len(ch.folded))
}

// outcome is the result of applying one row.
type outcome struct {
	rec     int32 // record index; -1 when the row names no existing record
	created bool
	err     *rowError
}

var errRowLocked = &rowError{Code: "UNABLE_TO_LOCK_ROW", Message: "unable to obtain exclusive access to this record"}

// apply performs one row of an ingest job on the org, using ch for its
// change. keyFolded is foldKey of the row's upsert key if the caller has
// it, else "". The caller holds the store's write lock. It never panics on
// data: every problem is a rowError.
func (s *store) apply(j *job, cols []csvColumn, values []string, keyFolded string, now int64, ch *change) outcome {
	t := s.tables[j.object]
	if len(values) != len(cols) {
		return outcome{rec: -1, err: &rowError{Code: "INVALID_FIELD", Message: "Row has a different number of columns than the header"}}
	}
	if rerr := s.parseRow(j, cols, values, ch); rerr != nil {
		return outcome{rec: -1, err: rerr}
	}
	ch.keyFolded = keyFolded
	switch j.operation {
	case "insert":
		if ch.id != "" {
			return outcome{rec: -1, err: &rowError{Code: "INVALID_FIELD_FOR_INSERT_UPDATE", Message: "cannot specify Id in an insert call", Fields: []string{"Id"}}}
		}
		return s.insert(t, ch, now, nil)
	case "update":
		idx, err := s.existing(t, ch.id, "update")
		if err != nil {
			return outcome{rec: idx, err: err}
		}
		return s.update(t, idx, ch, now, nil)
	case "upsert":
		return s.upsert(t, j.externalID, ch, now)
	case "delete", "hardDelete":
		idx, err := s.existing(t, ch.id, "delete")
		if err != nil {
			if idx >= 0 && j.operation == "hardDelete" && t.row(idx).state == rowDeleted {
				return s.remove(t, idx, rowHardDeleted, now)
			}
			return outcome{rec: idx, err: err}
		}
		state := rowDeleted
		if j.operation == "hardDelete" {
			state = rowHardDeleted
		}
		return s.remove(t, idx, state, now)
	}
	return outcome{rec: -1, err: &rowError{Code: "INVALID_OPERATION", Message: "unknown operation " + j.operation}}
}

// parseRow checks and converts the values of a row into ch. Empty cells
// are left out (unchanged), #N/A cells become nulls.
func (s *store) parseRow(j *job, cols []csvColumn, values []string, ch *change) *rowError {
	*ch = change{set: ch.set[:0], missing: ch.missing[:0], folded: ch.folded}
	for i, c := range cols {
		v := values[i]
		switch {
		case c.field.Name == "Id" && c.parentField == nil:
			ch.id = v
			continue
		case j.externalID != nil && c.field == j.externalID:
			ch.key, ch.hasKey = v, true
		}
		if v == "" {
			continue
		}
		if c.field.ReadOnly {
			return &rowError{Code: "INVALID_FIELD_FOR_INSERT_UPDATE", Message: "Unable to create/update fields: " + c.field.Name +
				". Please check the security settings of this field and verify that it is read/write for your profile or permission set.", Fields: []string{c.field.Name}}
		}
		if v == nullValue {
			if c.field.Required {
				ch.missing = append(ch.missing, c.field)
			}
			ch.set = append(ch.set, fieldChange{field: c.field, null: true})
			continue
		}
		var (
			value string
			err   *rowError
		)
		switch {
		case c.parentField != nil:
			value, err = s.resolveParent(c, v)
		case c.field.Type == TypeReference:
			value, err = s.checkReference(c.field, v)
		default:
			value, err = canonical(c.field, i+1, v)
		}
		if err != nil {
			return err
		}
		ch.set = append(ch.set, fieldChange{field: c.field, value: value})
	}
	return nil
}

// resolveParent finds the parent named by a relationship column and returns
// its id.
func (s *store) resolveParent(c csvColumn, v string) (string, *rowError) {
	pt := s.tables[c.parent]
	if c.parentField.Name == "Id" {
		return s.checkReference(c.field, v)
	}
	idx, ok := pt.lookup(c.parentField, v)
	if !ok {
		return "", &rowError{Code: "INVALID_FIELD", Message: "Foreign key external ID: " + v + " not found for field " + c.parentField.Name + " in entity " + c.parent.Name}
	}
	return pt.recordID(idx), nil
}

// checkReference checks that v is the id of a live record of the object
// the reference field points to.
func (s *store) checkReference(f *Field, v string) (string, *rowError) {
	parent := s.schema.Object(f.ReferenceTo)
	pt := s.tables[parent]
	idx, ok, err := pt.index(v)
	if err != nil || (!ok && !strings.HasPrefix(v, parent.KeyPrefix)) {
		return "", fieldError("MALFORMED_ID", f, "%s: id value of incorrect type: %s", f.Label, v)
	}
	if !ok || pt.row(idx).state == rowHardDeleted {
		return "", &rowError{Code: "INVALID_CROSS_REFERENCE_KEY", Message: "invalid cross reference id"}
	}
	if pt.row(idx).state == rowDeleted {
		return "", &rowError{Code: "ENTITY_IS_DELETED", Message: "entity is deleted"}
	}
	return pt.recordID(idx), nil
}

// existing resolves the Id of an update or delete row to a live record. On
// failure the index is the record's when it exists (Salesforce then echoes
// the Id in sf__Id), else -1.
func (s *store) existing(t *table, id, call string) (int32, *rowError) {
	if id == "" {
		return -1, &rowError{Code: "MISSING_ARGUMENT", Message: "Id not specified in an " + call + " call"}
	}
	idx, ok, err := t.index(id)
	if err != nil || (!ok && !strings.HasPrefix(id, t.obj.KeyPrefix)) {
		return -1, &rowError{Code: "MALFORMED_ID", Message: t.obj.Label + " ID: id value of incorrect type: " + id, Fields: []string{"Id"}}
	}
	if !ok || t.row(idx).state == rowHardDeleted {
		return -1, &rowError{Code: "INVALID_CROSS_REFERENCE_KEY", Message: "invalid cross reference id"}
	}
	if t.row(idx).state == rowDeleted {
		return idx, &rowError{Code: "ENTITY_IS_DELETED", Message: "entity is deleted"}
	}
	return idx, nil
}

// insert makes a new record of the change. looked is a unique field whose
// value the caller just found free (upsert's key), which checkUnique does
// not look up again, or nil.
func (s *store) insert(t *table, ch *change, now int64, looked *Field) outcome {
	var missing []string
	for _, f := range t.obj.requiredOnes {
		if fc, ok := ch.get(f); !ok || fc.null {
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		return outcome{rec: -1, err: &rowError{Code: "REQUIRED_FIELD_MISSING", Message: "Required fields are missing: [" + strings.Join(missing, ", ") + "]", Fields: missing}}
	}
	if err := t.checkUnique(ch, -1, looked); err != nil {
		return outcome{rec: -1, err: err}
	}
	idx := t.add(row{created: now, modified: now})
	t.setValues(idx, t.changed(idx, ch))
	t.reindex(idx, nil, ch)
	return outcome{rec: idx, created: true}
}

// update applies the change to record idx. looked is a unique field whose
// value the caller just found free or record idx's own (upsert's key),
// which checkUnique does not look up again, or nil.
func (s *store) update(t *table, idx int32, ch *change, now int64, looked *Field) outcome {
	if len(ch.missing) > 0 {
		var names []string
		for _, f := range t.obj.requiredOnes {
			if slices.Contains(ch.missing, f) {
				names = append(names, f.Name)
			}
		}
		return outcome{rec: idx, err: &rowError{Code: "REQUIRED_FIELD_MISSING", Message: "Required fields are missing: [" + strings.Join(names, ", ") + "]", Fields: names}}
	}
	if err := t.checkUnique(ch, idx, looked); err != nil {
		return outcome{rec: idx, err: err}
	}
	old := t.uniqueValues(idx)
	t.setValues(idx, t.changed(idx, ch))
	t.row(idx).modified = now
	t.reindex(idx, old, ch)
	return outcome{rec: idx}
}

func (s *store) upsert(t *table, key *Field, ch *change, now int64) outcome {
	if key.Name == "Id" {
		if ch.id == "" {
			return s.insert(t, ch, now, nil)
		}
		idx, err := s.existing(t, ch.id, "upsert")
		if err != nil {
			return outcome{rec: idx, err: err}
		}
		return s.update(t, idx, ch, now, nil)
	}
	if !ch.hasKey || ch.key == "" {
		return outcome{rec: -1, err: &rowError{Code: "MISSING_ARGUMENT", Message: key.Name + " not specified"}}
	}
	if ch.key == nullValue {
		return outcome{rec: -1, err: fieldError("INVALID_FIELD", key, "%s: the upsert key cannot be null", key.Label)}
	}
	// The key's look-up also settles checkUnique's question for the key: a
	// record found is the one updated, none found leaves the value free.
	fc, _ := ch.get(key)
	if idx, ok := t.lookupFolded(key, ch.fold(fc.value)); ok {
		return s.update(t, idx, ch, now, key)
	}
	return s.insert(t, ch, now, key)
}

func (s *store) remove(t *table, idx int32, state rowState, now int64) outcome {
	old := t.uniqueValues(idx)
	r := t.row(idx)
	r.state = state
	r.modified = now
	if state == rowHardDeleted {
		t.setValues(idx, nil)
	}
	t.reindex(idx, old, nil)
	return outcome{rec: idx}
}

// changed returns the values of record idx with the change made to them,
// in the table's scratch slice.
func (t *table) changed(idx int32, ch *change) []fieldValue {
	t.scratch = t.values(idx, t.scratch[:0])
	if len(t.scratch) == 0 {
		// A new record: its values are the change's, which has one a
		// field, sorted.
		for _, fc := range ch.set {
			if !fc.null {
				t.scratch = append(t.scratch, fieldValue{field: uint16(fc.field.index), value: fc.value})
			}
		}
		sortByField(t.scratch)
		return t.scratch
	}
	for _, fc := range ch.set {
		if fc.null {
			t.scratch = setValue(t.scratch, fc.field.index, nil)
		} else {
			t.scratch = setValue(t.scratch, fc.field.index, &fc.value)
		}
	}
	return t.scratch
}

// sortByField sorts a new record's values by field, by insertion: a row
// has a few values, mostly in the order of their fields or near it, and
// slices.SortFunc's call of a comparison for each step was a tenth of an
// insert's CPU.
func sortByField(vals []fieldValue) {
	for i := 1; i < len(vals); i++ {
		for k := i; k > 0 && vals[k-1].field > vals[k].field; k-- {
			vals[k-1], vals[k] = vals[k], vals[k-1]
		}
	}
}

// checkUnique fails a change that would give a unique field a value another
// live record holds. self is the record being updated, or -1. looked is a
// field the caller already checked (see insert), or nil: an upsert of a new
// record looked its key up twice before filing it, hashing it each time.
func (t *table) checkUnique(ch *change, self int32, looked *Field) *rowError {
	for _, u := range t.unique {
		if u.field == looked {
			continue
		}
		fc, ok := ch.get(u.field)
		if !ok || fc.null {
			continue
		}
		if other, taken := u.get(t, ch.fold(fc.value)); taken && other != self {
			return &rowError{Code: "DUPLICATE_VALUE", Message: "duplicate value found: " + u.field.Name + " duplicates value on record with id: " + t.recordID(other)}
		}
	}
	return nil
}

// uniqueValue is a record's value of a unique field, if it has one.
type uniqueValue struct {
	value string
	ok    bool
}

// uniqueValues returns the record's current values of its unique fields,
// one a unique index, in the table's scratch slice: an update made a map of
// them a row.
func (t *table) uniqueValues(idx int32) []uniqueValue {
	t.oldUnique = t.oldUnique[:0]
	for _, u := range t.unique {
		v, ok := t.value(idx, u.field)
		t.oldUnique = append(t.oldUnique, uniqueValue{v, ok})
	}
	return t.oldUnique
}

// reindex brings the unique indexes up to date after record idx changed;
// old holds its unique values before the change, and ch is the change (nil
// for a deletion), whose folded upsert key it reuses. Only live records are
// indexed: a deleted record's external id is free for a new record.
func (t *table) reindex(idx int32, old []uniqueValue, ch *change) {
	fold := foldKey
	if ch != nil {
		fold = ch.fold
	}
	for i := range t.unique {
		u := &t.unique[i]
		if old != nil && old[i].ok {
			u.remove(fold(old[i].value), idx)
		}
		if t.row(idx).state != rowLive {
			continue
		}
		if v, ok := t.value(idx, u.field); ok {
			u.put(t, fold(v), idx)
		}
	}
}
