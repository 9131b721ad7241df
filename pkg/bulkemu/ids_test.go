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
