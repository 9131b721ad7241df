package event

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// A node is one value of a record value once its bytes are read, JSON or
// Avro, before a format gives it meaning: the row of a Debezium event, the
// fields of an envelope. Where the encoding or a schema says more than JSON
// can (a date, a decimal and its scale), the node keeps it, so that one set
// of rules turns values into the text Salesforce expects whatever the
// encoding.
type node struct {
	kind nodeKind
	bits uint8 // of kindInt and kindFloat: 32 or 64
	// i is the value of kindInt, the days since 1970-01-01 of kindDate, the
	// microseconds since 1970 (UTC) of kindTimestamp, the microseconds since
	// midnight of kindTime, and the IEEE 754 bits of kindFloat.
	i int64
	// text is the value of kindText, kindNumber (as written), kindBool,
	// kindBytes and kindRaw, and the plain decimal of kindDecimal, written
	// with its scale (1234.50).
	text string
	// members of kindRecord, in the order of the document or of the
	// schema; the elements of kindArray, unnamed.
	members []member
	// rec is, for a null that stands for a record (a nested record set to
	// null), that record's type: flattening makes each of its fields null.
	rec *schema
}

type nodeKind uint8

const (
	kindNull      nodeKind = iota
	kindText               // a JSON string, an Avro string or enum symbol
	kindNumber             // a JSON number, its text as written
	kindBool               // text is "true" or "false"
	kindInt                // i, of an Avro int or long or a Kafka Connect intN
	kindFloat              // i holds the bits of an Avro float or double
	kindBytes              // text holds the bytes
	kindDate               // i: days since 1970-01-01
	kindTimestamp          // i: microseconds since 1970-01-01T00:00:00Z
	kindTime               // i: microseconds since midnight
	kindDecimal            // text, with its scale
	kindRecord             // members: a JSON object, an Avro record or map
	kindArray              // members, unnamed
	kindRaw                // text: a JSON value not read yet (a Kafka Connect schema)
)

type member struct {
	name  string
	value node
}

// member returns the value of the member named name, or nil.
func (n *node) member(name string) *node {
	for i := range n.members {
		if n.members[i].name == name {
			return &n.members[i].value
		}
	}
	return nil
}

// describe names the kind of a value for messages.
func (n *node) describe() string {
	switch n.kind {
	case kindNull:
		return "null"
	case kindText:
		return "a string"
	case kindNumber, kindInt, kindFloat, kindDecimal:
		return "a number"
	case kindBool:
		return "a boolean"
	case kindBytes:
		return "bytes"
	case kindDate:
		return "a date"
	case kindTimestamp:
		return "a timestamp"
	case kindTime:
		return "a time of day"
	case kindRecord:
		return "a record"
	case kindArray:
		return "an array"
	}
	return "a value"
}

// optionalText returns the string of a value that must be a string or null
// (an Avro enum symbol is a string); null and "" are "".
func (n *node) optionalText(key string) (string, error) {
	switch n.kind {
	case kindNull:
		return "", nil
	case kindText:
		return n.text, nil
	}
	return "", decodeErrorf("%q is %s, want a string", key, n.describe())
}

// nullNode is the value of a field of a record that is null as a whole.
var nullNode = node{}

// A column is a leaf of a record value: a field whose name is its path in
// the record (address.city for the field city of the record address).
type column struct {
	name  string
	value *node
}

// maxNesting bounds how deep records nest in a row; deeper values are an
// error rather than a stack of recursive calls.
const maxNesting = 32

// flatten appends the leaves of record n to cols. A nested record's fields
// are named by their path, joined with a dot, which is also how a Bulk API
// CSV names a parent by its external id (Account.External_Id__c); a
// mapping can rename them. A null that stands for a record makes each of the
// record's fields null.
func flatten(cols []column, prefix string, n *node, depth int) ([]column, error) {
	if depth > maxNesting {
		return nil, decodeErrorf("field %q: records nest more than %d deep", prefix, maxNesting)
	}
	if n.kind == kindNull {
		return flattenNull(cols, prefix, n.rec, depth)
	}
	for i := range n.members {
		m := &n.members[i]
		name := m.name
		if prefix != "" {
			name = prefix + "." + name
		}
		var err error
		switch v := &m.value; {
		case v.kind == kindRecord || v.kind == kindNull && v.rec != nil:
			cols, err = flatten(cols, name, v, depth+1)
		default:
			cols = append(cols, column{name: name, value: v})
		}
		if err != nil {
			return nil, err
		}
	}
	return cols, nil
}

// flattenNull appends a null column for each leaf of the record type s;
// without a type (a JSON null), none.
func flattenNull(cols []column, prefix string, s *schema, depth int) ([]column, error) {
	if s == nil {
		return cols, nil
	}
	if depth > maxNesting {
		return nil, decodeErrorf("field %q: records nest more than %d deep", prefix, maxNesting)
	}
	for i := range s.fields {
		f := &s.fields[i]
		name := f.name
		if prefix != "" {
			name = prefix + "." + name
		}
		if r := f.schema.record(); r != nil {
			var err error
			if cols, err = flattenNull(cols, name, r, depth+1); err != nil {
				return nil, err
			}
			continue
		}
		cols = append(cols, column{name: name, value: &nullNode})
	}
	return cols, nil
}

// TypeHint says how to read a field whose source type is ambiguous, such as
// an Avro long that holds a date in epoch milliseconds. A hint names the
// Salesforce field type the value is written for:
//
//   - date (yyyy-MM-dd) and datetime (yyyy-MM-ddTHH:mm:ss.SSSZ, in UTC): a
//     whole number counts days since 1970 if it is below 100,000,000 in
//     magnitude, else milliseconds (an Avro int always counts days); text
//     may also be an ISO 8601 date or datetime, UTC if it has no offset;
//   - decimal: a number written plainly (1.5e3 is 1500; a decimal keeps
//     its scale);
//   - int: a whole number (3.0 is 3; 3.5 is an error);
//   - boolean: true, false, 1, 0, yes or no;
//   - string: the value's text; bytes as UTF-8 text rather than base64.
//
// A value that its hint cannot read is a *DecodeError naming the field.
type TypeHint string

// Type hints.
const (
	HintDate     TypeHint = "date"
	HintDateTime TypeHint = "datetime"
	HintDecimal  TypeHint = "decimal"
	HintString   TypeHint = "string"
	HintInt      TypeHint = "int"
	HintBoolean  TypeHint = "boolean"
)

// TypeHints are the hints a mapping may give, in the order messages list them.
var TypeHints = []TypeHint{HintDate, HintDateTime, HintDecimal, HintString, HintInt, HintBoolean}

// Salesforce's CSV forms of dates, datetimes and times of day.
const (
	dateLayout     = "2006-01-02"
	dateTimeLayout = "2006-01-02T15:04:05.000Z"
	timeLayout     = "15:04:05.000Z"
)

// value returns n as a field value: by default by the rules of its kind,
// else read as hint says. The error's reason does not name the field; the
// caller adds it.
func (n *node) value(hint TypeHint) (Value, error) {
	if n.kind == kindNull {
		return NullValue, nil
	}
	if hint == "" {
		return n.defaultValue()
	}
	v, ok, err := n.hinted(hint)
	if err != nil {
		return Value{}, err
	}
	if !ok {
		return Value{}, decodeErrorf("%s cannot be read as %s", n.describe(), hintNoun(hint))
	}
	return v, nil
}

func hintNoun(h TypeHint) string {
	switch h {
	case HintInt:
		return "an int"
	case HintString:
		return "a string"
	}
	return "a " + string(h)
}

// defaultValue is a value in the CSV form of its kind: dates, datetimes and
// times as Salesforce writes them, decimals with their scale, floats without
// an exponent, bytes in base64, and an empty string as null (as the JSON
// formats do).
func (n *node) defaultValue() (Value, error) {
	switch n.kind {
	case kindText, kindNumber, kindBool, kindDecimal:
		if n.text == "" {
			return NullValue, nil
		}
		return Text(n.text), nil
	case kindInt:
		return Text(strconv.FormatInt(n.i, 10)), nil
	case kindFloat:
		return floatText(n.float(), int(n.bits))
	case kindBytes:
		if n.text == "" {
			return NullValue, nil
		}
		return Text(base64.StdEncoding.EncodeToString([]byte(n.text))), nil
	case kindDate:
		return formatDays(n.i)
	case kindTimestamp:
		return formatMicros(n.i, dateTimeLayout)
	case kindTime:
		if n.i < 0 || n.i >= 24*int64(time.Hour/time.Microsecond) {
			return Value{}, decodeErrorf("time of day %d µs is out of range", n.i)
		}
		return Text(time.UnixMicro(n.i).UTC().Format(timeLayout)), nil
	case kindRecord:
		return Value{}, decodeErrorf("value is a record; a field takes a string, number, boolean, date or null")
	case kindArray:
		return Value{}, decodeErrorf("value is an array; a field takes a string, number, boolean, date or null (leave it out with mapping.exclude)")
	}
	return Value{}, decodeErrorf("value is %s; a field takes a string, number, boolean, date or null", n.describe())
}

func (n *node) float() float64 { return math.Float64frombits(uint64(n.i)) }

func floatText(f float64, bits int) (Value, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Value{}, decodeErrorf("value %v is not a number Salesforce takes", f)
	}
	return Text(strconv.FormatFloat(f, 'f', -1, bits)), nil
}

// hinted reads n as hint says; ok is false when its kind cannot be read so.
func (n *node) hinted(hint TypeHint) (v Value, ok bool, err error) {
	switch hint {
	case HintString:
		return n.asString()
	case HintDate, HintDateTime:
		return n.asDate(hint == HintDateTime)
	case HintDecimal, HintInt:
		return n.asNumber(hint == HintInt)
	case HintBoolean:
		return n.asBoolean()
	}
	return Value{}, false, decodeErrorf("unknown type hint %q", hint)
}

func (n *node) asString() (Value, bool, error) {
	switch n.kind {
	case kindBytes:
		if !utf8.ValidString(n.text) {
			return Value{}, false, decodeErrorf("bytes are not valid UTF-8 text")
		}
		if n.text == "" {
			return NullValue, true, nil
		}
		return Text(n.text), true, nil
	case kindRecord, kindArray, kindRaw:
		return Value{}, false, nil
	}
	v, err := n.defaultValue()
	return v, err == nil, err
}

// asDate reads n as a date or, with dateTime, a datetime. A whole number
// counts days since 1970 if it is below daysBelow in magnitude (as Avro's
// date and Debezium's io.debezium.time.Date do), else milliseconds (an
// epoch-millis timestamp): a millisecond count that small is a moment of
// 1 or 2 January 1970, and a day count that large is past the year 275000.
// An Avro int or Kafka Connect int32 always counts days. Text is such a
// number or an ISO 8601 date or datetime; a date hint keeps the date as
// written, whatever its offset.
func (n *node) asDate(dateTime bool) (Value, bool, error) {
	layout := dateLayout
	if dateTime {
		layout = dateTimeLayout
	}
	switch n.kind {
	case kindDate:
		v, err := formatDaysAs(n.i, layout)
		return v, err == nil, err
	case kindTimestamp:
		v, err := formatMicros(n.i, layout)
		return v, err == nil, err
	case kindInt:
		if n.bits == 32 {
			v, err := formatDaysAs(n.i, layout)
			return v, err == nil, err
		}
		v, err := daysOrMillis(n.i, layout)
		return v, err == nil, err
	case kindFloat:
		f := n.float()
		if f != math.Trunc(f) || math.Abs(f) > 1<<62 {
			return Value{}, false, decodeErrorf("%v is not a whole number of days or milliseconds", f)
		}
		v, err := daysOrMillis(int64(f), layout)
		return v, err == nil, err
	case kindNumber:
		i, err := strconv.ParseInt(n.text, 10, 64)
		if err != nil {
			return Value{}, false, decodeErrorf("%s is not a whole number of days or milliseconds", n.text)
		}
		v, err := daysOrMillis(i, layout)
		return v, err == nil, err
	case kindText:
		return textDate(n.text, dateTime)
	}
	return Value{}, false, nil
}

// The date range that conversions accept: years 0001 to 9999.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	maxDays = int64(maxTime.Sub(time.Unix(0, 0)) / (24 * time.Hour))
)

// daysBelow is the magnitude below which a whole number read as a date
// counts days rather than milliseconds; see asDate.
const daysBelow = 100_000_000

func daysOrMillis(i int64, layout string) (Value, error) {
	if -daysBelow < i && i < daysBelow {
		return formatDaysAs(i, layout)
	}
	return formatMillis(i, layout)
}

func formatDays(days int64) (Value, error) { return formatDaysAs(days, dateLayout) }

func formatDaysAs(days int64, layout string) (Value, error) {
	if days > maxDays || days < -maxDays {
		return Value{}, decodeErrorf("date %d days from 1970 is out of range", days)
	}
	return formatMicros(days*int64(24*time.Hour/time.Microsecond), layout)
}

func formatMillis(ms int64, layout string) (Value, error) {
	if ms > math.MaxInt64/1000 || ms < math.MinInt64/1000 {
		return Value{}, decodeErrorf("%d milliseconds from 1970 is out of range", ms)
	}
	return formatMicros(ms*1000, layout)
}

func formatMicros(us int64, layout string) (Value, error) {
	t := time.UnixMicro(us).UTC()
	if t.Before(minTime) || t.After(maxTime) {
		return Value{}, decodeErrorf("%s is out of range (years 0001 to 9999)", t.Format(time.RFC3339))
	}
	return Text(t.Format(layout)), nil
}

// textDateLayouts are the ISO 8601 forms text dates and datetimes may take;
// those without an offset are UTC.
var textDateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	dateLayout,
}

func textDate(s string, dateTime bool) (Value, bool, error) {
	if s == "" {
		return NullValue, true, nil
	}
	if isInteger(s) {
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Value{}, false, decodeErrorf("%q is out of range", s)
		}
		layout := dateLayout
		if dateTime {
			layout = dateTimeLayout
		}
		v, err := daysOrMillis(i, layout)
		return v, err == nil, err
	}
	for _, layout := range textDateLayouts {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		if !dateTime {
			return Text(t.Format(dateLayout)), true, nil
		}
		v, err := formatMicros(t.UnixMicro(), dateTimeLayout)
		return v, err == nil, err
	}
	what := "date"
	if dateTime {
		what = "datetime"
	}
	return Value{}, false, decodeErrorf("%q is not a %s (ISO 8601, such as 2024-01-31 or 2024-01-31T12:00:00Z) or a number of days or milliseconds since 1970", s, what)
}

// asNumber reads n as a plain decimal or, with whole, an integer.
func (n *node) asNumber(whole bool) (Value, bool, error) {
	var s string
	switch n.kind {
	case kindInt:
		return Text(strconv.FormatInt(n.i, 10)), true, nil
	case kindFloat:
		v, err := floatText(n.float(), int(n.bits))
		if err != nil {
			return Value{}, false, err
		}
		s = v.Text
	case kindDecimal:
		s = n.text
	case kindNumber, kindText:
		if n.text == "" {
			return NullValue, true, nil
		}
		var ok bool
		if s, ok = plainDecimal(n.text); !ok {
			return Value{}, false, decodeErrorf("%q is not a decimal number", n.text)
		}
	default:
		return Value{}, false, nil
	}
	if !whole {
		return Text(s), true, nil
	}
	i, frac, _ := strings.Cut(s, ".")
	if strings.Trim(frac, "0") != "" {
		return Value{}, false, decodeErrorf("%s is not a whole number", s)
	}
	if i == "-0" {
		i = "0"
	}
	return Text(i), true, nil
}

func (n *node) asBoolean() (Value, bool, error) {
	switch n.kind {
	case kindBool:
		return Text(n.text), true, nil
	case kindInt:
		switch n.i {
		case 0:
			return Text("false"), true, nil
		case 1:
			return Text("true"), true, nil
		}
		return Value{}, false, decodeErrorf("%d is not a boolean (1 or 0)", n.i)
	case kindNumber, kindText:
		switch strings.ToLower(n.text) {
		case "true", "1", "yes":
			return Text("true"), true, nil
		case "false", "0", "no":
			return Text("false"), true, nil
		case "":
			return NullValue, true, nil
		}
		return Value{}, false, decodeErrorf("%q is not a boolean (true, false, 1, 0, yes or no)", n.text)
	}
	return Value{}, false, nil
}

// maxExponent bounds the exponent of a number that plainDecimal expands, so
// that 1e999999999 is refused instead of written out.
const maxExponent = 400

// plainDecimal writes the decimal number s (an optional sign, digits with
// an optional point, an optional exponent) without an exponent and without
// leading zeros: 1.5e3 is 1500, -0.25E-1 is -0.025, 007.50 is 7.50.
func plainDecimal(s string) (string, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > maxExponent || e < -maxExponent || s[i+1] == '+' && len(s) == i+2 {
			return "", false
		}
		mant, exp = s[:i], e
	}
	intPart, frac, hasPoint := strings.Cut(mant, ".")
	if intPart == "" && frac == "" || !isDigits(intPart) || !isDigits(frac) || hasPoint && intPart == "" && frac == "" {
		return "", false
	}
	digits := intPart + frac
	point := len(intPart) + exp // where the point goes in digits
	switch {
	case point <= 0:
		digits = strings.Repeat("0", 1-point) + digits
		point = 1
	case point > len(digits):
		digits += strings.Repeat("0", point-len(digits))
	}
	whole := strings.TrimLeft(digits[:point], "0")
	if whole == "" {
		whole = "0"
	}
	out := whole
	if point < len(digits) {
		out += "." + digits[point:]
	}
	if neg {
		out = "-" + out
	}
	return out, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isInteger reports whether s is an optional minus sign and digits.
func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return s != "" && isDigits(s)
}
