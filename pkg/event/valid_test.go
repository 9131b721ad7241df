package event

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// validCases are JSON texts at the edges of the grammar, valid or not.
var validCases = []string{
	``, ` `, `{}`, ` { } `, `[]`, `[ ]`, `{`, `}`, `[`, `]`, `{]`, `[}`, `{}}`, `[]]`, `{}{}`, `{} x`, "{}\x00",
	`0`, `-0`, `01`, `-01`, `1.`, `1.5`, `.5`, `-`, `+1`, `1e`, `1e+`, `1e-2`, `1E+02`, `1.5e3`, `-0.0e-0`, `1ee2`, `0x10`, `1_000`,
	`true`, `false`, `null`, `tru`, `truex`, `nul`, `True`, `NULL`, `[true,false,null]`, `[true false]`,
	`""`, `"a"`, `"\"`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u00e9"`, `"\u00E9"`, `"\u00g9"`, `"\u12"`, `"\u"`, `"\x"`, `"\'"`,
	"\"\t\"", "\"\x1f\"", "\"\x7f\"", "\"\xff\"", "\"é\"", `"a`, `"`, `"\`,
	"\"\xc3\"", "\"\xc3(\"", "\"\xe2\x82\"", "\"\xe2\x82\xac\"", "\"\xed\xa0\x80\"", "\"\xf0\x9f\x98\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xc0\xaf\"", "\"\x80\"", "[\"é\", \xff]",
	`{"a":1}`, `{"a" : 1 , "b" : [1, 2, {"c": null}]}`, `{"a":1,}`, `{"a":}`, `{"a"}`, `{"a" 1}`, `{a:1}`, `{1:1}`, `{"a":1 "b":2}`,
	`[1,]`, `[,1]`, `[1,,2]`, `[1 2]`, `[[[]]]`, `[[[]]`, `{"a":{"b":{"c":{}}}}`,
	" \t\r\n{\"a\" :\n[ 1 ,\t2 ]\r}\n ", "\v{}", "\u00a0{}", `{"a":1}` + "\x00",
}

// valid is what validJSON reports, the slow way.
func valid(v []byte) bool { return json.Valid(v) && utf8.Valid(v) }

func TestValidJSON(t *testing.T) {
	for _, v := range validCases {
		if got := validJSON([]byte(v)); got != valid([]byte(v)) {
			t.Errorf("validJSON(%q) = %v, json.Valid and utf8.Valid say %v", v, got, !got)
		}
	}
	// Nesting: validJSON checks up to maxValidDepth itself and leaves
	// deeper values to json.Valid.
	for depth := maxValidDepth - 1; depth <= maxValidDepth+1; depth++ {
		for _, open := range []string{"[", `{"a":`} {
			close := "]"
			if open != "[" {
				close = "}"
			}
			v := []byte(strings.Repeat(open, depth) + "1" + strings.Repeat(close, depth))
			if got := validJSON(v); got != (depth <= maxValidDepth) || !json.Valid(v) {
				t.Errorf("%d levels of %s: validJSON = %v, want %v", depth, open, got, !got)
			}
		}
	}
}

// FuzzValidJSON checks validJSON against json.Valid and utf8.Valid on any
// bytes; a value it does not check itself (nested too deep) it must call
// not valid.
func FuzzValidJSON(f *testing.F) {
	for _, v := range validCases {
		f.Add([]byte(v))
	}
	for _, tc := range envelopeCases {
		f.Add([]byte(tc.value))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		got := validJSON(v)
		if want := valid(v); got && !want || !got && want && nesting(v) <= maxValidDepth {
			t.Fatalf("validJSON(%q) = %v, json.Valid and utf8.Valid say %v", v, got, want)
		}
	})
}

// nesting returns how deep the arrays and objects of valid JSON nest.
func nesting(v []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// Strings longer than the 8 bytes validString skips at a time, with each
// kind of byte it must stop at (a quote, an escape, a control character,
// valid and broken UTF-8) at every place in and around a word.
func TestValidStringsLongerThanAWord(t *testing.T) {
	for _, special := range []string{`\"`, `\\`, `\n`, `\u00e9`, `\x`, "\x01", "\x1f", "\x7f", "é", "€", "\xff", "\xc3", "\xe2\x82", `"`} {
		for before := range 20 {
			for after := range 12 {
				v := []byte(`{"k":"` + strings.Repeat("a", before) + special + strings.Repeat("b", after) + `","n":1}`)
				if got := validJSON(v); got != valid(v) {
					t.Errorf("validJSON(%q) = %v, json.Valid and utf8.Valid say %v", v, got, !got)
				}
			}
		}
	}
}

// BenchmarkValidJSON checks the value of the end-to-end benchmark's
// envelope (see BenchmarkDecodeEnvelopeOfRoute).
func BenchmarkValidJSON(b *testing.B) {
	value := []byte(`{"object":"Contact","operation":"upsert","externalIdField":"External_Id__c","fields":` + benchFields + `}`)
	b.SetBytes(int64(len(value)))
	for b.Loop() {
		if !validJSON(value) {
			b.Fatal("not valid")
		}
	}
}
