package pipeline

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/event"
)

// A free list hands back a kept slice that is large enough, else a new
// one, and keeps no more than fetchPoolSlices.
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
	if len(f) != fetchPoolSlices {
		t.Fatalf("%d slices kept, want at most %d", len(f), fetchPoolSlices)
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

// A snappy block is decompressed into a slice of its decoded length, which
// its header tells: JSON compresses better than the guess of four to one,
// and a smaller slice would be dropped for one the codec allocates. Other
// codecs, xerial's framing and a corrupt or absurd header get the guess.
func TestDecompressedSize(t *testing.T) {
	value := bytes.Repeat([]byte(`{"object":"Account","operation":"upsert","fields":{"Name":"Acme"}}`), 200)
	block := s2.EncodeSnappy(nil, value)
	if len(value) <= 4*len(block) {
		t.Fatalf("test data compresses %d to %d: not past the guess", len(value), len(block))
	}
	for _, c := range []struct {
		name       string
		compressed []byte
		codec      kgo.CompressionCodecType
		want       int
	}{
		{"snappy block", block, kgo.CodecSnappy, len(value)},
		{"lz4", block, kgo.CodecLz4, 4 * len(block)},
		{"xerial", append(slices.Clone(xerialPrefix), block...), kgo.CodecSnappy, 4 * (len(block) + len(xerialPrefix))},
		{"corrupt header", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, kgo.CodecSnappy, 24},
		{"absurd claim", append(binary.AppendUvarint(nil, 1<<30), 0, 0), kgo.CodecSnappy, 4 * 7},
	} {
		if got := decompressedSize(c.compressed, c.codec); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	var fp fetchPool
	if got := fp.GetDecompressBytes(block, kgo.CodecSnappy); cap(got) < len(value) {
		t.Errorf("GetDecompressBytes gave room for %d, want %d", cap(got), len(value))
	}
}
