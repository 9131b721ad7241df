package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

const (
	accountID = "001000000000001AAA"
	contactID = "003000000000002"
)

type decodeCase struct {
	name     string
	defaults Defaults
	value    string
	nilValue bool // the record value is nil (a tombstone), not value
	// want is the change expected (Source aside); nil when err is expected.
	want *Change
	err  string // the DecodeError's Reason
}

// fieldList builds fields from name, value pairs; a nil value is null.
func fieldList(pairs ...any) []Field {
	var fs []Field
	for i := 0; i < len(pairs); i += 2 {
		v := NullValue
		if s, ok := pairs[i+1].(string); ok {
			v = Text(s)
		}
		fs = append(fs, Field{Name: pairs[i].(string), Value: v})
	}
	return fs
}

// manyFields returns a JSON object's members "F0": "v0", ... and, when dup
// is not "", a last member named dup.
func manyFields(n int, dup string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `"F%d": "v%d", `, i, i)
	}
	if dup != "" {
		fmt.Fprintf(&b, `%q: 1, `, dup)
	}
	return strings.TrimSuffix(b.String(), ", ")
}

func manyFieldsWant(n int) []Field {
	fs := make([]Field, n)
	for i := range fs {
		fs[i] = Field{Name: fmt.Sprintf("F%d", i), Value: Text(fmt.Sprintf("v%d", i))}
	}
	return fs
}

var envelopeCases = []decodeCase{
	{
		name:  "contract example keeps document order and null",
		value: `{"object": "Account", "operation": "upsert", "externalIdField": "External_Id__c", "fields": {"External_Id__c": "A-1", "Name": "Acme", "Industry": null}}`,
		want:  &Change{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "A-1", "Name", "Acme", "Industry", nil)},
	},
	{
		name:     "keys the route gives already, then fields (the copy of the value starts at them)",
		defaults: Defaults{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c"},
		value:    `{"object":"Account","operation":"upsert","externalIdField":"External_Id__c","fields":{"N":12,"External_Id__c":"A-1"}}`,
		want:     &Change{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList("N", "12", "External_Id__c", "A-1")},
	},
	{
		name:     "an object other than the route's, fields before the operation",
		defaults: Defaults{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c"},
		value:    `{"object": "Contact", "fields": {"Amount__c": 7, "Ext__c": "C-1"}, "externalIdField": "Ext__c", "operation": "insert"}`,
		want:     &Change{Object: "Contact", Operation: Insert, ExternalIDField: "Ext__c", Fields: fieldList("Amount__c", "7", "Ext__c", "C-1")},
	},
	{
		name:  "order is the document's, not sorted",
		value: `{"fields": {"Zeta__c": "z", "External_Id__c": "A-1", "Alpha__c": "a", "Mid__c": "m"}, "externalIdField": "External_Id__c", "operation": "upsert", "object": "Account"}`,
		want:  &Change{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList("Zeta__c", "z", "External_Id__c", "A-1", "Alpha__c", "a", "Mid__c", "m")},
	},
	{
		name:  "numbers keep their JSON text, booleans become true and false",
		value: `{"object": "Account", "operation": "insert", "fields": {"A": 1.5e3, "B": -0, "C": 12345678901234567890, "D": 0.10, "E": 1E+2, "F": true, "G": false}}`,
		want:  &Change{Object: "Account", Operation: Insert, Fields: fieldList("A", "1.5e3", "B", "-0", "C", "12345678901234567890", "D", "0.10", "E", "1E+2", "F", "true", "G", "false")},
	},
	{
		name:  "empty string becomes null, white space stays",
		value: `{"object": "Account", "operation": "insert", "fields": {"Name": "", "Site": " "}}`,
		want:  &Change{Object: "Account", Operation: Insert, Fields: fieldList("Name", nil, "Site", " ")},
	},
	{
		name:  "escapes are decoded",
		value: `{"object": "Account", "operation": "insert", "fields": {"Na\u006de": "a\"b\\c\u00e9\n\ud83d\ude00 \ufffd"}}`,
		want:  &Change{Object: "Account", Operation: Insert, Fields: fieldList("Name", "a\"b\\cé\n😀 \ufffd")},
	},
	{
		name:  "relationship columns pass through",
		value: `{"object": "Contact", "operation": "upsert", "externalIdField": "Ext__c", "fields": {"Ext__c": "C-1", "Account.External_Id__c": "A-1", "Lead:Who.Email": "a@b.c"}}`,
		want:  &Change{Object: "Contact", Operation: Upsert, ExternalIDField: "Ext__c", Fields: fieldList("Ext__c", "C-1", "Account.External_Id__c", "A-1", "Lead:Who.Email", "a@b.c")},
	},
	{
		name:     "route defaults fill what the envelope does not give",
		defaults: Defaults{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c"},
		value:    `{"fields": {"External_Id__c": "A-1"}}`,
		want:     &Change{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "A-1")},
	},
	{
		name:     "envelope keys override the route",
		defaults: Defaults{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c"},
		value:    `{"object": "Contact", "operation": "upsert", "externalIdField": "Email__c", "fields": {"Email__c": "a@b.c"}}`,
		want:     &Change{Object: "Contact", Operation: Upsert, ExternalIDField: "Email__c", Fields: fieldList("Email__c", "a@b.c")},
	},
	{
		name:     "null and empty envelope keys are not given",
		defaults: Defaults{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c"},
		value:    `{"object": null, "operation": "", "externalIdField": null, "fields": {"External_Id__c": "A-1"}}`,
		want:     &Change{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList("External_Id__c", "A-1")},
	},
	{
		name:  "upsert by Id",
		value: `{"object": "Account", "operation": "upsert", "externalIdField": "Id", "fields": {"Id": "` + accountID + `", "Name": "Acme"}}`,
		want:  &Change{Object: "Account", Operation: Upsert, ExternalIDField: "Id", Fields: fieldList("Id", accountID, "Name", "Acme")},
	},
	{
		name:  "external id field matches regardless of case",
		value: `{"object": "Account", "operation": "upsert", "externalIdField": "external_id__c", "fields": {"External_Id__c": "A-1"}}`,
		want:  &Change{Object: "Account", Operation: Upsert, ExternalIDField: "external_id__c", Fields: fieldList("External_Id__c", "A-1")},
	},
	{
		name:     "insert keeps the external id field for coalescing",
		defaults: Defaults{ExternalIDField: "External_Id__c"},
		value:    `{"object": "Account", "operation": "insert", "fields": {"Name": "Acme", "External_Id__c": "A-1"}}`,
		want:     &Change{Object: "Account", Operation: Insert, ExternalIDField: "External_Id__c", Fields: fieldList("Name", "Acme", "External_Id__c", "A-1")},
	},
	{
		name:     "update drops the route's external id field",
		defaults: Defaults{ExternalIDField: "External_Id__c"},
		value:    `{"object": "Account", "operation": "update", "fields": {"Id": "` + accountID + `", "Name": "Acme"}}`,
		want:     &Change{Object: "Account", Operation: Update, Fields: fieldList("Id", accountID, "Name", "Acme")},
	},
	{
		name:  "delete keeps only Id",
		value: `{"object": "Contact", "operation": "delete", "fields": {"Name": "x", "Id": "` + contactID + `", "Email": "a@b.c"}}`,
		want:  &Change{Object: "Contact", Operation: Delete, Fields: fieldList("Id", contactID)},
	},
	{
		name:  "hardDelete keeps only Id, spelt as given",
		value: `{"object": "Contact", "operation": "hardDelete", "externalIdField": "Ext__c", "fields": {"Ext__c": "C-1", "id": "` + contactID + `"}}`,
		want:  &Change{Object: "Contact", Operation: HardDelete, Fields: fieldList("id", contactID)},
	},
	{
		name:  "white space around the value",
		value: " \r\n\t{\"object\":\"Account\",\"operation\":\"insert\",\"fields\":{\"Name\":\"Acme\"}}\n",
		want:  &Change{Object: "Account", Operation: Insert, Fields: fieldList("Name", "Acme")},
	},
	{
		name:  "many fields keep their order",
		value: `{"object": "Account", "operation": "insert", "fields": {` + manyFields(100, "") + `}}`,
		want:  &Change{Object: "Account", Operation: Insert, Fields: manyFieldsWant(100)},
	},

	// Records that cannot be decoded.
	{name: "tombstone", nilValue: true, err: `record value is null (a tombstone); the envelope format needs a JSON object`},
	{name: "empty value", value: "", err: `record value is empty; the envelope format needs a JSON object`},
	{name: "only white space", value: "  ", err: `invalid JSON: the value ends early`},
	{name: "not JSON", value: `Account`, err: `invalid JSON at byte 0: invalid character 'A' looking for beginning of value`},
	{name: "array", value: `[{"object": "Account"}]`, err: `record value is an array; the envelope format needs a JSON object`},
	{name: "JSON null", value: `null`, err: `record value is null; the envelope format needs a JSON object`},
	{name: "string", value: `"Account"`, err: `record value is a string; the envelope format needs a JSON object`},
	{
		name:  "truncated",
		value: `{"object": "Account", "operation": "insert", "fields": {"Name": "Ac`,
		err:   `field "Name": invalid JSON: the value ends early`,
	},
	{
		name:  "trailing comma",
		value: `{"object": "Account", "operation": "insert", "fields": {"Name": "Acme",}}`,
		err:   `after field "Name": invalid JSON at byte 71: invalid character '}' looking for beginning of object key string`,
	},
	{
		name:  "data after the object",
		value: `{"object": "Account", "operation": "insert", "fields": {"Name": "Acme"}} {}`,
		err:   `invalid JSON at byte 73: invalid character '{' after top-level value`,
	},
	{
		name:  "control character in a string",
		value: "{\"object\": \"Account\", \"operation\": \"insert\", \"fields\": {\"Name\": \"Ac\tme\"}}",
		err:   `field "Name": invalid JSON at byte 67: invalid character '\t' in string literal`,
	},
	{
		name:  "cut inside a field name",
		value: `{"object": "Account", "operation": "insert", "fields": {"Name": "Acme", "Si`,
		err:   `field name "Si": invalid JSON: the value ends early`,
	},
	{
		name:  "bad literal",
		value: `{"object": "Account", "operation": "insert", "fields": {"IsActive__c": tru}}`,
		err:   `field "IsActive__c": invalid JSON at byte 74: invalid character '}' in literal true (expecting 'e')`,
	},
	{
		name:  "key that is not a string",
		value: `{object: "Account"}`,
		err:   `invalid JSON at byte 1: invalid character 'o' looking for beginning of object key string`,
	},
	{
		name:  "byte that is neither UTF-8 nor JSON",
		value: "{\"object\": \"Account\", \xff}",
		err:   `after "object": invalid JSON at byte 22: invalid character 'ÿ' looking for beginning of object key string`,
	},
	{
		name:  "envelope key not valid UTF-8",
		value: "{\"obj\xffect\": \"Account\"}",
		err:   `key "obj\xffect" is not valid UTF-8 (byte 5)`,
	},
	{
		name:  "fields that are a string",
		value: `{"object": "Account", "operation": "insert", "fields": "Name=Acme"}`,
		err:   `"fields" is a string, want an object of fields`,
	},
	{
		name:  "unknown operation",
		value: `{"object": "Account", "operation": "INSERT", "fields": {"Name": "Acme"}}`,
		err:   `unknown operation "INSERT" (one of insert, update, upsert, delete, hardDelete)`,
	},
	{
		name:     "unknown operation of the route",
		defaults: Defaults{Operation: "Upsert"},
		value:    `{"object": "Account", "fields": {"Name": "Acme"}}`,
		err:      `unknown operation "Upsert" (one of insert, update, upsert, delete, hardDelete)`,
	},
	{
		name:  "missing object",
		value: `{"operation": "insert", "fields": {"Name": "Acme"}}`,
		err:   `no object: the envelope has no "object" and the route gives none`,
	},
	{
		name:  "object that is not an API name",
		value: `{"object": "Account ", "operation": "insert", "fields": {"Name": "Acme"}}`,
		err:   `object "Account " is not a Salesforce API name (letters, digits and underscores, starting with a letter)`,
	},
	{
		name:  "missing operation",
		value: `{"object": "Account", "fields": {"Name": "Acme"}}`,
		err:   `no operation: the envelope has no "operation" and the route gives none`,
	},
	{
		name:  "upsert without external id field",
		value: `{"object": "Account", "operation": "upsert", "fields": {"Name": "Acme"}}`,
		err:   `upsert needs an external id field: the envelope has no "externalIdField" and the route gives none`,
	},
	{
		name:  "upsert without the external id value",
		value: `{"object": "Account", "operation": "upsert", "externalIdField": "External_Id__c", "fields": {"Name": "Acme"}}`,
		err:   `upsert by External_Id__c has no field "External_Id__c"`,
	},
	{
		name:  "upsert with a null external id value",
		value: `{"object": "Account", "operation": "upsert", "externalIdField": "External_Id__c", "fields": {"External_Id__c": null}}`,
		err:   `field "External_Id__c": upsert by External_Id__c needs a value, got null`,
	},
	{
		name:  "upsert with an empty external id value",
		value: `{"object": "Account", "operation": "upsert", "externalIdField": "External_Id__c", "fields": {"external_id__c": ""}}`,
		err:   `field "external_id__c": upsert by External_Id__c needs a value, got null`,
	},
	{
		name:  "upsert by Id with a malformed Id",
		value: `{"object": "Account", "operation": "upsert", "externalIdField": "Id", "fields": {"Id": "001-bad"}}`,
		err:   `field "Id": "001-bad" is not a Salesforce record Id (15 or 18 letters and digits)`,
	},
	{
		name:  "update without Id",
		value: `{"object": "Account", "operation": "update", "fields": {"Name": "Acme"}}`,
		err:   `update needs field "Id", which is missing`,
	},
	{
		name:  "delete without Id",
		value: `{"object": "Account", "operation": "delete", "fields": {"External_Id__c": "A-1"}}`,
		err:   `delete needs field "Id", which is missing`,
	},
	{
		name:  "hardDelete with a null Id",
		value: `{"object": "Account", "operation": "hardDelete", "fields": {"Id": null}}`,
		err:   `field "Id": hardDelete needs a record Id, got null`,
	},
	{
		name:  "update with a malformed Id",
		value: `{"object": "Account", "operation": "update", "fields": {"Id": "` + accountID + `X"}}`,
		err:   `field "Id": "` + accountID + `X" is not a Salesforce record Id (15 or 18 letters and digits)`,
	},
	{
		name:  "insert without fields",
		value: `{"object": "Account", "operation": "insert", "fields": {}}`,
		err:   `insert has no fields`,
	},
	{
		name:  "fields null",
		value: `{"object": "Account", "operation": "insert", "fields": null}`,
		err:   `insert has no fields`,
	},
	{
		name:  "field value that is an object",
		value: `{"object": "Account", "operation": "insert", "fields": {"Name": "Acme", "BillingAddress": {"city": "Paris"}}}`,
		err:   `field "BillingAddress": value is an object; a field takes a string, number, boolean or null`,
	},
	{
		name:  "field value that is an array",
		value: `{"object": "Account", "operation": "insert", "fields": {"Tags__c": ["a", "b"]}}`,
		err:   `field "Tags__c": value is an array; a field takes a string, number, boolean or null`,
	},
	{
		name:  "empty field name",
		value: `{"object": "Account", "operation": "insert", "fields": {"": "x"}}`,
		err:   `empty field name`,
	},
	{
		name:  "field name with a comma",
		value: `{"object": "Account", "operation": "insert", "fields": {"Name,Site": "x"}}`,
		err:   `field name "Name,Site" contains a comma, which would break the CSV header`,
	},
	{
		name:  "field name with a quote",
		value: `{"object": "Account", "operation": "insert", "fields": {"Na\"me": "x"}}`,
		err:   `field name "Na\"me" contains a double quote, which would break the CSV header`,
	},
	{
		name:  "field name with CR",
		value: `{"object": "Account", "operation": "insert", "fields": {"Name\r": "x"}}`,
		err:   `field name "Name\r" contains a carriage return, which would break the CSV header`,
	},
	{
		name:  "field name with LF",
		value: `{"object": "Account", "operation": "insert", "fields": {"Na\nme": "x"}}`,
		err:   `field name "Na\nme" contains a line feed, which would break the CSV header`,
	},
	{
		name:  "field names differing only in case",
		value: `{"object": "Account", "operation": "insert", "fields": {"Name": "a", "Site": "s", "NAME": "b"}}`,
		err:   `field "NAME" duplicates field "Name" (Salesforce field names ignore case)`,
	},
	{
		// The Kelvin sign folds to k, so a name that is not ASCII may
		// duplicate one of another length.
		name:  "a name not ASCII duplicating an earlier ASCII one",
		value: `{"object": "Account", "operation": "insert", "fields": {"Kelvin": "a", "\u212aelvin": "b"}}`,
		err:   "field \"\u212aelvin\" duplicates field \"Kelvin\" (Salesforce field names ignore case)",
	},
	{
		name:  "an ASCII name duplicating an earlier one not ASCII",
		value: "{\"object\": \"Account\", \"operation\": \"insert\", \"fields\": {\"\u212aelvin\": \"a\", \"kelvin\": \"b\"}}",
		err:   "field \"kelvin\" duplicates field \"\u212aelvin\" (Salesforce field names ignore case)",
	},
	{
		name:  "the same field twice",
		value: `{"object": "Account", "operation": "insert", "fields": {"Name": "a", "Name": "b"}}`,
		err:   `field "Name" appears twice`,
	},
	{
		name:  "duplicate among many fields",
		value: `{"object": "Account", "operation": "insert", "fields": {` + manyFields(100, "f7") + `}}`,
		err:   `field "f7" duplicates field "F7" (Salesforce field names ignore case)`,
	},
	{
		// The walk that met the x is done again over the valid prefix,
		// with the names of the first walk forgotten (read).
		name:  "many fields, then data after the envelope",
		value: `{"object": "Account", "operation": "insert", "fields": {` + manyFields(40, "") + `}}x`,
		err:   `invalid JSON at byte 596: invalid character 'x' after top-level value`,
	},
	{
		name:  "field value not valid UTF-8",
		value: "{\"object\": \"Account\", \"operation\": \"insert\", \"fields\": {\"Name\": \"Ac\xffme\"}}",
		err:   `field "Name": value is not valid UTF-8 (byte 67)`,
	},
	{
		name:  "field name not valid UTF-8",
		value: "{\"object\": \"Account\", \"operation\": \"insert\", \"fields\": {\"Name\": \"Acme\", \"Si\xc3te\": 1}}",
		err:   `field name "Si\xc3te" is not valid UTF-8 (byte 75)`,
	},
	{
		name:  "envelope value not valid UTF-8",
		value: "{\"object\": \"Acc\xe2\x82ount\", \"operation\": \"insert\", \"fields\": {\"Name\": \"Acme\"}}",
		err:   `"object": value is not valid UTF-8 (byte 15)`,
	},
	{
		name:  "lone surrogate in a value",
		value: `{"object": "Account", "operation": "insert", "fields": {"Name": "Ac\ud83dme"}}`,
		err:   `field "Name": value has a lone UTF-16 surrogate \ud83d, which is not valid UTF-8`,
	},
	{
		name:  "reversed surrogate pair in a value",
		value: `{"object": "Account", "operation": "insert", "fields": {"Name": "\ude00\ud83d"}}`,
		err:   `field "Name": value has a lone UTF-16 surrogate \ude00, which is not valid UTF-8`,
	},
	{
		name:  "lone surrogate in a field name",
		value: `{"object": "Account", "operation": "insert", "fields": {"Name": "Acme", "Si\udc00te": 1}}`,
		err:   `field name "Si\\udc00te" has a lone UTF-16 surrogate \udc00, which is not valid UTF-8`,
	},
	{
		name:  "unknown envelope key",
		value: `{"object": "Account", "Operation": "delete", "fields": {"Name": "Acme"}}`,
		err:   `unknown envelope key "Operation" (the keys are object, operation, externalIdField and fields)`,
	},
	{
		name:  "envelope key twice",
		value: `{"object": "Account", "operation": "insert", "operation": "delete", "fields": {"Name": "Acme"}}`,
		err:   `envelope key "operation" appears twice`,
	},
	{
		name:  "object that is not a string",
		value: `{"object": 1, "operation": "insert", "fields": {"Name": "Acme"}}`,
		err:   `"object" is a number, want a string`,
	},
	{
		name:  "operation that is not a string",
		value: `{"object": "Account", "operation": ["insert"], "fields": {"Name": "Acme"}}`,
		err:   `"operation" is an array, want a string`,
	},
	{
		name:  "fields that are not an object",
		value: `{"object": "Account", "operation": "insert", "fields": [{"Name": "Acme"}]}`,
		err:   `"fields" is an array, want an object of fields`,
	},
}

var jsonCases = []decodeCase{
	{
		name:     "flat object in document order",
		defaults: Defaults{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c"},
		value:    `{"Name": "Acme", "External_Id__c": "A-1", "AnnualRevenue": 1.5e6, "Industry": null, "IsActive__c": true, "Site": ""}`,
		want: &Change{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c",
			Fields: fieldList("Name", "Acme", "External_Id__c", "A-1", "AnnualRevenue", "1.5e6", "Industry", nil, "IsActive__c", "true", "Site", nil)},
	},
	{
		name:     "keys named like envelope keys are fields",
		defaults: Defaults{Object: "Order__c", Operation: Insert},
		value:    `{"object": "Account", "operation": "delete", "fields": 1}`,
		want:     &Change{Object: "Order__c", Operation: Insert, Fields: fieldList("object", "Account", "operation", "delete", "fields", "1")},
	},
	{
		name:     "delete keeps only Id",
		defaults: Defaults{Object: "Account", Operation: Delete, ExternalIDField: "External_Id__c"},
		value:    `{"External_Id__c": "A-1", "Id": "` + accountID + `"}`,
		want:     &Change{Object: "Account", Operation: Delete, Fields: fieldList("Id", accountID)},
	},
	{
		name:     "tombstone",
		defaults: Defaults{Object: "Account", Operation: Delete},
		nilValue: true,
		err:      `record value is null (a tombstone); the json format needs a JSON object`,
	},
	{
		name:     "empty value",
		defaults: Defaults{Object: "Account", Operation: Insert},
		err:      `record value is empty; the json format needs a JSON object`,
	},
	{
		name:     "no object",
		defaults: Defaults{Operation: Insert},
		value:    `{"Name": "Acme"}`,
		err:      `no object: the route gives none`,
	},
	{
		name:     "no operation",
		defaults: Defaults{Object: "Account"},
		value:    `{"Name": "Acme"}`,
		err:      `no operation: the route gives none`,
	},
	{
		name:     "unknown operation",
		defaults: Defaults{Object: "Account", Operation: "INSERT"},
		value:    `{"Name": "Acme"}`,
		err:      `unknown operation "INSERT" (one of insert, update, upsert, delete, hardDelete)`,
	},
	{
		name:     "upsert without external id field",
		defaults: Defaults{Object: "Account", Operation: Upsert},
		value:    `{"Name": "Acme"}`,
		err:      `upsert needs an external id field: the route gives none`,
	},
	{
		name:     "upsert without the external id value",
		defaults: Defaults{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c"},
		value:    `{"Name": "Acme", "External_Id__c": ""}`,
		err:      `field "External_Id__c": upsert by External_Id__c needs a value, got null`,
	},
	{
		name:     "update without Id",
		defaults: Defaults{Object: "Account", Operation: Update},
		value:    `{"Name": "Acme"}`,
		err:      `update needs field "Id", which is missing`,
	},
	{
		name:     "empty object",
		defaults: Defaults{Object: "Account", Operation: Insert},
		value:    `{}`,
		err:      `insert has no fields`,
	},
	{
		name:     "nested value",
		defaults: Defaults{Object: "Account", Operation: Insert},
		value:    `{"Name": "Acme", "Owner": {"Email": "a@b.c"}}`,
		err:      `field "Owner": value is an object; a field takes a string, number, boolean or null`,
	},
	{
		name:     "bad JSON",
		defaults: Defaults{Object: "Account", Operation: Insert},
		value:    `{"Name": Acme}`,
		err:      `field "Name": invalid JSON at byte 9: invalid character 'A' looking for beginning of value`,
	},
	{
		name:     "first field name not valid UTF-8",
		defaults: Defaults{Object: "Account", Operation: Insert},
		value:    "{\"\xff\": 1}",
		err:      `field name "\xff" is not valid UTF-8 (byte 2)`,
	},
	{
		name:     "field name with a comma",
		defaults: Defaults{Object: "Account", Operation: Insert},
		value:    `{"a,b": 1}`,
		err:      `field name "a,b" contains a comma, which would break the CSV header`,
	},
	{
		name:     "field names differing only in case",
		defaults: Defaults{Object: "Account", Operation: Insert},
		value:    `{"Name": 1, "name": 2}`,
		err:      `field "name" duplicates field "Name" (Salesforce field names ignore case)`,
	},
	{
		name:     "data after the object",
		defaults: Defaults{Object: "Account", Operation: Insert},
		value:    `{"Name": "Acme"}x`,
		err:      `invalid JSON at byte 16: invalid character 'x' after top-level value`,
	},
	{
		name:     "cut inside a number",
		defaults: Defaults{Object: "Account", Operation: Insert},
		value:    `{"Name": "Acme", "AnnualRevenue": 1.5e`,
		err:      `field "AnnualRevenue": invalid JSON: the value ends early`,
	},
	{
		name:     "array",
		defaults: Defaults{Object: "Account", Operation: Insert},
		value:    `[]`,
		err:      `record value is an array; the json format needs a JSON object`,
	},
}

func TestDecodeEnvelope(t *testing.T) { runDecodeCases(t, NewEnvelopeDecoder, envelopeCases) }

func TestDecodeJSON(t *testing.T) { runDecodeCases(t, NewJSONDecoder, jsonCases) }

// TestDecodedStringsOwnTheirBytes: the strings of a change do not share
// the record value, whose bytes the Kafka client may reuse once the record
// is decoded.
func TestDecodedStringsOwnTheirBytes(t *testing.T) {
	d := Defaults{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c"}
	for _, tc := range []struct {
		decoder Decoder
		value   string
	}{
		{NewEnvelopeDecoder(Defaults{}), `{"object": "Contact", "operation": "upsert", "externalIdField": "E__c", "fields": ` + benchFields[:len(benchFields)-1] + `, "E__c": "e"}}`},
		{NewEnvelopeDecoder(d), `{"object": "Account", "operation": "upsert", "externalIdField": "External_Id__c", "fields": ` + benchFields + `}`},
		{NewJSONDecoder(d), benchFields},
	} {
		value := []byte(tc.value)
		c, err := tc.decoder.Decode(Source{Value: value})
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%s %s %s %v", c.Object, c.Operation, c.ExternalIDField, c.Fields)
		for i := range value {
			value[i] = 'x'
		}
		if got := fmt.Sprintf("%s %s %s %v", c.Object, c.Operation, c.ExternalIDField, c.Fields); got != want {
			t.Errorf("after the record value was overwritten, the change is\n%s\nwas\n%s", got, want)
		}
	}
}

func runDecodeCases(t *testing.T, newDecoder func(Defaults) Decoder, cases []decodeCase) {
	// A ReusingDecoder decodes every case again into one Change, which the
	// cases before left their fields in: the answers must be the same.
	reused := &Change{Fields: make([]Field, 0, 64)}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := Source{Topic: "accounts", Partition: 3, Offset: 42, Timestamp: time.Unix(1700000000, 0),
				Key: []byte("k"), Value: []byte(tc.value), Headers: []Header{{Key: "h", Value: []byte("v")}}}
			if tc.nilValue {
				src.Value = nil
			}
			d := newDecoder(tc.defaults)
			check := func(how string, c *Change, err error) {
				t.Helper()
				if tc.want == nil {
					var de *DecodeError
					if !errors.As(err, &de) {
						t.Fatalf("%s = %+v, %v; want a *DecodeError %q", how, c, err, tc.err)
					}
					if c != nil {
						t.Errorf("%s returned a change with its error: %+v", how, c)
					}
					if de.Reason != tc.err {
						t.Errorf("%s: Reason\n got %s\nwant %s", how, de.Reason, tc.err)
					}
					if err.Error() != "decode: "+tc.err {
						t.Errorf("%s: Error() = %q", how, err.Error())
					}
					return
				}
				if err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				want := *tc.want
				want.Source = src
				if !reflect.DeepEqual(*c, want) {
					t.Errorf("%s\n got %+v\nwant %+v", how, *c, want)
				}
			}
			c, err := d.Decode(src)
			check("Decode", c, err)
			if rd, ok := d.(ReusingDecoder); ok {
				c, err := rd.DecodeReusing(src, reused)
				check("DecodeReusing", c, err)
			}
		})
	}
}

// Field names longer than the 8 bytes foldKey skips at a time, with each
// byte a CSV header cannot carry and bytes that are not ASCII at every
// place in and around a word: the name is refused for the first byte that
// breaks the header, and its key is 0 if it is not ASCII, else that of the
// name in lower case.
func TestFieldNamesLongerThanAWord(t *testing.T) {
	breaking := map[string]string{",": "a comma", `"`: "a double quote", "\r": "a carriage return", "\n": "a line feed"}
	for _, special := range []string{",", `"`, "\r", "\n", "é", "\u212a", "\xff", "_"} {
		for before := range 20 {
			for after := range 12 {
				name := strings.Repeat("a", before) + special + strings.Repeat("B", after)
				key, err := foldKey(name)
				if what, ok := breaking[special]; ok {
					want := fmt.Sprintf("field name %q contains %s, which would break the CSV header", name, what)
					if err == nil || err.Error() != "decode: "+want {
						t.Errorf("foldKey(%q) = %v, want %s", name, err, want)
					}
					continue
				}
				lower, _ := foldKey(strings.ToLower(name))
				ascii := strings.IndexFunc(name, func(r rune) bool { return r >= utf8.RuneSelf }) < 0
				switch {
				case err != nil:
					t.Errorf("foldKey(%q) = %v", name, err)
				case !ascii && key != 0:
					t.Errorf("foldKey(%q) = %#x, want 0 (not ASCII)", name, key)
				case ascii && (key == 0 || key != lower):
					t.Errorf("foldKey(%q) = %#x, want %#x, not 0", name, key, lower)
				}
			}
		}
	}
}

// The JSON and envelope decoders decode into the Change they are given,
// in its Fields' array.
func TestDecodeReusingReuses(t *testing.T) {
	d := NewEnvelopeDecoder(Defaults{}).(ReusingDecoder)
	c := new(Change)
	src := Source{Value: []byte(`{"object": "Account", "operation": "upsert", "externalIdField": "E__c", "fields": {"E__c": "1", "Name": "A"}}`)}
	for i := range 3 {
		got, err := d.DecodeReusing(src, c)
		if err != nil {
			t.Fatal(err)
		}
		if got != c {
			t.Fatalf("decode %d: a new Change, not the one given", i)
		}
	}
	allocs := testing.AllocsPerRun(100, func() { d.DecodeReusing(src, c) })
	if allocs > 1 { // the one string the Change's names and values share
		t.Errorf("DecodeReusing allocates %v times a record, want 1", allocs)
	}
}

// A Change decoded into (DecodeReusing) keeps nothing of what it held:
// every member filled with stale values by reflection, so a member that
// Change gains and change does not write shows, is written as Decode
// writes a new Change, for each operation (review, helper-67: this
// replaces a test that compared the member names with a list).
func TestDecodeReusingLeavesNothingStale(t *testing.T) {
	values := []string{
		`{"object":"Account","operation":"update","fields":{"Id":"001000000000001AAA","Name":"N"}}`,
		`{"object":"Account","operation":"delete","fields":{"Id":"001000000000001AAA","Name":"N"}}`,
		`{"object":"Account","operation":"insert","fields":{"Name":"N"}}`,
		`{"object":"Account","operation":"upsert","externalIdField":"Ext__c","fields":{"Ext__c":"E","Name":"N"}}`,
	}
	d := NewEnvelopeDecoder(Defaults{}).(ReusingDecoder)
	for _, v := range values {
		var c Change
		rv := reflect.ValueOf(&c).Elem()
		for i := range rv.NumField() {
			f := rv.Field(i)
			switch f.Kind() {
			case reflect.String:
				f.SetString("stale")
			case reflect.Slice:
				f.Set(reflect.MakeSlice(f.Type(), 3, 8))
			case reflect.Struct:
				if f.Type() == reflect.TypeFor[Source]() {
					f.Set(reflect.ValueOf(Source{Topic: "stale", Partition: 9, Offset: 9, Timestamp: time.Unix(9, 0), Key: []byte("stale")}))
				}
			}
			if f.IsZero() {
				t.Fatalf("member %s of Change left zero by the test: give it a stale value", rv.Type().Field(i).Name)
			}
		}
		src := Source{Topic: "t", Offset: 1, Value: []byte(v)}
		want, err := d.Decode(src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.DecodeReusing(src, &c)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\nreused %+v\nnew    %+v", v, got, want)
		}
	}
}

func FuzzEnvelope(f *testing.F) {
	for _, tc := range envelopeCases {
		f.Add([]byte(tc.value))
	}
	d := NewEnvelopeDecoder(Defaults{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c"})
	f.Fuzz(func(t *testing.T, value []byte) {
		c, err := d.Decode(Source{Value: value})
		checkDecoded(t, value, c, err, true)
	})
}

func FuzzJSON(f *testing.F) {
	for _, tc := range jsonCases {
		f.Add([]byte(tc.value))
	}
	d := NewJSONDecoder(Defaults{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c"})
	f.Fuzz(func(t *testing.T, value []byte) {
		c, err := d.Decode(Source{Value: value})
		checkDecoded(t, value, c, err, false)
	})
}

// checkDecoded checks the outcome of decoding value: a *DecodeError with a
// readable reason, or a change that Bulkstream can write as CSV and whose
// fields are what encoding/json reads from value.
func checkDecoded(t *testing.T, value []byte, c *Change, err error, envelope bool) {
	t.Helper()
	if !checkOutcome(t, c, err) {
		return
	}
	if !json.Valid(value) || !utf8.Valid(value) {
		t.Fatalf("decoded a value that is not valid JSON in UTF-8: %q", value)
	}

	// The fields are those that json.Decoder's tokens give, in order.
	want := referenceFields(t, value, envelope)
	if c.ByExternalID() {
		want = want[fieldIndex(want, c.ExternalIDField):][:1]
	} else if c.Operation.IsDelete() {
		want = want[fieldIndex(want, "Id"):][:1]
	}
	if !reflect.DeepEqual(c.Fields, want) {
		t.Fatalf("fields\n got %+v\nwant %+v (json.Decoder)", c.Fields, want)
	}
}

// checkOutcome checks the outcome of a decode: a *DecodeError or a skip
// with a readable reason, or a change that Bulkstream can write as CSV. It
// reports whether there is a change.
func checkOutcome(t *testing.T, c *Change, err error) bool {
	t.Helper()
	if reason, ok := IsSkip(err); ok {
		if reason == "" || !utf8.ValidString(reason) {
			t.Fatalf("skip reason %q is empty or not valid UTF-8", reason)
		}
		return false
	}
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
		}
		if de.Reason == "" || !utf8.ValidString(de.Reason) {
			t.Fatalf("reason %q is empty or not valid UTF-8", de.Reason)
		}
		return false
	}
	if _, ok := ParseOperation(string(c.Operation)); !ok || !isAPIName(c.Object) || len(c.Fields) == 0 {
		t.Fatalf("change without a valid object, operation or fields: %+v", c)
	}
	for i, fl := range c.Fields {
		if fl.Name == "" || strings.ContainsAny(fl.Name, ",\"\r\n") || !utf8.ValidString(fl.Name) {
			t.Fatalf("field name %q is not CSV-safe", fl.Name)
		}
		if !fl.Value.Null && fl.Value.Text == "" {
			t.Fatalf("field %q is empty text, which Salesforce reads as unchanged", fl.Name)
		}
		if !utf8.ValidString(fl.Value.Text) {
			t.Fatalf("field %q is not valid UTF-8", fl.Name)
		}
		for _, g := range c.Fields[:i] {
			if strings.EqualFold(g.Name, fl.Name) {
				t.Fatalf("fields %q and %q differ only in case", g.Name, fl.Name)
			}
		}
	}
	switch c.Operation {
	case Delete, HardDelete:
		if c.ByExternalID() {
			if len(c.Fields) != 1 || !strings.EqualFold(c.Fields[0].Name, c.ExternalIDField) || c.Fields[0].Value.Null || c.Fields[0].Value.Text == "" {
				t.Fatalf("%s by %s without exactly its value: %+v", c.Operation, c.ExternalIDField, c.Fields)
			}
			break
		}
		if len(c.Fields) != 1 || !strings.EqualFold(c.Fields[0].Name, "Id") || !isRecordID(c.Fields[0].Value.Text) {
			t.Fatalf("%s without exactly one Id: %+v", c.Operation, c.Fields)
		}
	case Upsert:
		if v, ok := c.Get(c.ExternalIDField); !ok || v.Null {
			t.Fatalf("upsert by %q without its value: %+v", c.ExternalIDField, c.Fields)
		}
	}
	return true
}

// referenceFields reads the fields of a valid record value with
// json.Decoder's tokens, the slow and simple way.
func referenceFields(t *testing.T, value []byte, envelope bool) []Field {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	token := func() json.Token {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("json.Decoder: %v", err)
		}
		return tok
	}
	token() // {
	if envelope {
		for token() != "fields" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatalf("json.Decoder: %v", err)
			}
		}
		token() // {
	}
	var fs []Field
	for {
		name, ok := token().(string)
		if !ok { // }
			return fs
		}
		v := NullValue
		switch tok := token().(type) {
		case string:
			if tok != "" {
				v = Text(tok)
			}
		case json.Number:
			v = Text(tok.String())
		case bool:
			v = Text(fmt.Sprint(tok))
		case nil:
		default:
			t.Fatalf("field %q is %v", name, tok)
		}
		fs = append(fs, Field{Name: name, Value: v})
	}
}

// benchEvent is a realistic upsert of a Contact: eight fields, a
// relationship column, a number, a boolean, a date and a null.
var benchFields = `{"External_Id__c": "C-000123456", "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada.lovelace@example.com", ` +
	`"Account.External_Id__c": "A-000042", "Birthdate": "1815-12-10", "Lifetime_Value__c": 18250.75, "HasOptedOutOfEmail": false, "MobilePhone": null}`

func BenchmarkDecodeEnvelope(b *testing.B) {
	value := []byte(`{"object": "Contact", "operation": "upsert", "externalIdField": "External_Id__c", "fields": ` + benchFields + `}`)
	benchmarkDecode(b, NewEnvelopeDecoder(Defaults{}), value)
}

// BenchmarkDecodeEnvelopeOfRoute is the envelope of the end-to-end
// benchmark (test/bench): its object, operation and external id field are
// the route's own.
func BenchmarkDecodeEnvelopeOfRoute(b *testing.B) {
	value := []byte(`{"object":"Contact","operation":"upsert","externalIdField":"External_Id__c","fields":` + benchFields + `}`)
	benchmarkDecode(b, NewEnvelopeDecoder(Defaults{Object: "Contact", Operation: Upsert, ExternalIDField: "External_Id__c"}), value)
}

// BenchmarkDecodeEnvelopeOfRouteReusing decodes the envelope of
// BenchmarkDecodeEnvelopeOfRoute into one Change, as the pipeline's decode
// workers do (see ReusingDecoder).
func BenchmarkDecodeEnvelopeOfRouteReusing(b *testing.B) {
	value := []byte(`{"object":"Contact","operation":"upsert","externalIdField":"External_Id__c","fields":` + benchFields + `}`)
	d := NewEnvelopeDecoder(Defaults{Object: "Contact", Operation: Upsert, ExternalIDField: "External_Id__c"}).(ReusingDecoder)
	src := Source{Topic: "contacts", Partition: 1, Offset: 1, Value: value}
	var c Change
	if got, err := d.DecodeReusing(src, &c); err != nil || got != &c || len(c.Fields) != 9 {
		b.Fatalf("DecodeReusing = %+v, %v", got, err)
	}
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.DecodeReusing(src, &c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJSON(b *testing.B) {
	benchmarkDecode(b, NewJSONDecoder(Defaults{Object: "Contact", Operation: Upsert, ExternalIDField: "External_Id__c"}), []byte(benchFields))
}

func benchmarkDecode(b *testing.B, d Decoder, value []byte) {
	src := Source{Topic: "contacts", Partition: 1, Offset: 1, Value: value}
	if c, err := d.Decode(src); err != nil || len(c.Fields) != 9 {
		b.Fatalf("Decode = %+v, %v", c, err)
	}
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(src); err != nil {
			b.Fatal(err)
		}
	}
}
