package event

import "slices"

type envelopeDecoder struct{ d Defaults }

// NewEnvelopeDecoder returns a decoder of the envelope format. The record
// value is a JSON object with these keys, all optional:
//
//	{"object": "Account", "operation": "upsert", "externalIdField": "External_Id__c",
//	 "fields": {"External_Id__c": "A-1", "Name": "Acme", "Industry": null}}
//
// object, operation and externalIdField override d; a key that is null or
// "" is not given, and d's value holds. Any other key is an error, so that a
// misspelt key ("Operation") cannot silently leave the route's operation in
// force. delete and hardDelete name their record by "Id" in fields or,
// without one, by the value of externalIdField (a delete by external id,
// which the pipeline resolves to the Id); their other fields are checked
// like any field, then dropped. A tombstone (a null value) fails, unless
// d.Tombstones says to skip it or to delete by the record key, whose value
// is the external id. The rules of Decoder apply. The decoder has no state and is safe for concurrent use.
func NewEnvelopeDecoder(d Defaults) Decoder { return envelopeDecoder{d} }

func (e envelopeDecoder) Decode(src Source) (*Change, error) {
	return e.d.decodeJSON(src, envelopeFormat, TombstonesFail, nil)
}

func (e envelopeDecoder) DecodeReusing(src Source, c *Change) (*Change, error) {
	return e.d.decodeJSON(src, envelopeFormat, TombstonesFail, c)
}

// decodeJSON decodes a JSON value of the envelope or json format f, or a
// tombstone with the tombstones setting's default def; into, if not nil,
// is a Change to reuse (see ReusingDecoder).
func (d *Defaults) decodeJSON(src Source, f format, def Tombstones, into *Change) (*Change, error) {
	if src.Value == nil {
		return d.tombstone(f, def, src, keyValue, nullJSONError(f))
	}
	r := reader{object: d.Object, operation: string(d.Operation), externalID: d.ExternalIDField, into: into}
	if err := r.read(src.Value, f); err != nil {
		return nil, err
	}
	if m := d.Mapping; m != nil {
		var err error
		if r.fields, err = m.applyText(r.fields); err != nil {
			return nil, err
		}
	}
	return r.change(src, f)
}

// envelopeKeys are the keys an envelope may have.
var envelopeKeys = [...]string{"object", "operation", "externalIdField", "fields"}

// envelope reads the keys of an envelope whose '{' has been read.
func (r *reader) envelope() error {
	var seen [len(envelopeKeys)]bool
	return r.members(false, envelopeKeys[:], func(key string) error {
		k := slices.Index(envelopeKeys[:], key)
		switch {
		case k < 0:
			return decodeErrorf("unknown envelope key %q (the keys are object, operation, externalIdField and fields)", key)
		case seen[k]:
			return decodeErrorf("envelope key %q appears twice", key)
		}
		seen[k] = true
		switch key {
		case "object":
			return r.optionalString(&r.object)
		case "operation":
			return r.optionalString(&r.operation, operationNames[:]...)
		case "externalIdField":
			return r.optionalString(&r.externalID)
		}
		return r.fieldsObject()
	})
}

// fieldsObject reads the value of the envelope's "fields": an object of
// fields, or null for none.
func (r *reader) fieldsObject() error {
	switch c := r.src[r.pos]; c {
	case '{':
		r.pos++
		r.fields = r.newFields()
		at := r.at
		if err := r.members(true, nil, r.field); err != nil {
			return err
		}
		r.at = at // back in the envelope, at its "fields"
		return nil
	case 'n':
		return r.literal("null")
	default:
		return decodeErrorf("%s is %s, want an object of fields", r.at, kind(c))
	}
}
