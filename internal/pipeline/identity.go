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
// size pairs (least recently used go first). The main loop owns it.
type identities struct {
	size  int
	byID  map[string]*list.Element // object/15-char Id → entry
	order *list.List               // of *idEntry, most recent first
}

type idEntry struct {
	id       string // object/15-char Id
	identity string // object/external id field=value, folded
}

func newIdentities(size int) *identities {
	return &identities{size: size, byID: map[string]*list.Element{}, order: list.New()}
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

// learn records that the record with Salesforce Id id (of object) has the
// given identity. Only identities by external id are worth keeping.
func (ids *identities) learn(object, id, identity string) {
	if len(id) < 15 || identity == "" || strings.HasPrefix(identity, object+"/id=") {
		return
	}
	key := object + "/id=" + id[:15]
	if e, ok := ids.byID[key]; ok {
		e.Value.(*idEntry).identity = identity
		ids.order.MoveToFront(e)
		return
	}
	ids.byID[key] = ids.order.PushFront(&idEntry{id: key, identity: identity})
	for ids.order.Len() > ids.size {
		last := ids.order.Back()
		delete(ids.byID, last.Value.(*idEntry).id)
		ids.order.Remove(last)
	}
}
