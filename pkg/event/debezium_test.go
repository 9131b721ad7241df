package event

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// mustMapping compiles rules or fails the test.
func mustMapping(t testing.TB, r MappingRules) *Mapping {
	t.Helper()
	m, err := NewMapping(r)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fixture(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// contactRoute is a Debezium route of the customers table to Contact,
// upserted on External_Id__c from the column id.
func contactRoute(m *Mapping) DebeziumOptions {
	return DebeziumOptions{Defaults: Defaults{Object: "Contact", ExternalIDField: "External_Id__c", Mapping: m}, KeyField: "id"}
}

// customersMapping maps the fixtures' columns without the schema wrapper,
// where birth_date is a bare number of days that a type hint reads.
var customersMapping = MappingRules{
	Rename:    map[string]string{"first_name": "FirstName", "last_name": "LastName", "email": "Email", "birth_date": "Birthdate"},
	Include:   []string{"first_name", "last_name", "email", "birth_date"},
	TypeHints: map[string]TypeHint{"Birthdate": HintDate},
}

type debeziumCase struct {
	name    string
	opts    DebeziumOptions
	file    string // under testdata/debezium, or
	value   string // inline
	nilVal  bool   // a tombstone
	want    *Change
	wantErr string
}

func TestDebezium(t *testing.T) {
	mapped := contactRoute(mustMapping(t, customersMapping))
	mappedDeletes := mapped
	mappedDeletes.Tombstones = TombstonesDelete
	plain := contactRoute(nil)
	withID := contactRoute(mustMapping(t, MappingRules{Rename: map[string]string{"sf_id": "Id"}}))
	insert := withID
	insert.Operation = Insert
	nested := contactRoute(mustMapping(t, MappingRules{Rename: map[string]string{"address.city": "MailingCity", "name": "LastName"}}))
	hinted := contactRoute(mustMapping(t, MappingRules{TypeHints: map[string]TypeHint{"birth_date": HintDate}}))

	byExternalID := &Change{Object: "Contact", Operation: Delete, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "1001")}
	cases := []debeziumCase{
		{name: "create", opts: mapped, file: "create.json", want: &Change{Object: "Contact", Operation: Upsert, ExternalIDField: "External_Id__c",
			Fields: fieldList("External_Id__c", "1001", "FirstName", "Ada", "LastName", "Lovelace", "Email", "ada@example.com", "Birthdate", "1990-05-17")}},
		{name: "snapshot read", opts: mapped, file: "read.json", want: &Change{Object: "Contact", Operation: Upsert, ExternalIDField: "External_Id__c",
			Fields: fieldList("External_Id__c", "1002", "FirstName", "Grace", "LastName", "Hopper", "Email", "grace@example.com", "Birthdate", "1908-01-02")}},
		{name: "update sends the after row", opts: mapped, file: "update.json", want: &Change{Object: "Contact", Operation: Upsert, ExternalIDField: "External_Id__c",
			Fields: fieldList("External_Id__c", "1001", "FirstName", "Ada", "LastName", "King", "Email", "ada.king@example.com", "Birthdate", "1990-05-17")}},
		{name: "delete by external id", opts: mapped, file: "delete.json", want: byExternalID},
		{name: "truncate", opts: mapped, file: "truncate.json",
			wantErr: `op "t" (truncate) is not supported: Bulk API 2.0 deletes records by Id, one row each, and cannot empty an object`},
		{name: "message", opts: mapped, file: "message.json", wantErr: `op "m" (a logical decoding message) carries no row to write`},
		{name: "tombstone: a delete by the key's column", opts: mappedDeletes, nilVal: true, want: byExternalID},

		// The schema/payload wrapper: Debezium's semantic types.
		{name: "create with schema", opts: plain, file: "create_schema.json", want: &Change{Object: "Contact", Operation: Upsert, ExternalIDField: "External_Id__c",
			Fields: fieldList("External_Id__c", "1001", "first_name", "Ada", "last_name", "Lovelace", "email", "ada@example.com",
				"birth_date", "1990-05-17", "credit_limit", "1234.50", "is_active", "true", "updated_at", "2024-03-01T12:34:56.789Z",
				"last_login", "2024-03-01T12:34:56.500Z", "score", "-0.525", "visits", "42")}},
		{name: "update with schema: nulls and a negative decimal", opts: plain, file: "update_schema.json", want: &Change{Object: "Contact", Operation: Upsert, ExternalIDField: "External_Id__c",
			Fields: fieldList("External_Id__c", "1001", "first_name", "Ada", "last_name", "King", "email", "ada@example.com",
				"birth_date", nil, "credit_limit", "-5.25", "is_active", "false", "updated_at", "2024-03-01T12:35:00.000Z",
				"last_login", nil, "score", nil, "visits", "43")}},
		{name: "delete with schema", opts: plain, file: "delete_schema.json", want: byExternalID},

		// Inline events.
		{name: "delete by a column mapped to Id", opts: withID, value: `{"op": "d", "before": {"id": 7, "sf_id": "003000000000002AAA"}, "after": null}`,
			want: &Change{Object: "Contact", Operation: Delete, Fields: fieldList("Id", "003000000000002AAA")}},
		{name: "insert route: create inserts", opts: insert, value: `{"op": "c", "after": {"id": 7, "name": "x", "sf_id": null}}`,
			want: &Change{Object: "Contact", Operation: Insert, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "7", "name", "x", "Id", nil)}},
		{name: "insert route: update updates by Id", opts: insert, value: `{"op": "u", "after": {"id": 7, "name": "y", "sf_id": "003000000000002AAA"}}`,
			want: &Change{Object: "Contact", Operation: Update, Fields: fieldList("External_Id__c", "7", "name", "y", "Id", "003000000000002AAA")}},
		{name: "insert route: update without Id", opts: insert, value: `{"op": "u", "after": {"id": 7, "name": "y", "sf_id": null}}`,
			wantErr: `field "Id": update needs a record Id, got null`},
		{name: "nested record flattened and renamed", opts: nested, value: `{"op": "c", "after": {"id": 7, "name": "Lin", "address": {"city": "Paris", "zip": null}}}`,
			want: &Change{Object: "Contact", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "7", "LastName", "Lin", "MailingCity", "Paris", "address.zip", nil)}},
		{name: "no op", opts: plain, value: `{"after": {"id": 1}}`, wantErr: `the value has no "op"; a Debezium change event has op, before, after and source`},
		{name: "unknown op", opts: plain, value: `{"op": "x", "after": {"id": 1}}`, wantErr: `unknown op "x" (Debezium's ops are c, r, u, d, t and m)`},
		{name: "op not a string", opts: plain, value: `{"op": 1}`, wantErr: `"op" is a number, want a string`},
		{name: "create without after", opts: plain, value: `{"op": "c", "after": null}`, wantErr: `op "c" has null as its "after" row`},
		{name: "delete without before", opts: plain, value: `{"op": "d", "after": null}`, wantErr: `op "d" has no "before" row`},
		{name: "row without the key column", opts: plain, value: `{"op": "c", "after": {"name": "x"}}`, wantErr: `the "after" row has no column "id" (the route's key field)`},
		{name: "null key", opts: plain, value: `{"op": "c", "after": {"id": null, "name": "x"}}`, wantErr: `field "External_Id__c": upsert by External_Id__c needs a value, got null`},
		{name: "array column", opts: plain, value: `{"op": "c", "after": {"id": 1, "tags": ["a"]}}`,
			wantErr: `field "tags": value is an array; a field takes a string, number, boolean, date or null (leave it out with mapping.exclude)`},
		{name: "hint that does not fit", opts: hinted, value: `{"op": "c", "after": {"id": 1, "birth_date": "soon"}}`,
			wantErr: `field "birth_date": "soon" is not a date (ISO 8601, such as 2024-01-31 or 2024-01-31T12:00:00Z) or a number of days or milliseconds since 1970`},
		{name: "key twice", opts: plain, value: `{"op": "c", "op": "u"}`, wantErr: `key "op" appears twice`},
		{name: "payload not an object", opts: plain, value: `{"schema": {"type": "struct"}, "payload": null}`, wantErr: `"payload" is null, want a Debezium change event`},
		{name: "schema of an unknown type", opts: plain, value: `{"schema": {"type": "struct", "fields": [{"type": "uint8", "field": "op"}]}, "payload": {"op": "c"}}`,
			wantErr: `the Kafka Connect schema has an unknown type "uint8"`},
		{name: "value that its schema refuses", opts: plain, value: `{"schema": {"type": "struct", "fields": [{"type": "struct", "field": "after", "fields": [{"type": "int32", "field": "id"}]}]}, "payload": {"op": "c", "after": {"id": "seven"}}}`,
			wantErr: `"id" is a string; its schema says int`},
		{name: "decimal that is not base64", opts: plain, value: `{"schema": {"type": "struct", "fields": [{"type": "struct", "field": "after", "fields": [{"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}, "field": "p"}]}]}, "payload": {"op": "c", "after": {"id": 1, "p": "12.5"}}}`,
			wantErr: `"p" is not base64, as bytes are in JSON`},
		{name: "not JSON", opts: plain, value: `{"op": c}`, wantErr: `"op": invalid JSON at byte 7: invalid character 'c' looking for beginning of value`},
		{name: "JSON array", opts: plain, value: `[]`, wantErr: `record value is an array; the debezium format needs a JSON object`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			value := []byte(tc.value)
			switch {
			case tc.file != "":
				value = fixture(t, "debezium/"+tc.file)
			case tc.nilVal:
				value = nil
			}
			d, err := NewDebeziumDecoder(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			src := Source{Topic: "dbserver1.inventory.customers", Partition: 1, Offset: 9, Key: []byte(`{"id":1001}`), Value: value}
			checkChange(t, d, src, tc.want, tc.wantErr)
		})
	}
}

// checkChange decodes src and compares the change, or the DecodeError's
// reason, with what is wanted.
func checkChange(t *testing.T, d Decoder, src Source, want *Change, wantErr string) {
	t.Helper()
	c, err := d.Decode(src)
	if want == nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("Decode = %+v, %v; want a *DecodeError %q", c, err, wantErr)
		}
		if de.Reason != wantErr {
			t.Errorf("Reason\n got %s\nwant %s", de.Reason, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	w := *want
	w.Source = src
	if !reflect.DeepEqual(*c, w) {
		t.Errorf("Decode\n got %+v\nwant %+v", *c, w)
	}
}

func TestDebeziumOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    DebeziumOptions
		err  string
	}{
		{"upsert without key field", DebeziumOptions{Defaults: Defaults{Object: "Contact", ExternalIDField: "Ext__c"}},
			"debezium: an upsert route needs a key field and an external id field"},
		{"delete", DebeziumOptions{Defaults: Defaults{Object: "Contact", Operation: Delete}},
			`debezium: operation "delete": change events become upsert, insert or update`},
		{"mapping renames the key", DebeziumOptions{Defaults: Defaults{Object: "Contact", ExternalIDField: "Ext__c",
			Mapping: mustMapping(t, MappingRules{Rename: map[string]string{"id": "Legacy__c"}})}, KeyField: "id"},
			"debezium: the mapping renames or excludes the key field id, which is always sent as Ext__c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewDebeziumDecoder(tc.o); err == nil || err.Error() != tc.err {
				t.Errorf("err = %v, want %s", err, tc.err)
			}
		})
	}
}

var debeziumFixtures = []string{"create.json", "read.json", "update.json", "delete.json", "truncate.json", "message.json",
	"create_schema.json", "update_schema.json", "delete_schema.json"}

func FuzzDebezium(f *testing.F) {
	for _, name := range debeziumFixtures {
		f.Add(fixture(f, "debezium/"+name))
	}
	documented, err := filepath.Glob("testdata/debezium/*/*.json")
	if err != nil || len(documented) == 0 {
		f.Fatalf("no documented fixtures: %v", err)
	}
	for _, path := range documented {
		f.Add(fixture(f, strings.TrimPrefix(path, "testdata/")))
	}
	f.Add([]byte(`{"op": "d", "before": {"id": 7, "sf_id": "003000000000002AAA"}}`))
	f.Add([]byte(`{"op": "c", "after": {"id": 7, "address": {"city": "Paris"}, "birth_date": "2024-01-01T00:00:00Z"}}`))
	d, err := NewDebeziumDecoder(contactRoute(mustMapping(f, MappingRules{
		Rename:    map[string]string{"sf_id": "Id", "first_name": "FirstName", "address.city": "MailingCity"},
		TypeHints: map[string]TypeHint{"birth_date": HintDate, "credit_limit": HintDecimal, "is_active": HintBoolean},
	})))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		c, err := d.Decode(Source{Value: value})
		checkOutcome(t, c, err)
	})
}

// BenchmarkDecodeDebeziumJSON decodes a create of a nine-column row
// without the schema wrapper, five columns renamed.
func BenchmarkDecodeDebeziumJSON(b *testing.B) {
	d, err := NewDebeziumDecoder(contactRoute(mustMapping(b, customersMapping)))
	if err != nil {
		b.Fatal(err)
	}
	benchmarkFormat(b, d, fixture(b, "debezium/create.json"))
}

// BenchmarkDecodeDebeziumJSONSchema decodes the same row with the
// schema/payload wrapper (3.9 KB, most of it the schema).
func BenchmarkDecodeDebeziumJSONSchema(b *testing.B) {
	d, err := NewDebeziumDecoder(contactRoute(nil))
	if err != nil {
		b.Fatal(err)
	}
	benchmarkFormat(b, d, fixture(b, "debezium/create_schema.json"))
}

// benchmarkFormat measures decoding value, which must decode.
func benchmarkFormat(b *testing.B, d Decoder, value []byte) {
	src := Source{Topic: "t", Partition: 1, Offset: 1, Value: value}
	if _, err := d.Decode(src); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(src); err != nil {
			b.Fatal(err)
		}
	}
}
