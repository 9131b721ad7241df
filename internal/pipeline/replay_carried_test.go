package pipeline

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// A replay that stopped after carrying a record forward but before its
// position moved past the record leaves two copies; the next replay reads
// both, sends the record once and drops the copy. A carried copy whose
// record is behind the replay's position is the live one, and is sent.
func TestReplayDropsCarriedDuplicates(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts", testTopics.DeadLetter)
	rr := w.readResults()
	copyOf := func(offset, ext string, carriedFrom string) *kgo.Record {
		r := &kgo.Record{Topic: testTopics.DeadLetter, Key: []byte(ext),
			Value: envelope("Account", event.Upsert, "External_Id__c", map[string]any{"External_Id__c": ext, "Name": "Carried " + ext}),
			Headers: []kgo.RecordHeader{{Key: "__connect.errors.topic", Value: []byte("crm.accounts")}, {Key: "__connect.errors.partition", Value: []byte("0")},
				{Key: "__connect.errors.offset", Value: []byte(offset)}, {Key: "sf.error.code", Value: []byte("UNABLE_TO_LOCK_ROW")}}}
		if carriedFrom != "" {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderCarriedFrom, Value: []byte(carriedFrom)})
		}
		return r
	}
	// 0: a record; 1: its copy, carried forward by a replay that stopped.
	w.produce(copyOf("5", "A-1", ""), copyOf("5", "A-1", "0/0"))
	opts := w.options("dup-replay", Route{Topics: []string{"crm.accounts"}, Decoder: event.NewEnvelopeDecoder(event.Defaults{})})
	opts.Replay = &Replay{Topic: testTopics.DeadLetter}
	w.start(opts).waitDone(t, 30*time.Second)
	rr.waitFor(t, 1, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	results, _ := rr.snapshot()
	if rs := results[Source{"crm.accounts", 0, 5}]; len(results) != 1 || len(rs) != 1 || rs[0].ReplayOf == nil || rs[0].ReplayOf.Offset != 0 {
		t.Fatalf("results %+v, want one, replayed from %s/0/0", results, testTopics.DeadLetter)
	}

	// The group is past both now: a copy carried from offset 0 is live.
	w.produce(copyOf("6", "A-2", "0/0"))
	w.start(opts).waitDone(t, 30*time.Second)
	rr.waitFor(t, 2, 10*time.Second)
	results, _ = rr.snapshot()
	if rs := results[Source{"crm.accounts", 0, 6}]; len(rs) != 1 || !rs[0].Success || rs[0].ReplayOf == nil || rs[0].ReplayOf.Offset != 2 {
		t.Errorf("the live carried copy: %+v", rs)
	}
}
