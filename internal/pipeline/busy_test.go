package pipeline

import (
	"fmt"
	"math/rand/v2"
	"slices"
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

// Jobs of random records start and end in random order, against a model
// of the records each job in flight holds; every other round, hashes have
// 2 bits, so records of one job and of different jobs collide. A job is
// never taken while another in flight holds one of its records; a record
// of a job in flight is always busy; a job whose records no job in flight
// holds, colliding or not, is taken once nothing else is in flight (a
// collision may make it wait, never forever); and with nothing in flight,
// nothing is held.
func TestBusyRecordsWhenHashesCollide(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 400 {
		br := newBusyRecords()
		if round%2 == 1 {
			br.mask = 3
		}
		var running [][]string // the model: the records of each job in flight
		newJob := func() []string {
			var ids []string
			for _, i := range rng.Perm(12)[:1+rng.IntN(6)] { // a buffer's records are distinct
				ids = append(ids, fmt.Sprintf("Account/ext=%d", i))
			}
			return ids
		}
		heldByRunning := func(id string) bool {
			return slices.ContainsFunc(running, func(job []string) bool { return slices.Contains(job, id) })
		}
		for op := range 60 {
			if len(running) > 0 && rng.IntN(3) == 0 {
				k := rng.IntN(len(running))
				br.remove(running[k])
				running = slices.Delete(running, k, k+1)
			} else {
				ids := newJob()
				if br.take(ids) {
					for _, id := range ids {
						if heldByRunning(id) {
							t.Fatalf("round %d, op %d: a job taken with %s, held by a job in flight (%v)", round, op, id, running)
						}
					}
					running = append(running, ids)
				} else if len(running) == 0 {
					t.Fatalf("round %d, op %d: a job of %v refused with nothing in flight", round, op, ids)
				}
			}
			for _, job := range running {
				for _, id := range job {
					if !br.holds(id) {
						t.Fatalf("round %d, op %d: %s free while its job runs", round, op, id)
					}
				}
			}
		}
		for _, job := range running {
			br.remove(job)
		}
		if br.held != 0 || len(br.running) != 0 {
			t.Fatalf("round %d: %d held by %d jobs with nothing in flight", round, br.held, len(br.running))
		}
		for i := range 12 {
			if id := fmt.Sprintf("Account/ext=%d", i); br.holds(id) {
				t.Fatalf("round %d: %s busy with nothing in flight", round, id)
			}
		}
	}
}

// The entries of ended jobs are swept as they pile up; the records of the
// jobs in flight stay busy through it, a job of one record as much as a
// large one.
func TestBusyRecordsSurviveSweeps(t *testing.T) {
	br := newBusyRecords()
	one, large := []string{"Account/ext=one"}, make([]string, 20_000)
	for i := range large {
		large[i] = fmt.Sprint("Account/ext=large-", i)
	}
	if !br.take(one) || !br.take(large) {
		t.Fatal("jobs of distinct records refused")
	}
	for job := range 30_000 { // twice the large job's entries and more: swept
		ids := []string{fmt.Sprint("Account/ext=churn-", job), fmt.Sprint("Account/ext=churn-", job, "b")}
		if !br.take(ids) {
			t.Fatalf("job %d of free records refused", job)
		}
		br.remove(ids)
	}
	for _, id := range append(large[:100:100], one...) {
		if !br.holds(id) {
			t.Fatalf("%s free while its job runs", id)
		}
	}
	if br.take([]string{"Account/ext=new", one[0]}) {
		t.Fatal("a job of a busy record taken after the table was made anew")
	}
}

// BenchmarkBusyTake takes and ends jobs of 30,000 distinct records, with
// three others in flight, as a stream of distinct upserts does: the cost
// of a record's turn in the table (ns/op is per record).
func BenchmarkBusyTake(b *testing.B) {
	const jobSize, inFlight = 30_000, 4
	jobs := make([][]string, 64)
	for j := range jobs {
		jobs[j] = make([]string, jobSize)
		for i := range jobs[j] {
			jobs[j][i] = fmt.Sprintf("Account/External_Id__c=ext-%d-%d", j, i)
		}
	}
	br := newBusyRecords()
	for j := range inFlight - 1 {
		br.take(jobs[j])
	}
	b.ResetTimer()
	for n := 0; n < b.N; n += jobSize {
		k := n / jobSize
		next, done := jobs[(k+inFlight-1)%len(jobs)], jobs[k%len(jobs)]
		if !br.take(next) {
			b.Fatal("refused")
		}
		br.remove(done)
	}
}
