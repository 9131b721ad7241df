package pipeline

import (
	"container/list"
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
type identities struct {
	size       int
	byID       map[string]*list.Element // object/15-char Id → entry
	byIdentity map[string]*list.Element // identity → entry
	order      *list.List               // of *idEntry, most recent first
}

type idEntry struct {
	id       string // object/15-char Id
	fullID   string // the Id as Salesforce gave it (18 characters)
	identity string // object/external id field=value, folded
}

func newIdentities(size int) *identities {
	return &identities{size: size, byID: map[string]*list.Element{}, byIdentity: map[string]*list.Element{}, order: list.New()}
}

// of returns the identity of c, "" for a change that names no record (a
// plain insert).
func (ids *identities) of(c *event.Change) string {
	rk := c.RecordKey()
	if rk == "" {
		return ""
	}
	key := c.Object + "/" + rk
	if strings.HasPrefix(rk, "id=") {
		if e, ok := ids.byID[key]; ok {
			ids.order.MoveToFront(e)
			return e.Value.(*idEntry).identity
		}
	}
	return key
}

// id returns the Salesforce Id of the record with the given identity (by
// external id), if it is known.
func (ids *identities) id(identity string) (string, bool) {
	e, ok := ids.byIdentity[identity]
	if !ok {
		return "", false
	}
	ids.order.MoveToFront(e)
	return e.Value.(*idEntry).fullID, true
}

// learn records that the record with Salesforce Id id (of object) has the
// given identity. Only identities by external id are worth keeping. The
// cache keeps copies, so it never pins the line or buffer an Id was read
// from.
func (ids *identities) learn(object, id, identity string) {
	if len(id) < 15 || identity == "" || strings.HasPrefix(identity, object+"/id=") {
		return
	}
	id, identity = strings.Clone(id), strings.Clone(identity)
	key := object + "/id=" + id[:15]
	if e, ok := ids.byIdentity[identity]; ok && e.Value.(*idEntry).id != key {
		ids.remove(e) // the external id now belongs to another record (a re-create)
	}
	if e, ok := ids.byID[key]; ok {
		en := e.Value.(*idEntry)
		if en.identity != identity {
			delete(ids.byIdentity, en.identity)
		}
		en.identity, en.fullID = identity, id
		ids.byIdentity[identity] = e
		ids.order.MoveToFront(e)
		return
	}
	e := ids.order.PushFront(&idEntry{id: key, fullID: id, identity: identity})
	ids.byID[key], ids.byIdentity[identity] = e, e
	for ids.order.Len() > ids.size {
		ids.remove(ids.order.Back())
	}
}

// forget drops what is known about the record with Id id (of object): it
// was deleted, so its external id no longer resolves to it.
func (ids *identities) forget(object, id string) {
	if len(id) < 15 {
		return
	}
	if e, ok := ids.byID[object+"/id="+id[:15]]; ok {
		ids.remove(e)
	}
}

func (ids *identities) remove(e *list.Element) {
	en := e.Value.(*idEntry)
	delete(ids.byID, en.id)
	if ids.byIdentity[en.identity] == e {
		delete(ids.byIdentity, en.identity)
	}
	ids.order.Remove(e)
}
