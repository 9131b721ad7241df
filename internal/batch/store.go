package batch

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/bulkstream/bulkstream/internal/reuse"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// store is an append-only log of a buffer's events: each change's fields
// and its original Kafka record, kept until the job's results are
// published. It lives in memory until it passes a threshold, then moves to
// a temporary file, so a buffer's memory is bounded by configuration, not by
// the size of its events. A store has one owner goroutine.
type store struct {
	// blocks hold the log in memory, storeBlock bytes each but the last,
	// so that it grows without copying what it holds.
	blocks    [][]byte
	threshold int64
	dir       string

	file *os.File
	w    *bufio.Writer
	size int64
	// win holds the file's bytes from winOff, read ahead of the entry that
	// was asked for: a job's outcomes, its upload and Retry read entries in
	// order, a read call per window rather than per entry. ahead is the
	// size of the next window; it grows while reads go forward and drops
	// back when they jump, so that reading at random reads little more
	// than it needs.
	win    []byte
	winOff int64
	ahead  int
}

// The sizes of a spill file's read window.
const (
	minReadAhead = 4 << 10
	maxReadAhead = 256 << 10
)

// storeBlock is the size of the blocks of an in-memory log. The first
// block grows by doubling up to this size, so that a buffer of a few
// events does not take a whole block.
const storeBlock = 64 << 10

// spareBlocks keeps up to keptBlocks whole blocks of closed and spilled
// stores for new ones: making a buffer's blocks anew was a seventh of what
// the pipeline allocated in a run of upserts. A sync.Pool, which drops
// what two garbage collections find unused, still had a store in five
// make its blocks anew in the end-to-end benchmark: a job's blocks come
// back at once and are taken over a second of consuming, past several
// collections. A block taken is not cleared: a store reads only what it
// wrote.
var spareBlocks = make(reuse.Spares[*[storeBlock]byte], keptBlocks)

// keptBlocks bounds spareBlocks: 8 MiB, half a buffer's share of the
// default memory budget.
const keptBlocks = 128

// release puts the store's whole blocks back into spareBlocks; the store
// keeps none.
func (s *store) release() {
	for i, blk := range s.blocks {
		if cap(blk) == storeBlock {
			spareBlocks.Put((*[storeBlock]byte)(blk[:storeBlock]))
		}
		s.blocks[i] = nil
	}
	s.blocks = nil
}

func newStore(threshold int64, dir string) *store {
	return &store{threshold: threshold, dir: dir}
}

// append adds b and returns its offset.
func (s *store) append(b []byte) (int64, error) {
	off := s.size
	if s.file == nil && s.size+int64(len(b)) > s.threshold {
		if err := s.spill(); err != nil {
			return 0, err
		}
	}
	if s.file != nil {
		if _, err := s.w.Write(b); err != nil {
			return 0, fmt.Errorf("write spill file: %w", err)
		}
	} else {
		s.appendMem(b)
	}
	s.size += int64(len(b))
	return off, nil
}

// tail returns the free room of the last in-memory block, empty, for an
// entry of at most n bytes to be written in place and appended by
// appendTail without a copy; nil when the room is less than n or the
// entry would not stay in memory.
func (s *store) tail(n int) []byte {
	if s.file != nil || s.size+int64(n) > s.threshold || len(s.blocks) == 0 {
		return nil
	}
	blk := s.blocks[len(s.blocks)-1]
	if cap(blk)-len(blk) < n {
		return nil
	}
	return blk[len(blk):len(blk)]
}

// appendTail is append of b, which is the slice tail gave with the entry
// appended to it: the last block takes it in place. A b written
// elsewhere (appending to the slice moved it, or it did not come from
// tail) is appended as append does, and so is one longer than tail was
// asked for that passes the spill threshold, copied first: the spill
// gives its block to other stores before b is written to the file.
func (s *store) appendTail(b []byte) (int64, error) {
	if len(b) == 0 || s.file != nil || len(s.blocks) == 0 {
		return s.append(b)
	}
	last := len(s.blocks) - 1
	blk := s.blocks[last]
	if cap(blk)-len(blk) < len(b) || &blk[:len(blk)+1][len(blk)] != &b[0] {
		return s.append(b)
	}
	if s.size+int64(len(b)) > s.threshold {
		// b lies in the room of a block the spill releases: copied first.
		return s.append(slices.Clone(b))
	}
	s.blocks[last] = blk[:len(blk)+len(b)]
	off := s.size
	s.size += int64(len(b))
	return off, nil
}

// appendMem adds b to the blocks, across a block's end if need be.
func (s *store) appendMem(b []byte) {
	for len(b) > 0 {
		last := len(s.blocks) - 1
		if last < 0 || len(s.blocks[last]) == storeBlock {
			s.blocks = append(s.blocks, makeBlock(0, s.newBlockCap(len(b))))
			last++
		}
		blk := s.blocks[last]
		n := min(len(b), storeBlock-len(blk))
		if len(blk)+n > cap(blk) { // only the first block grows
			grown := makeBlock(len(blk), min(max(2*cap(blk), len(blk)+n), storeBlock))
			copy(grown, blk)
			blk = grown
		}
		s.blocks[last] = append(blk, b[:n]...)
		b = b[n:]
	}
}

// makeBlock returns a block of length n and capacity c, a spare when it is
// a whole one and one is kept.
func makeBlock(n, c int) []byte {
	if c == storeBlock {
		if blk, ok := spareBlocks.Get(); ok {
			return blk[:n]
		}
	}
	return make([]byte, n, c)
}

// newBlockCap is the capacity of a new block for an entry of n bytes.
func (s *store) newBlockCap(n int) int {
	if len(s.blocks) > 0 {
		return storeBlock
	}
	return min(max(n, 1<<10), storeBlock)
}

// spill moves the log to a temporary file.
func (s *store) spill() error {
	f, err := os.CreateTemp(s.dir, "bulkstream-buffer-*.bin")
	if err != nil {
		return fmt.Errorf("create spill file: %w", err)
	}
	s.file, s.w = f, bufio.NewWriterSize(f, 256<<10)
	for _, blk := range s.blocks {
		if _, err := s.w.Write(blk); err != nil {
			return fmt.Errorf("write spill file: %w", err)
		}
	}
	s.release()
	return nil
}

// spilled reports whether the log is on disk.
func (s *store) spilled() bool { return s.file != nil }

// read returns n bytes at off. The slice is valid until the next read. An
// in-memory entry that lies across blocks is copied into *scratch, the
// caller's own buffer, grown if need be.
func (s *store) read(off int64, n int, scratch *[]byte) ([]byte, error) {
	if off < 0 || n < 0 || off+int64(n) > s.size {
		// Whole blocks are reused without being cleared: past what was
		// written lie another buffer's bytes.
		return nil, fmt.Errorf("read %d bytes at %d of a store of %d: %w", n, off, s.size, io.ErrUnexpectedEOF)
	}
	if s.file == nil {
		blk, at := off/storeBlock, int(off%storeBlock)
		if at+n <= storeBlock {
			return s.blocks[blk][at : at+n], nil
		}
		buf := (*scratch)[:0]
		for n > 0 {
			part := s.blocks[blk][at:min(at+n, storeBlock)]
			buf = append(buf, part...)
			n -= len(part)
			blk, at = blk+1, 0
		}
		*scratch = buf
		return buf, nil
	}
	if off >= s.winOff && off+int64(n) <= s.winOff+int64(len(s.win)) {
		return s.win[off-s.winOff:][:n], nil
	}
	if s.w.Buffered() > 0 {
		if err := s.w.Flush(); err != nil {
			return nil, fmt.Errorf("flush spill file: %w", err)
		}
	}
	if end := s.winOff + int64(len(s.win)); len(s.win) > 0 && off >= s.winOff && off <= end {
		s.ahead = min(2*s.ahead, maxReadAhead) // going forward
	} else {
		s.ahead = minReadAhead
	}
	size := int(min(max(int64(n), int64(s.ahead)), s.size-off))
	if cap(s.win) < size {
		s.win = make([]byte, size, max(size, maxReadAhead)) // once: windows grow fast
	}
	s.win = s.win[:size]
	got, err := s.file.ReadAt(s.win, off)
	s.win, s.winOff = s.win[:got], off
	if got < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read spill file: %w", err)
	}
	return s.win[:n], nil
}

// close removes the spill file, if any.
func (s *store) close() error {
	s.release()
	s.win = nil
	if s.file == nil {
		return nil
	}
	name := s.file.Name()
	s.file.Close()
	s.file = nil
	return os.Remove(name)
}

// An event's entry in the store is its fields (their number, the size of
// their texts, then column, flags (fieldNull, fieldQuoted) and text of
// each), its source record (appendSource), and the size of the fields'
// part as 4 bytes, little endian, so that Source reaches the record
// without reading the fields. Numbers are uvarints, and bytes and strings
// are their length followed by them (appendBytes, appendString).
//
// The append functions work on a slice the caller keeps in a local
// variable: methods of an encoder held in the buffer stored its slice
// back into the heap a dozen times an event, each store a write barrier
// while the collector marks.
func appendBytes(e, p []byte) []byte { return append(binary.AppendUvarint(e, uint64(len(p))), p...) }

func appendString(e []byte, s string) []byte {
	return append(binary.AppendUvarint(e, uint64(len(s))), s...)
}

// decoder reads an entry. The first error sticks; readers check
// err once at the end. It moves along b by pos, never reslicing b: a write
// of a slice's pointer through a pointer is a write barrier while the
// garbage collector marks, and these calls come a dozen an event.
type decoder struct {
	b   []byte
	pos int
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	// Most numbers of an entry (columns, lengths of cells) are below 128:
	// one byte, read without binary.Uvarint's loop.
	if d.pos < len(d.b) && d.b[d.pos] < 0x80 {
		d.pos++
		return uint64(d.b[d.pos-1])
	}
	v, n := binary.Uvarint(d.b[d.pos:])
	if n <= 0 {
		d.err = io.ErrUnexpectedEOF
		return 0
	}
	d.pos += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.pos:])
	if n <= 0 {
		d.err = io.ErrUnexpectedEOF
		return 0
	}
	d.pos += n
	return v
}

// left is the number of bytes not read yet.
func (d *decoder) left() int { return len(d.b) - d.pos }

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || uint64(d.left()) < n {
		d.err = io.ErrUnexpectedEOF
		return nil
	}
	p := d.b[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return p
}

func (d *decoder) byte() byte {
	if d.err != nil || d.left() == 0 {
		d.err = io.ErrUnexpectedEOF
		return 0
	}
	v := d.b[d.pos]
	d.pos++
	return v
}

// sourceBound is an upper bound of the bytes appendSource appends for
// src.
func sourceBound(src *event.Source) int {
	n := 3*binary.MaxVarintLen64 + len(src.Key) + len(src.Value) + binary.MaxVarintLen64
	for _, h := range src.Headers {
		n += 2*binary.MaxVarintLen64 + len(h.Key) + len(h.Value)
	}
	return n
}

// appendSource appends a Kafka record's key, value, headers and
// timestamp; topic, partition and offset are kept in memory with the
// event.
func appendSource(e []byte, src *event.Source) []byte {
	e = binary.AppendVarint(e, src.Timestamp.UnixNano())
	e = appendBytes(e, src.Key)
	e = appendBytes(e, src.Value)
	e = binary.AppendUvarint(e, uint64(len(src.Headers)))
	for _, h := range src.Headers {
		e = appendString(e, h.Key)
		e = appendBytes(e, h.Value)
	}
	return e
}

// source reads what appendSource wrote; the value only when value is
// true (it is skipped otherwise).
func (d *decoder) source(src *event.Source, value bool) {
	src.Timestamp = time.Unix(0, d.varint())
	src.Key = clone(d.bytes())
	if v := d.bytes(); value {
		src.Value = clone(v)
	}
	n := d.uvarint()
	if d.err != nil || n > uint64(d.left()) {
		d.err = io.ErrUnexpectedEOF
		return
	}
	src.Headers = make([]event.Header, 0, n)
	for i := uint64(0); i < n; i++ {
		k := string(d.bytes())
		src.Headers = append(src.Headers, event.Header{Key: k, Value: clone(d.bytes())})
	}
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
