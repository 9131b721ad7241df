package event

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/bulkstream/bulkstream/schemas"
)

// avroBinary encodes native with the schema whose JSON text is text: real
// Avro bytes, as a producer's serializer writes them.
func avroBinary(t testing.TB, text string, native map[string]any) []byte {
	t.Helper()
	codec, err := goavro.NewCodec(text)
	if err != nil {
		t.Fatal(err)
	}
	b, err := codec.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wire frames Avro binary in the Confluent wire format.
func wire(id int, bin []byte) []byte { return append(AppendWireHeader(nil, id), bin...) }

// fakeRegistry is srfake behind a handler that counts requests and can fail
// them, with a client of it.
type fakeRegistry struct {
	*srfake.Registry
	url      string
	requests atomic.Int32
	fail     atomic.Int32 // this many next requests get a 503
}

func newFakeRegistry(t testing.TB, opts ...srfake.Option) *fakeRegistry {
	f := &fakeRegistry{Registry: srfake.NewRegistry(opts...)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if f.fail.Add(-1) >= 0 {
			http.Error(w, `{"error_code": 50001, "message": "busy"}`, http.StatusServiceUnavailable)
			return
		}
		f.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeRegistry) register(t testing.TB, subject, text string) int {
	t.Helper()
	id, _, err := f.RegisterSchema(subject, sr.Schema{Schema: text})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fakeRegistry) client(t testing.TB, o RegistryOptions) *Registry {
	t.Helper()
	o.URL = f.url
	r, err := NewRegistry(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const customersValue = "dbserver1.inventory.customers.Value"

// customerRow is a row of the customers table in Avro's native form, with
// every kind of value: unions, a Debezium date (int days), a decimal, a
// microsecond timestamp (connect.name), Avro's date and timestamp-millis, a
// double and a nested record.
func customerRow() map[string]any {
	return map[string]any{
		"id":           int32(1001),
		"first_name":   goavro.Union("string", "Ada"),
		"last_name":    "Lovelace",
		"email":        nil,
		"birth_date":   goavro.Union("int", int32(7441)),
		"credit_limit": goavro.Union("bytes.decimal", big.NewRat(123450, 100)),
		"is_active":    goavro.Union("boolean", true),
		"updated_at":   goavro.Union("long", int64(1709296496789012)),
		"signup_day":   goavro.Union("int.date", time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)),
		"last_login":   goavro.Union("long.timestamp-millis", time.UnixMilli(1709294400000).UTC()),
		"rating":       goavro.Union("double", 4.25),
		"address": goavro.Union("dbserver1.inventory.customers.Address", map[string]any{
			"city": goavro.Union("string", "Paris"), "country": goavro.Union("string", "FR")}),
	}
}

// customerEvent is a Debezium envelope in Avro's native form.
func customerEvent(op string, before, after map[string]any) map[string]any {
	union := func(row map[string]any) any {
		if row == nil {
			return nil
		}
		return goavro.Union(customersValue, row)
	}
	return map[string]any{
		"before": union(before), "after": union(after), "op": op, "ts_ms": goavro.Union("long", int64(1709296496801)), "transaction": nil,
		"source": map[string]any{"version": "2.7.3.Final", "connector": "postgresql", "name": "dbserver1", "ts_ms": int64(1709296496789), "db": "inventory", "table": "customers"},
	}
}

func TestAvroDebezium(t *testing.T) {
	envelope := string(fixture(t, "debezium/customers_envelope.avsc"))
	fake := newFakeRegistry(t)
	id := fake.register(t, "dbserver1.inventory.customers-value", envelope)
	shape, err := DebeziumShape(contactRoute(mustMapping(t, MappingRules{
		Rename:  map[string]string{"first_name": "FirstName", "last_name": "LastName", "email": "Email", "birth_date": "Birthdate", "address.city": "MailingCity"},
		Exclude: []string{"address.country"},
	})))
	if err != nil {
		t.Fatal(err)
	}
	d := NewAvroDecoder(shape, fake.client(t, RegistryOptions{}))

	moved := customerRow()
	moved["address"] = nil
	moved["credit_limit"] = goavro.Union("bytes.decimal", big.NewRat(-525, 100))
	for _, tc := range []struct {
		name    string
		value   []byte
		want    *Change
		wantErr string
	}{
		{name: "create: every kind of value", value: wire(id, avroBinary(t, envelope, customerEvent("c", nil, customerRow()))),
			want: &Change{Object: "Contact", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList(
				"External_Id__c", "1001", "FirstName", "Ada", "LastName", "Lovelace", "Email", nil, "Birthdate", "1990-05-17",
				"credit_limit", "1234.50", "is_active", "true", "updated_at", "2024-03-01T12:34:56.789Z", "signup_day", "2024-03-01",
				"last_login", "2024-03-01T12:00:00.000Z", "rating", "4.25", "MailingCity", "Paris")}},
		{name: "update: a null record nulls its fields", value: wire(id, avroBinary(t, envelope, customerEvent("u", customerRow(), moved))),
			want: &Change{Object: "Contact", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList(
				"External_Id__c", "1001", "FirstName", "Ada", "LastName", "Lovelace", "Email", nil, "Birthdate", "1990-05-17",
				"credit_limit", "-5.25", "is_active", "true", "updated_at", "2024-03-01T12:34:56.789Z", "signup_day", "2024-03-01",
				"last_login", "2024-03-01T12:00:00.000Z", "rating", "4.25", "MailingCity", nil)}},
		{name: "delete", value: wire(id, avroBinary(t, envelope, customerEvent("d", customerRow(), nil))),
			want: &Change{Object: "Contact", Operation: Delete, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "1001")}},
		{name: "truncate", value: wire(id, avroBinary(t, envelope, customerEvent("t", nil, nil))),
			wantErr: `op "t" (truncate) is not supported: Bulk API 2.0 deletes records by Id, one row each, and cannot empty an object`},
		{name: "JSON in an Avro route", value: []byte(`{"op": "c"}`),
			wantErr: "record value is not in the Confluent wire format (magic byte 0, schema id, Avro): its first byte is 0x7b, not 0"},
		{name: "shorter than the header", value: []byte{0, 0, 1},
			wantErr: "record value is not in the Confluent wire format (magic byte 0, schema id, Avro): it is 3 bytes, shorter than the 5-byte header"},
		{name: "bytes after the value", value: append(wire(id, avroBinary(t, envelope, customerEvent("c", nil, customerRow()))), 0, 0),
			wantErr: "invalid Avro for schema id 1: 2 bytes follow the value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkChange(t, d, Source{Topic: "dbserver1.inventory.customers", Value: tc.value}, tc.want, tc.wantErr)
		})
	}

	t.Run("truncated value", func(t *testing.T) {
		full := wire(id, avroBinary(t, envelope, customerEvent("c", nil, customerRow())))
		for n := wireHeaderSize; n < len(full); n++ {
			_, err := d.Decode(Source{Value: full[:n]})
			var de *DecodeError
			if !errors.As(err, &de) || !strings.HasPrefix(de.Reason, "invalid Avro for schema id 1: ") {
				t.Fatalf("%d of %d bytes: %v", n, len(full), err)
			}
		}
	})
}

func TestAvroJSONShape(t *testing.T) {
	text := string(fixture(t, "avro/opportunity.avsc"))
	fixed, err := FixedAvroSchema(text)
	if err != nil {
		t.Fatal(err)
	}
	rules := MappingRules{
		Rename: map[string]string{"opportunity_id": "External_Id__c", "title": "Name", "stage": "StageName", "close_date": "CloseDate",
			"amount": "Amount", "probability": "Probability", "private": "IsPrivate", "account.external_id": "Account.External_Id__c"},
		Exclude:   []string{"account.region", "tags", "created_at"},
		Static:    map[string]string{"LeadSource": "Kafka"},
		TypeHints: map[string]TypeHint{"CloseDate": HintDate},
	}
	defaults := Defaults{Object: "Opportunity", Operation: Upsert, ExternalIDField: "External_Id__c", Mapping: mustMapping(t, rules)}
	d := NewAvroDecoder(JSONShape(defaults), fixed)
	opportunity := func() map[string]any {
		return map[string]any{
			"opportunity_id": "O-1", "title": "Big deal", "stage": "ClosedWon", "close_date": int64(1719705600000),
			"amount": goavro.Union("bytes.decimal", big.NewRat(25000000, 100)), "probability": goavro.Union("double", 0.9),
			"private": false, "created_at": time.UnixMicro(1709296496789012).UTC(),
			"account": goavro.Union("com.example.sales.AccountRef", map[string]any{"external_id": "A-1", "region": nil}),
			"tags":    []any{"big", "q2"},
		}
	}
	noAmount := opportunity()
	noAmount["amount"], noAmount["account"] = nil, nil
	rules.Exclude = []string{"account.region", "created_at"}
	keepTags := NewAvroDecoder(JSONShape(Defaults{Object: "Opportunity", Operation: Insert, Mapping: mustMapping(t, rules)}), fixed)
	for _, tc := range []struct {
		name    string
		d       Decoder
		native  map[string]any
		want    *Change
		wantErr string
	}{
		{name: "nested record flattened into a relationship column", d: d, native: opportunity(),
			want: &Change{Object: "Opportunity", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList(
				"External_Id__c", "O-1", "Name", "Big deal", "StageName", "ClosedWon", "CloseDate", "2024-06-30", "Amount", "250000.00",
				"Probability", "0.9", "IsPrivate", "false", "Account.External_Id__c", "A-1", "LeadSource", "Kafka")}},
		{name: "null union branches", d: d, native: noAmount,
			want: &Change{Object: "Opportunity", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList(
				"External_Id__c", "O-1", "Name", "Big deal", "StageName", "ClosedWon", "CloseDate", "2024-06-30", "Amount", nil,
				"Probability", "0.9", "IsPrivate", "false", "Account.External_Id__c", nil, "LeadSource", "Kafka")}},
		{name: "an array the mapping keeps", d: keepTags, native: opportunity(),
			wantErr: `field "tags": value is an array; a field takes a string, number, boolean, date or null (leave it out with mapping.exclude)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkChange(t, tc.d, Source{Topic: "sales.opportunities", Value: avroBinary(t, text, tc.native)}, tc.want, tc.wantErr)
		})
	}
}

func TestAvroEnvelope(t *testing.T) {
	fake := newFakeRegistry(t)
	id := fake.register(t, "crm.accounts-value", schemas.ChangeEnvelope)
	d := NewAvroDecoder(EnvelopeShape(Defaults{Object: "Account"}), fake.client(t, RegistryOptions{}))
	value := wire(id, avroBinary(t, schemas.ChangeEnvelope, map[string]any{
		"object": nil, "operation": goavro.Union("io.bulkstream.Operation", "upsert"), "externalIdField": goavro.Union("string", "External_Id__c"),
		"fields": map[string]any{"Name": goavro.Union("string", "Acme"), "External_Id__c": goavro.Union("string", "A-1"),
			"NumberOfEmployees": goavro.Union("long", int64(120)), "AnnualRevenue": goavro.Union("double", 1.5e6), "Industry": nil},
	}))
	// A decoded Avro map has no order: fields come in the order of their names.
	checkChange(t, d, Source{Value: value}, &Change{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList(
		"AnnualRevenue", "1500000", "External_Id__c", "A-1", "Industry", nil, "Name", "Acme", "NumberOfEmployees", "120")}, "")

	deleteByID := wire(id, avroBinary(t, schemas.ChangeEnvelope, map[string]any{
		"object": goavro.Union("string", "Contact"), "operation": goavro.Union("io.bulkstream.Operation", "delete"), "externalIdField": nil,
		"fields": map[string]any{"Id": goavro.Union("string", contactID), "Email": goavro.Union("string", "a@b.c")},
	}))
	checkChange(t, d, Source{Value: deleteByID}, &Change{Object: "Contact", Operation: Delete, Fields: fieldList("Id", contactID)}, "")
}

func TestAvroSchemaNotARecord(t *testing.T) {
	fixed, err := FixedAvroSchema(`"string"`)
	if err != nil {
		t.Fatal(err)
	}
	d := NewAvroDecoder(JSONShape(Defaults{Object: "Account", Operation: Insert}), fixed)
	checkChange(t, d, Source{Value: []byte{6, 'a', 'b', 'c'}}, nil, "the Avro value is a string; the json format needs a record")
	if _, err := FixedAvroSchema(`{"type": "record", "name": "X", "fields": [{"name": "a", "type": "Nope"}]}`); err == nil {
		t.Error("FixedAvroSchema accepted a schema with an unknown type")
	}
}

func TestRegistry(t *testing.T) {
	envelope := string(fixture(t, "debezium/customers_envelope.avsc"))
	shape, err := DebeziumShape(contactRoute(nil))
	if err != nil {
		t.Fatal(err)
	}
	event := avroBinary(t, envelope, customerEvent("c", nil, customerRow()))

	t.Run("basic auth, and schemas fetched once", func(t *testing.T) {
		fake := newFakeRegistry(t, srfake.WithAuth("Basic dXNlcjpwYXNz")) // user:pass
		id := fake.register(t, "customers-value", envelope)
		d := NewAvroDecoder(shape, fake.client(t, RegistryOptions{Username: "user", Password: "pass"}))
		for range 3 {
			if _, err := d.Decode(Source{Value: wire(id, event)}); err != nil {
				t.Fatal(err)
			}
		}
		if n := fake.requests.Load(); n != 1 {
			t.Errorf("%d requests for three events of one schema, want 1", n)
		}
	})
	t.Run("refused credentials are not a decode error", func(t *testing.T) {
		fake := newFakeRegistry(t, srfake.WithAuth("Basic dXNlcjpwYXNz"))
		id := fake.register(t, "customers-value", envelope)
		_, err := NewAvroDecoder(shape, fake.client(t, RegistryOptions{Username: "user", Password: "wrong"})).Decode(Source{Value: wire(id, event)})
		var re *RegistryError
		if !errors.As(err, &re) || re.Status != http.StatusForbidden || re.Retriable || errors.As(err, new(*DecodeError)) {
			t.Errorf("err = %v (%T), want a permanent *RegistryError 403", err, err)
		}
	})
	t.Run("an outage is reported at once, and the next decode asks again", func(t *testing.T) {
		fake := newFakeRegistry(t)
		id := fake.register(t, "customers-value", envelope)
		fake.fail.Store(2)
		d := NewAvroDecoder(shape, fake.client(t, RegistryOptions{}))
		for i := range 2 {
			start := time.Now()
			_, err := d.Decode(Source{Value: wire(id, event)})
			var re *RegistryError
			if !errors.As(err, &re) || !re.Retriable || re.Status != http.StatusServiceUnavailable || re.Message != "busy" || !IsRegistryUnavailable(err) {
				t.Fatalf("decode %d: err = %v, want a retriable *RegistryError 503 busy", i, err)
			}
			if errors.As(err, new(*DecodeError)) {
				t.Fatalf("decode %d: an outage is a *DecodeError: %v", i, err)
			}
			if took := time.Since(start); took > time.Second {
				t.Fatalf("decode %d took %v: the decoder waits for the registry", i, took)
			}
		}
		if _, err := d.Decode(Source{Value: wire(id, event)}); err != nil {
			t.Fatalf("after the outage: %v", err)
		}
		if n := fake.requests.Load(); n != 3 {
			t.Errorf("%d requests, want 3 (two 503s, then the schema)", n)
		}
	})
	t.Run("a registry that does not answer", func(t *testing.T) {
		fake := newFakeRegistry(t)
		id := fake.register(t, "customers-value", envelope)
		reg, err := NewRegistry(RegistryOptions{URL: "http://127.0.0.1:1"}) // nothing listens on port 1
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewAvroDecoder(shape, reg).Decode(Source{Value: wire(id, event)})
		if re, ok := errors.AsType[*RegistryError](err); !ok || re.Status != 0 || !IsRegistryUnavailable(err) {
			t.Errorf("err = %v, want a retriable *RegistryError without a status", err)
		}
	})
	t.Run("429 and a timeout are outages too", func(t *testing.T) {
		// Schema id 1 is rate limited; id 2 answers after the client's timeout.
		done := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/schemas/ids/1" {
				http.Error(w, `{"error_code": 42901, "message": "slow down"}`, http.StatusTooManyRequests)
				return
			}
			<-done
		}))
		defer srv.Close()
		defer close(done)
		reg, err := NewRegistry(RegistryOptions{URL: srv.URL, HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		d := NewAvroDecoder(shape, reg)
		for id, status := range map[int]int{1: http.StatusTooManyRequests, 2: 0} {
			_, err := d.Decode(Source{Value: wire(id, event)})
			if re, ok := errors.AsType[*RegistryError](err); !ok || re.Status != status || !IsRegistryUnavailable(err) || errors.As(err, new(*DecodeError)) {
				t.Errorf("schema id %d: err = %v, want a retriable *RegistryError with status %d", id, err, status)
			}
		}
	})
	t.Run("a cut-off answer is an outage, a garbled one is not", func(t *testing.T) {
		// Schema id 1's answer breaks off; id 2's stalls after its headers,
		// past the client's timeout; id 3's is a success that is not JSON.
		done := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/schemas/ids/1":
				w.Header().Set("Content-Length", "100")
				w.Write([]byte(`{"schema": `))
			case "/schemas/ids/2":
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
				<-done
			default:
				w.Write([]byte("<html>not a registry</html>"))
			}
		}))
		defer srv.Close()
		defer close(done)
		reg, err := NewRegistry(RegistryOptions{URL: srv.URL, HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		d := NewAvroDecoder(shape, reg)
		for id, unavailable := range map[int]bool{1: true, 2: true, 3: false} {
			_, err := d.Decode(Source{Value: wire(id, event)})
			if _, ok := errors.AsType[*RegistryError](err); !ok || IsRegistryUnavailable(err) != unavailable {
				t.Errorf("schema id %d: err = %v, want a *RegistryError, unavailable %v", id, err, unavailable)
			}
		}
	})
	t.Run("an answer past 16 MiB is refused, not read whole", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chunk := bytes.Repeat([]byte(" "), 1<<20)
			for range 2 * maxRegistryAnswer >> 20 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}))
		defer srv.Close()
		reg, err := NewRegistry(RegistryOptions{URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewAvroDecoder(shape, reg).Decode(Source{Value: wire(1, event)})
		if _, ok := errors.AsType[*RegistryError](err); !ok || IsRegistryUnavailable(err) || !strings.Contains(err.Error(), "larger than 16 MiB") {
			t.Errorf("err = %v, want a permanent *RegistryError that says the answer is too large", err)
		}
	})
	t.Run("an unknown schema id is a failure, not an outage", func(t *testing.T) {
		fake := newFakeRegistry(t)
		_, err := NewAvroDecoder(shape, fake.client(t, RegistryOptions{})).Decode(Source{Value: wire(999, []byte{2})})
		re, ok := errors.AsType[*RegistryError](err)
		if !ok || re.Status != http.StatusNotFound || re.Code != RegistrySchemaNotFound || IsRegistryUnavailable(err) ||
			!strings.Contains(err.Error(), "schema id 999 is not in the schema registry") {
			t.Errorf("err = %v, want a permanent *RegistryError 404 40403 naming the id", err)
		}
	})
	t.Run("Register retries transient failures", func(t *testing.T) {
		fake := newFakeRegistry(t)
		fake.fail.Store(2)
		if _, err := fake.client(t, RegistryOptions{}).Register("bulkstream.success-value", schemas.Result); err != nil {
			t.Fatal(err)
		}
		if n := fake.requests.Load(); n != 3 {
			t.Errorf("%d requests, want 3 (two 503s, then the id)", n)
		}
	})
	t.Run("a schema that is not Avro", func(t *testing.T) {
		fake := newFakeRegistry(t)
		id, _, err := fake.RegisterSchema("orders-value", sr.Schema{Schema: `{"type": "object"}`, Type: sr.TypeJSON})
		if err != nil {
			t.Fatal(err)
		}
		checkChange(t, NewAvroDecoder(shape, fake.client(t, RegistryOptions{})), Source{Value: wire(id, event)}, nil,
			"schema id 1 is a JSON schema; the route reads Avro")
	})
	t.Run("register once per subject", func(t *testing.T) {
		fake := newFakeRegistry(t)
		reg := fake.client(t, RegistryOptions{})
		a, err := reg.Register("bulkstream.success-value", schemas.Result)
		if err != nil {
			t.Fatal(err)
		}
		b, err := reg.Register("bulkstream.success-value", schemas.Result)
		if err != nil || a != b {
			t.Fatalf("second Register = %d, %v; want %d", b, err, a)
		}
		c, err := reg.Register("bulkstream.failure-value", schemas.Result)
		if err != nil || c != a {
			t.Fatalf("Register under another subject = %d, %v; want the same id %d", c, err, a)
		}
		if n := fake.requests.Load(); n != 2 {
			t.Errorf("%d requests, want 2 (one per subject)", n)
		}
		if s, ok := fake.GetSchema("bulkstream.failure-value", 1); !ok || s.ID != a {
			t.Errorf("the registry has %+v under bulkstream.failure-value", s)
		}
	})
	t.Run("bad url", func(t *testing.T) {
		if _, err := NewRegistry(RegistryOptions{URL: "localhost:8081"}); err == nil {
			t.Error("NewRegistry accepted a URL without a scheme")
		}
	})
}

// FuzzAvro decodes arbitrary bytes as the Avro binary of three schemas:
// Debezium's envelope and the change envelope from a registry (whose
// schemas are cached, so no request is made), and a record of a
// schema_file.
// TestAvroHugeBlockCount: an array or map that declares 2^24 items in a
// few bytes is an invalid value, found before goavro makes room for them
// (256 MB for the array without maxAvroBlockItems).
func TestAvroHugeBlockCount(t *testing.T) {
	fixed, err := FixedAvroSchema(`{"type": "record", "name": "r", "fields": [
  {"name": "tags", "type": {"type": "array", "items": "string"}}, {"name": "attrs", "type": {"type": "map", "values": "string"}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	d := NewAvroDecoder(JSONShape(Defaults{Object: "Account", Operation: Insert}), fixed)
	huge := binary.AppendVarint(nil, 1<<24)
	for name, value := range map[string][]byte{"array": huge, "map": append(binary.AppendVarint(nil, 0), huge...)} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := d.Decode(Source{Value: value})
		runtime.ReadMemStats(&after)
		if de := (*DecodeError)(nil); !errors.As(err, &de) || !strings.Contains(err.Error(), "MaxBlockCount") {
			t.Errorf("%s of 2^24 items: err = %v, want a *DecodeError for the block count", name, err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
			t.Errorf("%s of 2^24 items: decoding allocated %d MB", name, n>>20)
		}
	}
}

func FuzzAvro(f *testing.F) {
	envelope := string(fixture(f, "debezium/customers_envelope.avsc"))
	opportunity := string(fixture(f, "avro/opportunity.avsc"))
	reg, err := NewRegistry(RegistryOptions{URL: "http://127.0.0.1:1"})
	if err != nil {
		f.Fatal(err)
	}
	for id, text := range map[int]string{1: envelope, 2: schemas.ChangeEnvelope} {
		if reg.schemas[id], err = compileAvro(id, text); err != nil {
			f.Fatal(err)
		}
	}
	fixed, err := FixedAvroSchema(opportunity)
	if err != nil {
		f.Fatal(err)
	}
	debezium, err := DebeziumShape(contactRoute(mustMapping(f, MappingRules{TypeHints: map[string]TypeHint{"rating": HintInt}})))
	if err != nil {
		f.Fatal(err)
	}
	decoders := []Decoder{
		NewAvroDecoder(debezium, reg),
		NewAvroDecoder(EnvelopeShape(Defaults{Object: "Account"}), reg),
		NewAvroDecoder(JSONShape(Defaults{Object: "Opportunity", Operation: Insert,
			Mapping: mustMapping(f, MappingRules{Exclude: []string{"tags"}, TypeHints: map[string]TypeHint{"close_date": HintDate}})}), fixed),
	}
	f.Add(uint8(0), avroBinary(f, envelope, customerEvent("c", nil, customerRow())))
	f.Add(uint8(0), avroBinary(f, envelope, customerEvent("d", customerRow(), nil)))
	f.Add(uint8(1), avroBinary(f, schemas.ChangeEnvelope, map[string]any{"object": goavro.Union("string", "Contact"),
		"operation": goavro.Union("io.bulkstream.Operation", "delete"), "externalIdField": nil,
		"fields": map[string]any{"Id": goavro.Union("string", contactID), "n": goavro.Union("long", int64(-1))}}))
	f.Add(uint8(2), avroBinary(f, opportunity, map[string]any{"opportunity_id": "O-1", "title": "t", "stage": "ClosedWon", "close_date": int64(0),
		"amount": goavro.Union("bytes.decimal", big.NewRat(-1, 100)), "probability": nil, "private": true,
		"created_at": time.UnixMicro(0).UTC(), "account": nil, "tags": []any{"x"}}))
	f.Fuzz(func(t *testing.T, which uint8, bin []byte) {
		d := decoders[int(which)%len(decoders)]
		value := bin
		if which%3 != 2 {
			value = wire(1+int(which%3), bin)
		}
		c, err := d.Decode(Source{Value: value})
		checkOutcome(t, c, err)
	})
}

// BenchmarkDecodeDebeziumAvro decodes a create of a twelve-column row in
// the Confluent wire format (schema cached after the first event).
func BenchmarkDecodeDebeziumAvro(b *testing.B) {
	envelope := string(fixture(b, "debezium/customers_envelope.avsc"))
	fake := newFakeRegistry(b)
	id := fake.register(b, "customers-value", envelope)
	shape, err := DebeziumShape(contactRoute(nil))
	if err != nil {
		b.Fatal(err)
	}
	benchmarkFormat(b, NewAvroDecoder(shape, fake.client(b, RegistryOptions{})), wire(id, avroBinary(b, envelope, customerEvent("c", nil, customerRow()))))
}

// BenchmarkDecodeAvroJSON decodes a ten-field record (a nested record, a
// decimal, an enum, a timestamp) of a schema_file, mapped.
func BenchmarkDecodeAvroJSON(b *testing.B) {
	text := string(fixture(b, "avro/opportunity.avsc"))
	fixed, err := FixedAvroSchema(text)
	if err != nil {
		b.Fatal(err)
	}
	d := NewAvroDecoder(JSONShape(Defaults{Object: "Opportunity", Operation: Insert, Mapping: mustMapping(b, MappingRules{
		Exclude: []string{"tags"}, Rename: map[string]string{"account.external_id": "Account.External_Id__c"}, TypeHints: map[string]TypeHint{"close_date": HintDate}})}), fixed)
	benchmarkFormat(b, d, avroBinary(b, text, map[string]any{
		"opportunity_id": "O-1", "title": "Big deal", "stage": "ClosedWon", "close_date": int64(1719705600000),
		"amount": goavro.Union("bytes.decimal", big.NewRat(25000000, 100)), "probability": goavro.Union("double", 0.9),
		"private": false, "created_at": time.UnixMicro(1709296496789012).UTC(),
		"account": goavro.Union("com.example.sales.AccountRef", map[string]any{"external_id": "A-1", "region": nil}), "tags": []any{"big"},
	}))
}

// BenchmarkDecodeAvroEnvelope decodes the nine-field Contact upsert of
// BenchmarkDecodeEnvelope as schemas/change_envelope.avsc.
func BenchmarkDecodeAvroEnvelope(b *testing.B) {
	fake := newFakeRegistry(b)
	id := fake.register(b, "contacts-value", schemas.ChangeEnvelope)
	benchmarkFormat(b, NewAvroDecoder(EnvelopeShape(Defaults{}), fake.client(b, RegistryOptions{})), wire(id, avroBinary(b, schemas.ChangeEnvelope, map[string]any{
		"object": goavro.Union("string", "Contact"), "operation": goavro.Union("io.bulkstream.Operation", "upsert"),
		"externalIdField": goavro.Union("string", "External_Id__c"),
		"fields": map[string]any{
			"External_Id__c": goavro.Union("string", "C-000123456"), "FirstName": goavro.Union("string", "Ada"),
			"LastName": goavro.Union("string", "Lovelace"), "Email": goavro.Union("string", "ada.lovelace@example.com"),
			"Account.External_Id__c": goavro.Union("string", "A-000042"), "Birthdate": goavro.Union("string", "1815-12-10"),
			"Lifetime_Value__c": goavro.Union("double", 18250.75), "HasOptedOutOfEmail": goavro.Union("boolean", false), "MobilePhone": nil,
		},
	})))
}

// An envelope whose fields are null has no fields.
func TestAvroEnvelopeNullFields(t *testing.T) {
	text := `{"type": "record", "name": "E", "fields": [{"name": "object", "type": "string"}, {"name": "fields", "type": ["null", {"type": "map", "values": "string"}]}]}`
	fixed, err := FixedAvroSchema(text)
	if err != nil {
		t.Fatal(err)
	}
	value := avroBinary(t, text, map[string]any{"object": "Account", "fields": nil})
	checkChange(t, NewAvroDecoder(EnvelopeShape(Defaults{Operation: Insert}), fixed), Source{Value: value}, nil, "insert has no fields")
}

// The decoders are safe for concurrent use: their caches (registry schemas,
// Kafka Connect schemas, tree stacks) are shared. Run with -race.
func TestDecodersConcurrent(t *testing.T) {
	envelope := string(fixture(t, "debezium/customers_envelope.avsc"))
	fake := newFakeRegistry(t)
	id := fake.register(t, "customers-value", envelope)
	shape, err := DebeziumShape(contactRoute(nil))
	if err != nil {
		t.Fatal(err)
	}
	avro := NewAvroDecoder(shape, fake.client(t, RegistryOptions{}))
	jsonDec, err := NewDebeziumDecoder(contactRoute(nil))
	if err != nil {
		t.Fatal(err)
	}
	avroValue := wire(id, avroBinary(t, envelope, customerEvent("c", nil, customerRow())))
	jsonValue := fixture(t, "debezium/create_schema.json")
	done := make(chan error)
	for range 8 {
		go func() {
			for range 50 {
				if _, err := avro.Decode(Source{Value: avroValue}); err != nil {
					done <- err
					return
				}
				if _, err := jsonDec.Decode(Source{Value: jsonValue}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
