package event

import (
	"fmt"
	"testing"
)

// connectColumn decodes a Debezium create whose after row has the key id
// and one column c of the Kafka Connect schema typ (a JSON object's
// members after "type", such as `"name": "io.debezium.time.Date"`) and the
// JSON value value, and returns the column's field.
func connectColumn(t *testing.T, typ, value string) (Value, error) {
	t.Helper()
	row := `{"type": "struct", "optional": true, "name": "s.t.Value", "field": "after", "fields": [` +
		`{"type": "int32", "optional": false, "field": "id"}, {` + typ + `, "optional": true, "field": "c"}]}`
	event := fmt.Sprintf(`{"schema": {"type": "struct", "fields": [%s, {"type": "string", "optional": false, "field": "op"}], "name": "s.t.Envelope"},`+
		` "payload": {"after": {"id": 1, "c": %s}, "op": "c"}}`, row, value)
	d, err := NewDebeziumDecoder(contactRoute(nil))
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Decode(Source{Value: []byte(event)})
	if err != nil {
		return Value{}, err
	}
	v, ok := c.Get("c")
	if !ok {
		t.Fatalf("no column c in %+v", c.Fields)
	}
	return v, nil
}

// Every schema type name that Kafka Connect's JsonConverter writes, and the
// logical and semantic types of Connect and Debezium (their data type
// mapping tables), decode to the value Salesforce expects.
func TestConnectSchemaTypes(t *testing.T) {
	for _, tc := range []struct {
		typ, value string
		want       any // a string, or nil for null
	}{
		{`"type": "int8"`, `-128`, "-128"},
		{`"type": "int16"`, `32767`, "32767"},
		{`"type": "int32"`, `-2147483648`, "-2147483648"},
		{`"type": "int64"`, `9223372036854775807`, "9223372036854775807"},
		{`"type": "float"`, `3.14`, "3.14"},
		{`"type": "double"`, `5.18`, "5.18"},
		{`"type": "double"`, `1.0E-4`, "0.0001"},      // Jackson's form of 0.0001
		{`"type": "double"`, `1.5E10`, "15000000000"}, // and of 1.5e10
		{`"type": "float32"`, `0.5`, "0.5"},
		{`"type": "float64"`, `-2`, "-2"},
		{`"type": "double"`, `null`, nil},
		{`"type": "boolean"`, `true`, "true"},
		{`"type": "boolean"`, `false`, "false"},
		{`"type": "string"`, `"Kretchmar"`, "Kretchmar"},
		{`"type": "bytes"`, `"AQID"`, "AQID"},                                                          // base64 as it came
		{`"type": "map", "keys": {"type": "string"}, "values": {"type": "string"}`, `{"k": "v"}`, "v"}, // flattened as c.k below
		{`"type": "struct", "name": "io.debezium.data.geometry.Point", "fields": [{"type": "double", "field": "x"}, {"type": "double", "field": "y"}]`, `{"x": 1.5, "y": 2}`, "1.5"},

		// Kafka Connect's logical types.
		{`"type": "int32", "name": "org.apache.kafka.connect.data.Date"`, `19782`, "2024-02-29"},
		{`"type": "int32", "name": "org.apache.kafka.connect.data.Time"`, `45296789`, "12:34:56.789Z"},
		{`"type": "int64", "name": "org.apache.kafka.connect.data.Timestamp"`, `1709296496789`, "2024-03-01T12:34:56.789Z"},
		{`"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2", "connect.decimal.precision": "10"}`, `"AeI6"`, "1234.50"},
		{`"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}`, `"/fM="`, "-5.25"},
		{`"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}`, `1234.50`, "1234.50"}, // decimal.format=NUMERIC

		// Debezium's semantic types.
		{`"type": "int32", "name": "io.debezium.time.Date"`, `-1`, "1969-12-31"},
		{`"type": "int32", "name": "io.debezium.time.Time"`, `3723000`, "01:02:03.000Z"},
		{`"type": "int64", "name": "io.debezium.time.MicroTime"`, `3723456789`, "01:02:03.456Z"},
		{`"type": "int64", "name": "io.debezium.time.NanoTime"`, `3723456789000`, "01:02:03.456Z"},
		{`"type": "int64", "name": "io.debezium.time.Timestamp"`, `1529507596945`, "2018-06-20T15:13:16.945Z"},
		{`"type": "int64", "name": "io.debezium.time.MicroTimestamp"`, `1529507596945104`, "2018-06-20T15:13:16.945Z"},
		{`"type": "int64", "name": "io.debezium.time.NanoTimestamp"`, `1529507596945104000`, "2018-06-20T15:13:16.945Z"},
		{`"type": "string", "name": "io.debezium.time.ZonedTimestamp"`, `"2018-06-20T15:13:16.945104+02:00"`, "2018-06-20T13:13:16.945Z"},
		{`"type": "string", "name": "io.debezium.time.ZonedTime"`, `"14:15:16.5+02:00"`, "12:15:16.500Z"},
		{`"type": "string", "name": "io.debezium.time.IsoDate"`, `"2017-09-15Z"`, "2017-09-15"},
		{`"type": "string", "name": "io.debezium.time.IsoTime"`, `"04:05:11.789Z"`, "04:05:11.789Z"},
		{`"type": "string", "name": "io.debezium.time.IsoTimestamp"`, `"2019-07-09T02:28:57.123456Z"`, "2019-07-09T02:28:57.123Z"},
		{`"type": "int32", "name": "io.debezium.time.Year"`, `2024`, "2024"},
		{`"type": "int64", "name": "io.debezium.time.MicroDuration"`, `3600000000`, "3600000000"},
		{`"type": "string", "name": "io.debezium.time.Interval"`, `"P1Y2M3DT4H5M6.78S"`, "P1Y2M3DT4H5M6.78S"},
		{`"type": "struct", "name": "io.debezium.data.VariableScaleDecimal", "fields": [{"type": "int32", "field": "scale"}, {"type": "bytes", "field": "value"}]`, `{"scale": 3, "value": "/fM="}`, "-0.525"},
		// time.precision.mode=structured.
		{structured("StructuredDate", "year", "month", "day"), `{"year": 2024, "month": 2, "day": 29}`, "2024-02-29"},
		{structured("StructuredTime", "hour", "minute", "second", "nanos"), `{"hour": 4, "minute": 5, "second": 11, "nanos": 789000000}`, "04:05:11.789Z"},
		{structured("StructuredTimestamp", "year", "month", "day", "hour", "minute", "second", "nanos"),
			`{"year": 2018, "month": 6, "day": 20, "hour": 15, "minute": 13, "second": 16, "nanos": 945104000}`, "2018-06-20T15:13:16.945Z"},
		{structured("StructuredZonedTimestamp", "year", "month", "day", "hour", "minute", "second", "nanos", "offsetSeconds"),
			`{"year": 2024, "month": 1, "day": 1, "hour": 1, "minute": 0, "second": 0, "nanos": 0, "offsetSeconds": 7200}`, "2023-12-31T23:00:00.000Z"},
		{structured("StructuredZonedTime", "hour", "minute", "second", "nanos", "offsetSeconds"),
			`{"hour": 14, "minute": 15, "second": 16, "nanos": 500000000, "offsetSeconds": 7200}`, "12:15:16.500Z"},
		{`"type": "string", "name": "io.debezium.data.Json"`, `"{\"a\": 1}"`, `{"a": 1}`},
		{`"type": "string", "name": "io.debezium.data.Xml"`, `"<a/>"`, "<a/>"},
		{`"type": "string", "name": "io.debezium.data.Uuid"`, `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{`"type": "string", "name": "io.debezium.data.Enum", "parameters": {"allowed": "small,large"}`, `"small"`, "small"},
		{`"type": "string", "name": "io.debezium.data.EnumSet", "parameters": {"allowed": "a,b"}`, `"a,b"`, "a,b"},
		{`"type": "string", "name": "io.debezium.data.Ltree"`, `"Top.Science"`, "Top.Science"},
		{`"type": "bytes", "name": "io.debezium.data.Bits", "parameters": {"length": "9"}`, `"AQE="`, "AQE="},
	} {
		t.Run(tc.typ+" "+tc.value, func(t *testing.T) {
			v, err := connectColumnOrNested(t, tc.typ, tc.value)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := NullValue
			if s, ok := tc.want.(string); ok {
				want = Text(s)
			}
			if v != want {
				t.Errorf("got %+v, want %+v", v, want)
			}
		})
	}
}

// structured is the schema of Debezium's structured temporal type name
// with int fields (int8 and int32, as Debezium declares them) and the
// optional specialValue and precision.
func structured(name string, fields ...string) string {
	s := `"type": "struct", "name": "io.debezium.time.` + name + `", "version": 1, "fields": [`
	for _, f := range fields {
		typ := "int8"
		if f == "year" || f == "nanos" || f == "offsetSeconds" {
			typ = "int32"
		}
		s += `{"type": "` + typ + `", "optional": true, "field": "` + f + `"}, `
	}
	return s + `{"type": "string", "optional": true, "field": "specialValue"}, {"type": "int32", "optional": true, "field": "precision"}]`
}

// connectColumnOrNested is connectColumn, except that a map or struct
// column gives its first field (c.k, c.x), as rows are flattened by path; a
// VariableScaleDecimal is one value.
func connectColumnOrNested(t *testing.T, typ, value string) (Value, error) {
	t.Helper()
	if value[0] != '{' {
		return connectColumn(t, typ, value)
	}
	row := `{"type": "struct", "optional": true, "field": "after", "fields": [{"type": "int32", "field": "id"}, {` + typ + `, "field": "c"}]}`
	event := fmt.Sprintf(`{"schema": {"type": "struct", "fields": [%s, {"type": "string", "field": "op"}]}, "payload": {"after": {"id": 1, "c": %s}, "op": "c"}}`, row, value)
	d, err := NewDebeziumDecoder(contactRoute(nil))
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Decode(Source{Value: []byte(event)})
	if err != nil {
		return Value{}, err
	}
	return c.Fields[1].Value, nil // after the key: c, c.k or c.x
}

// Values that their Kafka Connect schema refuses fail with a message that
// names the column, never a panic.
func TestConnectSchemaTypeErrors(t *testing.T) {
	for _, tc := range []struct{ typ, value, err string }{
		{`"type": "double"`, `"NaN"`, `"c" is NaN, which is not a number Salesforce takes`},
		{`"type": "float"`, `"-Infinity"`, `"c" is -Infinity, which is not a number Salesforce takes`},
		{`"type": "double"`, `"5.18"`, `"c" is a string; its schema says double`},
		{`"type": "boolean"`, `1`, `"c" is a number; its schema says boolean`},
		{`"type": "int16"`, `1.5`, `"c": 1.5 is not an 32-bit integer, as its schema says`},
		{`"type": "string", "name": "io.debezium.time.ZonedTime"`, `"noon"`, `"c": "noon" is not an ISO 8601 time of day, such as 04:05:11.789Z`},
		{`"type": "string", "name": "io.debezium.time.IsoDate"`, `"15/09/2017"`, `"c": "15/09/2017" is not an ISO 8601 date, such as 2017-09-15Z`},
		{`"type": "uint8"`, `1`, `the Kafka Connect schema has an unknown type "uint8"`},
		{structured("StructuredTimestamp", "year", "month", "day"), `{"specialValue": "POSITIVE_INFINITY"}`, `"c": POSITIVE_INFINITY has no Salesforce date or time`},
		{structured("StructuredDate", "year", "month", "day"), `{"year": 2024, "month": 13, "day": 1}`, `"c": month 13 is out of range (1 to 12)`},
		{structured("StructuredDate", "year", "month", "day"), `{"year": 2024}`, `"c": a structured date needs year, month and day`},
	} {
		t.Run(tc.typ+" "+tc.value, func(t *testing.T) {
			_, err := connectColumn(t, tc.typ, tc.value)
			de, ok := err.(*DecodeError)
			if !ok || de.Reason != tc.err {
				t.Errorf("err = %v, want %s", err, tc.err)
			}
		})
	}
}
