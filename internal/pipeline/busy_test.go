package pipeline

import (
	"fmt"
	"testing"
)

// A job's records are busy until it ends, whatever ended before; a job
// that would hold a busy record is refused and holds nothing; the entries
// of ended jobs are swept away, so the table holds about the records in
// flight, not every record seen.
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
	if !br.take(a) || !br.take(b) {
		t.Fatal("jobs of distinct records refused")
	}
	c := append(ids(3, 2), b[1])
	if br.take(c) {
		t.Fatal("a job holding a busy record taken")
	}
	if br.holds(c[0]) || br.holds(c[1]) {
		t.Error("a refused job holds its records")
	}
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
	if !br.take(a) { // a record's next job
		t.Fatal("a record's next job refused")
	}
	if !br.holds(a[0]) {
		t.Errorf("%s free while its second job runs", a[0])
	}
	br.remove(a)
	br.remove(b)
	for job := range 1000 {
		j := ids(10+job, 50)
		br.take(j)
		br.remove(j)
	}
	if n := len(br.job); n > 4096+50 {
		t.Errorf("%d entries kept with nothing in flight", n)
	}
	if br.held != 0 || len(br.running) != 0 {
		t.Errorf("%d held by %d jobs with nothing in flight", br.held, len(br.running))
	}
}
