package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// A Shape is what a record value means once its bytes are read: where the
// object, the operation and the fields are. NewAvroDecoder reads a shape
// from Avro; the JSON decoders (NewEnvelopeDecoder, NewJSONDecoder,
// NewDebeziumDecoder) read theirs from JSON.
type Shape interface {
	// change reads the record value root into a change.
	change(root *node, src Source) (*Change, error)
	// tombstone is what a null record value (a tombstone) becomes on the
	// route: a change, a *SkipError or a *DecodeError (see Tombstones).
	// key reads the record key.
	tombstone(src Source, key keyReader) (*Change, error)
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

func (e envelopeShape) tombstone(src Source, key keyReader) (*Change, error) {
	return e.d.tombstone(envelopeFormat, TombstonesFail, src, key, tombstoneError(envelopeFormat))
}

// tombstone is the tombstone of a route whose external id field names the
// record in the key (the envelope and json formats), with the setting's
// default def and the failure fail.
func (d *Defaults) tombstone(f format, def Tombstones, src Source, key keyReader, fail error) (*Change, error) {
	return tombstone(d.Tombstones.orDefault(def), d.Object, d.Operation, d.ExternalIDField, d.ExternalIDField, src, key,
		"a tombstone (a null value), which the route's tombstones setting skips", fail)
}

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

func (j jsonShape) tombstone(src Source, key keyReader) (*Change, error) {
	return j.d.tombstone(jsonFormat, j.d.jsonTombstones(), src, key, tombstoneError(jsonFormat))
}

// jsonTombstones is the json format's default: a delete by the key when
// the route has an external id field, else a failure.
func (d *Defaults) jsonTombstones() Tombstones {
	if d.ExternalIDField != "" {
		return TombstonesDelete
	}
	return TombstonesFail
}

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
	return deleteByExternalID(Delete, object, fs[i], src)
}

// deleteByExternalID is a delete (or hardDelete) of the record whose
// external id field is f. Bulk API 2.0 deletes by Id only: the pipeline
// resolves the value to the record's Id (its id cache, else a query) before
// the job, and reports a key that matches no record as not found.
func deleteByExternalID(op Operation, object string, f Field, src Source) (*Change, error) {
	switch {
	case f.Value.Null || f.Value.Text == "":
		return nil, decodeErrorf("field %q: %s by %s needs a value, got null", f.Name, op, f.Name)
	case !utf8.ValidString(f.Value.Text):
		return nil, decodeErrorf("field %q: %s by %s needs UTF-8 text", f.Name, op, f.Name)
	}
	return &Change{Object: object, Operation: op, ExternalIDField: f.Name, Fields: []Field{f}, Source: src}, nil
}

// tombstoneDelete is the delete that a tombstone (a record with a null
// value) of a route stands for: its record key names the record by the
// external id field ext. key reads the value of the key's column: the key
// itself (a plain string key), a JSON string, or a JSON object (optionally
// in Kafka Connect's {"schema", "payload"} wrapper) whose member column
// holds the value (see keyValue), or an Avro key.
func tombstoneDelete(object string, op Operation, ext, column string, src Source, key keyReader) (*Change, error) {
	if ext == "" || column == "" {
		return nil, decodeErrorf("record value is null (a tombstone), to be a delete by the record key, but the route names no external id field or key field")
	}
	if strings.EqualFold(ext, "Id") {
		return nil, decodeErrorf("record value is null (a tombstone), to be a delete by the record key, but the route's external id field is Id; a tombstone deletes by an external id")
	}
	if !op.IsDelete() {
		op = Delete
	}
	v, err := key(src.Key, column)
	if _, ok := errors.AsType[*RegistryError](err); ok {
		return nil, err // the key's schema could not be had: not the record's fault
	}
	if de, ok := errors.AsType[*DecodeError](err); ok {
		err = errors.New(de.Reason)
	}
	if err != nil {
		return nil, decodeErrorf("record value is null (a tombstone), a delete by %s named by the record key, but %s", ext, err)
	}
	if !isAPIName(object) {
		return finish(jsonFormat, object, string(op), "", nil, src) // for its message about the object
	}
	return deleteByExternalID(op, object, Field{Name: ext, Value: Text(v)}, src)
}

// keyValue reads the external id value out of a record key (see
// tombstoneDelete).
func keyValue(key []byte, column string) (string, error) {
	k := bytes.TrimSpace(key)
	switch {
	case len(k) == 0:
		return "", errors.New("the record key is empty")
	case !utf8.Valid(k):
		return "", errors.New("the record key is not UTF-8 text")
	case k[0] == '"':
		var s string
		if err := json.Unmarshal(k, &s); err != nil {
			return "", fmt.Errorf("the record key is not a JSON string: %v", err)
		}
		return s, nil
	case k[0] != '{':
		return string(k), nil
	}
	var obj map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(k))
	d.UseNumber()
	if err := d.Decode(&obj); err != nil {
		return "", fmt.Errorf("the record key is not a JSON object: %v", err)
	}
	if p, ok := obj["payload"]; ok && obj["schema"] != nil && len(obj) == 2 {
		obj = nil
		d := json.NewDecoder(bytes.NewReader(p))
		d.UseNumber()
		if err := d.Decode(&obj); err != nil {
			return "", fmt.Errorf("the record key's payload is not a JSON object: %v", err)
		}
	}
	raw, ok := obj[column]
	if !ok {
		for name, v := range obj {
			if strings.EqualFold(name, column) {
				raw, ok = v, true
			}
		}
	}
	if !ok {
		return "", fmt.Errorf("the record key has no member %q", column)
	}
	var v any
	d = json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return "", err
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	}
	return "", fmt.Errorf("the record key's %q is %s, want a string or a number", column, bytes.TrimSpace(raw))
}
