package config

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// Encoding is how a route's record values are written.
type Encoding string

// Encodings.
const (
	EncodingJSON Encoding = "json"
	// EncodingAvro values are Avro: in the Confluent wire format (magic
	// byte 0, a 4-byte schema id, Avro binary) with schemas from the
	// schema registry, or plain Avro binary with the route's SchemaFile.
	EncodingAvro Encoding = "avro"
)

// Tombstones is what a route makes of a tombstone: see Route.Tombstones.
type Tombstones string

// Tombstone settings.
const (
	TombstonesSkip   Tombstones = "skip"
	TombstonesDelete Tombstones = "delete"
	TombstonesFail   Tombstones = "fail"
)

// ResultsFormat is how result records are written.
type ResultsFormat string

// Result formats.
const (
	ResultsJSON ResultsFormat = "json"
	ResultsAvro ResultsFormat = "avro"
)

// Mapping turns the fields of a route's events into the fields of its
// Salesforce records, in every format. Source names are the events' field
// names (a nested record's fields by their path: address.city); the names
// of Static and TypeHints are Salesforce field names, after Rename.
type Mapping struct {
	// Rename gives source fields Salesforce names: {cust_name: Name}.
	Rename map[string]string `yaml:"rename"`
	// Include, when set, lists the only source fields sent.
	Include []string `yaml:"include"`
	// Exclude lists source fields that are not sent. Set Include or
	// Exclude, not both.
	Exclude []string `yaml:"exclude"`
	// Static sets Salesforce fields to fixed values in every change (not
	// deletes), over the event's own value. An empty or null value sets
	// the field to null.
	Static map[string]string `yaml:"static"`
	// TypeHints say how to read a field whose source type is ambiguous:
	// date, datetime, decimal, string, int or boolean. {CloseDate: date}
	// reads a number of milliseconds since 1970 as a date.
	TypeHints map[string]string `yaml:"type_hints"`
}

// typeHints are the values of Mapping.TypeHints.
var typeHints = func() []string {
	hs := make([]string, len(event.TypeHints))
	for i, h := range event.TypeHints {
		hs[i] = string(h)
	}
	return hs
}()

// SchemaRegistry is a Confluent Schema Registry, or one that speaks its
// REST API (Redpanda, Karapace, Apicurio's ccompat API).
type SchemaRegistry struct {
	// URL is the registry's base URL, http or https, such as
	// http://127.0.0.1:8081. Required by routes with encoding avro and no
	// schema_file, and by results.format avro.
	URL string `yaml:"url"`
	// Username and Password are sent with HTTP basic auth; set both or
	// neither. (Confluent Cloud: the API key and secret.)
	Username string            `yaml:"username"`
	Password Secret            `yaml:"password"`
	TLS      SchemaRegistryTLS `yaml:"tls"`
	// Timeout bounds each request. Default 10s. A schema fetched to
	// decode a record is asked for once: a failure that may pass (no
	// answer, 5xx, 429) is reported at once as the registry being
	// unavailable (event.IsRegistryUnavailable), for the pipeline to wait
	// out, and an unknown schema id fails the record. Registering the
	// result schema repeats transient failures for 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// SchemaRegistryTLS is for an https registry URL.
type SchemaRegistryTLS struct {
	// CAFile is a PEM file of the CAs that sign the registry's
	// certificate. Empty means the system's roots.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify accepts any certificate. For tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// needsRegistry returns who needs the schema registry, for messages, or "".
func (c *Config) needsRegistry() string {
	for i, r := range c.Routes {
		if r.Encoding == EncodingAvro && r.SchemaFile == "" {
			return fmt.Sprintf("routes[%d] (encoding avro without schema_file)", i)
		}
	}
	if c.Results.Format == ResultsAvro {
		return "results.format avro"
	}
	return ""
}

func (v *validator) schemaRegistry(s *SchemaRegistry) {
	const key = "schema_registry"
	if s.URL == "" {
		if who := v.c.needsRegistry(); who != "" {
			v.errorf(key+".url", "required key is missing: %s reads schemas from the registry", who)
		}
	} else if u, err := url.Parse(s.URL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		v.errorf(key+".url", "%q is not a URL such as http://127.0.0.1:8081", s.URL)
	} else if u.Scheme != "https" && (s.TLS.CAFile != "" || s.TLS.InsecureSkipVerify) {
		v.errorf(key+".tls", "has no effect unless schema_registry.url is https")
	}
	switch {
	case s.Username != "" && s.Password == "":
		v.errorf(key+".password", "required key is missing: username needs its password")
	case s.Password != "" && s.Username == "":
		v.errorf(key+".username", "required key is missing: password needs its username")
	}
	v.positive(key+".timeout", s.Timeout)
}

// routeEncoding checks a route's encoding, schema file and key field.
func (v *validator) routeEncoding(key string, r *Route) {
	switch r.Encoding {
	case "", EncodingJSON:
		if r.SchemaFile != "" {
			v.errorf(key+".schema_file", "is only used with encoding: avro")
		}
	case EncodingAvro:
		if r.Format == FormatSalesforceCDC {
			v.errorf(key+".encoding", "salesforce_cdc reads JSON change events; the Pub/Sub API's Avro (with bitmap changedFields) is not supported")
		}
	default:
		v.errorf(key+".encoding", "%q is not one of json, avro", r.Encoding)
	}
	if r.KeyField != "" && !r.Format.debezium() {
		v.errorf(key+".key_field", "is only used by format: debezium and debezium_unwrapped")
	}
}

// debezium reports whether f reads Debezium's events, whole or unwrapped.
func (f Format) debezium() bool { return f == FormatDebezium || f == FormatDebeziumUnwrapped }

// routeTombstones checks the tombstones setting: a delete needs what names
// the record in the key.
func (v *validator) routeTombstones(key string, r *Route) {
	key += ".tombstones"
	if r.Tombstones == "" || !v.oneOf(key, string(r.Tombstones), string(TombstonesSkip), string(TombstonesDelete), string(TombstonesFail)) ||
		r.Tombstones != TombstonesDelete {
		return
	}
	switch {
	case r.Format == FormatSalesforceCDC:
		v.errorf(key, "delete: Salesforce change events name their record in the value; tombstones can be skip or fail")
	case r.Format.debezium() && r.KeyField == "":
		v.errorf(key, "delete needs key_field: the column of the record key that holds the external id")
	case r.ExternalIDField == "" || strings.EqualFold(r.ExternalIDField, "Id"):
		v.errorf(key, "delete needs an external_id_field other than Id: a tombstone's key holds an external id value")
	case r.Object == "":
		v.errorf(key, "delete needs the route's object: a tombstone names none")
	}
}

// routeDebezium checks what the formats debezium and debezium_unwrapped
// need: an operation that a change event can become, and a key field to
// upsert by.
func (v *validator) routeDebezium(key string, r *Route) {
	op := r.Operation
	switch op {
	case "", bulk.OpUpsert:
		if r.ExternalIDField == "" {
			v.errorf(key+".external_id_field", "required key is missing: a %s route upserts on an external id field", r.Format)
		}
		if r.KeyField == "" {
			v.errorf(key+".key_field", "required key is missing: the source column whose value is sent as %s", orNone(r.ExternalIDField, "external_id_field"))
		}
	case bulk.OpInsert, bulk.OpUpdate:
		if r.ExternalIDField != "" && r.KeyField == "" {
			v.errorf(key+".key_field", "required key is missing: external_id_field takes its value from the key field")
		}
		if r.KeyField != "" && r.ExternalIDField == "" {
			v.errorf(key+".external_id_field", "required key is missing: the key field is sent as the external id field")
		}
	default:
		v.errorf(key+".operation", "%q: change events become upsert (the default), insert or update; deletes come from op d", op)
	}
	m := &r.Mapping
	if r.KeyField != "" {
		if _, ok := m.Rename[r.KeyField]; ok {
			v.errorf(fmt.Sprintf("%s.mapping.rename.%s", key, r.KeyField), "renames the key field, which is always sent as %s", orNone(r.ExternalIDField, "external_id_field"))
		}
		if slices.Contains(m.Exclude, r.KeyField) {
			v.errorf(key+".mapping.exclude", "excludes the key field %s, which is always sent", r.KeyField)
		}
	}
}

func orNone(s, key string) string {
	if s == "" {
		return "the " + key
	}
	return s
}

// routeSalesforceCDC checks what format salesforce_cdc needs.
func (v *validator) routeSalesforceCDC(key string, r *Route) {
	if r.Operation != "" && r.Operation != bulk.OpUpsert {
		v.errorf(key+".operation", "%q: Salesforce change events become upserts (and deletes); leave operation out or set upsert", r.Operation)
	}
	if r.ExternalIDField == "" {
		v.errorf(key+".external_id_field", "required key is missing: the field of the target org that holds the source org's record Id (or Id within one org)")
	}
}

// mapping checks a route's mapping. Names a CSV header cannot carry, and
// two sources renamed to one field, are errors.
func (v *validator) mapping(key string, m *Mapping) {
	key += ".mapping"
	if len(m.Include) > 0 && len(m.Exclude) > 0 {
		v.errorf(key+".exclude", "set include or exclude, not both")
	}
	targets := map[string]string{}
	for _, src := range slices.Sorted(maps.Keys(m.Rename)) {
		to, k := m.Rename[src], key+".rename."+src
		switch folded := strings.ToLower(to); {
		case !fieldPattern.MatchString(to):
			v.errorf(k, "%q is not a field API name such as Name, External_Id__c or Account.External_Id__c", to)
		case targets[folded] != "":
			v.errorf(k, "%s is also the name %s is renamed to", to, targets[folded])
		default:
			targets[folded] = src
		}
	}
	for _, f := range slices.Sorted(maps.Keys(m.Static)) {
		if !fieldPattern.MatchString(f) {
			v.errorf(key+".static."+f, "%q is not a field API name such as Name or RecordTypeId", f)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(m.TypeHints)) {
		if !fieldPattern.MatchString(f) {
			v.errorf(key+".type_hints."+f, "%q is not a field API name such as CloseDate", f)
		}
		v.oneOf(key+".type_hints."+f, m.TypeHints[f], typeHints...)
	}
	for _, list := range []struct {
		name  string
		items []string
	}{{"include", m.Include}, {"exclude", m.Exclude}} {
		for j, f := range list.items {
			if f == "" || slices.Contains(list.items[:j], f) {
				v.errorf(fmt.Sprintf("%s.%s[%d]", key, list.name, j), "%q is empty or listed twice", f)
			}
		}
	}
}

func (v *validator) resultsFormat(r *Results) {
	v.oneOf("results.format", string(r.Format), string(ResultsJSON), string(ResultsAvro))
}
