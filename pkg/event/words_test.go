package event

import (
	"math/bits"
	"testing"
)

// The word masks against the tables they stand for: every pair of byte
// values at every pair of places of a word, the other bytes plain ASCII, so
// that a byte added to stringByte or headerBreaking without its term in
// stringBytes or headerBreakingOrHigh (or the other way round) fails here.
// stringBytes must mark exactly the first byte stringByte marks (its
// higher bits may be false); headerBreakingOrHigh need only be 0 or not.
// Two bytes at a time, because a marked byte's borrow changes the bytes
// above it, which one byte alone would not show.
func TestWordMasksMatchTheirTables(t *testing.T) {
	var b [8]byte
	for p := range 8 {
		for q := p; q < 8; q++ {
			for x := range 256 {
				for y := range 256 {
					b = [8]byte{'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
					b[p], b[q] = byte(x), byte(y)
					w := uint64(0)
					first, header := -1, false
					for k := 7; k >= 0; k-- {
						w = w<<8 | uint64(b[k])
						if stringByte[b[k]] {
							first = k
						}
						header = header || headerBreaking[b[k]] || b[k] >= 0x80
					}
					m := stringBytes(w)
					if first < 0 && m != 0 || first >= 0 && bits.TrailingZeros64(m) != 8*first+7 {
						t.Fatalf("stringBytes(% x) = %#x, first marked byte %d", b, m, first)
					}
					if got := headerBreakingOrHigh(w) != 0; got != header {
						t.Fatalf("headerBreakingOrHigh(% x) != 0 is %v, want %v", b, got, header)
					}
				}
			}
		}
	}
}
