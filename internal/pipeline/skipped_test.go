package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bulkstream/bulkstream/pkg/bulkemu"
	"github.com/bulkstream/bulkstream/pkg/event"
)

// debeziumFixture reads one of the Debezium events of pkg/event's testdata
// (taken from Debezium's documentation; see its README).
func debeziumFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "pkg", "event", "testdata", "debezium", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A Debezium JSON stream with a delete and Debezium's default tombstone
// after it, and a heartbeat: the create, update and delete are applied,
// and the tombstone and the heartbeat, which need no write, each get a
// skipped result on the success topic (with a reason) and no dead-letter
// copy.
func TestDebeziumTombstonesAndHeartbeatsSkipped(t *testing.T) {
	const topic, heartbeats = "PostgreSQL_server.public.customers", "__debezium-heartbeat.PostgreSQL_server"
	w := newWorld(t, 1, bulkemu.Options{}, topic, heartbeats)
	rr := w.readResults()
	m, err := event.NewMapping(event.MappingRules{Rename: map[string]string{"first_name": "FirstName", "last_name": "LastName", "email": "Email"}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := event.NewDebeziumDecoder(event.DebeziumOptions{
		Defaults: event.Defaults{Object: "Contact", ExternalIDField: "External_Id__c", Mapping: m}, // tombstones: the format's default, skip
		KeyField: "id",
	})
	if err != nil {
		t.Fatal(err)
	}
	run := w.start(w.options("skips", Route{Topics: []string{topic, heartbeats}, Decoder: d}))
	defer run.shutdown(t)

	key := debeziumFixture(t, "postgresql/customers_key.json")
	w.produce(
		&kgo.Record{Topic: topic, Key: key, Value: debeziumFixture(t, "postgresql/customers_create.json")},
		&kgo.Record{Topic: topic, Key: key, Value: debeziumFixture(t, "postgresql/customers_update.json")},
		&kgo.Record{Topic: heartbeats, Key: debeziumFixture(t, "heartbeat_key.json"), Value: debeziumFixture(t, "heartbeat.json")},
	)
	rr.waitFor(t, 3, 30*time.Second)
	if rs := w.emu.Records("Contact"); len(rs) != 1 || rs[0].Fields["FirstName"] != "Anne Marie" || rs[0].Fields["External_Id__c"] != "1" {
		t.Fatalf("after create and update, Contacts %+v", rs)
	}
	w.produce(
		&kgo.Record{Topic: topic, Key: key, Value: debeziumFixture(t, "postgresql/customers_delete.json")},
		&kgo.Record{Topic: topic, Key: key}, // the tombstone Debezium writes after a delete
	)
	rr.waitFor(t, 5, 30*time.Second)

	if rs := w.emu.Records("Contact"); len(rs) != 1 || !rs[0].Deleted {
		t.Errorf("after the delete, Contacts %+v; want the one, deleted", rs)
	}
	results, dlq := rr.snapshot()
	if len(dlq) != 0 {
		t.Errorf("%d dead-letter copies, want none", len(dlq))
	}
	skips := map[string]Result{}
	for src, rs := range results {
		if len(rs) != 1 || !rs[0].Success {
			t.Errorf("%v: results %+v, want one success", src, rs)
			continue
		}
		if rs[0].Status == StatusSkipped {
			skips[src.Topic] = rs[0]
		} else if rs[0].Status != StatusSuccess {
			t.Errorf("%v: status %q", src, rs[0].Status)
		}
	}
	if r, ok := skips[topic]; !ok || !strings.Contains(r.SkipReason, "tombstone") {
		t.Errorf("the tombstone's result: %+v, want skipped because of a tombstone", r)
	}
	if r, ok := skips[heartbeats]; !ok || !strings.Contains(strings.ToLower(r.SkipReason), "heartbeat") {
		t.Errorf("the heartbeat's result: %+v, want skipped because of a heartbeat", r)
	}
	if len(skips) != 2 {
		t.Errorf("%d skipped results, want 2", len(skips))
	}
}
