package journal

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// FuzzOffsetSetJSON reads any offsets an entry could hold: reading never
// panics; a compact form reads as sorted, disjoint ranges of no more than
// maxCompactOffsets offsets, none past the largest int64 less one; and
// what reads is written and read again as the same set. Its findings are
// in testdata/fuzz/FuzzOffsetSetJSON.
func FuzzOffsetSetJSON(f *testing.F) {
	for _, seed := range []string{
		`[[0,9]]`, `[]`, `null`, `[[5,9],[1,2]]`, `[[0,9223372036854775807]]`, `7`,
		`"runs:AAk"`, `"runs:"`, `"bits:"`, `"bits:AA"`, `"bits:AVU"`, `"gaps:AAk"`, `"runs:AP__________wE"`,
		`"bits:/v////////9/Ag"`, `"bits:__________8B"`,
		`"runs:` + b64.EncodeToString(binary.AppendUvarint([]byte{0}, math.MaxInt64-1)) + `"`,
		`"runs:` + b64.EncodeToString(append(binary.AppendUvarint(nil, math.MaxInt64), 0)) + `"`,   // the largest int64
		`"bits:` + b64.EncodeToString(append(binary.AppendUvarint(nil, math.MaxInt64-1), 3)) + `"`, // the largest int64
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var s offsetSet
		if json.Unmarshal(in, &s) != nil {
			return
		}
		if len(in) > 0 && in[0] == '"' {
			var count uint64
			for i, r := range s {
				if r[0] < 0 || r[1] < r[0] || r[1] > math.MaxInt64-1 || i > 0 && r[0] <= s[i-1][1] {
					t.Fatalf("%s reads as %v: range %d is not sorted, disjoint and in range", in, s, i)
				}
				count += uint64(r[1]-r[0]) + 1
			}
			if len(s) == 0 || count > maxCompactOffsets {
				t.Fatalf("%s reads as %d ranges of %d offsets", in, len(s), count)
			}
		}
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("%v does not write: %v", s, err)
		}
		var again offsetSet
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("%s reads as %v, written %s, which does not read: %v", in, s, out, err)
		}
		if !reflect.DeepEqual(again, s) {
			t.Fatalf("%s reads as %v, written %s, which reads as %v", in, s, out, again)
		}
	})
}
