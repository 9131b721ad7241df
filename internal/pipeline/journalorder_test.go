package pipeline

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// Rows that fail on a lock run again in follow-up jobs; the journal never
// has a follow-up's open entry for an event before the closing entry of the
// job before it (which replaces that job's open entry, naming the events
// whose results are out): read in order as a resume reads it, no event is
// ever open in two jobs at once (a crash between the two would attach it to
// either and could load it twice). The publishing lane writes closing entries while the job runner
// goes on, so the runner waits for its lane before it journals a follow-up.
func TestFollowUpJobIsJournaledAfterTheJobBeforeCloses(t *testing.T) {
	const n = 400
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	w.emu.SetFaults(bulkemu.Faults{LockErrorRate: 0.5})
	rr := w.readResults()
	opts := w.options("journal-order", accountRoute)
	opts.Journal = testJournal
	run := w.start(opts)
	// Results go out slowly, so a job's closing entry (produced after its
	// results) comes long after the follow-up job is ready.
	var successID [16]byte
	for deadline := time.Now().Add(10 * time.Second); successID == [16]byte{}; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the results topic was not created")
		}
		if topics, err := kadm.NewClient(w.client()).ListTopics(context.Background(), testTopics.Success); err == nil {
			successID = topics[testTopics.Success].ID
		}
	}
	w.cluster.ControlKey(kmsg.Produce.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		w.cluster.KeepControl()
		for _, topic := range req.(*kmsg.ProduceRequest).Topics {
			if topic.Topic == testTopics.Success || topic.TopicID == successID {
				w.cluster.SleepControl(func() { time.Sleep(300 * time.Millisecond) })
				break
			}
		}
		return nil, nil, false
	})
	w.produce(accountRecords(0, n)...)
	rr.waitFor(t, n, 60*time.Second)
	run.shutdown(t)

	cl := w.client(kgo.ConsumeTopics(testJournal), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	defer cl.Close()
	openIn := map[int64]string{} // event offset → the job whose open entry holds it
	followUps := 0
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fetches := cl.PollFetches(ctx)
		cancel()
		if fetches.NumRecords() == 0 {
			break
		}
		fetches.EachRecord(func(r *kgo.Record) {
			var e journal.Entry
			if r.Value == nil || json.Unmarshal(r.Value, &e) != nil || e.JobID == "" {
				return
			}
			if e.State == journal.Closed { // replaces the job's open entry, as a resume reads it
				for o, job := range openIn {
					if job == e.JobID {
						delete(openIn, o)
					}
				}
				return
			}
			if e.Attempt > 1 {
				followUps++
			}
			for _, rg := range e.Offsets {
				for o := rg[0]; o <= rg[1]; o++ {
					if other, ok := openIn[o]; ok && other != e.JobID {
						t.Errorf("event %d journaled open in job %s while job %s still holds it open", o, e.JobID, other)
					}
					openIn[o] = e.JobID
				}
			}
		})
	}
	if followUps == 0 {
		t.Fatalf("no follow-up job was journaled: the test shows nothing")
	}
}
