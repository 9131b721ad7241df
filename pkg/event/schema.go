package event

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A schema is what a schema says about a value beyond what its bytes say:
// the fields of a record in their order, the semantic type of a scalar (a
// Debezium date is an int32 counting days) and the scale of a decimal. It
// is read from an Avro schema (avro.go) or from the Kafka Connect schema of
// a JSON value written with schemas.enable=true (below).
type schema struct {
	// base is the Avro type: record, enum, fixed, array, map, union, null,
	// boolean, int, long, float, double, bytes or string. Kafka Connect
	// types are given their Avro equivalents (struct is record, int32 int).
	base     string
	name     string // the full name of an Avro named type
	semantic semantic
	scale    int32         // of a decimal
	fields   []schemaField // of a record
	branches []*schema     // of a union
	items    *schema       // of an array, the values of a map
}

type schemaField struct {
	name   string
	schema *schema
}

// field returns the type of the field named name, or nil.
func (s *schema) field(name string) *schema {
	if s == nil {
		return nil
	}
	for i := range s.fields {
		if s.fields[i].name == name {
			return s.fields[i].schema
		}
	}
	return nil
}

// record returns s if it is a record, or the record a nullable union
// (["null", Record]) holds, or nil.
func (s *schema) record() *schema {
	switch {
	case s == nil:
		return nil
	case s.base == "record" && s.semantic == semNone:
		return s
	case s.base == "union":
		for _, b := range s.branches {
			if b.base == "record" && b.semantic == semNone {
				return b
			}
		}
	}
	return nil
}

// semantic is what a scalar means beyond its type.
type semantic uint8

const (
	semNone            semantic = iota
	semDate                     // int: days since 1970-01-01
	semTimestampMillis          // long: milliseconds since 1970, UTC
	semTimestampMicros          // long: microseconds since 1970, UTC
	semTimestampNanos           // long: nanoseconds since 1970, UTC
	semZonedTimestamp           // string: ISO 8601 with an offset
	semZonedTime                // string: ISO 8601 time of day with an offset
	semIsoDate                  // string: ISO 8601 date, with or without a zone
	semTimeMillis               // int: milliseconds since midnight
	semTimeMicros               // long: microseconds since midnight
	semTimeNanos                // long: nanoseconds since midnight
	semDecimal                  // bytes: two's-complement unscaled value, with a scale
	semVariableDecimal          // record {scale: int, value: bytes}
	// Debezium's structured temporal types (time.precision.mode=structured):
	// records of year, month, day, hour, minute, second, nanos and, zoned,
	// offsetSeconds; specialValue for PostgreSQL's infinities.
	semStructuredDate
	semStructuredTime
	semStructuredTimestamp
	semStructuredZonedTime
	semStructuredZonedTimestamp
)

// recordValue reports whether a record of this semantic is one value.
func (s semantic) recordValue() bool { return s >= semVariableDecimal }

// semanticOf returns the semantic of an Avro logical type, or of a Kafka
// Connect or Debezium schema name (which Confluent's Avro converter keeps
// as connect.name).
func semanticOf(logicalType, name string) semantic {
	switch logicalType {
	case "date":
		return semDate
	case "timestamp-millis", "local-timestamp-millis":
		return semTimestampMillis
	case "timestamp-micros", "local-timestamp-micros":
		return semTimestampMicros
	case "timestamp-nanos", "local-timestamp-nanos":
		return semTimestampNanos
	case "time-millis":
		return semTimeMillis
	case "time-micros":
		return semTimeMicros
	case "decimal":
		return semDecimal
	}
	switch name {
	case "io.debezium.time.Date", "org.apache.kafka.connect.data.Date":
		return semDate
	case "io.debezium.time.Timestamp", "org.apache.kafka.connect.data.Timestamp":
		return semTimestampMillis
	case "io.debezium.time.MicroTimestamp":
		return semTimestampMicros
	case "io.debezium.time.NanoTimestamp":
		return semTimestampNanos
	case "io.debezium.time.ZonedTimestamp", "io.debezium.time.IsoTimestamp":
		return semZonedTimestamp
	case "io.debezium.time.ZonedTime", "io.debezium.time.IsoTime":
		return semZonedTime
	case "io.debezium.time.IsoDate":
		return semIsoDate
	case "io.debezium.time.Time", "org.apache.kafka.connect.data.Time":
		return semTimeMillis
	case "io.debezium.time.MicroTime":
		return semTimeMicros
	case "io.debezium.time.NanoTime":
		return semTimeNanos
	case "org.apache.kafka.connect.data.Decimal":
		return semDecimal
	case "io.debezium.data.VariableScaleDecimal":
		return semVariableDecimal
	case "io.debezium.time.StructuredDate":
		return semStructuredDate
	case "io.debezium.time.StructuredTime":
		return semStructuredTime
	case "io.debezium.time.StructuredTimestamp":
		return semStructuredTimestamp
	case "io.debezium.time.StructuredZonedTime":
		return semStructuredZonedTime
	case "io.debezium.time.StructuredZonedTimestamp":
		return semStructuredZonedTimestamp
	}
	return semNone
}

// maxScale bounds the scale of a decimal, which sizes 10^scale.
const maxScale = 1000

// intNode is an integer of bits bits read with the semantic of s.
func intNode(i int64, bits uint8, s *schema) (node, error) {
	sem := semNone
	if s != nil {
		sem = s.semantic
	}
	switch sem {
	case semDate:
		return node{kind: kindDate, i: i}, nil
	case semTimestampMillis, semTimeMillis:
		if i > math.MaxInt64/1000 || i < math.MinInt64/1000 {
			return node{}, decodeErrorf("%d milliseconds is out of range", i)
		}
		if sem == semTimeMillis {
			return node{kind: kindTime, i: i * 1000}, nil
		}
		return node{kind: kindTimestamp, i: i * 1000}, nil
	case semTimestampMicros:
		return node{kind: kindTimestamp, i: i}, nil
	case semTimestampNanos:
		return node{kind: kindTimestamp, i: floorDiv(i, 1000)}, nil
	case semTimeMicros:
		return node{kind: kindTime, i: i}, nil
	case semTimeNanos:
		return node{kind: kindTime, i: floorDiv(i, 1000)}, nil
	}
	return node{kind: kindInt, bits: bits, i: i}, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// bytesNode is bytes read with the semantic of s: a decimal, or plain bytes.
func bytesNode(b string, s *schema) node {
	if s == nil || s.semantic != semDecimal {
		return node{kind: kindBytes, text: b}
	}
	return decimalNode(b, s.scale)
}

// decimalNode is the decimal whose unscaled value is the big-endian two's
// complement b, with scale digits after the point.
func decimalNode(b string, scale int32) node {
	var digits string
	neg := len(b) > 0 && b[0]&0x80 != 0
	if len(b) <= 8 { // fits an int64: no big.Int
		var u int64
		if neg {
			u = -1
		}
		for i := 0; i < len(b); i++ {
			u = u<<8 | int64(b[i])
		}
		digits = strconv.FormatUint(absInt64(u), 10)
	} else {
		unscaled := new(big.Int).SetBytes([]byte(b))
		if neg {
			unscaled.Sub(unscaled, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
		digits = unscaled.Abs(unscaled).Text(10)
	}
	return node{kind: kindDecimal, text: scaled(digits, neg, int(scale))}
}

func absInt64(i int64) uint64 {
	if i < 0 {
		return uint64(-i) // also right for math.MinInt64
	}
	return uint64(i)
}

// scaled writes the unsigned integer digits divided by 10^scale.
func scaled(digits string, neg bool, scale int) string {
	if scale > 0 {
		if pad := scale + 1 - len(digits); pad > 0 {
			digits = strings.Repeat("0", pad) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg && strings.Trim(digits, "0.") != "" {
		return "-" + digits
	}
	return digits
}

// stringNode is a string read with the semantic of s: Debezium's zoned
// and ISO timestamps (2024-03-01T13:34:56.5+01:00, 2019-07-09T02:28:57.123456Z),
// times of day (04:05:11.789Z, 10:15:30+02:00) and dates (2017-09-15Z)
// become the timestamp, time or date they name, in UTC.
func stringNode(str string, s *schema) (node, error) {
	if s == nil || str == "" {
		return node{kind: kindText, text: str}, nil
	}
	switch s.semantic {
	case semZonedTimestamp:
		t, err := time.Parse(time.RFC3339Nano, str)
		if err != nil {
			return node{}, decodeErrorf("%q is not an ISO 8601 timestamp with an offset", str)
		}
		return timeNode(t)
	case semZonedTime:
		for _, layout := range []string{"15:04:05.999999999Z07:00", "15:04:05.999999999"} {
			if t, err := time.Parse(layout, str); err == nil {
				us := t.UTC().Sub(t.UTC().Truncate(24 * time.Hour)).Microseconds()
				return node{kind: kindTime, i: us}, nil
			}
		}
		return node{}, decodeErrorf("%q is not an ISO 8601 time of day, such as 04:05:11.789Z", str)
	case semIsoDate:
		for _, layout := range []string{"2006-01-02Z07:00", dateLayout} {
			if t, err := time.Parse(layout, str); err == nil {
				// The date as written: its zone says where it is that day.
				return node{kind: kindDate, i: floorDiv(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix(), 24*3600)}, nil
			}
		}
		return node{}, decodeErrorf("%q is not an ISO 8601 date, such as 2017-09-15Z", str)
	}
	return node{kind: kindText, text: str}, nil
}

// timeNode is the timestamp t, if it is within years 0001 to 9999.
func timeNode(t time.Time) (node, error) {
	if t.Before(minTime) || t.After(maxTime) {
		return node{}, decodeErrorf("timestamp %s is out of range (years 0001 to 9999)", t.UTC().Format(time.RFC3339))
	}
	return node{kind: kindTimestamp, i: t.UnixMicro()}, nil
}

// recordValue reads a record that stands for one value (sem.recordValue).
func recordValue(n *node, sem semantic) (node, error) {
	if sem == semVariableDecimal {
		return variableDecimal(n)
	}
	return structuredTemporal(n, sem)
}

// structuredTemporal reads Debezium's structured date, time or timestamp:
// a local date and time as written (a timestamp without a zone is read as
// UTC, as Debezium's Timestamp is), or with offsetSeconds east of UTC.
func structuredTemporal(n *node, sem semantic) (node, error) {
	if sv := n.member("specialValue"); sv != nil && sv.kind == kindText && sv.text != "" {
		return node{}, decodeErrorf("%s has no Salesforce date or time", sv.text)
	}
	part := func(name string, min, max int64) (int64, error) {
		p := n.member(name)
		if p == nil || p.kind == kindNull {
			return 0, nil
		}
		var i int64
		switch p.kind {
		case kindInt:
			i = p.i
		case kindNumber:
			v, err := strconv.ParseInt(p.text, 10, 64)
			if err != nil {
				return 0, decodeErrorf("%s %s is not a whole number", name, p.text)
			}
			i = v
		default:
			return 0, decodeErrorf("%s is %s, want a whole number", name, p.describe())
		}
		if i < min || i > max {
			return 0, decodeErrorf("%s %d is out of range (%d to %d)", name, i, min, max)
		}
		return i, nil
	}
	var v [8]int64
	for i, p := range []struct {
		name     string
		min, max int64
	}{{"year", 1, 9999}, {"month", 1, 12}, {"day", 1, 31}, {"hour", 0, 24}, {"minute", 0, 59}, {"second", 0, 60},
		{"nanos", 0, 999_999_999}, {"offsetSeconds", -18 * 3600, 18 * 3600}} {
		var err error
		if v[i], err = part(p.name, p.min, p.max); err != nil {
			return node{}, err
		}
	}
	year, month, day, offset := v[0], v[1], v[2], v[7]
	if sem == semStructuredTime || sem == semStructuredZonedTime {
		year, month, day = 1970, 1, 1
	} else if month == 0 || day == 0 {
		return node{}, decodeErrorf("a structured date needs year, month and day")
	}
	t := time.Date(int(year), time.Month(month), int(day), int(v[3]), int(v[4]), int(v[5]), int(v[6]), time.UTC).Add(-time.Duration(offset) * time.Second)
	switch sem {
	case semStructuredDate:
		return node{kind: kindDate, i: floorDiv(t.Unix(), 24*3600)}, nil
	case semStructuredTime, semStructuredZonedTime:
		return node{kind: kindTime, i: t.Sub(t.Truncate(24 * time.Hour)).Microseconds()}, nil
	}
	return timeNode(t)
}

// variableDecimal reads Debezium's VariableScaleDecimal, a record of scale
// and value, into a decimal.
func variableDecimal(n *node) (node, error) {
	scale, value := n.member("scale"), n.member("value")
	if scale == nil || value == nil || scale.kind != kindInt || value.kind != kindBytes {
		return node{}, decodeErrorf("a VariableScaleDecimal needs an int scale and bytes value")
	}
	if scale.i < 0 || scale.i > maxScale {
		return node{}, decodeErrorf("decimal scale %d is out of range (0 to %d)", scale.i, maxScale)
	}
	return decimalNode(value.text, int32(scale.i)), nil
}

// connectSchema is the Kafka Connect schema that JsonConverter writes with
// schemas.enable=true: {"schema": {...}, "payload": {...}}.
type connectSchema struct {
	Type       string            `json:"type"`
	Name       string            `json:"name"`
	Field      string            `json:"field"`
	Fields     []connectSchema   `json:"fields"`
	Parameters map[string]string `json:"parameters"`
	Items      *connectSchema    `json:"items"`
	Values     *connectSchema    `json:"values"`
}

// connectTypes are the Avro equivalents of Kafka Connect's types, by the
// names JsonConverter writes in a schema (its JsonSchema constants: int8,
// int16, int32, int64, float, double, boolean, string, bytes, array, map,
// struct). float32 and float64, the names of Connect's Schema.Type, are
// accepted too, as some hand-made and third-party schemas use them.
// Logical and semantic types (Date, Decimal, io.debezium.time.*) are these
// types with a name; see semanticOf.
var connectTypes = map[string]string{
	"int8": "int", "int16": "int", "int32": "int", "int64": "long",
	"float": "float", "double": "double", "float32": "float", "float64": "double",
	"boolean": "boolean", "string": "string", "bytes": "bytes",
	"struct": "record", "array": "array", "map": "map",
}

// fromConnect converts a Kafka Connect schema.
func fromConnect(c *connectSchema, depth int) (*schema, error) {
	if depth > maxNesting {
		return nil, decodeErrorf("the Kafka Connect schema nests more than %d deep", maxNesting)
	}
	base, ok := connectTypes[c.Type]
	if !ok {
		return nil, decodeErrorf("the Kafka Connect schema has an unknown type %q", c.Type)
	}
	s := &schema{base: base, name: c.Name, semantic: semanticOf("", c.Name)}
	if s.semantic == semDecimal {
		scale, err := strconv.Atoi(c.Parameters["scale"])
		if err != nil || scale < 0 || scale > maxScale {
			return nil, decodeErrorf("decimal %q has no scale from 0 to %d in its parameters", c.Field, maxScale)
		}
		s.scale = int32(scale)
	}
	for i := range c.Fields {
		f, err := fromConnect(&c.Fields[i], depth+1)
		if err != nil {
			return nil, err
		}
		s.fields = append(s.fields, schemaField{name: c.Fields[i].Field, schema: f})
	}
	for _, items := range []*connectSchema{c.Items, c.Values} {
		if items != nil {
			var err error
			if s.items, err = fromConnect(items, depth+1); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// connectSchemas caches Kafka Connect schemas by their JSON text: every
// event of a table repeats the same schema, and reading it costs more than
// the event's payload. The cache is safe for concurrent use.
type connectSchemas struct {
	mu sync.Mutex
	m  map[string]*schema
}

// maxConnectSchemas bounds the cache; a full cache starts over.
const maxConnectSchemas = 256

func (c *connectSchemas) get(raw string) (*schema, error) {
	c.mu.Lock()
	s, ok := c.m[raw]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	var cs connectSchema
	if err := json.Unmarshal([]byte(raw), &cs); err != nil {
		return nil, decodeErrorf("\"schema\" is not a Kafka Connect schema: %v", err)
	}
	s, err := fromConnect(&cs, 0)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxConnectSchemas {
		c.m = make(map[string]*schema)
	}
	c.m[raw] = s
	c.mu.Unlock()
	return s, nil
}

// typed gives the JSON value n the types the Kafka Connect schema s says:
// integers, dates, timestamps, decimals (base64 in JSON) and bytes. key
// names n in messages.
func typed(n *node, s *schema, key string, depth int) error {
	if s == nil || depth > maxNesting {
		return nil
	}
	switch {
	case n.kind == kindNull:
		n.rec = s.record()
		return nil
	case s.semantic.recordValue() && n.kind == kindRecord:
		for i := range n.members {
			if err := typed(&n.members[i].value, s.field(n.members[i].name), n.members[i].name, depth+1); err != nil {
				return err
			}
		}
		d, err := recordValue(n, s.semantic)
		if err != nil {
			return decodeErrorf("%q: %s", key, err.(*DecodeError).Reason)
		}
		*n = d
		return nil
	case n.kind == kindRecord:
		for i := range n.members {
			m := &n.members[i]
			if err := typed(&m.value, s.field(m.name), m.name, depth+1); err != nil {
				return err
			}
		}
		return nil
	case n.kind == kindArray:
		for i := range n.members {
			if err := typed(&n.members[i].value, s.items, key, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	switch s.base {
	case "int", "long":
		if n.kind != kindNumber {
			return decodeErrorf("%q is %s; its schema says %s", key, n.describe(), s.base)
		}
		bits := uint8(32)
		if s.base == "long" {
			bits = 64
		}
		i, perr := strconv.ParseInt(n.text, 10, int(bits))
		if perr != nil {
			return decodeErrorf("%q: %s is not an %d-bit integer, as its schema says", key, n.text, bits)
		}
		*n, err = intNode(i, bits, s)
	case "float", "double":
		f, ferr := connectFloat(n, key, s.base)
		if ferr != nil {
			return ferr
		}
		*n = f
	case "boolean":
		if n.kind != kindBool {
			return decodeErrorf("%q is %s; its schema says boolean", key, n.describe())
		}
	case "bytes":
		if s.semantic == semDecimal && n.kind == kindNumber {
			// JsonConverter's decimal.format=NUMERIC writes a decimal as
			// a JSON number, with its scale (12.50).
			d, ok := plainDecimal(n.text)
			if !ok {
				return decodeErrorf("%q: %s is not a decimal number", key, n.text)
			}
			*n = node{kind: kindDecimal, text: d}
			return nil
		}
		if n.kind != kindText {
			return decodeErrorf("%q is %s; its schema says bytes (base64)", key, n.describe())
		}
		b, derr := base64.StdEncoding.DecodeString(n.text)
		if derr != nil {
			return decodeErrorf("%q is not base64, as bytes are in JSON", key)
		}
		*n = bytesNode(string(b), s)
	case "string":
		if n.kind == kindText {
			*n, err = stringNode(n.text, s)
		}
	}
	if err != nil {
		return decodeErrorf("%q: %s", key, err.(*DecodeError).Reason)
	}
	return nil
}

// connectFloat reads a float or double of a Kafka Connect schema as Avro's
// float or double, which is written without an exponent (Jackson writes
// 1.0E-4 for 0.0001). NaN and the infinities, which JsonConverter writes as
// the strings "NaN", "Infinity" and "-Infinity", are no number Salesforce
// takes.
func connectFloat(n *node, key, base string) (node, error) {
	bits := 64
	if base == "float" {
		bits = 32
	}
	switch n.kind {
	case kindNumber:
		f, err := strconv.ParseFloat(n.text, bits)
		if err != nil {
			return node{}, decodeErrorf("%q: %s is not a %d-bit floating-point number, as its schema says", key, n.text, bits)
		}
		return node{kind: kindFloat, bits: uint8(bits), i: int64(math.Float64bits(f))}, nil
	case kindText:
		switch n.text {
		case "NaN", "Infinity", "-Infinity":
			return node{}, decodeErrorf("%q is %s, which is not a number Salesforce takes", key, n.text)
		}
	}
	return node{}, decodeErrorf("%q is %s; its schema says %s", key, n.describe(), base)
}
