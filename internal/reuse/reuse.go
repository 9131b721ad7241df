// Package reuse keeps a few values of a kind, such as a closed buffer's
// slices, for the next user to take instead of allocating its own.
package reuse

// Spares holds up to its capacity of values for reuse, first in, first
// out; what does not fit is left to the garbage collector, so what it
// keeps stays bounded. Make one with make, its capacity the bound:
//
//	var spares = make(reuse.Spares[[]byte], 2)
//
// and use it only through Get and Put, from any number of goroutines. A
// nil Spares, or one of capacity 0, keeps nothing. Unlike a sync.Pool, it
// keeps its values across garbage collections.
//
// Put keeps a value as it is: clear what it must not keep alive (a
// record, a string of an event) before putting it.
type Spares[T any] chan T

// Get returns the value kept longest and true, or the zero T and false
// when none is kept; it never waits.
func (s Spares[T]) Get() (T, bool) {
	select {
	case v := <-s:
		return v, true
	default:
		var zero T
		return zero, false
	}
}

// Put keeps v and reports true, or, when the bound is reached, leaves v
// to the garbage collector and reports false; it never waits.
func (s Spares[T]) Put(v T) bool {
	select {
	case s <- v:
		return true
	default:
		return false
	}
}
