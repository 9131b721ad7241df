package pipeline

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// The id cache costs what the README says per entry (about 180 bytes with
// external ids of 20-odd characters, up to about 210 while as many new
// pairs wait to be put in, and a cache that nothing reads no more), and an
// entry keeps only its own Id, not the result line it was read from.
func TestIDCacheEntrySize(t *testing.T) {
	const n = 100_000
	for _, c := range []struct {
		waiting int
		read    bool // looked up once, after n learns
		limit   int64
	}{{0, true, 200}, {n - 1, true, 250}, {2*n - 1, false, 250}} {
		per := int64(0)
		for range 3 { // the largest of three: garbage of the test itself can only hide bytes
			per = max(per, idCacheBytes(t, n, c.waiting, c.read)/n)
		}
		t.Logf("%d bytes per entry with %d pairs waiting (read: %v)", per, c.waiting, c.read)
		if per > c.limit {
			t.Errorf("%d bytes per id cache entry with %d pairs waiting; the README says less", per, c.waiting)
		}
	}
}

// idCacheBytes is the heap that a cache of n entries holds with waiting
// more pairs learned and not yet put in; read looks the cache up between
// the first n and the others, which puts them in the maps.
func idCacheBytes(t *testing.T, n, waiting int, read bool) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	ids := newIdentities(n)
	learn := func(i int) {
		line := fmt.Sprintf("001%012dAAA,true,%0200d", i, 0) // a result line: the Id is a slice of it
		ids.learn("Account", line[:18], fmt.Sprintf("Account/external_id__c=r-%d", i))
	}
	for i := range n {
		learn(i)
	}
	if read {
		ids.id("Account/external_id__c=r-0")
	}
	for i := range waiting {
		learn(n + i)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	inMaps := 0
	if read {
		inMaps = n
	}
	if len(ids.byID) != inMaps || len(ids.pending) != waiting {
		t.Fatalf("%d entries and %d waiting, want %d and %d", len(ids.byID), len(ids.pending), inMaps, waiting)
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

// Learning is lazy (pairs wait, then go in one by one or make the cache
// anew), and neither way changes what the cache answers: without
// re-creates it holds exactly the size most recently used pairs, as a
// least-recently-used cache put in one by one does, but for what it drops
// without putting in, when nothing reads it (see identities.empty and
// dropOlder): whole, the pairs older than the most recent size learned.
// Reads come as often as learns in some rounds, one in twenty in others.
func TestIDCacheKeepsTheMostRecentlyUsed(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 400 {
		size := 1 + rng.IntN(8)
		ids := newIdentities(size)
		// The model: a least-recently-used list, most recent first, at
		// most size, and the learns not yet in it, oldest first.
		var recent, waiting []int
		read := false
		use := func(i int) {
			recent = slices.DeleteFunc(recent, func(j int) bool { return j == i })
			recent = slices.Insert(recent, 0, i)
			recent = recent[:min(len(recent), size)]
		}
		flush := func() {
			for _, i := range waiting {
				use(i)
			}
			waiting = nil
		}
		readOdds := 2 + 18*(round%2)
		for op := range 80 {
			i := rng.IntN(3 * size)
			if rng.IntN(readOdds) > 0 {
				ids.learn("Account", testID(i), testIdentity(i))
				waiting = append(waiting, i)
				switch {
				case len(waiting) < size:
				case read:
					flush()
					read = false
				case len(recent) > 0:
					recent = nil
				case len(waiting) >= 2*size:
					waiting = slices.Clone(waiting[len(waiting)-size:])
				}
				continue
			}
			flush()
			read = true
			_, ok := ids.id(testIdentity(i))
			if want := slices.Contains(recent, i); ok != want {
				t.Fatalf("round %d (size %d), op %d: id(%s) found %v, want %v (most recent first: %v)", round, size, op, testIdentity(i), ok, want, recent)
			}
			if ok {
				use(i)
			}
		}
	}
}

// With re-creates (an external id moving to a new Id, an Id learned with
// another external id) and deletes among the learns, the cache never
// answers with a pair that a later learn or forget undid; nor when hashes
// collide (every other round, hashes of 2 bits), where it forgets more.
func TestIDCacheNeverAnswersWhatWasUndone(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 1200 {
		size := 1 + rng.IntN(6)
		ids := newIdentities(size)
		if round%2 == 1 {
			ids.hashMask = 3
		}
		// Lookups and forgets come often in some rounds, seldom in
		// others, where many learns pass with nothing read and the
		// cache drops its maps and its older pending pairs.
		odds := []int{4, 16, 64}[round%3]
		identityOf := map[int]int{} // the truth: Id → external id
		idOf := map[int]int{}       // external id → Id
		unbind := func(id int) {
			if e, ok := identityOf[id]; ok {
				delete(idOf, e)
				delete(identityOf, id)
			}
		}
		for op := range 120 {
			id, ext := rng.IntN(2*size+2), rng.IntN(2*size+2)
			switch k := rng.IntN(odds); {
			case k >= 2:
				ids.learn("Account", testID(id), testIdentity(ext))
				unbind(id)
				if old, ok := idOf[ext]; ok {
					unbind(old)
				}
				identityOf[id], idOf[ext] = ext, id
				if len(ids.pending) > 2*size || len(ids.slots) > size {
					t.Fatalf("round %d, op %d: %d pairs waiting and %d slots, want at most %d and %d", round, op, len(ids.pending), len(ids.slots), 2*size, size)
				}
			case k == 1:
				ids.forget("Account", testID(id))
				unbind(id)
			default:
				if got, ok := ids.id(testIdentity(ext)); ok {
					if want, bound := idOf[ext]; !bound || got != testID(want) {
						t.Fatalf("round %d, op %d: id(%s) = %s, but the truth is %v", round, op, testIdentity(ext), got, idOf)
					}
				}
				got := ids.ofID("Account", testID(id))
				if e, ok := identityOf[id]; got != "Account/id="+testID(id)[:15] && (!ok || got != testIdentity(e)) {
					t.Fatalf("round %d, op %d: ofID(%s) = %s, but the truth is %v", round, op, testID(id), got, identityOf)
				}
			}
		}
	}
}

func testID(i int) string       { return fmt.Sprintf("001%012dAB%d", i, i%10) }
func testIdentity(i int) string { return fmt.Sprintf("Account/ext__c=%d", i) }

// BenchmarkIDCacheLearn learns the Ids of new records, as a stream of
// upserts of distinct records does, into a cache of the default size that
// is already full: the cost of learning an Id in the steady state.
func BenchmarkIDCacheLearn(b *testing.B) {
	const size = 100_000
	const n = 1 << 20
	idents := make([]string, n)
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("001%012dAAA", i)
		idents[i] = fmt.Sprintf("Account/external_id__c=ext-%d", i)
	}
	cache := newIdentities(size)
	for i := range size {
		cache.learn("Account", ids[i], idents[i])
	}
	b.ResetTimer()
	for i := range b.N {
		k := (size + i) % n
		cache.learn("Account", ids[k], idents[k])
	}
}

// BenchmarkIDCacheLearnFromEmpty learns the Ids of 1,000,000 new records
// into an empty cache of the default size, as a connector's first million
// upserts do: the waiting pairs' slice grows to twice the size on the way
// (ns/op is per Id).
func BenchmarkIDCacheLearnFromEmpty(b *testing.B) {
	const n = 1_000_000
	idents := make([]string, n)
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("001%012dAAA", i)
		idents[i] = fmt.Sprintf("Account/external_id__c=ext-%d", i)
	}
	var cache *identities
	b.ResetTimer()
	for i := range b.N {
		if i%n == 0 {
			cache = newIdentities(100_000)
		}
		cache.learn("Account", ids[i%n], idents[i%n])
	}
}
