package bulkemu

import (
	"math/rand/v2"
	"strconv"
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
