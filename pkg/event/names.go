package event

import (
	"unicode/utf8"

	"github.com/bulkstream/bulkstream/internal/words"
)

// The checks of names and identities that a decoded change carries: a
// field name must be usable as a CSV header column and is compared with
// the others regardless of case (foldKey's key), an object name must be a
// Salesforce API name and a record Id must have an Id's shape.

// checkFieldName is foldKey without its key: it refuses a name that
// cannot be a column of the upload's CSV header.
func checkFieldName(name string) error {
	_, err := foldKey(name)
	return err
}

// foldKey checks that name can be a column of the upload's CSV header and,
// in the same pass, finds whether it is ASCII. It refuses (a *DecodeError)
// a name that is empty or holds a comma, a double quote, a carriage return
// or a line feed (headerBreaking): those are the bytes that make a CSV cell
// need quotes (internal/batch's needsQuotes), the header would carry the
// name quoted, and Salesforce reads a quoted header name as a different
// field. It returns 0 for a name that is not ASCII, else asciiKey(name),
// never 0. Two ASCII names that are equal regardless of case have the same
// key, so names of different keys need no strings.EqualFold; a name that
// is not ASCII may equal one that is (the Kelvin sign folds to k), so its 0
// matches any key.
func foldKey(name string) (uint32, error) {
	if name == "" {
		return 0, decodeErrorf("empty field name")
	}
	// Words of 8 plain ASCII bytes are stepped over whole, and the last 8
	// bytes of a name of 8 or more are one word too, which may overlap the
	// word before. From the first word that holds a byte headerBreaking
	// marks or one that is not ASCII, and in a name shorter than a word,
	// the bytes are read one by one.
	i := 0
	for len(name)-i >= 8 && headerBreakingOrHigh(words.LE64(name[i:])) == 0 {
		i += 8
	}
	if i == len(name) || len(name) >= 8 && i > len(name)-8 && headerBreakingOrHigh(words.LE64(name[len(name)-8:])) == 0 {
		return asciiKey(name), nil
	}
	var bits byte // the bits of the bytes read one by one
	for i < len(name) && !headerBreaking[name[i]] {
		bits |= name[i]
		i++
	}
	if i == len(name) {
		if bits >= utf8.RuneSelf {
			return 0, nil
		}
		return asciiKey(name), nil
	}
	what := "a comma"
	switch name[i] {
	case '"':
		what = "a double quote"
	case '\r':
		what = "a carriage return"
	case '\n':
		what = "a line feed"
	}
	return 0, decodeErrorf("field name %q contains %s, which would break the CSV header", name, what)
}

// asciiKey returns foldKey's key of the ASCII name, not empty: its top bit
// set, so that it is never 0, then its length mod 2^15 (15 bits), and its
// first and last bytes in lower case. Names whose lengths differ by a
// multiple of 2^15 (32 KiB) may share a key, which costs them only a
// strings.EqualFold: a key tells names apart, never makes them equal.
func asciiKey(name string) uint32 {
	return 1<<31 | uint32(len(name))<<16 | uint32(lowerASCII(name[0]))<<8 | uint32(lowerASCII(name[len(name)-1]))
}

// lowerASCII returns the ASCII letter c in lower case, and any other byte
// as it is.
func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		c += 'a' - 'A'
	}
	return c
}

// headerBreaking marks the bytes a CSV header name cannot carry unquoted.
// foldKey reads a name 8 bytes at a time through headerBreakingOrHigh,
// which finds these bytes (and those that are not ASCII) and must change
// with this table (TestWordMasksMatchTheirTables); it looks bytes up here
// one by one only in a name shorter than a word and after the first word
// that holds one of them or a byte that is not ASCII. (A table for those
// few bytes: strings.IndexAny costs more on short names.)
var headerBreaking = [256]bool{',': true, '"': true, '\r': true, '\n': true}

// isAPIName reports whether s is spelled as a Salesforce object API name:
// letters, digits and underscores, starting with a letter (Account,
// ns__Invoice__c, Order_Line__e).
func isAPIName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || c != '_' && (c < '0' || c > '9')) {
			return false
		}
	}
	return s != ""
}

// isRecordID reports whether s has the shape of a Salesforce record Id:
// 15 (case-sensitive) or 18 (case-insensitive) letters and digits.
func isRecordID(s string) bool {
	if len(s) != 15 && len(s) != 18 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
