package bulkemu

import "hash/maphash"

// duplicateRows returns, for each row of an upsert job, whether its upsert
// key (folded, as scan returns them; "" for a row without one) is also the
// key of another row of the job; all rows of such a key fail with
// DUPLICATE_VALUE. It returns nil for a job without keys.
//
// The rows are found by an open-addressing table (linear probing) of slots
// of 8 bytes, each the upper half of a key's hash and the index of its first
// row, plus one, which it makes for the job and drops when done: a map of
// the keys was rebuilt for each job of 30,000 rows, and a batch looked each
// row's key up in it again, where it now reads a bool.
func duplicateRows(keys []string) []bool {
	if keys == nil {
		return nil
	}
	dup := make([]bool, len(keys))
	size := 64
	for size < 2*len(keys) {
		size *= 2
	}
	var (
		slots = make([]uint64, size)
		mask  = uint32(size - 1)
		seed  = maphash.MakeSeed()
	)
	for i, k := range keys {
		if k == "" {
			continue
		}
		h := uint32(maphash.String(seed, k) >> 32)
		for s := h & mask; ; s = (s + 1) & mask {
			if slots[s] == 0 {
				slots[s] = slot(h, int32(i))
				break
			}
			if first := slotIndex(slots[s]); slotHalf(slots[s]) == h && keys[first] == k {
				dup[first], dup[i] = true, true
				break
			}
		}
	}
	return dup
}
