package pipeline

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/bulkstream/bulkstream/pkg/bulk"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// With a wait policy whose first pause is 3 s, jobs of 200 rows that the
// emulator processes in 200 ms are seen done sooner than that pause: the
// first from firstExpect on, the next at the pace the first showed. Each
// batch's results come within two thirds of it (without the pace, each
// job waits it out).
func TestJobsOfAFastOrgAreSeenDoneWhenTheyEnd(t *testing.T) {
	const pause = 3 * time.Second
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	w.emu.SetFaults(bulkemu.Faults{RowsPerSecond: 1000})
	rr := w.readResults()
	opts := w.options("pace", accountRoute)
	sf, err := bulk.New(w.sfURL, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: w.emu.Token()}),
		bulk.WithWaitPolicy(bulk.WaitPolicy{Initial: pause, Max: 10 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	opts.Salesforce = sf
	opts.Logger = slog.New(slog.DiscardHandler)
	run := w.start(opts)
	defer run.shutdown(t)
	records := accountRecords(0, 400)
	for i, name := range []string{"first", "second"} {
		started := time.Now()
		w.produce(records[200*i : 200*(i+1)]...)
		rr.waitFor(t, 200*(i+1), 30*time.Second)
		if took := time.Since(started); took > pause*2/3 {
			t.Errorf("the %s batch's results took %v; want within two thirds of the wait policy's first pause of %v", name, took.Round(time.Millisecond), pause)
		}
	}
}

// The first job of a key is looked at early from firstExpect on and sets
// the guess to three quarters of its wait; the guess drops by a fifth for
// each job seen done at its early look, becomes three quarters of the wait
// of one seen done at a later look, and half of a wait without an early
// look (a slow org's).
func TestJobPace(t *testing.T) {
	const first = 500 * time.Millisecond
	var jp jobPace
	if got := jp.expect("Account", "upsert", 1000); got != firstExpect {
		t.Fatalf("no job seen: expect %v, want %v", got, firstExpect)
	}
	jp.observe("Account", "upsert", 1000, firstExpect, first, 300*time.Millisecond) // the first job, seen at a later look
	want := 225 * time.Millisecond
	if got := jp.expect("Account", "upsert", 1000); got != want {
		t.Fatalf("after a first job of 300 ms: expect %v, want %v", got, want)
	}
	jp.observe("Account", "upsert", 1000, want, first, want+5*time.Millisecond) // done at the early look
	want = want * 4 / 5
	if got := jp.expect("Account", "upsert", 1000); got != want {
		t.Fatalf("after a job done at its early look: expect %v, want %v", got, want)
	}
	jp.observe("Account", "upsert", 1000, want, first, want+want/2+5*time.Millisecond) // not done then: seen at the next look
	want = (want + want/2 + 5*time.Millisecond) * 3 / 4
	if got := jp.expect("Account", "upsert", 1000); got != want {
		t.Fatalf("after a job not done at its early look: expect %v, want %v", got, want)
	}
	if got := jp.expect("Account", "upsert", 2000); got != 2*want {
		t.Errorf("twice the rows: expect %v, want %v", got, 2*want)
	}
	if got := jp.expect("Contact", "upsert", 1000); got != firstExpect {
		t.Errorf("another object: expect %v, want %v", got, firstExpect)
	}
	for range 50 { // jobs done at every early look: the guess stays at the earliest look
		jp.observe("Order", "insert", 100, jp.expect("Order", "insert", 100), first, 0)
	}
	if got := jp.expect("Order", "insert", 100); got < bulk.MinFirstPause-100 {
		t.Errorf("after 50 jobs done at their early looks: expect %v, want no less than the earliest look %v", got, bulk.MinFirstPause)
	}
	for i := range maxObjects { // object names come from the data: the keys kept are bounded
		jp.observe(fmt.Sprint("Custom", i, "__c"), "insert", 1, firstExpect, first, time.Second)
	}
	if len(jp.perRow) != maxObjects {
		t.Errorf("%d keys kept after %d more objects, want at most %d", len(jp.perRow), maxObjects, maxObjects)
	}
	if got := jp.expect("Unseen__c", "insert", 1); got != 0 {
		t.Errorf("a key past the bound: expect %v, want 0 (the policy alone)", got)
	}
	jp.observe("Account", "upsert", 1000, want, first, 20*time.Second) // a slow org: seen at a late look
	if got := jp.expect("Account", "upsert", 1000); got != 15*time.Second {
		t.Errorf("after a job of 20 s: expect %v, want 15s (no early look)", got)
	}
	jp.observe("Account", "upsert", 1000, 15*time.Second, first, 20*time.Second) // no early look
	if got := jp.expect("Account", "upsert", 1000); got != 10*time.Second {
		t.Errorf("after a wait of 20 s without an early look: expect %v, want 10s", got)
	}
}
