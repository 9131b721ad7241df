package journal

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// compactAbove is the size of an offset set's pairs form above which the
// set is written compact, when that is smaller. Below it the pairs form is
// kept, which every version reads (see the package doc): a slice of a
// partition that carries one operation of one object is a range or a few,
// a few dozen bytes. 4 KiB is about 200 ranges, and well under what a
// journal topic takes (max.message.bytes, by default 1048588 bytes).
const compactAbove = 4 << 10

// The compact forms of an offset set, a JSON string of a prefix and the
// standard base64 encoding, without padding, of:
//   - runs: uvarints, the first range's first offset and its length less
//     one, then for each next range the count of offsets between it and
//     the one before, and its length less one;
//   - bits: a uvarint, the first offset, then a bitmap: bit i (the least
//     significant bit first) of byte j is set when offset first+8j+i is in
//     the set.
//
// Runs take one or two bytes an event when the events are apart and many
// in a row cost nothing; the bitmap a bit an offset of the span, whether
// in the set or not. The encoder writes the smaller.
const (
	runsPrefix = "runs:"
	bitsPrefix = "bits:"
)

var b64 = base64.RawStdEncoding

// maxCompactOffsets bounds the offsets of a set written compact: a set of
// more is written as pairs, and a compact set that decodes to more is
// malformed. A compact form takes a bit or two an offset, or a few bytes
// for a range of any length, so without it a record of a few bytes could
// claim every offset there is, and one of a megabyte millions of ranges.
// A slice has as many events as its job's buffer (batch.max_records rows,
// 150,000 by default, coalesced changes counting once), far below it.
const maxCompactOffsets = 10_000_000

// MaxRanges bounds the [first, last] ranges of an offset set in either
// form: a set of pairs of more is malformed, as a compact set of more than
// maxCompactOffsets offsets is (it has as many ranges at most). The pairs
// form is otherwise bounded only by the journal topic's max.message.bytes,
// which an operator raises, and a resume holds every range it reads. A
// slice of more ranges has as many events apart in its partition, and its
// pairs take 60 MB at least.
const MaxRanges = maxCompactOffsets

// offsetSet is sorted, disjoint [first, last] ranges, written in JSON as
// the pairs [[first,last],...] or, when that is over compactAbove bytes,
// in a compact form when it is smaller. It reads either.
type offsetSet [][2]int64

// MarshalJSON writes s as pairs, or compact (see compactAbove). A set that
// is not sorted, disjoint and apart (as Ranges makes), or has a negative
// offset or the largest int64, is written as pairs, which keeps it as it
// is, and so is one of more than maxCompactOffsets offsets.
func (s offsetSet) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	pairs, runs, ok := s.sizes()
	if !ok || pairs <= compactAbove {
		return json.Marshal([][2]int64(s))
	}
	first, last := s[0][0], s[len(s)-1][1]
	bitmap := uint64(uvarintLen(uint64(first))) + uint64(last-first)/8 + 1
	var raw []byte
	var prefix string
	if bitmap < uint64(runs) { // a span too long for memory is never chosen
		prefix, raw = bitsPrefix, s.bits()
	} else {
		prefix, raw = runsPrefix, s.runs(runs)
	}
	if compact := len(prefix) + 2 + b64.EncodedLen(len(raw)); compact >= pairs {
		return json.Marshal([][2]int64(s))
	}
	out := make([]byte, 0, len(prefix)+2+b64.EncodedLen(len(raw)))
	out = append(out, '"')
	out = append(out, prefix...)
	out = b64.AppendEncode(out, raw)
	return append(out, '"'), nil
}

// sizes returns the length of s's pairs form and of its runs before
// base64, and whether s can be written compact.
func (s offsetSet) sizes() (pairs, runs int, ok bool) {
	pairs = 2 + len(s) - 1
	var end int64 = -2
	var count uint64
	for i, r := range s {
		if r[0] < 0 || r[1] < r[0] || r[0] <= end+1 || r[1] == math.MaxInt64 { // the compact forms end before it
			return 0, 0, false
		}
		pairs += 3 + digits(r[0]) + digits(r[1])
		gap := r[0]
		if i > 0 {
			gap = r[0] - end - 1
		}
		runs += uvarintLen(uint64(gap)) + uvarintLen(uint64(r[1]-r[0]))
		end = r[1]
		if count += uint64(r[1]-r[0]) + 1; count > maxCompactOffsets {
			return 0, 0, false
		}
	}
	return pairs, runs, len(s) > 0
}

// runs returns s's runs, n bytes.
func (s offsetSet) runs(n int) []byte {
	out := make([]byte, 0, n)
	var end int64 = -1
	for _, r := range s {
		out = binary.AppendUvarint(out, uint64(r[0]-end-1))
		out = binary.AppendUvarint(out, uint64(r[1]-r[0]))
		end = r[1]
	}
	return out
}

// bits returns s's first offset and bitmap.
func (s offsetSet) bits() []byte {
	first := s[0][0]
	out := binary.AppendUvarint(nil, uint64(first))
	head := len(out)
	out = append(out, make([]byte, (s[len(s)-1][1]-first)/8+1)...)
	bitmap := out[head:]
	for _, r := range s {
		for o := r[0] - first; o <= r[1]-first; o++ {
			bitmap[o/8] |= 1 << (o % 8)
		}
	}
	return out
}

// UnmarshalJSON reads pairs or a compact form. A compact form that is not
// one (see errBadOffsets), or pairs of more than MaxRanges ranges, is an
// error.
func (s *offsetSet) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '"' {
		// Pairs are counted before they are decoded, so that too many are
		// refused before they take memory: the brackets of pairs that read
		// are the list's and one a pair.
		if n := bytes.Count(b, []byte("[")) - 1; n > MaxRanges {
			return fmt.Errorf("offsets: %d pairs, more than %d", n, MaxRanges)
		}
		var pairs [][2]int64
		if err := json.Unmarshal(b, &pairs); err != nil {
			return err
		}
		*s = pairs
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return err
	}
	var err error
	switch {
	case strings.HasPrefix(str, runsPrefix):
		*s, err = decode(str[len(runsPrefix):], fromRuns)
	case strings.HasPrefix(str, bitsPrefix):
		*s, err = decode(str[len(bitsPrefix):], fromBits)
	default:
		err = errors.New("unknown form")
	}
	if err != nil {
		return fmt.Errorf("offsets %.20q: %w", str, err)
	}
	return nil
}

// decode reads base64 text with from.
func decode(text string, from func([]byte) (offsetSet, error)) (offsetSet, error) {
	raw, err := b64.DecodeString(text)
	if err != nil {
		return nil, err
	}
	return from(raw)
}

// errBadOffsets is a compact form that is not one: cut short, past the
// largest offset less one, of no offset (an empty set is written [], never
// compact), or of more than maxCompactOffsets offsets.
var errBadOffsets = errors.New("malformed, empty, too many or out of range")

// fromRuns reads runs.
func fromRuns(raw []byte) (offsetSet, error) {
	var out offsetSet
	next := uint64(0) // the first offset the next range can start at
	var count uint64
	for r := bytes.NewReader(raw); r.Len() > 0; {
		gap, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, errBadOffsets
		}
		length, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, errBadOffsets
		}
		first, c1 := bits.Add64(next, gap, 0)
		last, c2 := bits.Add64(first, length, 0)
		if c1|c2 != 0 || last > math.MaxInt64-1 {
			return nil, errBadOffsets
		}
		if count += length + 1; count > maxCompactOffsets {
			return nil, errBadOffsets
		}
		if out == nil { // each range takes two bytes at least
			out = make(offsetSet, 0, len(raw)/2)
		}
		out = append(out, [2]int64{int64(first), int64(last)})
		next = last + 1
	}
	if len(out) == 0 {
		return nil, errBadOffsets
	}
	return out, nil
}

// fromBits reads a first offset and a bitmap.
func fromBits(raw []byte) (offsetSet, error) {
	first, n := binary.Uvarint(raw)
	if n <= 0 || first > math.MaxInt64-1 {
		return nil, errBadOffsets
	}
	room := math.MaxInt64 - 1 - first // the most an offset can be past first
	// The offsets and ranges are counted before any is kept, so that a
	// bitmap of too many is refused before its ranges take memory.
	count, ranges := 0, 0
	var prev byte // the byte before: a range starts at a set bit whose bit before is clear
	for _, b := range raw[n:] {
		count += bits.OnesCount8(b)
		ranges += bits.OnesCount8(b &^ (b<<1 | prev>>7))
		prev = b
	}
	if count == 0 || count > maxCompactOffsets {
		return nil, errBadOffsets
	}
	out := make(offsetSet, 0, ranges)
	for j, b := range raw[n:] {
		for i := range 8 {
			if b&(1<<i) == 0 {
				continue
			}
			if uint64(8*j+i) > room {
				return nil, errBadOffsets
			}
			o := int64(first) + int64(8*j+i)
			if k := len(out); k > 0 && out[k-1][1]+1 == o {
				out[k-1][1] = o
				continue
			}
			out = append(out, [2]int64{o, o})
		}
	}
	return out, nil
}

// digits is the length of v, not negative, in decimal.
func digits(v int64) int {
	n := 1
	for ; v >= 10; v /= 10 {
		n++
	}
	return n
}

// uvarintLen is the length of v as a uvarint.
func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }
