package bulkemu

import "hash/maphash"

// uniqueIndex finds the live record that holds a value of a unique or
// external-id field. It is an open-addressing hash table (linear probing)
// of slots of 8 bytes, each the upper half of the hash of a folded value
// and the index of the record that holds it, plus one (0 is an empty
// slot). The record's own value tells a value from another of the same
// hash half, so the table keeps no copy of any value, and it grows without
// reading a record: a map of strings kept a copy of every value (a million
// Accounts' external ids) and read each again to grow; a map of hashes
// took a quarter of an upsert's CPU, mostly in cache misses, with slots
// twice as large.
//
// A value's first slot is given by its hash half too, so that a slot alone
// says where its probe started, which removal needs to close the gap it
// leaves (no tombstones: a table that records come and go through stays as
// fast as a new one).
type uniqueIndex struct {
	field *Field
	seed  maphash.Seed
	slots []uint64 // a power of two of them, or none
	n     int      // slots in use
}

// slot packs a hash half and a record index.
func slot(half uint32, idx int32) uint64 { return uint64(half)<<32 | uint64(uint32(idx)+1) }

func slotHalf(s uint64) uint32 { return uint32(s >> 32) }
func slotIndex(s uint64) int32 { return int32(uint32(s) - 1) }

// half returns the hash half of a folded value.
func (u *uniqueIndex) half(folded string) uint32 {
	return uint32(maphash.String(u.seed, folded) >> 32)
}

// get returns the index of the record that holds the folded value.
func (u *uniqueIndex) get(t *table, folded string) (int32, bool) {
	if len(u.slots) == 0 {
		return 0, false
	}
	h := u.half(folded)
	mask := uint32(len(u.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := u.slots[i]
		if s == 0 {
			return 0, false
		}
		if slotHalf(s) == h && u.holds(t, slotIndex(s), folded) {
			return slotIndex(s), true
		}
	}
}

// put records that record idx holds the folded value, in place of the
// record that held it, if any.
func (u *uniqueIndex) put(t *table, folded string, idx int32) {
	if (u.n+1)*4 > len(u.slots)*3 {
		u.grow()
	}
	h := u.half(folded)
	mask := uint32(len(u.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := u.slots[i]
		if s == 0 {
			u.slots[i] = slot(h, idx)
			u.n++
			return
		}
		if slotHalf(s) == h && (slotIndex(s) == idx || u.holds(t, slotIndex(s), folded)) {
			u.slots[i] = slot(h, idx)
			return
		}
	}
}

// remove forgets that record idx held the folded value, if it did, and
// moves back the slots after it that their probe would no longer reach.
func (u *uniqueIndex) remove(folded string, idx int32) {
	if len(u.slots) == 0 {
		return
	}
	h := u.half(folded)
	mask := uint32(len(u.slots) - 1)
	i := h & mask
	for ; u.slots[i] != slot(h, idx); i = (i + 1) & mask {
		if u.slots[i] == 0 {
			return
		}
	}
	for j := (i + 1) & mask; u.slots[j] != 0; j = (j + 1) & mask {
		// The slot at j may move to the gap at i when its probe starts
		// at or before i (cyclically), that is when j is no nearer its
		// start than i is.
		start := slotHalf(u.slots[j]) & mask
		if (j-start)&mask >= (i-start)&mask {
			u.slots[i] = u.slots[j]
			i = j
		}
	}
	u.slots[i] = 0
	u.n--
}

// grow doubles the slots (or makes the first 64) and files each in use
// again, by its hash half alone.
func (u *uniqueIndex) grow() {
	old := u.slots
	u.slots = make([]uint64, max(64, 2*len(old)))
	mask := uint32(len(u.slots) - 1)
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := slotHalf(s) & mask
		for u.slots[i] != 0 {
			i = (i + 1) & mask
		}
		u.slots[i] = s
	}
}

// holds reports whether record idx holds the folded value in u's field.
func (u *uniqueIndex) holds(t *table, idx int32, folded string) bool {
	v, ok := t.value(idx, u.field)
	return ok && foldedEqual(v, folded)
}
