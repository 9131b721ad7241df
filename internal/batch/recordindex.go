package batch

import "hash/maphash"

// recordIndex finds a buffer's row by its record key. It is a table of
// row numbers with linear probing: a slot holds the high 32 bits of the
// key's hash and the row number plus one (0: empty), and is found from
// those 32 bits, so growing the table moves slots without hashing a key
// again, and a look-up reads a row's key only when the 32 bits match. It
// holds no pointer, so the collector never scans it, and costs 8 bytes a
// slot, at most three quarters full: 11 to 21 bytes a record, where a
// map[string]int took about 40 and hashed each key twice (a look-up and
// an insertion). Keys are only removed all at once (reset). The buffer
// owns it.
type recordIndex struct {
	slots []uint64
	n     int // keys held
}

// recordSeed seeds the hashes of record keys, the same for the process.
var recordSeed = maphash.MakeSeed()

// recordTag is the tag of key in a recordIndex: the high 32 bits of its
// hash. The bytes of a key have the same tag (see recordTagBytes).
func recordTag(key string) uint32 { return uint32(maphash.String(recordSeed, key) >> 32) }

func recordTagBytes(key []byte) uint32 { return uint32(maphash.Bytes(recordSeed, key) >> 32) }

// newRecordIndex returns an index with room for n keys before it grows.
func newRecordIndex(n int) recordIndex {
	size := 64
	for size*3/4 < n {
		size *= 2
	}
	return recordIndex{slots: make([]uint64, size)}
}

// A probe is where find looked for a key: its tag and, when the key was
// not found, the empty slot where it goes (-1 when the index has no room).
type probe struct {
	tag uint32
	at  int
}

// find returns the row whose RecordKey is key, of rows (the buffer's), if
// one is indexed; else ok is false, and put(p, row) indexes key.
func (x *recordIndex) find(rows []Row, key string) (row int, ok bool, p probe) {
	p = probe{tag: recordTag(key), at: -1}
	if len(x.slots) == 0 {
		return 0, false, p
	}
	mask := uint32(len(x.slots) - 1)
	for i := p.tag & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			p.at = int(i)
			return 0, false, p
		}
		if uint32(s>>32) == p.tag && rows[uint32(s)-1].RecordKey == key {
			return int(uint32(s) - 1), true, p
		}
	}
}

// findBytes is find of a key given as bytes, without making a string of
// it.
func (x *recordIndex) findBytes(rows []Row, key []byte) (row int, ok bool) {
	if len(x.slots) == 0 {
		return 0, false
	}
	tag := recordTagBytes(key)
	mask := uint32(len(x.slots) - 1)
	for i := tag & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			return 0, false
		}
		if uint32(s>>32) == tag && rows[uint32(s)-1].RecordKey == string(key) {
			return int(uint32(s) - 1), true
		}
	}
}

// put indexes row under the key that find did not find, with the probe
// find returned, and nothing put between.
func (x *recordIndex) put(p probe, row int) {
	if p.at < 0 || (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
		p.at = x.free(p.tag)
	}
	x.slots[p.at] = uint64(p.tag)<<32 | uint64(row+1)
	x.n++
}

// free returns the first empty slot of the probe sequence of tag.
func (x *recordIndex) free(tag uint32) int {
	mask := uint32(len(x.slots) - 1)
	i := tag & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	return int(i)
}

// grow doubles the table (to 64 slots at least), moving every slot by
// its tag.
func (x *recordIndex) grow() {
	old := x.slots
	x.slots = make([]uint64, max(2*len(old), 64))
	for _, s := range old {
		if s != 0 {
			x.slots[x.free(uint32(s>>32))] = s
		}
	}
}

// reset removes every key, keeping the table's room.
func (x *recordIndex) reset() {
	clear(x.slots)
	x.n = 0
}
