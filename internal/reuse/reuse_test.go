package reuse

import (
	"sync"
	"testing"
)

// Spares keeps no more than its capacity: a Put past it reports false and
// the value is not handed out later.
func TestSparesKeepsUpToItsCapacity(t *testing.T) {
	s := make(Spares[int], 2)
	for v, want := range []bool{true, true, false, false} {
		if got := s.Put(v); got != want {
			t.Fatalf("Put(%d) with %d kept = %v, want %v", v, len(s), got, want)
		}
	}
	var got []int
	for {
		v, ok := s.Get()
		if !ok {
			break
		}
		got = append(got, v)
	}
	if len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Fatalf("got back %v, want [0 1] (the two kept, nothing past the bound)", got)
	}
}

// Get hands out the value kept longest.
func TestSparesFirstInFirstOut(t *testing.T) {
	s := make(Spares[string], 3)
	s.Put("a")
	s.Put("b")
	if v, _ := s.Get(); v != "a" {
		t.Fatalf("first Get = %q, want a", v)
	}
	s.Put("c")
	for _, want := range []string{"b", "c"} {
		if v, ok := s.Get(); !ok || v != want {
			t.Fatalf("Get = %q, %v; want %q, true", v, ok, want)
		}
	}
	if v, ok := s.Get(); ok || v != "" {
		t.Fatalf("Get of an empty Spares = %q, %v; want the zero value, false", v, ok)
	}
}

// A nil Spares, or one of capacity 0, keeps nothing and never waits.
func TestSparesWithoutRoomKeepNothing(t *testing.T) {
	for _, s := range []Spares[*int]{nil, make(Spares[*int])} {
		if s.Put(new(int)) {
			t.Fatalf("Put into a Spares of capacity %d kept a value", cap(s))
		}
		if v, ok := s.Get(); ok || v != nil {
			t.Fatalf("Get from a Spares of capacity %d = %v, %v; want nil, false", cap(s), v, ok)
		}
	}
}

// Goroutines sharing a Spares (run it with -race) each get a value that
// one of them put and that no other got, and what stays kept is what was
// put and not got, within the bound.
func TestSparesConcurrentUse(t *testing.T) {
	const goroutines, rounds, bound = 8, 2000, 4
	s := make(Spares[int], bound)
	var mu sync.Mutex
	// kept flips at each kept Put and each Get of a value: true in the
	// end for a value put and not got, false for one put and got once.
	kept := map[int]bool{}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			var put, got []int
			for i := range rounds {
				if v := g*rounds + i; s.Put(v) {
					put = append(put, v)
				}
				if i%3 == 0 { // more puts than gets, so that the bound is met
					continue
				}
				if v, ok := s.Get(); ok {
					got = append(got, v)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, v := range put {
				kept[v] = !kept[v]
			}
			for _, v := range got {
				kept[v] = !kept[v]
			}
		})
	}
	wg.Wait()
	// What is still kept is what was put and not got; anything else true
	// was lost, got twice or got without being put.
	for {
		v, ok := s.Get()
		if !ok {
			break
		}
		if !kept[v] {
			t.Fatalf("%d is kept, but was not put or was got already", v)
		}
		delete(kept, v)
	}
	for v, k := range kept {
		if k {
			t.Fatalf("%d was put and kept, then lost, or got twice", v)
		}
	}
}
