package pipeline

import (
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
// entries, about 150 bytes in all; nothing in it points into a result
// file's line or a buffer.
type identities struct {
	size    int
	objects map[string]uint16 // object name → its number in names
	names   []string
	// byID and byIdentity map each live slot's Id and identity to it, and
	// nothing else: learn keeps one pair per Id and per identity.
	byID       map[idKey]int32  // (object, 15-char Id) → slot
	byIdentity map[string]int32 // identity → slot
	slots      []idSlot         // at most size; a slot is reused, never freed
	// head is the most recently used slot, tail the least; -1 when empty.
	head, tail int32
	free       int32 // the first slot that remove emptied, linked by next; -1 for none
}

// idKey is a record's Id without its case-safe suffix, and its object.
type idKey struct {
	object uint16
	id     [15]byte
}

type idSlot struct {
	key        idKey
	suffix     [3]byte // the last 3 characters of the 18-character Id, if given
	full       bool    // the Id came with its suffix
	identity   string  // object/external id field=value, folded
	prev, next int32   // towards head, towards tail; -1 at the ends
}

func newIdentities(size int) *identities {
	return &identities{
		size:       max(size, 1),
		objects:    map[string]uint16{},
		byID:       map[idKey]int32{},
		byIdentity: map[string]int32{},
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
	if k, ok := ids.key(object, id, false); ok {
		if s, ok := ids.byID[k]; ok {
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
	s, ok := ids.byIdentity[identity]
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
// string of its own (see identityByKey), so it pins nothing larger.
func (ids *identities) learn(object, id, identity string) {
	if len(id) < 15 || identity == "" || byID(object, identity) {
		return
	}
	k, ok := ids.key(object, id, true)
	if !ok {
		return
	}
	s, ok := ids.byIdentity[identity]
	switch {
	case ok && ids.slots[s].key == k: // known: the commonest case after a cold start
		ids.touch(s)
	case ok:
		ids.remove(s) // the external id now belongs to another record (a re-create)
		fallthrough
	default:
		s = ids.place(k, identity)
	}
	sl := &ids.slots[s]
	if sl.full = len(id) >= 18; sl.full {
		copy(sl.suffix[:], id[15:18])
	}
}

// place gives the pair (k, identity) a slot, at the head of the list: the
// slot of k if it has one (its identity changed), else a free slot, else
// the least recently used one's.
func (ids *identities) place(k idKey, identity string) int32 {
	s, ok := ids.byID[k]
	switch {
	case ok:
		sl := &ids.slots[s]
		delete(ids.byIdentity, sl.identity)
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
	ids.byIdentity[identity] = s
	return s
}

// forget drops what is known about the record with Id id (of object): it
// was deleted, so its external id no longer resolves to it.
func (ids *identities) forget(object, id string) {
	k, ok := ids.key(object, id, false)
	if !ok {
		return
	}
	if s, ok := ids.byID[k]; ok {
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

// fill puts a pair in the unused slot s, at the head of the list.
func (ids *identities) fill(s int32, k idKey, identity string) {
	ids.slots[s] = idSlot{key: k, identity: identity, prev: -1, next: -1}
	ids.byID[k] = s
	ids.pushFront(s)
}

// remove unlinks slot s and drops its map entries; the slot goes to the
// free list. learn calls it on a slot it fills again at once.
func (ids *identities) remove(s int32) {
	sl := &ids.slots[s]
	delete(ids.byID, sl.key)
	delete(ids.byIdentity, sl.identity) // a live slot's entries are its own (see place)
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
