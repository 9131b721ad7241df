package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// waitDone waits for a replay's Run to return by itself.
func (r *running) waitDone(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-r.done:
		r.once.Do(func() {})
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(timeout):
		t.Fatalf("the replay did not end within %v", timeout)
	}
}

// Contacts fail because their account does not exist yet; the account
// arrives; a replay of the dead-letter topic filtered to that error code
// makes them succeed, each with a new result naming the dead-letter record
// it came from, and leaves the other failure alone, carried forward to the
// end of the topic; a second replay finds nothing to do; a replay with
// another filter still finds the failure the first ones passed over.
func TestReplayDeadLetters(t *testing.T) {
	w := newWorld(t, 2, bulkemu.Options{}, "crm.accounts", "crm.contacts")
	rr := w.readResults()
	routes := []Route{
		{Topics: []string{"crm.accounts"}, Decoder: event.NewEnvelopeDecoder(event.Defaults{})},
		{Topics: []string{"crm.contacts"}, Decoder: event.NewJSONDecoder(event.Defaults{Object: "Contact", Operation: event.Upsert, ExternalIDField: "External_Id__c"})},
	}
	contact := func(ext string, fields map[string]any) *kgo.Record {
		fields["External_Id__c"], fields["LastName"] = ext, "Contact "+ext
		v, _ := json.Marshal(fields)
		return &kgo.Record{Topic: "crm.contacts", Key: []byte(ext), Value: v, Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("crm")}}}
	}
	var records []*kgo.Record
	for i := range 5 {
		records = append(records, contact(fmt.Sprintf("C-%d", i), map[string]any{"Account.External_Id__c": "ACC-LATE"}))
	}
	records = append(records, contact("C-BAD", map[string]any{"Email": "not an address"}))
	w.produce(records...)
	run := w.start(w.options("main", routes...))
	rr.waitFor(t, len(records), 30*time.Second)
	results, dlq := rr.snapshot()
	if len(dlq) != len(records) {
		t.Fatalf("%d dead-letter copies, want %d", len(dlq), len(records))
	}
	missingParent := ""
	for _, rs := range results {
		if rs[0].Success {
			t.Fatalf("a contact without its account succeeded: %+v", rs[0])
		}
		if rs[0].Source.Offset >= 0 && missingParent == "" && rr.keys[rs[0].Source] != nil && string(rr.keys[rs[0].Source]) == "C-0" {
			missingParent = rs[0].ErrorCode
		}
	}
	t.Logf("a contact whose account is missing fails with %s", missingParent)
	w.produce(&kgo.Record{Topic: "crm.accounts", Key: []byte("ACC-LATE"),
		Value: envelope("Account", event.Upsert, "External_Id__c", map[string]any{"External_Id__c": "ACC-LATE", "Name": "Late"})})
	rr.waitFor(t, len(records)+1, 30*time.Second)
	run.shutdown(t)

	replayCode := func(code string) {
		opts := w.options("main-replay-"+testTopics.DeadLetter, routes...)
		opts.Replay = &Replay{Topic: testTopics.DeadLetter, Keep: func(r *ReplayRecord) bool { return r.ErrorCode == code }}
		w.start(opts).waitDone(t, 30*time.Second)
	}
	replay := func() { replayCode(missingParent) }
	replay()
	results, dlq = rr.snapshot()
	dlqAt := map[string]Source{} // key → dead-letter position of its first copy
	for _, r := range dlq[:len(records)] {
		dlqAt[string(r.Key)] = Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	}
	for src, rs := range results {
		key := string(rr.keys[src])
		switch {
		case src.Topic == "crm.accounts":
		case key == "C-BAD":
			if len(rs) != 1 {
				t.Errorf("C-BAD, filtered out, has %d results: %+v", len(rs), rs)
			}
		case len(rs) != 2 || !rs[1].Success || rs[1].ReplayOf == nil || *rs[1].ReplayOf != dlqAt[key] || rs[1].Source != src:
			t.Errorf("%s: results %+v, want a failure then a success replayed from %v", key, rs, dlqAt[key])
		}
	}
	var bad []*kgo.Record // C-BAD's copy and the one carried forward, in offset order
	for _, r := range dlq {
		if string(r.Key) == "C-BAD" {
			bad = append(bad, r)
		}
	}
	if len(dlq) != len(records)+1 || len(bad) != 2 || string(bad[1].Value) != string(bad[0].Value) ||
		header(bad[1], "__connect.errors.offset") != header(bad[0], "__connect.errors.offset") || bad[1].Offset <= bad[0].Offset {
		t.Fatalf("%d dead-letter copies after the replay, want %d (no new failure, C-BAD carried forward as it was)", len(dlq), len(records)+1)
	}
	linked := 0
	for _, r := range w.emu.Records("Contact") {
		if r.Fields["AccountId"] != "" {
			linked++
		}
	}
	if linked != 5 {
		t.Errorf("%d contacts linked to their account, want 5", linked)
	}
	// Committed to the end, but for the copy carried forward.
	carried := bad[1]
	ends, _ := kadm.NewClient(w.client()).ListEndOffsets(context.Background(), testTopics.DeadLetter)
	committed, _ := kadm.NewClient(w.client()).FetchOffsets(context.Background(), "main-replay-"+testTopics.DeadLetter)
	ends.Each(func(o kadm.ListedOffset) {
		want := o.Offset
		if o.Partition == carried.Partition {
			want = carried.Offset
		}
		if c, _ := committed.Lookup(o.Topic, o.Partition); want > 0 && c.At != want {
			t.Errorf("%s/%d: committed %d, want %d", o.Topic, o.Partition, c.At, want)
		}
	})

	// A second replay: nothing left.
	before := len(results)
	replay()
	time.Sleep(300 * time.Millisecond) // results it would have published
	results, _ = rr.snapshot()
	n := 0
	for _, rs := range results {
		n += len(rs)
	}
	if len(results) != before || n != len(records)+1+5 {
		t.Errorf("after a second replay: %d results for %d events, want %d for %d", n, len(results), len(records)+1+5, before)
	}

	// Another filter: C-BAD, passed over twice, is replayed (and fails
	// again, its address still invalid).
	_, dlq = rr.snapshot()
	var last *kgo.Record
	for _, r := range dlq {
		if string(r.Key) == "C-BAD" {
			last = r
		}
	}
	badCode := header(last, "sf.error.code")
	replayCode(badCode)
	rr.waitFor(t, before, time.Second)
	results, _ = rr.snapshot()
	for src, rs := range results {
		if string(rr.keys[src]) == "C-BAD" && (len(rs) != 2 || rs[1].ReplayOf == nil || rs[1].ReplayOf.Offset != last.Offset || rs[1].ErrorCode != badCode) {
			t.Errorf("C-BAD after a replay of %s: %+v, want a second result replayed from %s/%d/%d", badCode, rs, last.Topic, last.Partition, last.Offset)
		}
	}
}
