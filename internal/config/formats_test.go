package config

import (
	"strings"
	"testing"
)

// debeziumRoute is a valid debezium route to append to minimal: its lines
// are 11 to 16.
const debeziumRoute = `  - topics: [db.customers]
    format: debezium
    object: Contact
    external_id_field: External_Id__c
    key_field: id
    mapping: {rename: {first_name: FirstName}}
`

func TestFormatErrors(t *testing.T) {
	checkErrors(t, []errorCase{
		{"unknown encoding", minimal + "  - topics: [b]\n    encoding: protobuf\n", []string{
			`t.yaml:12: routes[1].encoding: "protobuf" is not one of json, avro`,
		}},
		{"schema file without avro", minimal + "  - topics: [b]\n    schema_file: x.avsc\n", []string{
			"t.yaml:12: routes[1].schema_file: is only used with encoding: avro",
		}},
		{"avro without a registry", minimal + "  - topics: [b]\n    encoding: avro\n", []string{
			"t.yaml: schema_registry.url: required key is missing: routes[1] (encoding avro without schema_file) reads schemas from the registry",
		}},
		{"avro results without a registry", minimal + "results:\n  format: avro\n", []string{
			"t.yaml: schema_registry.url: required key is missing: results.format avro reads schemas from the registry",
		}},
		{"unknown results format", minimal + "results:\n  format: xml\n", []string{
			`t.yaml:12: results.format: "xml" is not one of json, avro`,
		}},
		{"salesforce_cdc in avro", minimal + "  - topics: [b]\n    format: salesforce_cdc\n    encoding: avro\n    schema_file: x.avsc\n    external_id_field: Src__c\n", []string{
			"t.yaml:13: routes[1].encoding: salesforce_cdc reads JSON change events; the Pub/Sub API's Avro (with bitmap changedFields) is not supported",
		}},
		{"key field outside debezium", minimal + "  - topics: [b]\n    key_field: id\n", []string{
			"t.yaml:12: routes[1].key_field: is only used by format: debezium and debezium_unwrapped",
		}},
		{"unknown tombstones", minimal + strings.Replace(debeziumRoute, "    key_field", "    tombstones: drop\n    key_field", 1), []string{
			`t.yaml:15: routes[1].tombstones: "drop" is not one of skip, delete, fail`,
		}},
		{"tombstones delete without a key field", minimal + "  - topics: [b]\n    format: debezium\n    object: Contact\n    operation: insert\n    tombstones: delete\n", []string{
			"t.yaml:15: routes[1].tombstones: delete needs key_field: the column of the record key that holds the external id",
		}},
		{"tombstones delete without an external id field", minimal + "  - topics: [b]\n    format: json\n    object: Account\n    operation: insert\n    tombstones: delete\n", []string{
			"t.yaml:15: routes[1].tombstones: delete needs an external_id_field other than Id: a tombstone's key holds an external id value",
		}},
		{"tombstones delete without an object", minimal + "  - topics: [b]\n    external_id_field: Ext__c\n    tombstones: delete\n", []string{
			"t.yaml:13: routes[1].tombstones: delete needs the route's object: a tombstone names none",
		}},
		{"tombstones delete of salesforce_cdc", minimal + "  - topics: [b]\n    format: salesforce_cdc\n    external_id_field: Src__c\n    tombstones: delete\n", []string{
			"t.yaml:14: routes[1].tombstones: delete: Salesforce change events name their record in the value; tombstones can be skip or fail",
		}},
		{"debezium_unwrapped without target", minimal + "  - topics: [b]\n    format: debezium_unwrapped\n", []string{
			"t.yaml:11: routes[1].object: required key is missing: a debezium_unwrapped route needs its target object",
			"t.yaml:11: routes[1].external_id_field: required key is missing: a debezium_unwrapped route upserts on an external id field",
			"t.yaml:11: routes[1].key_field: required key is missing: the source column whose value is sent as the external_id_field",
		}},
		{"debezium without target", minimal + "  - topics: [b]\n    format: debezium\n", []string{
			"t.yaml:11: routes[1].object: required key is missing: a debezium route needs its target object",
			"t.yaml:11: routes[1].external_id_field: required key is missing: a debezium route upserts on an external id field",
			"t.yaml:11: routes[1].key_field: required key is missing: the source column whose value is sent as the external_id_field",
		}},
		{"debezium delete operation", minimal + strings.Replace(debeziumRoute, "    key_field", "    operation: delete\n    key_field", 1), []string{
			`t.yaml:15: routes[1].operation: "delete": change events become upsert (the default), insert or update; deletes come from op d`,
		}},
		{"debezium insert with an external id but no key field", minimal + strings.Replace(debeziumRoute, "    key_field: id\n", "    operation: insert\n", 1), []string{
			"t.yaml:11: routes[1].key_field: required key is missing: external_id_field takes its value from the key field",
		}},
		{"debezium mapping renames the key", minimal + strings.Replace(debeziumRoute, "first_name: FirstName", "id: Legacy_Id__c", 1), []string{
			"t.yaml:16: routes[1].mapping.rename.id: renames the key field, which is always sent as External_Id__c",
		}},
		{"salesforce_cdc target", minimal + "  - topics: [b]\n    format: salesforce_cdc\n    operation: insert\n", []string{
			`t.yaml:13: routes[1].operation: "insert": Salesforce change events become upserts (and deletes); leave operation out or set upsert`,
			"t.yaml:11: routes[1].external_id_field: required key is missing: the field of the target org that holds the source org's record Id (or Id within one org)",
		}},
		{"mapping rules", minimal + `  - topics: [b]
    mapping:
      include: [a, a]
      exclude: [b]
      rename:
        a: Name
        b: name
        c: "Bad Name"
      static: {"X,Y": 1}
      type_hints: {CloseDate: timestamp}
`, []string{
			"t.yaml:14: routes[1].mapping.exclude: set include or exclude, not both",
			"t.yaml:17: routes[1].mapping.rename.b: name is also the name a is renamed to",
			`t.yaml:18: routes[1].mapping.rename.c: "Bad Name" is not a field API name such as Name, External_Id__c or Account.External_Id__c`,
			`t.yaml:19: routes[1].mapping.static.X,Y: "X,Y" is not a field API name such as Name or RecordTypeId`,
			`t.yaml:20: routes[1].mapping.type_hints.CloseDate: "timestamp" is not one of date, datetime, decimal, string, int, boolean`,
			`t.yaml:13: routes[1].mapping.include[1]: "a" is empty or listed twice`,
		}},
		{"mapping key given twice", minimal + "  - topics: [b]\n    mapping:\n      rename:\n        a: Name\n        a: Site\n", []string{
			"t.yaml:15: routes[1].mapping.rename.a: given twice; first at line 14",
		}},
		{"mapping value of the wrong type", minimal + "  - topics: [b]\n    mapping:\n      rename:\n        a: [Name]\n", []string{
			"t.yaml:14: routes[1].mapping.rename.a: want a string, got a list",
		}},
		{"registry settings", minimal + "schema_registry:\n  url: http://sr:8081\n  username: u\n  tls: {insecure_skip_verify: true}\n  timeout: 0s\n", []string{
			"t.yaml:14: schema_registry.tls: has no effect unless schema_registry.url is https",
			"t.yaml:11: schema_registry.password: required key is missing: username needs its password",
			"t.yaml:15: schema_registry.timeout: must be above zero, got 0s",
		}},
		{"registry url", minimal + "schema_registry:\n  url: sr:8081\n", []string{
			`t.yaml:12: schema_registry.url: "sr:8081" is not a URL such as http://127.0.0.1:8081`,
		}},
	})
}

func TestFormatsValid(t *testing.T) {
	file := minimal + debeziumRoute + `  - topics: [b]
    format: json
    encoding: avro
    object: Account
    operation: insert
  - topics: [c]
    format: debezium_unwrapped
    object: Account
    external_id_field: External_Id__c
    key_field: pk
    tombstones: skip
schema_registry:
  url: http://127.0.0.1:8081
results:
  format: avro
`
	c, err := Parse("t.yaml", []byte(file), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Routes[1]; r.Format != FormatDebezium || r.KeyField != "id" || r.Mapping.Rename["first_name"] != "FirstName" {
		t.Errorf("debezium route: %+v", r)
	}
	if c.Routes[2].Encoding != EncodingAvro || c.Results.Format != ResultsAvro || c.SchemaRegistry.URL != "http://127.0.0.1:8081" {
		t.Errorf("avro: %+v, %+v, %+v", c.Routes[2], c.Results, c.SchemaRegistry)
	}
	if r := c.Routes[3]; r.Format != FormatDebeziumUnwrapped || r.KeyField != "pk" || r.Tombstones != TombstonesSkip {
		t.Errorf("debezium_unwrapped route: %+v", r)
	}
}
