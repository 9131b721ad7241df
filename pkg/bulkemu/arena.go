package bulkemu

import (
	"encoding/binary"
	"slices"
	"unsafe"
)

// valueArena holds the field values of a table's records as bytes, with no
// pointer among them, so that the garbage collector never scans a million
// records to mark them: as slices of strings, the values of the records
// were most of what each GC cycle marked, and their allocations most of
// what an upsert allocated.
//
// A record's values are one encoding, written once and never changed: a
// record that changes gets a new encoding, and the old one becomes garbage
// (see compactable). The strings get returns point into the arena's pages,
// which is safe because no byte of a page is written twice: a page only
// grows past its length, and the first page, when it grows by copying,
// leaves the old copy to the strings that point into it.
//
// The arena belongs to its table and is guarded by the store's lock.
type valueArena struct {
	pages   [][]byte
	used    int // bytes of the encodings records use
	garbage int // bytes of the encodings no record uses any more
}

// arenaPage is the capacity of an arena's pages but the first, which grows
// up to it so that the small tables of an org take little memory. A record
// larger than a page has a page of its own.
const arenaPage = 256 << 10

// valuesRef is where a record's encoding is in its table's arena. The zero
// valuesRef is a record without values.
type valuesRef struct {
	page, off, n uint32
}

// fieldValue is one non-null value of a record: its field's index in
// Object.Fields and its canonical text.
type fieldValue struct {
	field uint16
	value string
}

// put writes the encoding of vals, sorted by field and without repeats, and
// returns where it is: for each value, its field and its length (uvarints)
// and its bytes. A field's index under 128, as every field of the default
// schema's objects has, takes one byte: as two bytes always, the indexes
// were an eighth of an Account's encoding, memory a record holds for its
// life.
func (a *valueArena) put(vals []fieldValue) valuesRef {
	size := 0
	for _, v := range vals {
		size += uvarintLen(int(v.field)) + uvarintLen(len(v.value)) + len(v.value)
	}
	if size == 0 {
		return valuesRef{}
	}
	p := a.room(size)
	off := len(a.pages[p])
	a.pages[p] = a.pages[p][:off+size]
	enc := a.pages[p][off:]
	for _, v := range vals {
		if v.field < 0x80 && len(v.value) < 0x80 {
			// Both uvarints one byte, as for nearly every value: written
			// without PutUvarint's loops, which were a third of put's
			// instructions.
			enc[0], enc[1] = byte(v.field), byte(len(v.value))
			enc = enc[2+copy(enc[2:], v.value):]
			continue
		}
		n := binary.PutUvarint(enc, uint64(v.field))
		n += binary.PutUvarint(enc[n:], uint64(len(v.value)))
		enc = enc[n+copy(enc[n:], v.value):]
	}
	a.used += size
	ref := valuesRef{page: uint32(p), off: uint32(off), n: uint32(size)}
	return ref
}

// putEncoding copies an encoding, of another arena, into a and returns
// where it is.
func (a *valueArena) putEncoding(enc []byte) valuesRef {
	if len(enc) == 0 {
		return valuesRef{}
	}
	p := a.room(len(enc))
	ref := valuesRef{page: uint32(p), off: uint32(len(a.pages[p])), n: uint32(len(enc))}
	a.pages[p] = append(a.pages[p], enc...)
	a.used += len(enc)
	return ref
}

// room returns a page with size bytes free after its length.
func (a *valueArena) room(size int) int {
	if last := len(a.pages) - 1; last >= 0 {
		p := a.pages[last]
		switch {
		case cap(p)-len(p) >= size:
			return last
		case last == 0 && len(p)+size <= arenaPage:
			// Growing copies the page; the strings of the old copy keep
			// it, and nothing writes to it any more.
			a.pages[0] = slices.Grow(p, size)
			return 0
		}
		a.pages = append(a.pages, make([]byte, 0, max(arenaPage, size)))
		return last + 1
	}
	a.pages = append(a.pages, make([]byte, 0, max(256, size)))
	return 0
}

func uvarintLen(n int) int {
	k := 1
	for ; n >= 0x80; n >>= 7 {
		k++
	}
	return k
}

// uvarint decodes the uvarint that starts enc, which the arena wrote, and
// returns it and its length: most take one byte, which it reads without
// binary.Uvarint's loop.
func uvarint(enc []byte) (uint64, int) {
	if enc[0] < 0x80 {
		return uint64(enc[0]), 1
	}
	return binary.Uvarint(enc)
}

// encoding returns the bytes of the encoding at ref.
func (a *valueArena) encoding(ref valuesRef) []byte {
	if ref.n == 0 {
		return nil
	}
	return a.pages[ref.page][ref.off : ref.off+ref.n : ref.off+ref.n]
}

// drop counts the encoding at ref as garbage: its record no longer uses it.
func (a *valueArena) drop(ref valuesRef) {
	a.used -= int(ref.n)
	a.garbage += int(ref.n)
}

// compactable reports whether the encodings records no longer use take
// more room than those they use (and more than a page), which is when the
// table copies its records' values into a new arena: the copy costs as
// much as the garbage it frees, at most once for as many bytes changed.
func (a *valueArena) compactable() bool {
	return a.garbage > arenaPage && a.garbage > a.used
}

// valueOf returns the value of field in encoding enc.
func valueOf(enc []byte, field int) (string, bool) {
	for len(enc) > 0 {
		f, k := uvarint(enc)
		n, l := uvarint(enc[k:])
		enc = enc[k+l:]
		if int(f) == field {
			if n == 0 {
				return "", true
			}
			return unsafe.String(&enc[0], int(n)), true
		}
		if int(f) > field {
			break
		}
		enc = enc[n:]
	}
	return "", false
}

// decodeValues appends the values of encoding enc to dst, in field order.
// The strings point into the arena.
func decodeValues(enc []byte, dst []fieldValue) []fieldValue {
	for len(enc) > 0 {
		f, k := uvarint(enc)
		n, l := uvarint(enc[k:])
		enc = enc[k+l:]
		v := ""
		if n > 0 {
			v = unsafe.String(&enc[0], int(n))
		}
		dst = append(dst, fieldValue{field: uint16(f), value: v})
		enc = enc[n:]
	}
	return dst
}

// setValue sets the value of field f in vals, sorted by field, and returns
// vals; a nil value removes it (sets the field to null).
func setValue(vals []fieldValue, f int, value *string) []fieldValue {
	i, found := slices.BinarySearchFunc(vals, f, func(v fieldValue, f int) int { return int(v.field) - f })
	switch {
	case found && value == nil:
		return slices.Delete(vals, i, i+1)
	case found:
		vals[i].value = *value
	case value != nil:
		vals = slices.Insert(vals, i, fieldValue{field: uint16(f), value: *value})
	}
	return vals
}
