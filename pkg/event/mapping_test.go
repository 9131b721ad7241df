package event

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestTypeHints(t *testing.T) {
	text := func(s string) node { return node{kind: kindText, text: s} }
	number := func(s string) node { return node{kind: kindNumber, text: s} }
	long := func(i int64) node { return node{kind: kindInt, bits: 64, i: i} }
	double := func(f float64) node { return node{kind: kindFloat, bits: 64, i: int64(math.Float64bits(f))} }
	for _, tc := range []struct {
		name string
		n    node
		hint TypeHint
		want string // "#N/A" for null
		err  string
	}{
		// No hint: the value's own form.
		{"long", long(-42), "", "-42", ""},
		{"double without exponent", double(1.5e21), "", "1500000000000000000000", ""},
		{"float32", node{kind: kindFloat, bits: 32, i: int64(math.Float64bits(float64(float32(0.1))))}, "", "0.1", ""},
		{"NaN", double(math.NaN()), "", "", "value NaN is not a number Salesforce takes"},
		{"bytes in base64", node{kind: kindBytes, text: "\x00\xff"}, "", "AP8=", ""},
		{"date", node{kind: kindDate, i: -1}, "", "1969-12-31", ""},
		{"timestamp keeps milliseconds", node{kind: kindTimestamp, i: 1709296496789999}, "", "2024-03-01T12:34:56.789Z", ""},
		{"time of day", node{kind: kindTime, i: 45296789000}, "", "12:34:56.789Z", ""},
		{"decimal keeps its scale", decimalNode("\x13\x88", 3), "", "5.000", ""},
		{"negative decimal below one", decimalNode("\xfd\xf3", 3), "", "-0.525", ""},
		{"wide decimal", decimalNode("\x80\x00\x00\x00\x00\x00\x00\x00\x00", 2), "", "-23611832414348226068.48", ""},
		{"int64 minimum", decimalNode("\x80\x00\x00\x00\x00\x00\x00\x00", 0), "", "-9223372036854775808", ""},
		{"empty string is null", text(""), "", "#N/A", ""},

		// date and datetime.
		{"epoch millis as a date", long(1719705600000), HintDate, "2024-06-30", ""},
		{"epoch millis as a datetime", number("1719705600123"), HintDateTime, "2024-06-30T00:00:00.123Z", ""},
		{"days as a date", number("7441"), HintDate, "1990-05-17", ""},
		{"negative days", long(-22645), HintDate, "1908-01-02", ""},
		{"int32 counts days", node{kind: kindInt, bits: 32, i: 19783}, HintDateTime, "2024-03-01T00:00:00.000Z", ""},
		{"ISO date", text("2024-02-29"), HintDate, "2024-02-29", ""},
		{"ISO datetime to UTC", text("2024-03-01T13:34:56.5+01:00"), HintDateTime, "2024-03-01T12:34:56.500Z", ""},
		{"datetime without an offset is UTC", text("2024-03-01 12:34:56"), HintDateTime, "2024-03-01T12:34:56.000Z", ""},
		{"date of a datetime keeps the date as written", text("2024-03-01T23:30:00-05:00"), HintDate, "2024-03-01", ""},
		{"timestamp as a date is its UTC date", node{kind: kindTimestamp, i: 1709337600000000 - 1}, HintDate, "2024-03-01", ""},
		{"whole double as millis", double(1719705600000), HintDate, "2024-06-30", ""},
		{"not a date", text("tomorrow"), HintDate, "", `"tomorrow" is not a date (ISO 8601, such as 2024-01-31 or 2024-01-31T12:00:00Z) or a number of days or milliseconds since 1970`},
		{"out of range", long(math.MaxInt64), HintDate, "", "9223372036854775807 milliseconds from 1970 is out of range"},
		{"bool as a date", node{kind: kindBool, text: "true"}, HintDate, "", "a boolean cannot be read as a date"},

		// decimal and int.
		{"exponent expanded", number("1.5e3"), HintDecimal, "1500", ""},
		{"negative exponent", text("-0.25E-1"), HintDecimal, "-0.025", ""},
		{"leading zeros", text("007.50"), HintDecimal, "7.50", ""},
		{"point without a fraction", number("12."), HintDecimal, "12", ""},
		{"huge exponent", number("1e999"), HintDecimal, "", `"1e999" is not a decimal number`},
		{"decimal of a decimal", decimalNode("\xfd\xf3", 2), HintDecimal, "-5.25", ""},
		{"int from a whole double", double(3), HintInt, "3", ""},
		{"int from 1.0e2", number("1.0e2"), HintInt, "100", ""},
		{"int from -0.0", number("-0.0"), HintInt, "0", ""},
		{"int refuses a fraction", number("3.5"), HintInt, "", "3.5 is not a whole number"},
		{"int refuses text", text("three"), HintInt, "", `"three" is not a decimal number`},

		// boolean and string.
		{"1 as a boolean", long(1), HintBoolean, "true", ""},
		{"No as a boolean", text("No"), HintBoolean, "false", ""},
		{"2 as a boolean", long(2), HintBoolean, "", "2 is not a boolean (1 or 0)"},
		{"bytes as text", node{kind: kindBytes, text: "héllo"}, HintString, "héllo", ""},
		{"bytes that are not text", node{kind: kindBytes, text: "\xff"}, HintString, "", "bytes are not valid UTF-8 text"},
		{"number as a string stays as written", number("1.50"), HintString, "1.50", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.n.value(tc.hint)
			if tc.err != "" {
				var de *DecodeError
				if !errors.As(err, &de) || de.Reason != tc.err {
					t.Fatalf("value = %+v, %v; want error %q", v, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.CSV() != tc.want {
				t.Errorf("value = %q, want %q", v.CSV(), tc.want)
			}
		})
	}
}

func TestMappingOnJSON(t *testing.T) {
	rules := MappingRules{
		Rename:    map[string]string{"cust_no": "External_Id__c", "name": "Name", "closed": "CloseDate"},
		Exclude:   []string{"internal"},
		Static:    map[string]string{"Type": "Customer", "Industry": "", "Name": "Overridden"},
		TypeHints: map[string]TypeHint{"closedate": HintDate, "NumberOfEmployees": HintInt},
	}
	d := NewJSONDecoder(Defaults{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c", Mapping: mustMapping(t, rules)})
	checkChange(t, d, Source{Value: []byte(`{"cust_no": "C-1", "name": "Acme", "internal": "x", "closed": 1719705600000, "NumberOfEmployees": 1.2e2, "Industry": "Retail"}`)},
		&Change{Object: "Account", Operation: Upsert, ExternalIDField: "External_Id__c", Fields: fieldList(
			"External_Id__c", "C-1", "Name", "Overridden", "CloseDate", "2024-06-30", "NumberOfEmployees", "120", "Industry", nil, "Type", "Customer")}, "")

	// Include, and a field renamed onto another.
	d = NewEnvelopeDecoder(Defaults{Mapping: mustMapping(t, MappingRules{Include: []string{"a", "b"}, Rename: map[string]string{"a": "Name"}})})
	checkChange(t, d, Source{Value: []byte(`{"object": "Account", "operation": "insert", "fields": {"a": "x", "b": "y", "c": "z"}}`)},
		&Change{Object: "Account", Operation: Insert, Fields: fieldList("Name", "x", "b", "y")}, "")
	checkChange(t, d, Source{Value: []byte(`{"object": "Account", "operation": "insert", "fields": {"a": "x", "b": "y", "Name": "z"}}`)},
		&Change{Object: "Account", Operation: Insert, Fields: fieldList("Name", "x", "b", "y")}, "")
	d = NewJSONDecoder(Defaults{Object: "Account", Operation: Insert, Mapping: mustMapping(t, MappingRules{Rename: map[string]string{"a": "Name", "b": "SITE"}})})
	checkChange(t, d, Source{Value: []byte(`{"Name": "x", "a": "y"}`)}, nil, "two fields are sent as Name; rename or exclude one")
	checkChange(t, d, Source{Value: []byte(`{"Site": "x", "b": "y"}`)}, nil, "fields Site and SITE are one field to Salesforce, which ignores case; rename or exclude one")

	// Renamed to Id: the update finds its record.
	d = NewJSONDecoder(Defaults{Object: "Account", Operation: Update, Mapping: mustMapping(t, MappingRules{Rename: map[string]string{"sf_id": "Id"}})})
	checkChange(t, d, Source{Value: []byte(`{"sf_id": "` + accountID + `", "Name": "Acme"}`)},
		&Change{Object: "Account", Operation: Update, Fields: fieldList("Id", accountID, "Name", "Acme")}, "")
}

func TestNewMappingErrors(t *testing.T) {
	_, err := NewMapping(MappingRules{
		Include:   []string{"a"},
		Exclude:   []string{"b"},
		Rename:    map[string]string{"a": "Name", "b": "name", "c": "Bad,Name"},
		Static:    map[string]string{"": "x"},
		TypeHints: map[string]TypeHint{"CloseDate": "timestamp"},
	})
	want := []string{
		"set include or exclude, not both",
		"rename: a and b are both renamed to name",
		`rename c: field name "Bad,Name" contains a comma, which would break the CSV header`,
		"static: empty field name",
		`type hint of CloseDate: "timestamp" is not one of date, datetime, decimal, string, int, boolean`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("err =\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
}

// A time.Time from goavro's logical types keeps its instant.
func TestAvroTimeNode(t *testing.T) {
	n, err := fromAvro(time.Date(2024, 3, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600)), &schema{base: "long", semantic: semTimestampMillis}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := n.value(""); v.Text != "2024-03-01T12:00:00.000Z" {
		t.Errorf("got %q", v.Text)
	}
	if _, err := fromAvro(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), nil, 0); err == nil {
		t.Error("a timestamp in the year 10000 was accepted")
	}
}

// FuzzTypeHints reads arbitrary text, as a JSON string or number would
// give it, with every hint: a value or a *DecodeError, never a panic.
func FuzzTypeHints(f *testing.F) {
	for _, s := range []string{"1.5e3", "-0.25E-1", "2024-03-01T13:34:56.5+01:00", "1719705600000", "7441", "yes", "1e400", "9223372036854775807", "-", "."} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, isNumber bool) {
		n := node{kind: kindText, text: s}
		if isNumber {
			n.kind = kindNumber
		}
		for _, h := range append(TypeHints, "") {
			v, err := n.value(h)
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("%s of %q: %v is not a *DecodeError", h, s, err)
				}
				continue
			}
			if !v.Null && v.Text == "" {
				t.Fatalf("%s of %q: empty text", h, s)
			}
		}
	})
}

// BenchmarkDecodeJSONMapped is BenchmarkDecodeJSON with a mapping that
// renames two fields, adds one and hints a date: the cost of mapping.
func BenchmarkDecodeJSONMapped(b *testing.B) {
	m := mustMapping(b, MappingRules{Rename: map[string]string{"FirstName": "First_Name__c", "MobilePhone": "Phone"},
		Static: map[string]string{"LeadSource": "Kafka"}, TypeHints: map[string]TypeHint{"Birthdate": HintDate}})
	d := NewJSONDecoder(Defaults{Object: "Contact", Operation: Upsert, ExternalIDField: "External_Id__c", Mapping: m})
	benchmarkFormat(b, d, []byte(benchFields))
}
