package event

import (
	"math/bits"
	"unicode/utf8"

	"github.com/bulkstream/bulkstream/internal/words"
)

// validJSON reports whether v is one valid JSON value and valid UTF-8, as
// json.Valid(v) && utf8.Valid(v) do, in a fraction of their time and in one
// pass: a record value that the walk does not check as it reads it (see
// reader.read) is checked whole before it is read, and json.Valid's
// scanner (a function call per byte) cost a third of a decode. A value
// nested deeper than maxValidDepth is reported as not valid, so a caller
// that gets false asks json.Valid and utf8.Valid, which also say where a
// value that is not valid goes wrong.
func validJSON(v []byte) bool {
	var stack [maxValidDepth]byte // the open '{' and '['
	depth := 0
	i := skipSpace(v, 0)
	for {
		// A value starts at i.
		if i >= len(v) {
			return false
		}
		switch c := v[i]; c {
		case '{', '[':
			i = skipSpace(v, i+1)
			if i < len(v) && v[i] == c+2 { // '}' is '{'+2, ']' is '['+2
				i++
				break
			}
			if depth == len(stack) {
				return false
			}
			stack[depth] = c
			depth++
			if c == '{' {
				if i = validKey(v, i); i < 0 {
					return false
				}
			}
			continue
		case '"':
			if i, _ = validString(v, i); i < 0 {
				return false
			}
		case 't':
			if i = validLiteral(v, i, "true"); i < 0 {
				return false
			}
		case 'f':
			if i = validLiteral(v, i, "false"); i < 0 {
				return false
			}
		case 'n':
			if i = validLiteral(v, i, "null"); i < 0 {
				return false
			}
		default:
			if i = validNumber(v, i); i < 0 {
				return false
			}
		}
		// A value ended at i: close the containers it ends, up to the
		// next value.
		for i = skipSpace(v, i); ; i = skipSpace(v, i+1) {
			if depth == 0 {
				return i == len(v)
			}
			if i >= len(v) {
				return false
			}
			open := stack[depth-1]
			if v[i] == open+2 {
				depth--
				continue
			}
			if v[i] != ',' {
				return false
			}
			i = skipSpace(v, i+1)
			if open == '{' {
				if i = validKey(v, i); i < 0 {
					return false
				}
			}
			break
		}
	}
}

// maxValidDepth bounds the nesting that validJSON checks itself.
const maxValidDepth = 64

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(v []byte, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\n' || v[i] == '\r' || v[i] == '\t') {
		i++
	}
	return i
}

// validKey checks an object's key and its colon at i, and returns where
// its value starts, or -1.
func validKey(v []byte, i int) int {
	if i >= len(v) || v[i] != '"' {
		return -1
	}
	if i, _ = validString(v, i); i < 0 {
		return -1
	}
	if i = skipSpace(v, i); i >= len(v) || v[i] != ':' {
		return -1
	}
	return skipSpace(v, i+1)
}

// stringByte marks the bytes that end the plain ASCII run of a JSON string:
// its quote, an escape, the control characters it may not hold, and the
// bytes that start or continue a multi-byte UTF-8 sequence. validString
// reads 8 bytes at a time through stringBytes, which marks the same bytes
// and must change with this table (TestWordMasksMatchTheirTables).
var stringByte = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	for c := utf8.RuneSelf; c < 256; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// validString checks the string whose quote is at i, its UTF-8 included,
// and returns the index after its closing quote, or -1, and whether the
// string has escapes. Where 8 bytes are left it steps over plain ASCII 8
// bytes at a time, to the first byte that stringByte marks (see
// stringBytes).
func validString(v []byte, i int) (end int, escaped bool) {
	for i++; i < len(v); i++ {
		if len(v)-i >= 8 {
			m := stringBytes(words.LE64(v[i:]))
			if m == 0 {
				i += 7 // 8 with the loop's i++
				continue
			}
			i += bits.TrailingZeros64(m) / 8
		} else if !stringByte[v[i]] {
			continue
		}
		switch c := v[i]; c {
		case '"':
			return i + 1, escaped
		case '\\':
			escaped = true
			i++
			if i >= len(v) {
				return -1, false
			}
			switch v[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(v) || !isHex(v[i+1]) || !isHex(v[i+2]) || !isHex(v[i+3]) || !isHex(v[i+4]) {
					return -1, false
				}
				i += 4
			default:
				return -1, false
			}
		default:
			if c < utf8.RuneSelf { // a control character
				return -1, false
			}
			r, n := utf8.DecodeRune(v[i:])
			if r == utf8.RuneError && n == 1 {
				return -1, false
			}
			i += n - 1
		}
	}
	return -1, false
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// validLiteral checks that the literal lit is at i and returns the index
// after it, or -1.
func validLiteral(v []byte, i int, lit string) int {
	if len(v)-i < len(lit) || string(v[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// validNumber checks the number at i and returns the index after it, or
// -1: an optional minus, 0 or digits not starting with 0, an optional
// fraction and an optional exponent.
func validNumber(v []byte, i int) int {
	if i < len(v) && v[i] == '-' {
		i++
	}
	switch {
	case i >= len(v):
		return -1
	case v[i] == '0':
		i++
	case '1' <= v[i] && v[i] <= '9':
		i = digits(v, i)
	default:
		return -1
	}
	if i < len(v) && v[i] == '.' {
		if i++; i >= len(v) || !isDigit(v[i]) {
			return -1
		}
		i = digits(v, i)
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		if i++; i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		if i >= len(v) || !isDigit(v[i]) {
			return -1
		}
		i = digits(v, i)
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits returns the index after the digits that start at i.
func digits(v []byte, i int) int {
	for i < len(v) && isDigit(v[i]) {
		i++
	}
	return i
}
