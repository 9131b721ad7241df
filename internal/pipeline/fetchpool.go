package pipeline

import (
	"sync"

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
// It keeps at most fetchPoolSlices slices of each kind; more are left to
// the garbage collector, so the pool holds what a few batches use (a
// batch of 1 MB decompressed is about 4,000 records of the benchmark's,
// 670 KB of record structs), never more.
type fetchPool struct {
	mu      sync.Mutex
	bytes   freeList[byte]
	records freeList[kgo.Record]
}

const fetchPoolSlices = 8

// GetDecompressBytes returns a slice to decompress into, of at least four
// times the compressed size (a guess; franz-go grows it if need be and
// puts back the grown one).
func (fp *fetchPool) GetDecompressBytes(compressed []byte, _ kgo.CompressionCodecType) []byte {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	return fp.bytes.get(4 * len(compressed))
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

// freeList holds up to fetchPoolSlices slices for reuse; its owner locks
// it.
type freeList[T any] [][]T

// get returns an empty slice of room for n or more: a kept one, or a new
// one of room for n.
func (f *freeList[T]) get(n int) []T {
	l := *f
	for i := len(l) - 1; i >= 0; i-- {
		if cap(l[i]) >= n {
			s := l[i]
			l[i] = l[len(l)-1]
			l[len(l)-1] = nil
			*f = l[:len(l)-1]
			return s[:0]
		}
	}
	return make([]T, 0, n)
}

// put keeps s, if there is room.
func (f *freeList[T]) put(s []T) {
	if len(*f) < fetchPoolSlices {
		*f = append(*f, s)
	}
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
