package pipeline

import (
	"bytes"
	"encoding/binary"
	"sync"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// fetchPool lets the Kafka client decompress fetched batches, and decode
// their records, into memory that earlier polls used (kgo.WithPools),
// instead of allocating it for each batch: a tenth of what a run of
// upserts allocated, and so of the garbage collector's work. The poller
// recycles a poll's records once the main loop has handled it (see
// poller); whatever outlives that copies what it keeps (owned).
//
// It keeps at most fetchPoolSlices slices, and fetchPoolBytes, of each
// kind; more are left to the garbage collector. A fetch response of four
// partitions (fetch_max_partition_bytes each, compressed) decompresses
// into a dozen or more batches at once, and a poll hands back a few: with
// 8 slices kept, three batches in four were decompressed into new memory;
// with 32, one in five (the end-to-end benchmark allocates a fifth less).
type fetchPool struct {
	mu      sync.Mutex
	bytes   freeList[byte]
	records freeList[kgo.Record]
}

const (
	fetchPoolSlices = 32
	fetchPoolBytes  = 16 << 20
)

// GetDecompressBytes returns a slice to decompress into: of the size a
// snappy batch states (its block's first varint, or the sum of its
// blocks' in the framing of Java producers), or else of four times the
// compressed size, a guess (franz-go grows it if need be and puts back the
// grown one). A kept slice too small for a snappy batch was no use: the
// codec allocated one of the batch's size anyway.
func (fp *fetchPool) GetDecompressBytes(compressed []byte, codec kgo.CompressionCodecType) []byte {
	n := 4 * len(compressed)
	if codec == kgo.CodecSnappy {
		// A stated size past fetchPoolBytes, or none, if the batch is
		// corrupt or huge, is left to franz-go, which checks it first.
		if size := snappySize(compressed); size > 0 && size <= fetchPoolBytes {
			n = size
		}
	}
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.bytes.get(n)
}

// xerialPrefix starts a snappy batch in the framing of Java producers: the
// prefix, two 4-byte versions, then blocks of a 4-byte big-endian length
// and a snappy block each.
var xerialPrefix = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// snappySize is the decompressed size a snappy batch states, 0 when it
// cannot be read or passes fetchPoolBytes.
func snappySize(b []byte) int {
	if !bytes.HasPrefix(b, xerialPrefix) {
		size, k := binary.Uvarint(b)
		if k <= 0 || size > fetchPoolBytes {
			return 0
		}
		return int(size)
	}
	total := 0
	for b = b[min(len(b), 16):]; len(b) > 0; {
		if len(b) < 4 {
			return 0
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return 0
		}
		size, k := binary.Uvarint(b[4 : 4+n])
		if k <= 0 || size > fetchPoolBytes {
			return 0
		}
		if total += int(size); total > fetchPoolBytes {
			return 0
		}
		b = b[4+n:]
	}
	return total
}

// PutDecompressBytes takes back a slice franz-go has zeroed.
func (fp *fetchPool) PutDecompressBytes(b []byte) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.bytes.put(b)
}

// GetRecords returns a slice of at least n records.
func (fp *fetchPool) GetRecords(n int) []kgo.Record {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.records.get(n)
}

// PutRecords takes back a slice whose records were recycled (and so
// zeroed, see kgo.Record.Recycle).
func (fp *fetchPool) PutRecords(r []kgo.Record) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.records.put(r)
}

// freeList holds up to fetchPoolSlices slices, and fetchPoolBytes of
// their elements, for reuse; its owner locks it.
type freeList[T any] struct {
	kept  [][]T
	bytes int // the kept slices' capacity, in bytes
}

// get returns an empty slice of room for n or more: a kept one, or a new
// one of room for n.
func (f *freeList[T]) get(n int) []T {
	for i := len(f.kept) - 1; i >= 0; i-- {
		if s := f.kept[i]; cap(s) >= n {
			last := len(f.kept) - 1
			f.kept[i], f.kept[last] = f.kept[last], nil
			f.kept = f.kept[:last]
			f.bytes -= sizeOf(s)
			return s[:0]
		}
	}
	return make([]T, 0, n)
}

// put keeps s, if there is room.
func (f *freeList[T]) put(s []T) {
	if len(f.kept) < fetchPoolSlices && f.bytes+sizeOf(s) <= fetchPoolBytes {
		f.kept = append(f.kept, s)
		f.bytes += sizeOf(s)
	}
}

// sizeOf is the memory of s's capacity.
func sizeOf[T any](s []T) int {
	var t T
	return cap(s) * int(unsafe.Sizeof(t))
}

// owned returns src with its key, value and header values copied out of
// the memory of the fetch, which the poller recycles once the poll is
// handled: what keeps a source past its poll (a failure's outcome, a
// record parked for the schema registry) keeps an owned one.
func owned(src event.Source) event.Source {
	n := len(src.Key) + len(src.Value)
	for _, h := range src.Headers {
		n += len(h.Value)
	}
	if n == 0 && len(src.Headers) == 0 {
		return src
	}
	buf := make([]byte, 0, n)
	take := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		buf = append(buf, b...)
		return buf[len(buf)-len(b) : len(buf) : len(buf)]
	}
	src.Key, src.Value = take(src.Key), take(src.Value)
	if len(src.Headers) > 0 {
		hs := make([]event.Header, len(src.Headers))
		for i, h := range src.Headers {
			hs[i] = event.Header{Key: h.Key, Value: take(h.Value)}
		}
		src.Headers = hs
	}
	return src
}
