package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// Salesforce does not keep row order in result files. The emulator lists
// them internal batch by internal batch in a seeded order; with batches of
// 7 rows every job's results come back shuffled, and each event must still
// get its own row's outcome: upserts matched by external id, plain inserts
// by content, failures with their own value in the message.
func TestShuffledResultFiles(t *testing.T) {
	const upserts, inserts = 300, 200
	w := newWorld(t, 2, bulkemu.Options{BatchSize: 7, LockWait: 10 * time.Second, Faults: bulkemu.Faults{Seed: 3}}, "crm.accounts", "crm.leads")
	var records []*kgo.Record
	badAccount := func(i int) bool { return i%13 == 5 }
	badLead := func(i int) bool { return i%11 == 4 }
	for i := 0; i < upserts; i++ {
		ext := fmt.Sprintf("ACC-%03d", i)
		fields := map[string]any{"External_Id__c": ext, "Name": fmt.Sprintf("Account %d", i), "NumberOfEmployees": i}
		if badAccount(i) {
			fields["NumberOfEmployees"] = fmt.Sprintf("many%d", i)
		}
		records = append(records, &kgo.Record{Topic: "crm.accounts", Key: []byte(fmt.Sprint(i)), Value: envelope("Account", event.Upsert, "External_Id__c", fields)})
	}
	for i := 0; i < inserts; i++ {
		fields := map[string]any{"LastName": fmt.Sprintf("Lead %d", i), "Company": "Acme", "NumberOfEmployees": i}
		if badLead(i) {
			fields["NumberOfEmployees"] = fmt.Sprintf("lots%d", i)
		}
		records = append(records, &kgo.Record{Topic: "crm.leads", Key: []byte(fmt.Sprint(i)), Value: envelope("Lead", event.Insert, "", fields)})
	}
	w.produce(records...)
	rr := w.readResults()
	r := w.start(w.options("shuffle", Route{Topics: []string{"crm.accounts", "crm.leads"}, Decoder: event.NewEnvelopeDecoder(event.Defaults{})}))
	rr.waitFor(t, upserts+inserts, 60*time.Second)
	r.shutdown(t)
	results, _ := rr.snapshot()

	ids := map[string]string{} // External_Id__c or LastName → Id
	for _, rec := range w.emu.Records("Account") {
		ids[rec.Fields["External_Id__c"]] = rec.ID
	}
	for _, rec := range w.emu.Records("Lead") {
		ids[rec.Fields["LastName"]] = rec.ID
	}
	keys := w.inputKeys(upserts+inserts, "crm.accounts", "crm.leads")
	checked := 0
	for src, res := range results {
		if len(res) != 1 {
			t.Errorf("%v: %d results, want 1", src, len(res))
			continue
		}
		got := res[0]
		var i int
		if _, err := fmt.Sscanf(keys[src], "%d", &i); err != nil {
			t.Fatalf("%v: input key %q", src, keys[src])
		}
		key, bad := fmt.Sprintf("ACC-%03d", i), ""
		if src.Topic == "crm.accounts" && badAccount(i) {
			bad = fmt.Sprintf("'many%d'", i)
		}
		if src.Topic == "crm.leads" {
			key = fmt.Sprintf("Lead %d", i)
			if badLead(i) {
				bad = fmt.Sprintf("'lots%d'", i)
			}
		}
		checked++
		if bad != "" {
			if got.Success || got.ErrorCode != "INVALID_FIELD" || !strings.Contains(got.Error, bad) || got.ID != nil {
				t.Errorf("%s: %+v, want INVALID_FIELD naming %s", key, got, bad)
			}
			continue
		}
		if !got.Success || got.ID == nil || *got.ID != ids[key] || !got.Created {
			t.Errorf("%s: %+v, want created as %s", key, got, ids[key])
		}
	}
	if checked != upserts+inserts {
		t.Fatalf("%d events checked, want %d", checked, upserts+inserts)
	}
}

// inputKeys reads the first n records of topics back and returns each
// one's key by its position.
func (w *world) inputKeys(n int, topics ...string) map[Source]string {
	w.t.Helper()
	cl := w.client(kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys := map[Source]string{}
	for len(keys) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			keys[Source{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}] = string(r.Key)
		})
	}
	if len(keys) < n {
		w.t.Fatalf("read back %d of %d input records", len(keys), n)
	}
	return keys
}
