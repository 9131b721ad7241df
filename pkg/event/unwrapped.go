package event

import "strings"

// UnwrappedDebeziumShape is the debezium_unwrapped format (see
// NewUnwrappedDebeziumDecoder) for an Avro decoder: the value is the row
// record that ExtractNewRecordState made of Debezium's Envelope.
func UnwrappedDebeziumShape(o DebeziumOptions) (Shape, error) {
	s, err := DebeziumShape(o)
	if err != nil {
		return nil, err
	}
	d := s.(*debeziumShape)
	d.unwrapped = true
	return d, nil
}

// NewUnwrappedDebeziumDecoder returns a decoder of Debezium change events
// that Debezium's ExtractNewRecordState transformation has unwrapped into
// flat rows, in JSON (with or without the schema/payload wrapper);
// NewAvroDecoder with UnwrappedDebeziumShape reads them in Avro. A row is
// the after state of a change, or, for a delete in the transformation's
// rewrite modes, the before state marked deleted. Its columns become fields
// as in the debezium format, and o's settings mean what they mean there.
//
// The fields the transformation adds are named with the prefix "__" (its
// add.fields.prefix default), and none is sent to Salesforce (a Salesforce
// field name starts with a letter):
//
//   - __deleted "true" (delete.handling.mode=rewrite, or
//     delete.tombstone.handling.mode rewrite or rewrite-with-tombstone) makes
//     the row a delete of the record its key field names, as op d does;
//   - __op (add.fields=op) d is a delete too; u on an insert route is an
//     update by Id, as in the debezium format; c, r and u otherwise, and a
//     row without __op, send the row with o.Operation (upsert by default);
//     t is a *DecodeError;
//   - other added fields (__table, __lsn, __source_ts_ms, ...) are left out.
//
// A tombstone (a null value) is, by default, a delete by the record key
// when the route has a key field: in the drop and tombstone modes
// (delete.handling.mode=drop with drop.tombstones=false,
// delete.tombstone.handling.mode=tombstone) a tombstone is the only trace of
// a delete. In rewrite-with-tombstone mode the tombstone follows a row
// marked deleted; set o.Tombstones to TombstonesSkip there. A record that
// the transformation passes through unchanged because it is no change
// event (a heartbeat, a schema change event) is a *SkipError, as in the
// debezium format. The decoder is safe for concurrent use.
func NewUnwrappedDebeziumDecoder(o DebeziumOptions) (Decoder, error) {
	s, err := UnwrappedDebeziumShape(o)
	if err != nil {
		return nil, err
	}
	return debeziumDecoder{s.(*debeziumShape)}, nil
}

// addedPrefix starts the names of the fields ExtractNewRecordState adds.
const addedPrefix = "__"

// unwrappedJSON reads a JSON row: the payload of {"schema", "payload"} read
// by its schema, or the value itself.
func (d *debeziumShape) unwrappedJSON(root *node, src Source) (*Change, error) {
	p, s := root.member("payload"), root.member("schema")
	if len(root.members) != 2 || p == nil || s == nil || s.kind != kindRaw {
		return d.unwrappedChange(root, src)
	}
	if p.kind != kindRecord {
		return nil, decodeErrorf("\"payload\" is %s, want a row", p.describe())
	}
	sch, err := d.connect.get(s.text)
	if err != nil {
		return nil, err
	}
	if err := typed(p, sch, "payload", 0); err != nil {
		return nil, err
	}
	return d.unwrappedChange(p, src)
}

// unwrappedChange reads a row, its added fields first.
func (d *debeziumShape) unwrappedChange(root *node, src Source) (*Change, error) {
	deleted, op := false, ""
	row := node{kind: kindRecord, members: make([]member, 0, len(root.members))}
	for i := range root.members {
		m := &root.members[i]
		if !strings.HasPrefix(m.name, addedPrefix) {
			row.members = append(row.members, *m)
			continue
		}
		switch m.name {
		case "__deleted":
			switch v := &m.value; v.kind {
			case kindText, kindBool: // a string in the transformation's schema; a boolean from some tools
				deleted = strings.EqualFold(v.text, "true")
			case kindNull:
			default:
				return nil, decodeErrorf("\"__deleted\" is %s, want \"true\" or \"false\"", v.describe())
			}
		case "__op":
			var err error
			if op, err = m.value.optionalText("__op"); err != nil {
				return nil, err
			}
		}
	}
	if d.o.KeyField != "" && row.member(d.o.KeyField) == nil && len(row.members) == len(root.members) {
		if reason := notAChange(root); reason != "" {
			return nil, skipf(reason)
		}
	}
	switch {
	case deleted || op == "d":
		fs, err := d.fields(&row, "row")
		if err != nil {
			return nil, err
		}
		return deleteChange(debeziumUnwrappedFormat, d.o.Object, d.o.ExternalIDField, fs, src)
	case op == "t":
		return nil, decodeErrorf("__op \"t\" (truncate) is not supported: Bulk API 2.0 deletes records by Id, one row each, and cannot empty an object")
	case op != "" && op != "c" && op != "r" && op != "u":
		return nil, decodeErrorf("unknown __op %q (Debezium's ops are c, r, u, d and t)", op)
	}
	fs, err := d.fields(&row, "row")
	if err != nil {
		return nil, err
	}
	operation, ext := d.o.Operation, d.o.ExternalIDField
	if op == "u" && operation == Insert {
		operation = Update
	}
	if operation == Update {
		ext = ""
	}
	return finish(debeziumUnwrappedFormat, d.o.Object, string(operation), ext, fs, src)
}

// unwrappedTombstone is a tombstone of the debezium_unwrapped format: by
// default a delete by the key's key field column.
func (d *debeziumShape) unwrappedTombstone(src Source, key keyReader) (*Change, error) {
	def := TombstonesFail
	if d.o.KeyField != "" {
		def = TombstonesDelete
	}
	return tombstone(d.o.Tombstones.orDefault(def), d.o.Object, Delete, d.o.ExternalIDField, d.o.KeyField, src, key,
		"a tombstone (a null value), which the route's tombstones setting skips",
		decodeErrorf("record value is null (a tombstone); the route's tombstones setting is fail, or it has no key field to name the record by"))
}
