package pipeline

import (
	"hash/maphash"
	"strings"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// identities names the Salesforce record a change is about, the same way
// whichever operation the change is: an upsert by external id and a later
// update or delete by Id of the same record share one identity, so the
// pipeline keeps their order. It learns which Id belongs to which external
// id from the results of upserts and inserts, and keeps the most recent
// size pairs (least recently used go first). The same pairs, read the other
// way, resolve deletes by external id to the record's Id without a query.
// The main loop owns it.
//
// It is sized for hundreds of thousands of pairs: each is a fixed slot in
// one slice (the Id as 18 bytes, the object as a small number, links of the
// recency list as slot numbers) plus the identity string and two map
// entries keyed by hashes (the slot tells whether a hit is its own; a pair
// whose hash another takes is forgotten), and its place in the list of
// pending pairs, which is kept once it has grown: about 180 bytes in all
// (TestIDCacheEntrySize); nothing in it points into a result file's line
// or a buffer.
//
// Learning is lazy: learn only notes the pair (pending), and the maps take
// the pending pairs when something reads the cache, or when size of them
// wait while the maps hold pairs. Most streams name their records by
// external id and never read the cache, and a map of 100,000 pairs costs a
// cache miss an operation: put in one by one, a new pair takes six (look
// up its identity and Id, drop the least recently used pair's two entries,
// add its own two). size pending pairs make the cache anew from the most
// recent: two operations each (see rebuild), if something read the cache
// since its maps were made; if nothing did, the maps are dropped instead
// (empty), and once twice size pairs wait the older size are (dropOlder):
// learning costs an append then. Where a least-recently-used cache would
// keep older pairs in place of those learned twice among the most recent,
// it holds fewer pairs: never one a later learn undid, since a pair is
// only dropped with every older one. While they wait, pending pairs keep
// their identity strings, about 40 bytes more each, and an idPair: twice
// size of them hold about what size pairs in the maps do.
type identities struct {
	size    int
	objects map[string]uint16 // object name → its number in names
	names   []string
	// byID and byIdentity map the hashes of each live slot's Id and
	// identity to it, and nothing else: learn keeps one pair per Id and
	// per identity, and one per hash. Keys of 8 bytes that need no string
	// to compare make the tables half as large, and a lookup that misses
	// touches nothing but its group.
	seed       maphash.Seed
	hashMask   uint64           // all ones; tests narrow it to make hashes collide
	byID       map[uint64]int32 // hash of (object, 15-char Id) → slot
	byIdentity map[uint64]int32 // hash of identity → slot
	slots      []idSlot         // at most size; a slot is reused, never freed
	// head is the most recently used slot, tail the least; -1 when empty.
	head, tail int32
	free       int32 // the first slot that remove emptied, linked by next; -1 for none
	// pending are the pairs learned and not yet in the maps, oldest
	// first; at most twice size.
	pending []idPair
	read    bool // something looked an Id or identity up since the maps were last made (ofID, id)
}

// idPair is a pair as learned: an Id and the identity of its record.
type idPair struct {
	key      idKey
	suffix   [3]byte
	full     bool
	identity string
}

// idKey is a record's Id without its case-safe suffix, and its object.
type idKey struct {
	object uint16
	id     [15]byte
}

type idSlot struct {
	idPair
	prev, next int32 // towards head, towards tail; -1 at the ends
}

func newIdentities(size int) *identities {
	return &identities{
		size:       max(size, 1),
		objects:    map[string]uint16{},
		seed:       maphash.MakeSeed(),
		hashMask:   ^uint64(0),
		byID:       map[uint64]int32{},
		byIdentity: map[uint64]int32{},
		head:       -1,
		tail:       -1,
		free:       -1,
	}
}

// of returns the identity of c, "" for a change that names no record (a
// plain insert).
func (ids *identities) of(c *event.Change) string {
	rk := c.RecordKey()
	if id, ok := strings.CutPrefix(rk, "id="); ok {
		return ids.ofID(c.Object, id)
	}
	return identityByKey(c.Object, rk)
}

// identityByKey is the identity of the record of object with RecordKey
// rk when rk names it by external id; "" when it names it by Id (see
// ofID) or names no record.
func identityByKey(object, rk string) string {
	if rk == "" || strings.HasPrefix(rk, "id=") {
		return ""
	}
	return object + "/" + rk
}

// ofID returns the identity of the record of object with Salesforce Id id
// (15 or 18 characters): its identity by external id when the cache knows
// it, else its identity by Id.
func (ids *identities) ofID(object, id string) string {
	ids.lookup()
	if k, ok := ids.key(object, id, false); ok {
		if s, ok := ids.slotOfID(k); ok {
			ids.touch(s)
			return ids.slots[s].identity
		}
	}
	return object + "/id=" + id[:min(len(id), 15)]
}

// byID reports whether identity is object's identity by Id (see ofID),
// without building the prefix.
func byID(object, identity string) bool {
	rest, ok := strings.CutPrefix(identity, object)
	return ok && strings.HasPrefix(rest, "/id=")
}

// id returns the Salesforce Id of the record with the given identity (by
// external id), if it is known: 18 characters when Salesforce gave them.
func (ids *identities) id(identity string) (string, bool) {
	ids.lookup()
	s, ok := ids.slotOfIdentity(identity)
	if !ok {
		return "", false
	}
	ids.touch(s)
	sl := &ids.slots[s]
	if !sl.full {
		return string(sl.key.id[:]), true
	}
	return string(sl.key.id[:]) + string(sl.suffix[:]), true
}

// learn records that the record with Salesforce Id id (of object) has the
// given identity. Only identities by external id are worth keeping. The
// cache keeps the Id as bytes, so it never pins the line it was read
// from; identity is kept as given: the pipeline makes each identity a
// string of its own (see identityByKey), so it pins nothing larger. The
// pair waits in pending until the cache is read (see flush).
func (ids *identities) learn(object, id, identity string) {
	if len(id) < 15 || identity == "" || byID(object, identity) {
		return
	}
	k, ok := ids.key(object, id, true)
	if !ok {
		return
	}
	pair := idPair{key: k, identity: identity}
	if pair.full = len(id) >= 18; pair.full {
		copy(pair.suffix[:], id[15:18])
	}
	if len(ids.pending) == cap(ids.pending) {
		ids.growPending()
	}
	ids.pending = append(ids.pending, pair)
	switch {
	case len(ids.pending) < ids.size:
	case ids.read:
		ids.flush()
		ids.read = false
	case len(ids.slots) > 0:
		ids.empty()
	case len(ids.pending) >= 2*ids.size:
		ids.dropOlder()
	}
}

// growPending doubles pending's room, up to twice size, the most it holds:
// append grows a slice this large by a quarter at a time, thirty-odd
// copies on the way to 200,000 pairs, each into memory fresh from the
// system (a page fault a page), which cost more than the learning itself.
func (ids *identities) growPending() {
	grown := make([]idPair, len(ids.pending), min(max(2*cap(ids.pending), 1024), 2*ids.size))
	copy(grown, ids.pending)
	ids.pending = grown
}

// lookup readies the maps for a read: see flush.
func (ids *identities) lookup() {
	ids.flush()
	ids.read = true
}

// empty drops the maps' pairs, when size pairs wait and nothing has read
// the cache since the maps were last made: the pending pairs are all more
// recent, and as many as the cache holds.
func (ids *identities) empty() {
	ids.byID, ids.byIdentity = map[uint64]int32{}, map[uint64]int32{}
	ids.slots = nil
	ids.head, ids.tail, ids.free = -1, -1, -1
}

// dropOlder keeps the most recent size pending pairs, of a cache whose
// maps are empty, and drops the others.
func (ids *identities) dropOlder() {
	n := copy(ids.pending, ids.pending[len(ids.pending)-ids.size:])
	clear(ids.pending[n:]) // the identities
	ids.pending = ids.pending[:n]
}

// flush puts the pending pairs in the maps: one by one (put) when they are
// fewer than size, else by making the cache anew (rebuild). Everything
// that reads the maps calls it first (through lookup).
func (ids *identities) flush() {
	if len(ids.pending) >= ids.size {
		ids.rebuild()
	} else {
		for i := range ids.pending {
			ids.put(&ids.pending[i])
		}
	}
	clear(ids.pending) // the identities go with their slots
	ids.pending = ids.pending[:0]
}

// put learns one pair: it becomes the most recently used.
func (ids *identities) put(pair *idPair) {
	hi := ids.identityHash(pair.identity)
	s, ok := ids.byIdentity[hi]
	switch {
	case ok && ids.slots[s].key == pair.key && ids.slots[s].identity == pair.identity: // known: the commonest case after a cold start
		ids.touch(s)
	case ok:
		// The external id now belongs to another record (a re-create),
		// or another identity has its hash and is forgotten.
		ids.remove(s)
		fallthrough
	default:
		s = ids.place(pair.key, hi, pair.identity)
	}
	sl := &ids.slots[s]
	if sl.full = pair.full; sl.full {
		sl.suffix = pair.suffix
	}
}

// rebuild makes the cache anew from the pending pairs, most recent first,
// then from the pairs it held, most recently used first, until it holds
// size: a pair is kept unless a more recent pending pair has its Id or its
// identity (the later learn moved it, as put does), whether that pair was
// kept or not. With size pending pairs of new records nothing old is left;
// each pair costs two lookups and two insertions into maps made for size,
// not the six operations of put.
//
// The result is what put would leave, but for one case: put may have
// evicted an old pair to make room for a pair that a later learn then
// moved onto another's slot (a re-create); rebuild keeps the old pair
// instead, which is as true. Either way the cache never answers with a
// pair a later learn or forget undid (forget flushes first).
func (ids *identities) rebuild() {
	old, oldHead := ids.slots, ids.head
	ids.byID = make(map[uint64]int32, ids.size)
	ids.byIdentity = make(map[uint64]int32, ids.size)
	ids.slots = make([]idSlot, 0, ids.size)
	ids.head, ids.tail, ids.free = -1, -1, -1
	// The Ids and identities of the pending pairs that were not kept: they
	// undo older pairs as much as kept ones do. Rare: only re-creates and
	// repeated learns make them.
	// A hash taken stands for its pair: an older pair with that hash is
	// not kept (forgotten, as put does).
	var undoneIDs, undoneIdentities map[uint64]bool
	keep := func(pair *idPair) bool {
		hk, hi := ids.idHash(pair.key), ids.identityHash(pair.identity)
		_, taken := ids.byID[hk]
		if !taken {
			_, taken = ids.byIdentity[hi]
		}
		if !taken && undoneIDs != nil {
			taken = undoneIDs[hk] || undoneIdentities[hi]
		}
		if taken {
			return false
		}
		s := int32(len(ids.slots))
		ids.slots = append(ids.slots, idSlot{idPair: *pair, prev: ids.tail, next: -1})
		if ids.tail >= 0 {
			ids.slots[ids.tail].next = s
		} else {
			ids.head = s
		}
		ids.tail = s
		ids.byID[hk], ids.byIdentity[hi] = s, s
		return true
	}
	for i := len(ids.pending) - 1; i >= 0 && len(ids.slots) < ids.size; i-- {
		if pair := &ids.pending[i]; !keep(pair) {
			if undoneIDs == nil {
				undoneIDs, undoneIdentities = map[uint64]bool{}, map[uint64]bool{}
			}
			undoneIDs[ids.idHash(pair.key)], undoneIdentities[ids.identityHash(pair.identity)] = true, true
		}
	}
	for s := oldHead; s >= 0 && len(ids.slots) < ids.size; s = old[s].next {
		keep(&old[s].idPair)
	}
}

// place gives the pair (k, identity) a slot, at the head of the list: the
// slot of k if it has one (its identity changed), else a free slot, else
// the least recently used one's. hi is identity's hash, which no slot has.
func (ids *identities) place(k idKey, hi uint64, identity string) int32 {
	hk := ids.idHash(k)
	s, ok := ids.byID[hk]
	if ok && ids.slots[s].key != k {
		ids.remove(s) // another Id with the same hash: forgotten
		ok = false
	}
	switch {
	case ok:
		sl := &ids.slots[s]
		delete(ids.byIdentity, ids.identityHash(sl.identity))
		sl.identity = identity
		ids.touch(s)
	case ids.free >= 0:
		s, ids.free = ids.free, ids.slots[ids.free].next
		ids.fill(s, k, identity)
	case len(ids.slots) < ids.size:
		ids.slots = append(ids.slots, idSlot{})
		s = int32(len(ids.slots) - 1)
		ids.fill(s, k, identity)
	default:
		ids.remove(ids.tail)
		s, ids.free = ids.free, ids.slots[ids.free].next
		ids.fill(s, k, identity)
	}
	if !ok {
		ids.byID[hk] = s
	}
	ids.byIdentity[hi] = s
	return s
}

// forget drops what is known about the record with Id id (of object): it
// was deleted, so its external id no longer resolves to it.
func (ids *identities) forget(object, id string) {
	ids.flush() // not a read: a stream of upserts and deletes does not make it index every Id
	k, ok := ids.key(object, id, false)
	if !ok {
		return
	}
	if s, ok := ids.slotOfID(k); ok {
		ids.remove(s)
	}
}

// key makes the map key of an Id of object; an object seen for the first
// time gets a number when add is set. It is false for an Id shorter than
// 15 characters and for an object without a number.
func (ids *identities) key(object, id string, add bool) (idKey, bool) {
	var k idKey
	if len(id) < 15 {
		return k, false
	}
	n, ok := ids.objects[object]
	if !ok {
		if !add || len(ids.names) > 0xffff {
			return k, false
		}
		n = uint16(len(ids.names))
		ids.names = append(ids.names, object)
		ids.objects[object] = n
	}
	k.object = n
	copy(k.id[:], id)
	return k, true
}

// fill puts a pair in the unused slot s, at the head of the list; the
// caller maps it.
func (ids *identities) fill(s int32, k idKey, identity string) {
	ids.slots[s] = idSlot{idPair: idPair{key: k, identity: identity}, prev: -1, next: -1}
	ids.pushFront(s)
}

// slotOfID returns the live slot of the Id k.
func (ids *identities) slotOfID(k idKey) (int32, bool) {
	s, ok := ids.byID[ids.idHash(k)]
	return s, ok && ids.slots[s].key == k
}

// slotOfIdentity returns the live slot of identity.
func (ids *identities) slotOfIdentity(identity string) (int32, bool) {
	s, ok := ids.byIdentity[ids.identityHash(identity)]
	return s, ok && ids.slots[s].identity == identity
}

func (ids *identities) idHash(k idKey) uint64 {
	return (maphash.Bytes(ids.seed, k.id[:]) ^ uint64(k.object)*0x9e3779b97f4a7c15) & ids.hashMask
}

func (ids *identities) identityHash(identity string) uint64 {
	return maphash.String(ids.seed, identity) & ids.hashMask
}

// remove unlinks slot s and drops its map entries; the slot goes to the
// free list. put and place call it on a slot they fill again at once.
func (ids *identities) remove(s int32) {
	sl := &ids.slots[s]
	delete(ids.byID, ids.idHash(sl.key))
	delete(ids.byIdentity, ids.identityHash(sl.identity)) // a live slot's entries are its own (see place)
	ids.unlink(s)
	sl.identity = ""
	sl.next, ids.free = ids.free, s
}

func (ids *identities) touch(s int32) {
	if ids.head == s {
		return
	}
	ids.unlink(s)
	ids.pushFront(s)
}

func (ids *identities) pushFront(s int32) {
	sl := &ids.slots[s]
	sl.prev, sl.next = -1, ids.head
	if ids.head >= 0 {
		ids.slots[ids.head].prev = s
	}
	ids.head = s
	if ids.tail < 0 {
		ids.tail = s
	}
}

func (ids *identities) unlink(s int32) {
	sl := &ids.slots[s]
	if sl.prev >= 0 {
		ids.slots[sl.prev].next = sl.next
	} else {
		ids.head = sl.next
	}
	if sl.next >= 0 {
		ids.slots[sl.next].prev = sl.prev
	} else {
		ids.tail = sl.prev
	}
	sl.prev, sl.next = -1, -1
}
