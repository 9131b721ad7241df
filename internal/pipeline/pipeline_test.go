package pipeline

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// The whole path over real protocols: envelope and json events on several
// partitions through kfake, jobs in the emulator, one result per event, the
// org's final state, dead-letter copies with their headers, and offsets
// committed to the end.
func TestEndToEnd(t *testing.T) {
	const (
		accounts = 3000 // envelope upserts, with updates to the same records
		contacts = 2000 // json upserts pointing at their account
	)
	// Concurrent contact jobs share parents; a generous lock wait keeps
	// UNABLE_TO_LOCK_ROW (retried by a later issue) out of this test.
	w := newWorld(t, 4, bulkemu.Options{LockWait: 10 * time.Second}, "crm.accounts", "crm.contacts")
	rng := rand.New(rand.NewPCG(1, 2))
	var records []*kgo.Record
	want := map[string]map[string]string{} // Account external id → final fields
	for i := 0; i < accounts; i++ {
		ext := fmt.Sprintf("ACC-%04d", rng.IntN(1000))
		fields := map[string]any{"External_Id__c": ext, "Name": fmt.Sprintf("Account %d", i), "NumberOfEmployees": i}
		switch {
		case i%97 == 0: // invalid: not a number
			fields["NumberOfEmployees"] = "many"
		case i%89 == 0: // malformed JSON
			records = append(records, &kgo.Record{Topic: "crm.accounts", Key: []byte(ext), Value: []byte(`{"object": "Account", "fields": {`)})
			continue
		}
		records = append(records, &kgo.Record{Topic: "crm.accounts", Key: []byte(ext), Value: envelope("Account", event.Upsert, "External_Id__c", fields),
			Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("test")}}})
		if _, bad := fields["NumberOfEmployees"].(string); bad {
			continue
		}
		want[ext] = map[string]string{"Name": fmt.Sprintf("Account %d", i), "NumberOfEmployees": fmt.Sprint(i)}
	}
	w.produce(records...)
	rr := w.readResults()
	opts := w.options("e2e",
		Route{Topics: []string{"crm.accounts"}, Decoder: event.NewEnvelopeDecoder(event.Defaults{})},
		Route{Topics: []string{"crm.contacts"}, Decoder: event.NewJSONDecoder(event.Defaults{Object: "Contact", Operation: event.Upsert, ExternalIDField: "External_Id__c"})})
	run := w.start(opts)
	rr.waitFor(t, len(records), 60*time.Second)

	// Contacts come once their accounts exist, and point at them by
	// external id.
	var contactRecords []*kgo.Record
	for i := 0; i < contacts; i++ {
		acc := fmt.Sprintf("ACC-%04d", rng.IntN(1000))
		v, _ := json.Marshal(map[string]any{"External_Id__c": fmt.Sprintf("CON-%05d", i), "LastName": fmt.Sprintf("Contact %d", i),
			"Account.External_Id__c": acc})
		contactRecords = append(contactRecords, &kgo.Record{Topic: "crm.contacts", Key: []byte(fmt.Sprint(i)), Value: v})
	}
	w.produce(contactRecords...)
	total := len(records) + len(contactRecords)
	rr.waitFor(t, total, 60*time.Second)
	run.shutdown(t)

	results, dlq := rr.snapshot()
	if len(results) != total {
		t.Fatalf("%d events with results, want %d", len(results), total)
	}
	failures := 0
	for src, rs := range results {
		if len(rs) != 1 {
			t.Fatalf("%v has %d results: %+v", src, len(rs), rs)
		}
		r := rs[0]
		if !r.Success {
			failures++
			continue
		}
		if r.ID == nil || len(*r.ID) != 18 || r.JobID == "" || r.Attempts < 1 || r.ErrorCode != "" {
			t.Fatalf("success result %+v", r)
		}
	}
	if len(dlq) != failures {
		t.Fatalf("%d dead-letter records for %d failures", len(dlq), failures)
	}
	codes := map[string]int{}
	for _, d := range dlq {
		codes[header(d, "sf.error.code")]++
		if header(d, "__connect.errors.topic") == "" || header(d, "__connect.errors.offset") == "" ||
			header(d, "__connect.errors.exception.message") == "" || header(d, "__connect.errors.partition") == "" {
			t.Fatalf("dead-letter headers: %v", d.Headers)
		}
		src := Source{Topic: header(d, "__connect.errors.topic"), Offset: atoi(header(d, "__connect.errors.offset")), Partition: int32(atoi(header(d, "__connect.errors.partition")))}
		if res := results[src]; len(res) != 1 || res[0].Success || string(d.Key) != string(rr.keys[src]) {
			t.Fatalf("dead-letter copy of %v does not match its result %+v", src, res)
		}
		if src.Topic == "crm.accounts" && header(d, "sf.error.code") != "BULKSTREAM_DECODE" && header(d, "origin") != "test" {
			t.Fatalf("the original headers are not on the dead-letter copy: %v", d.Headers)
		}
	}
	if codes["BULKSTREAM_DECODE"] == 0 || codes["INVALID_FIELD"] == 0 {
		t.Fatalf("failure codes %v", codes)
	}
	// The metrics count every result once, the decode failures (published
	// apart from any job) too.
	m := opts.Metrics
	if got := counterSum(t, m.Results, nil); got != float64(total) {
		t.Errorf("bulkstream_results_total sums to %v, want %d", got, total)
	}
	if got := counterSum(t, m.Results, map[string]string{"outcome": "failure"}); got != float64(failures) {
		t.Errorf("bulkstream_results_total{outcome=failure} sums to %v, want %d", got, failures)
	}
	for code, n := range codes {
		if got := counterSum(t, m.RowErrors, map[string]string{"error_code": code}); got != float64(n) {
			t.Errorf("bulkstream_row_errors_total{error_code=%q} sums to %v, want %d", code, got, n)
		}
	}
	if got := counterValue(t, m.DeadLettered); got != float64(len(dlq)) {
		t.Errorf("dead-lettered %v, want %d", got, len(dlq))
	}
	// The org holds the last value of every valid account.
	got := map[string]bulkemu.Record{}
	for _, r := range w.emu.Records("Account") {
		got[r.Fields["External_Id__c"]] = r
	}
	// An invalid change fails alone (its row is unfolded when it folded
	// several changes): the record holds the last valid one.
	for ext, fields := range want {
		if got[ext].Fields["Name"] != fields["Name"] || got[ext].Fields["NumberOfEmployees"] != fields["NumberOfEmployees"] {
			t.Errorf("%s: %v, want %v", ext, got[ext].Fields, fields)
		}
	}
	if n := len(w.emu.Records("Contact")); n == 0 {
		t.Fatal("no contacts loaded")
	}
	w.committedAtEnd("e2e", "crm.accounts", "crm.contacts")
	stats := run.p.Stats()
	t.Logf("%d events, %d jobs, %d failures %v", stats.Consumed, stats.Jobs, failures, codes)
}

// counterSum sums the counters of vec whose labels include every pair of
// labels.
func counterSum(t testing.TB, vec *prometheus.CounterVec, labels map[string]string) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() { vec.Collect(ch); close(ch) }()
	sum := 0.0
	for metric := range ch {
		var m dto.Metric
		if err := metric.Write(&m); err != nil {
			t.Fatal(err)
		}
		has := map[string]string{}
		for _, l := range m.GetLabel() {
			has[l.GetName()] = l.GetValue()
		}
		matches := true
		for k, v := range labels {
			matches = matches && has[k] == v
		}
		if matches {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func atoi(s string) int64 {
	var n int64
	fmt.Sscan(s, &n)
	return n
}
