package bulkemu

import (
	"fmt"
	"math"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// nullValue is what a CSV cell holds to set a field to null. An empty cell
// leaves the field unchanged on update and upsert.
const nullValue = "#N/A"

// rowError is a row-level failure as Salesforce writes it in sf__Error:
// "CODE:message:Field1,Field2 --", or "CODE:message:--" without fields.
type rowError struct {
	Code    string
	Message string
	Fields  []string
}

func (e *rowError) String() string {
	if len(e.Fields) == 0 {
		return e.Code + ":" + e.Message + ":--"
	}
	return e.Code + ":" + e.Message + ":" + strings.Join(e.Fields, ",") + " --"
}

func fieldError(code string, f *Field, format string, args ...any) *rowError {
	return &rowError{Code: code, Message: fmt.Sprintf(format, args...), Fields: []string{f.Name}}
}

// canonical checks a CSV value, the value of column col (counted from 1),
// against the field's type and returns the form the emulator stores and
// queries return: integers and decimals without padding, booleans as
// true/false, dates as 2006-01-02 and datetimes in UTC as
// 2006-01-02T15:04:05.000Z. References are checked by the caller.
func canonical(f *Field, col int, v string) (string, *rowError) {
	switch f.Type {
	case TypePicklist:
		if err := checkLength(f, v); err != nil {
			return "", err
		}
		if f.Restricted && !slices.Contains(f.Values, v) {
			return "", fieldError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f, "%s: bad value for restricted picklist field: %s", f.Label, v)
		}
		return v, nil
	case TypeString, TypeTextArea, TypePhone, TypeURL:
		return v, checkLength(f, v)
	case TypeEmail:
		if err := checkLength(f, v); err != nil {
			return "", err
		}
		if a, err := mail.ParseAddress(v); err != nil || a.Address != v || !strings.Contains(v[strings.IndexByte(v, '@'):], ".") {
			return "", fieldError("INVALID_EMAIL_ADDRESS", f, "%s: invalid email address: %s", f.Label, v)
		}
		return v, nil
	case TypeBoolean:
		switch strings.ToLower(v) {
		case "true", "1", "yes":
			return "true", nil
		case "false", "0", "no":
			return "false", nil
		}
	case TypeInt:
		if plainInt(v) {
			return v, nil
		}
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			var buf [16]byte
			return sameOr(v, strconv.AppendInt(buf[:0], n, 10)), nil
		}
	case TypeDouble, TypeCurrency, TypePercent:
		if plainDecimal(v) {
			return v, nil
		}
		if x, err := strconv.ParseFloat(v, 64); err == nil && !math.IsInf(x, 0) && !math.IsNaN(x) {
			var buf [32]byte
			return sameOr(v, strconv.AppendFloat(buf[:0], x, 'f', -1, 64)), nil
		}
	case TypeDate:
		// Salesforce's own sample files write dates with a trailing Z.
		if t, err := time.Parse("2006-01-02", strings.TrimSuffix(v, "Z")); err == nil {
			return t.Format("2006-01-02"), nil
		}
	case TypeDateTime:
		if t, ok := parseDateTime(v); ok {
			return t.UTC().Format("2006-01-02T15:04:05.000Z"), nil
		}
	}
	// What a real org writes when a value does not parse as its field's
	// SOAP type (public captures: dates; the other types follow the same
	// pattern with their WSDL type names).
	return "", &rowError{Code: "INVALID_FIELD", Fields: []string{f.Name},
		Message: fmt.Sprintf("Failed to deserialize field at col %d. Due to, '%s' is not a valid value for the type %s", col, v, xsdType[f.Type])}
}

// sameOr returns v when it already is in its canonical form b, and b as a
// string otherwise: most values arrive canonical, and returning v spares
// an allocation.
func sameOr(v string, b []byte) string {
	if string(b) == v {
		return v
	}
	return string(b)
}

// plainInt reports whether v is an int that is its own canonical form: an
// optional minus, then 1 to 9 digits without leading zeros, which fit in
// 32 bits whatever they are, and not -0. Most values are such; parsing and
// formatting them was a third of parseRow's CPU for a row of the upsert
// benchmark.
func plainInt(v string) bool {
	digits := strings.TrimPrefix(v, "-")
	if len(digits) == 0 || len(digits) > 9 || digits[0] == '0' && (len(digits) > 1 || len(digits) < len(v)) {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return true
}

// plainDecimal reports whether v is a number that is its own canonical form
// as a double (what formatting the parsed value with 'f' and the fewest
// digits gives): an optional minus, an integer part without leading zeros,
// and optionally a point and a fraction without trailing zeros, with 15
// digits at most. Any decimal of 15 digits or fewer is the shortest that
// parses to its double, so formatting gives its digits back; most values
// are such, and parsing and formatting them took a tenth of an upsert.
func plainDecimal(v string) bool {
	i := 0
	if strings.HasPrefix(v, "-") {
		i++
	}
	intStart := i
	for i < len(v) && '0' <= v[i] && v[i] <= '9' {
		i++
	}
	intDigits := i - intStart
	if intDigits == 0 || intDigits > 1 && v[intStart] == '0' {
		return false
	}
	if i == len(v) {
		return intDigits <= 15
	}
	if v[i] != '.' {
		return false
	}
	i++
	fracStart := i
	for i < len(v) && '0' <= v[i] && v[i] <= '9' {
		i++
	}
	fracDigits := i - fracStart
	return i == len(v) && fracDigits > 0 && v[i-1] != '0' && intDigits+fracDigits <= 15
}

// xsdType is the SOAP type of each field type whose values are parsed.
var xsdType = map[FieldType]string{
	TypeBoolean: "xsd:boolean", TypeInt: "xsd:int", TypeDouble: "xsd:double", TypeCurrency: "xsd:double",
	TypePercent: "xsd:double", TypeDate: "xsd:date", TypeDateTime: "xsd:dateTime",
}

// dateTimeLayouts are the dateTime forms Bulk API accepts: with or without
// milliseconds, with Z or a numeric offset.
var dateTimeLayouts = []string{
	"2006-01-02T15:04:05.000Z07:00",
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05.000Z0700",
	"2006-01-02T15:04:05Z0700",
}

func parseDateTime(v string) (time.Time, bool) {
	for _, layout := range dateTimeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// checkLength fails a value longer than the field's Length characters. A
// value of no more bytes than that has no more characters, and is passed
// without counting them.
func checkLength(f *Field, v string) *rowError {
	if len(v) <= f.Length {
		return nil
	}
	if n := utf8.RuneCountInString(v); n > f.Length {
		return fieldError("STRING_TOO_LONG", f, "%s: data value too large: %s (max length=%d)", f.Label, v, f.Length)
	}
	return nil
}
