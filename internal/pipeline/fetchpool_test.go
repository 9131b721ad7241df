package pipeline

import (
	"bytes"
	"testing"

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
