package pipeline

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// The id cache costs what the README says per entry (about 160 bytes with
// external ids of 20-odd characters), and an entry keeps only its own Id,
// not the result line it was read from.
func TestIDCacheEntrySize(t *testing.T) {
	const n = 100_000
	per := int64(0)
	for range 3 { // the largest of three: garbage of the test itself can only hide bytes
		per = max(per, idCacheBytes(t, n)/n)
	}
	t.Logf("%d bytes per entry", per)
	if per > 200 {
		t.Fatalf("%d bytes per id cache entry; the README says about 160", per)
	}
}

// idCacheBytes is the heap that a cache of n entries holds.
func idCacheBytes(t *testing.T, n int) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	ids := newIdentities(n)
	for i := range n {
		line := fmt.Sprintf("001%012dAAA,true,%0200d", i, 0) // a result line: the Id is a slice of it
		ids.learn("Account", line[:18], fmt.Sprintf("Account/external_id__c=r-%d", i))
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if len(ids.byID) != n {
		t.Fatalf("%d entries, want %d", len(ids.byID), n)
	}
	runtime.KeepAlive(ids)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

// The cache keeps the most recently used pairs, moves an external id to the
// record that now has it, and reuses what a delete freed.
func TestIDCacheRecency(t *testing.T) {
	ids := newIdentities(3)
	id := func(i int) string { return fmt.Sprintf("001%012dAB%d", i, i%10) } // 18 characters
	ident := func(i int) string { return fmt.Sprintf("Account/ext__c=%d", i) }
	for i := range 3 {
		ids.learn("Account", id(i), ident(i))
	}
	if got, ok := ids.id(ident(0)); !ok || got != id(0) { // 0 is now the most recent
		t.Fatalf("id(%s) = %q, %v; want %q", ident(0), got, ok, id(0))
	}
	ids.learn("Account", id(3), ident(3)) // evicts 1, the least recently used
	if _, ok := ids.id(ident(1)); ok {
		t.Errorf("%s still cached after eviction", ident(1))
	}
	for _, i := range []int{0, 2, 3} {
		if got, ok := ids.id(ident(i)); !ok || got != id(i) {
			t.Errorf("id(%s) = %q, %v; want %q", ident(i), got, ok, id(i))
		}
	}

	// An update by Id (15 characters) is about the record of the external id.
	upd := &event.Change{Object: "Account", Operation: event.Update, Fields: []event.Field{{Name: "Id", Value: event.Text(id(2)[:15])}}}
	if got := ids.of(upd); got != ident(2) {
		t.Errorf("of(update by Id) = %q, want %q", got, ident(2))
	}
	// The same Id on another object is another record.
	other := &event.Change{Object: "Contact", Operation: event.Update, Fields: []event.Field{{Name: "Id", Value: event.Text(id(2))}}}
	if got := ids.of(other); got != "Contact/id="+id(2)[:15] {
		t.Errorf("of(Contact update) = %q", got)
	}

	// A re-create: the external id now names a new record.
	ids.learn("Account", id(9), ident(3))
	if got, _ := ids.id(ident(3)); got != id(9) {
		t.Errorf("after re-create id(%s) = %q, want %q", ident(3), got, id(9))
	}
	// A delete frees a slot, which the next pair takes without evicting.
	ids.forget("Account", id(0))
	if _, ok := ids.id(ident(0)); ok {
		t.Errorf("%s cached after its record was deleted", ident(0))
	}
	ids.learn("Account", id(5), ident(5))
	for _, i := range []int{2, 5} {
		if _, ok := ids.id(ident(i)); !ok {
			t.Errorf("%s evicted although a slot was free", ident(i))
		}
	}
	if got, _ := ids.id(ident(3)); got != id(9) {
		t.Errorf("id(%s) = %q, want %q", ident(3), got, id(9))
	}
	if len(ids.byID) != 3 || len(ids.byIdentity) != 3 {
		t.Errorf("%d Ids and %d identities cached, want 3 each", len(ids.byID), len(ids.byIdentity))
	}
}

// The decode workers make a change's record key and its identity by
// external id in one string: they are RecordKey and what ids.of gives, for
// every kind of change.
func TestDecodedKeyAndIdentity(t *testing.T) {
	route := &Route{Decoder: event.NewEnvelopeDecoder(event.Defaults{})}
	for _, value := range []string{
		`{"object": "Account", "operation": "upsert", "externalIdField": "External_Id__c", "fields": {"External_Id__c": "A-1", "Name": "x"}}`,
		`{"object": "Account", "operation": "upsert", "externalIdField": "External_Id__c", "fields": {"External_Id__c": "ÄÖ-Straße", "Name": "x"}}`,
		`{"object": "Contact", "operation": "update", "fields": {"Id": "003000000000001AAA", "LastName": "x"}}`,
		`{"object": "Contact", "operation": "delete", "externalIdField": "Code__c", "fields": {"Code__c": "C-9"}}`,
		`{"object": "Account", "operation": "insert", "fields": {"Name": "x"}}`,
	} {
		a := ahead{src: event.Source{Value: []byte(value)}}
		a.decode(route, new(event.Change))
		if a.err != nil {
			t.Fatalf("%s: %v", value, a.err)
		}
		if want := a.c.RecordKey(); a.key != want {
			t.Errorf("%s: key %q, want %q", value, a.key, want)
		}
		if want := identityByKey(a.c.Object, a.c.RecordKey()); a.identity != want {
			t.Errorf("%s: identity %q, want %q", value, a.identity, want)
		}
	}
}
