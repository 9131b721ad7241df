package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/bulkstream/bulkstream/internal/config"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
	"github.com/bulkstream/bulkstream/schemas"
)

// customersEnvelope is a small Debezium envelope in Avro.
const customersEnvelope = `{"type": "record", "name": "Envelope", "namespace": "shop.customers", "fields": [
  {"name": "before", "type": ["null", {"type": "record", "name": "Value", "fields": [
    {"name": "id", "type": "long"},
    {"name": "last_name", "type": "string"},
    {"name": "birth_date", "type": ["null", {"type": "int", "logicalType": "date"}], "default": null}]}], "default": null},
  {"name": "after", "type": ["null", "Value"], "default": null},
  {"name": "op", "type": "string"}]}`

// accountSchema is the plain record of a route with a schema_file.
const accountSchema = `{"type": "record", "name": "Account", "fields": [
  {"name": "code", "type": "string"}, {"name": "name", "type": "string"}, {"name": "revenue", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}}]}`

func encodeAvro(t *testing.T, schema string, header []byte, native map[string]any) []byte {
	t.Helper()
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	b, err := codec.BinaryFromNative(header, native)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// `connector run` with Avro both ways: Debezium events whose schemas are in
// a registry, plain Avro records of a schema_file, and result records in
// Avro, their schema registered under each result topic's subject.
func TestRunCommandAvro(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "shop.customers", "legacy.accounts"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	emu := bulkemu.New(bulkemu.Options{ClientID: "app", ClientSecret: "s3cret"})
	sf := httptest.NewServer(emu)
	defer sf.Close()
	registry := srfake.New(srfake.WithAuth("Basic c3I6c3ItcGFzcw==")) // sr:sr-pass
	defer registry.Close()
	cdcID, _, err := registry.RegisterSchema("shop.customers-value", sr.Schema{Schema: customersEnvelope})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "account.avsc"), []byte(accountSchema), 0o644)
	cfg := fmt.Sprintf(`kafka:
  brokers: [%s]
  group: avro-test
salesforce:
  login_url: %s
  auth: {client_id: app, client_secret: s3cret}
schema_registry:
  url: %s
  username: sr
  password: ${TEST_SR_PASSWORD}
routes:
  - topics: [shop.customers]
    format: debezium
    encoding: avro
    object: Contact
    external_id_field: External_Id__c
    key_field: id
    mapping:
      rename: {last_name: LastName, birth_date: Birthdate}
  - topics: [legacy.accounts]
    format: json
    encoding: avro
    schema_file: %s
    object: Account
    operation: upsert
    external_id_field: External_Id__c
    mapping:
      rename: {code: External_Id__c, name: Name, revenue: AnnualRevenue}
batch:
  max_age: 100ms
results:
  format: avro
http:
  listen: ""
shutdown_grace: 5s
`, cluster.ListenAddrs()[0], sf.URL, registry.URL(), filepath.Join(dir, "account.avsc"))
	path := filepath.Join(dir, "config.yaml")
	os.WriteFile(path, []byte(cfg), 0o644)
	t.Setenv("TEST_SR_PASSWORD", "sr-pass")

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("bulkstream.success", "bulkstream.failure"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	row := func(id int64, name string) any {
		return goavro.Union("shop.customers.Value", map[string]any{"id": id, "last_name": name,
			"birth_date": goavro.Union("int.date", time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC))})
	}
	header := event.AppendWireHeader(nil, cdcID)
	records := []*kgo.Record{
		{Topic: "shop.customers", Value: encodeAvro(t, customersEnvelope, header, map[string]any{"before": nil, "after": row(1, "Lovelace"), "op": "c"})},
		{Topic: "shop.customers", Value: encodeAvro(t, customersEnvelope, header, map[string]any{"before": nil, "after": row(2, "Hopper"), "op": "r"})},
		{Topic: "shop.customers", Value: encodeAvro(t, customersEnvelope, header, map[string]any{"before": row(2, "Hopper"), "after": nil, "op": "d"})},
		{Topic: "legacy.accounts", Value: encodeAvro(t, accountSchema, nil, map[string]any{"code": "L-1", "name": "Legacy", "revenue": big.NewRat(123456789, 100)}),
			Timestamp: time.UnixMilli(1_700_000_000_042), Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-ab-cd-01")}}},
	}
	if err := cl.ProduceSync(context.Background(), records...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr lockedBuffer
	go func() { done <- run(ctx, []string{"run", "--config", path}, io.Discard, &stderr) }()

	codec, err := goavro.NewCodec(schemas.Result)
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]map[string]any{} // source topic/offset → result
	ids := map[string]int{}                // result topic → schema id
	deadline := time.Now().Add(30 * time.Second)
	for len(results) < len(records) && time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			if len(r.Value) < 5 || r.Value[0] != 0 {
				t.Fatalf("result on %s is not in the wire format: %q", r.Topic, r.Value)
			}
			ids[r.Topic] = int(binary.BigEndian.Uint32(r.Value[1:5]))
			native, rest, err := codec.NativeFromBinary(r.Value[5:])
			if err != nil || len(rest) > 0 {
				t.Fatalf("result on %s: %v (%d bytes left)", r.Topic, err, len(rest))
			}
			res := native.(map[string]any)
			src := res["source"].(map[string]any)
			results[fmt.Sprintf("%s/%d", src["topic"], src["offset"])] = res
		})
		pcancel()
	}
	cancel()
	if code := <-done; code != 0 || len(results) != len(records) {
		t.Fatalf("exit %d, %d results of %d; log:\n%s", code, len(results), len(records), stderr.String())
	}
	for topic, id := range ids {
		s, ok := registry.GetSchema(topic+"-value", 1)
		if !ok || s.ID != id {
			t.Errorf("results on %s carry schema id %d; the registry has %+v under %s-value", topic, id, s, topic)
		}
	}
	for key, want := range map[string]string{
		"shop.customers/0": "true Contact upsert ",
		"shop.customers/1": "true Contact upsert ",
		"shop.customers/2": "true Contact delete ", // by external id, resolved to the Id

		"legacy.accounts/0": "true Account upsert ",
	} {
		r := results[key]
		if got := fmt.Sprintf("%v %v %v %v", r["success"], r["object"], r["operation"], r["errorCode"]); got != want {
			t.Errorf("%s: %s, want %s (%v)", key, got, want, r)
		}
	}
	// The source record's timestamp and headers (schemas/result.avsc).
	legacy := results["legacy.accounts/0"]
	if ts, hs := legacy["sourceTimestamp"], legacy["sourceHeaders"].([]any); fmt.Sprint(ts) != "map[long:1700000000042]" || len(hs) != 1 ||
		fmt.Sprintf("%s", hs[0].(map[string]any)["value"]) != "00-ab-cd-01" {
		t.Errorf("legacy.accounts/0: sourceTimestamp %v, sourceHeaders %v", ts, hs)
	}
	contacts := emu.Records("Contact")
	accounts := emu.Records("Account")
	if len(contacts) != 2 || contacts[0].Fields["Birthdate"] != "1990-05-17" || !contacts[1].Deleted || len(accounts) != 1 || accounts[0].Fields["AnnualRevenue"] != "1234567.89" {
		t.Errorf("org: contacts %v, accounts %v", contacts, accounts)
	}
}

func TestRouteDecoderErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		route config.Route
		want  string
	}{
		{"missing schema file", config.Route{Format: config.FormatJSON, Encoding: config.EncodingAvro, SchemaFile: "/nonexistent.avsc", Object: "Account", Operation: "insert"},
			"routes[2].schema_file: open /nonexistent.avsc: no such file or directory"},
		{"schema file that is not Avro", config.Route{Format: config.FormatJSON, Encoding: config.EncodingAvro, SchemaFile: "formats_test.go", Object: "Account", Operation: "insert"},
			"routes[2].schema_file: formats_test.go: avro schema: "},
		{"bad type hint", config.Route{Format: config.FormatJSON, Object: "Account", Operation: "insert", Mapping: config.Mapping{TypeHints: map[string]string{"X": "money"}}},
			`routes[2].mapping: type hint of X: "money" is not one of date, datetime, decimal, string, int, boolean`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := routeDecoder("routes[2]", tc.route, nil)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("err = %v, want %s...", err, tc.want)
			}
		})
	}
}

// A route's tombstones setting and the debezium_unwrapped format reach the
// decoder.
func TestRouteDecoderTombstones(t *testing.T) {
	key := []byte(`{"id": 7}`)
	for _, tc := range []struct {
		name  string
		route config.Route
		skip  bool // else a delete by External_Id__c 7
	}{
		{"debezium skips by default", config.Route{Format: config.FormatDebezium, Object: "Contact", ExternalIDField: "External_Id__c", KeyField: "id"}, true},
		{"debezium deletes when told", config.Route{Format: config.FormatDebezium, Object: "Contact", ExternalIDField: "External_Id__c", KeyField: "id",
			Tombstones: config.TombstonesDelete}, false},
		{"debezium_unwrapped deletes by default", config.Route{Format: config.FormatDebeziumUnwrapped, Object: "Contact", ExternalIDField: "External_Id__c", KeyField: "id"}, false},
		{"json skips when told", config.Route{Format: config.FormatJSON, Object: "Contact", Operation: "upsert", ExternalIDField: "External_Id__c",
			Tombstones: config.TombstonesSkip}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := routeDecoder("routes[0]", tc.route, nil)
			if err != nil {
				t.Fatal(err)
			}
			c, err := d.Decode(event.Source{Key: key})
			if _, skipped := event.IsSkip(err); skipped != tc.skip {
				t.Fatalf("Decode = %+v, %v; want skipped %v", c, err, tc.skip)
			}
			if !tc.skip && (err != nil || c.Operation != event.Delete || c.ExternalIDField != "External_Id__c") {
				t.Errorf("Decode = %+v, %v; want a delete by External_Id__c", c, err)
			}
		})
	}
	d, err := routeDecoder("routes[0]", config.Route{Format: config.FormatDebeziumUnwrapped, Object: "Contact", ExternalIDField: "External_Id__c", KeyField: "id"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Decode(event.Source{Value: []byte(`{"id": 7, "name": "x", "__deleted": "true"}`)})
	if err != nil || c.Operation != event.Delete {
		t.Errorf("an unwrapped row marked deleted: %+v, %v", c, err)
	}
}
