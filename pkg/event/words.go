package event

import "github.com/bulkstream/bulkstream/internal/words"

// Word-at-a-time tests of the decoders' loops over bytes (validString over
// a JSON string, foldKey over a field name, appendLower over a record key):
// see package words for how a mask marks bytes and which of its bits are
// exact. TestWordMasksMatchTheirTables checks the masks against their
// tables.
const ones, highs = words.Ones, words.Highs

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
