package pipeline

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/internal/batch"
	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// The model-based test: a random stream of changes over a small key space
// (upserts with nulls, updates and deletes by Id, re-creates, contacts with
// parent references, invalid rows), several partitions, through the whole
// pipeline against the emulator with lock and unprocessed-row faults on.
// The org's final state must equal a reference model that applies, one by
// one and in partition order, every event reported successful; no event
// may be reported successful that the model says Salesforce would refuse;
// failures must be of the kinds the stream provokes; every event has
// exactly one result.
//
// Seeds: BULKSTREAM_MODEL_SEEDS=n runs n seeds (default 3);
// BULKSTREAM_MODEL_SEED=s replays one.

// modelEvent is one generated change, with what the model needs to apply it.
type modelEvent struct {
	record  *kgo.Record
	object  string
	op      event.Operation
	ext     string // the record's external id (also for changes by Id)
	id      string // Id targeted by update/delete
	fields  map[string]*string
	invalid bool // carries a value Salesforce refuses
}

const (
	modelAccounts = 24 // accounts that change all the time
	modelParents  = 4  // accounts that contacts point at; never changed
	modelContacts = 40
)

func modelSeeds(t *testing.T) []uint64 {
	if s := os.Getenv("BULKSTREAM_MODEL_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return []uint64{seed}
	}
	n := 3
	if s := os.Getenv("BULKSTREAM_MODEL_SEEDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = uint64(i + 1)
	}
	return seeds
}

func TestModelFinalStateEqualsSource(t *testing.T) {
	for _, seed := range modelSeeds(t) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			violations, stats := runModel(t, seed, false)
			for _, v := range violations {
				t.Error(v)
			}
			if len(violations) > 0 {
				t.Logf("replay: BULKSTREAM_MODEL_SEED=%d go test -run TestModelFinalStateEqualsSource ./internal/pipeline/", seed)
			}
			t.Logf("%s", stats)
		})
	}
}

// The same stream through a naive (object, operation) batcher, without
// coalescing or ordering, ends wrong: that is what the model test guards.
func TestModelNaiveBatcherEndsWrong(t *testing.T) {
	violations, stats := runModel(t, 1, true)
	if len(violations) == 0 {
		t.Fatalf("the naive batcher passed the model check; the model test could not tell ordering bugs (%s)", stats)
	}
	t.Logf("naive batcher: %d violations, e.g. %s (%s)", len(violations), violations[0], stats)
}

// runModel generates the stream of seed, runs it, and returns what the
// final state and the results break of the model.
func runModel(t *testing.T, seed uint64, naive bool) (violations []string, stats string) {
	w := newWorld(t, 4, bulkemu.Options{LockWait: 5 * time.Millisecond,
		Faults: bulkemu.Faults{Seed: int64(seed), LockErrorRate: 0.04, UnprocessedRate: 0.02, RowsPerSecond: 20000}},
		"crm.accounts", "crm.contacts")
	rr := w.readResults()
	opts := w.options(fmt.Sprintf("model-%d", seed),
		Route{Topics: []string{"crm.accounts", "crm.contacts"}, Decoder: event.NewEnvelopeDecoder(event.Defaults{})})
	opts.Batch = batch.Policy{MaxBytes: 1 << 20, MaxRecords: 40, MaxAge: 30 * time.Millisecond, SpillThreshold: 1 << 20,
		SpillDir: t.TempDir(), ParentOrder: !naive, DisableCoalescing: naive}
	opts.MaxAttempts = 10
	opts.MaxJobsInFlight = 6
	opts.RetryBase, opts.RetryMax = 5*time.Millisecond, 50*time.Millisecond
	opts.naive = naive
	run := w.start(opts)

	// Phase 0: the records exist; the pipeline learns their Ids.
	var setup []*kgo.Record
	for i := 0; i < modelAccounts+modelParents; i++ {
		ext := accountExt(i)
		setup = append(setup, &kgo.Record{Topic: "crm.accounts", Key: []byte(ext),
			Value: envelope("Account", event.Upsert, "External_Id__c", map[string]any{"External_Id__c": ext, "Name": "Initial " + ext})})
	}
	w.produce(setup...)
	rr.waitFor(t, len(setup), 60*time.Second) // parents first
	for i := 0; i < modelContacts; i++ {
		ext := fmt.Sprintf("C-%02d", i)
		setup = append(setup, &kgo.Record{Topic: "crm.contacts", Key: []byte(ext),
			Value: envelope("Contact", event.Upsert, "External_Id__c", map[string]any{"External_Id__c": ext, "LastName": "Initial " + ext,
				"Account.External_Id__c": accountExt(modelAccounts + i%modelParents)})})
	}
	w.produce(setup[modelAccounts+modelParents:]...)
	rr.waitFor(t, len(setup), 60*time.Second)
	ids := map[string]string{} // external id → Id, for changes by Id
	initial := map[string]*modelRecordState{}
	for _, obj := range []string{"Account", "Contact"} {
		for _, r := range w.emu.Records(obj) {
			ids[r.Fields["External_Id__c"]] = r.ID
			initial[obj+"/"+r.Fields["External_Id__c"]] = &modelRecordState{id: r.ID, live: true, fields: userFields(r.Fields)}
		}
	}

	// Phase 1: the random stream.
	rng := rand.New(rand.NewPCG(seed, seed*7919))
	stream := generate(rng, ids, 2500)
	records := make([]*kgo.Record, len(stream))
	for i, e := range stream {
		records[i] = e.record
	}
	w.produce(records...)
	rr.waitFor(t, len(setup)+len(stream), 120*time.Second)
	time.Sleep(200 * time.Millisecond) // a second result, if any, would arrive now
	run.shutdown(t)

	results, _ := rr.snapshot()
	violations = checkModel(w, stream, initial, results)
	codes := map[string]int{}
	for _, rs := range results {
		for _, r := range rs {
			codes[r.ErrorCode]++
		}
	}
	retries := counterValue(t, opts.Metrics.RowRetries.WithLabelValues("UNABLE_TO_LOCK_ROW")) +
		counterValue(t, opts.Metrics.RowRetries.WithLabelValues(CodeUnprocessed))
	return violations, fmt.Sprintf("%d events, results by code %v, %.0f rows retried", len(stream), codes, retries)
}

func accountExt(i int) string { return fmt.Sprintf("K-%02d", i) }

// generate makes n random changes: most to a small set of accounts so keys
// collide constantly, some to contacts that point at stable parents.
func generate(rng *rand.Rand, ids map[string]string, n int) []modelEvent {
	str := func(s string) *string { return &s }
	var out []modelEvent
	for i := 0; i < n; i++ {
		var e modelEvent
		if rng.IntN(5) == 0 { // a contact
			ext := fmt.Sprintf("C-%02d", rng.IntN(modelContacts))
			e = modelEvent{object: "Contact", ext: ext}
			switch rng.IntN(6) {
			case 0:
				e.op, e.id = event.Delete, ids[ext]
			default:
				e.op = event.Upsert
				e.fields = map[string]*string{"LastName": str(fmt.Sprintf("Last %d", i)),
					"Account.External_Id__c": str(accountExt(modelAccounts + rng.IntN(modelParents)))}
				if rng.IntN(3) == 0 {
					e.fields["Title"] = nil
				} else {
					e.fields["Title"] = str(fmt.Sprintf("Title %d", i))
				}
			}
		} else {
			ext := accountExt(rng.IntN(modelAccounts))
			e = modelEvent{object: "Account", ext: ext}
			switch r := rng.IntN(20); {
			case r < 2:
				e.op, e.id = event.Delete, ids[ext]
			case r < 6:
				e.op, e.id = event.Update, ids[ext]
				e.fields = randomFields(rng, i, false)
			default: // an upsert: an update, or a re-create after a delete
				e.op = event.Upsert
				e.fields = randomFields(rng, i, true)
			}
			if e.fields != nil && rng.IntN(40) == 0 {
				e.fields["NumberOfEmployees"], e.invalid = str("many"), true
			}
		}
		e.record = modelRecord(e)
		out = append(out, e)
	}
	return out
}

func randomFields(rng *rand.Rand, i int, withName bool) map[string]*string {
	str := func(s string) *string { return &s }
	f := map[string]*string{}
	if withName || rng.IntN(2) == 0 {
		f["Name"] = str(fmt.Sprintf("Name %d", i))
	}
	for _, name := range []string{"Industry", "NumberOfEmployees", "Phone"} {
		switch rng.IntN(4) {
		case 0:
			f[name] = nil // set to null
		case 1, 2:
			if name == "NumberOfEmployees" {
				f[name] = str(strconv.Itoa(i))
			} else {
				f[name] = str(fmt.Sprintf("%s %d", name, i))
			}
		} // else: absent, left unchanged
	}
	return f
}

// modelRecord is the Kafka record of a change: an envelope keyed by the
// record's external id, so all changes of a record share a partition.
func modelRecord(e modelEvent) *kgo.Record {
	fields := map[string]any{}
	switch {
	case e.op.IsDelete():
		fields["Id"] = e.id
	case e.op == event.Update:
		fields["Id"] = e.id
	default:
		fields["External_Id__c"] = e.ext
	}
	for k, v := range e.fields {
		if v == nil {
			fields[k] = nil
		} else {
			fields[k] = *v
		}
	}
	ext := ""
	if e.op == event.Upsert {
		ext = "External_Id__c"
	}
	topic := "crm.accounts"
	if e.object == "Contact" {
		topic = "crm.contacts"
	}
	return &kgo.Record{Topic: topic, Key: []byte(e.ext), Value: envelope(e.object, e.op, ext, fields)}
}

// modelRecordState is a record as the model sees it.
type modelRecordState struct {
	id        string // "" for a record created during the stream (its Id is unknown)
	live      bool
	fields    map[string]string
	deletedBy string // the job that deleted it
}

// checkModel replays the stream's successful events, partition by
// partition in offset order, on model (the org after phase 0), and compares
// with the org.
func checkModel(w *world, stream []modelEvent, model map[string]*modelRecordState, results map[Source][]Result) []string {
	var v []string
	byPos := map[Source]modelEvent{}
	for _, e := range stream {
		byPos[Source{Topic: e.record.Topic, Partition: e.record.Partition, Offset: e.record.Offset}] = e
	}
	for src, rs := range results {
		if len(rs) != 1 {
			v = append(v, fmt.Sprintf("%v has %d results", src, len(rs)))
		}
	}
	positions := slices.Collect(maps.Keys(byPos))
	slices.SortFunc(positions, func(a, b Source) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	for _, pos := range positions {
		e := byPos[pos]
		rs := results[pos]
		if os.Getenv("MODEL_TRACE") == e.ext && len(rs) > 0 {
			fmt.Printf("TRACE %v %s %s id=%s fields=%v -> success=%v code=%s job=%s attempts=%d\n", pos, e.op, e.ext, e.id, e.fields, rs[0].Success, rs[0].ErrorCode, rs[0].JobID, rs[0].Attempts)
		}
		if len(rs) == 0 {
			v = append(v, fmt.Sprintf("%v (%s %s %s) has no result", pos, e.op, e.object, e.ext))
			continue
		}
		res := rs[0]
		key := e.object + "/" + e.ext
		rec := model[key]
		if !res.Success {
			switch {
			case res.ErrorCode == "INVALID_FIELD" && strings.HasPrefix(res.Error, "Failed to deserialize field"): // a value of the wrong type
			case res.ErrorCode == "ENTITY_IS_DELETED", res.ErrorCode == "INVALID_CROSS_REFERENCE_KEY":
			default:
				v = append(v, fmt.Sprintf("%v (%s %s %s): unexpected failure %s: %s", pos, e.op, e.object, e.ext, res.ErrorCode, res.Error))
			}
			continue
		}
		// An invalid value that a later change in the same row replaced
		// never reaches Salesforce: the row, and so the event, succeeds. If
		// it had not been replaced, the row would have failed.
		switch e.op {
		case event.Upsert:
			if rec == nil || !rec.live {
				rec = &modelRecordState{live: true, fields: map[string]string{}}
				model[key] = rec
			}
			apply(rec.fields, e.fields)
		case event.Update, event.Delete:
			if e.op == event.Delete && rec != nil && !rec.live && rec.id == e.id && rec.deletedBy == res.JobID {
				continue // two deletes folded into one row: one delete, both succeed
			}
			if rec == nil || !rec.live || rec.id != e.id {
				v = append(v, fmt.Sprintf("%v: %s of %s (%s) succeeded, but the model has that record deleted: out of order", pos, e.op, e.ext, e.id))
				continue
			}
			if e.op == event.Delete {
				rec.live, rec.deletedBy = false, res.JobID
			} else {
				apply(rec.fields, e.fields)
			}
		}
	}
	// The org must hold exactly the model's live records.
	for _, obj := range []string{"Account", "Contact"} {
		got := map[string]map[string]string{}
		for _, r := range w.emu.Records(obj) {
			if !r.Deleted {
				got[r.Fields["External_Id__c"]] = userFields(r.Fields)
			}
		}
		for key, rec := range model {
			ext, ok := strings.CutPrefix(key, obj+"/")
			if !ok || !rec.live {
				continue
			}
			if !maps.Equal(got[ext], rec.fields) {
				v = append(v, fmt.Sprintf("%s %s: org has %v, the source gives %v", obj, ext, got[ext], rec.fields))
			}
			delete(got, ext)
		}
		for ext, fields := range got {
			v = append(v, fmt.Sprintf("%s %s: in the org (%v), deleted in the source", obj, ext, fields))
		}
	}
	return v
}

func apply(fields map[string]string, change map[string]*string) {
	for k, val := range change {
		if k == "Account.External_Id__c" {
			continue // the org stores the parent's Id; the parents never change
		}
		if val == nil {
			delete(fields, k)
		} else {
			fields[k] = *val
		}
	}
}

// userFields drops the fields the model does not track.
func userFields(f map[string]string) map[string]string {
	out := map[string]string{}
	for k, val := range f {
		if k != "External_Id__c" && k != "AccountId" {
			out[k] = val
		}
	}
	return out
}
