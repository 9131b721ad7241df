package pipeline

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

const erpAccountV1 = `{"type": "record", "name": "Account", "namespace": "erp", "fields": [
  {"name": "code", "type": "string"}, {"name": "name", "type": "string"}]}`

const erpAccountV2 = `{"type": "record", "name": "Account", "namespace": "erp", "fields": [
  {"name": "code", "type": "string"}, {"name": "name", "type": "string"},
  {"name": "industry", "type": "string", "default": "Energy"}]}`

// A schema registry that goes down mid-stream: the partition whose next
// record needs a schema the connector has not seen waits for the registry
// (bulkstream_paused{reason="schema_registry"}), in order, while the other
// partition goes on; when the registry is back, the waiting records are
// sent. No dead-letter copy, every event one result, the last change of a
// record wins.
func TestSchemaRegistryOutageWaits(t *testing.T) {
	const topic = "erp.accounts"
	w := newWorld(t, 2, bulkemu.Options{}, topic)
	registry := srfake.New()
	t.Cleanup(registry.Close)
	v1 := registerSchema(t, registry, topic+"-value", erpAccountV1)
	v2 := registerSchema(t, registry, topic+"-value", erpAccountV2)
	target, err := url.Parse(registry.URL())
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(rw, `{"error_code":50302,"message":"registry unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(front.Close)
	reg, err := event.NewRegistry(event.RegistryOptions{URL: front.URL})
	if err != nil {
		t.Fatal(err)
	}
	m, err := event.NewMapping(event.MappingRules{Rename: map[string]string{"code": "External_Id__c", "name": "Name", "industry": "Industry"}})
	if err != nil {
		t.Fatal(err)
	}
	shape := event.JSONShape(event.Defaults{Object: "Account", Operation: event.Upsert, ExternalIDField: "External_Id__c", Mapping: m})
	rr := w.readResults()
	opts := w.options("registry", Route{Topics: []string{topic}, Decoder: event.NewAvroDecoder(shape, reg)})
	run := w.start(opts)
	defer run.shutdown(t)

	prod := w.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer prod.Close()
	record := func(partition int32, id int, text, code, name string) *kgo.Record {
		native := map[string]any{"code": code, "name": name}
		if id == v2 {
			native["industry"] = "Banking"
		}
		return &kgo.Record{Topic: topic, Partition: partition, Key: []byte(code), Value: avroValue(t, id, text, native)}
	}
	// produce sends records in one batch: compressed, as their names
	// repeat, so that the parked ones lie in decompressed memory that the
	// connector recycles once it has handled their poll (see owned).
	produce := func(records ...*kgo.Record) {
		t.Helper()
		if err := prod.ProduceSync(t.Context(), records...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	long := func(name string) string { return strings.Repeat(name+" ", 20) }
	paused := func() float64 { return gaugeValue(t, opts.Metrics.Paused.WithLabelValues(PausedSchemaRegistry)) }

	// The first schema is read while the registry is up.
	for i := range 4 {
		produce(record(int32(i%2), v1, erpAccountV1, fmt.Sprintf("K-%d", i), "first"))
	}
	rr.waitFor(t, 4, 30*time.Second)

	// Down: partition 0 gets records of the second schema, then of the
	// first (to the same records, so their order shows); partition 1 only
	// of the first, which the connector has.
	down.Store(true)
	var batch []*kgo.Record
	for i := range 5 {
		batch = append(batch, record(0, v2, erpAccountV2, fmt.Sprintf("P0-%d", i), long("second")))
	}
	for i := range 5 {
		batch = append(batch, record(0, v1, erpAccountV1, fmt.Sprintf("P0-%d", i), long("final")))
	}
	produce(batch...)
	for i := range 5 {
		produce(record(1, v1, erpAccountV1, fmt.Sprintf("P1-%d", i), long("meanwhile")))
	}
	rr.waitFor(t, 4+5, 30*time.Second) // partition 1 goes on
	time.Sleep(500 * time.Millisecond)
	results, _ := rr.snapshot()
	for src := range results {
		if src.Partition == 0 && src.Offset >= 2 {
			t.Errorf("%v has a result while the registry is down", src)
		}
	}
	if paused() != 1 {
		t.Errorf("bulkstream_paused{reason=%q} = %v during the outage, want 1", PausedSchemaRegistry, paused())
	}

	down.Store(false)
	rr.waitFor(t, 4+15, 30*time.Second)
	results, dlq := rr.snapshot()
	if len(dlq) != 0 {
		t.Errorf("%d dead-letter copies, want none", len(dlq))
	}
	for src, rs := range results {
		if len(rs) != 1 || !rs[0].Success {
			t.Errorf("%v: results %+v, want one success", src, rs)
		}
	}
	if paused() != 0 {
		t.Errorf("bulkstream_paused{reason=%q} = %v after the outage, want 0", PausedSchemaRegistry, paused())
	}
	names := map[string][2]string{}
	for _, r := range w.emu.Records("Account") {
		names[r.Fields["External_Id__c"]] = [2]string{r.Fields["Name"], r.Fields["Industry"]}
	}
	for i := range 5 {
		if got := names[fmt.Sprintf("P0-%d", i)]; got != [2]string{long("final"), "Banking"} {
			t.Errorf("P0-%d is %v, want [final Banking] (the second schema's change, then the first's)", i, got)
		}
	}
}
