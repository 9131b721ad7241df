package bulkemu

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestPlainDecimalIsItsOwnCanonicalForm checks plainDecimal against what
// it spares: parsing and formatting as a double. A value it takes must
// format back to itself; the listed values it refuses do not (or do not
// parse), and the random ones it refuses need not.
func TestPlainDecimalIsItsOwnCanonicalForm(t *testing.T) {
	formatted := func(v string) (string, bool) {
		x, err := strconv.ParseFloat(v, 64)
		return strconv.FormatFloat(x, 'f', -1, 64), err == nil
	}
	for _, v := range []string{"0", "-0", "7", "-12.5", "0.5", "123450.5", "0.000001", "123456789012345", "99999999999999.9", "-0.25"} {
		if !plainDecimal(v) {
			t.Errorf("plainDecimal(%q) = false, want true", v)
		}
		if f, _ := formatted(v); f != v {
			t.Errorf("%q formats as %q: not canonical, the test is wrong", v, f)
		}
	}
	for _, v := range []string{"", "-", ".5", "5.", "1.50", "007", "-01", "+5", "1e5", "1E5", "0x10", "1_000", "-0.0",
		"12345678901234567890", "0.1234567890123456789", "9007199254740993", " 1", "1 ", "1.2.3", "--1"} {
		if plainDecimal(v) {
			t.Errorf("plainDecimal(%q) = true, want false", v)
		}
		if f, ok := formatted(v); ok && f == v {
			t.Errorf("%q formats as itself: the test is wrong to list it", v)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789.-"
	taken := 0
	for range 200_000 {
		b := make([]byte, 1+rng.IntN(18))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		v := string(b)
		if !plainDecimal(v) {
			continue
		}
		taken++
		if f, ok := formatted(v); !ok || f != v {
			t.Fatalf("plainDecimal(%q) = true, but it parses (%v) and formats as %q", v, ok, f)
		}
	}
	if taken < 10_000 {
		t.Fatalf("only %d random values taken; the test wants more", taken)
	}
}

// TestPlainIntIsItsOwnCanonicalForm checks plainInt against what it
// spares: parsing as a 32-bit int and formatting. A value it takes must
// parse and format back to itself; a value it refuses either does not
// parse or formats otherwise, but for canonical ints of 10 digits, which
// it refuses without knowing whether they fit. The random values, of 1 to
// 11 bytes, hold some 2,900 ints of 10 digits, 343 of which fit.
func TestPlainIntIsItsOwnCanonicalForm(t *testing.T) {
	canonical := func(v string) bool {
		n, err := strconv.ParseInt(v, 10, 32)
		return err == nil && strconv.FormatInt(n, 10) == v
	}
	for _, v := range []string{"0", "7", "-7", "10", "-123456789", "999999999"} {
		if !plainInt(v) || !canonical(v) {
			t.Errorf("%q: plainInt %v, canonical %v; want both", v, plainInt(v), canonical(v))
		}
	}
	for _, v := range []string{"", "-", "-0", "00", "007", "-01", "+5", "1.0", "1e3", " 1", "1 ", "--1", "1-", "0x1", "1_0", "2147483648", "1234567890"} {
		if plainInt(v) {
			t.Errorf("plainInt(%q) = true, want false", v)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "0123456789-+"
	taken := 0
	for range 200_000 {
		b := make([]byte, 1+rng.IntN(11))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		v := string(b)
		if plainInt(v) {
			taken++
		}
		spared := !plainInt(v) && canonical(v) && len(strings.TrimPrefix(v, "-")) == 10
		if plainInt(v) != canonical(v) && !spared {
			t.Fatalf("%q: plainInt %v, canonical %v", v, plainInt(v), canonical(v))
		}
	}
	if taken < 10_000 {
		t.Fatalf("only %d random values taken; the test wants more", taken)
	}
}

// checkLength counts characters, not bytes, whether or not it needs to
// count them.
func TestCheckLengthCountsCharacters(t *testing.T) {
	f := &Field{Name: "Code__c", Label: "Code", Type: TypeString, Length: 3}
	for v, ok := range map[string]bool{"": true, "abc": true, "ééé": true, "日本語": true, "abcd": false, "éééé": false, "ab日本": false} {
		if err := checkLength(f, v); (err == nil) != ok {
			t.Errorf("checkLength(%q) = %v, want ok %v", v, err, ok)
		}
	}
}
