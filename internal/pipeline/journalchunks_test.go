package pipeline

import (
	"context"
	"encoding/json"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bulkstream/bulkstream/internal/journal"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
)

// An insert job of two chunks of results whose instance stops after the
// first chunk is out and before the second is: the journal keeps the job's
// slice open for the events whose results are not out, so the next owner
// passes over the first chunk's events and re-attaches the others to the
// job, whose results it reads again. Each event makes one record in the
// org and has one result, from the one job. Before, the first chunk's
// closing entry replaced the slice's open entry and named its own events
// only: the others were loaded again as new rows, duplicating them.
func TestJobStoppedBetweenChunksIsResumedForTheRest(t *testing.T) {
	inBothDeliveryModes(t, testStoppedBetweenChunks)
}

func testStoppedBetweenChunks(t *testing.T, exactlyOnce bool) {
	const n = settleChunk + 1000
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	rr := w.readResults()
	refused := stopBetweenChunks(t, w, w.journalOptions("chunks", insertRoute, exactlyOnce, n), insertRecords("C", n))
	rr.waitFor(t, settleChunk, 10*time.Second)
	time.Sleep(200 * time.Millisecond) // more results would come now, if wrongly
	if results, _ := rr.snapshot(); len(results) != settleChunk {
		t.Fatalf("%d events have results after the first instance, want the first chunk's %d", len(results), settleChunk)
	}
	refused.Store(-1) // results go out again
	results := w.runExpectingEachOnce(t, w.journalOptions("chunks", insertRoute, exactlyOnce, n), 20*time.Second, n, "C", n)
	w.committedAtEnd("chunks", "crm.accounts")
	// The resumed job's closing entry names the first chunk's events too:
	// until the group commits past them, the last word on them.
	words := journalOfTheJob(t, w, eventsByJob(results))
	if len(words) != 3 {
		t.Fatalf("the job's journal entries: %+v, want open, open with the first chunk published, closed", words)
	}
	if e := words[1]; e.State != journal.Open || !reflect.DeepEqual(e.Offsets, [][2]int64{{0, n - 1}}) || !reflect.DeepEqual(e.Published, [][2]int64{{0, settleChunk - 1}}) {
		t.Errorf("the first chunk's entry: %+v, want open [[0 %d]], published [[0 %d]]", e, n-1, settleChunk-1)
	}
	if e := words[2]; e.State != journal.Closed || !reflect.DeepEqual(e.Offsets, [][2]int64{{0, n - 1}}) {
		t.Errorf("the resumed job's last entry: %+v, want closed [[0 %d]]", e, n-1)
	}
}

// journalWords returns the entries written on the slices of job, in
// order, read committed, up to the journal's end (tombstones left out).
func journalWords(t *testing.T, w *world, job string) []journal.Entry {
	t.Helper()
	cl := w.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{testJournal: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(context.Background(), testJournal)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(testJournal, 0)
	var out []journal.Entry
	for next := int64(0); next < end.Offset; {
		fetches := cl.PollFetches(context.Background())
		fetches.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			var e journal.Entry
			if !r.Attrs.IsControl() && r.Value != nil && json.Unmarshal(r.Value, &e) == nil && e.JobID == job {
				out = append(out, e)
			}
		})
	}
	return out
}

// stopBetweenChunks runs an instance with opts on records until its first
// chunk of results is out and the second is refused, and stops it. Results
// are refused until the caller stores -1 in what it returns.
func stopBetweenChunks(t *testing.T, w *world, opts Options, records []*kgo.Record) *atomic.Int64 {
	t.Helper()
	opts.ShutdownGrace = 100 * time.Millisecond // the second chunk never goes out
	run := w.start(opts)
	refused := cutResultsAfter(t, w, settleChunk)
	w.produce(records...)
	for deadline := time.Now().Add(20 * time.Second); refused.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second chunk of results was never published")
		}
	}
	run.shutdown(t)
	return refused
}

// cutResultsAfter lets the first n results through to the success topic
// and refuses every later produce request that carries results, counting
// the refusals in the returned counter, until the counter is set below 0.
func cutResultsAfter(t *testing.T, w *world, n int64) *atomic.Int64 {
	t.Helper()
	var success [16]byte
	for deadline := time.Now().Add(10 * time.Second); success == [16]byte{}; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the results topic was not created")
		}
		if topics, err := kadm.NewClient(w.client()).ListTopics(context.Background(), testTopics.Success); err == nil {
			success = topics[testTopics.Success].ID
		}
	}
	var passed, refused atomic.Int64
	w.cluster.ControlKey(kmsg.Produce.Int16(), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		w.cluster.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		results := int64(0)
		for _, topic := range req.Topics {
			if topic.Topic == testTopics.Success || topic.TopicID == success {
				for _, p := range topic.Partitions {
					results += recordsIn(p.Records)
				}
			}
		}
		if results == 0 || refused.Load() < 0 || passed.Load() < n {
			passed.Add(results)
			return nil, nil, false
		}
		refused.Add(1)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, topic := range req.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = topic.Topic, topic.TopicID
			for _, p := range topic.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, kerr.PolicyViolation.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	return &refused
}

// recordsIn counts the records of a produce request's record batches.
func recordsIn(raw []byte) int64 {
	n := int64(0)
	for len(raw) > 0 {
		var b kmsg.RecordBatch
		if b.ReadFrom(raw) != nil {
			break
		}
		n += int64(b.NumRecords)
		raw = raw[min(len(raw), 12+int(b.Length)):] // base offset and length, then the batch
	}
	return n
}

// A slice whose job published some of its results and not yet the others
// is open with them published (an older job holding its events too failed
// as a whole, and the slice's job took its rows): the published events are
// passed over, the others are attached to the slice's job alone; a slice
// with every event published is not re-attached.
func TestPlanAttachesTheUnpublishedEventsOfAnOpenSlice(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	open := func(job string, first, last int64, published ...[2]int64) journal.Entry {
		return journal.Entry{JobID: job, Object: "Account", Operation: "insert", Attempt: 1, Topic: "crm.accounts", State: journal.Open,
			Offsets: [][2]int64{{first, last}}, Published: published}
	}
	writeJournal(t, w,
		open("A", 0, 19), open("B", 0, 19, [2]int64{0, 4}, [2]int64{8, 9}), // A failed as a whole; B published in chunks
		open("C", 20, 29, [2]int64{20, 29}), // C's last chunk never closed it
	)
	w.fill(30)
	pl := planAt(t, w, "plan-published", 0)
	offsets := offsetSet
	if got, want := attached(pl), map[string]map[int64]bool{"B": offsets([2]int64{5, 7}, [2]int64{10, 19})}; !reflect.DeepEqual(got, want) {
		t.Errorf("attachments wait for\n%v\nwant\n%v", got, want)
	}
	if skip, want := passedOverIn(pl, topicPartition{"crm.accounts", 0}), offsets([2]int64{0, 4}, [2]int64{8, 9}, [2]int64{20, 29}); !reflect.DeepEqual(skip, want) {
		t.Errorf("events passed over: %v, want %v", skip, want)
	}
}

// The entry that keeps a slice open with its first chunk published is
// cleared once the group has committed past all the slice's events, not
// past the published ones: cleared before, it would leave the others to be
// loaded again.
func TestSliceKeptOpenIsClearedOnceCommittedPastAllItsEvents(t *testing.T) {
	w := newWorld(t, 1, bulkemu.Options{}, "crm.accounts")
	writeJournal(t, w)
	opts := w.options("journal-gc-open", insertRoute)
	opts.Journal = testJournal
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	tp := topicPartition{"crm.accounts", 0}
	slice := &journal.Entry{JobID: "J", Object: "Account", Operation: "insert", Attempt: 1, Topic: tp.topic, State: journal.Open, Offsets: [][2]int64{{0, 99}}}
	commit := func(offset int64) {
		req, resp := kmsg.NewPtrOffsetCommitRequest(), kmsg.NewPtrOffsetCommitResponse()
		rt, rp := kmsg.NewOffsetCommitRequestTopic(), kmsg.NewOffsetCommitRequestTopicPartition()
		rt.Topic, rp.Partition, rp.Offset = tp.topic, tp.partition, offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		p.onCommit(w.client(), req, resp, nil)
	}
	kept := func() int {
		p.spent.mu.Lock()
		defer p.spent.mu.Unlock()
		return len(p.spent.m[tp])
	}
	p.closed("J", closedRanges{tp: {{0, 49}}}, map[topicPartition]*journal.Entry{tp: slice})
	commit(50)
	if kept() != 1 {
		t.Fatal("the slice kept open was cleared once the group passed its published events")
	}
	commit(100)
	if kept() != 0 {
		t.Fatal("the slice kept open was not cleared once the group passed all its events")
	}
}
