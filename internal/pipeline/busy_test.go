package pipeline

import (
	"fmt"
	"testing"
)

// A job's records are busy until it ends, whatever ended before; the
// entries of ended jobs are swept away, so the table holds about the
// records in flight, not every record seen.
func TestBusyRecords(t *testing.T) {
	br := newBusyRecords()
	ids := func(job, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("Account/ext=%d-%d", job, i)
		}
		return out
	}
	a, b := ids(1, 3), ids(2, 2)
	br.add(a)
	br.add(b)
	br.remove(a)
	for _, id := range a {
		if br.holds(id) {
			t.Errorf("%s busy after its job ended", id)
		}
	}
	for _, id := range b {
		if !br.holds(id) {
			t.Errorf("%s free while its job runs", id)
		}
	}
	br.add(a) // a record's next job
	if !br.holds(a[0]) {
		t.Errorf("%s free while its second job runs", a[0])
	}
	br.remove(a)
	br.remove(b)
	for job := range 1000 {
		j := ids(10+job, 50)
		br.add(j)
		br.remove(j)
	}
	if n := len(br.job); n > 4096+50 {
		t.Errorf("%d entries kept with nothing in flight", n)
	}
	if br.held != 0 || len(br.running) != 0 {
		t.Errorf("%d held by %d jobs with nothing in flight", br.held, len(br.running))
	}
}
