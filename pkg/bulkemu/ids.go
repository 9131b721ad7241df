package bulkemu

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/bulkstream/bulkstream/internal/words"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// idPod is the two-character instance part and the reserved character of
// every id the emulator makes; only the key prefix and the counter vary.
const idPod = "8c0"

// makeID returns the 18-character id of the n-th record (n ≥ 1) whose object
// has the key prefix prefix (3 characters): the 15-character case-sensitive
// id followed by Salesforce's three-character checksum, so clients that
// validate ids accept it.
func makeID(prefix string, n int64) string {
	var buf [18]byte
	return string(appendID(buf[:0], prefix, n))
}

// appendID appends the id makeID returns to dst. A result file writes one
// id a row, so appendID makes it in two words in registers (head, the
// first 8 bytes, and tail, bytes 7 to 14, little-endian), stores each at
// once and finds the checksum's upper-case letters in them: the id's bytes
// stored one at a time and read back for the checksum stalled the load
// that found its stores not yet written. The counter's nine base-62 digits
// come two at a time from base62Pairs (in 64 bits a division by 62⁵ and
// its remainder, then a remainder by 62⁴; in 32 bits three divisions by
// 62², each with its remainder), not from nine divisions by 62.
func appendID(dst []byte, prefix string, n int64) []byte {
	// lo holds the counter's last five digits, hi the four before them (the
	// counter is n modulo 62⁹, as the digits of an id can hold).
	const pow5 = 62 * 62 * 62 * 62 * 62
	u := uint64(n)
	lo, hi := uint32(u%pow5), uint32(u/pow5%(62*62*62*62))
	p6, p8 := uint64(base62Pairs[hi/(62*62)]), uint64(base62Pairs[hi%(62*62)])
	p13 := uint64(base62Pairs[lo%(62*62)])
	lo /= 62 * 62
	p11, d10 := uint64(base62Pairs[lo%(62*62)]), uint64(base62[lo/(62*62)])
	head := uint64(prefix[0]) | uint64(prefix[1])<<8 | uint64(prefix[2])<<16 |
		uint64(idPod[0])<<24 | uint64(idPod[1])<<32 | uint64(idPod[2])<<40 | p6<<48
	tail := p6>>8 | p8<<8 | d10<<24 | p11<<32 | p13<<48
	start := len(dst)
	dst = slices.Grow(dst, 18)[:start+18]
	id := dst[start:]
	binary.LittleEndian.PutUint64(id, head)
	binary.LittleEndian.PutUint64(id[7:], tail)
	sum := checksum(head, tail)
	id[15], id[16], id[17] = sum[0], sum[1], sum[2]
	return dst
}

// base62Pairs holds the two base-62 digits of each number below 62², the
// first in the low byte, as they are stored little-endian.
var base62Pairs = func() (pairs [62 * 62]uint16) {
	for i := range pairs {
		pairs[i] = uint16(base62[i/62]) | uint16(base62[i%62])<<8
	}
	return pairs
}()

// idChecksum computes the suffix that makes a 15-character id
// case-insensitive: one character per five-character chunk, whose bits mark
// the upper-case letters of the chunk.
func idChecksum(id15 string) string {
	var b [15]byte
	copy(b[:], id15)
	sum := checksum(binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[7:]))
	return string(sum[:])
}

// checksum returns idChecksum of the 15 bytes whose first 8 are head and
// last 8 tail (the two share byte 7), little-endian. It finds the
// upper-case letters 8 bytes at once, not byte by byte: it was half of
// appendID's instructions, and its branch a byte mispredicted on a
// counter's digits.
func checksum(head, tail uint64) [3]byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	bits := upperBits(head) | upperBits(tail)<<7
	return [3]byte{alphabet[bits&31], alphabet[bits>>5&31], alphabet[bits>>10&31]}
}

// upperBits returns the upper-case ASCII letters among the 8 bytes of w,
// little-endian, as the bits of a byte: bit i is set if byte i is one.
// Within each byte of y (w without the high bits, so that no sum carries
// into the next byte), y + (0x80-'A') reaches 0x80 from 'A' on and
// y + (0x80-'Z'-1) from after 'Z'; a byte whose high bit w sets is no
// letter. The multiplication moves the high bit of byte i (bit 8i, once
// shifted) to bit 56+i, and no other product lands in the top byte.
func upperBits(w uint64) uint {
	const ones, highs = words.Ones, words.Highs // see package words
	y := w &^ highs
	marks := (y + (0x80-'A')*ones) &^ (y + (0x80-'Z'-1)*ones) &^ w & highs
	return uint((marks >> 7) * 0x0102040810204080 >> 56)
}

// parseID splits a 15- or 18-character id into its key prefix and record
// counter. It fails for anything that is not a well-formed Salesforce id,
// including an 18-character id whose checksum does not match. A
// well-formed id of another instance (one this emulator did not make) has
// counter 0, which names no record.
func parseID(id string) (prefix string, n int64, err error) {
	switch len(id) {
	case 18:
		if !strings.EqualFold(idChecksum(id[:15]), id[15:]) {
			return "", 0, fmt.Errorf("bad checksum")
		}
	case 15:
	default:
		return "", 0, fmt.Errorf("bad length")
	}
	for i := 0; i < 15; i++ {
		d := strings.IndexByte(base62, id[i])
		if d < 0 {
			return "", 0, fmt.Errorf("bad character")
		}
		if i >= 6 {
			n = n*62 + int64(d)
		}
	}
	if id[3:6] != idPod {
		return id[:3], 0, nil
	}
	return id[:3], n, nil
}

// id15 returns the case-sensitive 15-character form of an 18-character id,
// which is how Salesforce names jobs inside some error messages.
func id15(id string) string {
	if len(id) > 15 {
		return id[:15]
	}
	return id
}
