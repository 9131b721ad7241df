package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// Deletes by external id, end to end: resolved from the id cache when an
// upsert of this pipeline taught it the Id (no query job), by a query job
// for records the cache does not know (created by an earlier run), from
// envelopes and from json tombstones; a key of no record fails with
// BULKSTREAM_NOT_FOUND, and a hardDelete without the permission fails
// saying which.
func TestDeleteByExternalID(t *testing.T) {
	w := newWorld(t, 2, bulkemu.Options{}, "crm.accounts", "crm.account-keys")
	rr := w.readResults()
	routes := []Route{
		{Topics: []string{"crm.accounts"}, Decoder: event.NewEnvelopeDecoder(event.Defaults{})},
		{Topics: []string{"crm.account-keys"}, Decoder: event.NewJSONDecoder(event.Defaults{Object: "Account", Operation: event.Upsert, ExternalIDField: "External_Id__c"})},
	}
	upsert := func(ext string) *kgo.Record {
		return &kgo.Record{Topic: "crm.accounts", Key: []byte(ext), Value: envelope("Account", event.Upsert, "External_Id__c", map[string]any{"External_Id__c": ext, "Name": "Account " + ext})}
	}
	del := func(op event.Operation, ext string) *kgo.Record { // keyed as the upsert, so on its partition
		return &kgo.Record{Topic: "crm.accounts", Key: []byte(strings.ToUpper(ext)), Value: envelope("Account", op, "External_Id__c", map[string]any{"External_Id__c": ext})}
	}
	queryJobs := func(sf *bulk.Client) int {
		n := 0
		for _, err := range sf.ListQueryJobs(context.Background(), bulk.ListOptions{JobType: "V2Query"}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}

	// A first run creates A-1 … A-4 and stops: the next run's cache does
	// not know them.
	first := w.start(w.options("deletes", routes...))
	w.produce(upsert("A-1"), upsert("A-2"), upsert("A-3"), upsert("A-4"), upsert(`Q'1\Z"`))
	rr.waitFor(t, 5, 30*time.Second)
	first.shutdown(t)

	opts := w.options("deletes", routes...)
	run := w.start(opts)
	// Cache hits: an upsert, then deletes of its record, in one stream.
	w.produce(upsert("B-1"), upsert("B-2"), del(event.Delete, "B-1"), del(event.Delete, "b-2"))
	rr.waitFor(t, 9, 30*time.Second)
	if n := queryJobs(opts.Salesforce); n != 0 {
		t.Errorf("deletes of records the cache knows ran %d query jobs, want none", n)
	}
	// Misses, a tombstone, an unknown key, a value that needs escaping, and
	// a hardDelete the org does not allow.
	w.produce(del(event.Delete, "A-1"),
		&kgo.Record{Topic: "crm.account-keys", Key: []byte("A-2")}, // a tombstone
		del(event.Delete, "NO-SUCH"), del(event.Delete, `O'Brien\x`),
		del(event.HardDelete, "A-3"), del(event.Delete, `q'1\z"`))
	rr.waitFor(t, 15, 30*time.Second)
	run.shutdown(t)
	if n := queryJobs(opts.Salesforce); n == 0 {
		t.Error("deletes of records the cache does not know ran no query job")
	}

	results, dlq := rr.snapshot()
	byKey := map[string]Result{}
	for src, rs := range results {
		if len(rs) != 1 {
			t.Errorf("%v: %d results, want 1: %+v", src, len(rs), rs)
		}
		r := rs[0]
		byKey[fmt.Sprintf("%s %s", r.Operation, rr.keys[src])] = r
	}
	for _, k := range []string{"delete B-1", "delete B-2", "delete A-1", "delete A-2", `delete Q'1\Z"`} {
		if r := byKey[k]; !r.Success || r.ID == nil {
			t.Errorf("%s: %+v, want a success with the record's Id", k, r)
		}
	}
	for _, k := range []string{"delete NO-SUCH", `delete O'BRIEN\X`} {
		if r := byKey[k]; r.Success || r.ErrorCode != CodeNotFound || r.JobID != "" {
			t.Errorf("%s: %+v, want %s", k, r, CodeNotFound)
		}
	}
	if r := byKey["hardDelete A-3"]; r.Success || !strings.EqualFold(r.ErrorCode, "FEATURENOTENABLED") || !strings.Contains(r.Error, `"Bulk API Hard Delete" permission`) {
		t.Errorf("hardDelete A-3: %+v, want FEATURENOTENABLED naming the permission", r)
	}
	if len(dlq) != 3 {
		t.Errorf("%d dead-letter copies, want 3 (two not found, one hardDelete)", len(dlq))
	}

	deleted := map[string]bool{}
	for _, r := range w.emu.Records("Account") {
		deleted[r.Fields["External_Id__c"]] = r.Deleted
	}
	want := map[string]bool{"A-1": true, "A-2": true, "A-3": false, "A-4": false, "B-1": true, "B-2": true, `Q'1\Z"`: true}
	for ext, d := range want {
		if got, ok := deleted[ext]; !ok || got != d {
			t.Errorf("%s: deleted %v (exists %v), want deleted %v", ext, got, ok, d)
		}
	}
	w.committedAtEnd("deletes", "crm.accounts", "crm.account-keys")
}

// Many values are cut into queries Salesforce accepts (at most 100,000
// characters each), and values that need escaping survive the trip.
func TestQueryIDsChunks(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	opts := w.options("chunks", Route{Topics: []string{"crm.accounts"}, Decoder: event.NewEnvelopeDecoder(event.Defaults{})})
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]bool{}
	for i := range 6000 {
		values[strings.ToLower(fmt.Sprintf(`v-%05d-'quoted' \ "double" %s`, i, strings.Repeat("x", 10)))] = true
	}
	found, err := p.queryIDs(context.Background(), "Account", "External_Id__c", values, false)
	if err != nil || len(found) != 0 {
		t.Fatalf("queryIDs: %v, %d found", err, len(found))
	}
	n := 0
	for _, err := range opts.Salesforce.ListQueryJobs(context.Background(), bulk.ListOptions{JobType: "V2Query"}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 3 {
		t.Errorf("%d query jobs for %d values of about 40 characters, want at least 3", n, len(values))
	}
}
