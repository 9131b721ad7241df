package bulkemu

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

func TestIDChecksumMatchesSalesforce(t *testing.T) {
	// Ids taken from Salesforce's own documentation and captured responses.
	for _, id := range []string{"0018c00002FInboAAD", "0038c00002hMS4kAAG", "750R0000000zlh9IAA", "7502M00000aFzAIQA0"} {
		if got := id[:15] + idChecksum(id[:15]); got != id {
			t.Errorf("checksum of %s: got %s", id[:15], got)
		}
	}
}

// TestChecksumMarksUpperCaseLetters checks checksum, which reads 8 bytes at
// once, against its definition read a byte at a time: every byte value at
// every position, then ids of random bytes, with letters of both cases
// and bytes that are not ASCII (a parsed id's checksum is computed before
// its characters are checked), to catch a mark one byte leaks into the next.
func TestChecksumMarksUpperCaseLetters(t *testing.T) {
	want := func(id15 []byte) [3]byte {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
		var out [3]byte
		for i, c := range id15 {
			if c >= 'A' && c <= 'Z' {
				out[i/5] |= 1 << (i % 5)
			}
		}
		for i, flags := range out {
			out[i] = alphabet[flags]
		}
		return out
	}
	check := func(id15 []byte) {
		t.Helper()
		got := checksum(binary.LittleEndian.Uint64(id15), binary.LittleEndian.Uint64(id15[7:]))
		if w := want(id15); got != w {
			t.Fatalf("checksum(%q) = %q, want %q", id15, got[:], w[:])
		}
	}
	id15 := []byte("000000000000000")
	for i := range id15 {
		for c := range 256 {
			id15[i] = byte(c)
			check(id15)
		}
		id15[i] = '0'
	}
	const some = base62 + "@[`{\x00\x7f\x80\xc1\xda\xdb\xff"
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		for i := range id15 {
			id15[i] = some[rnd.IntN(len(some))]
		}
		check(id15)
	}
}

func TestMakeIDRoundTrips(t *testing.T) {
	for _, n := range []int64{1, 61, 62, 1_000_000, 13_537_086_546_263_551} {
		id := makeID("001", n)
		if len(id) != 18 {
			t.Fatalf("makeID(%d) = %q, want 18 characters", n, id)
		}
		prefix, got, err := parseID(id)
		if err != nil || prefix != "001" || got != n {
			t.Errorf("parseID(%s) = %s, %d, %v; want 001, %d", id, prefix, got, err, n)
		}
		if _, _, err := parseID(id[:15]); err != nil {
			t.Errorf("15-character form of %s refused: %v", id, err)
		}
	}
	if _, _, err := parseID("001" + idPod + "000000001XXX"); err == nil {
		t.Error("an id with a wrong checksum was accepted")
	}
	if prefix, n, err := parseID("0012M00000aFzAI" + idChecksum("0012M00000aFzAI")); err != nil || prefix != "001" || n != 0 {
		t.Errorf("an id of another instance: %s, %d, %v; want 001, 0 (no record), nil", prefix, n, err)
	}
}

// TestMakeIDRoundTripsAtEveryDigit checks appendID's digits, computed two at
// a time, where each digit changes: at 62^k - 1, 62^k and d·62^k for every
// position k and digit d, then at every counter up to 62³ + 1. parseID reads
// the nine digits back one at a time, and a counter has one string of nine
// base-62 digits, so the round trip fixes the id's every character.
func TestMakeIDRoundTripsAtEveryDigit(t *testing.T) {
	check := func(n int64) {
		t.Helper()
		id := makeID("001", n)
		if prefix, got, err := parseID(id); len(id) != 18 || err != nil || prefix != "001" || got != n {
			t.Fatalf("makeID(%d) = %q, read back as %s, %d, %v", n, id, prefix, got, err)
		}
	}
	for k, pow := 0, int64(1); k < 9; k, pow = k+1, pow*62 {
		if k > 0 {
			check(pow - 1)
		}
		for d := int64(1); d < 62; d++ {
			check(d * pow)
			check(d*pow + pow - 1)
		}
	}
	for n := int64(1); n <= 62*62*62+1; n++ {
		check(n)
	}
}

// BenchmarkAppendID measures the id a result file writes each row of a
// job of new records: the ids of 30,000 consecutive records appended to one
// line's buffer. It reports ns/id.
func BenchmarkAppendID(b *testing.B) {
	const ids = 30_000
	var line []byte
	for b.Loop() {
		for i := range int64(ids) {
			line = appendID(line[:0], "001", 1_000_000+i)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*ids), "ns/id")
}
