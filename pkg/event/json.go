package event

type jsonDecoder struct{ d Defaults }

// NewJSONDecoder returns a decoder of the json format: the record value is
// a flat JSON object of field values, such as
//
//	{"External_Id__c": "A-1", "Name": "Acme", "AnnualRevenue": 1.5e6, "Industry": null}
//
// and the route gives the object, the operation and the external id field
// in d. Object and Operation are required; without them every event fails
// with a DecodeError, which configuration validation should prevent. A
// tombstone (a null value) is what d.Tombstones says; by default, on a
// route with an external id field, a delete by external id whose value is
// the record key: the key as text, a JSON string, or a JSON object with a
// member named like the external id field; it is a hardDelete on a
// hardDelete route. The rules of Decoder apply. The decoder has no state and is safe for
// concurrent use.
func NewJSONDecoder(d Defaults) Decoder { return jsonDecoder{d} }

func (j jsonDecoder) Decode(src Source) (*Change, error) {
	return j.d.decodeJSON(src, jsonFormat, j.d.jsonTombstones(), nil)
}

func (j jsonDecoder) DecodeReusing(src Source, c *Change) (*Change, error) {
	return j.d.decodeJSON(src, jsonFormat, j.d.jsonTombstones(), c)
}
