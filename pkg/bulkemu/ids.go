package bulkemu

import (
	"fmt"
	"strings"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// idPod is the two-character instance part and the reserved character of
// every id the emulator makes; only the key prefix and the counter vary.
const idPod = "8c0"

// makeID returns the 18-character id of the n-th record (n ≥ 1) whose object
// has the key prefix prefix: the 15-character case-sensitive id followed by
// Salesforce's three-character checksum, so clients that validate ids accept
// it.
func makeID(prefix string, n int64) string {
	var buf [18]byte
	return string(appendID(buf[:0], prefix, n))
}

// appendID appends the id makeID returns to dst. It writes the id in place
// and computes the counter's nine base-62 digits two at a time from
// base62Pairs (four divisions by 62², one by 62⁵), not one at a time (nine
// divisions by 62): a result file writes one id a row, and the digits were
// most of the id's cost.
func appendID(dst []byte, prefix string, n int64) []byte {
	start := len(dst)
	dst = append(dst, prefix...)
	dst = append(dst, idPod+"000000000000"...)
	id := dst[start:]
	// lo holds the counter's last five digits, hi the four before them (the
	// counter is n modulo 62⁹, as the digits of an id can hold).
	const pow5 = 62 * 62 * 62 * 62 * 62
	u := uint64(n)
	lo, hi := uint32(u%pow5), uint32(u/pow5%(62*62*62*62))
	putPair(id[13:], lo%(62*62))
	lo /= 62 * 62
	putPair(id[11:], lo%(62*62))
	id[10] = base62[lo/(62*62)]
	putPair(id[8:], hi%(62*62))
	putPair(id[6:], hi/(62*62))
	sum := checksum(id[:15])
	copy(id[15:], sum[:])
	return dst
}

// base62Pairs holds the two base-62 digits of each number below 62², at
// twice the number.
var base62Pairs = func() (pairs [2 * 62 * 62]byte) {
	for i := range 62 * 62 {
		pairs[2*i], pairs[2*i+1] = base62[i/62], base62[i%62]
	}
	return pairs
}()

// putPair writes the two base-62 digits of p (below 62²) to dst[0:2].
func putPair(dst []byte, p uint32) {
	dst[0], dst[1] = base62Pairs[2*p], base62Pairs[2*p+1]
}

// idChecksum computes the suffix that makes a 15-character id
// case-insensitive: one character per five-character chunk, whose bits mark
// the upper-case letters of the chunk.
func idChecksum(id15 string) string {
	sum := checksum(id15)
	return string(sum[:])
}

func checksum[S string | []byte](id15 S) [3]byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	var out [3]byte
	for chunk := 0; chunk < 3; chunk++ {
		flags := 0
		for j := 0; j < 5; j++ {
			if c := id15[chunk*5+j]; c >= 'A' && c <= 'Z' {
				flags |= 1 << j
			}
		}
		out[chunk] = alphabet[flags]
	}
	return out
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
