package event

// Word-at-a-time tests. The decoders' loops over bytes (validString over a
// JSON string, foldKey over a field name, appendLower over a record key)
// read 8 bytes as one uint64 word and ask of all 8 at once what a table
// would say of each. le64 loads the word little-endian, so that the first
// byte is the word's low byte and its bit 0 the word's bit 0.
//
// A mask is a word whose high bit of each byte (highs) marks that byte, the
// rest cleared with &highs:
//
//   - w marks a byte that is not ASCII (0x80 and up);
//   - w - c*ones marks a byte below c, which borrows when c is taken away
//     (and one from 0x80+c on, which w marks anyway);
//   - (w ^ c*ones) - ones marks a byte equal to c: the XOR makes it 0,
//     which borrows when 1 is taken away;
//   - w + (0x80-c)*ones marks an ASCII byte from c on, and no sum carries
//     into the next byte as long as every byte is ASCII.
//
// A borrow is taken from the byte above, which may then look marked though
// it is not (a 0x20 above a 0x1f: 0x20-0x20-1 is 0xff). A borrow starts only
// at a marked byte and runs only upward, so the bytes below the first marked
// one and that one itself are exact: the lowest set bit of a mask is the
// high bit of the first marked byte (bits.TrailingZeros64(m)/8 is its
// index), and a mask is 0 only if no byte is marked; the bits above the
// lowest may be false. TestWordMasksMatchTheirTables checks the masks
// against their tables.
const ones, highs = 0x0101010101010101, 0x8080808080808080

// le64 returns the first 8 bytes of s (at least 8) as a little-endian word.
// Written byte by byte, for a string as for a slice, it compiles to one
// load.
func le64[T string | []byte](s T) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// stringBytes returns a mask of the bytes of w that stringByte marks: a
// byte that is not ASCII, a byte below 0x20, a quote or a backslash. Only
// its lowest set bit is exact (the first such byte), or it is 0 if there is
// none.
func stringBytes(w uint64) uint64 {
	return (w | (w - 0x20*ones) | ((w ^ '"'*ones) - ones) | ((w ^ '\\'*ones) - ones)) & highs
}

// headerBreakingOrHigh returns 0 if none of the 8 bytes of w is one that
// headerBreaking marks or one that is not ASCII, else not 0.
func headerBreakingOrHigh(w uint64) uint64 {
	return (w | ((w ^ ','*ones) - ones) | ((w ^ '"'*ones) - ones) | ((w ^ '\r'*ones) - ones) | ((w ^ '\n'*ones) - ones)) & highs
}

// lowerWord returns the 8 ASCII bytes of w with their letters in lower
// case: w + (0x80-'A')*ones marks the bytes from 'A' on and
// w + (0x80-'Z'-1)*ones those after 'Z'; a byte of the first kind and not
// the second gains 0x20 (its mark, 0x80, shifted right twice). What it
// returns for a byte that is not ASCII is undefined.
func lowerWord(w uint64) uint64 {
	upper := (w + (0x80-'A')*ones) &^ (w + (0x80-'Z'-1)*ones) & highs
	return w | upper>>2
}
