package bulkemu

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// rowLocks emulates Salesforce's record locks between concurrent chunks.
// Its mutex guards held; a chunk holds its locks while it is processed and
// paced.
type rowLocks struct {
	mu     sync.Mutex
	held   map[lockKey]int64 // key → owner
	owners atomic.Int64
	// kindSeed and valueSeed are the seeds of the two hashes of a lock key
	// (see lockKey), random for each emulator.
	kindSeed, valueSeed maphash.Seed
}

func newRowLocks() rowLocks {
	return rowLocks{held: map[lockKey]int64{}, kindSeed: maphash.MakeSeed(), valueSeed: maphash.MakeSeed()}
}

func (l *rowLocks) newOwner() int64 { return l.owners.Add(1) }

// acquire takes the locks of keys (sorted, without repeats) for owner, one
// by one in their order (so two chunks never wait for each other in a
// cycle), waiting up to wait in all for locks other owners hold. It returns
// the keys it did not get, nil when it got them all; a row with such a key
// fails with UNABLE_TO_LOCK_ROW.
func (l *rowLocks) acquire(owner int64, keys []lockKey, wait time.Duration) (missed map[lockKey]bool) {
	deadline := time.Now().Add(wait)
	l.mu.Lock()
	for _, k := range keys {
		if l.take(owner, k) {
			continue
		}
		l.mu.Unlock()
		for {
			if time.Now().After(deadline) {
				if missed == nil {
					missed = map[lockKey]bool{}
				}
				missed[k] = true
				break
			}
			time.Sleep(time.Millisecond)
			l.mu.Lock()
			got := l.take(owner, k)
			l.mu.Unlock()
			if got {
				break
			}
		}
		l.mu.Lock()
	}
	l.mu.Unlock()
	return missed
}

// take takes the lock of k for owner if no other owner holds it. The
// caller holds l.mu.
func (l *rowLocks) take(owner int64, k lockKey) bool {
	if o, taken := l.held[k]; taken {
		return o == owner
	}
	l.held[k] = owner
	return true
}

// release gives up the locks of keys that acquire took for owner: all but
// those it missed.
func (l *rowLocks) release(owner int64, keys []lockKey, missed map[lockKey]bool) {
	l.mu.Lock()
	for _, k := range keys {
		if !missed[k] {
			delete(l.held, k)
		}
	}
	l.mu.Unlock()
}

// lockKey names a record a row touches: the sum of two 64-bit hashes
// (maphash), one of its kind (its object and the field that identifies it:
// Id, or a unique field) and one of its value in that field (the id's
// 15-character form, or the folded value). Keyed by the three strings, the
// lock map's hashing and comparing were a twentieth of the emulator's CPU.
//
// The two hashes have seeds of their own: of one seed, a kind's hash was
// that of a value of the same text, and addition commutes, so (Account, Id,
// "Contact\x00Id") and (Contact, Id, "Account\x00Id") had one key whatever
// the seed. Of independent seeds, two records share a key only when their
// hashes collide, about once in 2^64 pairs. A collision costs a client at
// worst a spurious UNABLE_TO_LOCK_ROW: two chunks that touch the two
// records wait on each other's lock for nothing, and a row of the one that
// waits past the lock wait fails; two chunks never hold one lock at once.
// The seeds are random for each emulator, not derived from Faults.Seed, so
// a run with the same Faults.Seed does not reproduce a collision.
type lockKey uint64

// lockKind returns the hash of the kind of record of object that field
// identifies; see lockKey.
func (l *rowLocks) lockKind(object, field string) uint64 {
	var h maphash.Hash
	h.SetSeed(l.kindSeed)
	h.WriteString(object)
	h.WriteByte(0)
	h.WriteString(field)
	return h.Sum64()
}

// lockKeyOf returns the key of the record of the kind (from lockKind) whose
// identifying field holds value.
func (l *rowLocks) lockKeyOf(kind uint64, value string) lockKey {
	return lockKey(kind + maphash.String(l.valueSeed, value))
}

// lockColumn is a column whose values name a record a row touches (its own
// by Id or upsert key, or a parent): the kind of that record and the form
// its value takes in a lock key.
type lockColumn struct {
	col  int
	kind uint64
	form lockForm
}

type lockForm uint8

const (
	formID15    lockForm = iota // an id, by its 15-character form
	formFolded                  // a unique value, folded
	formScanKey                 // the upsert key, folded by scan
)

// lockColumns returns the columns of a job that name records its rows
// lock. Two concurrent chunks that share a record contend for its lock, as
// Salesforce's row locks do.
func (e *Emulator) lockColumns(j *job, cols []csvColumn, keyCol int) []lockColumn {
	var out []lockColumn
	for k, c := range cols {
		switch {
		case c.parentField != nil && c.parentField.Name == "Id": // Account.Id: the parent's Id, case-sensitive
			out = append(out, lockColumn{k, e.locks.lockKind(c.parent.Name, "Id"), formID15})
		case c.parentField != nil:
			out = append(out, lockColumn{k, e.locks.lockKind(c.parent.Name, c.parentField.Name), formFolded})
		case c.field.Type == TypeReference:
			out = append(out, lockColumn{k, e.locks.lockKind(c.field.ReferenceTo, "Id"), formID15})
		case c.field.Name == "Id":
			out = append(out, lockColumn{k, e.locks.lockKind(j.object.Name, "Id"), formID15})
		case c.field == j.externalID && k == keyCol:
			out = append(out, lockColumn{k, e.locks.lockKind(j.object.Name, c.field.Name), formScanKey})
		case c.field == j.externalID:
			out = append(out, lockColumn{k, e.locks.lockKind(j.object.Name, c.field.Name), formFolded})
		}
	}
	return out
}

// lockKeys appends the records data row i (whose values are given) touches:
// itself (by Id or upsert key) and the parents its reference columns point
// to.
func (b *batch) lockKeys(i int, values []string, keys []lockKey) []lockKey {
	for _, lc := range b.lockCols {
		if lc.col >= len(values) || values[lc.col] == "" || values[lc.col] == nullValue {
			continue
		}
		v := values[lc.col]
		switch lc.form {
		case formID15:
			v = id15(v)
		case formFolded:
			v = foldKey(v)
		case formScanKey:
			v = b.keys[i]
		}
		keys = append(keys, b.e.locks.lockKeyOf(lc.kind, v))
	}
	return keys
}
