// Package words holds what the word-at-a-time byte tests of pkg/event,
// internal/batch and pkg/bulkemu share: loops over bytes (validating a
// JSON string, checking a field name, scanning a CSV value for quoting,
// finding an Id's upper-case letters) read 8 bytes as one uint64 word and
// ask of all 8 at once what a table would say of each. LE64 loads the word
// little-endian, so that the first byte is the word's low byte and its
// bit 0 the word's bit 0, on any machine.
//
// A mask is a word whose high bit of each byte (Highs) marks that byte,
// the rest cleared with &Highs:
//
//   - w marks a byte that is not ASCII (0x80 and up);
//   - w - c*Ones marks a byte below c, which borrows when c is taken away
//     (and one from 0x80+c on, which w marks anyway);
//   - (w ^ c*Ones) - Ones marks a byte equal to c: the XOR makes it 0,
//     which borrows when 1 is taken away;
//   - w + (0x80-c)*Ones marks an ASCII byte from c on, and no sum carries
//     into the next byte as long as every byte is ASCII.
//
// A borrow is taken from the byte above, which may then look marked though
// it is not (a 0x20 above a 0x1f: 0x20-0x20-1 is 0xff). A borrow starts
// only at a marked byte and runs only upward, so the bytes below the first
// marked one and that one itself are exact: the lowest set bit of a mask is
// the high bit of the first marked byte (bits.TrailingZeros64(m)/8 is its
// index), and a mask is 0 only if no byte is marked; the bits above the
// lowest may be false. Each package that builds a mask from a table has a
// test that checks the mask against the table, for every byte at every
// place.
package words

// Ones has 1 in each byte, Highs the high bit of each byte.
const Ones, Highs = 0x0101010101010101, 0x8080808080808080

// LE64 returns the first 8 bytes of s (at least 8) as a little-endian
// word. Written byte by byte, for a string as for a slice, it compiles to
// one load.
func LE64[T string | []byte](s T) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// LE32 returns the first 4 bytes of s (at least 4) as a little-endian
// word, in one load as LE64.
func LE32[T string | []byte](s T) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}
