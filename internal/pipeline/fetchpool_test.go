package pipeline

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// A free list hands back a kept slice that is large enough, else a new
// one, and keeps no more than fetchPoolSlices, nor more than
// fetchPoolBytes.
func TestFreeList(t *testing.T) {
	var f freeList[byte]
	small, large := make([]byte, 3, 8), make([]byte, 5, 64)
	f.put(small)
	f.put(large)
	if got := f.get(32); cap(got) != 64 || len(got) != 0 {
		t.Fatalf("get(32) = len %d cap %d, want the kept slice of 64, empty", len(got), cap(got))
	}
	if got := f.get(32); cap(got) != 32 {
		t.Fatalf("get(32) with only a slice of 8 kept: cap %d, want a new one of 32", cap(got))
	}
	for range 2 * fetchPoolSlices {
		f.put(make([]byte, 0, 1))
	}
	if len(f.kept) != fetchPoolSlices {
		t.Fatalf("%d slices kept, want at most %d", len(f.kept), fetchPoolSlices)
	}

	var records freeList[kgo.Record]
	per := fetchPoolBytes / 4 / int(unsafe.Sizeof(kgo.Record{}))
	for range 8 {
		records.put(make([]kgo.Record, 0, per))
	}
	if len(records.kept) != 4 || records.bytes > fetchPoolBytes {
		t.Fatalf("kept %d slices of a quarter of fetchPoolBytes (%d bytes), want 4", len(records.kept), records.bytes)
	}
	records.get(per)
	if records.bytes != 3*per*int(unsafe.Sizeof(kgo.Record{})) {
		t.Fatalf("after a get, %d bytes kept, want three quarters of fetchPoolBytes", records.bytes)
	}
}

// A snappy block states its decompressed size: the pool hands a slice of
// that size, or a kept one at least as large, since the codec would
// allocate its own for a smaller one. Other codecs get four times the
// compressed size.
func TestDecompressBytesOfSnappy(t *testing.T) {
	data := bytes.Repeat([]byte(`{"object":"Account","fields":{"Name":"Acme"}}`), 1000) // 45,000 bytes, compresses 10 times or more
	block := s2.EncodeSnappy(nil, data)
	var fp fetchPool
	got := fp.GetDecompressBytes(block, kgo.CodecSnappy)
	if cap(got) < len(data) {
		t.Fatalf("a slice of %d bytes for a snappy block of %d decompressed: the codec would allocate its own", cap(got), len(data))
	}
	if out, err := s2.Decode(got, block); err != nil || &out[0] != &got[:1][0] {
		t.Fatalf("decoding into the slice: err %v, or the codec allocated its own", err)
	}
	fp.PutDecompressBytes(got)
	if again := fp.GetDecompressBytes(block, kgo.CodecSnappy); &again[:1][0] != &got[:1][0] {
		t.Fatalf("the slice put back was not handed out again")
	}
	if lz4 := fp.GetDecompressBytes(block, kgo.CodecLz4); cap(lz4) != 4*len(block) {
		t.Fatalf("lz4: a slice of %d bytes, want 4 × %d", cap(lz4), len(block))
	}

	// Java producers frame snappy in blocks of 32 KiB: the sizes add up.
	framed := append(append([]byte{}, xerialPrefix...), 0, 0, 0, 1, 0, 0, 0, 1)
	for rest := data; len(rest) > 0; {
		part := rest[:min(len(rest), 32<<10)]
		rest = rest[len(part):]
		enc := s2.EncodeSnappy(nil, part)
		framed = binary.BigEndian.AppendUint32(framed, uint32(len(enc)))
		framed = append(framed, enc...)
	}
	if got := fp.GetDecompressBytes(framed, kgo.CodecSnappy); cap(got) < len(data) || cap(got) > 2*len(data) {
		t.Fatalf("a slice of %d bytes for a framed snappy batch of %d decompressed", cap(got), len(data))
	}
	// A batch whose sizes cannot be read gets the guess.
	for _, bad := range [][]byte{framed[:len(framed)-1], {0, 1, 2}, append(append([]byte{}, xerialPrefix...), 0, 0, 0, 1, 0, 0, 0, 1, 0xff)} {
		if got := fp.GetDecompressBytes(bad, kgo.CodecSnappy); cap(got) < 4*len(bad) {
			t.Fatalf("a slice of %d bytes for a corrupt batch of %d, want 4 times as much", cap(got), len(bad))
		}
	}
}

// owned copies a source's key, value and header values, so that the
// fetch's memory can be used again.
func TestOwnedCopiesTheRecord(t *testing.T) {
	mem := []byte("keyvaluehdr")
	src := event.Source{Topic: "t", Key: mem[:3], Value: mem[3:8], Headers: []event.Header{{Key: "h", Value: mem[8:]}}}
	own := owned(src)
	clear(mem)
	if string(own.Key) != "key" || string(own.Value) != "value" || string(own.Headers[0].Value) != "hdr" || own.Headers[0].Key != "h" {
		t.Fatalf("owned source after its memory was cleared: %q %q %+v", own.Key, own.Value, own.Headers)
	}
	if own := owned(event.Source{Topic: "t"}); own.Key != nil || own.Value != nil {
		t.Fatalf("a source of no key and no value became %q %q", own.Key, own.Value)
	}
	if own := owned(event.Source{Value: []byte{}}); own.Value == nil || !bytes.Equal(own.Value, []byte{}) {
		t.Fatalf("an empty value became nil (a tombstone)")
	}
}
