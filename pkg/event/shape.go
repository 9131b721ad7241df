package event

import (
	"slices"
	"strconv"
)

// A Shape is what a record value means once its bytes are read: where the
// object, the operation and the fields are. NewAvroDecoder reads a shape
// from Avro; the JSON decoders (NewEnvelopeDecoder, NewJSONDecoder,
// NewDebeziumDecoder) read theirs from JSON.
type Shape interface {
	// change reads the record value root into a change.
	change(root *node, src Source) (*Change, error)
	// tombstone is the error for a null record value.
	tombstone() error
	format() format
}

// EnvelopeShape is the envelope format (see NewEnvelopeDecoder) for an
// Avro decoder: a record with the optional fields object, operation,
// externalIdField and fields, whose fields is a map or a record of field
// values (schemas/change_envelope.avsc). A map's fields are in the order of
// their names, since a decoded Avro map has no order.
func EnvelopeShape(d Defaults) Shape { return envelopeShape{d} }

// JSONShape is the json format (see NewJSONDecoder) for an Avro decoder:
// the fields of the record are the fields of the change, all sent to the
// route's object with its operation.
func JSONShape(d Defaults) Shape { return jsonShape{d} }

type envelopeShape struct{ d Defaults }

func (envelopeShape) format() format { return envelopeFormat }

func (envelopeShape) tombstone() error { return tombstoneError(envelopeFormat) }

func tombstoneError(f format) error {
	return decodeErrorf("record value is null (a tombstone); the %s format needs a value", f)
}

func (e envelopeShape) change(root *node, src Source) (*Change, error) {
	object, operation, ext := e.d.Object, string(e.d.Operation), e.d.ExternalIDField
	var cols []column
	for i := range root.members {
		m := &root.members[i]
		k := slices.Index(envelopeKeys[:], m.name)
		if k < 0 {
			return nil, decodeErrorf("unknown envelope key %q (the keys are object, operation, externalIdField and fields)", m.name)
		}
		if m.name == "fields" {
			if m.value.kind != kindRecord && m.value.kind != kindNull {
				return nil, decodeErrorf("%q is %s, want a map or record of fields", m.name, m.value.describe())
			}
			var err error
			if cols, err = flatten(nil, "", &m.value, 0); err != nil {
				return nil, err
			}
			continue
		}
		s, err := m.value.optionalText(m.name)
		if err != nil {
			return nil, err
		}
		if s == "" {
			continue
		}
		switch m.name {
		case "object":
			object = s
		case "operation":
			operation = s
		default:
			ext = s
		}
	}
	fs, err := e.d.Mapping.apply(cols, keyColumn{}, nil)
	if err != nil {
		return nil, err
	}
	return finish(envelopeFormat, object, operation, ext, fs, src)
}

type jsonShape struct{ d Defaults }

func (jsonShape) format() format { return jsonFormat }

func (jsonShape) tombstone() error { return tombstoneError(jsonFormat) }

func (j jsonShape) change(root *node, src Source) (*Change, error) {
	cols, err := flatten(make([]column, 0, len(root.members)), "", root, 0)
	if err != nil {
		return nil, err
	}
	fs, err := j.d.Mapping.apply(cols, keyColumn{}, nil)
	if err != nil {
		return nil, err
	}
	return finish(jsonFormat, j.d.Object, string(j.d.Operation), j.d.ExternalIDField, fs, src)
}

// finish applies what the operation needs to mapped fields (see Decoder).
func finish(f format, object, operation, ext string, fs []Field, src Source) (*Change, error) {
	r := reader{object: object, operation: operation, externalID: ext, fields: fs}
	return r.change(src, f)
}

// deleteByExternalID is why a delete that names its record by an external
// id fails: Bulk API 2.0 deletes by Id only.
const deleteByExternalID = "delete by external id is not supported yet (needs the record Id)"

// deleteChange is a delete of the record that the mapped fields fs name: by
// its Id when they carry one, else by the external id field ext.
func deleteChange(f format, object, ext string, fs []Field, src Source) (*Change, error) {
	if i := fieldIndex(fs, "Id"); i >= 0 && !fs[i].Value.Null {
		return finish(f, object, string(Delete), "", fs, src)
	}
	if !isAPIName(object) {
		return finish(f, object, string(Delete), "", fs, src) // for its message about the object
	}
	if ext == "" {
		return nil, decodeErrorf("delete needs the record Id: no field is sent as Id, and the route has no external id field")
	}
	i := fieldIndex(fs, ext)
	if i < 0 || fs[i].Value.Null {
		return nil, decodeErrorf("delete has no value for %s, which names the record", ext)
	}
	return resolveDelete(&Change{Object: object, Operation: Delete, ExternalIDField: ext, Fields: []Field{fs[i]}, Source: src})
}

// resolveDelete turns a delete that names its record by external id into a
// delete by Id. Resolving needs the Id that Salesforce gave the record: the
// pipeline's id cache, else a query (issue 8). Until then such a delete is
// a decode failure that names the record.
func resolveDelete(c *Change) (*Change, error) {
	v, _ := c.Get(c.ExternalIDField)
	return nil, decodeErrorf("delete of %s %s=%s: %s", c.Object, c.ExternalIDField, strconv.Quote(v.Text), deleteByExternalID)
}
