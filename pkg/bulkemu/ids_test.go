package bulkemu

import "testing"

func TestIDChecksumMatchesSalesforce(t *testing.T) {
	// Ids taken from Salesforce's own documentation and captured responses.
	for _, id := range []string{"0018c00002FInboAAD", "0038c00002hMS4kAAG", "750R0000000zlh9IAA", "7502M00000aFzAIQA0"} {
		if got := id[:15] + idChecksum(id[:15]); got != id {
			t.Errorf("checksum of %s: got %s", id[:15], got)
		}
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
