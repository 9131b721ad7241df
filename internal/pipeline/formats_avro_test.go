package pipeline

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
	"github.com/bulkstream/bulkstream/schemas"
)

// customersEnvelope is Debezium's Avro envelope of a customers table, as
// Confluent's AvroConverter writes it: the row a nullable union, a
// Debezium date (an int named by connect.name), a nested record.
const customersEnvelope = `{
  "type": "record", "name": "Envelope", "namespace": "shop.public.customers",
  "fields": [
    {"name": "before", "default": null, "type": ["null", {"type": "record", "name": "Value", "fields": [
      {"name": "id", "type": "long"},
      {"name": "first_name", "type": ["null", "string"], "default": null},
      {"name": "last_name", "type": "string"},
      {"name": "email", "type": ["null", "string"], "default": null},
      {"name": "birth_date", "default": null, "type": ["null", {"type": "int", "connect.version": 1, "connect.name": "io.debezium.time.Date"}]},
      {"name": "opted_out", "type": "boolean"},
      {"name": "address", "default": null, "type": ["null", {"type": "record", "name": "Address", "fields": [
        {"name": "city", "type": ["null", "string"], "default": null},
        {"name": "country", "type": ["null", "string"], "default": null}]}]}
    ]}]},
    {"name": "after", "type": ["null", "Value"], "default": null},
    {"name": "source", "type": {"type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql", "fields": [
      {"name": "connector", "type": "string"}, {"name": "table", "type": "string"}]}},
    {"name": "op", "type": "string"},
    {"name": "ts_ms", "type": ["null", "long"], "default": null}
  ]
}`

// opportunitySchema is a sales system's event: an enum, an epoch-millis
// long that is a date, a decimal, a double, and a nested record that names
// the parent account.
const opportunitySchema = `{
  "type": "record", "name": "Opportunity", "namespace": "com.example.sales",
  "fields": [
    {"name": "opportunity_id", "type": "string"},
    {"name": "title", "type": "string"},
    {"name": "stage", "type": {"type": "enum", "name": "Stage", "symbols": ["Prospecting", "ClosedWon", "ClosedLost"]}},
    {"name": "close_date", "type": "long"},
    {"name": "amount", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}], "default": null},
    {"name": "probability", "type": ["null", "double"], "default": null},
    {"name": "private", "type": "boolean"},
    {"name": "created_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "account", "type": {"type": "record", "name": "AccountRef", "fields": [{"name": "external_id", "type": "string"}]}}
  ]
}`

// avroValue encodes native with schema text in the Confluent wire format
// under id.
func avroValue(t testing.TB, id int, text string, native map[string]any) []byte {
	t.Helper()
	codec, err := goavro.NewCodec(text)
	if err != nil {
		t.Fatal(err)
	}
	b, err := codec.BinaryFromNative(event.AppendWireHeader(nil, id), native)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func registerSchema(t testing.TB, reg *srfake.Registry, subject, text string) int {
	t.Helper()
	id, _, err := reg.RegisterSchema(subject, sr.Schema{Schema: text})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Avro events of three formats, with their schemas in a schema registry
// (franz-go's srfake, over HTTP), through the whole pipeline to the
// emulator: envelopes create accounts; a sales system's records become
// opportunities, their nested account record a relationship column by the
// mapping; Debezium change events of a customers table become contacts.
// A delete by the key column is resolved to the contact's Id and applied;
// a tombstone in Avro and a truncate fail with their reasons, each with one
// result.
func TestFormatsAvroEndToEnd(t *testing.T) {
	const (
		accountsTopic = "crm.accounts"
		salesTopic    = "sales.opportunities"
		cdcTopic      = "shop.public.customers"
	)
	w := newWorld(t, 2, bulkemu.Options{LockWait: 10 * time.Second}, accountsTopic, salesTopic, cdcTopic)
	registry := srfake.New()
	t.Cleanup(registry.Close)
	envelopeID := registerSchema(t, registry, accountsTopic+"-value", schemas.ChangeEnvelope)
	salesID := registerSchema(t, registry, salesTopic+"-value", opportunitySchema)
	cdcID := registerSchema(t, registry, cdcTopic+"-value", customersEnvelope)
	reg, err := event.NewRegistry(event.RegistryOptions{URL: registry.URL()})
	if err != nil {
		t.Fatal(err)
	}

	mapping := func(r event.MappingRules) *event.Mapping {
		m, err := event.NewMapping(r)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	sales := event.JSONShape(event.Defaults{Object: "Opportunity", Operation: event.Upsert, ExternalIDField: "External_Id__c",
		Mapping: mapping(event.MappingRules{
			Rename: map[string]string{"opportunity_id": "External_Id__c", "title": "Name", "stage": "StageName", "close_date": "CloseDate",
				"amount": "Amount", "probability": "Probability", "private": "IsPrivate", "account.external_id": "Account.External_Id__c"},
			Exclude:   []string{"created_at"},
			Static:    map[string]string{"LeadSource": "Kafka"},
			TypeHints: map[string]event.TypeHint{"CloseDate": event.HintDate},
		})})
	customers, err := event.DebeziumShape(event.DebeziumOptions{KeyField: "id", Defaults: event.Defaults{Object: "Contact", ExternalIDField: "External_Id__c",
		Mapping: mapping(event.MappingRules{
			Rename: map[string]string{"first_name": "FirstName", "last_name": "LastName", "email": "Email", "birth_date": "Birthdate",
				"opted_out": "HasOptedOutOfEmail", "address.city": "MailingCity"},
			Exclude: []string{"address.country"},
		})}})
	if err != nil {
		t.Fatal(err)
	}
	rr := w.readResults()
	run := w.start(w.options("formats-avro",
		Route{Topics: []string{accountsTopic}, Decoder: event.NewAvroDecoder(event.EnvelopeShape(event.Defaults{Object: "Account"}), reg)},
		Route{Topics: []string{salesTopic}, Decoder: event.NewAvroDecoder(sales, reg)},
		Route{Topics: []string{cdcTopic}, Decoder: event.NewAvroDecoder(customers, reg)},
	))

	// Accounts first, as envelopes.
	var accounts []*kgo.Record
	for i := range 5 {
		accounts = append(accounts, &kgo.Record{Topic: accountsTopic, Key: []byte(fmt.Sprint(i)), Value: avroValue(t, envelopeID, schemas.ChangeEnvelope, map[string]any{
			"object": nil, "operation": goavro.Union("io.bulkstream.Operation", "upsert"), "externalIdField": goavro.Union("string", "External_Id__c"),
			"fields": map[string]any{"External_Id__c": goavro.Union("string", fmt.Sprintf("ACC-%d", i)), "Name": goavro.Union("string", fmt.Sprintf("Account %d", i)),
				"NumberOfEmployees": goavro.Union("long", int64(10*i)), "AnnualRevenue": goavro.Union("double", 1.25e6)},
		})})
	}
	w.produce(accounts...)
	rr.waitFor(t, len(accounts), 30*time.Second)

	var records []*kgo.Record
	closeDate := time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC)
	for i := range 20 {
		amount := any(goavro.Union("bytes.decimal", big.NewRat(int64(2500000+i), 100)))
		if i == 3 {
			amount = nil
		}
		records = append(records, &kgo.Record{Topic: salesTopic, Key: []byte(fmt.Sprintf("O-%d", i)), Value: avroValue(t, salesID, opportunitySchema, map[string]any{
			"opportunity_id": fmt.Sprintf("O-%d", i), "title": fmt.Sprintf("Deal %d", i), "stage": "ClosedWon",
			"close_date": closeDate.AddDate(0, 0, i).UnixMilli(), "amount": amount, "probability": goavro.Union("double", 0.75),
			"private": i%2 == 0, "created_at": time.UnixMilli(1709296496789).UTC(),
			"account": map[string]any{"external_id": fmt.Sprintf("ACC-%d", i%5)},
		})})
	}
	customer := func(id int64, last string, city any) map[string]any {
		row := map[string]any{"id": id, "first_name": goavro.Union("string", "Ada"), "last_name": last, "email": goavro.Union("string", fmt.Sprintf("c%d@example.com", id)),
			"birth_date": goavro.Union("int", int32(7441)), "opted_out": id%2 == 0, "address": nil}
		if city != nil {
			row["address"] = goavro.Union("shop.public.customers.Address", map[string]any{"city": goavro.Union("string", city), "country": goavro.Union("string", "FR")})
		}
		return row
	}
	change := func(op string, before, after map[string]any) []byte {
		union := func(row map[string]any) any {
			if row == nil {
				return nil
			}
			return goavro.Union("shop.public.customers.Value", row)
		}
		return avroValue(t, cdcID, customersEnvelope, map[string]any{"before": union(before), "after": union(after), "op": op,
			"source": map[string]any{"connector": "postgresql", "table": "customers"}, "ts_ms": goavro.Union("long", int64(1709296496801))})
	}
	cdc := func(id int64, value []byte) *kgo.Record {
		return &kgo.Record{Topic: cdcTopic, Key: []byte(fmt.Sprintf(`{"id":%d}`, id)), Value: value}
	}
	for id := int64(1); id <= 10; id++ {
		records = append(records, cdc(id, change("r", nil, customer(id, fmt.Sprintf("Snapshot %d", id), "Paris"))))
	}
	records = append(records,
		cdc(3, change("u", customer(3, "Snapshot 3", "Paris"), customer(3, "Moved", nil))), // address set to null
		cdc(11, change("c", nil, customer(11, "Created", "Lyon"))),
		cdc(10, change("d", customer(10, "Snapshot 10", "Paris"), nil)),
		cdc(10, nil), // the tombstone after the delete
		cdc(0, change("t", nil, nil)),
	)
	w.produce(records...)
	total := len(accounts) + len(records)
	rr.waitFor(t, total, 60*time.Second)
	run.shutdown(t)

	results, dlq := rr.snapshot()
	failures := map[string]string{} // topic/offset → error
	var skips []Result
	for src, rs := range results {
		if len(rs) != 1 {
			t.Fatalf("%v has %d results", src, len(rs))
		}
		if !rs[0].Success {
			failures[fmt.Sprintf("%s/%d", src.Topic, src.Offset)] = rs[0].ErrorCode + ": " + rs[0].Error
		}
		if rs[0].Status == StatusSkipped {
			skips = append(skips, rs[0])
		}
	}
	// The tombstone after the delete (its Avro key decoded through the
	// registry) needs no write: a skipped result, no dead-letter copy.
	if len(results) != total || len(failures) != 1 || len(dlq) != 1 {
		t.Fatalf("%d results for %d events; failures %v; %d dead letters", len(results), total, failures, len(dlq))
	}
	if len(skips) != 1 || skips[0].Source.Topic != cdcTopic || !strings.Contains(skips[0].SkipReason, "tombstone") {
		t.Errorf("skipped results %+v, want the tombstone's", skips)
	}
	for _, want := range []string{`op "t" (truncate) is not supported`} {
		found := false
		for _, got := range failures {
			found = found || strings.HasPrefix(got, "BULKSTREAM_DECODE: ") && strings.Contains(got, want)
		}
		if !found {
			t.Errorf("no failure says %q: %v", want, failures)
		}
	}

	// The org: dates, decimals, booleans, flattened and renamed records.
	accountIDs := map[string]string{}
	for _, r := range w.emu.Records("Account") {
		accountIDs[r.Fields["External_Id__c"]] = r.ID
	}
	opps := map[string]bulkemu.Record{}
	for _, r := range w.emu.Records("Opportunity") {
		opps[r.Fields["External_Id__c"]] = r
	}
	for i := range 20 {
		o := opps[fmt.Sprintf("O-%d", i)]
		want := map[string]string{"Name": fmt.Sprintf("Deal %d", i), "StageName": "ClosedWon", "CloseDate": closeDate.AddDate(0, 0, i).Format("2006-01-02"),
			"Amount": strconv.FormatFloat(float64(2500000+i)/100, 'f', -1, 64), "Probability": "0.75", "IsPrivate": fmt.Sprint(i%2 == 0),
			"AccountId": accountIDs[fmt.Sprintf("ACC-%d", i%5)], "LeadSource": "Kafka"}
		if i == 3 {
			want["Amount"] = ""
		}
		for f, v := range want {
			if o.Fields[f] != v {
				t.Errorf("Opportunity O-%d: %s = %q, want %q (%v)", i, f, o.Fields[f], v, o.Fields)
			}
		}
	}
	contacts := map[string]bulkemu.Record{}
	for _, r := range w.emu.Records("Contact") {
		contacts[r.Fields["External_Id__c"]] = r
	}
	if len(contacts) != 11 || !contacts["10"].Deleted {
		t.Errorf("%d contacts, want 11, contact 10 deleted: %v", len(contacts), contacts["10"])
	}
	for ext, want := range map[string]map[string]string{
		"1":  {"FirstName": "Ada", "LastName": "Snapshot 1", "Email": "c1@example.com", "Birthdate": "1990-05-17", "HasOptedOutOfEmail": "false", "MailingCity": "Paris"},
		"3":  {"LastName": "Moved", "MailingCity": "", "HasOptedOutOfEmail": "false"},
		"10": {"LastName": "Snapshot 10", "HasOptedOutOfEmail": "true"},
		"11": {"LastName": "Created", "MailingCity": "Lyon"},
	} {
		for f, v := range want {
			if got := contacts[ext].Fields[f]; got != v {
				t.Errorf("Contact %s: %s = %q, want %q (%v)", ext, f, got, v, contacts[ext].Fields)
			}
		}
	}
	w.committedAtEnd("formats-avro", accountsTopic, salesTopic, cdcTopic)
}
