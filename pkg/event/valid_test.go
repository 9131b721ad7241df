package event

import (
	"encoding/json"
	"strings"
	"testing"
)

// validCases are JSON texts at the edges of the grammar, valid or not.
var validCases = []string{
	``, ` `, `{}`, ` { } `, `[]`, `[ ]`, `{`, `}`, `[`, `]`, `{]`, `[}`, `{}}`, `[]]`, `{}{}`, `{} x`, "{}\x00",
	`0`, `-0`, `01`, `-01`, `1.`, `1.5`, `.5`, `-`, `+1`, `1e`, `1e+`, `1e-2`, `1E+02`, `1.5e3`, `-0.0e-0`, `1ee2`, `0x10`, `1_000`,
	`true`, `false`, `null`, `tru`, `truex`, `nul`, `True`, `NULL`, `[true,false,null]`, `[true false]`,
	`""`, `"a"`, `"\"`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u00e9"`, `"\u00E9"`, `"\u00g9"`, `"\u12"`, `"\u"`, `"\x"`, `"\'"`,
	"\"\t\"", "\"\x1f\"", "\"\x7f\"", "\"\xff\"", "\"é\"", `"a`, `"`, `"\`,
	`{"a":1}`, `{"a" : 1 , "b" : [1, 2, {"c": null}]}`, `{"a":1,}`, `{"a":}`, `{"a"}`, `{"a" 1}`, `{a:1}`, `{1:1}`, `{"a":1 "b":2}`,
	`[1,]`, `[,1]`, `[1,,2]`, `[1 2]`, `[[[]]]`, `[[[]]`, `{"a":{"b":{"c":{}}}}`,
	" \t\r\n{\"a\" :\n[ 1 ,\t2 ]\r}\n ", "\v{}", "\u00a0{}", `{"a":1}` + "\x00",
}

func TestValidJSON(t *testing.T) {
	for _, v := range validCases {
		if got, want := validJSON([]byte(v)), json.Valid([]byte(v)); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid says %v", v, got, want)
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
			if got, want := validJSON(v), depth <= maxValidDepth; got != want || !json.Valid(v) {
				t.Errorf("%d levels of %s: validJSON = %v, want %v", depth, open, got, want)
			}
		}
	}
}

// FuzzValidJSON checks validJSON against json.Valid on any bytes; a value
// it does not check itself (nested too deep) it must call not valid.
func FuzzValidJSON(f *testing.F) {
	for _, v := range validCases {
		f.Add([]byte(v))
	}
	for _, tc := range envelopeCases {
		f.Add([]byte(tc.value))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		got, want := validJSON(v), json.Valid(v)
		if got && !want || !got && want && nesting(v) <= maxValidDepth {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", v, got, want)
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
