package event

import "testing"

// Deletes that name their record by external id: decoded as such, and
// sharing the record key of upserts of the same value, so the pipeline
// keeps them in order.
func TestDeleteByExternalID(t *testing.T) {
	ext := func(op Operation, object, field, value string) *Change {
		return &Change{Object: object, Operation: op, ExternalIDField: field, Fields: fieldList(field, value)}
	}
	jsonRoute := NewJSONDecoder(Defaults{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c"})
	hardRoute := NewJSONDecoder(Defaults{Object: "Account", Operation: HardDelete, ExternalIDField: "External_Id__c"})
	o := contactRoute(nil)
	o.Tombstones = TombstonesDelete
	debezium, err := NewDebeziumDecoder(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		d       Decoder
		key     string
		value   string // "" for a tombstone
		want    *Change
		wantErr string
	}{
		{name: "envelope delete", d: NewEnvelopeDecoder(Defaults{}),
			value: `{"object": "Account", "operation": "delete", "externalIdField": "External_Id__c", "fields": {"External_Id__c": "A-1", "Name": "x"}}`,
			want:  ext(Delete, "Account", "External_Id__c", "A-1")},
		{name: "envelope hardDelete", d: NewEnvelopeDecoder(Defaults{}),
			value: `{"object": "Account", "operation": "hardDelete", "externalIdField": "External_Id__c", "fields": {"External_Id__c": "A-1"}}`,
			want:  ext(HardDelete, "Account", "External_Id__c", "A-1")},
		{name: "envelope delete with a null value", d: NewEnvelopeDecoder(Defaults{}),
			value:   `{"object": "Account", "operation": "delete", "externalIdField": "External_Id__c", "fields": {"External_Id__c": null}}`,
			wantErr: `field "External_Id__c": delete by External_Id__c needs a value, got null`},
		{name: "json tombstone, a plain key", d: jsonRoute, key: "A-1", want: ext(Delete, "Account", "External_Id__c", "A-1")},
		{name: "json tombstone, a JSON string key", d: jsonRoute, key: `"A-1"`, want: ext(Delete, "Account", "External_Id__c", "A-1")},
		{name: "json tombstone, a JSON object key", d: jsonRoute, key: `{"external_id__c": 17}`, want: ext(Delete, "Account", "External_Id__c", "17")},
		{name: "json tombstone on a hardDelete route", d: hardRoute, key: "A-1", want: ext(HardDelete, "Account", "External_Id__c", "A-1")},
		{name: "json tombstone without a key", d: jsonRoute,
			wantErr: "record value is null (a tombstone), a delete by External_Id__c named by the record key, but the record key is empty"},
		{name: "json tombstone without an external id field", d: NewJSONDecoder(Defaults{Object: "Account", Operation: Insert}), key: "A-1",
			wantErr: "record value is null (a tombstone); the json format needs a JSON object"},
		{name: "debezium tombstone, key with schema", d: debezium,
			key:  `{"schema": {"type": "struct", "fields": [{"type": "int32", "field": "id"}]}, "payload": {"id": 1001}}`,
			want: ext(Delete, "Contact", "External_Id__c", "1001")},
		{name: "debezium tombstone, key without the column", d: debezium, key: `{"other": 1}`,
			wantErr: `record value is null (a tombstone), a delete by External_Id__c named by the record key, but the record key has no member "id"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := Source{Topic: "t", Key: []byte(tc.key)}
			if tc.key == "" {
				src.Key = nil
			}
			if tc.value != "" {
				src.Value = []byte(tc.value)
			}
			checkChange(t, tc.d, src, tc.want, tc.wantErr)
		})
	}

	del := ext(Delete, "Account", "External_Id__c", "A-1")
	up := &Change{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "a-1", "Name", "Acme")}
	if !del.ByExternalID() || del.RecordKey() != up.RecordKey() || del.RecordKey() == "" {
		t.Errorf("delete by external id: ByExternalID %v, RecordKey %q; the upsert's %q", del.ByExternalID(), del.RecordKey(), up.RecordKey())
	}
}
