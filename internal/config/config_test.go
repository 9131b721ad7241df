package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulkstream/bulkstream/internal/pipeline"
	"github.com/bulkstream/bulkstream/pkg/bulk"
)

// env returns a lookupEnv over vars.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// messages flattens a joined error into its messages, checking that each is
// an *Error.
func messages(t *testing.T, err error) []string {
	t.Helper()
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, messages(t, e)...)
		}
		return out
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%v: a %T, not an *Error", err, err)
	}
	return []string{err.Error()}
}

// minimal is the smallest valid file; tests append to it, so its last line
// is 10.
const minimal = `kafka:
  brokers: [127.0.0.1:9092]
  group: g
salesforce:
  login_url: https://acme.my.salesforce.com
  auth:
    client_id: id
    client_secret: s3cr3t
routes:
  - topics: [crm.accounts]
`

// edit returns minimal with old replaced by new.
func edit(old, new string) string {
	if !strings.Contains(minimal, old) {
		panic("minimal has no " + old)
	}
	return strings.Replace(minimal, old, new, 1)
}

func TestParseFull(t *testing.T) {
	const file = `
kafka:
  brokers: [b1:9092, "b2:9093"]
  group: sync
  client_id: bs-1
  tls:
    enabled: true
    ca_file: /ca.pem
    cert_file: /c.pem
    key_file: /k.pem
    server_name: kafka.internal
  sasl: {mechanism: scram-sha-512, username: u, password: p}
  fetch_max_bytes: 1 GiB
  session_timeout: 10s
  rebalance_timeout: 2m
  start_offset: latest
salesforce:
  login_url: http://127.0.0.1:8443
  instance_url: https://acme.my.salesforce.com/
  api_version: 61.0
  auth: {flow: client_credentials, client_id: id, client_secret: s}
  timeout: 90s
  poll_interval: 1s
  poll_max_interval: 30s
schema_registry:
  url: https://sr.internal:8081
  username: sr-user
  password: sr-pass
  tls: {ca_file: /sr-ca.pem}
  timeout: 5s
routes:
  - name: accounts
    topics: [crm.accounts, crm.accounts.v2]
  - topic_regex: billing\..*
    format: json
    object: Invoice__c
    operation: upsert
    external_id_field: Ext__c
    fields: [Ext__c, Amount__c, Account__r.External_Id__c]
  - topics: [dbserver1.inventory.customers]
    format: debezium
    encoding: avro
    object: Contact
    external_id_field: External_Id__c
    key_field: id
    mapping:
      rename: {first_name: FirstName, address.city: MailingCity}
      exclude: [internal_notes]
      static: {LeadSource: Kafka, Description: null}
      type_hints: {Birthdate: date}
  - topics: [sf.accounts]
    format: salesforce_cdc
    external_id_field: Source_Id__c
    mapping: {include: [Name, Industry]}
  - topics: [legacy.orders]
    format: json
    encoding: avro
    schema_file: schemas/order.avsc
    object: Order__c
    operation: insert
batch:
  max_bytes: 64MB
  max_records: 10000
  max_age: 250ms
  max_jobs_in_flight: 2
  spill_threshold: 1048576
  spill_dir: /var/tmp
results:
  success_topic: ok
  failure_topic: ko
  dead_letter_topic: dlq
  partitions: -1
  replication_factor: 3
  max_record_bytes: 4MB
  format: avro
http:
  listen: ""
log: {level: debug, format: json}
memory_budget: 96MiB
shutdown_grace: 1m
check: warn
`
	c, err := Parse("full.yaml", []byte(file), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Kafka: Kafka{
			Brokers:  []string{"b1:9092", "b2:9093"},
			Group:    "sync",
			ClientID: "bs-1",
			TLS:      TLS{Enabled: true, CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem", ServerName: "kafka.internal"},
			SASL:     SASL{Mechanism: SASLScramSHA512, Username: "u", Password: "p"},

			FetchMaxBytes:          GiB,
			FetchMaxPartitionBytes: 256 * KiB,
			SessionTimeout:         10 * time.Second,
			RebalanceTimeout:       2 * time.Minute,
			StartOffset:            StartLatest,
		},
		Salesforce: Salesforce{
			LoginURL:        "http://127.0.0.1:8443",
			InstanceURL:     "https://acme.my.salesforce.com/",
			APIVersion:      "61.0",
			Auth:            Auth{Flow: FlowClientCredentials, ClientID: "id", ClientSecret: "s"},
			Timeout:         90 * time.Second,
			PollInterval:    time.Second,
			PollMaxInterval: 30 * time.Second,
		},
		SchemaRegistry: SchemaRegistry{URL: "https://sr.internal:8081", Username: "sr-user", Password: "sr-pass",
			TLS: SchemaRegistryTLS{CAFile: "/sr-ca.pem"}, Timeout: 5 * time.Second},
		Routes: []Route{
			{Name: "accounts", Topics: []string{"crm.accounts", "crm.accounts.v2"}, Format: FormatEnvelope},
			{TopicRegex: `billing\..*`, Format: FormatJSON, Object: "Invoice__c", Operation: bulk.OpUpsert, ExternalIDField: "Ext__c",
				Fields: []string{"Ext__c", "Amount__c", "Account__r.External_Id__c"}},
			{Topics: []string{"dbserver1.inventory.customers"}, Format: FormatDebezium, Encoding: EncodingAvro, Object: "Contact",
				ExternalIDField: "External_Id__c", KeyField: "id", Mapping: Mapping{
					Rename:    map[string]string{"first_name": "FirstName", "address.city": "MailingCity"},
					Exclude:   []string{"internal_notes"},
					Static:    map[string]string{"LeadSource": "Kafka", "Description": ""},
					TypeHints: map[string]string{"Birthdate": "date"},
				}},
			{Topics: []string{"sf.accounts"}, Format: FormatSalesforceCDC, ExternalIDField: "Source_Id__c", Mapping: Mapping{Include: []string{"Name", "Industry"}}},
			{Topics: []string{"legacy.orders"}, Format: FormatJSON, Encoding: EncodingAvro, SchemaFile: "schemas/order.avsc", Object: "Order__c", Operation: bulk.OpInsert},
		},
		Batch:         Batch{MaxBytes: 64 * MiB, MaxRecords: 10000, MaxAge: 250 * time.Millisecond, MaxJobsInFlight: 2, SpillThreshold: MiB, SpillDir: "/var/tmp", ParentOrder: true, IDCacheSize: 100_000},
		Retry:         Retry{MaxAttempts: 5, Backoff: time.Second, MaxBackoff: time.Minute, ParentWait: 2 * time.Minute},
		Delivery:      AtLeastOnce,
		Journal:       Journal{Topic: "bulkstream.journal", OffsetForm: OffsetsCompact},
		Limits:        Limits{APIRequestReserve: Reserve{Ratio: 0.1}, RecordLimit: 150_000_000, PollInterval: time.Minute},
		Results:       Results{SuccessTopic: "ok", FailureTopic: "ko", DeadLetterTopic: "dlq", Partitions: -1, ReplicationFactor: 3, MaxRecordBytes: 4 * MiB, Format: ResultsAvro},
		HTTP:          HTTP{Listen: ""},
		Log:           Log{Level: "debug", Format: "json"},
		MemoryBudget:  96 * MiB,
		ShutdownGrace: time.Minute,
		Check:         CheckWarn,
	}
	// Compare what the file says, not the bookkeeping.
	got := *c
	got.file, got.lines = "", nil
	for i := range got.Routes {
		got.Routes[i].re = nil
	}
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, *want)
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse("t.yaml", []byte(minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if c.Batch != d.Batch || c.Results != d.Results || c.HTTP != d.HTTP || c.Log != d.Log ||
		c.ShutdownGrace != d.ShutdownGrace || c.Salesforce.Timeout != d.Salesforce.Timeout ||
		c.Kafka.ClientID != "bulkstream" || c.Kafka.StartOffset != StartEarliest || c.Kafka.FetchMaxBytes != 8*MiB || c.Kafka.FetchMaxPartitionBytes != 256*KiB {
		t.Errorf("defaults not kept:\n%+v", c)
	}
	if c.Routes[0].Format != FormatEnvelope {
		t.Errorf("route format = %q, want the default envelope", c.Routes[0].Format)
	}
	if c.Results.MaxRecordBytes != pipeline.DefaultMaxRecordBytes {
		t.Errorf("results.max_record_bytes defaults to %d, the pipeline to %d", c.Results.MaxRecordBytes, pipeline.DefaultMaxRecordBytes)
	}
	if c.MemoryBudget != pipeline.DefaultMemoryBudget {
		t.Errorf("memory_budget defaults to %d, the pipeline to %d", c.MemoryBudget, pipeline.DefaultMemoryBudget)
	}
}

func TestEnv(t *testing.T) {
	vars := map[string]string{"ID": "from-env", "EMPTY": "", "N": "1234", "DOLLAR": "a$b", "TRICKY": "x: [y] # z"}
	for _, tc := range []struct {
		name, value string // the value of salesforce.auth.client_id
		want        string // the decoded client_id; empty when an error is wanted
		err         string
	}{
		{"plain", "${ID}", "from-env", ""},
		{"inside text", "pre-${ID}-post", "pre-from-env-post", ""},
		{"quoted", `"${ID}"`, "from-env", ""},
		{"default used when unset", "${NOPE:-fallback}", "fallback", ""},
		{"default used when empty", "${EMPTY:-fallback}", "fallback", ""},
		{"default not used when set", "${ID:-fallback}", "from-env", ""},
		{"empty default", "x${NOPE:-}y", "xy", ""},
		{"set but empty", "${EMPTY}", "", `t.yaml:7: salesforce.auth.client_id: must not be empty`},
		{"dollar escape", "$${ID}", "${ID}", ""},
		{"lone dollar kept", "a$b$", "a$b$", ""},
		{"value not expanded again", "${DOLLAR}", "a$b", ""},
		{"value cannot change structure", "${TRICKY}", "x: [y] # z", ""},
		{"number into a string key", "${N}", "1234", ""},
		{"unset", "${SF_CLIENT_ID}", "", "t.yaml:7: salesforce.auth.client_id: environment variable SF_CLIENT_ID is not set; give a default with ${SF_CLIENT_ID:-default}"},
		{"unclosed", "${ID", "", `t.yaml:7: salesforce.auth.client_id: "${ID" has no closing }; write $$ for a literal $`},
		{"bad name", "${1X}", "", "t.yaml:7: salesforce.auth.client_id: ${1X}: want ${NAME} or ${NAME:-default}, NAME made of letters, digits and _; write $$ for a literal $"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := edit("client_id: id", "client_id: "+tc.value)
			c, err := Parse("t.yaml", []byte(file), env(vars))
			if tc.err != "" {
				if got := messages(t, err); !slices.Equal(got, []string{tc.err}) {
					t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Salesforce.Auth.ClientID != tc.want {
				t.Errorf("client_id = %q, want %q", c.Salesforce.Auth.ClientID, tc.want)
			}
		})
	}
}

func TestEnvTypesAfterExpansion(t *testing.T) {
	file := minimal + "batch:\n  max_records: ${N:-500}\n  max_bytes: ${SIZE}\nhttp:\n  listen: ${LISTEN:-}\n"
	c, err := Parse("t.yaml", []byte(file), env(map[string]string{"SIZE": "2MB"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Batch.MaxRecords != 500 || c.Batch.MaxBytes != 2*MiB || c.HTTP.Listen != "" {
		t.Errorf("max_records %d, max_bytes %s, listen %q; want 500, 2MiB and empty (disabled, not the default)",
			c.Batch.MaxRecords, c.Batch.MaxBytes, c.HTTP.Listen)
	}
	_, err = Parse("t.yaml", []byte(minimal+"batch:\n  max_records: ${N}\n"), env(map[string]string{"N": "lots"}))
	want := `t.yaml:12: batch.max_records: want a whole number, got "lots"`
	if got := messages(t, err); !slices.Equal(got, []string{want}) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

func TestErrors(t *testing.T) {
	checkErrors(t, []errorCase{
		{"unknown top-level key", minimal + "kafak:\n  brokers: [x:1]\n", []string{
			"t.yaml:11: kafak: unknown key; the top level has kafka, salesforce, schema_registry, routes, batch, retry, delivery, journal, limits, results, http, log, memory_budget, shutdown_grace, check",
		}},
		{"unknown nested key", minimal + "batch:\n  max_bytse: 1MB\n", []string{
			"t.yaml:12: batch.max_bytse: unknown key; batch has max_bytes, max_records, max_age, max_jobs_in_flight, spill_threshold, spill_dir, parent_order, id_cache_size",
		}},
		{"unknown key in a route", minimal + "  - topics: [b]\n    objct: X\n", []string{
			"t.yaml:12: routes[1].objct: unknown key; routes[1] has name, topics, topic_regex, format, object, operation, external_id_field, fields, encoding, schema_file, key_field, tombstones, mapping",
		}},
		{"unknown keys, all of them", minimal + "http:\n  listen: x:1\n  port: 1\nlog:\n  lvl: debug\n", []string{
			"t.yaml:13: http.port: unknown key; http has listen, console_token",
			"t.yaml:15: log.lvl: unknown key; log has level, format",
		}},
		{"key given twice", minimal + "log:\n  level: info\n  level: debug\n", []string{
			"t.yaml:13: log.level: given twice; first at line 12",
		}},
		{"wrong type: number", minimal + "batch:\n  max_records: many\n", []string{
			`t.yaml:12: batch.max_records: want a whole number, got "many"`,
		}},
		{"wrong type: list", edit("[127.0.0.1:9092]", "127.0.0.1:9092"), []string{
			`t.yaml:2: kafka.brokers: want a list of strings, got "127.0.0.1:9092"`,
		}},
		{"wrong type: mapping", minimal + "http: 8080\n", []string{
			`t.yaml:11: http: want a mapping, got "8080"`,
		}},
		{"wrong type: mapping for a string", minimal + "log:\n  level:\n    name: debug\n", []string{
			`t.yaml:13: log.level: want a string, got a mapping`,
		}},
		{"wrong type: bool", edit("  group: g\n", "  group: g\n  tls: {enabled: maybe}\n"), []string{
			`t.yaml:4: kafka.tls.enabled: want true or false, got "maybe"`,
		}},
		{"wrong type: list item", minimal + "  - topics: [a, [b]]\n", []string{
			`t.yaml:11: routes[1].topics[1]: want a string, got a list`,
		}},
		{"missing required keys", edit("  group: g\n", ""), []string{
			"t.yaml:1: kafka.group: required key is missing",
		}},
		{"missing section", minimal[strings.Index(minimal, "salesforce:"):], []string{
			"t.yaml: kafka.brokers: required key is missing",
			"t.yaml: kafka.group: required key is missing",
		}},
		{"empty required value", edit("group: g", `group: ""`), []string{
			"t.yaml:3: kafka.group: must not be empty",
		}},
		{"no routes", minimal[:strings.Index(minimal, "routes:")], []string{
			"t.yaml: routes: required key is missing",
		}},
		{"bad size unit", minimal + "batch:\n  max_bytes: 10XB\n", []string{
			`t.yaml:12: batch.max_bytes: size "10XB": unit "XB" is not one of B, KB, MB, GB, KiB, MiB, GiB`,
		}},
		{"bad size number", minimal + "batch:\n  spill_threshold: -1MB\n", []string{
			`t.yaml:12: batch.spill_threshold: size "-1MB": want a whole number of bytes, optionally with a unit (B, KB, MB, GB, KiB, MiB, GiB)`,
		}},
		{"bad duration", minimal + "batch:\n  max_age: 5 seconds\n", []string{
			`t.yaml:12: batch.max_age: want a duration such as 500ms, 10s or 1m30s, got "5 seconds"`,
		}},
		{"duration without unit", minimal + "shutdown_grace: 30\n", []string{
			`t.yaml:11: shutdown_grace: want a duration such as 500ms, 10s or 1m30s, got "30"`,
		}},
		{"max_bytes too big", minimal + "batch:\n  max_bytes: 101MB\n", []string{
			"t.yaml:12: batch.max_bytes: 101MiB is above 100MiB, the most one upload accepts",
		}},
		{"max_bytes zero", minimal + "batch:\n  max_bytes: 0\n", []string{
			"t.yaml:12: batch.max_bytes: must be above zero, got 0B",
		}},
		{"max_records too many", minimal + "batch:\n  max_records: 150000001\n", []string{
			"t.yaml:12: batch.max_records: must be from 1 to 150000000 (the org's daily Bulk API record allowance), got 150000001",
		}},
		{"route without topics", minimal + "  - format: envelope\n", []string{
			"t.yaml:11: routes[1].topics: required key is missing: set topics or topic_regex",
		}},
		{"route with an empty topic list", minimal + "  - topics: []\n", []string{
			"t.yaml:11: routes[1].topics: must list at least one topic",
		}},
		{"route with topics and topic_regex", minimal + "  - topics: [a]\n    topic_regex: x.*\n", []string{
			"t.yaml:12: routes[1].topic_regex: set topics or topic_regex, not both",
		}},
		{"bad regex", minimal + "  - topic_regex: crm.(\n", []string{
			`t.yaml:11: routes[1].topic_regex: "crm.(" is not a valid regular expression: missing closing )`,
		}},
		{"bad topic name", minimal + "  - topics: [crm/accounts]\n", []string{
			`t.yaml:11: routes[1].topics[0]: "crm/accounts" is not a Kafka topic name (letters, digits, '.', '_' and '-', at most 249)`,
		}},
		{"topic in two routes", minimal + "  - topics: [x, crm.accounts]\n", []string{
			`t.yaml:11: routes[1].topics[1]: "crm.accounts" already goes to routes[0]; a topic takes the first route that matches`,
		}},
		{"topic shadowed by a regex", edit("topics: [crm.accounts]", `topic_regex: crm\..*`) + "  - topics: [crm.accounts]\n", []string{
			`t.yaml:11: routes[1].topics[0]: "crm.accounts" already goes to routes[0]; a topic takes the first route that matches`,
		}},
		{"duplicate route names", minimal + "  - name: a\n    topics: [b]\n  - name: a\n    topics: [c]\n", []string{
			`t.yaml:13: routes[2].name: "a" is also the name of routes[1]`,
		}},
		{"json route without object and operation", minimal + "  - topics: [b]\n    format: json\n", []string{
			"t.yaml:11: routes[1].object: required key is missing: a json route needs its target object",
			"t.yaml:11: routes[1].operation: required key is missing: a json route needs one of insert, update, upsert, delete, hardDelete",
		}},
		{"upsert without external_id_field", minimal + "  - topics: [b]\n    format: json\n    object: Account\n    operation: upsert\n", []string{
			"t.yaml:11: routes[1].external_id_field: required key is missing: upsert matches records on an external id field",
		}},
		{"external_id_field without upsert", minimal + "  - topics: [b]\n    format: json\n    object: Account\n    operation: insert\n    external_id_field: Ext__c\n", []string{
			"t.yaml:15: routes[1].external_id_field: is only used by upsert, and by delete and hardDelete by external id, and the operation is insert",
		}},
		{"bad operation", minimal + "  - topics: [b]\n    operation: upsrt\n", []string{
			`t.yaml:12: routes[1].operation: "upsrt" is not one of insert, update, upsert, delete, hardDelete`,
		}},
		{"bad journal offset form", minimal + "journal:\n  offset_form: pair\n", []string{
			`t.yaml:12: journal.offset_form: "pair" is not one of compact, pairs`,
		}},
		{"bad format", minimal + "  - topics: [b]\n    format: avro\n", []string{
			`t.yaml:12: routes[1].format: "avro" is not one of envelope, json, debezium, debezium_unwrapped, salesforce_cdc`,
		}},
		{"unknown flow", edit("  auth:\n", "  auth:\n    flow: password\n"), []string{
			`t.yaml:7: salesforce.auth.flow: "password" is not one of client_credentials, jwt_bearer, refresh_token, access_token`,
		}},
		{"generic login host", edit("acme.my.salesforce.com", "login.salesforce.com"), []string{
			"t.yaml:5: salesforce.login_url: login.salesforce.com refuses the client_credentials flow; use the org's My Domain URL, such as https://acme.my.salesforce.com",
		}},
		{"http login url", edit("https://acme", "http://acme"), []string{
			`t.yaml:5: salesforce.login_url: "http://acme.my.salesforce.com": plain http is only for a loopback address (the local emulator); use https`,
		}},
		{"missing credentials", edit("    client_id: id\n    client_secret: s3cr3t\n", "    flow: client_credentials\n"), []string{
			"t.yaml:6: salesforce.auth.client_id: required key is missing",
			"t.yaml:6: salesforce.auth.client_secret: required key is missing",
		}},
		{"bad api version", edit("  auth:\n", "  api_version: 62\n  auth:\n"), []string{
			`t.yaml:6: salesforce.api_version: "62" is not a version like "62.0"`,
		}},
		{"bad broker", edit("[127.0.0.1:9092]", "[kafka, 'k:x']"), []string{
			`t.yaml:2: kafka.brokers[0]: "kafka" is not host:port`,
			`t.yaml:2: kafka.brokers[1]: "k:x": port "x" is not a number from 1 to 65535`,
		}},
		{"tls settings without tls", edit("  group: g\n", "  group: g\n  tls:\n    ca_file: /ca.pem\n    cert_file: /c.pem\n"), []string{
			"t.yaml:5: kafka.tls.ca_file: has no effect unless kafka.tls.enabled is true",
			"t.yaml:6: kafka.tls.cert_file: has no effect unless kafka.tls.enabled is true",
			"t.yaml:4: kafka.tls.key_file: required key is missing: cert_file needs its key",
		}},
		{"sasl without credentials", edit("  group: g\n", "  group: g\n  sasl:\n    mechanism: scram-sha-256\n"), []string{
			"t.yaml:4: kafka.sasl.username: required key is missing",
			"t.yaml:4: kafka.sasl.password: required key is missing",
		}},
		{"bad sasl mechanism", edit("  group: g\n", "  group: g\n  sasl: {mechanism: PLAIN, username: u, password: p}\n"), []string{
			`t.yaml:4: kafka.sasl.mechanism: "PLAIN" is not one of plain, scram-sha-256, scram-sha-512, oauthbearer, aws_msk_iam`,
		}},
		{"negative parent wait", minimal + "retry:\n  parent_wait: -1s\n", []string{
			"t.yaml:12: retry.parent_wait: must not be negative (0 turns it off), got -1s",
		}},
		{"results topic consumed by a route", minimal + "results:\n  failure_topic: crm.accounts\n", []string{
			`t.yaml:12: results.failure_topic: "crm.accounts" would be consumed by routes[0], feeding results back in`,
		}},
		{"bad replication factor", minimal + "results:\n  replication_factor: 0\n", []string{
			"t.yaml:12: results.replication_factor: must be -1 (the broker's default) or from 1 to 32767, got 0",
		}},
		{"record limit too small", minimal + "results:\n  max_record_bytes: 1KB\n", []string{
			"t.yaml:12: results.max_record_bytes: must be from 16KiB to 64MiB, got 1KiB",
		}},
		{"record limit too large", minimal + "results:\n  max_record_bytes: 100MB\n", []string{
			"t.yaml:12: results.max_record_bytes: must be from 16KiB to 64MiB, got 100MiB",
		}},
		{"fetch sizes out of range", edit("  group: g\n", "  group: g\n  fetch_max_bytes: 0\n  fetch_max_partition_bytes: 2GiB\n"), []string{
			"t.yaml:4: kafka.fetch_max_bytes: must be from 1B to 2147483647B (2GiB-1), got 0B",
			"t.yaml:5: kafka.fetch_max_partition_bytes: must be from 1B to 2147483647B (2GiB-1), got 2GiB",
		}},
		{"bad listen address", minimal + "http:\n  listen: 9464\n", []string{
			`t.yaml:12: http.listen: "9464" is not host:port`,
		}},
		{"bad log level and poll intervals", edit("  auth:\n", "  poll_interval: 2s\n  poll_max_interval: 1s\n  auth:\n") + "log:\n  level: verbose\n", []string{
			"t.yaml:7: salesforce.poll_max_interval: 1s is below salesforce.poll_interval (2s)",
			`t.yaml:14: log.level: "verbose" is not one of debug, info, warn, error`,
		}},
		{"yaml syntax", minimal + "batch:\n  max_age: 5s\n max_records: 1\n", []string{
			"t.yaml:13: did not find expected key (while parsing a block mapping from line 1)",
		}},
		{"two documents", minimal + "---\nkafka: {}\n", []string{
			"t.yaml:11: a second YAML document; the configuration is one document",
		}},
		{"not a mapping", "- kafka\n", []string{
			"t.yaml:1: want a mapping, got a list",
		}},
	})
}

func TestEmptyFile(t *testing.T) {
	_, err := Parse("empty.yaml", []byte("# nothing yet\n"), nil)
	got := messages(t, err)
	want := []string{
		"empty.yaml: kafka.brokers: required key is missing",
		"empty.yaml: kafka.group: required key is missing",
		"empty.yaml: salesforce.login_url: required key is missing",
		"empty.yaml: salesforce.auth.client_id: required key is missing",
		"empty.yaml: salesforce.auth.client_secret: required key is missing",
		"empty.yaml: routes: required key is missing",
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	c := Default()
	c.Kafka.Brokers = []string{"k:9092"}
	c.Kafka.Group = "g"
	c.Salesforce.LoginURL = "https://acme.my.salesforce.com"
	c.Salesforce.Auth.ClientID, c.Salesforce.Auth.ClientSecret = "id", "secret"
	c.Routes = []Route{{Topics: []string{"t"}, Format: FormatJSON, Object: "Account", Operation: bulk.OpInsert}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Batch.MaxAge = 0
	if err := c.Validate(); err == nil || err.Error() != "batch.max_age: must be above zero, got 0s" {
		t.Errorf("got %v, want a message with the key and no file", err)
	}
}

func TestExampleLoads(t *testing.T) {
	t.Setenv("SF_CLIENT_ID", "example-id")
	t.Setenv("SF_CLIENT_SECRET", "example-secret")
	c, err := Load("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Salesforce.Auth.ClientID != "example-id" || c.Salesforce.Auth.ClientSecret != "example-secret" {
		t.Errorf("credentials not expanded: %q", c.Salesforce.Auth.ClientID)
	}
	// The example sets each default; hold it to Default. What has no
	// default is taken from the example; every other key must equal it.
	d := Default()
	d.Kafka.Brokers, d.Kafka.Group = c.Kafka.Brokers, c.Kafka.Group
	d.Salesforce.LoginURL, d.Salesforce.Auth.ClientID, d.Salesforce.Auth.ClientSecret =
		c.Salesforce.LoginURL, c.Salesforce.Auth.ClientID, c.Salesforce.Auth.ClientSecret
	d.SchemaRegistry.URL = c.SchemaRegistry.URL
	d.Routes = c.Routes
	got, want := reflect.ValueOf(*c), reflect.ValueOf(*d)
	for f := range got.Type().Fields() {
		if f.IsExported() && !reflect.DeepEqual(got.FieldByIndex(f.Index).Interface(), want.FieldByIndex(f.Index).Interface()) {
			t.Errorf("%s: the example says %+v, the default is %+v", yamlKey(f),
				got.FieldByIndex(f.Index).Interface(), want.FieldByIndex(f.Index).Interface())
		}
	}
	if len(c.Routes) != 4 || c.Route("billing.invoices.eu") != &c.Routes[1] || c.Route("crm.accounts") != &c.Routes[0] ||
		c.Routes[2].Format != FormatDebezium || c.Routes[3].Format != FormatSalesforceCDC {
		t.Errorf("example routes: %+v", c.Routes)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(t.TempDir() + "/nope.yaml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want an error wrapping os.ErrNotExist", err)
	}
}

func TestMatch(t *testing.T) {
	c, err := Parse("t.yaml", []byte(minimal+"  - topic_regex: crm\\..*|billing\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		topic string
		route int // -1: none
	}{
		{"crm.accounts", 0},
		{"crm.contacts", 1},
		{"billing", 1},
		{"old.crm.contacts", -1}, // the regex must match the whole name
		{"billing.x", -1},
		{"crm", -1},
	} {
		got := c.Route(tc.topic)
		if (tc.route < 0 && got != nil) || (tc.route >= 0 && got != &c.Routes[tc.route]) {
			t.Errorf("Route(%q) = %+v, want routes[%d]", tc.topic, got, tc.route)
		}
	}
	// A Route that Validate has not seen matches the same way.
	r := Route{TopicRegex: `crm\..*|billing`}
	if !r.Match("billing") || r.Match("old.crm.x") || (Route{TopicRegex: "[bad"}).Match("[bad") {
		t.Error("Match on an unvalidated route differs")
	}
}

func TestSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Size
		err  bool
	}{
		{"0", 0, false},
		{"1024", 1024, false},
		{"100MB", 100 << 20, false},
		{"100MiB", 100 << 20, false},
		{"100 mb", 100 << 20, false},
		{"8KB", 8192, false},
		{"3GiB", 3 << 30, false},
		{"12B", 12, false},
		{"1.5MB", 0, true},
		{"MB", 0, true},
		{"-1", 0, true},
		{"10TB", 0, true},
		{"9999999999999GB", 0, true},
		{"", 0, true},
	} {
		got, err := ParseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	for s, want := range map[Size]string{0: "0B", 1500: "1500B", 2048: "2KiB", 100 * MiB: "100MiB", 3 * GiB: "3GiB", GiB + 1: "1073741825B"} {
		if s.String() != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(s), s.String(), want)
		}
	}
}

func TestSecretsRedacted(t *testing.T) {
	c, err := Parse("t.yaml", []byte(edit("  group: g\n", "  group: g\n  sasl: {mechanism: plain, username: u, password: hunter2}\n")), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, c); strings.Contains(out, "hunter2") || strings.Contains(out, "s3cr3t") {
			t.Errorf("%s prints a secret: %s", verb, out)
		}
	}
	if string(c.Kafka.SASL.Password) != "hunter2" {
		t.Errorf("password = %q", string(c.Kafka.SASL.Password))
	}
}

func TestSlogLevel(t *testing.T) {
	for level, want := range map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		if got := (Log{Level: level}).SlogLevel(); got != want {
			t.Errorf("%s: got %v", level, got)
		}
	}
}

// errorCase is a configuration file and the messages Parse must give for it,
// all of them and in order.
type errorCase struct {
	name string
	file string
	want []string
}

func checkErrors(t *testing.T, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(tc.file), nil)
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if got := messages(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestSASLMechanisms: oauthbearer decodes into its settings, aws_msk_iam
// needs none; each mechanism's keys are required with it and errors with the
// others.
func TestSASLMechanisms(t *testing.T) {
	sasl := func(lines ...string) string {
		return edit("  group: g\n", "  group: g\n  sasl:\n    "+strings.Join(lines, "\n    ")+"\n")
	}
	c, err := Parse("t.yaml", []byte(sasl("mechanism: oauthbearer", "oauth:", "  token_url: https://idp.example.com/oauth2/token",
		"  client_id: ${ID}", "  client_secret: ${SECRET}", "  scopes: [kafka]", "  extensions: {logicalCluster: lkc-1, identityPoolId: pool-2}")),
		env(map[string]string{"ID": "bulkstream", "SECRET": "s3cr3t"}))
	if err != nil {
		t.Fatal(err)
	}
	want := SASL{Mechanism: SASLOAuthBearer, OAuth: SASLOAuth{TokenURL: "https://idp.example.com/oauth2/token", ClientID: "bulkstream", ClientSecret: "s3cr3t",
		Scopes: []string{"kafka"}, Extensions: map[string]string{"logicalCluster": "lkc-1", "identityPoolId": "pool-2"}}}
	if !reflect.DeepEqual(c.Kafka.SASL, want) {
		t.Errorf("sasl = %+v\nwant %+v", c.Kafka.SASL, want)
	}
	if _, err := Parse("t.yaml", []byte(sasl("mechanism: aws_msk_iam")), nil); err != nil {
		t.Errorf("aws_msk_iam: %v", err)
	}

	checkErrors(t, []errorCase{
		{"oauthbearer without its endpoint", sasl("mechanism: oauthbearer"), []string{
			"t.yaml:4: kafka.sasl.oauth.token_url: required key is missing",
			"t.yaml:4: kafka.sasl.oauth.client_id: required key is missing",
			"t.yaml:4: kafka.sasl.oauth.client_secret: required key is missing",
		}},
		{"oauthbearer over plain http", sasl("mechanism: oauthbearer", "oauth: {token_url: 'http://idp.example.com/token', client_id: i, client_secret: s}"), []string{
			`t.yaml:6: kafka.sasl.oauth.token_url: "http://idp.example.com/token": plain http would send the client secret in the clear; use https`,
		}},
		{"oauthbearer's token url with a password, over plain http", sasl("mechanism: oauthbearer", "oauth: {token_url: 'http://proxy:p4ss@idp.example.com/token', client_id: i, client_secret: s}"), []string{
			`t.yaml:6: kafka.sasl.oauth.token_url: "http://proxy:xxxxx@idp.example.com/token": plain http would send the client secret in the clear; use https`,
		}},
		{"oauthbearer's token url with a password and no scheme", sasl("mechanism: oauthbearer", "oauth: {token_url: 'proxy:p4ss@idp.example.com/token', client_id: i, client_secret: s}"), []string{
			`t.yaml:6: kafka.sasl.oauth.token_url: is not a URL such as https://idp.example.com/oauth2/token (it has no host)`,
		}},
		{"oauthbearer's token url that does not parse", sasl("mechanism: oauthbearer", "oauth: {token_url: 'https://proxy:p%zz@idp/token', client_id: i, client_secret: s}"), []string{
			`t.yaml:6: kafka.sasl.oauth.token_url: is not a URL such as https://idp.example.com/oauth2/token`,
		}},
		{"oauthbearer's token url with a password, not a URL", sasl("mechanism: oauthbearer", "oauth: {token_url: 'ftp://proxy:p4ss@idp.example.com/token', client_id: i, client_secret: s}"), []string{
			`t.yaml:6: kafka.sasl.oauth.token_url: "ftp://proxy:xxxxx@idp.example.com/token" is not a URL such as https://idp.example.com/oauth2/token`,
		}},
		{"oauthbearer with a password and a bad extension", sasl("mechanism: oauthbearer", "password: p",
			"oauth: {token_url: 'https://idp/token', client_id: i, client_secret: s, extensions: {auth: x}}"), []string{
			"t.yaml:6: kafka.sasl.password: is not used by oauthbearer",
			`t.yaml:7: kafka.sasl.oauth.extensions.auth: "auth" is not a SASL extension name (letters only, not auth)`,
		}},
		{"aws with a user", sasl("mechanism: aws_msk_iam", "username: u"), []string{
			"t.yaml:6: kafka.sasl.username: is not used by aws_msk_iam",
		}},
		{"scram with oauth settings", sasl("mechanism: scram-sha-512", "username: u", "password: p", "oauth: {token_url: 'https://idp/token'}"), []string{
			"t.yaml:8: kafka.sasl.oauth: is not used by scram-sha-512",
		}},
		{"oauth settings without a mechanism", sasl("oauth: {token_url: 'https://idp/token'}"), []string{
			"t.yaml:4: kafka.sasl.mechanism: required key is missing: the other kafka.sasl keys need a mechanism (plain, scram-sha-256, scram-sha-512, oauthbearer, aws_msk_iam)",
		}},
	})
}
