package batch

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// Every entry reads back as it was appended, whether it lies inside a
// block, across blocks (larger than one, too) or in the spill file, read
// in order, backwards or at random; and whether it was appended by
// append, written in place into the room tail gave, or given to
// appendTail from elsewhere (a slice that tail did not give, or that
// appending moved out of the block).
func TestStoreReadsBackEveryEntry(t *testing.T) {
	for _, threshold := range []int64{1 << 30, 3 * storeBlock, 0} {
		t.Run(fmt.Sprintf("threshold=%d", threshold), func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			s := newStore(threshold, t.TempDir())
			defer s.close()
			var entries [][]byte
			var offs []int64
			for i := range 600 {
				n := 1 + r.IntN(400)
				switch i % 100 {
				case 7:
					n = storeBlock + r.IntN(2*storeBlock)
				case 8:
					n = 0
				}
				e := make([]byte, n)
				for k := range e {
					e[k] = byte(r.Uint32())
				}
				var off int64
				var err error
				switch i % 4 {
				case 0:
					off, err = s.append(e)
				case 1: // in place when there is room
					if room := s.tail(n); room != nil {
						off, err = s.appendTail(append(room, e...))
					} else {
						off, err = s.appendTail(e)
					}
				case 2: // moved out of the block when the room is short
					room := s.tail(0)
					off, err = s.appendTail(append(room, e...))
				case 3: // not from tail, whether the block has room or not
					off, err = s.appendTail(e)
				}
				if err != nil {
					t.Fatal(err)
				}
				entries, offs = append(entries, e), append(offs, off)
			}
			if want := threshold < 1<<30; s.spilled() != want {
				t.Fatalf("spilled %v, want %v", s.spilled(), want)
			}
			order := r.Perm(len(entries))
			for i := range entries {
				order = append(order, i, len(entries)-1-i)
			}
			var scratch []byte
			for _, i := range order {
				got, err := s.read(offs[i], len(entries[i]), &scratch)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, entries[i]) {
					t.Fatalf("entry %d of %d bytes at %d reads back wrong", i, len(entries[i]), offs[i])
				}
			}
		})
	}
}

// A closed store's whole blocks go to the next stores, even after garbage
// collections (a sync.Pool dropped them), and no more than keptBlocks
// are kept.
func TestStoreBlocksAreReused(t *testing.T) {
	for len(spareBlocks) > 0 {
		<-spareBlocks
	}
	fill := func(s *store, blocks int) {
		for range blocks {
			if _, err := s.append(make([]byte, storeBlock)); err != nil {
				t.Fatal(err)
			}
		}
	}
	first := newStore(1<<40, t.TempDir())
	fill(first, 4)
	whole := map[*byte]bool{}
	for _, blk := range first.blocks {
		if cap(blk) == storeBlock {
			whole[&blk[:1][0]] = true
		}
	}
	first.close()
	runtime.GC()
	runtime.GC()
	next := newStore(1<<40, t.TempDir())
	defer next.close()
	fill(next, 4)
	reused := 0
	for _, blk := range next.blocks {
		if cap(blk) == storeBlock && whole[&blk[:1][0]] {
			reused++
		}
	}
	if reused == 0 || reused < len(whole)-1 {
		t.Errorf("%d of the closed store's %d whole blocks reused", reused, len(whole))
	}

	big := newStore(1<<40, t.TempDir())
	fill(big, 2*keptBlocks)
	big.close()
	if len(spareBlocks) > keptBlocks {
		t.Errorf("%d blocks kept, want at most %d", len(spareBlocks), keptBlocks)
	}
}

// A read past what the store holds is an error, not the bytes another
// buffer left in a reused block.
func TestStoreReadsOnlyWhatWasWritten(t *testing.T) {
	old := newStore(1<<40, t.TempDir())
	if _, err := old.append(bytes.Repeat([]byte("SECRET"), storeBlock/6+1)); err != nil {
		t.Fatal(err)
	}
	old.close() // its whole block goes to the spares, uncleared
	s := newStore(1<<40, t.TempDir())
	defer s.close()
	off, err := s.append(bytes.Repeat([]byte("x"), storeBlock))
	if err != nil {
		t.Fatal(err)
	}
	var scratch []byte
	for _, c := range []struct {
		off int64
		n   int
	}{{off + storeBlock - 4, 40}, {off + storeBlock, 1}, {-1, 2}, {0, -1}} {
		if got, err := s.read(c.off, c.n, &scratch); err == nil {
			t.Errorf("read %d bytes at %d of %d: %q, want an error", c.n, c.off, storeBlock, got)
		}
	}
}

// An entry written in place into the room tail gave, that then passes the
// spill threshold (longer than the n tail was asked for), is copied before
// the spill gives its block back to spareBlocks, where another store may
// already be writing into it; the race detector (go test -race, as .ci/run
// runs it) tells when it is not, and the entry read back may then hold
// the other store's bytes.
func TestAppendTailCopiesAnEntryItsSpillReleases(t *testing.T) {
	for len(spareBlocks) > 0 {
		<-spareBlocks
	}
	s := newStore(storeBlock+100, t.TempDir())
	defer s.close()
	if _, err := s.append(make([]byte, storeBlock+10)); err != nil { // a whole block, then a second one
		t.Fatal(err)
	}
	room := s.tail(0)
	if room == nil {
		t.Fatal("no room")
	}
	entry := append(room, bytes.Repeat([]byte{'E'}, 5000)...) // in place, past the threshold
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // another buffer's store taking a spare block
		defer wg.Done()
		for taken := 0; taken < 2; {
			if blk, ok := spareBlocks.Get(); ok {
				for i := range blk {
					blk[i] = 'X'
				}
				taken++
			}
		}
	}()
	t.Logf("spilled before %v size %d len %d", s.spilled(), s.size, len(entry))
	off, err := s.appendTail(entry)
	t.Logf("spilled after %v spares %d", s.spilled(), len(spareBlocks))
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	var scratch []byte
	got, err := s.read(off, 5000, &scratch)
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.IndexByte(got, 'X'); i >= 0 {
		t.Fatalf("entry overwritten by another store from byte %d", i)
	}
}
