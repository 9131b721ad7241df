package batch

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// topicRuns numbers the calls of newTopics, so that each makes names no
// call before made (tests run with -count, benchmarks run many times).
var topicRuns atomic.Int64

// newTopics makes n topic names the table has not seen, each
// prefix-run-i.
func newTopics(prefix string, n int) []string {
	run := topicRuns.Add(1)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprint(prefix, "-", run, "-", i)
	}
	return names
}

// allocatedBy is the bytes allocated while f runs (no test here runs in
// parallel, so nearly all of it is f's).
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Numbering a new topic costs about the same whatever the number of topics
// seen before: under 2 KiB allocated a topic, among the first thousand new
// ones and among four thousand more, not 16 bytes for each topic seen
// before (as when the table of names was copied whole for each new topic,
// as a topic_regex over many short-lived topics makes happen). The map of
// names doubles in steps, so a thousand topics may allocate several times
// the average; each figure is the least of three tries.
func TestNewTopicsCostLinear(t *testing.T) {
	const n = 1000
	perTopic := func(n int) float64 {
		least := math.Inf(1)
		for range 3 {
			names := newTopics(t.Name(), n)
			bytes := allocatedBy(func() {
				for _, name := range names {
					topicNumber(name)
				}
			})
			least = min(least, float64(bytes)/float64(n))
		}
		return least
	}
	few, many := perTopic(n), perTopic(4*n)
	t.Logf("%.0f bytes allocated a new topic among %d, %.0f among %d", few, n, many, 4*n)
	if few > 2048 || many > 2048 {
		t.Errorf("a new topic allocates %.0f bytes among %d, %.0f among %d, want under 2,048: the table is copied as it grows", few, n, many, 4*n)
	}
}

// The table keeps a topic's name, not the record-sized memory the name was
// cut from. A topic keeps about its name and 100 bytes on average (the
// bound topicNames states), but a few thousand may keep more while the map
// of names doubles, hence the limit of 1 KiB; the figure is the least of
// three tries.
func TestTopicTableBytesPerTopic(t *testing.T) {
	const n, nameLen = 5000, 200
	least := math.Inf(1)
	for range 3 {
		prefix := fmt.Sprint(t.Name(), "-", topicRuns.Add(1))
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			// each name cut from a record-sized buffer of its own, as
			// a decoder might hand it over
			buf := fmt.Sprintf("%0*d-%s", 4096, i, prefix)
			topicNumber(buf[len(buf)-nameLen:])
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		least = min(least, (float64(after.HeapAlloc)-float64(before.HeapAlloc))/n)
	}
	t.Logf("%.0f bytes kept a topic of %d bytes", least, nameLen)
	if least > 1024 {
		t.Errorf("%.0f bytes kept a topic of %d bytes, want at most 1,024: the names keep what they were cut from", least, nameLen)
	}
}

// Events' topics read back right while other goroutines number new topics
// and read theirs at once (run with -race: the table is written by the
// goroutine that numbers a topic and read by any).
func TestTopicsReadWhileAdded(t *testing.T) {
	known := newTopics(t.Name()+"-known", 100)
	events := make([]Event, len(known))
	for i, name := range known {
		events[i] = Event{topic: topicNumber(name)}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i, name := range newTopics(fmt.Sprint(t.Name(), "-", w), 3000) {
				ev := Event{topic: topicNumber(name)}
				if got := ev.Topic(); got != name {
					t.Errorf("new topic %q read back as %q", name, got)
					return
				}
				if got, want := events[i%len(events)].Topic(), known[i%len(known)]; got != want {
					t.Errorf("topic %q read back as %q while others were added", want, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkEventTopic measures reading an event's topic, as each result
// and dead letter does: per event.
func BenchmarkEventTopic(b *testing.B) {
	events := make([]Event, 64)
	for i := range events {
		events[i] = Event{topic: topicNumber(fmt.Sprint("bench-topic-", i%4))}
	}
	var n int
	i := 0
	for b.Loop() {
		n += len(events[i&63].Topic())
		i++
	}
	runtime.KeepAlive(n)
}

// BenchmarkNewTopic measures numbering a topic never seen, as a
// topic_regex route over many short-lived topics does: per topic, with
// b.N topics new in the run.
func BenchmarkNewTopic(b *testing.B) {
	names := newTopics(strings.Repeat("x", 40), b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		topicNumber(names[i])
	}
}
