package bulkemu

import (
	"strings"
)

// change is one CSV row turned into what it asks of the org.
type change struct {
	id      string             // value of the Id column, if any
	key     string             // value of the upsert key column, if any
	hasKey  bool               // the upsert key column is present
	set     map[*Field]*string // nil value: set to null
	missing map[*Field]bool    // required fields given as #N/A
}

// outcome is the result of applying one row.
type outcome struct {
	rec     int32 // record index; -1 when the row names no existing record
	created bool
	err     *rowError
}

var errRowLocked = &rowError{Code: "UNABLE_TO_LOCK_ROW", Message: "unable to obtain exclusive access to this record"}

// apply performs one row of an ingest job on the org. The caller holds the
// store's write lock. It never panics on data: every problem is a rowError.
func (s *store) apply(j *job, cols []csvColumn, values []string, now int64) outcome {
	t := s.tables[j.object]
	if len(values) != len(cols) {
		return outcome{rec: -1, err: &rowError{Code: "INVALID_FIELD", Message: "Row has a different number of columns than the header"}}
	}
	ch, rerr := s.parseRow(j, cols, values)
	if rerr != nil {
		return outcome{rec: -1, err: rerr}
	}
	switch j.operation {
	case "insert":
		if ch.id != "" {
			return outcome{rec: -1, err: &rowError{Code: "INVALID_FIELD_FOR_INSERT_UPDATE", Message: "cannot specify Id in an insert call", Fields: []string{"Id"}}}
		}
		return s.insert(t, ch, now)
	case "update":
		idx, err := s.existing(t, ch.id, "update")
		if err != nil {
			return outcome{rec: idx, err: err}
		}
		return s.update(t, idx, ch, now)
	case "upsert":
		return s.upsert(t, j.externalID, ch, now)
	case "delete", "hardDelete":
		idx, err := s.existing(t, ch.id, "delete")
		if err != nil {
			if idx >= 0 && j.operation == "hardDelete" && t.rows[idx].state == rowDeleted {
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

// parseRow checks and converts the values of a row. Empty cells are left
// out (unchanged), #N/A cells become nulls.
func (s *store) parseRow(j *job, cols []csvColumn, values []string) (change, *rowError) {
	ch := change{set: map[*Field]*string{}}
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
			return ch, &rowError{Code: "INVALID_FIELD_FOR_INSERT_UPDATE", Message: "Unable to create/update fields: " + c.field.Name +
				". Please check the security settings of this field and verify that it is read/write for your profile or permission set.", Fields: []string{c.field.Name}}
		}
		if v == nullValue {
			if c.field.Required {
				if ch.missing == nil {
					ch.missing = map[*Field]bool{}
				}
				ch.missing[c.field] = true
			}
			ch.set[c.field] = nil
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
			return ch, err
		}
		ch.set[c.field] = &value
	}
	return ch, nil
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
	if !ok || pt.rows[idx].state == rowHardDeleted {
		return "", &rowError{Code: "INVALID_CROSS_REFERENCE_KEY", Message: "invalid cross reference id"}
	}
	if pt.rows[idx].state == rowDeleted {
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
	if !ok || t.rows[idx].state == rowHardDeleted {
		return -1, &rowError{Code: "INVALID_CROSS_REFERENCE_KEY", Message: "invalid cross reference id"}
	}
	if t.rows[idx].state == rowDeleted {
		return idx, &rowError{Code: "ENTITY_IS_DELETED", Message: "entity is deleted"}
	}
	return idx, nil
}

func (s *store) insert(t *table, ch change, now int64) outcome {
	var missing []string
	for _, f := range t.obj.requiredOnes {
		if v, ok := ch.set[f]; !ok || v == nil {
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		return outcome{rec: -1, err: &rowError{Code: "REQUIRED_FIELD_MISSING", Message: "Required fields are missing: [" + strings.Join(missing, ", ") + "]", Fields: missing}}
	}
	if err := t.checkUnique(ch, -1); err != nil {
		return outcome{rec: -1, err: err}
	}
	idx := int32(len(t.rows))
	t.rows = append(t.rows, row{created: now, modified: now})
	r := &t.rows[idx]
	for f, v := range ch.set {
		r.set(f, v)
	}
	t.reindex(idx, nil)
	return outcome{rec: idx, created: true}
}

func (s *store) update(t *table, idx int32, ch change, now int64) outcome {
	if len(ch.missing) > 0 {
		var names []string
		for _, f := range t.obj.requiredOnes {
			if ch.missing[f] {
				names = append(names, f.Name)
			}
		}
		return outcome{rec: idx, err: &rowError{Code: "REQUIRED_FIELD_MISSING", Message: "Required fields are missing: [" + strings.Join(names, ", ") + "]", Fields: names}}
	}
	if err := t.checkUnique(ch, idx); err != nil {
		return outcome{rec: idx, err: err}
	}
	old := t.uniqueValues(idx)
	r := &t.rows[idx]
	for f, v := range ch.set {
		r.set(f, v)
	}
	r.modified = now
	t.reindex(idx, old)
	return outcome{rec: idx}
}

func (s *store) upsert(t *table, key *Field, ch change, now int64) outcome {
	if key.Name == "Id" {
		if ch.id == "" {
			return s.insert(t, ch, now)
		}
		idx, err := s.existing(t, ch.id, "upsert")
		if err != nil {
			return outcome{rec: idx, err: err}
		}
		return s.update(t, idx, ch, now)
	}
	if !ch.hasKey || ch.key == "" {
		return outcome{rec: -1, err: &rowError{Code: "MISSING_ARGUMENT", Message: key.Name + " not specified"}}
	}
	if ch.key == nullValue {
		return outcome{rec: -1, err: fieldError("INVALID_FIELD", key, "%s: the upsert key cannot be null", key.Label)}
	}
	if idx, ok := t.lookup(key, *ch.set[key]); ok {
		return s.update(t, idx, ch, now)
	}
	return s.insert(t, ch, now)
}

func (s *store) remove(t *table, idx int32, state rowState, now int64) outcome {
	old := t.uniqueValues(idx)
	t.rows[idx].state = state
	t.rows[idx].modified = now
	if state == rowHardDeleted {
		t.rows[idx].vals = nil
	}
	t.reindex(idx, old)
	return outcome{rec: idx}
}

// checkUnique fails a change that would give a unique field a value another
// live record holds. self is the record being updated, or -1.
func (t *table) checkUnique(ch change, self int32) *rowError {
	for f, m := range t.external {
		v, ok := ch.set[f]
		if !ok || v == nil {
			continue
		}
		if other, taken := m[foldKey(*v)]; taken && other != self {
			return &rowError{Code: "DUPLICATE_VALUE", Message: "duplicate value found: " + f.Name + " duplicates value on record with id: " + t.recordID(other)}
		}
	}
	return nil
}

// uniqueValues returns the record's current values of its unique fields.
func (t *table) uniqueValues(idx int32) map[*Field]string {
	out := map[*Field]string{}
	for f := range t.external {
		if v, ok := t.rows[idx].get(f); ok {
			out[f] = v
		}
	}
	return out
}

// reindex brings the unique indexes up to date after record idx changed;
// old holds its unique values before the change. Only live records are
// indexed: a deleted record's external id is free for a new record.
func (t *table) reindex(idx int32, old map[*Field]string) {
	for f, m := range t.external {
		if v, ok := old[f]; ok && m[foldKey(v)] == idx {
			delete(m, foldKey(v))
		}
		if t.rows[idx].state != rowLive {
			continue
		}
		if v, ok := t.rows[idx].get(f); ok {
			m[foldKey(v)] = idx
		}
	}
}
