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
// the garbage collector, so the pool holds what a few fetches use, never
// more.
type fetchPool struct {
	mu      sync.Mutex
	bytes   [][]byte
	records [][]kgo.Record
}

const fetchPoolSlices = 64

// GetDecompressBytes returns a slice to decompress into, of at least four
// times the compressed size (a guess; franz-go grows it if need be and
// puts back the grown one).
func (fp *fetchPool) GetDecompressBytes(compressed []byte, _ kgo.CompressionCodecType) []byte {
	want := 4 * len(compressed)
	fp.mu.Lock()
	defer fp.mu.Unlock()
	for i := len(fp.bytes) - 1; i >= 0; i-- {
		if b := fp.bytes[i]; cap(b) >= want {
			fp.bytes[i] = fp.bytes[len(fp.bytes)-1]
			fp.bytes[len(fp.bytes)-1] = nil
			fp.bytes = fp.bytes[:len(fp.bytes)-1]
			return b[:0]
		}
	}
	return make([]byte, 0, want)
}

// PutDecompressBytes takes back a slice franz-go has zeroed.
func (fp *fetchPool) PutDecompressBytes(b []byte) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if len(fp.bytes) < fetchPoolSlices {
		fp.bytes = append(fp.bytes, b)
	}
}

// GetRecords returns a slice of at least n records.
func (fp *fetchPool) GetRecords(n int) []kgo.Record {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	for i := len(fp.records) - 1; i >= 0; i-- {
		if r := fp.records[i]; cap(r) >= n {
			fp.records[i] = fp.records[len(fp.records)-1]
			fp.records[len(fp.records)-1] = nil
			fp.records = fp.records[:len(fp.records)-1]
			return r[:0]
		}
	}
	return make([]kgo.Record, 0, n)
}

// PutRecords takes back a slice whose records were recycled (and so
// zeroed, see kgo.Record.Recycle).
func (fp *fetchPool) PutRecords(r []kgo.Record) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if len(fp.records) < fetchPoolSlices {
		fp.records = append(fp.records, r)
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
