package event

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"
)

// customersKey is the Avro schema of Debezium's key of the customers table,
// as Confluent's AvroConverter registers it.
const customersKey = `{"type": "record", "name": "Key", "namespace": "dbserver1.inventory.customers",
  "fields": [{"name": "id", "type": "int"}], "connect.name": "dbserver1.inventory.customers.Key"}`

// checkSkip decodes src and wants a *SkipError whose reason is reason.
func checkSkip(t *testing.T, d Decoder, src Source, reason string) {
	t.Helper()
	c, err := d.Decode(src)
	got, ok := IsSkip(err)
	if !ok || got != reason {
		t.Fatalf("Decode = %+v, %v; want a skip %q", c, err, reason)
	}
	var de *DecodeError
	if errors.As(err, &de) {
		t.Errorf("a skip is also a *DecodeError: %v", err)
	}
}

const debeziumTombstoneSkip = "a tombstone (a null value), which Debezium writes after each delete event so that log compaction can drop the key; the delete event deleted the record"

// Each format's tombstone setting and its default.
func TestTombstones(t *testing.T) {
	deleted := &Change{Object: "Contact", Operation: Delete, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "1004")}
	withTombstones := func(o DebeziumOptions, ts Tombstones) DebeziumOptions { o.Tombstones = ts; return o }
	debezium := func(o DebeziumOptions) Decoder {
		d, err := NewDebeziumDecoder(o)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	unwrapped := func(o DebeziumOptions) Decoder {
		d, err := NewUnwrappedDebeziumDecoder(o)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	account := Defaults{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c"}
	skipping := account
	skipping.Tombstones = TombstonesSkip
	failing := account
	failing.Tombstones = TombstonesFail
	envelopeDelete := account
	envelopeDelete.Tombstones = TombstonesDelete
	const skipped = "a tombstone (a null value), which the route's tombstones setting skips"
	mysqlKey := fixture(t, "debezium/mysql/customers_key.json")

	for _, tc := range []struct {
		name    string
		d       Decoder
		key     []byte
		want    *Change
		skip    string
		wantErr string
	}{
		{name: "debezium: skipped by default", d: debezium(contactRoute(nil)), key: mysqlKey, skip: debeziumTombstoneSkip},
		{name: "debezium: skipped without a key field", d: debezium(DebeziumOptions{Defaults: Defaults{Object: "Contact", Operation: Insert}}), skip: debeziumTombstoneSkip},
		{name: "debezium: delete by the documented key", d: debezium(withTombstones(contactRoute(nil), TombstonesDelete)), key: mysqlKey, want: deleted},
		{name: "debezium: delete by the key without schema", d: debezium(withTombstones(contactRoute(nil), TombstonesDelete)),
			key: fixture(t, "debezium/mysql/customers_key_noschema.json"), want: deleted},
		{name: "debezium: fail", d: debezium(withTombstones(contactRoute(nil), TombstonesFail)), key: mysqlKey,
			wantErr: "record value is null: a tombstone, which Debezium writes after a delete so that log compaction can drop the key; the route's tombstones setting is fail (skip leaves them out; delete deletes by the key's id column)"},
		{name: "json: delete by default with an external id field", d: NewJSONDecoder(account), key: []byte("A-1"),
			want: &Change{Object: "Account", Operation: Delete, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "A-1")}},
		{name: "json: fail by default without an external id field", d: NewJSONDecoder(Defaults{Object: "Account", Operation: Insert}), key: []byte("A-1"),
			wantErr: "record value is null (a tombstone); the json format needs a JSON object"},
		{name: "json: skip", d: NewJSONDecoder(skipping), key: []byte("A-1"), skip: skipped},
		{name: "json: fail", d: NewJSONDecoder(failing), key: []byte("A-1"), wantErr: "record value is null (a tombstone); the json format needs a JSON object"},
		{name: "json: delete without an external id field", d: NewJSONDecoder(Defaults{Object: "Account", Operation: Insert, Tombstones: TombstonesDelete}), key: []byte("A-1"),
			wantErr: "record value is null (a tombstone), to be a delete by the record key, but the route names no external id field or key field"},
		{name: "debezium_unwrapped: fail by default without a key field", d: unwrapped(DebeziumOptions{Defaults: Defaults{Object: "Contact", Operation: Insert}}), key: mysqlKey,
			wantErr: "record value is null (a tombstone); the route's tombstones setting is fail, or it has no key field to name the record by"},
		{name: "debezium_unwrapped: delete by default with a key field", d: unwrapped(contactRoute(nil)), key: mysqlKey, want: deleted},
		{name: "envelope: fail by default", d: NewEnvelopeDecoder(account), key: []byte("A-1"), wantErr: "record value is null (a tombstone); the envelope format needs a JSON object"},
		{name: "envelope: skip", d: NewEnvelopeDecoder(skipping), key: []byte("A-1"), skip: skipped},
		{name: "envelope: delete", d: NewEnvelopeDecoder(envelopeDelete), key: []byte(`{"External_Id__c": "A-1"}`),
			want: &Change{Object: "Account", Operation: Delete, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "A-1")}},
		{name: "salesforce_cdc: fail by default", d: NewSalesforceCDCDecoder(Defaults{Object: "Account", ExternalIDField: "Source_Id__c"}),
			wantErr: "record value is null (a tombstone); the salesforce_cdc format needs a value"},
		{name: "salesforce_cdc: skip", d: NewSalesforceCDCDecoder(Defaults{Object: "Account", ExternalIDField: "Source_Id__c", Tombstones: TombstonesSkip}), skip: skipped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := Source{Topic: "t", Key: tc.key}
			if tc.skip != "" {
				checkSkip(t, tc.d, src, tc.skip)
				return
			}
			checkChange(t, tc.d, src, tc.want, tc.wantErr)
		})
	}

	if _, err := NewDebeziumDecoder(withTombstones(DebeziumOptions{Defaults: Defaults{Object: "Contact", Operation: Insert}}, TombstonesDelete)); err == nil {
		t.Error("tombstones delete without a key field was accepted")
	}
	if _, err := NewDebeziumDecoder(withTombstones(contactRoute(nil), "drop")); err == nil {
		t.Error(`tombstones "drop" was accepted`)
	}
}

// Debezium's records that are not change events are skips with a reason,
// whatever their form.
func TestDebeziumNotChanges(t *testing.T) {
	d, err := NewDebeziumDecoder(contactRoute(nil))
	if err != nil {
		t.Fatal(err)
	}
	const heartbeat = "a Debezium heartbeat (io.debezium.connector.common.Heartbeat), which carries no row"
	for _, tc := range []struct{ name, file, value, reason string }{
		{name: "heartbeat", file: "debezium/heartbeat.json", reason: heartbeat},
		{name: "heartbeat without schema", file: "debezium/heartbeat_noschema.json", reason: heartbeat},
		{name: "MySQL schema change", file: "debezium/mysql/schema_change.json", reason: "a Debezium schema change event of database inventory, which carries no row"},
		{name: "transaction metadata", value: `{"status": "BEGIN", "id": "571:53195829", "ts_ms": 1486500577125, "event_count": null, "data_collections": null}`,
			reason: "a Debezium transaction metadata event (BEGIN), which carries no row"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			value := []byte(tc.value)
			if tc.file != "" {
				value = fixture(t, tc.file)
			}
			checkSkip(t, d, Source{Value: value}, tc.reason)
		})
	}
	checkChange(t, d, Source{Value: []byte(`{"ts_ms": 1, "other": 2}`)}, nil, `the value has no "op"; a Debezium change event has op, before, after and source`)
}

// Avro keys in the Confluent wire format are read through the registry, so
// an Avro Debezium route can delete by a tombstone's key.
func TestAvroKeys(t *testing.T) {
	envelope := string(fixture(t, "debezium/customers_envelope.avsc"))
	fake := newFakeRegistry(t)
	fake.register(t, "dbserver1.inventory.customers-value", envelope)
	keyID := fake.register(t, "dbserver1.inventory.customers-key", customersKey)
	stringKeyID := fake.register(t, "accounts-key", `"string"`)
	o := contactRoute(nil)
	o.Tombstones = TombstonesDelete
	shape, err := DebeziumShape(o)
	if err != nil {
		t.Fatal(err)
	}
	d := NewAvroDecoder(shape, fake.client(t, RegistryOptions{}))
	key := wire(keyID, avroBinary(t, customersKey, map[string]any{"id": int32(1004)}))
	deleted := &Change{Object: "Contact", Operation: Delete, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "1004")}
	checkChange(t, d, Source{Key: key}, deleted, "")

	codec, err := goavro.NewCodec(`"string"`)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := codec.BinaryFromNative(nil, "1004")
	if err != nil {
		t.Fatal(err)
	}
	checkChange(t, d, Source{Key: wire(stringKeyID, plain)}, deleted, "") // a key that is one value
	checkChange(t, d, Source{Key: []byte(`{"id": 1004}`)}, deleted, "")   // JSON keys as before
	if _, err := d.Decode(Source{Key: wire(999, []byte{2})}); !strings.Contains(fmt.Sprint(err), "schema id 999 is not in the schema registry") || IsRegistryUnavailable(err) {
		t.Errorf("a key of an unknown schema id: %v", err)
	}
	otherKey := fake.register(t, "other-key", `{"type": "record", "name": "K", "fields": [{"name": "code", "type": "string"}]}`)
	checkChange(t, d, Source{Key: wire(otherKey, []byte{2, 'x'})}, nil,
		`record value is null (a tombstone), a delete by External_Id__c named by the record key, but the record key (Avro, schema id 4) has no field "id"`)
	checkChange(t, d, Source{Key: wire(keyID, []byte{})}, nil,
		"record value is null (a tombstone), a delete by External_Id__c named by the record key, but invalid Avro for schema id 2: cannot decode binary record \"dbserver1.inventory.customers.Key\" field \"id\": short buffer")

	// By default an Avro Debezium tombstone is a skip, and its key is not read.
	shape, err = DebeziumShape(contactRoute(nil))
	if err != nil {
		t.Fatal(err)
	}
	checkSkip(t, NewAvroDecoder(shape, fake.client(t, RegistryOptions{})), Source{Key: key}, debeziumTombstoneSkip)

	// A registry that cannot give the key's schema is not the record's fault.
	fake.fail.Store(1 << 30)
	_, err = NewAvroDecoder(mustShape(t, o), fake.client(t, RegistryOptions{})).Decode(Source{Key: key})
	if !IsRegistryUnavailable(err) {
		t.Errorf("key schema during an outage: %v, want the registry unavailable", err)
	}
}

func mustShape(t *testing.T, o DebeziumOptions) Shape {
	t.Helper()
	s, err := DebeziumShape(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Rows of Debezium's ExtractNewRecordState in its delete modes, as its
// documentation shows them.
func TestUnwrappedDebezium(t *testing.T) {
	o := DebeziumOptions{Defaults: Defaults{Object: "Account", ExternalIDField: "External_Id__c",
		Mapping: mustMapping(t, MappingRules{Rename: map[string]string{"cola": "Name"}})}, KeyField: "pk"}
	d, err := NewUnwrappedDebeziumDecoder(o)
	if err != nil {
		t.Fatal(err)
	}
	upsert := func(name any) *Change {
		return &Change{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "2", "Name", name)}
	}
	deleted := &Change{Object: "Account", Operation: Delete, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "2")}
	key := fixture(t, "debezium/unwrapped/key.json")
	for _, tc := range []struct {
		name, file string
		value      string
		tombstone  bool
		want       *Change
		wantErr    string
	}{
		{name: "rewrite: __deleted true deletes", file: "rewrite_delete.json", want: deleted},
		{name: "rewrite, with schema: delete", file: "rewrite_delete_schema.json", want: deleted},
		{name: "rewrite, with schema: __deleted false upserts", file: "rewrite_update_schema.json", want: upsert("newvalue1")},
		{name: "add.fields: __op c upserts, added fields left out", file: "add_fields.json", want: upsert("newvalue1")},
		{name: "add.fields: __op d deletes", file: "add_fields_delete.json", want: deleted},
		{name: "tombstone mode: a row upserts", file: "tombstone_update.json", want: upsert("newvalue1")},
		{name: "tombstone mode: the tombstone deletes by the key", tombstone: true, want: deleted},
		{name: "__op t", value: `{"pk": 2, "__op": "t"}`, wantErr: `__op "t" (truncate) is not supported: Bulk API 2.0 deletes records by Id, one row each, and cannot empty an object`},
		{name: "__deleted not a string", value: `{"pk": 2, "__deleted": 1}`, wantErr: `"__deleted" is a number, want "true" or "false"`},
		{name: "no key column", value: `{"cola": "x"}`, wantErr: `the row has no column "pk" (the route's key field)`},
		{name: "a column named payload is a column", value: `{"pk": 2, "payload": "p"}`,
			want: &Change{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "2", "payload", "p")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := Source{Key: key, Value: []byte(tc.value)}
			switch {
			case tc.file != "":
				src.Value = fixture(t, "debezium/unwrapped/"+tc.file)
			case tc.tombstone:
				src.Value = nil
			}
			checkChange(t, d, src, tc.want, tc.wantErr)
		})
	}

	// rewrite-with-tombstone: the tombstone after a row marked deleted is
	// skipped by the setting.
	o.Tombstones = TombstonesSkip
	skipping, err := NewUnwrappedDebeziumDecoder(o)
	if err != nil {
		t.Fatal(err)
	}
	checkSkip(t, skipping, Source{Key: key}, "a tombstone (a null value), which the route's tombstones setting skips")
	// A heartbeat that the transformation passed through.
	checkSkip(t, d, Source{Value: fixture(t, "debezium/heartbeat.json")}, "a Debezium heartbeat (io.debezium.connector.common.Heartbeat), which carries no row")
}

// The unwrapped format in Avro: the value is the row record.
func TestAvroUnwrappedDebezium(t *testing.T) {
	const row = `{"type": "record", "name": "Value", "namespace": "dbserver1.public.t", "fields": [
  {"name": "pk", "type": "int"}, {"name": "cola", "type": ["null", "string"], "default": null},
  {"name": "__deleted", "type": ["null", "string"], "default": null}]}`
	fixed, err := FixedAvroSchema(row)
	if err != nil {
		t.Fatal(err)
	}
	shape, err := UnwrappedDebeziumShape(DebeziumOptions{Defaults: Defaults{Object: "Account", ExternalIDField: "External_Id__c"}, KeyField: "pk"})
	if err != nil {
		t.Fatal(err)
	}
	d := NewAvroDecoder(shape, fixed)
	value := avroBinary(t, row, map[string]any{"pk": int32(2), "cola": nil, "__deleted": goavro.Union("string", "true")})
	checkChange(t, d, Source{Value: value}, &Change{Object: "Account", Operation: Delete, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "2")}, "")
}

func FuzzUnwrappedDebezium(f *testing.F) {
	for _, name := range []string{"rewrite_delete.json", "rewrite_delete_schema.json", "rewrite_update_schema.json", "add_fields.json", "add_fields_delete.json", "tombstone_update.json"} {
		f.Add(fixture(f, "debezium/unwrapped/"+name))
	}
	f.Add(fixture(f, "debezium/heartbeat.json"))
	d, err := NewUnwrappedDebeziumDecoder(DebeziumOptions{Defaults: Defaults{Object: "Account", ExternalIDField: "External_Id__c"}, KeyField: "pk"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		c, err := d.Decode(Source{Value: value})
		checkOutcome(t, c, err)
	})
}

// In Avro too, a heartbeat is a skip, and a structured timestamp (a record
// named by connect.name) is one value.
func TestAvroDebeziumNotChangesAndStructured(t *testing.T) {
	heartbeat, err := FixedAvroSchema(`{"type": "record", "name": "Heartbeat", "namespace": "io.debezium.connector.common",
  "fields": [{"name": "ts_ms", "type": "long"}], "connect.name": "io.debezium.connector.common.Heartbeat"}`)
	if err != nil {
		t.Fatal(err)
	}
	shape := mustShape(t, contactRoute(nil))
	checkSkip(t, NewAvroDecoder(shape, heartbeat), Source{Value: []byte{2}}, "a Debezium heartbeat (io.debezium.connector.common.Heartbeat), which carries no row")

	const envelope = `{"type": "record", "name": "Envelope", "namespace": "s.t", "fields": [
  {"name": "after", "type": ["null", {"type": "record", "name": "Value", "fields": [
    {"name": "id", "type": "int"},
    {"name": "at", "type": ["null", {"type": "record", "name": "StructuredTimestamp", "namespace": "io.debezium.time",
      "connect.name": "io.debezium.time.StructuredTimestamp", "fields": [
      {"name": "year", "type": ["null", "int"]}, {"name": "month", "type": ["null", "int"]}, {"name": "day", "type": ["null", "int"]},
      {"name": "hour", "type": ["null", "int"]}, {"name": "minute", "type": ["null", "int"]}, {"name": "second", "type": ["null", "int"]},
      {"name": "nanos", "type": ["null", "int"]}, {"name": "specialValue", "type": ["null", "string"]}]}]}]}]},
  {"name": "op", "type": "string"}]}`
	fixed, err := FixedAvroSchema(envelope)
	if err != nil {
		t.Fatal(err)
	}
	i := func(v int32) any { return goavro.Union("int", v) }
	value := avroBinary(t, envelope, map[string]any{"op": "c", "after": goavro.Union("s.t.Value", map[string]any{"id": int32(1),
		"at": goavro.Union("io.debezium.time.StructuredTimestamp", map[string]any{"year": i(2024), "month": i(3), "day": i(1), "hour": i(12),
			"minute": i(34), "second": i(56), "nanos": i(789000000), "specialValue": nil})})})
	checkChange(t, NewAvroDecoder(shape, fixed), Source{Value: value}, &Change{Object: "Contact", Operation: Upsert, ExternalIDField: "External_Id__c",
		Fields: fieldList("External_Id__c", "1", "at", "2024-03-01T12:34:56.789Z")}, "")
}

// FuzzTombstoneKey: whatever its key, a tombstone of a route that deletes
// by the key is a delete, a skip or a *DecodeError, in every format that
// reads keys.
func FuzzTombstoneKey(f *testing.F) {
	keys, err := filepath.Glob("testdata/debezium/*/*key*.json")
	if err != nil || len(keys) == 0 {
		f.Fatalf("no documented keys: %v", err)
	}
	for _, path := range keys {
		f.Add(fixture(f, strings.TrimPrefix(path, "testdata/")))
	}
	f.Add([]byte("A-1"))
	f.Add([]byte(`"A-1"`))
	f.Add([]byte(`{"External_Id__c": "A-1"}`))
	f.Add([]byte(`{"schema": {"type": "struct", "fields": [{"field": "id", "type": "int32"}]}, "payload": {"id": 1004}}`))
	o := contactRoute(nil)
	o.Tombstones = TombstonesDelete
	debezium, err := NewDebeziumDecoder(o)
	if err != nil {
		f.Fatal(err)
	}
	unwrapped, err := NewUnwrappedDebeziumDecoder(o)
	if err != nil {
		f.Fatal(err)
	}
	decoders := []Decoder{debezium, unwrapped, NewJSONDecoder(o.Defaults), NewEnvelopeDecoder(Defaults{Object: "Contact", ExternalIDField: "External_Id__c", Tombstones: TombstonesDelete})}
	f.Fuzz(func(t *testing.T, key []byte) {
		for _, d := range decoders {
			c, err := d.Decode(Source{Key: key})
			checkOutcome(t, c, err)
		}
	})
}
